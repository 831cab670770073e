// The emulator's platform prelude (see emulate.h): the prelude names of prelude.h
// implemented on the host. A launch runs its blocks one after another; the threads of a
// block are fibers on one OS thread (a hand-rolled x86-64 context switch: six
// callee-saved registers and the stack pointer) that switch at KILN_SYNC() and at warp
// shuffles. Shared memory is a function-local static, so one copy serves the block that
// is running. Between barriers the scheduler runs the threads in ascending order, then
// descending at the next phase, so a thread that reads what another writes without a
// barrier in between reads a stale value in one of the two orders; blocks (and the
// threads of kernels without barriers) alternate their order the same way.
#include "codegen/cuda/emulate.h"

namespace kiln::cudagen {

const char* emulation_prelude() {
  return R"KILN(// ---- kiln prelude: host emulator ----
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <math.h>
#include <string>
#include <vector>
#if !defined(__x86_64__)
#error "the kiln CUDA emulator's fibers need x86-64"
#endif
#define KILN_GLOBAL extern "C"
#define KILN_BOUNDS(threads)
#define KILN_DEVICE static inline
#define KILN_SHARED static
#define KILN_EXPORT extern "C" __attribute__((visibility("default")))
#define KILN_SYNC() kiln_emu_sync(__LINE__)
#define KILN_AT(p, n, i) (*kiln_emu::at((p), (int64_t)(i), (int64_t)(n), #p))
#define KILN_SHFL_DOWN(v, o) kiln_emu_shfl_down(v, o)
#define KILN_TID kiln_emu::tid
#define KILN_BID kiln_emu::bid
#define KILN_NTID kiln_emu::ntid
#define KILN_NBID kiln_emu::nbid
static inline float kiln_f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline double kiln_f64_from_bits(uint64_t u) { double f; std::memcpy(&f, &u, 8); return f; }

// Saves the callee-saved registers on the current stack, stores the stack pointer in
// *save, switches to stack `to` and restores what was saved there.
extern "C" void kiln_emu_switch(void** save, void* to);
asm(".text\n.globl kiln_emu_switch\n.hidden kiln_emu_switch\n.type kiln_emu_switch,@function\n"
    "kiln_emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n  ret\n"
    ".size kiln_emu_switch, .-kiln_emu_switch\n");

namespace kiln_emu {
// Compiler barriers around the switch: the thread and block indices are plain statics
// that the other side changes, so nothing may stay cached in registers across it.
static inline void switch_stack(void** save, void* to) {
  asm volatile("" ::: "memory");
  kiln_emu_switch(save, to);
  asm volatile("" ::: "memory");
}
enum State { kReady, kAtSync, kAtWarpSync, kDone };
struct Fiber {
  void* sp = nullptr;
  State state = kDone;
  int site = 0;  // the source line of the KILN_SYNC() it waits at
};
constexpr size_t kStackBytes = 128 * 1024;
static int64_t tid, bid, ntid, nbid;
static void (*kernel)(void* const*);
static void* const* bufs;
static std::vector<Fiber> fibers;
static std::vector<unsigned char> stacks;
static void* scheduler_sp;
static int64_t current = -1;  // the running fiber, -1 when threads run as plain calls
static unsigned char shfl[32][32][8];  // [warp][lane]: one value per lane in flight
static std::string error;

static void fail(const std::string& what) {
  if (error.empty()) error = what;
}

// Buffer accesses are bounds-checked: an index outside the buffer is a launch failure
// (the access goes to element 0 so the run can finish and report it).
template <class T>
static inline T* at(T* p, int64_t i, int64_t n, const char* name) {
  if (i >= 0 && i < n) return p + i;
  fail(std::string(name) + "[" + std::to_string(i) + "] is outside its " + std::to_string(n) +
       " elements (block " + std::to_string(bid) + ", thread " + std::to_string(tid) + ")");
  return p;
}

// Each fiber starts here (the return address planted on its new stack).
static void fiber_main() {
  kernel(bufs);
  fibers[current].state = kDone;
  switch_stack(&fibers[current].sp, scheduler_sp);
  for (;;) {}  // never resumed
}

static void yield(State s) {
  fibers[current].state = s;
  switch_stack(&fibers[current].sp, scheduler_sp);
}

static void start_fiber(int64_t t) {
  unsigned char* top = stacks.data() + (t + 1) * kStackBytes;
  top -= reinterpret_cast<uintptr_t>(top) % 16;
  void** sp = reinterpret_cast<void**>(top) - 8;  // six registers, the entry, a fake return
  for (int i = 0; i < 6; ++i) sp[i] = nullptr;
  sp[6] = reinterpret_cast<void*>(&fiber_main);
  sp[7] = nullptr;
  fibers[t].sp = sp;
  fibers[t].state = kReady;
}

// Runs one block's threads as fibers until all finish; false on a barrier error.
static bool run_block_fibers() {
  const int64_t n = ntid;
  if (static_cast<int64_t>(fibers.size()) < n) fibers.resize(n);
  if (stacks.size() < n * kStackBytes) stacks.resize(n * kStackBytes);
  for (int64_t t = 0; t < n; ++t) start_fiber(t);
  for (int64_t phase = 0;; ++phase) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = phase % 2 ? n - 1 - i : i;
      if (fibers[t].state != kReady) continue;
      current = t;
      tid = t;
      switch_stack(&scheduler_sp, fibers[t].sp);
    }
    current = -1;
    int64_t done = 0, at_sync = 0;
    for (int64_t t = 0; t < n; ++t) {
      done += fibers[t].state == kDone;
      at_sync += fibers[t].state == kAtSync;
    }
    if (done == n) return true;
    bool released = false;
    if (at_sync > 0 && at_sync + done == n) {
      if (done > 0) {
        fail("block " + std::to_string(bid) + ": " + std::to_string(done) +
             " threads exited while others wait at KILN_SYNC()");
        return false;
      }
      // As on a GPU, every thread must wait at the same __syncthreads.
      for (int64_t t = 1; t < n; ++t) {
        if (fibers[t].site == fibers[0].site) continue;
        fail("block " + std::to_string(bid) + ": threads 0 and " + std::to_string(t) +
             " wait at different KILN_SYNC() (source lines " + std::to_string(fibers[0].site) + " and " +
             std::to_string(fibers[t].site) + ")");
        return false;
      }
      for (int64_t t = 0; t < n; ++t) fibers[t].state = kReady;
      released = true;
    }
    // A warp moves on when every live thread of it waits at the warp barrier.
    for (int64_t w0 = 0; w0 < n; w0 += 32) {
      int64_t live = 0, waiting = 0;
      for (int64_t t = w0; t < w0 + 32 && t < n; ++t) {
        live += fibers[t].state != kDone;
        waiting += fibers[t].state == kAtWarpSync;
      }
      if (waiting == 0 || waiting != live) continue;
      for (int64_t t = w0; t < w0 + 32 && t < n; ++t)
        if (fibers[t].state == kAtWarpSync) fibers[t].state = kReady;
      released = true;
    }
    if (!released) {
      fail("block " + std::to_string(bid) + ": deadlock (threads wait at different barriers)");
      return false;
    }
  }
}

static void launch(void (*k)(void* const*), void* const* b, int64_t grid, int64_t block, bool barriers,
                   const char* name) {
  if (!error.empty()) return;
  kernel = k;
  bufs = b;
  nbid = grid;
  ntid = block;
  // Every other launch runs its blocks in descending order, and (without barriers) every
  // other block its threads: a kernel whose blocks or threads depend on each other's
  // writes then gives different results, which the comparison catches.
  static int64_t launches = 0;
  const bool descending = launches++ % 2;
  for (int64_t i = 0; i < grid && error.empty(); ++i) {
    bid = descending ? grid - 1 - i : i;
    if (barriers) {
      run_block_fibers();
    } else {
      for (int64_t j = 0; j < block && error.empty(); ++j) {
        tid = i % 2 ? block - 1 - j : j;
        k(b);
      }
    }
  }
  if (!error.empty()) error = std::string(name) + ": " + error;
}
}  // namespace kiln_emu

