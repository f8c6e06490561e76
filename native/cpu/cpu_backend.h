// The CPU backend: the reference implementation every other backend is tested
// against, and the fast path on machines without Metal.
#pragma once
#include <memory>
#include <vector>

#include "../core/backend.h"
#include "thread_pool.h"

namespace mm {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& opts);
  std::string name() const override { return "cpu"; }
  bool supports(OpKind op, const std::vector<DType>& types) const override;
  void run(Segment& s, const StepArgs& step) override;
  void warm(Segment& s) override;
  int threads() const override { return pool_.size(); }
  bool run_host(int64_t n_chunks, const std::function<void(int64_t chunk)>& fn) override;

  std::unique_ptr<Segment> prepare(const Graph& g, std::vector<int32_t> nodes) override;

  // Runs one node of a graph whose buffers are host memory (`packed`: its matmul weights regrouped, regroup_x8.h).
  void run_node(const Graph& g, const Node& n, const StepArgs& step, const uint8_t* packed = nullptr,
                const TensorDesc* copied = nullptr);

 private:
  // The regrouped weights of a segment's matmul nodes, built on its first run at an x86 level
  // (or found on the weights' buffer, where every CPU backend keeps them as long as the buffer lives).
  void regroup(class CpuSegment& s);

  ThreadPool pool_;
  std::vector<uint8_t> workspace_;
};

std::unique_ptr<Backend> create_cpu_backend(const BackendOptions& opts);

}  // namespace mm
