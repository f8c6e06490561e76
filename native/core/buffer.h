// Memory a backend computes on (ggml's backend buffer). A host buffer's bytes
// are addressable by the CPU (host_data()): owned memory, a range of a mapped
// file, or unified GPU memory. A device buffer (a discrete GPU's) is not: it is
// read and written only through get/set/copy, and the scheduler
// (scheduler.h) copies between it and host memory where a backend needs that.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace mm {

class Buffer {
 public:
  // Owned host memory, zero-filled (64-byte aligned; from 1 MiB up an anonymous
  // mapping whose pages the OS zeroes on first touch); throws ERR_OUT_OF_MEMORY
  // (never aborts) when it fails.
  static std::shared_ptr<Buffer> allocate(size_t bytes);
  // Borrowed host memory, e.g. a range of a mapped file; `owner` keeps it valid
  // and is released after everything else this buffer holds.
  static std::shared_ptr<Buffer> borrow(void* data, size_t bytes, std::shared_ptr<void> owner, bool read_only);

  virtual ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  size_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  // Whether the CPU can address the bytes (host_data() is their first byte).
  bool is_host() const { return host_ != nullptr; }
  // The first byte of a host buffer; null for a device buffer.
  uint8_t* host_data() const { return host_; }
  // Whether the bytes are a read-only mapping of a file's pages, which the OS reads again from the
  // file when they are dropped from this process (madvise MADV_DONTNEED): the CPU backend drops those
  // of weights it reads regrouped (cpu_backend.cc). Set by whoever wraps the file (the binding).
  bool file_pages() const { return file_pages_; }
  void set_file_pages(bool v) { file_pages_ = v && read_only_; }

  // Copies bytes in and out (any buffer; ggml's set_tensor/get_tensor). Range
  // checked (ERR_INVALID_ARG); set on a read-only buffer is ERR_INVALID_ARG.
  void set(size_t offset, const void* src, size_t bytes);
  void get(size_t offset, void* dst, size_t bytes) const;
  // Copies bytes of this buffer into `dst` (either may be a device buffer).
  void copy_to(Buffer& dst, size_t src_offset, size_t dst_offset, size_t bytes) const;

  // Per-backend state attached to this buffer (e.g. the MTLBuffer wrapping its
  // memory), keyed by the backend's device so a backend only ever finds the
  // state it stored itself. Thread-safe. Released before the owner.
  std::shared_ptr<void> state(const void* key) const;
  // Stores `st` under `key` unless a state is already there; returns the one kept.
  std::shared_ptr<void> attach_state(const void* key, std::shared_ptr<void> st) const;

 protected:
  // For buffer types of other backends: `host` is null for device memory.
  Buffer(uint8_t* host, size_t size, bool read_only, std::shared_ptr<void> owner);
  // Device buffers implement these; host buffers use memcpy. Ranges are checked.
  virtual void write(size_t offset, const void* src, size_t bytes);
  virtual void read(size_t offset, void* dst, size_t bytes) const;

 private:
  void check_range(size_t offset, size_t bytes) const;
  uint8_t* host_ = nullptr;
  size_t size_ = 0;
  bool read_only_ = false;
  bool owned_ = false;   // aligned_alloc'd by allocate()
  bool mapped_ = false;  // anonymous mapping from allocate(), freed with munmap
  bool file_pages_ = false;
  mutable std::mutex state_mu_;
  mutable std::vector<std::pair<const void*, std::shared_ptr<void>>> states_;
  std::shared_ptr<void> owner_;
};

using BufferPtr = std::shared_ptr<Buffer>;

}  // namespace mm
