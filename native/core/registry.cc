// Creates backends by name. The only place that knows every implementation.
#include "backend.h"
#include "error.h"
#include "../cpu/cpu_backend.h"
#if defined(MM_HAVE_METAL_SIM)
#include "../metal_sim/sim_backend.h"
#endif
#if defined(MM_HAVE_METAL)
#include "../metal/metal_backend.h"
#endif

namespace mm {

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendOptions& opts) {
  if (opts.threads < 0 || opts.threads > 1024) fail(ErrorCode::InvalidArg, "threads must be in [0, 1024]");
  if (name == "cpu") return create_cpu_backend(opts);
#if defined(MM_HAVE_METAL_SIM)
  if (name == "metal-sim") return create_metal_sim_backend(opts);
  // metal-sim refusing CPU fallbacks (for tests; not listed as available)
  if (name == "metal-sim-strict") return create_metal_sim_backend(opts, true);
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
