#include "mapped_file.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include "error.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace mm {

#if defined(_WIN32)

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int wlen = MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, nullptr, 0);
  std::wstring wpath(wlen > 0 ? wlen : 1, L'\0');
  MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, wpath.data(), wlen);
  HANDLE f =
      CreateFileW(wpath.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (f == INVALID_HANDLE_VALUE) fail(ErrorCode::IO, "cannot open " + path);
  LARGE_INTEGER sz;
  if (!GetFileSizeEx(f, &sz)) {
    CloseHandle(f);
    fail(ErrorCode::IO, "cannot stat " + path);
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(sz.QuadPart);
  m->file_ = f;
  if (m->size_ > 0) {
    HANDLE h = CreateFileMappingW(f, nullptr, PAGE_WRITECOPY, 0, 0, nullptr);
    if (!h) fail(ErrorCode::IO, "cannot map " + path);
    m->mapping_ = h;
    void* p = MapViewOfFile(h, FILE_MAP_COPY, 0, 0, 0);
    if (!p) fail(ErrorCode::IO, "cannot map " + path);
    m->data_ = static_cast<uint8_t*>(p);
  }
  return m;
}

MappedFile::~MappedFile() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(mapping_);
  if (file_) CloseHandle(file_);
}

int64_t MappedFile::resident_bytes() const { return -1; }

#else

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::IO, "cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::IO, "not a regular file: " + path);
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    // Private, copy-on-write pages: shared with the page cache until written, so a
    // stray write through a JS view changes only this process's copy and never
    // faults or touches the file.
    void* p = mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(ErrorCode::IO, "cannot mmap " + path + ": " + std::strerror(e));
    }
    m->data_ = static_cast<uint8_t*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return m;
}

MappedFile::~MappedFile() {
  if (data_) munmap(data_, size_);
}

int64_t MappedFile::resident_bytes() const {
  if (!data_) return 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t pages = (size_ + page - 1) / page;
#if defined(__APPLE__)
  std::vector<char> vec(pages);
#else
  std::vector<unsigned char> vec(pages);
#endif
  if (mincore(data_, size_, vec.data()) != 0) return -1;
  int64_t n = 0;
  for (auto v : vec) n += (v & 1);
  return n * static_cast<int64_t>(page);
}

#endif

}  // namespace mm
