// Minimal stackful fibers for the threadgroup emulator: one per emulated GPU
// thread, switched cooperatively on one OS thread. x86-64 (System V) uses a
// few instructions of assembly (ucontext's swapcontext makes a syscall per
// switch); other POSIX targets fall back to ucontext.
#pragma once
#include <cstddef>

namespace mm {
namespace msim {

class Fiber {
 public:
  using Entry = void (*)(void* arg);
  explicit Fiber(size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // (Re)starts the fiber at entry(arg) on a fresh stack; what an abandoned
  // run left on the old stack is discarded (kernel frames hold only PODs).
  void reset(Entry entry, void* arg);
  // Scheduler side: runs the fiber until it yields.
  void resume();
  // Fiber side: returns control to the scheduler that resumed it.
  void yield();

  struct Impl;

 private:
  Impl* impl_;
};

}  // namespace msim
}  // namespace mm
