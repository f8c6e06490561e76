// The contract between kernels compiled through the MSL shim and the
// threadgroup emulator: the kernel registry (filled by MM_KERNEL at static
// init) and the cooperative primitives a kernel thread calls (barrier, SIMD
// exchange). Plain C++: no shim macros here, so the emulator can include it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mm {
namespace msim {

constexpr unsigned kSimdWidth = 32;
constexpr size_t kSlotBytes = 16;  // largest value a SIMD-group op exchanges (float4)

// One kernel thread's view of a dispatch: bound buffers and its builtins.
struct KernelCall {
  const void* args;    // buffer(0): the args struct
  const char* src[3];  // buffer(1..3)
  char* dst;           // buffer(4)
  char* shmem;         // threadgroup(0)
  uint32_t tgpig[3];   // threadgroup_position_in_grid
  uint32_t tpitg[3];   // thread_position_in_threadgroup
  uint32_t ntg[3];     // threads_per_threadgroup
  uint32_t tgpg[3];    // threadgroups_per_grid
  uint32_t tiisg;      // thread_index_in_simdgroup
  uint32_t sgitg;      // simdgroup_index_in_threadgroup
};

using KernelFn = void (*)(const KernelCall&);

struct KernelInfo {
  std::string name;  // the pipeline name the dispatch plans use
  std::string file;  // the .metal file that defines it
  size_t args_size;  // sizeof its args struct
  KernelFn fn;
};

// Created by MM_KERNEL for every kernel of every kernels/*.metal file.
struct KernelRegistrar {
  KernelRegistrar(const char* name, const char* file, size_t args_size, KernelFn fn);
};

const KernelInfo* find_kernel(const std::string& name);  // null when unknown
std::vector<KernelInfo> all_kernels();

// ---- called from kernel code (through msl_shim.h) --------------------------
// Waits until every thread of the threadgroup reaches the barrier.
void tg_barrier();
// Publishes `bytes` (<= kSlotBytes) of this lane's value, waits for all 32
// lanes of the simdgroup, and returns the 32 published slots (lane i at
// i * kSlotBytes), valid until this lane's next exchange.
const unsigned char* simd_exchange(const void* value, size_t bytes);
// Memo for collective operations whose result is identical on every lane
// (simdgroup matrix multiply-accumulate): lane 0 computes op number `seq` (a
// per-thread count of such ops) and stores it; later lanes with byte-identical
// inputs copy the result instead of recomputing it 32 times. A miss (inputs
// differ, or the entry was overwritten) just means the caller computes.
bool simd_memo_lookup(const void* in, size_t in_bytes, void* out, size_t out_bytes);
void simd_memo_store(const void* in, size_t in_bytes, const void* out, size_t out_bytes);
// The calling kernel thread's thread_index_in_simdgroup.
unsigned simd_lane();
// Throws mm::Error (ERR_INTERNAL) naming the rule a kernel broke.
[[noreturn]] void kernel_fault(const char* what);

}  // namespace msim
}  // namespace mm
