#include "buffer.h"

#include <algorithm>
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
// unused KV positions) cost no resident memory until they are written, and
// dispose() hands the memory back to the system at once. From malloc's heap,
// a kernel op's 0.6 MB weights copy freed between small allocations that live
// until GC (V8's array buffers) was rarely reused: resident memory grew by
// ~0.1 MB an op until a GC (1 MB threshold: 47 -> 251 MB over 2,000 matmul()
// calls; 64 KB: 47 -> 63 MB).
constexpr size_t kLazyThreshold = size_t(64) << 10;
constexpr size_t kHugePage = size_t(2) << 20;

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
#if defined(MADV_HUGEPAGE)
    // Transparent huge pages where the system gives them on request (Linux's
    // "madvise" mode): a deep KV cache is read with a stride, a TLB miss every
    // few rows on 4 KB pages (decode attention at depth 4096 was 17% slower).
    if (bytes >= kHugePage) madvise(m, bytes, MADV_HUGEPAGE);
#endif
    std::shared_ptr<Buffer> b(new Buffer(static_cast<uint8_t*>(m), bytes, false, nullptr));
    b->mapped_ = true;
    return b;
  }
#endif
  void* p = aligned_alloc_bytes(bytes);
  if (!p) fail(ErrorCode::OutOfMemory, "out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, bytes);
  std::shared_ptr<Buffer> b(new Buffer(static_cast<uint8_t*>(p), bytes, false, nullptr));
  b->owned_ = true;
  return b;
}

std::shared_ptr<Buffer> Buffer::borrow(void* data, size_t bytes, std::shared_ptr<void> owner, bool read_only) {
  return std::shared_ptr<Buffer>(new Buffer(static_cast<uint8_t*>(data), bytes, read_only, std::move(owner)));
}

Buffer::Buffer(uint8_t* host, size_t size, bool read_only, std::shared_ptr<void> owner)
    : host_(host), size_(size), read_only_(read_only), owner_(std::move(owner)) {}

Buffer::~Buffer() {
  // Backend states (an MTLBuffer wrapping these bytes) go first, then the
  // memory, and the owner (a file mapping) last.
  states_.clear();
#if !defined(_WIN32)
  if (mapped_) munmap(host_, size_);
#endif
  if (owned_) aligned_free(host_);
}

void Buffer::check_range(size_t offset, size_t bytes) const {
  check_arg(offset <= size_ && bytes <= size_ - offset, "range [" + std::to_string(offset) + ", +" +
                                                            std::to_string(bytes) + ") exceeds the buffer of " +
                                                            std::to_string(size_) + " bytes");
}

void Buffer::set(size_t offset, const void* src, size_t bytes) {
  check_arg(!read_only_, "cannot write into a read-only (mapped) buffer");
  check_range(offset, bytes);
  if (bytes) write(offset, src, bytes);
}

void Buffer::get(size_t offset, void* dst, size_t bytes) const {
  check_range(offset, bytes);
  if (bytes) read(offset, dst, bytes);
}

void Buffer::write(size_t offset, const void* src, size_t bytes) { std::memcpy(host_ + offset, src, bytes); }
void Buffer::read(size_t offset, void* dst, size_t bytes) const { std::memcpy(dst, host_ + offset, bytes); }

void Buffer::copy_to(Buffer& dst, size_t src_offset, size_t dst_offset, size_t bytes) const {
  check_range(src_offset, bytes);
  dst.check_range(dst_offset, bytes);
  check_arg(!dst.read_only_, "cannot write into a read-only (mapped) buffer");
  if (bytes == 0) return;
  if (dst.is_host()) return read(src_offset, dst.host_ + dst_offset, bytes);
  if (is_host()) return dst.write(dst_offset, host_ + src_offset, bytes);
  // Device to device: through a bounded host staging block.
  std::vector<uint8_t> stage(std::min<size_t>(bytes, size_t(1) << 22));
  for (size_t done = 0; done < bytes; done += stage.size()) {
    const size_t n = std::min(stage.size(), bytes - done);
    read(src_offset + done, stage.data(), n);
    dst.write(dst_offset + done, stage.data(), n);
  }
}

std::shared_ptr<void> Buffer::state(const void* key) const {
  std::lock_guard<std::mutex> lock(state_mu_);
  for (const auto& s : states_)
    if (s.first == key) return s.second;
  return nullptr;
}

std::shared_ptr<void> Buffer::attach_state(const void* key, std::shared_ptr<void> st) const {
  std::lock_guard<std::mutex> lock(state_mu_);
  for (const auto& s : states_)
    if (s.first == key) return s.second;
  states_.emplace_back(key, st);
  return st;
}

}  // namespace mm
