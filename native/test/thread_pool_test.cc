// Stress test of ThreadPool::run_chunks (driven by test/native-thread-pool.test.ts):
// many short jobs back to back with random chunk counts, as a decode step's
// ops issue them, on pools larger than the machine (preempted workers) and with
// pauses that let workers fall asleep. Every chunk of every job must run
// exactly once, on a valid thread slot, and no job may hang (the harness has a
// timeout). Regression test for a worker that claimed a chunk of the next job
// with the previous job's ticket (a chunk run twice, then a caller waiting
// forever for a count it had overshot).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "../cpu/thread_pool.h"

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
      for (int i = 0; i < n; i++) {
        const int h = hits[i].load();
        if (h != 1) {
          std::printf("FAIL threads=%d job=%d chunk=%d of %d ran %d times\n", threads, j, i, n, h);
          failures++;
          break;
        }
      }
      if (bad_slot.load() != 0) {
        std::printf("FAIL threads=%d job=%d: thread slot out of range\n", threads, j);
        failures++;
      }
      // Now and then a gap long enough for the workers to go to sleep.
      if (j % 5000 == 4999) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    std::printf("threads=%d: %d jobs\n", threads, jobs);
  }
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
