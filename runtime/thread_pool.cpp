// Fork/join pool implementation (see thread_pool.h for the protocol). The claim word
// packs (generation:24, chunk count:20, next chunk:20); a worker claims chunk `next`
// with a CAS that also checks the generation, so it either runs a chunk of the job that
// is current or nothing at all.
//
// Waiting: every wait (a worker for the next job, the caller for the last chunk, a
// caller for its turn) spins for a bounded time, then sleeps on a futex. The sleeper
// announces itself in a counter and re-checks the word before sleeping; the waker changes
// the word and then reads the counter (all sequentially consistent), so either the
// sleeper sees the change or the waker sees the sleeper: no lost wake-up. Spins are
// bounded by time, not iterations: PAUSE takes 10 to 140+ cycles depending on the CPU
// (~70 ns on this 2-core EPYC VM).
#include "runtime/thread_pool.h"

#include "runtime/abi.h"
#include "runtime/cpu_quota.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>

#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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
// How long a worker spins for the next job before sleeping. Kernels of one step follow
// each other within microseconds, so a short spin catches most jobs; a longer one only
// burns CPU, and on a busy machine that CPU is taken from the caller's critical path
// (`kiln train mlp --threads 2` with a competing process: 0.47-0.6 s/epoch spinning
// 30-100 us, 0.7-0.8 s spinning 300 us-1 ms; no difference on an idle machine).
constexpr auto kWorkerSpin = std::chrono::microseconds(50);
// How long the caller spins for the last chunk before sleeping: it has nothing else to
// do, and a chunk is rarely longer than this.
constexpr auto kCallerSpin = std::chrono::microseconds(1000);
// How long a caller spins for its turn at the pool before sleeping: short, because the
// waiting thread would take a core from the job it is waiting for.
constexpr auto kTurnSpin = std::chrono::microseconds(5);
thread_local bool t_in_pool_chunk = false;

// Counts the threads inside ThreadPool::parallel_for for the duration of a scope.
struct CallerCount {
  explicit CallerCount(std::atomic<int>& c)
      : count(c), callers(c.fetch_add(1, std::memory_order_relaxed) + 1) {}
  ~CallerCount() { count.fetch_sub(1, std::memory_order_relaxed); }
  std::atomic<int>& count;
  const int callers;  // including this one, when it entered
};

uint64_t pack(uint32_t gen, uint64_t count, uint64_t next) {
  return (uint64_t(gen & 0xffffff) << (kNextBits + kCountBits)) | (count << kNextBits) | next;
}

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit integers");

// Sleeps while `word` holds `expected` (may return spuriously).
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
#else
  word.wait(expected, std::memory_order_seq_cst);
#endif
}

// Wakes up to `count` threads sleeping on `word`.
void futex_wake(std::atomic<uint32_t>& word, int count) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr,
          nullptr, 0);
#else
  (void)count;
  word.notify_all();
#endif
}

// Spins until pred() or `budget` has passed; true if pred() held.
template <typename Pred>
bool spin_until(Pred pred, std::chrono::microseconds budget) {
  auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (pred()) return true;
      KILN_PAUSE();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

int clamp_threads(int n) { return std::clamp(n, 1, kMaxThreads); }
}  // namespace

int available_cpus() {
  int n = 0;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
#endif
  if (n <= 0) {
    unsigned hc = std::thread::hardware_concurrency();
    n = hc ? static_cast<int>(std::min<unsigned>(hc, kMaxThreads)) : 1;
  }
  // A control group's CPU limit (a container's --cpus) caps it, rounded up: 1.5 CPUs of
  // time keep 2 threads busy part of the time, better than 1 all of it.
  const double limit = cgroup_cpu_limit();
  if (limit > 0) n = std::min(n, static_cast<int>(std::ceil(std::min<double>(limit, kMaxThreads))));
  return clamp_threads(n);
}

