#include "device_test_backend.h"

#include <cstring>

#include "../core/error.h"
#include "cpu_backend.h"

namespace mm {

namespace {

// Identifies this backend's state on a buffer (Buffer::state).
const char kDeviceKey = 0;

// Memory the rest of the program cannot address: the bytes live in a host
// allocation only this backend sees (attached as the buffer's state).
class DeviceBuffer : public Buffer {
 public:
  DeviceBuffer(BufferPtr storage, bool read_only)
      : Buffer(nullptr, storage->size(), read_only, nullptr), storage_(storage) {
    attach_state(&kDeviceKey, std::move(storage));
  }
  void fill(const void* src, size_t bytes) { std::memcpy(storage_->host_data(), src, bytes); }

 protected:
  void write(size_t offset, const void* src, size_t bytes) override {
    std::memcpy(storage_->host_data() + offset, src, bytes);
  }
  void read(size_t offset, void* dst, size_t bytes) const override {
    std::memcpy(dst, storage_->host_data() + offset, bytes);
  }

 private:
  BufferPtr storage_;
};

// The segment runs on a copy of the graph whose tensors point at the device
// buffers' storage.
class DeviceSegment : public Segment {
 public:
  Graph local;
};

class DeviceTestBackend : public Backend {
 public:
  explicit DeviceTestBackend(const BackendOptions& opts) : cpu_(opts) {}
  std::string name() const override { return "test-device"; }
  int threads() const override { return cpu_.threads(); }

  BufferPtr allocate(size_t bytes) override { return std::make_shared<DeviceBuffer>(Buffer::allocate(bytes), false); }
  // Device memory cannot alias a mapping: weights are uploaded.
  BufferPtr wrap(void* data, size_t bytes, std::shared_ptr<void>) override {
    auto b = std::make_shared<DeviceBuffer>(Buffer::allocate(bytes), true);
    b->fill(data, bytes);
    return b;
  }
  bool can_use(const Buffer& b) const override { return b.state(&kDeviceKey) != nullptr; }

  bool supports(OpKind op, const std::vector<DType>& types) const override {
    if (op == OpKind::Rope || op == OpKind::Attention || op == OpKind::LastRow) return false;
    return cpu_.supports(op, types);
  }

  std::unique_ptr<Segment> prepare(const Graph& g, std::vector<int32_t> nodes) override {
    auto s = std::make_unique<DeviceSegment>();
    s->local = g;
    for (TensorDesc& t : s->local.tensors)
      if (auto storage = t.buffer->state(&kDeviceKey)) t.buffer = std::static_pointer_cast<Buffer>(storage);
    s->graph = &g;
    s->nodes = std::move(nodes);
    return s;
  }

  void run(Segment& seg, const StepArgs& step) override {
    auto& s = static_cast<DeviceSegment&>(seg);
    for (int32_t i : s.nodes) {
      const Node& n = s.local.nodes[i];
      for (int32_t t : n.src)
        if (!s.local.tensors[t].buffer->is_host())
          fail(ErrorCode::Internal, "test-device: node " + std::to_string(i) + " reads memory it cannot use");
      cpu_.run_node(s.local, n, step);
    }
  }

 private:
  CpuBackend cpu_;
};

}  // namespace

std::unique_ptr<Backend> create_device_test_backend(const BackendOptions& opts) {
  return std::make_unique<DeviceTestBackend>(opts);
}

}  // namespace mm
