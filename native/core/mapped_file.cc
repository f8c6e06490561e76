#include "mapped_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>
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

bool MappedFile::huge_pages_available() { return false; }

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, bool /*huge_pages*/) {
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

constexpr size_t kHugePage = size_t(2) << 20;

// Reads bytes [from, to) of the file into dst + from; returns 0, an errno, or
// -1 for a file that ended early (it shrank while it was read).
int read_range(int fd, uint8_t* dst, size_t from, size_t to) {
  while (from < to) {
    const size_t want = std::min<size_t>(to - from, size_t(64) << 20);
    const ssize_t r = pread(fd, dst + from, want, static_cast<off_t>(from));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return -1;
    from += static_cast<size_t>(r);
  }
  return 0;
}

// Reads the whole file (size bytes) into dst, in parallel parts for a large
// file (the fresh pages' first-touch zeroing and the copy both scale with
// threads); ERR_IO on a read error or a file that ends early.
void read_all(int fd, uint8_t* dst, size_t size, const std::string& path) {
  constexpr size_t kPerThread = size_t(128) << 20;
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t parts = std::max<size_t>(1, std::min<size_t>({hw, size_t(8), size / kPerThread}));
  std::vector<int> err(parts, 0);
  std::vector<std::thread> threads;
  const size_t per = (size / parts + kHugePage - 1) / kHugePage * kHugePage;  // whole 2 MB pages each
  for (size_t i = 1; i < parts; i++)
    threads.emplace_back(
        [&, i] { err[i] = read_range(fd, dst, std::min(size, per * i), std::min(size, per * (i + 1))); });
  err[0] = read_range(fd, dst, 0, std::min(size, per));
  for (auto& t : threads) t.join();
  for (int e : err) {
    if (e > 0) fail(ErrorCode::IO, "cannot read " + path + ": " + std::strerror(e));
    if (e < 0) fail(ErrorCode::IO, "model file changed on disk: " + path + " ended while it was read");
  }
}

}  // namespace

bool MappedFile::huge_pages_available() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // "always [madvise] never": the bracketed word is the mode in force.
  int fd = ::open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128] = {};
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  const std::string mode(buf, static_cast<size_t>(n));
  return mode.find("[always]") != std::string::npos || mode.find("[madvise]") != std::string::npos;
#else
  return false;
#endif
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, bool huge_pages) {
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
#if defined(MADV_HUGEPAGE)
    if (huge_pages && huge_pages_available()) {
      // What the backends read (weights): a copy in anonymous memory whose 2 MB
      // aligned start lets the kernel back it with huge pages; read-only once filled.
      const size_t len = (m->size_ + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
      void* base = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) {
        const int e = errno;
        fail(ErrorCode::OutOfMemory,
             "cannot allocate " + std::to_string(len) + " bytes for " + path + ": " + std::strerror(e));
      }
      m->copy_base_ = base;
      m->copy_len_ = len;
      auto* at = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~(kHugePage - 1));
      madvise(at, len - kHugePage, MADV_HUGEPAGE);
      read_all(fd, at, m->size_, path);
      struct stat after;
      if (fstat(fd, &after) != 0 || static_cast<size_t>(after.st_size) != m->size_)
        fail(ErrorCode::IO, "model file changed on disk: " + path + " changed size while it was read");
      mprotect(at, len - kHugePage, PROT_READ);
      m->ro_data_ = at;
      return m;
    }
#endif
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
  if (copy_base_)
    munmap(copy_base_, copy_len_);
  else if (ro_data_)
    munmap(ro_data_, size_);
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