ThreadCountSetting parse_thread_count_env(const char* value, int fallback) {
  ThreadCountSetting s;
  s.threads = clamp_threads(fallback);
  if (!value || !*value) return s;
  std::string text(value);
  const std::string using_default =
      "; using " + std::to_string(s.threads) + " (the default: one per CPU)";
  // Digits with an optional sign, nothing else (strtoll alone would accept " 4", "4x").
  size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  bool digits = i < text.size();
  for (size_t j = i; j < text.size(); ++j)
    if (text[j] < '0' || text[j] > '9') digits = false;
  if (!digits) {
    s.warning = "kiln: warning: KILN_NUM_THREADS='" + text + "' is not a whole number of threads" +
                using_default;
    return s;
  }
  errno = 0;
  long long v = std::strtoll(text.c_str(), nullptr, 10);
  bool overflow = errno == ERANGE;
  if (text[0] == '-' && (v < 0 || overflow)) {
    s.warning = "kiln: warning: KILN_NUM_THREADS=" + text + " is negative" + using_default;
    return s;
  }
  if (v == 0 && !overflow) {
    s.warning = "kiln: warning: KILN_NUM_THREADS=" + text + " asks for no threads" + using_default;
    return s;
  }
  if (overflow || v > kMaxThreads) {
    s.threads = kMaxThreads;
    s.warning = "kiln: warning: KILN_NUM_THREADS=" + text + " is above the maximum of " +
                std::to_string(kMaxThreads) + "; using " + std::to_string(kMaxThreads);
    return s;
  }
  s.threads = static_cast<int>(v);
  return s;
}

