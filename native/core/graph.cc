#include "graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "error.h"
#include "op_table.h"

namespace mm {

namespace {

bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}
bool add_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (b > std::numeric_limits<uint64_t>::max() - a) return false;
  *out = a + b;
  return true;
}

std::string where(size_t node, OpKind op) { return "node " + std::to_string(node) + " (" + op_name(op) + "): "; }

void validate_tensor(const Graph& g, size_t i) {
  const TensorDesc& t = g.tensors[i];
  const std::string w = "tensor " + std::to_string(i) + ": ";
  check_arg(t.buffer != nullptr, w + "has no buffer");
  const TypeTraits* tt = type_traits(static_cast<int32_t>(t.type));
  if (!tt) fail(ErrorCode::Unsupported, w + "unsupported type " + type_name(static_cast<int32_t>(t.type)));
  check_arg(t.cols > 0 && t.cols <= (int64_t(1) << 40), w + "cols must be positive, got " + std::to_string(t.cols));
  check_arg(t.cols % tt->block_size == 0, w + "cols " + std::to_string(t.cols) + " is not a multiple of the " +
                                              tt->name + " block size " + std::to_string(tt->block_size));
  check_arg(t.rows >= 0 && t.rows <= (int64_t(1) << 40), w + "rows must be >= 0");
  check_arg(t.rows_per_token >= 0 && t.rows_per_token <= (1 << 20), w + "rowsPerToken must be >= 0");
  check_arg(t.rows + t.rows_per_token > 0, w + "has no rows");
  const size_t rb = row_bytes(t.type, t.cols);
  check_arg(t.row_stride >= rb, w + "rowStride " + std::to_string(t.row_stride) + " is smaller than a row (" +
                                    std::to_string(rb) + " bytes)");
  uint64_t max_rows = 0, span = 0, end = 0;
  bool ok = mul_ok(static_cast<uint64_t>(t.rows_per_token), static_cast<uint64_t>(g.max_tokens), &max_rows) &&
            add_ok(max_rows, static_cast<uint64_t>(t.rows), &max_rows) && mul_ok(max_rows - 1, t.row_stride, &span) &&
            add_ok(span, rb, &span) && add_ok(span, t.offset, &end);
  check_arg(ok && end <= t.buffer->size(), w + "rows [0, " + std::to_string(max_rows) + ") at offset " +
                                               std::to_string(t.offset) + " exceed its buffer of " +
                                               std::to_string(t.buffer->size()) + " bytes");
  // Scalar kernels read f32/f16/i32 elements directly: keep rows aligned to their element size.
  if (!tt->is_quantized) {
    check_arg(t.offset % tt->type_size == 0 && t.row_stride % tt->type_size == 0,
              w + "offset and rowStride must be multiples of the element size");
  }
}

bool same_rows(const TensorDesc& a, const TensorDesc& b) {
  return a.rows == b.rows && a.rows_per_token == b.rows_per_token;
}

}  // namespace

const char* op_name(OpKind op) { return op_info(op).name; }

bool op_from_name(const std::string& name, OpKind* out) {
  for (size_t i = 0; i < static_cast<size_t>(OpKind::Count); i++) {
    if (name == op_info(static_cast<OpKind>(i)).name) {
      *out = static_cast<OpKind>(i);
      return true;
    }
  }
  return false;
}

