#include "sim_backend.h"

#include <cstdlib>
#include <mutex>
#include <thread>

#include "../core/error.h"
#include "../cpu/cpu_backend.h"
#include "../metal/plan.h"
#include "emulator.h"

namespace mm {

namespace {

class MetalSimBackend : public Backend {
 public:
  MetalSimBackend(const BackendOptions& opts, bool strict)
      : cpu_(opts), emulator_(opts.threads > 0 ? opts.threads : default_threads()) {
    const char* env = std::getenv("MINIMACLLM_METAL_SIM_NO_FALLBACK");
    no_fallback_ = strict || (env && env[0] == '1');
  }
  std::string name() const override { return "metal-sim"; }
  int threads() const override { return emulator_.threads(); }
  bool supports(OpKind op, const std::vector<DType>& types) const override { return metal::kernels_support(op, types); }

  void run(const Graph& g, const StepArgs& step) override {
    std::lock_guard<std::mutex> lock(mu_);
    validate_step(g, step);
    for (size_t i = 0; i < g.nodes.size(); i++) {
      metal::check_host_inputs(g, i, step);
      const metal::NodePlan plan = metal::plan_node(g, i, step);
      if (plan.cpu_fallback) {
        if (no_fallback_)
          fail(ErrorCode::Unsupported, "metal-sim: node " + std::to_string(i) + " (" + op_name(g.nodes[i].op) +
                                           ") has no Metal kernel: " + plan.reason);
        cpu_.run_node(g, g.nodes[i], step);
        continue;
      }
      for (const metal::Dispatch& d : plan.dispatches) execute(d);
    }
  }

 private:
  static int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
  }

  void execute(const metal::Dispatch& d) {
    const msim::KernelInfo* k = msim::find_kernel(d.kernel);
    if (!k) fail(ErrorCode::Internal, "metal-sim: no kernel named " + d.kernel);
    if (k->args_size != d.args.size())
      fail(ErrorCode::Internal, "metal-sim: " + d.kernel + " takes " + std::to_string(k->args_size) +
                                    " bytes of arguments, the plan gives " + std::to_string(d.args.size()));
    auto ptr = [&](int i) -> char* {
      const metal::BufferRef& r = d.bufs[i].buffer ? d.bufs[i] : d.bufs[3];  // unused slots see dst, as on Metal
      return reinterpret_cast<char*>(r.buffer->data() + r.offset);
    };
    msim::Launch l;
    l.kernel = k;
    l.args = d.args.data();
    for (int i = 0; i < 3; i++) l.src[i] = ptr(i);
    l.dst = ptr(3);
    for (int i = 0; i < 3; i++) {
      l.grid[i] = d.grid[i];
      l.tg[i] = d.threads[i];
    }
    l.tg_mem = d.tg_mem;
    emulator_.dispatch(l);
  }

  CpuBackend cpu_;
  msim::Emulator emulator_;
  std::mutex mu_;
  bool no_fallback_ = false;
};

}  // namespace

std::unique_ptr<Backend> create_metal_sim_backend(const BackendOptions& opts, bool strict) {
  return std::make_unique<MetalSimBackend>(opts, strict);
}

}  // namespace mm
