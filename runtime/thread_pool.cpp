// Fork/join pool implementation (see thread_pool.h for the protocol). The claim word
// packs (generation:24, chunk count:20, next chunk:20); a worker claims chunk `next`
// with a CAS that also checks the generation, so it either runs a chunk of the job that
// is current or nothing at all. The caller waits on `done_` (spinning: jobs are short).
#include "runtime/thread_pool.h"

#include "runtime/abi.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>

#if defined(__x86_64__)
#include <immintrin.h>
#define KILN_PAUSE() _mm_pause()
#else
#define KILN_PAUSE() ((void)0)
#endif

namespace kiln {

namespace {
constexpr uint64_t kNextBits = 20, kCountBits = 20;
constexpr uint64_t kMask20 = (1ull << 20) - 1;
constexpr int64_t kMaxChunks = 1 << 16;
// Iterations a worker spins before sleeping (~tens of microseconds).
constexpr int kSpinIters = 1 << 14;
thread_local bool t_in_pool_chunk = false;

uint64_t pack(uint32_t gen, uint64_t count, uint64_t next) {
  return (uint64_t(gen & 0xffffff) << (kNextBits + kCountBits)) | (count << kNextBits) | next;
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  gen_.fetch_add(1, std::memory_order_release);
  gen_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::run_chunks() {
  bool ran = false;
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    uint64_t count = (c >> kNextBits) & kMask20;
    uint64_t next = c & kMask20;
    if (next >= count) return ran;
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
      continue;
    // The claim succeeded for the current job: its description is visible and stays
    // valid until done_ reaches the chunk count, which needs this chunk.
    int64_t b = static_cast<int64_t>(next) * chunk_;
    int64_t e = std::min(n_, b + chunk_);
    t_in_pool_chunk = true;
    fn_(ctx_, b, e);
    t_in_pool_chunk = false;
    done_.fetch_add(1, std::memory_order_release);
    ran = true;
    c = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = gen_.load(std::memory_order_acquire);
  while (!stop_.load(std::memory_order_relaxed)) {
    int spins = 0;
    uint32_t g;
    while ((g = gen_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIters) {
        KILN_PAUSE();
        continue;
      }
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      if (gen_.load(std::memory_order_seq_cst) == seen) gen_.wait(seen, std::memory_order_acquire);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      spins = 0;
    }
    seen = g;
    if (stop_.load(std::memory_order_relaxed)) break;
    run_chunks();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int threads = num_threads();
  int64_t max_chunks = std::min<int64_t>((n + grain - 1) / grain, kMaxChunks);
  // A few chunks per thread balance load without much claiming traffic.
  int64_t nchunks = std::min<int64_t>(max_chunks, threads == 1 ? 1 : int64_t(threads) * 4);
  if (nchunks <= 1 || threads == 1 || t_in_pool_chunk) {
    fn(ctx, 0, n);
    return;
  }
  // With exactly `threads` chunks or fewer, use equal chunks; otherwise balance.
  int64_t chunk = (n + nchunks - 1) / nchunks;
  nchunks = (n + chunk - 1) / chunk;
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  chunk_ = chunk;
  done_.store(0, std::memory_order_relaxed);
  job_gen_++;
  claim_.store(pack(job_gen_, static_cast<uint64_t>(nchunks), 0), std::memory_order_release);
  gen_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) gen_.notify_all();
  run_chunks();
  while (done_.load(std::memory_order_acquire) < nchunks) KILN_PAUSE();
}

namespace {
std::mutex g_pool_mu;
std::unique_ptr<ThreadPool> g_pool;

int default_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}
}  // namespace

ThreadPool& global_pool() {
  static ThreadPool* cached = nullptr;
  ThreadPool* p = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
  if (p) return *p;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(default_threads());
  __atomic_store_n(&cached, g_pool.get(), __ATOMIC_RELEASE);
  return *g_pool;
}

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  global_pool();  // make sure the cached pointer path is initialized
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool && g_pool->num_threads() == n) return;
  // The old pool object is replaced in place so cached references stay valid.
  g_pool->~ThreadPool();
  new (g_pool.get()) ThreadPool(n);
}

int num_threads() { return global_pool().num_threads(); }

}  // namespace kiln

extern "C" void kiln_parallel_for(kiln::KernelFn fn, void** bufs, int64_t n, int64_t grain) {
  kiln::global_pool().parallel_for(n, grain, reinterpret_cast<kiln::RangeFn>(fn),
                                   static_cast<void*>(bufs));
}
