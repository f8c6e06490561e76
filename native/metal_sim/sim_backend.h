// metal-sim: a Backend that runs the Metal dispatch plans on the threadgroup
// emulator (kernels/*.metal compiled as C++ through msl_shim.h), falling back
// to the CPU backend for the nodes the plans give to the CPU, exactly as the
// Metal host does. Slow, but it checks every Metal kernel on any machine.
#pragma once
#include <memory>

#include "../core/backend.h"

namespace mm {

// With `strict` (backend name "metal-sim-strict", or
// MINIMACLLM_METAL_SIM_NO_FALLBACK=1 in the environment) a node without a
// kernel is an ERR_UNSUPPORTED instead of a CPU fallback, so tests can prove
// that the kernels, not the CPU, produced a result.
std::unique_ptr<Backend> create_metal_sim_backend(const BackendOptions& opts, bool strict = false);

}  // namespace mm
