// Low-overhead fork/join thread pool for compiled kernels. Kernels are microseconds
// long, so a parallel_for must cost far less than a mutex+condvar round trip: the caller
// publishes one job (function pointer + context + chunking) with a single atomic store,
// workers that are spinning pick it up within nanoseconds, workers that have been idle
// for a while sleep on a futex (std::atomic::wait) and are woken only when needed. The
// calling thread always takes part, so a pool of N threads has N-1 workers. Chunks are
// claimed through one 64-bit atomic word holding (generation, chunk count, next chunk),
// so a late worker can never run a chunk of a job that already finished. Nested calls
// (from inside a chunk) run serially. The extern "C" entry `kiln_parallel_for` is what
// JIT-compiled entry functions call.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

namespace kiln {

// fn(ctx, begin, end) runs one chunk [begin, end) of a range.
using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn over [0, n) in chunks of at least `grain` elements (at most a few chunks per
  // thread); returns when every chunk is done.
  void parallel_for(int64_t n, int64_t grain, RangeFn fn, void* ctx);

 private:
  void worker_loop();
  bool run_chunks();  // claims and runs chunks of the current job; true if it ran any

  std::vector<std::thread> workers_;
  std::atomic<uint32_t> gen_{0};        // bumped per job; futex word for sleepers
  std::atomic<uint64_t> claim_{0};      // gen:24 | nchunks:20 | next:20
  std::atomic<int64_t> done_{0};        // chunks finished in the current job
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  // Job description, written before claim_ is published (release) and read after a
  // successful claim (acquire).
  RangeFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  uint32_t job_gen_ = 0;
};

// The process-wide pool (created on first use with hardware_concurrency threads, or
// KILN_NUM_THREADS from the environment).
ThreadPool& global_pool();
// Recreates the global pool with n threads (n <= 0: hardware concurrency). Not safe to
// call while another thread is running parallel work.
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
