// Error codes shared by every native layer. Native code reports failures by
// throwing minimacllm::Error; the binding turns it into a JS Error with `code`.
// Nothing in native/ calls abort() or exit().
#pragma once
#include <stdexcept>
#include <string>

namespace mm {

enum class ErrorCode {
  InvalidArg,
  Unsupported,
  OutOfMemory,
  BadModel,
  IO,
  Disposed,
  ContextOverflow,
  Internal,
};

const char* error_code_name(ErrorCode code);  // "ERR_INVALID_ARG", ...

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }
inline void check_arg(bool ok, const std::string& message) {
  if (!ok) fail(ErrorCode::InvalidArg, message);
}

}  // namespace mm