static inline void kiln_emu_sync(int line) {
  if (kiln_emu::current < 0) return kiln_emu::fail("KILN_SYNC() in a kernel launched without barriers");
  kiln_emu::fibers[kiln_emu::current].site = line;
  kiln_emu::yield(kiln_emu::kAtSync);
}
static inline void kiln_emu_warp_sync() {
  if (kiln_emu::current < 0) return kiln_emu::fail("a warp shuffle in a kernel launched without barriers");
  kiln_emu::yield(kiln_emu::kAtWarpSync);
}
// __shfl_down_sync over the full warp: publish, wait for the warp, read lane + o (a lane
// past the warp's end reads its own value), wait again before the slots are reused.
template <class T>
static inline T kiln_emu_shfl_down(T v, int o) {
  static_assert(sizeof(T) <= 8, "shuffled values are at most 8 bytes");
  const int64_t t = kiln_emu::tid, lane = t & 31, warp = t >> 5;
  std::memcpy(kiln_emu::shfl[warp][lane], &v, sizeof(T));
  kiln_emu_warp_sync();
  T r = v;
  if (lane + o < 32 && t + o < kiln_emu::ntid) std::memcpy(&r, kiln_emu::shfl[warp][lane + o], sizeof(T));
  kiln_emu_warp_sync();
  return r;
}

// The first failure since the last call ("" if none), and clears it.
KILN_EXPORT const char* kiln_emu_take_error() {
  static std::string last;
  last = kiln_emu::error;
  kiln_emu::error.clear();
  return last.c_str();
}
)KILN";
}

}  // namespace kiln::cudagen
