// ucontext (the non-x86-64 path) needs _XOPEN_SOURCE before any system
// header on macOS; _DARWIN_C_SOURCE keeps MAP_ANONYMOUS visible.
#if !defined(__x86_64__) && defined(__APPLE__)
#define _XOPEN_SOURCE 700
#define _DARWIN_C_SOURCE 1
#endif
#include "fiber.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#include "../core/error.h"

#if defined(_WIN32)
#error "metal-sim fibers are implemented for POSIX systems only"
#endif
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define MM_FIBER_ASM 1
#else
#include <ucontext.h>
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wdeprecated-declarations"  // macOS deprecates ucontext, still works
#endif
#endif

#if defined(__APPLE__)
#define MM_SYM(x) "_" #x
#else
#define MM_SYM(x) #x
#endif

#if MM_FIBER_ASM
extern "C" void mm_fiber_switch(void** save_sp, void* next_sp);
extern "C" void mm_fiber_trampoline();
extern "C" void mm_fiber_start(void* fiber_impl);
// Saves the callee-saved registers + MXCSR/x87 control word on the current
// stack, stores the stack pointer in *save_sp and resumes next_sp.
__asm__(
    ".text\n"
    ".globl " MM_SYM(mm_fiber_switch) "\n"
    MM_SYM(mm_fiber_switch) ":\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    // First switch into a fresh fiber lands here with the Impl* in r12.
    ".globl " MM_SYM(mm_fiber_trampoline) "\n"
    MM_SYM(mm_fiber_trampoline) ":\n"
    "  movq %r12, %rdi\n"
    "  andq $-16, %rsp\n"
    "  call " MM_SYM(mm_fiber_start) "\n"
    "  ud2\n");
#endif

namespace mm {
namespace msim {

struct Fiber::Impl {
  size_t stack_bytes = 0;
  size_t map_bytes = 0;
  uint8_t* map = nullptr;  // guard page + stack
  Entry entry = nullptr;
  void* arg = nullptr;
#if MM_FIBER_ASM
  void* sp = nullptr;
  void* caller_sp = nullptr;
#else
  ucontext_t ctx;
  ucontext_t caller;
#endif
  uint8_t* stack_top() const { return map + map_bytes; }
};

}  // namespace msim
}  // namespace mm

#if MM_FIBER_ASM
extern "C" void mm_fiber_start(void* p) {
  auto* f = static_cast<mm::msim::Fiber::Impl*>(p);
  f->entry(f->arg);
  // Entries never return (they yield forever); stopping here would be a bug.
  for (;;) mm_fiber_switch(&f->sp, f->caller_sp);
}
#else
namespace {
thread_local mm::msim::Fiber::Impl* g_starting = nullptr;
void ucontext_start() {
  mm::msim::Fiber::Impl* f = g_starting;
  f->entry(f->arg);
  for (;;) swapcontext(&f->ctx, &f->caller);
}
}  // namespace
#endif

namespace mm {
namespace msim {

Fiber::Fiber(size_t stack_bytes) : impl_(new Impl) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  impl_->stack_bytes = (stack_bytes + page - 1) / page * page;
  impl_->map_bytes = impl_->stack_bytes + page;
  void* m = mmap(nullptr, impl_->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    delete impl_;
    fail(ErrorCode::OutOfMemory, "metal-sim: cannot allocate a fiber stack");
  }
  impl_->map = static_cast<uint8_t*>(m);
  mprotect(impl_->map, page, PROT_NONE);  // overflow faults instead of corrupting a neighbour
}

Fiber::~Fiber() {
  munmap(impl_->map, impl_->map_bytes);
  delete impl_;
}

void Fiber::reset(Entry entry, void* arg) {
  impl_->entry = entry;
  impl_->arg = arg;
#if MM_FIBER_ASM
  // Initial frame popped by mm_fiber_switch: control words, r15..rbp, then
  // `ret` into the trampoline (r12 = Impl*).
  auto* top = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(impl_->stack_top()) & ~uintptr_t(15));
  uint64_t* sp = top;
  *--sp = 0;                                                 // fake return address of the trampoline
  *--sp = reinterpret_cast<uint64_t>(&mm_fiber_trampoline);  // ret target
  *--sp = 0;                                                 // rbp
  *--sp = 0;                                                 // rbx
  *--sp = reinterpret_cast<uint64_t>(impl_);                 // r12
  *--sp = 0;                                                 // r13
  *--sp = 0;                                                 // r14
  *--sp = 0;                                                 // r15
  *--sp = 0x037F00001F80ull;                                 // mxcsr (low) | x87 cw (bytes 4-5)
  impl_->sp = sp;
#else
  getcontext(&impl_->ctx);
  impl_->ctx.uc_stack.ss_sp = impl_->map + (impl_->map_bytes - impl_->stack_bytes);
  impl_->ctx.uc_stack.ss_size = impl_->stack_bytes;
  impl_->ctx.uc_link = nullptr;
  makecontext(&impl_->ctx, ucontext_start, 0);
#endif
}

void Fiber::resume() {
#if MM_FIBER_ASM
  mm_fiber_switch(&impl_->caller_sp, impl_->sp);
#else
  g_starting = impl_;
  swapcontext(&impl_->caller, &impl_->ctx);
#endif
}

void Fiber::yield() {
#if MM_FIBER_ASM
  mm_fiber_switch(&impl_->sp, impl_->caller_sp);
#else
  swapcontext(&impl_->ctx, &impl_->caller);
#endif
}

}  // namespace msim
}  // namespace mm
