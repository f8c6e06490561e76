// Creates backends by name. The only place that knows every implementation.
#include "backend.h"
#include "error.h"
#include "../cpu/cpu_backend.h"

namespace mm {

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendOptions& opts) {
  if (opts.threads < 0 || opts.threads > 1024) fail(ErrorCode::InvalidArg, "threads must be in [0, 1024]");
  if (name == "cpu") return create_cpu_backend(opts);
  fail(ErrorCode::Unsupported, "backend '" + name + "' is not available in this build");
}

std::vector<std::string> available_backends() { return {"cpu"}; }

}  // namespace mm
