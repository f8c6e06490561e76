// Unit test of the portable parts of the buffer layer, run by
// test/native-buffers.test.ts:
//  - metal::view_for (native/metal/buffer_views.h) with small pages and
//    limits: random tensor layouts, every tensor inside one view, views
//    page-aligned, whole pages, no longer than the limit, inside the memory,
//    and few of them (one when the memory fits one view);
//  - Buffer: a device (non-host) buffer type reached only through get/set,
//    copy_to between host and device, range and read-only checks, and the
//    destruction order (backend states before the memory's owner).
// Prints "N failures" and exits non-zero on any failure.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../core/buffer.h"
#include "../core/error.h"
#include "../metal/buffer_views.h"

namespace {

int failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    failures++;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

using mm::metal::ByteRange;

void views_random() {
  std::mt19937_64 rng(12345);
  for (int iter = 0; iter < 20000; iter++) {
    const size_t page = size_t(1) << (4 + rng() % 4);                                 // 16..128
    const size_t max_len = page * (1 + rng() % 12) + (rng() % 2 ? rng() % page : 0);  // not always whole pages
    const uintptr_t base = 0x100000 + (rng() % 3) * page + (rng() % 2 ? rng() % page : 0);
    const size_t size = 1 + rng() % (page * 40);
    const ByteRange region{base, base + size};
    const uintptr_t lo = region.begin / page * page, hi = std::max((region.end + page - 1) / page * page, lo + page);
    const size_t whole = max_len / page * page;
    const size_t stride = std::max(page, whole / 2 / page * page);
    const std::string w = "iter " + std::to_string(iter) + ": ";
    std::vector<ByteRange> views;  // distinct views handed out for this region
    size_t long_ranges = 0;        // ranges longer than a window may still hold
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; i++) {
      const size_t off = rng() % size;
      const size_t len = rng() % 3 == 0 ? rng() % (page * 14) : rng() % (page * 2);
      const ByteRange r{base + off, base + std::min(size, off + len)};
      const ByteRange v = mm::metal::view_for(r, region, page, max_len);
      const uintptr_t need_b = r.begin / page * page;
      const uintptr_t need_e = std::max((r.end + page - 1) / page * page, need_b + page);
      if (need_e - need_b > whole) {
        check(v.empty(), w + "a range longer than a view is refused");
        continue;
      }
      check(!v.empty(), w + "a range that fits gets a view");
      if (v.empty()) continue;
      check(v.begin % page == 0 && (v.end - v.begin) % page == 0, w + "views are whole pages");
      check(v.end - v.begin <= whole, w + "views are no longer than the limit");
      check(v.begin >= lo && v.end <= hi, w + "views stay inside the memory's pages");
      check(v.begin <= r.begin && r.end <= v.end, w + "the range lies inside its view");
      if (hi - lo <= whole) check(v.begin == lo && v.end == hi, w + "memory that fits one view is one view");
      if (need_e - need_b > whole - stride) long_ranges++;
      bool seen = false;
      for (const ByteRange& u : views) seen = seen || (u.begin == v.begin && u.end == v.end);
      if (!seen) views.push_back(v);
    }
    // Windows every `stride` bytes, plus at most one view per long range.
    check(views.size() <= (hi - lo + stride - 1) / stride + long_ranges, w + "few views per memory");
  }
  const ByteRange none = mm::metal::view_for({0x50, 0x10}, {0, 0x100}, 16, 64);
  check(none.empty(), "a reversed range is refused");
  check(mm::metal::view_for({0x90, 0x110}, {0x100, 0x200}, 16, 64).empty(), "a range outside the memory is refused");
}

