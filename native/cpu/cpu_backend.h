// The CPU backend: the reference implementation every other backend is tested
// against, and the fast path on machines without Metal.
#pragma once
#include <memory>
#include <vector>

#include "../core/buffer.h"

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

  std::unique_ptr<Segment> prepare(const Graph& g, std::vector<int32_t> nodes) override;

  // Runs one node of a graph whose buffers are host memory (`packed`: its matmul weights regrouped, q4_0_x8.h).
  void run_node(const Graph& g, const Node& n, const StepArgs& step, const uint8_t* packed = nullptr);

 private:
  // The regrouped copy of a q4_0 weight (q4_0_x8.h), shared by every segment whose matmuls read it and
  // freed with the last of them; found again by its buffer (weak: a disposed model's buffer is never
  // kept alive, and an address reused by a new buffer is not mistaken for it) and offset.
  struct Regrouped {
    std::weak_ptr<Buffer> source;
    size_t offset = 0;
    std::weak_ptr<Buffer> copy;
  };
  // The regrouped weights of a segment's matmul nodes, built on its first run at the plain AVX2 level.
  void regroup(class CpuSegment& s);

  ThreadPool pool_;
  std::vector<uint8_t> workspace_;
  std::vector<Regrouped> regrouped_;
};

std::unique_ptr<Backend> create_cpu_backend(const BackendOptions& opts);

}  // namespace mm