void Graph::validate() const {
  check_arg(max_tokens >= 1 && max_tokens <= (1 << 20), "maxTokens must be in [1, 1048576]");
  for (size_t i = 0; i < tensors.size(); i++) validate_tensor(*this, i);

  const auto n_tensors = static_cast<int32_t>(tensors.size());
  for (size_t ni = 0; ni < nodes.size(); ni++) {
    const Node& n = nodes[ni];
    const std::string w = where(ni, n.op);
    check_arg(n.dst >= 0 && n.dst < n_tensors, w + "dst is not a tensor index");
    for (int32_t s : n.src) check_arg(s >= 0 && s < n_tensors, w + "src is not a tensor index");
    const TensorDesc& d = tensors[n.dst];
    check_arg(!d.buffer->read_only(), w + "dst is a read-only (mapped) buffer");
    auto src = [&](size_t k) -> const TensorDesc& { return tensors[n.src[k]]; };
    auto is_f32 = [&](const TensorDesc& t, const char* what) {
      check_arg(t.type == DType::F32, w + what + " must be f32, got " + type_name(static_cast<int32_t>(t.type)));
    };
    if (n.op != OpKind::StoreRows) is_f32(d, "dst");
    if (n.op != OpKind::Count) {  // the source count the op table gives
      const size_t lo = static_cast<size_t>(op_info(n.op).min_src), hi = static_cast<size_t>(op_info(n.op).max_src);
      check_arg(n.src.size() >= lo && n.src.size() <= hi, w + "expects " + std::to_string(lo) +
                                                              (lo == hi ? "" : "-" + std::to_string(hi)) +
                                                              " sources, got " + std::to_string(n.src.size()));
    }
    switch (n.op) {
      case OpKind::GetRows: {
        check_arg(src(1).type == DType::I32, w + "ids must be i32");
        check_arg(src(0).rows_per_token == 0, w + "table must have fixed rows");
        check_arg(d.cols == src(0).cols, w + "dst cols must equal table cols");
        check_arg(same_rows(d, src(1)), w + "dst rows must equal ids rows");
        break;
      }
      case OpKind::RmsNorm: {
        is_f32(src(0), "x");
        check_arg(d.cols == src(0).cols && same_rows(d, src(0)), w + "dst shape must equal x shape");
        check_arg(n.p.eps >= 0.0f, w + "eps must be >= 0");
        if (n.src.size() == 2) {
          is_f32(src(1), "weight");
          check_arg(src(1).cols == d.cols && src(1).rows == 1 && src(1).rows_per_token == 0,
                    w + "weight must be one row of cols elements");
        }
        break;
      }
      case OpKind::MatMul: {
        is_f32(src(0), "x");
        const TensorDesc& W = src(1);
        check_arg(W.rows_per_token == 0 && W.rows > 0, w + "weight must have fixed rows");
        check_arg(W.type != DType::I32 && W.type != DType::Q8_K && W.type != DType::Q8_1,
                  w + std::string("weights of type ") + type_name(static_cast<int32_t>(W.type)) + " are not supported");
        check_arg(src(0).cols == W.cols, w + "x cols (" + std::to_string(src(0).cols) + ") must equal weight cols (" +
                                             std::to_string(W.cols) + ")");
        check_arg(d.cols == W.rows, w + "dst cols must equal weight rows");
        check_arg(same_rows(d, src(0)), w + "dst rows must equal x rows");
        if (n.src.size() == 3) {
          is_f32(src(2), "bias");
          check_arg(src(2).cols == d.cols && src(2).rows == 1 && src(2).rows_per_token == 0,
                    w + "bias must be one row");
        }
        break;
      }
      case OpKind::Rope: {
        is_f32(src(0), "x");
        check_arg(src(1).type == DType::I32, w + "positions must be i32");
        check_arg(n.p.head_dim > 0 && n.p.n_head > 0 && int64_t(n.p.head_dim) * n.p.n_head == src(0).cols,
                  w + "x cols must equal n_head * head_dim");
        check_arg(n.p.n_rot > 0 && n.p.n_rot <= n.p.head_dim && n.p.n_rot % 2 == 0,
                  w + "n_rot must be even and in (0, head_dim]");
        check_arg(n.p.rope_mode == kRopeNormal || n.p.rope_mode == kRopeNeox, w + "mode must be normal or neox");
        check_arg(n.p.freq_base > 0.0f, w + "freq_base must be positive");
        check_arg(std::isfinite(n.p.attn_factor), w + "attn_factor must be finite");
        check_arg(d.cols == src(0).cols && same_rows(d, src(0)), w + "dst shape must equal x shape");
        check_arg(same_rows(src(0), src(1)), w + "positions rows must equal x rows");
        if (n.src.size() == 3) {
          is_f32(src(2), "freq_factors");
          check_arg(src(2).cols >= n.p.n_rot / 2 && src(2).rows_per_token == 0,
                    w + "freq_factors needs n_rot/2 values");
        }
        break;
      }
      case OpKind::Softmax: {
        is_f32(src(0), "x");
        check_arg(d.cols == src(0).cols && same_rows(d, src(0)), w + "dst shape must equal x shape");
        break;
      }
      case OpKind::Attention: {
        is_f32(src(0), "q");
        const TensorDesc &K = src(1), &V = src(2);
        check_arg(n.p.head_dim > 0 && n.p.n_head > 0 && n.p.n_kv_head > 0 && n.p.n_head % n.p.n_kv_head == 0,
                  w + "n_head must be a positive multiple of n_kv_head");
        check_arg(src(0).cols == int64_t(n.p.n_head) * n.p.head_dim, w + "q cols must equal n_head * head_dim");
        // q8_0 (llama.cpp's -ctk/-ctv q8_0): K and V both, each head a whole number of 32-value blocks.
        check_arg((K.type == DType::Q8_0) == (V.type == DType::Q8_0), w + "a q8_0 KV cache needs q8_0 K and V");
        check_arg(K.type != DType::Q8_0 || n.p.head_dim % 32 == 0,
                  w + "a q8_0 KV cache needs head_dim a multiple of 32, got " + std::to_string(n.p.head_dim));
        for (const TensorDesc* c : {&K, &V}) {
          check_arg(c->type == DType::F32 || c->type == DType::F16 || c->type == DType::Q8_0,
                    w + "KV cache must be f32, f16 or q8_0");
          check_arg(c->cols == int64_t(n.p.n_kv_head) * n.p.head_dim, w + "KV cols must equal n_kv_head * head_dim");
          check_arg(c->rows_per_token == 0 && c->rows > 0, w + "KV cache must have fixed rows");
        }
        check_arg(d.cols == src(0).cols && same_rows(d, src(0)), w + "dst shape must equal q shape");
        if (n.src.size() == 4)
          check_arg(src(3).type == DType::I32 && src(3).cols == 2 && same_rows(src(3), src(0)),
                    w + "spans must be i32 [n, 2] (first cache row, rows), one per q row");
        check_arg(n.p.window >= 0, w + "window must be >= 0");
        check_arg(n.p.softcap >= 0.0f && std::isfinite(n.p.softcap), w + "softcap must be a finite number >= 0");
        // A ring keeps only the last `ring` positions: only a windowed layer can attend through one.
        check_arg(n.p.ring >= 0 && n.p.ring <= K.rows && n.p.ring <= V.rows, w + "ring must be in [0, KV cache rows]");
        check_arg(n.p.ring == 0 || (n.p.window > 0 && n.p.window <= n.p.ring),
                  w + "a ring cache needs a window of at most ring rows");
        break;
      }
      case OpKind::StoreRows: {
        is_f32(src(0), "src");
        check_arg(d.type == DType::F32 || d.type == DType::F16 || d.type == DType::BF16 || d.type == DType::Q8_0,
                  w + "dst must be f32, f16, bf16 or q8_0");
        check_arg(d.type != DType::Q8_0 || d.cols % 32 == 0, w + "a q8_0 cache needs cols a multiple of 32");
        check_arg(d.rows_per_token == 0 && d.cols == src(0).cols, w + "dst must be a cache with src's cols");
        if (n.src.size() == 2)
          check_arg(src(1).type == DType::I32 && src(1).cols == 1 && same_rows(src(1), src(0)),
                    w + "rows must be i32 [n], one per src row");
        check_arg(n.p.ring >= 0 && n.p.ring <= d.rows, w + "ring must be in [0, cache rows]");
        check_arg(n.p.ring == 0 || n.src.size() == 1, w + "a ring takes no row indices (they say the rows)");
        break;
      }
      case OpKind::SwiGLU:
      case OpKind::GeGLU:
      case OpKind::Add:
      case OpKind::Mul: {
        is_f32(src(0), "a");
        is_f32(src(1), "b");
        check_arg(d.cols == src(0).cols && same_rows(d, src(0)), w + "dst shape must equal a shape");
        const bool gated = n.op == OpKind::SwiGLU || n.op == OpKind::GeGLU;
        const bool broadcast = !gated && src(1).rows == 1 && src(1).rows_per_token == 0;
        check_arg(src(1).cols == d.cols && (broadcast || same_rows(src(1), src(0))),
                  w + "b must match a's shape" + (gated ? "" : " or be one row"));
        break;
      }
      case OpKind::LastRow: {
        is_f32(src(0), "x");
        check_arg(d.cols == src(0).cols && d.rows == 1 && d.rows_per_token == 0, w + "dst must be one row of x's cols");
        break;
      }
      case OpKind::Scale:
      case OpKind::Softcap: {
        is_f32(src(0), "x");
        check_arg(d.cols == src(0).cols && same_rows(d, src(0)), w + "dst shape must equal x shape");
        check_arg(std::isfinite(n.p.scale), w + "scale must be finite");
        if (n.op == OpKind::Softcap)
          check_arg(n.p.softcap > 0.0f && std::isfinite(n.p.softcap), w + "softcap must be a positive finite number");
        break;
      }
      case OpKind::Pool: {
        is_f32(src(0), "x");
        check_arg(d.cols == src(0).cols && d.rows == 1 && d.rows_per_token == 0, w + "dst must be one row of x's cols");
        check_arg(n.p.pooling == kPoolMean || n.p.pooling == kPoolCls || n.p.pooling == kPoolLast,
                  w + "pooling must be 1 (mean), 2 (cls) or 3 (last)");
        break;
      }
      case OpKind::Count: fail(ErrorCode::InvalidArg, w + "unknown op");
    }
  }
}

