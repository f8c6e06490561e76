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
  int threads() const override { return pool_.size(); }

  // Runs one node of a graph whose buffers are host memory.
  void run_node(const Graph& g, const Node& n, const StepArgs& step);

 private:
  ThreadPool pool_;
  std::vector<uint8_t> workspace_;
};

std::unique_ptr<Backend> create_cpu_backend(const BackendOptions& opts);

}  // namespace mm
