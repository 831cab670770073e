// Low-overhead fork/join thread pool for compiled kernels. Kernels are microseconds
// long, so a parallel_for must cost far less than a mutex+condvar round trip: the caller
// publishes one job (function pointer + context + chunking) with a single atomic store,
// workers that are spinning pick it up within nanoseconds, workers that have been idle
// for a while sleep on a futex and are woken only when needed. The calling thread always
// takes part, so a pool of N threads has N-1 workers. Chunks are claimed through one
// 64-bit atomic word holding (generation, chunk count, next chunk), so a late worker can
// never run a chunk of a job that already finished. The extern "C" entry
// `kiln_parallel_for` is what JIT-compiled entry functions call.
//
// Several caller threads: the pool runs one job at a time. A caller that finds it busy
//   - runs its job serially on its own thread when there are at least as many callers
//     inside parallel_for as active threads (below): every CPU already has a caller to
//     keep busy, so waiting would only add hand-offs. 4 executables x 1,000 steps from 4
//     threads on 2 cores (tests/runtime/concurrency_test.cpp): 1.8 s this way, 3.1 s
//     waiting for the pool, 2.7 s running the executables one after another;
//   - otherwise waits its turn (a fair FIFO ticket lock: brief spin, then a futex) and
//     gets the whole pool, so on a machine with more CPUs than callers a large kernel is
//     not left on one core because another caller's tiny kernel held the pool.
// Either way the results are the same bits: generated kernels compute every element of
// a chunk independently of where the chunk starts and ends (reductions never span
// chunks), and the GEMM's task grid never splits K, so a job's result does not depend on
// how, or whether, it was split; `kiln train` gives identical losses with --threads 1,
// 2, 8 and 64. A kernel that broke this rule would make concurrent runs depend on timing
// (the concurrency test compares concurrent runs with serial ones bit for bit). Jobs too
// small to split and nested calls (from inside a chunk, on a worker or on the caller) run
// serially on the calling thread without touching the lock, so a chunk that calls
// parallel_for cannot deadlock.
//
// Oversubscription: at most min(pool size, CPUs this process may run on) threads work on
// one job, and at most that many minus one workers spin between jobs; the others sleep
// (and cost nothing) until woken, and a job wakes only as many as it can use. So a pool
// larger than the machine (`--threads 64` on 2 cores) runs about as fast as one of the
// machine's size instead of time-slicing dozens of spinning threads.
//
// Thread counts: 1..kMaxThreads, shared by `--threads` and KILN_NUM_THREADS. If the
// system refuses to start a thread (std::system_error), the pool runs with the threads it
// got and says so once on stderr; nothing here aborts.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace kiln {

// The largest pool: the range of `--threads` and KILN_NUM_THREADS is 1..kMaxThreads.
inline constexpr int kMaxThreads = 256;

// CPUs this process may run on (its affinity mask, else hardware_concurrency), capped by
// its control groups' CPU limit rounded up (runtime/cpu_quota.h) and clamped to
// 1..kMaxThreads: the default pool size.
int available_cpus();

// The thread count KILN_NUM_THREADS asks for. `value` is the variable's text (nullptr or
// empty: unset); `fallback` is used when it is unset or invalid.
//   - an integer in 1..kMaxThreads: that many threads, no warning;
//   - an integer above kMaxThreads (or too large to parse): clamped to kMaxThreads;
//   - 0, a negative integer, or not an integer ("abc", "4x", "2.5"): ignored, `fallback`;
// every case but the first two sets `warning` to one line naming the variable and the
// value (global_pool() prints it on stderr). Never fails.
struct ThreadCountSetting {
  int threads = 1;
  std::string warning;  // empty when the value was used as given
};
ThreadCountSetting parse_thread_count_env(const char* value, int fallback);

// fn(ctx, begin, end) runs one chunk [begin, end) of a range.
using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

class ThreadPool {
 public:
  // `threads` is clamped to 1..kMaxThreads; fewer are started if the system refuses.
  // `cpus`: the CPUs to plan for (0: available_cpus()); tests model other machines.
  explicit ThreadPool(int threads, int cpus = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return nthreads_.load(std::memory_order_relaxed); }
  // Threads that work on one job at once: min(num_threads(), available CPUs).
  int active_threads() const { return active_.load(std::memory_order_relaxed); }
  // Runs fn over [0, n) in chunks of at least `grain` elements (at most a few chunks per
  // active thread); returns when every chunk is done. Safe to call from several threads.
  // fn must not throw.
  void parallel_for(int64_t n, int64_t grain, RangeFn fn, void* ctx);
  // Restarts the pool with `threads` threads (clamped like the constructor). Waits for
  // the job in flight, if any; safe to call while other threads use the pool, but not
  // from inside a chunk.
  void resize(int threads);

 private:
  void start_workers(int threads);  // submission lock held, no workers
  void stop_workers();              // submission lock held
  void worker_loop(uint32_t seen);  // seen: the generation when it was started
  bool run_chunks();  // claims and runs chunks of the current job; true if it ran any
  void lock_submit();
  bool try_lock_submit();
  void unlock_submit();

  std::vector<std::thread> workers_;
  std::atomic<int> nthreads_{1};
  std::atomic<int> active_{1};
  int cpus_ = 1;

  // Submission: a ticket lock (FIFO) so one job is in flight at a time.
  alignas(64) std::atomic<uint32_t> ticket_next_{0};
  alignas(64) std::atomic<uint32_t> ticket_serving_{0};  // futex word for waiting callers
  std::atomic<int> ticket_sleepers_{0};
  std::atomic<int> callers_{0};  // threads inside parallel_for past its serial fast path

  alignas(64) std::atomic<uint32_t> gen_{0};  // bumped per job; futex word for workers
  std::atomic<int> sleepers_{0};              // workers asleep on gen_
  std::atomic<int> spinners_{0};              // workers spinning on gen_
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<uint64_t> claim_{0};  // gen:24 | nchunks:20 | next:20
  alignas(64) std::atomic<uint32_t> done_{0};   // chunks finished; futex word for the caller
  std::atomic<uint32_t> caller_sleeping_{0};
  // Job description, written before claim_ is published (release) and read after a
  // successful claim (acquire).
  RangeFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  uint32_t job_gen_ = 0;
};

// The process-wide pool, created on first use with KILN_NUM_THREADS threads (validated by
// parse_thread_count_env; a warning on stderr when it is invalid or clamped) or, unset,
// available_cpus(). set_num_threads before first use creates it with that size and never
// reads the variable, so an explicit `--threads` wins over the environment.
ThreadPool& global_pool();
// Resizes the global pool to n threads (n <= 0: available_cpus(); n > kMaxThreads:
// kMaxThreads). Waits for the job in flight; must not be called from inside a chunk.
void set_num_threads(int n);
int num_threads();

// parallel_for over [0, n) with a callable f(begin, end).
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  using Fn = std::remove_reference_t<F>;
  global_pool().parallel_for(
      n, grain,
      [](void* ctx, int64_t b, int64_t e) { (*static_cast<Fn*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace kiln