void validate_step(const Graph& g, const StepArgs& step) {
  check_arg(step.n_tokens >= 1 && step.n_tokens <= g.max_tokens,
            "nTokens must be in [1, " + std::to_string(g.max_tokens) + "], got " + std::to_string(step.n_tokens));
  check_arg(step.n_past >= 0 && step.n_past <= (int64_t(1) << 40), "nPast must be >= 0");
  for (size_t ni = 0; ni < g.nodes.size(); ni++) {
    const Node& n = g.nodes[ni];
    // Indexed forms (rows / spans) are bounds-checked by the kernels, row by row.
    const bool indexed =
        (n.op == OpKind::StoreRows && n.src.size() == 2) || (n.op == OpKind::Attention && n.src.size() == 4);
    if (!indexed && n.p.ring > 0 && (n.op == OpKind::StoreRows || n.op == OpKind::Attention)) {
      // A ring holds any position, but a step's new rows must not overwrite keys its own first
      // query still sees: n_tokens + window - 1 rows (store_rows: n_tokens) must fit.
      const int64_t need = step.n_tokens + (n.op == OpKind::Attention ? n.p.window - 1 : 0);
      if (need > n.p.ring)
        fail(ErrorCode::InvalidArg, where(ni, n.op) + "a step of " + std::to_string(step.n_tokens) +
                                        " tokens does not fit the ring of " + std::to_string(n.p.ring) + " rows");
    } else if (!indexed && (n.op == OpKind::StoreRows || n.op == OpKind::Attention)) {
      const TensorDesc& cache = n.op == OpKind::StoreRows ? g.tensors[n.dst] : g.tensors[n.src[1]];
      const int64_t need = step.n_past + step.n_tokens;
      if (need > cache.rows)
        fail(ErrorCode::ContextOverflow, where(ni, n.op) + "the KV cache holds " + std::to_string(cache.rows) +
                                             " positions, the step needs " + std::to_string(need));
    }
  }
}

