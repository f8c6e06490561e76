// The threadgroup emulator: runs one dispatch of a kernel compiled through the
// MSL shim. Each threadgroup's threads are fibers scheduled round-robin on one
// OS thread, so threadgroup_barrier and SIMD-group operations have their real
// semantics; independent threadgroups run in parallel on a small pool.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime.h"

namespace mm {
namespace msim {

struct Launch {
  const KernelInfo* kernel = nullptr;
  const void* args = nullptr;
  const char* src[3] = {nullptr, nullptr, nullptr};
  char* dst = nullptr;
  uint32_t grid[3] = {1, 1, 1};  // threadgroups per grid
  uint32_t tg[3] = {1, 1, 1};    // threads per threadgroup (a multiple of 32 in total)
  size_t tg_mem = 0;             // bytes of threadgroup(0) memory
};

class Emulator {
 public:
  explicit Emulator(int threads);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Runs every threadgroup of the launch; throws mm::Error on a kernel fault.
  void dispatch(const Launch& l);
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  struct Worker;

 private:
  void worker_loop(int index);
  void run_groups(Worker& w);

  std::vector<std::unique_ptr<Worker>> states_;  // [0] is the calling thread's
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  const Launch* job_ = nullptr;
  uint64_t total_groups_ = 0;
  std::atomic_uint64_t next_group_{0};
  std::atomic_bool failed_{false};
  std::string error_;
};

}  // namespace msim
}  // namespace mm
