// The one interface every compute backend implements (CPU, Metal, metal-sim).
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "buffer.h"
#include "graph.h"

namespace mm {

struct BackendOptions {
  int threads = 0;  // 0 = the machine's physical cores
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Memory the backend computes on. On the CPU and on Apple's unified memory
  // these are host pointers; `wrap` adopts mapped weights without copying.
  virtual BufferPtr allocate(size_t bytes) { return Buffer::allocate(bytes); }
  virtual BufferPtr wrap(void* data, size_t bytes, std::shared_ptr<void> owner) {
    return Buffer::borrow(data, bytes, std::move(owner), true);
  }
  virtual void upload(Buffer& dst, size_t offset, const void* src, size_t bytes);
  virtual void download(const Buffer& src, size_t offset, void* dst, size_t bytes);

  // Whether this backend runs `op` natively for these tensor types; graphs with
  // other ops are still accepted (a backend falls back to the CPU for them).
  virtual bool supports(OpKind op, const std::vector<DType>& types) const = 0;

  // Runs every node of `g` for one step. Thread-safe: runs are serialized.
  virtual void run(const Graph& g, const StepArgs& step) = 0;
  // Waits for submitted work (a no-op for synchronous backends).
  virtual void synchronize() {}

  virtual int threads() const { return 1; }
};

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendOptions& opts);
// Backend names this build can create ("cpu", "metal-sim", and "metal" on macOS).
std::vector<std::string> available_backends();

}  // namespace mm