RowRange rows_read(const Graph& g, const Node& n, size_t k, const StepArgs& step) {
  const int64_t rows = g.tensors[n.src[k]].rows_at(step.n_tokens);
  switch (n.op) {
    case OpKind::Attention:  // the KV cache: every position up to the step's last (any row with spans)
      if (k == 1 || k == 2)
        return {0, n.src.size() == 4 || n.p.ring > 0 ? rows : std::min(rows, step.n_past + step.n_tokens)};
      break;
    case OpKind::LastRow: return {rows - 1, rows};
    default: break;
  }
  return {0, rows};
}

RowRange rows_written(const Graph& g, const Node& n, const StepArgs& step) {
  if (n.op == OpKind::StoreRows && n.src.size() == 2) return {0, g.tensors[n.dst].rows};  // any row
  if (n.op == OpKind::StoreRows) {  // rows [n_past, n_past + n) of the cache (mod ring: all when they wrap)
    const int64_t rows = g.tensors[n.src[0]].rows_at(step.n_tokens);
    if (n.p.ring > 0) {
      const int64_t at = step.n_past % n.p.ring;
      return at + rows <= n.p.ring ? RowRange{at, at + rows} : RowRange{0, n.p.ring};
    }
    return {step.n_past, step.n_past + rows};
  }
  return {0, g.tensors[n.dst].rows_at(step.n_tokens)};
}

}  // namespace mm
