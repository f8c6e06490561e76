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
  if (GetFileType(f) != FILE_TYPE_DISK) {
    CloseHandle(f);
    fail(ErrorCode::IO, "not a regular file: " + path);
  }
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
    void* ro = MapViewOfFile(h, FILE_MAP_READ, 0, 0, 0);
    if (!ro) fail(ErrorCode::IO, "cannot map " + path);
    m->ro_data_ = static_cast<uint8_t*>(ro);
  }
  return m;
}

MappedFile::~MappedFile() {
  if (ro_data_) UnmapViewOfFile(ro_data_);
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(mapping_);
  if (file_) CloseHandle(file_);
}

int64_t MappedFile::resident_bytes() const { return -1; }

// Windows refuses to truncate or overwrite a file while a view of it is mapped.
void MappedFile::check_unchanged() const {}

#else

namespace {

void mtime_of(const struct stat& st, int64_t* sec, int64_t* nsec) {
#if defined(__APPLE__)
  *sec = st.st_mtimespec.tv_sec;
  *nsec = st.st_mtimespec.tv_nsec;
#else
  *sec = st.st_mtim.tv_sec;
  *nsec = st.st_mtim.tv_nsec;
#endif
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // forever; on a regular file it changes nothing.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(ErrorCode::IO, "cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::IO, "not a regular file: " + path);
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  m->fd_ = fd;  // closed by the destructor, also when a failure below throws
  mtime_of(st, &m->mtime_sec_, &m->mtime_nsec_);
  if (m->size_ > 0) {
    // Private, copy-on-write pages: shared with the page cache until written, so a
    // stray write through a JS view changes only this process's copy and never
    // faults or touches the file.
    void* p = mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      fail(ErrorCode::IO, "cannot mmap " + path + ": " + std::strerror(e));
    }
    m->data_ = static_cast<uint8_t*>(p);
    // What the backends read (weights): read-only and shared with the page cache.
    void* ro = mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (ro == MAP_FAILED) {
      const int e = errno;
      fail(ErrorCode::IO, "cannot mmap " + path + ": " + std::strerror(e));
    }
    m->ro_data_ = static_cast<uint8_t*>(ro);
  }
  return m;
}

MappedFile::~MappedFile() {
  if (ro_data_) munmap(ro_data_, size_);
  if (data_) munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::check_unchanged() const {
  struct stat st;
  if (fstat(fd_, &st) != 0) fail(ErrorCode::IO, "cannot stat " + path_ + ": " + std::strerror(errno));
  int64_t sec = 0, nsec = 0;
  mtime_of(st, &sec, &nsec);
  if (static_cast<size_t>(st.st_size) != size_ || sec != mtime_sec_ || nsec != mtime_nsec_)
    fail(ErrorCode::IO, "model file changed on disk: " + path_ + " (was " + std::to_string(size_) + " bytes, now " +
                            std::to_string(static_cast<long long>(st.st_size)) + "); load it again");
}

int64_t MappedFile::resident_bytes() const {
  if (!ro_data_) return 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t pages = (size_ + page - 1) / page;
#if defined(__APPLE__)
  std::vector<char> vec(pages);
#else
  std::vector<unsigned char> vec(pages);
#endif
  if (mincore(ro_data_, size_, vec.data()) != 0) return -1;
  int64_t n = 0;
  for (auto v : vec) n += (v & 1);
  return n * static_cast<int64_t>(page);
}

#endif

}  // namespace mm
