// A whole file mapped into memory copy-on-write (mmap MAP_PRIVATE on POSIX, a
// FILE_MAP_COPY view on Windows): reads share the page cache, writes never reach the file. Model weights are used in
// place from here, never copied. The descriptor stays open so that a run can
// first check the file was not truncated or rewritten under the mapping (a
// read past a truncated file's end is SIGBUS); the destructor unmaps and closes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mm {

class MappedFile {
 public:
  // Throws ERR_IO for anything but a regular file (never blocks on a FIFO or device).
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Bytes of this mapping currently resident in RAM (mincore); -1 if unknown.
  int64_t resident_bytes() const;
  // Throws ERR_IO "model file changed on disk" when the open file's size or
  // modification time differ from when it was mapped. One fstat: cheap enough
  // to call before every graph run that reads the mapping.
  void check_unchanged() const;

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
#if defined(_WIN32)
  void* file_ = nullptr;
  void* mapping_ = nullptr;
#else
  int fd_ = -1;
  int64_t mtime_sec_ = 0;
  int64_t mtime_nsec_ = 0;
#endif
};

}  // namespace mm
