#include "plan.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "../core/error.h"
#include "../../kernels/args.h"

namespace mm {
namespace metal {

static_assert(sizeof(MatMulArgs) == 40, "MatMulArgs layout");
static_assert(sizeof(GetRowsArgs) == 40, "GetRowsArgs layout");
static_assert(sizeof(RmsNormArgs) == 32, "RmsNormArgs layout");
static_assert(sizeof(SoftmaxArgs) == 40, "SoftmaxArgs layout");
static_assert(sizeof(RopeArgs) == 56, "RopeArgs layout");
static_assert(sizeof(AttentionArgs) == 64, "AttentionArgs layout");
static_assert(sizeof(StoreRowsArgs) == 32, "StoreRowsArgs layout");
static_assert(sizeof(BinaryArgs) == 40, "BinaryArgs layout");

namespace {

// Batches of at least this many query rows use the tiled prefill attention;
// smaller ones the decode kernel. (Matmul: 1 row matmul_mv, up to
// MM_MV_BATCH rows matmul_mvb, more the simdgroup-matrix GEMM.)
constexpr int64_t kMinPrefillRows = 4;

uint32_t ceil_div(int64_t a, int64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }
uint32_t round_up(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b * b); }
uint32_t tg_mem_bytes(uint64_t bytes) { return bytes < 16 ? 16 : round_up(bytes, 16); }

template <typename A>
std::vector<uint8_t> bytes_of(const A& a) {
  std::vector<uint8_t> v(sizeof(A));
  std::memcpy(v.data(), &a, sizeof(A));
  return v;
}
template <typename A>
A zeroed() {
  A a;
  std::memset(&a, 0, sizeof(A));
  return a;
}

int32_t i32(int64_t v, const char* what) {
  if (v < 0 || v > std::numeric_limits<int32_t>::max())
    fail(ErrorCode::Unsupported, std::string("metal: ") + what + " does not fit the kernels' 32-bit indices");
  return static_cast<int32_t>(v);
}

BufferRef ref(const TensorDesc& t) { return BufferRef{t.buffer.get(), t.offset}; }
int64_t stride(const TensorDesc& t) { return static_cast<int64_t>(t.row_stride); }

// Threads for a one-threadgroup-per-row reduction kernel.
uint32_t row_threads(int64_t cols) { return static_cast<uint32_t>(std::min<int64_t>(256, round_up(cols, 32))); }

NodePlan fallback(size_t node, std::string why) {
  NodePlan p;
  p.node = node;
  p.cpu_fallback = true;
  p.reason = std::move(why);
  return p;
}

}  // namespace

const char* kernel_type_suffix(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    case DType::Q4_1: return "q4_1";
    case DType::Q5_0: return "q5_0";
    case DType::Q5_1: return "q5_1";
    case DType::Q4_K: return "q4_K";
    case DType::Q5_K: return "q5_K";
    case DType::Q6_K: return "q6_K";
    default: return nullptr;
  }
}

bool kernels_support(OpKind op, const std::vector<DType>& types) {
  auto all = [&](auto ok) {
    for (DType t : types)
      if (!ok(t)) return false;
    return true;
  };
  switch (op) {
    case OpKind::MatMul:
    case OpKind::GetRows: return all([](DType t) { return t == DType::I32 || kernel_type_suffix(t) != nullptr; });
    case OpKind::Attention: return all([](DType t) { return t == DType::F32 || t == DType::F16; });
    case OpKind::StoreRows: return all([](DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; });
    case OpKind::Count: return false;
    default: return all([](DType t) { return t == DType::F32 || t == DType::I32; });
  }
}

