// A compute graph: tensors (2-D views over buffers) and a list of ops over them,
// built once per model and run once per step. The row count of a tensor may
// depend on the step's token count: rows = fixed_rows + rows_per_token * n_tokens,
// which lets one graph serve every batch size up to `max_tokens`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "buffer.h"
#include "dtype.h"

namespace mm {

struct TensorDesc {
  BufferPtr buffer;
  size_t offset = 0;  // bytes from the buffer start to row 0
  DType type = DType::F32;
  int64_t cols = 0;  // elements per row (multiple of the block size)
  int64_t rows = 0;  // fixed rows
  int64_t rows_per_token = 0;
  size_t row_stride = 0;  // bytes between rows (>= row_bytes(type, cols))

  int64_t rows_at(int64_t n_tokens) const { return rows + rows_per_token * n_tokens; }
  // Row r in host memory: only for a backend computing on host buffers (the
  // CPU); the scheduler gives a backend only buffers it can_use, and a device
  // buffer is reached through Buffer::get/set/copy_to instead.
  uint8_t* row(int64_t r) const { return buffer->host_data() + offset + static_cast<size_t>(r) * row_stride; }
  template <typename T>
  T* row_as(int64_t r) const {
    return reinterpret_cast<T*>(row(r));
  }
};

enum class OpKind : int32_t {
  GetRows,    // dst[n, d] f32 = table[ids[n], :]           src: table, ids(i32)
  RmsNorm,    // dst = x / rms(x) [* w]                      src: x [, w]
  MatMul,     // dst[n, m] = x[n, k] . W[m, k]^T [+ bias]    src: x, W [, bias]
  Rope,       // rotary embedding per head                   src: x, pos(i32) [, freq_factors]
  Softmax,    // dst = softmax(x * scale [+ causal mask])    src: x
  Attention,  // causal GQA attention over the KV cache      src: q, k_cache, v_cache [, spans(i32 [n, 2])]
              //   with spans, row i attends cache rows [spans[i][0], spans[i][0] + spans[i][1]) (one
              //   sequence's slot), not [0, n_past + i]: many sequences' rows share one step;
              //   with ring > 0 the cache (or each span's slot) is a ring: position j at row j % ring
  StoreRows,  // dst rows [n_past, n_past + n) = src (converts to dst type)  src: x [, rows(i32 [n])]
              //   with rows, src row i goes to dst row rows[i] instead (each sequence's next position);
              //   with ring > 0 (and no rows) row (n_past + i) % ring: a sliding-window layer's ring
  SwiGLU,     // dst = silu(gate) * up                       src: gate, up
  Add,        // dst = a + b (b may be one broadcast row)    src: a, b
  Mul,        // dst = a * b (b may be one broadcast row)    src: a, b
  LastRow,    // dst[1, d] = src[n - 1, :]                   src: x
  GeGLU,      // dst = gelu_tanh(gate) * up                  src: gate, up
  Scale,      // dst = x * scale                             src: x
  Softcap,    // dst = softcap * tanh(x / softcap)           src: x
  Pool,       // dst[1, d] = mean | first | last of x's rows  src: x
  Count
};

const char* op_name(OpKind op);
bool op_from_name(const std::string& name, OpKind* out);

enum RopeMode : int32_t { kRopeNormal = 0, kRopeNeox = 2 };              // ggml's values
enum PoolType : int32_t { kPoolMean = 1, kPoolCls = 2, kPoolLast = 3 };  // llama.cpp's pooling_type values

struct OpParams {
  float eps = 1e-5f;      // rms_norm
  float scale = 1.0f;     // softmax, attention
  bool causal = false;    // softmax
  bool rowwise = false;   // matmul: every row as if alone (no panel GEMM), so batched decoding is batch-invariant
  int32_t n_head = 0;     // rope, attention
  int32_t n_kv_head = 0;  // attention
  int32_t head_dim = 0;   // rope, attention
  int32_t n_rot = 0;      // rope: rotated dims per head (<= head_dim)
  int32_t rope_mode = kRopeNormal;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  float attn_factor = 1.0f;  // rope: cos and sin scaled by it (LongRoPE / YaRN magnitude)
  // attention: the query at position p sees keys (p - window, p] (0: all of [0, p])
  int32_t window = 0;
  float softcap = 0.0f;  // attention scores, softcap op: c * tanh(x / c) (0: none)
  // attention, store_rows: the KV cache is a ring of this many rows (0: row = position), position p
  // at row p % ring; it holds the window plus a batch (a windowed layer needs no older keys)
  int32_t ring = 0;
  int32_t pooling = kPoolMean;  // pool
};

struct Node {
  OpKind op;
  std::vector<int32_t> src;  // tensor indices
  int32_t dst = -1;
  OpParams p;
};

struct Graph {
  std::vector<TensorDesc> tensors;
  std::vector<Node> nodes;
  int64_t max_tokens = 1;

  // Checks every tensor fits its buffer at max_tokens and every node's shapes
  // and types agree. Throws ERR_INVALID_ARG / ERR_UNSUPPORTED naming the node.
  void validate() const;
};

// Values that change from step to step.
struct StepArgs {
  int64_t n_tokens = 1;  // rows of the batch
  int64_t n_past = 0;    // tokens already in the KV cache
};

// Checks the step against the graph (n_tokens <= max_tokens, KV rows fit).
void validate_step(const Graph& g, const StepArgs& step);

// Rows [begin, end) of a tensor that a node touches in one step: what it reads
// of src[k], and what it writes of dst. The scheduler copies only these rows
// between a tensor and its mirror.
struct RowRange {
  int64_t begin = 0, end = 0;
};
RowRange rows_read(const Graph& g, const Node& n, size_t k, const StepArgs& step);
RowRange rows_written(const Graph& g, const Node& n, const StepArgs& step);

}  // namespace mm
