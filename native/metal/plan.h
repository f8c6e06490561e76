// Dispatch plans: for each graph node, which Metal kernel (pipeline name) runs
// it with which buffers, argument bytes, grid and threadgroup size, or that it
// falls back to the CPU backend. Portable C++: the Metal host (metal_backend.mm)
// only encodes these, and metal-sim executes the very same plans on Linux.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/buffer.h"
#include "../core/graph.h"

namespace mm {
namespace metal {

struct BufferRef {
  const Buffer* buffer = nullptr;  // null: unused slot (the host binds dst there)
  size_t offset = 0;               // bytes from the buffer start (the tensor's row 0)
};

struct Dispatch {
  std::string kernel;               // pipeline (function) name in kernels/*.metal
  std::vector<uint8_t> args;        // the kernels/args.h struct, bound at buffer(0)
  BufferRef bufs[4];                // buffer(1..4): src0, src1, src2, dst
  uint32_t grid[3] = {1, 1, 1};     // threadgroups per grid
  uint32_t threads[3] = {1, 1, 1};  // threads per threadgroup (multiple of 32)
  uint32_t tg_mem = 16;             // bytes of threadgroup(0) memory (multiple of 16, >= 16)
};

struct NodePlan {
  size_t node = 0;
  bool cpu_fallback = false;
  std::string reason;  // why it falls back (empty otherwise)
  std::vector<Dispatch> dispatches;
};

// The weight/table types the matmul and get_rows kernels decode; null = none.
const char* kernel_type_suffix(DType t);
// Whether the kernels run `op` for these tensor types (Backend::supports).
bool kernels_support(OpKind op, const std::vector<DType>& types);
// The plan of one node for one step (the graph must be validated).
NodePlan plan_node(const Graph& g, size_t node, const StepArgs& step);
// Errors a GPU cannot report: get_rows ids outside the table (ERR_INVALID_ARG,
// same message as the CPU backend). Reads the ids from host-visible memory.
void check_host_inputs(const Graph& g, size_t node, const StepArgs& step);

}  // namespace metal
}  // namespace mm
