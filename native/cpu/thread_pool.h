// A fixed pool of worker threads for the heavy ops. The calling thread takes
// part as worker 0, so a pool of n threads starts n - 1 OS threads. Workers
// spin briefly after a job (the next op of a step follows within microseconds)
// and then sleep, so an idle model costs no CPU.
//
// Work is handed out as chunks claimed from one atomic ticket, not as fixed
// per-thread slices: a worker the OS has descheduled (a busy 2-core machine)
// simply claims nothing, and the caller finishes the job alone instead of
// waiting a scheduler slice for it. That keeps 2 threads from ever running
// much slower than 1.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mm {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(chunk, ith) for every chunk in [0, n_chunks), each exactly once,
  // on whichever thread claims it (ith in [0, size()): that thread's index, for
  // per-thread scratch), and returns when all are done. One job at a time (the
  // backend serializes graph runs).
  using ChunkFn = std::function<void(int64_t chunk, int ith)>;
  void run_chunks(int64_t n_chunks, const ChunkFn& fn);

  // Calls fn(i, nth) for every i in [0, nth), nth = size(); i is a slot
  // (e.g. a per-slot scratch buffer), not a thread id: slots run exactly once each.
  void run(const std::function<void(int ith, int nth)>& fn) {
    const int nth = n_threads_;
    run_chunks(nth, [&](int64_t c, int) { fn(static_cast<int>(c), nth); });
  }

  // Calls fn(u0, u1, ith) over pieces [u0, u1) that cover [0, units) exactly
  // once: [0, units) is cut into size() equal ranges, range i first run by
  // whichever thread claims slot i, front to back in pieces of `grain` units
  // (half of what is left near its end, down to min_grain), so each thread
  // streams one contiguous run of memory (a matmul's weight rows); a thread
  // done with its own range takes pieces from the back of the others'. A
  // thread that never wakes holds back nothing: its range is taken by the
  // others; one preempted mid-range holds back at most one piece.
  using RangeFn = std::function<void(int64_t u0, int64_t u1, int ith)>;
  void run_ranges(int64_t units, int64_t grain, int64_t min_grain, const RangeFn& fn);

  // Splits [0, n) into contiguous chunks (a few per thread, so a slow thread
  // holds back at most one small chunk).
  template <typename F>
  void parallel_for(int64_t n, F&& fn) {
    if (n <= 0) return;
    if (n_threads_ == 1 || n == 1) {
      fn(int64_t(0), n);
      return;
    }
    const int64_t chunks = n < 4 * n_threads_ ? n : 4 * n_threads_;
    const int64_t per = (n + chunks - 1) / chunks;
    run_chunks((n + per - 1) / per, [&](int64_t c, int) {
      const int64_t a = per * c, b = a + per < n ? a + per : n;
      fn(a, b);
    });
  }

 private:
  void worker(int ith);
  // Claims and runs chunks of the job with generation `gen` until none are left.
  void drain(uint32_t gen, int ith);

  const int n_threads_;
  std::vector<std::thread> threads_;
  const ChunkFn* job_ = nullptr;
  // (generation << 32) | chunk count of the current job, published before the
  // ticket, so a worker still holding an older job's ticket can tell that job's
  // count from the new one's (and never claims a chunk with a stale ticket).
  std::atomic<uint64_t> job_word_{0};
  // (generation << 32) | next chunk: a claim succeeds only for the current job.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int64_t> done_{0};  // chunks finished in the current job
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  // run_ranges' slots: slot s's unclaimed units [front, back) as (back << 32) | front, a cache line each
  // (its owner advances front, the others lower back).
  struct alignas(64) RangeSlot {
    std::atomic<uint64_t> span{0};
  };
  std::unique_ptr<RangeSlot[]> slots_;
};

}  // namespace mm
