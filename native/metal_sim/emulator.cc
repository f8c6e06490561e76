#include "emulator.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>

#include "../core/error.h"
#include "fiber.h"

namespace mm {
namespace msim {

// ---- kernel registry ---------------------------------------------------------
namespace {
std::map<std::string, KernelInfo>& registry() {
  static std::map<std::string, KernelInfo> r;
  return r;
}
}  // namespace

KernelRegistrar::KernelRegistrar(const char* name, const char* file, size_t args_size, KernelFn fn) {
  std::string f = file;
  const size_t slash = f.find_last_of("/\\");
  if (slash != std::string::npos) f = f.substr(slash + 1);
  registry()[name] = KernelInfo{name, f, args_size, fn};
}

const KernelInfo* find_kernel(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<KernelInfo> all_kernels() {
  std::vector<KernelInfo> out;
  for (auto& kv : registry()) out.push_back(kv.second);
  return out;
}

// ---- one OS thread's fibers and the threadgroup scheduler ------------------------
namespace {

constexpr size_t kStackBytes = 64 * 1024;

enum class State { Ready, AtBarrier, AtSimd, Done };

struct Simdgroup {
  unsigned char slots[2][kSimdWidth][kSlotBytes];
  uint64_t seq[2][kSimdWidth];
};

constexpr size_t kMemoEntries = 64;
constexpr size_t kMemoInBytes = 3 * 64 * sizeof(float), kMemoOutBytes = 64 * sizeof(float);
struct MemoEntry {
  uint64_t seq = ~uint64_t(0);
  unsigned char in[kMemoInBytes];
  unsigned char out[kMemoOutBytes];
};

struct Thread {
  std::unique_ptr<Fiber> fiber;
  Emulator::Worker* worker = nullptr;
  KernelCall call{};
  State state = State::Ready;
  uint64_t simd_seq = 0;
  uint64_t memo_seq = 0;
  bool dirty = false;  // abandoned mid-kernel: needs a fresh stack
};

thread_local Thread* g_current = nullptr;

}  // namespace

struct Emulator::Worker {
  std::vector<std::unique_ptr<Thread>> threads;
  std::vector<Simdgroup> simdgroups;
  std::vector<std::vector<MemoEntry>> memo;  // [simdgroup][kMemoEntries], allocated on first use
  std::vector<unsigned char> shmem;
  const KernelInfo* kernel = nullptr;
  bool fault = false;
  std::string fault_msg;
};

namespace {

void fiber_entry(void* p) {
  auto* t = static_cast<Thread*>(p);
  for (;;) {
    try {
      t->worker->kernel->fn(t->call);
    } catch (const std::exception& e) {
      if (!t->worker->fault) {
        t->worker->fault = true;
        t->worker->fault_msg = e.what();
      }
    }
    t->state = State::Done;
    t->fiber->yield();
  }
}

Thread& current() {
  if (!g_current) fail(ErrorCode::Internal, "metal-sim: a kernel primitive was called outside a kernel");
  return *g_current;
}

void switch_out(Thread& t, State s) {
  t.state = s;
  t.fiber->yield();
}

}  // namespace

void tg_barrier() { switch_out(current(), State::AtBarrier); }

unsigned simd_lane() { return current().call.tiisg; }

const unsigned char* simd_exchange(const void* value, size_t bytes) {
  Thread& t = current();
  Simdgroup& sg = t.worker->simdgroups[t.call.sgitg];
  const unsigned buf = t.simd_seq & 1, lane = t.call.tiisg;
  if (bytes) std::memcpy(sg.slots[buf][lane], value, bytes);
  sg.seq[buf][lane] = t.simd_seq;
  switch_out(t, State::AtSimd);
  // Round-robin scheduling ran every lane of the simdgroup since this lane
  // yielded; a lane that is elsewhere (barrier, finished, another SIMD call)
  // breaks MSL's rule that SIMD-group functions are called by all lanes.
  for (unsigned l = 0; l < kSimdWidth; l++)
    if (sg.seq[buf][l] != t.simd_seq)
      kernel_fault("SIMD-group function not reached by all 32 lanes of the simdgroup (divergent control flow)");
  t.simd_seq++;
  return &sg.slots[buf][0][0];
}

bool simd_memo_lookup(const void* in, size_t in_bytes, void* out, size_t out_bytes) {
  Thread& t = current();
  const uint64_t seq = t.memo_seq++;
  if (t.call.tiisg == 0 || in_bytes > kMemoInBytes || out_bytes > kMemoOutBytes) return false;
  auto& memo = t.worker->memo;
  if (memo.size() <= t.call.sgitg || memo[t.call.sgitg].empty()) return false;
  const MemoEntry& e = memo[t.call.sgitg][seq % kMemoEntries];
  if (e.seq != seq || std::memcmp(e.in, in, in_bytes) != 0) return false;
  std::memcpy(out, e.out, out_bytes);
  return true;
}

void simd_memo_store(const void* in, size_t in_bytes, const void* out, size_t out_bytes) {
  Thread& t = current();
  if (t.call.tiisg != 0 || in_bytes > kMemoInBytes || out_bytes > kMemoOutBytes) return;
  auto& memo = t.worker->memo;
  if (memo.size() <= t.call.sgitg) memo.resize(t.call.sgitg + 1);
  if (memo[t.call.sgitg].empty()) memo[t.call.sgitg].resize(kMemoEntries);
  MemoEntry& e = memo[t.call.sgitg][(t.memo_seq - 1) % kMemoEntries];
  e.seq = t.memo_seq - 1;
  std::memcpy(e.in, in, in_bytes);
  std::memcpy(e.out, out, out_bytes);
}

void kernel_fault(const char* what) { fail(ErrorCode::Internal, std::string("metal-sim: ") + what); }

namespace {

// Runs one threadgroup to completion. Returns false (and sets w.fault) on error.
bool run_group(Emulator::Worker& w, const Launch& l, const uint32_t gid[3]) {
  const uint32_t nt = l.tg[0] * l.tg[1] * l.tg[2];
  while (w.threads.size() < nt) {
    auto t = std::make_unique<Thread>();
    t->fiber = std::make_unique<Fiber>(kStackBytes);
    t->worker = &w;
    t->fiber->reset(fiber_entry, t.get());
    w.threads.push_back(std::move(t));
  }
  w.simdgroups.resize((nt + kSimdWidth - 1) / kSimdWidth);
  for (Simdgroup& sg : w.simdgroups) std::memset(sg.seq, 0xff, sizeof(sg.seq));
  // Threadgroup memory starts as garbage on a GPU: NaN bytes catch reads before writes.
  if (w.shmem.size() < l.tg_mem) w.shmem.resize(l.tg_mem);
  std::memset(w.shmem.data(), 0xff, l.tg_mem);

  for (uint32_t i = 0; i < nt; i++) {
    Thread& t = *w.threads[i];
    if (t.dirty) {
      t.fiber->reset(fiber_entry, &t);
      t.dirty = false;
    }
    KernelCall& c = t.call;
    c.args = l.args;
    for (int k = 0; k < 3; k++) c.src[k] = l.src[k];
    c.dst = l.dst;
    c.shmem = l.tg_mem ? reinterpret_cast<char*>(w.shmem.data()) : nullptr;
    for (int k = 0; k < 3; k++) {
      c.tgpig[k] = gid[k];
      c.ntg[k] = l.tg[k];
      c.tgpg[k] = l.grid[k];
    }
    c.tpitg[0] = i % l.tg[0];
    c.tpitg[1] = (i / l.tg[0]) % l.tg[1];
    c.tpitg[2] = i / (l.tg[0] * l.tg[1]);
    c.tiisg = i % kSimdWidth;
    c.sgitg = i / kSimdWidth;
    t.state = State::Ready;
    t.simd_seq = 0;
    t.memo_seq = 0;
  }
  for (auto& m : w.memo)
    for (MemoEntry& e : m) e.seq = ~uint64_t(0);  // entries of the previous group never match

  for (;;) {
    uint32_t alive = 0, waiting = 0;
    for (uint32_t i = 0; i < nt; i++) {
      Thread& t = *w.threads[i];
      if (t.state == State::Done) continue;
      if (t.state != State::AtBarrier) {
        g_current = &t;
        t.fiber->resume();
        g_current = nullptr;
        if (w.fault) break;
      }
      if (t.state == State::Done) continue;
      alive++;
      if (t.state == State::AtBarrier) waiting++;
    }
    if (w.fault) break;
    if (alive == 0) return true;
    if (waiting == alive) {
      if (alive != nt) {
        w.fault = true;
        w.fault_msg = "metal-sim: threadgroup_barrier not reached by every thread of the threadgroup";
        break;
      }
      for (uint32_t i = 0; i < nt; i++) w.threads[i]->state = State::Ready;
    }
  }
  // Abandon the group: its fibers restart on fresh stacks next time.
  for (uint32_t i = 0; i < nt; i++)
    if (w.threads[i]->state != State::Done) w.threads[i]->dirty = true;
  return false;
}

}  // namespace

// ---- the pool ------------------------------------------------------------------------
Emulator::Emulator(int threads) {
  const int n = std::max(1, threads);
  for (int i = 0; i < n; i++) states_.push_back(std::make_unique<Worker>());
  for (int i = 1; i < n; i++) workers_.emplace_back([this, i] { worker_loop(i); });
}

Emulator::~Emulator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Emulator::run_groups(Worker& w) {
  const Launch& l = *job_;
  w.kernel = l.kernel;
  w.fault = false;
  for (;;) {
    if (failed_.load(std::memory_order_relaxed)) return;
    const uint64_t g = next_group_.fetch_add(1);
    if (g >= total_groups_) return;
    const uint32_t gid[3] = {static_cast<uint32_t>(g % l.grid[0]), static_cast<uint32_t>((g / l.grid[0]) % l.grid[1]),
                             static_cast<uint32_t>(g / (uint64_t(l.grid[0]) * l.grid[1]))};
    if (!run_group(w, l, gid)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failed_.exchange(true)) error_ = w.fault_msg + " (kernel " + l.kernel->name + ")";
      return;
    }
  }
}

void Emulator::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_groups(*states_[index]);
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_--;
    }
    done_cv_.notify_all();
  }
}

