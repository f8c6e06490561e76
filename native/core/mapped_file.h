// A whole file mapped into memory copy-on-write (mmap MAP_PRIVATE on POSIX, a
// FILE_MAP_COPY view on Windows): reads share the page cache, writes never reach the file. Model weights are used in
// place from here, never converted: from the shared read-only mapping, or (Linux with transparent huge pages,
// when asked) from a read-only copy of the file in 2 MB pages (see open()). The descriptor stays open so that a run can
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
  // huge_pages: the read-only view becomes a copy of the file in anonymous memory
  // backed by transparent huge pages, where the system gives them on request
  // (Linux, /sys/kernel/mm/transparent_hugepage/enabled "always" or "madvise";
  // elsewhere the request is ignored). Streaming weights through 4 KB pages costs a
  // TLB miss every 4 KB (in a VM a two-level page walk); through 2 MB pages decode
  // ran 10-33% faster in a busy 2-vCPU VM (about the same when it was quiet). The copy is read in full here (seconds
  // for a large file: call this off the event loop), is not shared with other processes, and keeps the file's bytes as
  // they were while it was read (check_unchanged still reports a change on disk). ERR_IO if the file changes size while
  // it is read.
  static std::shared_ptr<MappedFile> open(const std::string& path, bool huge_pages = false);
  // Whether the read-only view is the huge-page copy.
  bool huge_pages() const { return copy_base_ != nullptr; }
  // Whether this system gives transparent huge pages on request (Linux "always" / "madvise").
  static bool huge_pages_available();
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // The copy-on-write mapping: JS views of the file (a stray write changes
  // only this process's pages).
  const uint8_t* data() const { return data_; }
  // A second, read-only shared mapping of the same file (mmap PROT_READ
  // MAP_SHARED; a FILE_MAP_READ view on Windows) for what the backends read in
  // place: the weights. Nothing writes there (graphs refuse read-only
  // destinations), and a GPU can make these pages resident without the private
  // copies a copy-on-write mapping may force. Null for an empty file.
  const uint8_t* read_only_data() const { return ro_data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Bytes of the file resident in RAM through the read-only mapping (mincore:
  // the weights the backends touched); -1 if unknown.
  int64_t resident_bytes() const;
  // Throws ERR_IO "model file changed on disk" when the open file's size or
  // modification time differ from when it was mapped. One fstat: cheap enough
  // to call before every graph run that reads the mapping.
  void check_unchanged() const;

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  uint8_t* ro_data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
#if defined(_WIN32)
  void* file_ = nullptr;
  void* mapping_ = nullptr;
  void* copy_base_ = nullptr;  // never set: no huge-page copies on Windows
#else
  int fd_ = -1;
  void* copy_base_ = nullptr;  // the huge-page copy's mapping (ro_data_ lies inside, 2 MB aligned)
  size_t copy_len_ = 0;
  int64_t mtime_sec_ = 0;
  int64_t mtime_nsec_ = 0;
#endif
};

}  // namespace mm
