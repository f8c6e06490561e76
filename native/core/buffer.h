// Host-visible memory a backend computes on: either owned (64-byte aligned,
// zeroed) or borrowed from a memory-mapped model file, kept alive by `owner`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mm {

class Buffer {
 public:
  // Owned, zeroed allocation (64-byte aligned; page-aligned and zeroed lazily by
  // the OS from 1 MiB up); throws ERR_OUT_OF_MEMORY (never aborts) when it fails.
  static std::shared_ptr<Buffer> allocate(size_t bytes);
  // Borrowed memory, e.g. a range of a mapped file; `owner` keeps it valid.
  static std::shared_ptr<Buffer> borrow(void* data, size_t bytes, std::shared_ptr<void> owner, bool read_only);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  bool owned() const { return owned_; }
  // Backend-private state (e.g. the MTLBuffer wrapping this memory).
  std::shared_ptr<void> backend_state;

 private:
  Buffer() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;
  bool read_only_ = false;
  bool mapped_ = false;  // owned anonymous mapping (large buffers), freed with munmap
  std::shared_ptr<void> owner_;
};

using BufferPtr = std::shared_ptr<Buffer>;

}  // namespace mm
