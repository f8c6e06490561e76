// Dispatch plans: for each graph node, which Metal kernel runs it with which
// buffers, argument bytes, grid and threadgroup size. Portable C++: the Metal
// host (metal_backend.mm) only encodes these, and metal-sim executes the very
// same plans on Linux. Whether a node runs on the kernels at all is decided
// once per graph (node_supported, asked by the scheduler); a segment's plan is
// built once per graph and per token count, and every step only writes n_past
// into the argument blocks that hold it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/buffer.h"
#include "../core/graph.h"

namespace mm {
namespace metal {

// A kernel: index into kernel_names().
using KernelId = int32_t;
// Every kernel a plan can dispatch (the function names in kernels/*.metal).
const std::vector<std::string>& kernel_names();
// The id of a kernel name; -1 when no plan dispatches it.
KernelId kernel_id(const std::string& name);

// What the GPU allows. Metal: the device's SIMD width and each compiled
// pipeline's maxTotalThreadsPerThreadgroup; metal-sim: the emulator's.
class Device {
 public:
  virtual ~Device() = default;
  // threadExecutionWidth; every kernel is written for 32 (else nothing runs on them).
  virtual uint32_t simd_width() const = 0;
  // The largest threadgroup `k` can run with (Metal compiles its pipeline here,
  // once); 0 when the kernel cannot be used at all.
  virtual uint32_t max_threads(KernelId k) = 0;
  // Device memory for intermediate results a plan keeps between its own
  // dispatches (split attention's partials), zero-filled.
  virtual BufferPtr scratch(size_t bytes) = 0;
};

// The SIMD width every kernel is written for (MM_SIMD_WIDTH in kernels/args.h).
constexpr uint32_t kSimdWidth = 32;

struct BufferRef {
  const Buffer* buffer = nullptr;  // null: unused slot (the host binds dst there)
  size_t offset = 0;               // bytes from the buffer start (the tensor's row 0)
  int32_t slot = -1;               // index into SegmentPlan::bindings() (set by SegmentPlan)
};

constexpr size_t kMaxArgBytes = 128;

// The Metal calls a dispatch needs besides setBytes and the dispatch itself:
// an encoder keeps its pipeline, buffer bindings and threadgroup memory length
// from one dispatch to the next, so unchanged ones are not set again (a 1B
// decode step: 1,887 calls instead of 2,548). Decided when a plan is built
// (next_calls, from the state a segment's first dispatch finds: nothing), so
// the host only reads them.
struct EncodeCalls {
  bool pipeline = true;
  bool buffer[4] = {true, true, true, true};
  bool tg_mem = true;
  int count(bool barrier) const;  // Metal calls: these, setBytes, the dispatch, the barrier
};

struct Dispatch {
  KernelId kernel = -1;
  uint32_t args_size = 0;  // bytes of the kernels/args.h struct, bound at buffer(0)
  int32_t n_past_at = -1;  // byte offset of the args' n_past field, patched every step (-1: none)
  alignas(8) uint8_t args[kMaxArgBytes] = {};
  BufferRef bufs[4];                // buffer(1..4): src0, src1, src2, dst
  uint32_t grid[3] = {1, 1, 1};     // threadgroups per grid
  uint32_t threads[3] = {1, 1, 1};  // threads per threadgroup (multiple of 32)
  uint32_t tg_mem = 16;             // bytes of threadgroup(0) memory (multiple of 16, >= 16)
  // Whether this dispatch must wait for the memory writes of the ones before it
  // (a memory barrier in Metal's concurrent encoder). False only when it neither
  // reads nor writes bytes that a dispatch since the last barrier writes, nor
  // writes bytes one of them reads: such runs may execute in any order or at
  // once (q/k/v projections, gate/up, the two ropes). The first dispatch of a
  // segment always waits.
  bool barrier = true;
  EncodeCalls calls;  // what the host sets before dispatching (see EncodeCalls)
};

// What an encoder was last told (binding slots of one segment).
struct EncoderState {
  KernelId kernel = -1;
  int32_t slot[4] = {-1, -1, -1, -1};  // binding slot bound at buffer(1..4)
  uint32_t tg_mem = 0;
};
// Which calls `d` needs after `st` (updated to what it binds). A slot the
// kernel does not use keeps what is bound there, or gets dst in a fresh state.
EncodeCalls next_calls(EncoderState& st, const Dispatch& d);

// The weight/table types the matmul and get_rows kernels decode; null = none.
const char* kernel_type_suffix(DType t);
// Whether the kernels run `op` for these tensor types (Backend::supports).
bool kernels_support(OpKind op, const std::vector<DType>& types);
// Whether node `i` of a validated graph runs on the kernels for every step
// shape (types, head sizes, the device's limits); else false with the reason.
bool node_supported(const Graph& g, size_t i, Device& dev, std::string* why);
// The dispatches of one supported node for one step, appended to `out`.
// Throws ERR_INTERNAL for a node node_supported() refuses. `scratch` is where
// dispatches keep intermediate results (at offset 0, at least
// scratch_bytes(g, node) bytes); without it those refs are null (enough to
// know kernels and grids, not to run).
// A matmul over quantized weights of more than one row reads its x from `act`
// (row stride k floats), where plan_act_quant's dispatch has rounded it (null: x
// itself, for listing kernels); one row (matmul_mv) rounds x in the kernel.
void plan_node(const Graph& g, size_t node, const StepArgs& step, Device& dev, std::vector<Dispatch>& out,
               const Buffer* scratch = nullptr, const Buffer* act = nullptr);
// The block of the 8-bit grid a weight type's matmul rounds its activations to
// first, as the CPU backend's vec_dot_type (kernels/act_quant.h): 32 (q8_0), 256
// (q8_K), 0 for float weights.
int act_block(DType w);
// quantize_act_* rounding x's rows at this step to grid `block`, into `act` ([rows, k] f32).
Dispatch plan_act_quant(const TensorDesc& x, int block, int64_t n_tokens, const Buffer* act);
// Bytes of the rounded-activation buffer of a segment's matmuls (0: none have quantized weights).
size_t act_bytes(const Graph& g, const std::vector<int32_t>& nodes);
// Scratch bytes plan_node needs for node `node` at any step shape (0: none).
size_t scratch_bytes(const Graph& g, size_t node);
// Errors a GPU cannot report: get_rows ids outside the table (ERR_INVALID_ARG,
// the CPU backend's message). Reads the ids through Buffer::get.
void check_inputs(const Graph& g, size_t node, const StepArgs& step, std::vector<int32_t>& scratch);

// A node fused into the matmuls that read its output (kernels/matmul_fused.metal):
// an rms_norm with a weight, or a swiglu / geglu, whose output only matmuls
// without bias of the same segment read (as their whole x) before a later node
// of the segment writes all of it again, and whose inputs stay unchanged until
// then. Steps of one row (decode) then run each consumer as a fused matmul and
// the producer not at all; steps of more rows plan both unfused.
struct Fusion {
  int32_t producer = -1;
  std::vector<int32_t> consumers;  // node indices, in order
};
// The fusions of a segment's nodes (graph order); fused kernels must fit the device.
std::vector<Fusion> find_fusions(const Graph& g, const std::vector<int32_t>& nodes, Device& dev);
// Whether a step of `n_tokens` runs `f` fused.
bool fuses_at(const Graph& g, const Fusion& f, int64_t n_tokens);
// The fused dispatch of consumer node `consumer` of `f`, appended to `out`.
void plan_fused(const Graph& g, const Fusion& f, size_t consumer, const StepArgs& step, std::vector<Dispatch>& out);

// The plan of a run of supported nodes, built once per graph: the dispatch
// list for a token count is built the first time a step has that count (kept
// for decode and for the latest other count); every step then only patches
// n_past. Holds no backend: the Device is passed in (the constructor takes the
// segment's scratch memory from it, once).
class SegmentPlan {
 public:
  SegmentPlan(const Graph& g, std::vector<int32_t> nodes, Device& dev);
  // The bytes of every tensor the segment binds (BufferRef::slot indexes
  // this): the host resolves each to a GPU buffer and offset once.
  struct Binding {
    const Buffer* buffer;
    size_t offset;  // the tensor's row 0
    size_t span;    // bytes from there its rows may reach (at max_tokens)
  };
  const std::vector<Binding>& bindings() const { return bindings_; }
  // The nodes it fuses into others at decode steps (find_fusions).
  const std::vector<Fusion>& fusions() const { return fusions_; }
  // The same as Segment::fused lists them (producer first).
  std::vector<std::vector<int32_t>> fused_lists() const;
  // Kernels any step of this segment may use (the pipelines to build up front).
  std::vector<KernelId> kernels(Device& dev) const;
  // Checks the step's get_rows ids, then returns its dispatches in order.
  const std::vector<Dispatch>& for_step(const StepArgs& step, Device& dev);
  // Plans the step afresh and throws ERR_INTERNAL unless the cached list
  // for_step returned equals it (tests: a plan must depend on n_past only
  // through the n_past fields it declares).
  void verify(const StepArgs& step, Device& dev);

 private:
  struct Cached {
    int64_t n_tokens = -1;
    std::vector<Dispatch> list;
  };
  void build(Cached& c, const StepArgs& step, Device& dev);
  // The dispatches of every node for one step, fusions applied where the step allows.
  void plan_all(const StepArgs& step, Device& dev, std::vector<Dispatch>& out, const Buffer* scratch,
                const Buffer* act) const;
  void place_barriers(std::vector<Dispatch>& list) const;
  static void decide_calls(std::vector<Dispatch>& list);
  const Graph& g_;
  std::vector<int32_t> nodes_;
  std::vector<Fusion> fusions_;
  std::vector<int32_t> fusion_of_;  // per graph node: index into fusions_ of its producer or consumer, or -1
  std::vector<int32_t> id_checks_;  // get_rows nodes
  std::vector<int32_t> ids_;        // get_rows ids read back for checking
  std::vector<Binding> bindings_;
  BufferPtr scratch_;  // shared by the segment's nodes (dispatches run in order)
  BufferPtr act_;      // [rows, k] f32: the input of the latest quantized matmuls, rounded (quantize_act_*)
  Cached decode_, other_;
};

}  // namespace metal
}  // namespace mm
