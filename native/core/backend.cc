#include "backend.h"

#include <cstring>
#include <string>

#include "error.h"

namespace mm {

namespace {
void check_range(const Buffer& b, size_t offset, size_t bytes) {
  check_arg(offset <= b.size() && bytes <= b.size() - offset, "range [" + std::to_string(offset) + ", +" +
                                                                  std::to_string(bytes) + ") exceeds the buffer of " +
                                                                  std::to_string(b.size()) + " bytes");
}
}  // namespace

void Backend::upload(Buffer& dst, size_t offset, const void* src, size_t bytes) {
  check_arg(!dst.read_only(), "cannot upload into a read-only (mapped) buffer");
  check_range(dst, offset, bytes);
  if (bytes) std::memcpy(dst.data() + offset, src, bytes);
}

void Backend::download(const Buffer& src, size_t offset, void* dst, size_t bytes) {
  check_range(src, offset, bytes);
  if (bytes) std::memcpy(dst, src.data() + offset, bytes);
}

}  // namespace mm
