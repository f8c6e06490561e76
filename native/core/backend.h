// The interface every compute backend implements (CPU, Metal, metal-sim), in
// the shape of ggml's backend: memory (allocate / wrap, and which buffers its
// kernels can use in place), which nodes it runs, and running a prepared run
// of nodes (a segment). Backends never decide fallback: the scheduler
// (scheduler.h) asks each node's backend once per graph, gives every backend
// the segments it supports and copies between buffers a backend cannot use.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "buffer.h"
#include "graph.h"

namespace mm {

struct BackendOptions {
  int threads = 0;  // 0 = the machine's physical cores
  // For tests of GPU backends: check every step that the plans cached per
  // graph equal fresh ones; cap every pipeline's threads per threadgroup (0:
  // the device's own limits) to see the plans adapt.
  bool verify_plans = false;
  int max_group_threads = 0;
};

// A backend's prepared form of some nodes of one graph (its dispatch lists,
// argument blocks, pipelines), built once per graph by Backend::prepare and
// run every step. It never holds its backend: a graph may outlive a disposed
// backend (it is then only freed, never run).
class Segment {
 public:
  virtual ~Segment() = default;
  const Graph* graph = nullptr;  // the scheduled graph (scheduler.h), which outlives the segment
  std::vector<int32_t> nodes;    // indices into graph->nodes, in execution order
  // Nodes this backend runs inside others (a GPU plan's fused kernels): each
  // entry the producer, then the nodes it is fused into. For tests and tools.
  virtual std::vector<std::vector<int32_t>> fused() const { return {}; }
  // Nodes whose weights this backend reads from a copy laid out for its kernels (the CPU's regrouped
  // q4_0 and q8_0, regroup_x8.h), once made. For tests and tools.
  virtual std::vector<int32_t> regrouped() const { return {}; }
  // Nodes whose weights this backend reads from a plain copy of their rows in huge pages (the CPU's
  // matmul weights of the types not regrouped, where the system gives huge pages), once made.
  virtual std::vector<int32_t> copied() const { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int threads() const { return 1; }

  // ---- memory (ggml's buffer type) ----
  // A zeroed buffer of this backend's memory.
  virtual BufferPtr allocate(size_t bytes) { return Buffer::allocate(bytes); }
  // Adopts `bytes` at `data` of a mapped file (kept alive by `owner`), read-only.
  virtual BufferPtr wrap(void* data, size_t bytes, std::shared_ptr<void> owner) {
    return Buffer::borrow(data, bytes, std::move(owner), true);
  }
  // Whether this backend's kernels read and write `b` in place; for any other
  // buffer the scheduler gives it a copy in a buffer it allocated.
  virtual bool can_use(const Buffer& b) const { return b.is_host(); }

  // ---- ops ----
  // Whether `op` runs here for these tensor types (sources in order, then the
  // destination's): the public capability query.
  virtual bool supports(OpKind op, const std::vector<DType>& types) const = 0;
  // Whether node `i` of `g` (validated) runs here: op, types, shapes and
  // parameters. Asked once per graph; when false, `why` (if given) says why.
  // The default asks supports() with the node's types.
  virtual bool supports_node(const Graph& g, size_t i, std::string* why) const;

  // ---- running ----
  // Prepares `nodes` of `g` (each supports_node, every buffer they touch
  // can_use): once per graph.
  virtual std::unique_ptr<Segment> prepare(const Graph& g, std::vector<int32_t> nodes);
  // Runs a prepared segment for one step. May return before the work is done
  // (a GPU queue); synchronize() waits for it. Called by the scheduler only,
  // one run at a time.
  virtual void run(Segment& s, const StepArgs& step) = 0;
  virtual void synchronize() {}
  // Makes now what a segment's first run would make for itself (the CPU's regrouped weights), so that
  // the first run does not pay for it. Called by the scheduler only, never during a run.
  virtual void warm(Segment& s) { (void)s; }

  // ---- host work between runs ----
  // Runs fn(chunk) once for each chunk in [0, n_chunks) on this backend's CPU
  // threads, the caller among them, and returns true when all are done; false,
  // having run nothing, where it has no CPU threads. Called by the scheduler
  // only, never during a run.
  virtual bool run_host(int64_t n_chunks, const std::function<void(int64_t chunk)>& fn) {
    (void)n_chunks;
    (void)fn;
    return false;
  }
};

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendOptions& opts);
// The kernels the GPU backends' plans can dispatch (native/metal/plan.h);
// empty in a build without them.
std::vector<std::string> gpu_kernel_names();

}  // namespace mm
