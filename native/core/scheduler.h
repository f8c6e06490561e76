// Runs graphs on a backend with the CPU backend as its fallback, in the shape
// of ggml's backend_sched. Once per graph: each node goes to the backend if it
// supports the node (Backend::supports_node), else to the CPU; consecutive
// nodes of one backend form a segment, which that backend prepares; where a
// segment's backend cannot use a tensor's buffer (Backend::can_use: a discrete
// GPU's memory for the CPU, host memory a GPU cannot map), the tensor gets a
// mirror in memory that backend allocated, filled before the segment with the
// rows the step reads and written back after it with the rows the step
// writes. Backends only run the segments they were given, so fallback holds by
// construction and no backend carries its own "plan else CPU" loop.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"

namespace mm {

struct SchedulerOptions {
  // false: a node the backend does not run is ERR_UNSUPPORTED instead of a CPU
  // fallback (tests prove with it that the kernels, not the CPU, ran).
  bool fallback = true;
  // Ops the backend is never given (tests force fallbacks with it).
  std::vector<OpKind> skip_ops;
};

// Fills a tensor's mirror, or writes it back: the rows that nodes of the
// segment read (slot >= 0: src[slot]) or write (slot < 0: dst) this step.
struct TensorCopy {
  int32_t from = -1, to = -1;  // tensor indices in Schedule::graph
  struct Access {
    int32_t node, slot;
  };
  std::vector<Access> accesses;
};

struct ScheduledSegment {
  int backend = 0;  // 0: the scheduler's backend, 1: the CPU fallback
  std::vector<int32_t> nodes;
  std::vector<TensorCopy> copy_in, copy_out;
  std::unique_ptr<Segment> prepared;
};

// A graph split into prepared segments. `graph` is the graph as built (same
// tensor and node indices) plus the mirror tensors, with each node's sources
// and destination pointing at the tensors its backend uses.
struct Schedule {
  std::shared_ptr<const Graph> source;
  Graph graph;
  std::vector<ScheduledSegment> segments;
  std::vector<BufferPtr> mirrors;
};

class Scheduler {
 public:
  // `cpu` runs what `backend` does not; null when `backend` is the CPU backend
  // or options.fallback is false.
  Scheduler(std::unique_ptr<Backend> backend, std::unique_ptr<Backend> cpu, SchedulerOptions options);
  ~Scheduler();

  Backend& backend() const { return *backends_[0]; }
  // The backend running ScheduledSegment::backend (0, or 1: the CPU fallback).
  Backend& backend(int index) const { return *backends_[index]; }
  // CPU threads the scheduler's backends use (the most of the two).
  int threads() const;

  // Splits a validated graph into segments, mirrors what needs mirroring and
  // prepares every segment. Throws ERR_UNSUPPORTED naming a node no backend runs.
  std::shared_ptr<Schedule> prepare(std::shared_ptr<const Graph> g);
  // Runs one step (validated against the graph). Thread-safe: runs are serialized.
  void run(Schedule& s, const StepArgs& step);
  // Makes what the graph's first run would (Backend::warm), without running it. Serialized with runs.
  void warm(Schedule& s);
  // Runs fn over [0, n_chunks) on the CPU threads of its backends when no run
  // or warm holds them, never waiting for one (the sampler, on the JS thread,
  // between two steps); false, having run nothing, when one does or no backend
  // has CPU threads.
  bool try_run_host(int64_t n_chunks, const std::function<void(int64_t chunk)>& fn);

 private:
  std::unique_ptr<Backend> backends_[2];
  SchedulerOptions options_;
  std::mutex mu_;
};

// Creates a backend by name with the CPU as its fallback ("metal-sim-strict":
// metal-sim without fallback, for tests; MINIMACLLM_METAL_SIM_NO_FALLBACK=1 in
// the environment does the same for "metal-sim").
std::unique_ptr<Scheduler> create_scheduler(const std::string& name, const BackendOptions& opts,
                                            SchedulerOptions options = {});
// Backend names this build can create ("cpu", "metal-sim", and "metal" on macOS).
std::vector<std::string> available_backends();

}  // namespace mm
