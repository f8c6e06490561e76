#include "error.h"

namespace mm {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArg: return "ERR_INVALID_ARG";
    case ErrorCode::Unsupported: return "ERR_UNSUPPORTED";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::BadModel: return "ERR_BAD_MODEL";
    case ErrorCode::IO: return "ERR_IO";
    case ErrorCode::Disposed: return "ERR_DISPOSED";
    case ErrorCode::ContextOverflow: return "ERR_CONTEXT_OVERFLOW";
    case ErrorCode::Internal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

}  // namespace mm