void views_example() {
  // Pages of 100 bytes, views of at most 400 bytes over [0, 1000): windows
  // [0,400) [200,600) [400,800) and [600,1000) (the last one ends at the end).
  const ByteRange mem{0, 1000};
  auto v = [&](uintptr_t b, uintptr_t e) { return mm::metal::view_for({b, e}, mem, 100, 400); };
  auto is = [](ByteRange r, uintptr_t b, uintptr_t e) { return r.begin == b && r.end == e; };
  check(is(v(0, 150), 0, 400) && is(v(150, 380), 0, 400), "example: tensors in the first window share it");
  check(is(v(210, 590), 200, 600), "example: a tensor from 210 takes the window at 200");
  check(is(v(350, 620), 300, 700), "example: one that outgrows its window gets a view from its own page");
  check(is(v(650, 990), 600, 1000) && is(v(920, 1000), 600, 1000), "example: the last window ends at the end");
  check(v(100, 520).empty(), "example: a tensor spanning 5 pages cannot be bound");
  check(is(mm::metal::view_for({10, 20}, {0, 350}, 100, 400), 0, 400), "example: small memory is one view");
}

// A device buffer: bytes the CPU cannot address, kept in a vector.
class DeviceBuffer : public mm::Buffer {
 public:
  DeviceBuffer(size_t n, bool ro) : Buffer(nullptr, n, ro, nullptr), bytes_(n, 0) {}
  std::vector<uint8_t> bytes_;

 protected:
  void write(size_t off, const void* src, size_t n) override { std::memcpy(bytes_.data() + off, src, n); }
  void read(size_t off, void* dst, size_t n) const override { std::memcpy(dst, bytes_.data() + off, n); }
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const mm::Error& e) {
    return mm::error_code_name(e.code());
  }
  return "";
}

void device_buffers() {
  DeviceBuffer dev(64, false);
  check(!dev.is_host() && dev.host_data() == nullptr, "a device buffer is not host memory");
  const char msg[] = "scheduler copies";
  dev.set(10, msg, sizeof msg);
  char back[sizeof msg] = {};
  dev.get(10, back, sizeof msg);
  check(std::memcmp(back, msg, sizeof msg) == 0, "set then get round-trips");
  auto host = mm::Buffer::allocate(64);
  check(host->is_host(), "allocate() is host memory");
  dev.copy_to(*host, 10, 20, sizeof msg);
  check(std::memcmp(host->host_data() + 20, msg, sizeof msg) == 0, "device to host copy");
  DeviceBuffer dev2(64, false);
  dev.copy_to(dev2, 10, 0, sizeof msg);
  check(std::memcmp(dev2.bytes_.data(), msg, sizeof msg) == 0, "device to device copy");
  host->copy_to(dev2, 20, 40, sizeof msg);
  check(std::memcmp(dev2.bytes_.data() + 40, msg, sizeof msg) == 0, "host to device copy");
  check(error_of([&] { dev.get(60, back, 8); }) == "ERR_INVALID_ARG", "get past the end");
  check(error_of([&] { dev.copy_to(*host, 0, 60, 8); }) == "ERR_INVALID_ARG", "copy past the destination's end");
  DeviceBuffer ro(16, true);
  check(error_of([&] { ro.set(0, msg, 4); }) == "ERR_INVALID_ARG", "set on a read-only buffer");
  check(error_of([&] { dev.copy_to(ro, 0, 0, 4); }) == "ERR_INVALID_ARG", "copy into a read-only buffer");
}

struct Owner {
  explicit Owner(bool* a) : alive(a) {}
  ~Owner() { *alive = false; }
  bool* alive;
};
struct State {
  State(bool* o, bool* s) : owner_alive(o), seen_alive(s) {}
  ~State() { *seen_alive = *owner_alive; }
  bool* owner_alive;
  bool* seen_alive;
};

void destruction_order() {
  bool owner_alive = true, seen_alive = false;
  static uint8_t memory[32];
  {
    auto b = mm::Buffer::borrow(memory, sizeof memory, std::make_shared<Owner>(&owner_alive), true);
    const char key = 0;
    b->attach_state(&key, std::make_shared<State>(&owner_alive, &seen_alive));
    check(b->state(&key) != nullptr, "the state is found under its key");
    const char other = 0;
    check(b->state(&other) == nullptr, "no state under another backend's key");
  }
  check(seen_alive, "a backend state is released while the owner (the mapping) is still alive");
  check(!owner_alive, "the owner is released with the buffer");
}

}  // namespace

int main() {
  views_random();
  views_example();
  device_buffers();
  destruction_order();
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