ThreadPool::ThreadPool(int threads, int cpus)
    : cpus_(cpus > 0 ? clamp_threads(cpus) : available_cpus()) {
  start_workers(clamp_threads(threads));
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::start_workers(int threads) {
  stop_.store(false);
  // The generation the workers start from, read here and not when a thread first runs:
  // a thread scheduled only after the pool was stopped must see the stop's new generation.
  const uint32_t gen = gen_.load(std::memory_order_seq_cst);
  int started = 1;
  std::string failure;
  for (int i = 1; i < threads; ++i) {
    try {
      workers_.emplace_back([this, gen] { worker_loop(gen); });
      ++started;
    } catch (const std::exception& e) {  // std::system_error (EAGAIN), or bad_alloc
      failure = e.what();
      break;
    }
  }
  if (started < threads)
    std::fprintf(stderr,
                 "kiln: warning: could start only %d of %d threads (%s); running with %d\n",
                 started, threads, failure.c_str(), started);
  nthreads_.store(started, std::memory_order_relaxed);
  active_.store(std::min(started, cpus_), std::memory_order_relaxed);
}

void ThreadPool::stop_workers() {
  stop_.store(true, std::memory_order_seq_cst);
  gen_.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(gen_, INT_MAX);
  for (auto& t : workers_) t.join();
  workers_.clear();
  nthreads_.store(1, std::memory_order_relaxed);
  active_.store(1, std::memory_order_relaxed);
}

void ThreadPool::resize(int threads) {
  threads = clamp_threads(threads);
  lock_submit();
  if (threads != num_threads()) {
    stop_workers();
    start_workers(threads);
  }
  unlock_submit();
}

void ThreadPool::lock_submit() {
  uint32_t ticket = ticket_next_.fetch_add(1, std::memory_order_seq_cst);
  auto my_turn = [&] { return ticket_serving_.load(std::memory_order_acquire) == ticket; };
  if (my_turn() || spin_until(my_turn, kTurnSpin)) return;
  ticket_sleepers_.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    uint32_t s = ticket_serving_.load(std::memory_order_seq_cst);
    if (s == ticket) break;
    futex_wait(ticket_serving_, s);
  }
  ticket_sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

bool ThreadPool::try_lock_submit() {
  // Free only when nobody holds the lock or waits for it: next == serving.
  uint32_t serving = ticket_serving_.load(std::memory_order_seq_cst);
  uint32_t expected = serving;
  return ticket_next_.compare_exchange_strong(expected, serving + 1, std::memory_order_seq_cst);
}

void ThreadPool::unlock_submit() {
  ticket_serving_.fetch_add(1, std::memory_order_seq_cst);
  // Every sleeper wakes and checks whether it is next (a handful of callers at most).
  if (ticket_sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake(ticket_serving_, INT_MAX);
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
    RangeFn fn = fn_;
    void* ctx = ctx_;
    t_in_pool_chunk = true;
    fn(ctx, b, e);
    t_in_pool_chunk = false;
    uint32_t finished = done_.fetch_add(1, std::memory_order_seq_cst) + 1;
    if (finished == count && caller_sleeping_.load(std::memory_order_seq_cst))
      futex_wake(done_, 1);
    ran = true;
    c = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_loop(uint32_t seen) {
  for (;;) {
    auto new_job = [&] { return gen_.load(std::memory_order_acquire) != seen; };
    if (!new_job()) {
      // Spin only while fewer than active_threads()-1 workers spin: more spinners than
      // CPUs would take cores from the threads doing the work.
      bool got = false;
      if (spinners_.fetch_add(1, std::memory_order_seq_cst) < active_threads() - 1)
        got = spin_until(new_job, kWorkerSpin);
      spinners_.fetch_sub(1, std::memory_order_seq_cst);
      if (!got) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        for (;;) {
          uint32_t g = gen_.load(std::memory_order_seq_cst);
          if (g != seen) break;
          futex_wait(gen_, g);
        }
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
    seen = gen_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_seq_cst)) return;
    run_chunks();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = std::min<int64_t>((n + grain - 1) / grain, kMaxChunks);
  // Nested calls, single-thread pools and jobs too small to split run here, lock-free.
  if (t_in_pool_chunk || max_chunks <= 1 || active_threads() <= 1) {
    fn(ctx, 0, n);
    return;
  }
  // Busy pool: with at least as many callers as active threads, every CPU already has a
  // caller to keep busy, so this job runs on its own thread at once; with fewer, it waits
  // its turn for the whole pool (see thread_pool.h).
  CallerCount counted(callers_);
  if (!try_lock_submit()) {
    if (counted.callers >= active_threads()) {
      fn(ctx, 0, n);
      return;
    }
    lock_submit();
  }
  int active = active_threads();  // the pool may have been resized while we waited
  if (active <= 1) {
    unlock_submit();
    fn(ctx, 0, n);
    return;
  }
  // A few chunks per active thread balance load without much claiming traffic.
  int64_t nchunks = std::min<int64_t>(max_chunks, int64_t(active) * 4);
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
  // Wake as many sleepers as the job can use beyond the workers already spinning.
  int helpers = static_cast<int>(std::min<int64_t>(nchunks, active)) - 1;
  int wake = std::min(helpers - spinners_.load(std::memory_order_seq_cst),
                      sleepers_.load(std::memory_order_seq_cst));
  if (wake > 0) futex_wake(gen_, wake);
  run_chunks();
  auto finished = [&] { return done_.load(std::memory_order_acquire) >= nchunks; };
  if (!finished() && !spin_until(finished, kCallerSpin)) {
    caller_sleeping_.store(1, std::memory_order_seq_cst);
    for (;;) {
      uint32_t d = done_.load(std::memory_order_seq_cst);
      if (d >= nchunks) break;
      futex_wait(done_, d);
    }
    caller_sleeping_.store(0, std::memory_order_relaxed);
  }
  // (done_ was read with acquire: every chunk's writes are visible to the caller.)
  unlock_submit();
}

namespace {
std::mutex g_pool_mu;
std::unique_ptr<ThreadPool> g_pool;
std::atomic<ThreadPool*> g_pool_ptr{nullptr};

ThreadPool* create_pool_locked(int threads) {
  g_pool = std::make_unique<ThreadPool>(threads);
  g_pool_ptr.store(g_pool.get(), std::memory_order_release);
  return g_pool.get();
}
}  // namespace

ThreadPool& global_pool() {
  if (ThreadPool* p = g_pool_ptr.load(std::memory_order_acquire)) return *p;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (ThreadPool* p = g_pool_ptr.load(std::memory_order_acquire)) return *p;
  ThreadCountSetting s = parse_thread_count_env(std::getenv("KILN_NUM_THREADS"), available_cpus());
  if (!s.warning.empty()) std::fprintf(stderr, "%s\n", s.warning.c_str());
  return *create_pool_locked(s.threads);
}

void set_num_threads(int n) {
  n = n <= 0 ? available_cpus() : clamp_threads(n);
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (ThreadPool* p = g_pool_ptr.load(std::memory_order_acquire)) {
    p->resize(n);  // in place, so references to the pool stay valid
    return;
  }
  create_pool_locked(n);  // first use: KILN_NUM_THREADS is not consulted
}

int num_threads() { return global_pool().num_threads(); }

}  // namespace kiln

extern "C" void kiln_parallel_for(kiln::KernelFn fn, void** bufs, int64_t n, int64_t grain) {
  kiln::global_pool().parallel_for(n, grain, reinterpret_cast<kiln::RangeFn>(fn),
                                   static_cast<void*>(bufs));
}