void Emulator::dispatch(const Launch& l) {
  if (!l.kernel) fail(ErrorCode::Internal, "metal-sim: dispatch without a kernel");
  const uint64_t nt = uint64_t(l.tg[0]) * l.tg[1] * l.tg[2];
  if (nt == 0 || nt > 1024 || nt % kSimdWidth != 0)
    fail(ErrorCode::Internal, "metal-sim: kernel " + l.kernel->name + ": threadgroup size " + std::to_string(nt) +
                                  " is not a multiple of 32 in [32, 1024]");
  if (l.tg_mem > 32768)
    fail(ErrorCode::Internal,
         "metal-sim: kernel " + l.kernel->name + " asks for more than 32 KiB of threadgroup memory");
  const uint64_t groups = uint64_t(l.grid[0]) * l.grid[1] * l.grid[2];
  if (groups == 0) return;
  job_ = &l;
  total_groups_ = groups;
  next_group_ = 0;
  failed_ = false;
  error_.clear();
  const int helpers = static_cast<int>(std::min<uint64_t>(workers_.size(), groups - 1));
  if (helpers > 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_ = static_cast<int>(workers_.size());
      generation_++;
    }
    cv_.notify_all();
  }
  run_groups(*states_[0]);
  if (helpers > 0) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return busy_ == 0; });
  }
  job_ = nullptr;
  if (failed_) fail(ErrorCode::Internal, error_);
}

}  // namespace msim
}  // namespace mm
