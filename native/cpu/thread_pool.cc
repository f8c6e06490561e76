#include "thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define MM_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MM_PAUSE() __asm__ __volatile__("yield")
#else
#define MM_PAUSE() ((void)0)
#endif

namespace mm {

namespace {
// Spinning before a worker sleeps: longer than the gap between two ops of a
// step (microseconds), short next to the gap between two tokens' sampling.
// (A pause is ~10 cycles on Zen 2-3, ~80 on Zen 5 (20 ns measured), ~140 on
// recent Intel: 20000 is 0.1-1 ms.)
constexpr int kSpinIterations = 20000;
// Pauses between two yields of a spinning worker (30-400 us). One in 256 (5 us
// on Zen 5) put sched_yield at 1.7% of SmolLM2-135M decode's samples, plus its
// kernel entry, on a paravirtualized VM where a syscall costs microseconds;
// one in 8192: that decode +6% (fresh processes alternating, 10 pairs, 8
// won), Llama-3.2-1B within the noise.
constexpr int kYieldEvery = 8192;
// Pauses the caller spins waiting for claimed chunks before it starts yielding.
constexpr int kWaitSpins = 2000;
inline uint32_t gen_of(uint64_t t) { return static_cast<uint32_t>(t >> 32); }
}  // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads < 1 ? 1 : n_threads), slots_(new RangeSlot[static_cast<size_t>(n_threads_)]) {
  for (int i = 1; i < n_threads_; i++) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ticket_.fetch_add(uint64_t(1) << 32);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::drain(uint32_t gen, int ith) {
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(t) != gen) return;  // a later job: this one is finished
    const uint64_t c = t & 0xffffffffu;
    // The count must be job `gen`'s: after a job ends the caller may already
    // have published the next job's count while this thread still holds the
    // old ticket (its CAS below could then succeed on the old generation and
    // run a chunk of the new job twice).
    const uint64_t jw = job_word_.load(std::memory_order_acquire);
    if (gen_of(jw) != gen || c >= (jw & 0xffffffffu)) return;
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    (*job_)(static_cast<int64_t>(c), ith);
    done_.fetch_add(1, std::memory_order_acq_rel);
    t = ticket_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_chunks(int64_t n_chunks, const ChunkFn& fn) {
  if (n_chunks <= 0) return;
  if (n_threads_ == 1 || n_chunks == 1 || n_chunks > 0x7fffffff) {
    for (int64_t c = 0; c < n_chunks; c++) fn(c, 0);
    return;
  }
  job_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t gen = gen_of(ticket_.load(std::memory_order_relaxed)) + 1;
  job_word_.store((static_cast<uint64_t>(gen) << 32) | static_cast<uint64_t>(n_chunks), std::memory_order_release);
  {
    // Publishing under the mutex pairs with the sleepers' wait predicate.
    std::lock_guard<std::mutex> lock(mutex_);
    ticket_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  }
  if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
  drain(gen, 0);
  // Only chunks another thread already claimed can still be running. If that
  // thread was preempted (a busy machine), yielding lets it finish sooner than
  // spinning out our own time slice.
  for (int spin = 0; done_.load(std::memory_order_acquire) != n_chunks; spin++) {
    if (spin < kWaitSpins)
      MM_PAUSE();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
}

void ThreadPool::run_ranges(int64_t units, int64_t grain, int64_t min_grain, const RangeFn& fn) {
  if (units <= 0) return;
  min_grain = std::max<int64_t>(1, min_grain);
  grain = std::max(grain, min_grain);
  const int nth = n_threads_;
  if (nth == 1 || units <= min_grain || units > 0x7fffffff) {
    fn(0, units, 0);
    return;
  }
  for (int s = 0; s < nth; s++) {
    const auto front = static_cast<uint64_t>(units * s / nth), back = static_cast<uint64_t>(units * (s + 1) / nth);
    slots_[static_cast<size_t>(s)].span.store((back << 32) | front, std::memory_order_relaxed);
  }
  // Claims a piece of slot s, from its front (its owner) or its back; false once it is empty.
  const auto claim = [&](int s, bool from_front, int64_t* u0, int64_t* u1) {
    std::atomic<uint64_t>& span = slots_[static_cast<size_t>(s)].span;
    uint64_t v = span.load(std::memory_order_acquire);
    for (;;) {
      const auto front = static_cast<int64_t>(v & 0xffffffffu), back = static_cast<int64_t>(v >> 32);
      if (front >= back) return false;
      // Half of what is left, within [min_grain, grain]: the threads end within a small piece of each other.
      const int64_t n = std::min(back - front, std::clamp((back - front) / 2, min_grain, grain));
      *u0 = from_front ? front : back - n;
      *u1 = from_front ? front + n : back;
      const uint64_t next = from_front ? (static_cast<uint64_t>(back) << 32) | static_cast<uint64_t>(front + n)
                                       : (static_cast<uint64_t>(back - n) << 32) | static_cast<uint64_t>(front);
      if (span.compare_exchange_weak(v, next, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
    }
  };
  run_chunks(nth, [&](int64_t c, int ith) {
    const int own = static_cast<int>(c);
    int64_t u0 = 0, u1 = 0;
    while (claim(own, true, &u0, &u1)) fn(u0, u1, ith);
    for (int k = 1; k < nth; k++) {
      const int s = (own + k) % nth;
      while (claim(s, false, &u0, &u1)) fn(u0, u1, ith);
    }
  });
}

void ThreadPool::worker(int ith) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = gen_of(ticket_.load(std::memory_order_acquire));
    for (int spin = 0; g == seen && spin < kSpinIterations; spin++) {
      // Mostly pause; now and then yield so a spinning worker gives way to a
      // runnable thread (ours or another process's) on an oversubscribed CPU.
      if (spin % kYieldEvery == kYieldEvery - 1)
        std::this_thread::yield();
      else
        MM_PAUSE();
      g = gen_of(ticket_.load(std::memory_order_acquire));
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_++;
      wake_.wait(lock, [&] { return gen_of(ticket_.load(std::memory_order_acquire)) != seen; });
      sleepers_--;
      g = gen_of(ticket_.load(std::memory_order_acquire));
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    drain(g, ith);
  }
}

}  // namespace mm
