#include "sim_backend.h"

#include <thread>

#include "../core/error.h"
#include "../metal/plan.h"
#include "emulator.h"

namespace mm {

namespace {

// A segment's dispatch plan, built once per graph (plan.h).
class SimSegment : public Segment {
 public:
  SimSegment(const Graph& g, std::vector<int32_t> nodes, metal::Device& dev) : plan(g, std::move(nodes), dev) {}
  metal::SegmentPlan plan;
  std::vector<std::vector<int32_t>> fused() const override { return plan.fused_lists(); }
};

class MetalSimBackend : public Backend, public metal::Device {
 public:
  explicit MetalSimBackend(const BackendOptions& opts)
      : emulator_(opts.threads > 0 ? opts.threads : default_threads()),
        kernels_(lookup_kernels()),
        max_threads_(opts.max_group_threads > 0 ? static_cast<uint32_t>(opts.max_group_threads) : 1024),
        verify_(opts.verify_plans) {}

  std::string name() const override { return "metal-sim"; }
  int threads() const override { return emulator_.threads(); }
  bool supports(OpKind op, const std::vector<DType>& types) const override { return metal::kernels_support(op, types); }
  bool supports_node(const Graph& g, size_t i, std::string* why) const override {
    return metal::node_supported(g, i, *const_cast<MetalSimBackend*>(this), why);
  }

  // ---- metal::Device: the emulator runs SIMD-groups of 32 and threadgroups up to 1024 ----
  uint32_t simd_width() const override { return metal::kSimdWidth; }
  uint32_t max_threads(metal::KernelId k) override { return kernel(k) ? max_threads_ : 0; }
  BufferPtr scratch(size_t bytes) override { return Buffer::allocate(bytes); }

  std::unique_ptr<Segment> prepare(const Graph& g, std::vector<int32_t> nodes) override {
    auto s = std::make_unique<SimSegment>(g, nodes, *this);
    s->graph = &g;
    s->nodes = std::move(nodes);
    for (metal::KernelId k : s->plan.kernels(*this))
      if (!kernel(k)) fail(ErrorCode::Internal, "metal-sim: no kernel named " + metal::kernel_names()[k]);
    return s;
  }

  void run(Segment& seg, const StepArgs& step) override {
    auto& s = static_cast<SimSegment&>(seg);
    if (verify_) s.plan.verify(step, *this);
    // Dispatches between two barriers may run in any order on the GPU
    // (Metal's concurrent encoder): each such run executes here in reverse, so
    // a missing barrier shows as a wrong result in every metal-sim test.
    const std::vector<metal::Dispatch>& list = s.plan.for_step(step, *this);
    for (size_t begin = 0; begin < list.size();) {
      size_t end = begin + 1;
      while (end < list.size() && !list[end].barrier) end++;
      for (size_t i = end; i-- > begin;) execute(list[i]);
      begin = end;
    }
  }

 private:
  static int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
  }

  // Every kernel the plans can name, looked up once (read-only afterwards, so
  // graphs can be prepared on one thread while another runs a step).
  static std::vector<const msim::KernelInfo*> lookup_kernels() {
    std::vector<const msim::KernelInfo*> ks;
    for (const std::string& n : metal::kernel_names()) ks.push_back(msim::find_kernel(n));
    return ks;
  }
  const msim::KernelInfo* kernel(metal::KernelId k) const {
    return k >= 0 && static_cast<size_t>(k) < kernels_.size() ? kernels_[k] : nullptr;
  }

  void execute(const metal::Dispatch& d) {
    const msim::KernelInfo* k = kernel(d.kernel);
    if (!k) fail(ErrorCode::Internal, "metal-sim: no kernel with id " + std::to_string(d.kernel));
    if (k->args_size != d.args_size)
      fail(ErrorCode::Internal, "metal-sim: " + k->name + " takes " + std::to_string(k->args_size) +
                                    " bytes of arguments, the plan gives " + std::to_string(d.args_size));
    auto ptr = [&](int i) -> char* {
      const metal::BufferRef& r = d.bufs[i].buffer ? d.bufs[i] : d.bufs[3];  // unused slots see dst, as on Metal
      return reinterpret_cast<char*>(r.buffer->host_data() + r.offset);
    };
    msim::Launch l;
    l.kernel = k;
    l.args = d.args;
    for (int i = 0; i < 3; i++) l.src[i] = ptr(i);
    l.dst = ptr(3);
    for (int i = 0; i < 3; i++) {
      l.grid[i] = d.grid[i];
      l.tg[i] = d.threads[i];
    }
    l.tg_mem = d.tg_mem;
    emulator_.dispatch(l);
  }

  msim::Emulator emulator_;
  const std::vector<const msim::KernelInfo*> kernels_;  // by KernelId
  uint32_t max_threads_;
  bool verify_;
};

}  // namespace

std::unique_ptr<Backend> create_metal_sim_backend(const BackendOptions& opts) {
  return std::make_unique<MetalSimBackend>(opts);
}

}  // namespace mm
