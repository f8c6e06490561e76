// Creates backends by name, and the scheduler around them. The only place
// that knows every implementation.
#include <cstdlib>

#include "backend.h"
#include "error.h"
#include "scheduler.h"
#include "../cpu/cpu_backend.h"
#include "../cpu/device_test_backend.h"
#if defined(MM_HAVE_METAL_SIM)
#include "../metal_sim/sim_backend.h"
#endif
#if defined(MM_HAVE_METAL)
#include "../metal/metal_backend.h"
#endif
#if defined(MM_HAVE_METAL) || defined(MM_HAVE_METAL_SIM)
#include "../metal/plan.h"
#endif

namespace mm {

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendOptions& opts) {
  if (opts.threads < 0 || opts.threads > 1024) fail(ErrorCode::InvalidArg, "threads must be in [0, 1024]");
  if (name == "cpu") return create_cpu_backend(opts);
  // A discrete-GPU stand-in for tests (device memory, some ops refused); not listed as available.
  if (name == "test-device") return create_device_test_backend(opts);
#if defined(MM_HAVE_METAL_SIM)
  if (name == "metal-sim") return create_metal_sim_backend(opts);
#endif
  if (name == "metal") {
#if defined(MM_HAVE_METAL)
    return create_metal_backend(opts);  // ERR_UNSUPPORTED without an Apple7+ GPU
#else
    fail(ErrorCode::Unsupported, "backend 'metal' needs macOS on Apple silicon (this build has no Metal)");
#endif
  }
  fail(ErrorCode::Unsupported, "backend '" + name + "' is not available in this build");
}

std::unique_ptr<Scheduler> create_scheduler(const std::string& name, const BackendOptions& opts,
                                            SchedulerOptions options) {
  std::string base = name;
#if defined(MM_HAVE_METAL_SIM)
  // metal-sim refusing CPU fallbacks (for tests; not listed as available)
  if (name == "metal-sim-strict") {
    base = "metal-sim";
    options.fallback = false;
  }
  const char* env = std::getenv("MINIMACLLM_METAL_SIM_NO_FALLBACK");
  if (name == "metal-sim" && env && env[0] == '1') options.fallback = false;
#endif
  std::unique_ptr<Backend> be = create_backend(base, opts);
  std::unique_ptr<Backend> cpu;
  if (base != "cpu" && options.fallback) cpu = create_cpu_backend(opts);
  return std::make_unique<Scheduler>(std::move(be), std::move(cpu), std::move(options));
}

std::vector<std::string> gpu_kernel_names() {
#if defined(MM_HAVE_METAL) || defined(MM_HAVE_METAL_SIM)
  return metal::kernel_names();
#else
  return {};
#endif
}

std::vector<std::string> available_backends() {
  std::vector<std::string> names{"cpu"};
#if defined(MM_HAVE_METAL_SIM)
  names.push_back("metal-sim");
#endif
#if defined(MM_HAVE_METAL)
  if (metal_device_available(nullptr)) names.push_back("metal");
#endif
  return names;
}

}  // namespace mm
