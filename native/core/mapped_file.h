// A whole file mapped into memory copy-on-write (mmap MAP_PRIVATE on POSIX, a
// FILE_MAP_COPY view on Windows): reads share the page cache, writes never reach the file. Model weights are used in
// place from here, never copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mm {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);  // throws ERR_IO
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Bytes of this mapping currently resident in RAM (mincore); -1 if unknown.
  int64_t resident_bytes() const;

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
#if defined(_WIN32)
  void* file_ = nullptr;
  void* mapping_ = nullptr;
#endif
};

}  // namespace mm