void check_host_inputs(const Graph& g, size_t node, const StepArgs& step) {
  const Node& n = g.nodes[node];
  if (n.op != OpKind::GetRows) return;
  const TensorDesc& table = g.tensors[n.src[0]];
  const TensorDesc& ids = g.tensors[n.src[1]];
  const int64_t count = ids.rows_at(step.n_tokens);
  for (int64_t i = 0; i < count; i++) {
    const int32_t id = *ids.row_as<int32_t>(i);
    if (id < 0 || id >= table.rows)
      fail(ErrorCode::InvalidArg, "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                                      " is outside the vocabulary [0, " + std::to_string(table.rows) + ")");
  }
}

NodePlan plan_node(const Graph& g, size_t node, const StepArgs& step) {
  const Node& n = g.nodes[node];
  auto src = [&](size_t i) -> const TensorDesc& { return g.tensors[n.src[i]]; };
  const TensorDesc& d = g.tensors[n.dst];
  const int64_t nt = step.n_tokens;
  NodePlan plan;
  plan.node = node;
  Dispatch k;
  k.bufs[3] = ref(d);

  switch (n.op) {
    case OpKind::MatMul: {
      const TensorDesc &x = src(0), &W = src(1);
      const char* sfx = kernel_type_suffix(W.type);
      if (!sfx)
        return fallback(node, std::string("no Metal matmul kernel for ") + type_name(int32_t(W.type)) + " weights");
      auto a = zeroed<MatMulArgs>();
      a.x_stride = stride(x);
      a.w_stride = stride(W);
      a.d_stride = stride(d);
      a.n = i32(x.rows_at(nt), "matmul rows");
      a.m = i32(W.rows, "matmul weight rows");
      a.k = i32(W.cols, "matmul depth");
      a.has_bias = n.src.size() > 2;
      k.bufs[0] = ref(x);
      k.bufs[1] = ref(W);
      if (a.has_bias) k.bufs[2] = ref(src(2));
      // Float weights other than f16 are staged as float by the GEMM (kernels/dequant.h STAGE).
      const int stage_bytes = W.type == DType::F32 || W.type == DType::BF16 ? 4 : 2;
      k.grid[0] = ceil_div(a.m, MM_MV_ROWS * MM_MV_SIMDGROUPS);
      k.threads[0] = MM_SIMD_WIDTH * MM_MV_SIMDGROUPS;
      if (a.n > MM_MV_BATCH) {
        k.kernel = std::string("matmul_mm_") + sfx;
        k.grid[0] = ceil_div(a.m, MM_MM_BM);
        k.grid[1] = ceil_div(a.n, MM_MM_BN);
        k.threads[0] = MM_MM_THREADS;
        k.tg_mem = tg_mem_bytes(MM_MM_SHMEM(stage_bytes));
      } else if (a.n > 1) {
        k.kernel = std::string("matmul_mvb_") + sfx;
        k.grid[1] = ceil_div(a.n, MM_MV_BATCH);
      } else {
        k.kernel = std::string("matmul_mv_") + sfx;
        k.grid[1] = static_cast<uint32_t>(a.n);
      }
      k.args = bytes_of(a);
      break;
    }
    case OpKind::GetRows: {
      const TensorDesc &table = src(0), &ids = src(1);
      const char* sfx = kernel_type_suffix(table.type);
      if (!sfx) return fallback(node, std::string("no Metal get_rows kernel for ") + type_name(int32_t(table.type)));
      auto a = zeroed<GetRowsArgs>();
      a.t_stride = stride(table);
      a.id_stride = stride(ids);
      a.d_stride = stride(d);
      a.n = i32(ids.rows_at(nt), "get_rows ids");
      a.cols = i32(table.cols, "get_rows cols");
      a.t_rows = i32(table.rows, "get_rows table rows");
      // 16 elements per thread (dequant16, kernels/dequant.h).
      const int64_t chunk = 16;
      k.kernel = std::string("get_rows_") + sfx;
      k.bufs[0] = ref(table);
      k.bufs[1] = ref(ids);
      k.grid[0] = ceil_div(ceil_div(a.cols, chunk), 64);
      k.grid[1] = static_cast<uint32_t>(a.n);
      k.threads[0] = 64;
      k.args = bytes_of(a);
      break;
    }
    case OpKind::RmsNorm: {
      const TensorDesc& x = src(0);
      auto a = zeroed<RmsNormArgs>();
      a.x_stride = stride(x);
      a.d_stride = stride(d);
      a.rows = i32(x.rows_at(nt), "rms_norm rows");
      a.cols = i32(x.cols, "rms_norm cols");
      a.eps = n.p.eps;
      a.has_weight = n.src.size() > 1;
      k.kernel = "rms_norm_f32";
      k.bufs[0] = ref(x);
      if (a.has_weight) k.bufs[1] = ref(src(1));
      k.grid[0] = static_cast<uint32_t>(a.rows);
      k.threads[0] = row_threads(a.cols);
      k.tg_mem = tg_mem_bytes(sizeof(float) * (k.threads[0] / 32));
      k.args = bytes_of(a);
      break;
    }
    case OpKind::Softmax: {
      const TensorDesc& x = src(0);
      auto a = zeroed<SoftmaxArgs>();
      a.x_stride = stride(x);
      a.d_stride = stride(d);
      a.rows = i32(x.rows_at(nt), "softmax rows");
      a.cols = i32(x.cols, "softmax cols");
      a.scale = n.p.scale;
      a.causal = n.p.causal;
      a.n_tokens = i32(nt, "tokens");
      a.n_past = i32(step.n_past, "n_past");
      k.kernel = "softmax_f32";
      k.bufs[0] = ref(x);
      k.grid[0] = static_cast<uint32_t>(a.rows);
      k.threads[0] = row_threads(a.cols);
      k.tg_mem = tg_mem_bytes(sizeof(float) * (k.threads[0] / 32));
      k.args = bytes_of(a);
      break;
    }
    case OpKind::Rope: {
      const TensorDesc &x = src(0), &pos = src(1);
      auto a = zeroed<RopeArgs>();
      a.x_stride = stride(x);
      a.pos_stride = stride(pos);
      a.d_stride = stride(d);
      a.rows = i32(x.rows_at(nt), "rope rows");
      a.n_head = n.p.n_head;
      a.head_dim = n.p.head_dim;
      a.n_rot = n.p.n_rot;
      a.neox = n.p.rope_mode == kRopeNeox;
      a.has_freq_factors = n.src.size() > 2;
      // The same float pow as the CPU backend, so both see the same theta_scale.
      a.theta_scale = std::pow(n.p.freq_base, -2.0f / static_cast<float>(n.p.n_rot));
      a.freq_scale = n.p.freq_scale;
      k.kernel = "rope_f32";
      k.bufs[0] = ref(x);
      k.bufs[1] = ref(pos);
      if (a.has_freq_factors) k.bufs[2] = ref(src(2));
      const int64_t total = int64_t(a.rows) * a.n_head * ((a.head_dim + 1) / 2);
      k.grid[0] = i32(ceil_div(total, 64), "rope threadgroups");
      k.threads[0] = 64;
      k.args = bytes_of(a);
      break;
    }
    case OpKind::Attention: {
      const TensorDesc &q = src(0), &K = src(1), &V = src(2);
      if (K.type != V.type) return fallback(node, "K and V caches of different types");
      if (n.p.head_dim > MM_ATTN_MAX_HEAD_DIM) return fallback(node, "head_dim above 256");
      const char* sfx = K.type == DType::F16 ? "f16" : "f32";
      auto a = zeroed<AttentionArgs>();
      a.q_stride = stride(q);
      a.k_stride = stride(K);
      a.v_stride = stride(V);
      a.d_stride = stride(d);
      a.n_rows = i32(q.rows_at(nt), "attention rows");
      a.n_tokens = i32(nt, "tokens");
      a.n_past = i32(step.n_past, "n_past");
      a.n_head = n.p.n_head;
      a.n_kv_head = n.p.n_kv_head;
      a.head_dim = n.p.head_dim;
      a.scale = n.p.scale;
      const int64_t D = a.head_dim;
      k.bufs[0] = ref(q);
      k.bufs[1] = ref(K);
      k.bufs[2] = ref(V);
      k.grid[0] = static_cast<uint32_t>(a.n_head);
      k.threads[0] = MM_SIMD_WIDTH * MM_ATTN_SIMDGROUPS;
      if (a.n_rows >= kMinPrefillRows) {
        a.tile_keys = static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(32, 2048 / D)));
        k.kernel = std::string("attn_prefill_") + sfx;
        k.grid[1] = ceil_div(a.n_rows, MM_ATTN_SIMDGROUPS);
        k.tg_mem = tg_mem_bytes(sizeof(float) * (MM_ATTN_SIMDGROUPS + 2 * a.tile_keys) * D);
      } else {
        k.kernel = std::string("attn_decode_") + sfx;
        k.grid[1] = static_cast<uint32_t>(a.n_rows);
        k.tg_mem = tg_mem_bytes(sizeof(float) * (D + MM_ATTN_SIMDGROUPS * (D + 2)));
      }
      k.args = bytes_of(a);
      break;
    }
    case OpKind::StoreRows: {
      const TensorDesc& s = src(0);
      auto a = zeroed<StoreRowsArgs>();
      a.s_stride = stride(s);
      a.d_stride = stride(d);
      a.rows = i32(s.rows_at(nt), "store_rows rows");
      a.cols = i32(s.cols, "store_rows cols");
      a.n_past = i32(step.n_past, "n_past");
      const char* sfx = d.type == DType::F16 ? "f16" : d.type == DType::BF16 ? "bf16" : "f32";
      k.kernel = std::string("store_rows_") + sfx;
      k.bufs[0] = ref(s);
      k.grid[0] = ceil_div(a.cols, 256);
      k.grid[1] = static_cast<uint32_t>(a.rows);
      k.threads[0] = 256;
      k.args = bytes_of(a);
      break;
    }
    case OpKind::SwiGLU:
    case OpKind::Add:
    case OpKind::Mul:
    case OpKind::LastRow: {
      const TensorDesc& x = src(0);
      auto a = zeroed<BinaryArgs>();
      a.a_stride = stride(x);
      a.d_stride = stride(d);
      a.cols = i32(x.cols, "cols");
      k.bufs[0] = ref(x);
      if (n.op == OpKind::LastRow) {
        a.rows = 1;
        a.a_row0 = i32(x.rows_at(nt) - 1, "rows");
        k.kernel = "copy_row_f32";
      } else {
        const TensorDesc& y = src(1);
        a.b_stride = stride(y);
        a.rows = i32(x.rows_at(nt), "rows");
        a.b_broadcast = n.op != OpKind::SwiGLU && y.rows == 1 && y.rows_per_token == 0;
        k.bufs[1] = ref(y);
        k.kernel = n.op == OpKind::Add ? "add_f32" : n.op == OpKind::Mul ? "mul_f32" : "swiglu_f32";
      }
      k.grid[0] = ceil_div(a.cols, 256);
      k.grid[1] = static_cast<uint32_t>(a.rows);
      k.threads[0] = 256;
      k.args = bytes_of(a);
      break;
    }
    case OpKind::Count: fail(ErrorCode::InvalidArg, "unknown op");
  }
  plan.dispatches.push_back(std::move(k));
  return plan;
}

}  // namespace metal
}  // namespace mm
