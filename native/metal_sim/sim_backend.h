// metal-sim: a Backend that runs the Metal dispatch plans on the threadgroup
// emulator (kernels/*.metal compiled as C++ through msl_shim.h). The scheduler
// gives it the nodes the kernels support and the CPU the rest, exactly as for
// the Metal host. Slow, but it checks every Metal kernel on any machine.
#pragma once
#include <memory>

#include "../core/backend.h"

namespace mm {

// opts.verify_plans: every step also plans afresh and fails (ERR_INTERNAL)
// unless the cached plan equals it. opts.max_group_threads: pipelines allow
// only that many threads per threadgroup (how the plans adapt to a device).
std::unique_ptr<Backend> create_metal_sim_backend(const BackendOptions& opts);

}  // namespace mm
