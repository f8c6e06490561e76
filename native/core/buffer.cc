#include "buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "error.h"

#if defined(_WIN32)
#include <malloc.h>
#else
#include <sys/mman.h>
#endif

namespace mm {

namespace {
constexpr size_t kAlign = 64;
// Refuse single buffers past 1 TiB outright: no machine this runs on has it,
// and it keeps size arithmetic far from overflow.
constexpr size_t kMaxBuffer = size_t(1) << 40;
// Buffers this large come from anonymous mappings: the kernel zeroes their
// pages on first touch, so a context's rarely used buffers (all-rows logits,
// unused KV positions) cost no resident memory until they are written.
constexpr size_t kLazyThreshold = size_t(1) << 20;

// Under AddressSanitizer every buffer comes from the allocator, which puts
// poisoned red zones around it: raw mmap pages would hide an overflow of a KV
// cache or an activation buffer from the sanitizer (npm run test:sanitize).
#if defined(__SANITIZE_ADDRESS__)
#define MM_BUFFERS_FROM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MM_BUFFERS_FROM_MALLOC 1
#endif
#endif

void* aligned_alloc_bytes(size_t bytes) {
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
#if defined(_WIN32)
  return _aligned_malloc(rounded, kAlign);
#else
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, rounded) != 0) return nullptr;
  return p;
#endif
}
void aligned_free(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}
}  // namespace

std::shared_ptr<Buffer> Buffer::allocate(size_t bytes) {
  if (bytes > kMaxBuffer)
    fail(ErrorCode::OutOfMemory, "cannot allocate a buffer of " + std::to_string(bytes) + " bytes");
#if !defined(_WIN32) && !defined(MM_BUFFERS_FROM_MALLOC)
  if (bytes >= kLazyThreshold) {
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) fail(ErrorCode::OutOfMemory, "out of memory allocating " + std::to_string(bytes) + " bytes");
    std::shared_ptr<Buffer> b(new Buffer());
    b->data_ = static_cast<uint8_t*>(m);
    b->size_ = bytes;
    b->owned_ = true;
    b->mapped_ = true;
    return b;
  }
#endif
  void* p = aligned_alloc_bytes(bytes);
  if (!p) fail(ErrorCode::OutOfMemory, "out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, bytes);
  std::shared_ptr<Buffer> b(new Buffer());
  b->data_ = static_cast<uint8_t*>(p);
  b->size_ = bytes;
  b->owned_ = true;
  return b;
}

std::shared_ptr<Buffer> Buffer::borrow(void* data, size_t bytes, std::shared_ptr<void> owner, bool read_only) {
  std::shared_ptr<Buffer> b(new Buffer());
  b->data_ = static_cast<uint8_t*>(data);
  b->size_ = bytes;
  b->owned_ = false;
  b->read_only_ = read_only;
  b->owner_ = std::move(owner);
  return b;
}

Buffer::~Buffer() {
  backend_state.reset();
#if !defined(_WIN32)
  if (owned_ && mapped_) {
    munmap(data_, size_);
    return;
  }
#endif
  if (owned_) aligned_free(data_);
}

}  // namespace mm
