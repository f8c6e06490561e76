// Stress test of ThreadPool::run_chunks (driven by test/native-thread-pool.test.ts):
// many short jobs back to back with random chunk counts, as a decode step's
// ops issue them, on pools larger than the machine (preempted workers) and with
// pauses that let workers fall asleep. Every chunk of every job must run
// exactly once, on a valid thread slot, and no job may hang (the harness has a
// timeout). Regression test for a worker that claimed a chunk of the next job
// with the previous job's ticket (a chunk run twice, then a caller waiting
// forever for a count it had overshot). Then run_ranges: every unit covered by
// exactly one piece, each piece inside [0, units) and no larger than its grain,
// with a thread now and then stalled mid-range (its range taken by the others).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "../cpu/thread_pool.h"

namespace {
// Whether each of hits[0, n) ran exactly once; else prints the first that did not ("chunk" or "unit"
// `what` of job `job`) and returns false.
bool each_once(const std::vector<std::atomic<int>>& hits, int64_t n, const char* what, int threads, int job) {
  for (int64_t i = 0; i < n; i++) {
    const int h = hits[static_cast<size_t>(i)].load();
    if (h != 1) {
      std::printf("FAIL threads=%d job=%d %s=%lld of %lld ran %d times\n", threads, job, what,
                  static_cast<long long>(i), static_cast<long long>(n), h);
      return false;
    }
  }
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 200000;
  int failures = 0;
  for (int threads : {2, 3, 4}) {
    mm::ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(64);
    std::atomic<int> bad_slot{0};
    std::mt19937 rng(1234u + static_cast<unsigned>(threads));
    for (int j = 0; j < jobs && failures == 0; j++) {
      const int n = 2 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; i++) hits[i].store(0, std::memory_order_relaxed);
      pool.run_chunks(n, [&](int64_t c, int ith) {
        if (ith < 0 || ith >= threads) bad_slot.fetch_add(1);
        hits[static_cast<size_t>(c)].fetch_add(1, std::memory_order_relaxed);
      });
      if (!each_once(hits, n, "chunk", threads, j)) failures++;
      if (bad_slot.load() != 0) {
        std::printf("FAIL threads=%d job=%d: thread slot out of range\n", threads, j);
        failures++;
      }
      // Now and then a gap long enough for the workers to go to sleep.
      if (j % 5000 == 4999) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    std::printf("threads=%d: %d jobs\n", threads, jobs);
  }
  for (int threads : {2, 3, 4}) {
    mm::ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(4096);
    std::atomic<int> bad{0};
    std::mt19937 rng(777u + static_cast<unsigned>(threads));
    const int range_jobs = jobs / 4;
    for (int j = 0; j < range_jobs && failures == 0; j++) {
      const int64_t units = 1 + static_cast<int64_t>(rng() % 4000);
      const int64_t min_grain = 1 + static_cast<int64_t>(rng() % 8),
                    grain = min_grain + static_cast<int64_t>(rng() % 300);
      const bool stall = j % 997 == 0;  // one thread sleeps inside a piece: the others must not wait for it
      for (int64_t i = 0; i < units; i++) hits[static_cast<size_t>(i)].store(0, std::memory_order_relaxed);
      pool.run_ranges(units, grain, min_grain, [&](int64_t u0, int64_t u1, int ith) {
        if (ith < 0 || ith >= threads || u0 < 0 || u1 > units || u0 >= u1 || u1 - u0 > grain) bad.fetch_add(1);
        for (int64_t i = std::max<int64_t>(0, u0); i < std::min(u1, units); i++)
          hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
        if (stall && ith == threads - 1) std::this_thread::sleep_for(std::chrono::microseconds(200));
      });
      if (!each_once(hits, units, "range unit", threads, j)) failures++;
      if (bad.load() != 0) {
        std::printf("FAIL threads=%d range job=%d: a piece out of range, too large or on a bad slot\n", threads, j);
        failures++;
      }
      if (j % 5000 == 4999) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    std::printf("threads=%d: %d range jobs\n", threads, range_jobs);
  }
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
