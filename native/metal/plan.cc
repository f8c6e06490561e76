#include "plan.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "../core/error.h"
#include "../../kernels/args.h"

namespace mm {
namespace metal {

static_assert(sizeof(MatMulArgs) == 40, "MatMulArgs layout");
static_assert(sizeof(MatMulFusedArgs) == 56, "MatMulFusedArgs layout");
static_assert(sizeof(GetRowsArgs) == 40, "GetRowsArgs layout");
static_assert(sizeof(ActQuantArgs) == 24, "ActQuantArgs layout");
static_assert(sizeof(RmsNormArgs) == 32, "RmsNormArgs layout");
static_assert(sizeof(SoftmaxArgs) == 40, "SoftmaxArgs layout");
static_assert(sizeof(RopeArgs) == 64, "RopeArgs layout");
static_assert(sizeof(AttentionArgs) == 80, "AttentionArgs layout");
static_assert(sizeof(StoreRowsArgs) == 32, "StoreRowsArgs layout");
static_assert(sizeof(BinaryArgs) == 48, "BinaryArgs layout");
static_assert(kSimdWidth == MM_SIMD_WIDTH, "one SIMD width");

namespace {

// Batches of at least this many query rows use the tiled prefill attention;
// smaller ones the decode kernel. (Matmul: 1 row matmul_mv, up to
// MM_MV_BATCH rows matmul_mvb, more the simdgroup-matrix GEMM.)
constexpr int64_t kMinPrefillRows = 8;

// Weight types with matmul_{mv,mm}_<suffix> and get_rows_<suffix> kernels.
constexpr DType kWeightKernelTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,   DType::Q4_0,
                                        DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K,   DType::Q5_K,
                                        DType::Q6_K, DType::Q2_K, DType::Q3_K, DType::IQ4_NL, DType::IQ4_XS};

struct KernelTable {
  std::vector<std::string> names;
  std::unordered_map<std::string, KernelId> ids;
  void add(std::string n) {
    ids.emplace(n, static_cast<KernelId>(names.size()));
    names.push_back(std::move(n));
  }
  KernelTable() {
    for (const char* family :
         {"matmul_mv_", "matmul_mvb_", "matmul_mm_", "get_rows_", "matmul_mv_rms_", "matmul_mv_glu_"})
      for (DType t : kWeightKernelTypes) add(std::string(family) + kernel_type_suffix(t));
    for (const char* family : {"attn_decode_", "attn_prefill_"})
      for (const char* kv : {"f32", "f16"})
        for (int d : {32, 64, 128, 256}) add(std::string(family) + kv + "_d" + std::to_string(d));
    for (const char* t : {"f32", "f16", "bf16"}) add(std::string("store_rows_") + t);
    for (const char* n : {"attn_combine_f32", "rms_norm_f32", "softmax_f32", "rope_f32", "add_f32", "mul_f32",
                          "swiglu_f32", "geglu_f32", "scale_f32", "softcap_f32", "mean_rows_f32", "copy_row_f32",
                          "quantize_act_q8_0", "quantize_act_q8_K"})
      add(n);
  }
};
const KernelTable& table() {
  static const KernelTable t;
  return t;
}

KernelId id_of(const std::string& name) {
  const KernelId k = kernel_id(name);
  if (k < 0) fail(ErrorCode::Internal, "metal: the plans name an unknown kernel " + name);
  return k;
}

uint32_t ceil_div(int64_t a, int64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }
uint32_t round_up(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b * b); }
uint32_t tg_mem_bytes(uint64_t bytes) { return bytes < 16 ? 16 : round_up(bytes, 16); }

template <typename A>
void set_args(Dispatch& k, const A& a) {
  static_assert(sizeof(A) <= kMaxArgBytes, "args struct larger than Dispatch::args");
  std::memcpy(k.args, &a, sizeof(A));
  k.args_size = sizeof(A);
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

BufferRef ref(const TensorDesc& t) { return BufferRef{t.buffer.get(), t.offset, -1}; }

// The rounded activations of one matmul input (quantize_act_*): f32 rows of k values.
int64_t act_stride(int64_t k) { return k * static_cast<int64_t>(sizeof(float)); }
int64_t stride(const TensorDesc& t) { return static_cast<int64_t>(t.row_stride); }

// Threads for a kernel whose threadgroup size is free (the kernel reads
// threads_per_threadgroup): `want`, capped by what the pipeline allows, in
// whole simdgroups.
uint32_t free_threads(uint32_t want, KernelId k, Device& dev) {
  const uint32_t cap = std::max<uint32_t>(dev.max_threads(k) / 32 * 32, 32);
  return std::min(want, cap);
}
// Threads for a one-threadgroup-per-row reduction kernel.
uint32_t row_threads(int64_t cols, KernelId k, Device& dev) {
  return free_threads(static_cast<uint32_t>(std::min<int64_t>(256, round_up(cols, 32))), k, dev);
}

// Decode attention over a long cache with few (KV head chunk, row) threadgroups
// splits its keys over more threadgroups, up to this many in all (a large
// M-series GPU has 32-76 cores), into at most kMaxKeySplits ranges.
constexpr int64_t kFillThreadgroups = 64;
constexpr int64_t kMaxKeySplits = 32;

// Key splits of a decode attention with `groups` threadgroups per split over
// a cache of `cache_rows` rows: fixed per graph (the cache size, not n_past),
// each split at least MM_ATTN_SPLIT_MIN_KEYS keys of a full cache.
int32_t decode_splits(int64_t groups, int64_t cache_rows) {
  if (groups >= kFillThreadgroups) return 1;
  const int64_t want = (kFillThreadgroups + groups - 1) / groups;
  return static_cast<int32_t>(
      std::max<int64_t>(1, std::min({want, cache_rows / MM_ATTN_SPLIT_MIN_KEYS, kMaxKeySplits})));
}

// Token counts that reach every kernel variant a node can use (thresholds
// between variants lie below 2 * MM_MV_BATCH + 1; larger counts only grow grids).
std::vector<int64_t> step_shapes(int64_t max_tokens) {
  std::vector<int64_t> n;
  for (int64_t t = 1; t <= std::min<int64_t>(max_tokens, 2 * MM_MV_BATCH + 1); t++) n.push_back(t);
  if (max_tokens > n.back()) n.push_back(max_tokens);
  return n;
}

// Why a node cannot run on the kernels for any step ("" when it can), before
// asking the device.
std::string static_refusal(const Graph& g, const Node& n) {
  auto src = [&](size_t i) -> const TensorDesc& { return g.tensors[n.src[i]]; };
  switch (n.op) {
    case OpKind::MatMul:
      if (!kernel_type_suffix(src(1).type))
        return std::string("no Metal matmul kernel for ") + type_name(int32_t(src(1).type)) + " weights";
      // One row keeps its activations' block scales in threadgroup memory (8 bytes a
      // block; Metal guarantees 32 KiB): k up to 131,072 (q8_0 blocks).
      if (act_block(src(1).type) > 0 && src(1).cols / act_block(src(1).type) * 8 > 32768)
        return "matmul depth " + std::to_string(src(1).cols) + " needs more threadgroup memory than 32 KiB";
      return "";
    case OpKind::GetRows:
      if (!kernel_type_suffix(src(0).type))
        return std::string("no Metal get_rows kernel for ") + type_name(int32_t(src(0).type));
      return "";
    case OpKind::Attention:
      // Per-sequence spans (batched decoding) have no kernel yet: the scheduler runs the node on the CPU.
      if (n.src.size() == 4) return "no Metal kernel for per-sequence attention spans";
      if (src(1).type != src(2).type) return "K and V caches of different types";
      if (n.p.head_dim > MM_ATTN_MAX_HEAD_DIM) return "head_dim above " + std::to_string(MM_ATTN_MAX_HEAD_DIM);
      return "";
    case OpKind::StoreRows:
      if (n.src.size() == 2) return "no Metal kernel for indexed store_rows";
      return "";
    case OpKind::Count: return "unknown op";
    default: return "";
  }
}

}  // namespace

const std::vector<std::string>& kernel_names() { return table().names; }

KernelId kernel_id(const std::string& name) {
  const auto& ids = table().ids;
  auto it = ids.find(name);
  return it == ids.end() ? -1 : it->second;
}

int act_block(DType w) {
  // A quantized weight type's activation grid has its block size: 32 (q8_0 for the 32-value
  // types), 256 (q8_K for the K-quants and IQ4_XS).
  const TypeTraits& t = traits(w);
  return t.is_quantized ? static_cast<int>(t.block_size) : 0;
}

Dispatch plan_act_quant(const TensorDesc& x, int block, int64_t n_tokens, const Buffer* act) {
  auto a = zeroed<ActQuantArgs>();
  a.x_stride = stride(x);
  a.d_stride = act_stride(x.cols);
  a.rows = i32(x.rows_at(n_tokens), "matmul rows");
  a.cols = i32(x.cols, "matmul depth");
  Dispatch k;
  k.kernel = id_of(block == 32 ? "quantize_act_q8_0" : "quantize_act_q8_K");
  k.bufs[0] = ref(x);
  k.bufs[3] = BufferRef{act, 0, -1};
  k.grid[0] = ceil_div(a.cols, static_cast<int64_t>(block) * MM_QA_SIMDGROUPS);
  k.grid[1] = static_cast<uint32_t>(a.rows);
  k.threads[0] = MM_SIMD_WIDTH * MM_QA_SIMDGROUPS;
  set_args(k, a);
  return k;
}

size_t act_bytes(const Graph& g, const std::vector<int32_t>& nodes) {
  size_t most = 0;
  for (int32_t i : nodes) {
    const Node& n = g.nodes[i];
    if (n.op != OpKind::MatMul || act_block(g.tensors[n.src[1]].type) == 0) continue;
    const TensorDesc& x = g.tensors[n.src[0]];
    most = std::max(most, static_cast<size_t>(x.rows_at(g.max_tokens) * act_stride(x.cols)));
  }
  return most;
}

const char* kernel_type_suffix(DType t) {
  // The kernels are named after the type table's (ggml's) names: matmul_mv_q4_K.
  for (DType k : kWeightKernelTypes)
    if (k == t) return type_name(static_cast<int32_t>(t));
  return nullptr;
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

bool node_supported(const Graph& g, size_t i, Device& dev, std::string* why) {
  auto refuse = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  const Node& n = g.nodes[i];
  std::vector<DType> types;
  for (int32_t s : n.src) types.push_back(g.tensors[s].type);
  types.push_back(g.tensors[n.dst].type);
  if (!kernels_support(n.op, types)) return refuse(std::string("no Metal kernel for these types of ") + op_name(n.op));
  std::string r = static_refusal(g, n);
  if (!r.empty()) return refuse(r);
  if (dev.simd_width() != kSimdWidth)
    return refuse("the GPU's SIMD width is " + std::to_string(dev.simd_width()) + ", the kernels need " +
                  std::to_string(kSimdWidth));
  // Every step shape the node can see: each dispatch must fit its pipeline.
  std::vector<Dispatch> ds;
  try {
    for (int64_t nt : step_shapes(g.max_tokens)) {
      ds.clear();
      plan_node(g, i, StepArgs{nt, 0}, dev, ds);
      for (const Dispatch& d : ds) {
        const uint32_t threads = d.threads[0] * d.threads[1] * d.threads[2];
        const uint32_t cap = dev.max_threads(d.kernel);
        if (threads > cap)
          return refuse(kernel_names()[d.kernel] + " needs " + std::to_string(threads) +
                        " threads per threadgroup, the pipeline allows " + std::to_string(cap));
      }
    }
  } catch (const Error& e) {
    return refuse(e.what());
  }
  return true;
}

void check_inputs(const Graph& g, size_t node, const StepArgs& step, std::vector<int32_t>& ids) {
  const Node& n = g.nodes[node];
  if (n.op != OpKind::GetRows) return;
  const TensorDesc& table = g.tensors[n.src[0]];
  const TensorDesc& t = g.tensors[n.src[1]];
  const int64_t count = t.rows_at(step.n_tokens);
  ids.resize(static_cast<size_t>(count));
  if (t.row_stride == sizeof(int32_t)) {
    t.buffer->get(t.offset, ids.data(), ids.size() * sizeof(int32_t));
  } else {
    for (int64_t i = 0; i < count; i++) t.buffer->get(t.offset + i * t.row_stride, &ids[i], sizeof(int32_t));
  }
  for (int64_t i = 0; i < count; i++) {
    const int32_t id = ids[i];
    if (id < 0 || id >= table.rows)
      fail(ErrorCode::InvalidArg, "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                                      " is outside the vocabulary [0, " + std::to_string(table.rows) + ")");
  }
}

size_t scratch_bytes(const Graph& g, size_t node) {
  const Node& n = g.nodes[node];
  if (n.op != OpKind::Attention) return 0;
  const TensorDesc &q = g.tensors[n.src[0]], &K = g.tensors[n.src[1]];
  const int64_t D = n.p.head_dim, dmax = D <= 32 ? 32 : D <= 64 ? 64 : D <= 128 ? 128 : 256;
  const int64_t group = n.p.n_head / n.p.n_kv_head, heads = MM_ATTN_DECODE_HEADS(dmax / 32);
  size_t most = 0;
  for (int64_t nt : step_shapes(g.max_tokens)) {
    const int64_t rows = q.rows_at(nt);
    if (rows >= kMinPrefillRows) continue;  // split decode only (see plan_node)
    const int64_t splits = decode_splits(n.p.n_kv_head * ((group + heads - 1) / heads) * rows, K.rows);
    if (splits > 1) most = std::max(most, static_cast<size_t>(rows * n.p.n_head * splits * (D + 2)) * sizeof(float));
  }
  return most;
}

void plan_node(const Graph& g, size_t node, const StepArgs& step, Device& dev, std::vector<Dispatch>& out,
               const Buffer* scratch, const Buffer* act) {
  const Node& n = g.nodes[node];
  auto src = [&](size_t i) -> const TensorDesc& { return g.tensors[n.src[i]]; };
  const TensorDesc& d = g.tensors[n.dst];
  const int64_t nt = step.n_tokens;
  const std::string refusal = static_refusal(g, n);
  if (!refusal.empty())
    fail(ErrorCode::Internal, "metal: node " + std::to_string(node) + " (" + op_name(n.op) +
                                  ") was given to the kernels but cannot run on them: " + refusal);
  Dispatch k;
  k.bufs[3] = ref(d);

  switch (n.op) {
    case OpKind::MatMul: {
      const TensorDesc &x = src(0), &W = src(1);
      const char* sfx = kernel_type_suffix(W.type);
      auto a = zeroed<MatMulArgs>();
      a.x_stride = stride(x);
      a.w_stride = stride(W);
      a.d_stride = stride(d);
      a.n = i32(x.rows_at(nt), "matmul rows");
      a.m = i32(W.rows, "matmul weight rows");
      a.k = i32(W.cols, "matmul depth");
      a.has_bias = n.src.size() > 2;
      k.bufs[0] = ref(x);
      const int block = act_block(W.type);
      if (block > 0 && a.n > 1 && act) {
        // x as quantize_act_* rounded it (planned before this node by SegmentPlan).
        k.bufs[0] = BufferRef{act, 0, -1};
        a.x_stride = act_stride(W.cols);
      }
      k.bufs[1] = ref(W);
      if (a.has_bias) k.bufs[2] = ref(src(2));
      // Every type but f16 is staged as float by the GEMM (kernels/dequant.h STAGE).
      const int stage_bytes = W.type == DType::F16 ? 2 : 4;
      k.grid[0] = ceil_div(a.m, MM_MV_ROWS * MM_MV_SIMDGROUPS);
      k.threads[0] = MM_SIMD_WIDTH * MM_MV_SIMDGROUPS;
      if (a.n > MM_MV_BATCH) {
        k.kernel = id_of(std::string("matmul_mm_") + sfx);
        k.grid[0] = ceil_div(a.m, MM_MM_BM);
        k.grid[1] = ceil_div(a.n, MM_MM_BN);
        k.threads[0] = MM_MM_THREADS;
        k.tg_mem = tg_mem_bytes(MM_MM_SHMEM(stage_bytes));
      } else if (a.n > 1) {
        k.kernel = id_of(std::string("matmul_mvb_") + sfx);
        k.grid[1] = ceil_div(a.n, MM_MV_BATCH);
      } else {
        k.kernel = id_of(std::string("matmul_mv_") + sfx);
        k.grid[1] = static_cast<uint32_t>(a.n);
        // One row rounds x itself (kernels/matvec.h mv_rows_act): its block scales.
        if (block > 0) k.tg_mem = tg_mem_bytes(static_cast<uint64_t>(a.k / block) * 2 * sizeof(float));
      }
      set_args(k, a);
      break;
    }
    case OpKind::GetRows: {
      const TensorDesc &table = src(0), &ids = src(1);
      auto a = zeroed<GetRowsArgs>();
      a.t_stride = stride(table);
      a.id_stride = stride(ids);
      a.d_stride = stride(d);
      a.n = i32(ids.rows_at(nt), "get_rows ids");
      a.cols = i32(table.cols, "get_rows cols");
      a.t_rows = i32(table.rows, "get_rows table rows");
      // 16 elements per thread (dequant16, kernels/dequant.h).
      const int64_t chunk = 16;
      k.kernel = id_of(std::string("get_rows_") + kernel_type_suffix(table.type));
      k.bufs[0] = ref(table);
      k.bufs[1] = ref(ids);
      k.threads[0] = free_threads(64, k.kernel, dev);
      k.grid[0] = ceil_div(ceil_div(a.cols, chunk), k.threads[0]);
      k.grid[1] = static_cast<uint32_t>(a.n);
      set_args(k, a);
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
      k.kernel = id_of("rms_norm_f32");
      k.bufs[0] = ref(x);
      if (a.has_weight) k.bufs[1] = ref(src(1));
      k.grid[0] = static_cast<uint32_t>(a.rows);
      k.threads[0] = row_threads(a.cols, k.kernel, dev);
      k.tg_mem = tg_mem_bytes(sizeof(float) * (k.threads[0] / 32));
      set_args(k, a);
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
      k.n_past_at = offsetof(SoftmaxArgs, n_past);
      k.kernel = id_of("softmax_f32");
      k.bufs[0] = ref(x);
      k.grid[0] = static_cast<uint32_t>(a.rows);
      k.threads[0] = row_threads(a.cols, k.kernel, dev);
      k.tg_mem = tg_mem_bytes(sizeof(float) * (k.threads[0] / 32));
      set_args(k, a);
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
      a.attn_factor = n.p.attn_factor;
      k.kernel = id_of("rope_f32");
      k.bufs[0] = ref(x);
      k.bufs[1] = ref(pos);
      if (a.has_freq_factors) k.bufs[2] = ref(src(2));
      const int64_t total = int64_t(a.rows) * a.n_head * ((a.head_dim + 1) / 2);
      k.threads[0] = free_threads(64, k.kernel, dev);
      k.grid[0] = i32(ceil_div(total, k.threads[0]), "rope threadgroups");
      set_args(k, a);
      break;
    }
    case OpKind::Attention: {
      const TensorDesc &q = src(0), &K = src(1), &V = src(2);
      const char* sfx = K.type == DType::F16 ? "f16" : "f32";
      auto a = zeroed<AttentionArgs>();
      a.q_stride = stride(q);
      a.k_stride = stride(K);
      a.v_stride = stride(V);
      a.d_stride = stride(d);
      a.n_rows = i32(q.rows_at(nt), "attention rows");
      a.n_tokens = i32(nt, "tokens");
      a.n_past = i32(step.n_past, "n_past");
      k.n_past_at = offsetof(AttentionArgs, n_past);
      a.n_head = n.p.n_head;
      a.n_kv_head = n.p.n_kv_head;
      a.head_dim = n.p.head_dim;
      a.scale = n.p.scale;
      a.window = n.p.window;
      a.softcap = n.p.softcap;
      a.ring = n.p.ring;
      const int64_t D = a.head_dim;
      // Kernels are instantiated for head dims up to 32, 64, 128, 256.
      const int64_t dmax = D <= 32 ? 32 : D <= 64 ? 64 : D <= 128 ? 128 : 256;
      const std::string dsfx = std::string(sfx) + "_d" + std::to_string(dmax);
      k.bufs[0] = ref(q);
      k.bufs[1] = ref(K);
      k.bufs[2] = ref(V);
      if (a.n_rows >= kMinPrefillRows && D % 8 == 0) {
        // Simdgroup-matrix tiles: the most keys per K/V tile (32, 16, 8) that fit 32 KiB.
        k.kernel = id_of("attn_prefill_" + dsfx);
        k.threads[0] = free_threads(MM_SIMD_WIDTH * MM_ATTN_PREFILL_SIMDGROUPS, k.kernel, dev);
        const int64_t nsg = k.threads[0] / MM_SIMD_WIDTH;
        int64_t tk = 32;
        while (tk > 8 && MM_ATTN_PREFILL_SHMEM(D, tk, nsg) > 32768) tk /= 2;
        a.tile_keys = static_cast<int32_t>(tk);
        k.grid[0] = static_cast<uint32_t>(a.n_head);
        k.grid[1] = ceil_div(a.n_rows, 8 * nsg);
        k.tg_mem = tg_mem_bytes(MM_ATTN_PREFILL_SHMEM(D, tk, nsg));
      } else {
        // One threadgroup per (KV head, chunk of its query heads, row, key split). Few
        // of those over a long cache (decode rows only): the keys split over more
        // threadgroups, merged by attn_combine (scratch: the partials). More simdgroups
        // for more keys per split (the cache size, not n_past, so the grid is fixed per
        // graph), at most 4096 / D so the merge buffer stays within 16 KiB.
        const int64_t group = a.n_head / a.n_kv_head, heads = MM_ATTN_DECODE_HEADS(dmax / 32);
        const int64_t groups = a.n_kv_head * ((group + heads - 1) / heads) * a.n_rows;
        a.n_splits = a.n_rows < kMinPrefillRows ? decode_splits(groups, K.rows) : 1;
        const int64_t keys = K.rows / a.n_splits;
        int64_t want = keys >= 1024 ? 32 : keys >= 256 ? 16 : 8;
        want = std::min<int64_t>(want, 4096 / dmax);
        k.kernel = id_of("attn_decode_" + dsfx);
        k.threads[0] = free_threads(static_cast<uint32_t>(MM_SIMD_WIDTH * want), k.kernel, dev);
        const int64_t nsg = k.threads[0] / MM_SIMD_WIDTH;
        k.grid[0] = static_cast<uint32_t>(a.n_kv_head * ((group + heads - 1) / heads));
        k.grid[1] = static_cast<uint32_t>(a.n_rows);
        k.grid[2] = static_cast<uint32_t>(a.n_splits);
        k.tg_mem = tg_mem_bytes(sizeof(float) * (nsg * D + 2 * nsg));
        if (a.n_splits > 1) {
          // [n_rows][n_head][n_splits][D + 2] partials, then merged into dst.
          k.bufs[3] = BufferRef{scratch, 0, -1};
          set_args(k, a);
          out.push_back(k);
          Dispatch c;
          c.kernel = id_of("attn_combine_f32");
          c.n_past_at = k.n_past_at;  // the same args (n_past unused, kept current)
          c.bufs[0] = BufferRef{scratch, 0, -1};
          c.bufs[3] = ref(d);
          c.threads[0] = free_threads(static_cast<uint32_t>(std::min<int64_t>(256, round_up(D, 32))), c.kernel, dev);
          c.grid[0] = static_cast<uint32_t>(a.n_head);
          c.grid[1] = static_cast<uint32_t>(a.n_rows);
          set_args(c, a);
          out.push_back(c);
          return;
        }
      }
      set_args(k, a);
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
      a.ring = n.p.ring;
      k.n_past_at = offsetof(StoreRowsArgs, n_past);
      const char* sfx = d.type == DType::F16 ? "f16" : d.type == DType::BF16 ? "bf16" : "f32";
      k.kernel = id_of(std::string("store_rows_") + sfx);
      k.bufs[0] = ref(s);
      k.threads[0] = free_threads(256, k.kernel, dev);
      k.grid[0] = ceil_div(a.cols, k.threads[0]);
      k.grid[1] = static_cast<uint32_t>(a.rows);
      set_args(k, a);
      break;
    }
    case OpKind::SwiGLU:
    case OpKind::GeGLU:
    case OpKind::Add:
    case OpKind::Mul:
    case OpKind::Scale:
    case OpKind::Softcap:
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
        k.kernel = id_of("copy_row_f32");
      } else if (n.op == OpKind::Scale || n.op == OpKind::Softcap) {
        a.rows = i32(x.rows_at(nt), "rows");
        a.value = n.op == OpKind::Scale ? n.p.scale : n.p.softcap;
        k.kernel = id_of(n.op == OpKind::Scale ? "scale_f32" : "softcap_f32");
      } else {
        const TensorDesc& y = src(1);
        a.b_stride = stride(y);
        a.rows = i32(x.rows_at(nt), "rows");
        a.b_broadcast = (n.op == OpKind::Add || n.op == OpKind::Mul) && y.rows == 1 && y.rows_per_token == 0;
        k.bufs[1] = ref(y);
        k.kernel = id_of(n.op == OpKind::Add     ? "add_f32"
                         : n.op == OpKind::Mul   ? "mul_f32"
                         : n.op == OpKind::GeGLU ? "geglu_f32"
                                                 : "swiglu_f32");
      }
      k.threads[0] = free_threads(256, k.kernel, dev);
      k.grid[0] = ceil_div(a.cols, k.threads[0]);
      k.grid[1] = static_cast<uint32_t>(a.rows);
      set_args(k, a);
      break;
    }
    case OpKind::Pool: {  // mean: mean_rows_f32; first / last row: copy_row_f32
      const TensorDesc& x = src(0);
      auto a = zeroed<BinaryArgs>();
      a.a_stride = stride(x);
      a.d_stride = stride(d);
      a.cols = i32(x.cols, "cols");
      const int32_t n_rows = i32(x.rows_at(nt), "rows");
      k.bufs[0] = ref(x);
      if (n.p.pooling == kPoolMean) {
        a.rows = n_rows;
        k.kernel = id_of("mean_rows_f32");
      } else {
        a.rows = 1;
        a.a_row0 = n.p.pooling == kPoolCls ? 0 : n_rows - 1;
        k.kernel = id_of("copy_row_f32");
      }
      k.threads[0] = free_threads(256, k.kernel, dev);
      k.grid[0] = ceil_div(a.cols, k.threads[0]);
      k.grid[1] = 1;
      set_args(k, a);
      break;
    }
    case OpKind::Count: fail(ErrorCode::Internal, "metal: unknown op");
  }
  out.push_back(k);
}

// ---- fusion -------------------------------------------------------------------------

namespace {

// Bytes a tensor may reach (at max_tokens), as SegmentPlan's bindings count them.
struct Span {
  const Buffer* buffer;
  size_t begin, end;
  bool overlaps(const Span& o) const { return buffer == o.buffer && begin < o.end && o.begin < end; }
};
Span span_of(const Graph& g, int32_t t) {
  const TensorDesc& td = g.tensors[t];
  const int64_t rows = td.rows_at(g.max_tokens);
  const size_t bytes = rows > 0 ? static_cast<size_t>(rows - 1) * td.row_stride + row_bytes(td.type, td.cols) : 0;
  return Span{td.buffer.get(), td.offset, td.offset + bytes};
}
// The same tensor: same bytes, layout and rows at every step.
bool same_tensor(const TensorDesc& a, const TensorDesc& b) {
  return a.buffer.get() == b.buffer.get() && a.offset == b.offset && a.type == b.type && a.cols == b.cols &&
         a.rows == b.rows && a.rows_per_token == b.rows_per_token && a.row_stride == b.row_stride;
}

// The fused kernel family a producer's consumers run ("" when it has none).
const char* fused_family(const Node& p) {
  if (p.op == OpKind::RmsNorm && p.src.size() == 2) return "rms";
  if (p.op == OpKind::SwiGLU || p.op == OpKind::GeGLU) return "glu";
  return "";
}

}  // namespace

std::vector<Fusion> find_fusions(const Graph& g, const std::vector<int32_t>& nodes, Device& dev) {
  std::vector<Fusion> found;
  for (size_t at = 0; at < nodes.size(); at++) {
    const Node& p = g.nodes[nodes[at]];
    const std::string family = fused_family(p);
    if (family.empty()) continue;
    const TensorDesc& out = g.tensors[p.dst];
    const Span t = span_of(g, p.dst);
    std::vector<Span> inputs;
    for (int32_t s : p.src) inputs.push_back(span_of(g, s));
    // The output's readers up to the node that next writes all of it (the kill)
    // must all be matmuls that can take it fused, in this segment: then no
    // other node, backend or step, nor the host after the step, can see that
    // the output was never written (after the kill it holds what it would
    // have). The producer's inputs must stay unchanged until the last of them.
    Fusion f{nodes[at], {}};
    bool ok = true, killed = false, inputs_written = false;
    for (size_t j = at + 1; j < nodes.size() && ok && !killed; j++) {
      const Node& c = g.nodes[nodes[j]];
      bool reads = false;
      for (int32_t s : c.src) reads = reads || span_of(g, s).overlaps(t);
      const Span w = span_of(g, c.dst);
      const bool writes = w.overlaps(t);
      if (reads) {
        const TensorDesc* W = c.src.size() > 1 ? &g.tensors[c.src[1]] : nullptr;
        const char* sfx = W ? kernel_type_suffix(W->type) : nullptr;
        ok = c.op == OpKind::MatMul && c.src.size() == 2 && sfx && same_tensor(g.tensors[c.src[0]], out) &&
             !span_of(g, c.src[1]).overlaps(t) && !writes && !inputs_written;
        for (const Span& in : inputs) ok = ok && !w.overlaps(in);
        const KernelId k = ok ? kernel_id("matmul_mv_" + family + "_" + sfx) : -1;
        ok = ok && k >= 0 && dev.max_threads(k) >= MM_SIMD_WIDTH * MM_MV_SIMDGROUPS;
        if (ok) f.consumers.push_back(nodes[j]);
        continue;
      }
      if (writes) {
        killed = c.op != OpKind::StoreRows && same_tensor(g.tensors[c.dst], out);
        ok = killed;
      }
      for (const Span& in : inputs) inputs_written = inputs_written || w.overlaps(in);
    }
    if (ok && killed && !f.consumers.empty()) found.push_back(std::move(f));
  }
  return found;
}

bool fuses_at(const Graph& g, const Fusion& f, int64_t n_tokens) {
  // One row (matmul_mv): kernels/matmul_fused.metal says why batches run unfused.
  return g.tensors[g.nodes[f.producer].dst].rows_at(n_tokens) == 1;
}

void plan_fused(const Graph& g, const Fusion& f, size_t consumer, const StepArgs& step, std::vector<Dispatch>& out) {
  const Node &p = g.nodes[f.producer], &c = g.nodes[consumer];
  if (!fuses_at(g, f, step.n_tokens)) fail(ErrorCode::Internal, "metal: a fused matmul planned for more than one row");
  const TensorDesc &x = g.tensors[p.src[0]], &W = g.tensors[c.src[1]], &d = g.tensors[c.dst];
  const bool rms = p.op == OpKind::RmsNorm;
  auto a = zeroed<MatMulFusedArgs>();
  a.x_stride = stride(x);
  a.u_stride = rms ? 0 : stride(g.tensors[p.src[1]]);
  a.w_stride = stride(W);
  a.d_stride = stride(d);
  a.n = i32(g.tensors[c.src[0]].rows_at(step.n_tokens), "matmul rows");
  a.m = i32(W.rows, "matmul weight rows");
  a.k = i32(W.cols, "matmul depth");
  a.act = p.op == OpKind::GeGLU ? 1 : 0;
  a.eps = p.p.eps;
  Dispatch k;
  k.bufs[0] = ref(x);  // rms: the norm's input; glu: gate
  k.bufs[1] = ref(W);
  k.bufs[2] = ref(g.tensors[p.src[1]]);  // rms: the norm's weight; glu: up
  k.bufs[3] = ref(d);
  k.kernel = id_of(std::string(rms ? "matmul_mv_rms_" : "matmul_mv_glu_") + kernel_type_suffix(W.type));
  k.grid[0] = ceil_div(a.m, MM_MV_ROWS * MM_MV_SIMDGROUPS);
  k.grid[1] = 1;
  k.threads[0] = MM_SIMD_WIDTH * MM_MV_SIMDGROUPS;
  // Quantized weights: the block scales of the rounded input (float2 per block).
  if (const int qb = act_block(W.type)) k.tg_mem = tg_mem_bytes(static_cast<uint64_t>(a.k / qb) * 2 * sizeof(float));
  set_args(k, a);
  out.push_back(k);
}

// ---- encoding -----------------------------------------------------------------------

EncodeCalls next_calls(EncoderState& st, const Dispatch& d) {
  EncodeCalls c;
  c.pipeline = st.kernel != d.kernel;
  st.kernel = d.kernel;
  for (int i = 0; i < 4; i++) {
    if (!d.bufs[i].buffer && st.slot[i] >= 0) {
      c.buffer[i] = false;  // unused by this kernel: whatever is bound there stays
      continue;
    }
    const int32_t slot = d.bufs[i].buffer ? d.bufs[i].slot : d.bufs[3].slot;
    c.buffer[i] = slot < 0 || st.slot[i] != slot;
    st.slot[i] = slot;
  }
  c.tg_mem = st.tg_mem != d.tg_mem;
  st.tg_mem = d.tg_mem;
  return c;
}

int EncodeCalls::count(bool barrier) const {
  int n = 2 + (barrier ? 1 : 0) + (pipeline ? 1 : 0) + (tg_mem ? 1 : 0);  // setBytes, dispatch
  for (bool b : buffer) n += b ? 1 : 0;
  return n;
}

// ---- SegmentPlan ------------------------------------------------------------------

SegmentPlan::SegmentPlan(const Graph& g, std::vector<int32_t> nodes, Device& dev) : g_(g), nodes_(std::move(nodes)) {
  fusions_ = find_fusions(g_, nodes_, dev);
  fusion_of_.assign(g_.nodes.size(), -1);
  for (size_t f = 0; f < fusions_.size(); f++) {
    fusion_of_[fusions_[f].producer] = static_cast<int32_t>(f);
    for (int32_t c : fusions_[f].consumers) fusion_of_[c] = static_cast<int32_t>(f);
  }
  size_t scratch = 0;
  for (int32_t i : nodes_) scratch = std::max(scratch, scratch_bytes(g_, static_cast<size_t>(i)));
  if (scratch > 0) {
    scratch_ = dev.scratch(scratch);
    bindings_.push_back({scratch_.get(), 0, scratch});
  }
  if (const size_t act = act_bytes(g_, nodes_)) {
    act_ = dev.scratch(act);
    bindings_.push_back({act_.get(), 0, act});
  }
  for (int32_t i : nodes_) {
    const Node& n = g_.nodes[i];
    if (n.op == OpKind::GetRows) id_checks_.push_back(i);
    auto note = [&](int32_t t) {
      const TensorDesc& td = g_.tensors[t];
      const int64_t rows = td.rows_at(g_.max_tokens);
      const size_t span = static_cast<size_t>(rows - 1) * td.row_stride + row_bytes(td.type, td.cols);
      for (Binding& b : bindings_)
        if (b.buffer == td.buffer.get() && b.offset == td.offset) {
          b.span = std::max(b.span, span);
          return;
        }
      bindings_.push_back({td.buffer.get(), td.offset, span});
    };
    for (int32_t s : n.src) note(s);
    note(n.dst);
  }
}

std::vector<KernelId> SegmentPlan::kernels(Device& dev) const {
  std::vector<KernelId> ks;
  std::vector<Dispatch> ds;
  for (int64_t nt : step_shapes(g_.max_tokens)) {
    ds.clear();
    plan_all(StepArgs{nt, 0}, dev, ds, nullptr, nullptr);
    for (const Dispatch& d : ds)
      if (std::find(ks.begin(), ks.end(), d.kernel) == ks.end()) ks.push_back(d.kernel);
  }
  return ks;
}

std::vector<std::vector<int32_t>> SegmentPlan::fused_lists() const {
  std::vector<std::vector<int32_t>> out;
  for (const Fusion& f : fusions_) {
    out.push_back({f.producer});
    out.back().insert(out.back().end(), f.consumers.begin(), f.consumers.end());
  }
  return out;
}

void SegmentPlan::plan_all(const StepArgs& step, Device& dev, std::vector<Dispatch>& out, const Buffer* scratch,
                           const Buffer* act) const {
  // Which input the act buffer holds rounded, to which block grid (-1: none yet):
  // matmuls of one input and grid (q / k / v, gate / up) share one quantize_act.
  int32_t held = -1;
  int held_block = 0;
  for (int32_t i : nodes_) {
    const Node& n = g_.nodes[i];
    const int32_t f = fusion_of_[i];
    if (f >= 0 && fuses_at(g_, fusions_[f], step.n_tokens)) {
      // The producer runs inside its consumers.
      if (fusions_[f].producer != i) plan_fused(g_, fusions_[f], static_cast<size_t>(i), step, out);
    } else {
      // One row (decode) is rounded by matmul_mv itself: no dispatch for it.
      const int block = n.op == OpKind::MatMul && g_.tensors[n.src[0]].rows_at(step.n_tokens) > 1
                            ? act_block(g_.tensors[n.src[1]].type)
                            : 0;
      if (block > 0 && !(held >= 0 && held_block == block && same_tensor(g_.tensors[held], g_.tensors[n.src[0]]))) {
        out.push_back(plan_act_quant(g_.tensors[n.src[0]], block, step.n_tokens, act));
        held = n.src[0];
        held_block = block;
      }
      plan_node(g_, i, step, dev, out, scratch, act);
    }
    // A node that writes the held input makes its rounded copy stale.
    if (held >= 0 && span_of(g_, n.dst).overlaps(span_of(g_, held))) held = -1;
  }
}

void SegmentPlan::build(Cached& c, const StepArgs& step, Device& dev) {
  c.list.clear();
  plan_all(step, dev, c.list, scratch_.get(), act_.get());
  for (Dispatch& d : c.list) {
    if (!d.bufs[3].buffer) fail(ErrorCode::Internal, "metal: a dispatch has no output buffer");
    for (BufferRef& r : d.bufs) {
      if (!r.buffer) continue;
      for (size_t b = 0; b < bindings_.size(); b++)
        if (bindings_[b].buffer == r.buffer && bindings_[b].offset == r.offset) r.slot = static_cast<int32_t>(b);
      if (r.slot < 0) fail(ErrorCode::Internal, "metal: a dispatch binds memory outside the segment's tensors");
    }
  }
  place_barriers(c.list);
  decide_calls(c.list);
  c.n_tokens = step.n_tokens;
}

void SegmentPlan::decide_calls(std::vector<Dispatch>& list) {
  EncoderState st;  // a segment's run starts binding from scratch
  for (Dispatch& d : list) d.calls = next_calls(st, d);
}

void SegmentPlan::place_barriers(std::vector<Dispatch>& list) const {
  // Byte ranges read and written since the last barrier; a binding's range is
  // every byte its tensor may reach (strided views of one buffer overlap).
  struct Range {
    const Buffer* buffer;
    size_t begin, end;
  };
  std::vector<Range> read, written;
  auto range = [&](const BufferRef& r) {
    const Binding& b = bindings_[r.slot];
    return Range{b.buffer, b.offset, b.offset + b.span};
  };
  auto overlaps = [](const Range& r, const std::vector<Range>& set) {
    for (const Range& s : set)
      if (s.buffer == r.buffer && s.begin < r.end && r.begin < s.end) return true;
    return false;
  };
  bool first = true;
  for (Dispatch& d : list) {
    const Range w = range(d.bufs[3]);
    bool wait = first || overlaps(w, written) || overlaps(w, read);
    for (int i = 0; i < 3 && !wait; i++)
      if (d.bufs[i].buffer) wait = overlaps(range(d.bufs[i]), written);
    d.barrier = wait;
    if (wait) {
      read.clear();
      written.clear();
    }
    for (int i = 0; i < 3; i++)
      if (d.bufs[i].buffer) read.push_back(range(d.bufs[i]));
    written.push_back(w);
    first = false;
  }
}

const std::vector<Dispatch>& SegmentPlan::for_step(const StepArgs& step, Device& dev) {
  for (int32_t i : id_checks_) check_inputs(g_, static_cast<size_t>(i), step, ids_);
  Cached& c = step.n_tokens == 1 ? decode_ : other_;
  if (c.n_tokens != step.n_tokens) build(c, step, dev);
  const int32_t n_past = i32(step.n_past, "n_past");
  for (Dispatch& d : c.list)
    if (d.n_past_at >= 0) std::memcpy(d.args + d.n_past_at, &n_past, sizeof(n_past));
  return c.list;
}

void SegmentPlan::verify(const StepArgs& step, Device& dev) {
  const std::vector<Dispatch>& cached = for_step(step, dev);
  Cached fresh;
  build(fresh, step, dev);
  auto same = [](const Dispatch& a, const Dispatch& b) {
    if (a.kernel != b.kernel || a.args_size != b.args_size || a.n_past_at != b.n_past_at || a.tg_mem != b.tg_mem ||
        a.barrier != b.barrier || a.calls.pipeline != b.calls.pipeline || a.calls.tg_mem != b.calls.tg_mem ||
        std::memcmp(a.args, b.args, a.args_size) != 0)
      return false;
    for (int i = 0; i < 3; i++)
      if (a.grid[i] != b.grid[i] || a.threads[i] != b.threads[i]) return false;
    for (int i = 0; i < 4; i++)
      if (a.bufs[i].buffer != b.bufs[i].buffer || a.bufs[i].offset != b.bufs[i].offset ||
          a.calls.buffer[i] != b.calls.buffer[i])
        return false;
    return true;
  };
  bool ok = cached.size() == fresh.list.size();
  for (size_t i = 0; ok && i < cached.size(); i++) ok = same(cached[i], fresh.list[i]);
  if (!ok)
    fail(ErrorCode::Internal, "metal: the cached plan differs from a fresh one at n_tokens " +
                                  std::to_string(step.n_tokens) + ", n_past " + std::to_string(step.n_past) +
                                  " (a plan may depend on n_past only through Dispatch::n_past_at)");
}

}  // namespace metal
}  // namespace mm
