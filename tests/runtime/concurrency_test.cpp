// The runtime from several threads at once: independent executables run concurrently
// with results bit-equal to serial runs (their kernels share the process-wide pool); one
// executable run from several threads serialises its runs (each run is atomic); per-
// kernel profiles are per executable. Before, two executables on two threads crashed in
// the pool and one executable on two threads computed NaN.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codegen/compile.h"
#include "ir/builder.h"
#include "ir/tensor_ops.h"
#include "runtime/executable.h"
#include "runtime/thread_pool.h"

using namespace kiln;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr int64_t kDim = 256;       // h @ w: a 256x256x256 GEMM per step
constexpr int64_t kWide = 100000;   // elementwise chain over 100k elements
constexpr int kExecutables = 4;
constexpr int kSteps = kSanitized ? 150 : 1000;

// A step with real kernels big enough to go through kiln_parallel_for:
//   h' = tanh(h @ w + 0.5 x)                          (carried, [256, 256])
//   v' = 0.9 tanh(1.01 v + y) + 0.05 exp(-|v|)        (carried, [100000])
//   count' = count + 1                                (one per run)
// outputs h' and sum(v').
Graph stress_step(const std::string& name) {
  Graph g(name);
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{kDim, kDim}});
  Tensor y = b.input("y", TensorType{DType::f32, Shape{kWide}});
  Tensor w = b.parameter(name + ".w", TensorType{DType::f32, Shape{kDim, kDim}},
                         InitSpec::normal(0, 0.0625));
  Tensor h = b.state(name + ".h", TensorType{DType::f32, Shape{kDim, kDim}}, StateKind::Carried,
                     InitSpec::uniform(-1, 1), StateScope::Executable);
  Tensor v = b.state(name + ".v", TensorType{DType::f32, Shape{kWide}}, StateKind::Carried,
                     InitSpec::uniform(-1, 1), StateScope::Executable);
  Tensor count = b.state(name + ".count", TensorType{DType::f32, Shape{}}, StateKind::StepCounter);
  Tensor h2 = tanh(matmul(h, w) + x * 0.5);
  Tensor v2 = tanh(v * 1.01 + y) * 0.9 + exp(-abs(v)) * 0.05;
  b.update_state(h, h2);
  b.update_state(v, v2);
  b.update_state(count, count + 1.0);
  b.output("h", h2);
  b.output("s", sum(v2));
  REQUIRE(b.ok());
  return g;
}

CompiledPlan compile_stress(int k, bool profile = false) {
  Graph g = stress_step("stress" + std::to_string(k));
  CompileOptions o;
  o.init_seed = 1000 + static_cast<uint64_t>(k);
  o.profile = profile;
  o.want_llvm = true;
  std::string llvm;
  o.after_stage = [&](const std::string& stage, const std::string& text) {
    if (stage == "llvm") llvm = text;
  };
  Expected<CompiledPlan> cp = compile_plan(g, o);
  INFO((cp.ok() ? "" : cp.error().message()));
  REQUIRE(cp.ok());
  // The step really uses the pool: split loops and the packed GEMM.
  CHECK(llvm.find("kiln_parallel_for") != std::string::npos);
  CHECK(llvm.find("kiln_gemm_f32") != std::string::npos);
  return std::move(*cp);
}

std::unique_ptr<Executable> bind_fresh(const CompiledPlan& cp, bool profile = false) {
  BindOptions bo;
  bo.profile = profile;
  Expected<std::unique_ptr<Executable>> e =
      Executable::bind(cp.plan, cp.code, std::make_shared<StateStore>(), bo);
  INFO((e.ok() ? "" : e.error().message()));
  REQUIRE(e.ok());
  return std::move(*e);
}

void fill_inputs(Executable& exe, int k) {
  float* x = exe.input("x")->as<float>();
  float* y = exe.input("y")->as<float>();
  for (int64_t i = 0; i < kDim * kDim; ++i) x[i] = float((i * 7 + k) % 101) / 101.0f - 0.5f;
  for (int64_t i = 0; i < kWide; ++i) y[i] = float((i * 13 + k) % 97) / 97.0f - 0.5f;
}

uint64_t fnv(const void* data, size_t bytes, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Runs `steps` steps of executable k (perturbing one input element per step) and returns
// a hash of the outputs after every step. Touches nothing shared but the pool.
std::vector<uint64_t> run_steps(Executable& exe, int k, int steps) {
  std::vector<uint64_t> hashes;
  hashes.reserve(static_cast<size_t>(steps));
  float* x = exe.input("x")->as<float>();
  for (int s = 0; s < steps; ++s) {
    x[(s * 31) % (kDim * kDim)] = float(s % 17) * 0.01f;
    exe.run();
    const HostBuffer* h = exe.output("h");
    const HostBuffer* sum = exe.output("s");
    hashes.push_back(fnv(sum->data(), sum->bytes(), fnv(h->data(), h->bytes())));
  }
  (void)k;
  return hashes;
}

std::vector<unsigned char> bytes_of(const HostBuffer* b) {
  REQUIRE(b != nullptr);
  const auto* p = static_cast<const unsigned char*>(b->data());
  return std::vector<unsigned char>(p, p + b->bytes());
}

float count_of(Executable& exe, const std::string& name) {
  HostBuffer* c = exe.state_buffer(name + ".count");
  REQUIRE(c != nullptr);
  return c->as<float>()[0];
}

int ensure_parallel_pool() {
  int saved = num_threads();
  if (saved < 2) set_num_threads(2);
  return saved;
}

}  // namespace

TEST_CASE("4 executables x 1000 steps on 4 threads equal serial runs", "[concurrency]") {
  int saved = ensure_parallel_pool();
  std::vector<CompiledPlan> plans;
  for (int k = 0; k < kExecutables; ++k) plans.push_back(compile_stress(k));

  // Serial reference: one executable after the other, on this thread.
  std::vector<std::vector<uint64_t>> serial(kExecutables);
  std::vector<std::vector<unsigned char>> serial_h(kExecutables), serial_v(kExecutables);
  for (int k = 0; k < kExecutables; ++k) {
    auto exe = bind_fresh(plans[k]);
    fill_inputs(*exe, k);
    serial[k] = run_steps(*exe, k, kSteps);
    std::string name = "stress" + std::to_string(k);
    serial_h[k] = bytes_of(exe->state_buffer(name + ".h"));
    serial_v[k] = bytes_of(exe->state_buffer(name + ".v"));
    CHECK(count_of(*exe, name) == float(kSteps));
  }
  // The executables really differ (else equal results would prove little).
  CHECK(serial[0].back() != serial[1].back());

  // Concurrent: fresh executables from the same plans, one thread each.
  std::vector<std::unique_ptr<Executable>> exes;
  for (int k = 0; k < kExecutables; ++k) {
    exes.push_back(bind_fresh(plans[k]));
    fill_inputs(*exes[k], k);
  }
  std::vector<std::vector<uint64_t>> concurrent(kExecutables);
  std::vector<std::thread> threads;
  for (int k = 0; k < kExecutables; ++k)
    threads.emplace_back([&, k] { concurrent[k] = run_steps(*exes[k], k, kSteps); });
  for (auto& t : threads) t.join();

  for (int k = 0; k < kExecutables; ++k) {
    INFO("executable " << k);
    std::string name = "stress" + std::to_string(k);
    int first_diff = -1;
    for (int s = 0; s < kSteps && first_diff < 0; ++s)
      if (concurrent[k][static_cast<size_t>(s)] != serial[k][static_cast<size_t>(s)]) first_diff = s;
    INFO("first step that differs: " << first_diff);
    CHECK(first_diff == -1);
    CHECK(bytes_of(exes[k]->state_buffer(name + ".h")) == serial_h[k]);
    CHECK(bytes_of(exes[k]->state_buffer(name + ".v")) == serial_v[k]);
    CHECK(count_of(*exes[k], name) == float(kSteps));
  }
  set_num_threads(saved);
}

TEST_CASE("one executable run from 4 threads at once: each run is atomic", "[concurrency]") {
  int saved = ensure_parallel_pool();
  CompiledPlan plan = compile_stress(0);
  constexpr int kThreads = 4;
  const int per_thread = kSanitized ? 25 : 100;
  const int total = kThreads * per_thread;

  // Serial reference: with fixed inputs every run applies the same function to the
  // state, so `total` runs in any order end in the same state.
  auto ref = bind_fresh(plan);
  fill_inputs(*ref, 0);
  for (int i = 0; i < total; ++i) ref->run();

  auto shared = bind_fresh(plan);
  fill_inputs(*shared, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) shared->run();
    });
  for (auto& t : threads) t.join();

  CHECK(count_of(*shared, "stress0") == float(total));
  CHECK(bytes_of(shared->state_buffer("stress0.h")) == bytes_of(ref->state_buffer("stress0.h")));
  CHECK(bytes_of(shared->state_buffer("stress0.v")) == bytes_of(ref->state_buffer("stress0.v")));
  CHECK(bytes_of(shared->output("h")) == bytes_of(ref->output("h")));
  CHECK(bytes_of(shared->output("s")) == bytes_of(ref->output("s")));
  float s = shared->output("s")->as<float>()[0];
  CHECK(s == s);  // not NaN
  set_num_threads(saved);
}

TEST_CASE("profiles are per executable, also when run concurrently", "[concurrency]") {
  int saved = ensure_parallel_pool();
  CompiledPlan plan = compile_stress(1, /*profile=*/true);
  auto a = bind_fresh(plan, /*profile=*/true);
  auto b = bind_fresh(plan, /*profile=*/true);
  fill_inputs(*a, 1);
  fill_inputs(*b, 1);
  const int runs_a = kSanitized ? 7 : 30, runs_b = kSanitized ? 11 : 50;
  std::thread ta([&] {
    for (int i = 0; i < runs_a; ++i) a->run();
  });
  std::thread tb([&] {
    for (int i = 0; i < runs_b; ++i) b->run();
  });
  ta.join();
  tb.join();
  std::string da = a->describe(), db = b->describe();
  CHECK(da.find("profile over " + std::to_string(runs_a) + " runs (us per run):") !=
        std::string::npos);
  CHECK(db.find("profile over " + std::to_string(runs_b) + " runs (us per run):") !=
        std::string::npos);
  CHECK(da.find("  total: ") != std::string::npos);
  // Each kernel's least time is one call's, so at most its mean over the runs.
  int64_t runs = 0;
  const std::vector<double> sum = a->kernel_seconds(&runs), least = a->kernel_least_seconds();
  REQUIRE(runs == runs_a);
  REQUIRE(least.size() == a->plan().launches.size());
  for (size_t i = 0; i < least.size(); ++i) {
    CHECK(least[i] > 0);
    CHECK(least[i] <= sum[i] / double(runs) * (1 + 1e-12));
  }
  // A third executable that never ran reports no runs.
  auto c = bind_fresh(plan, /*profile=*/true);
  CHECK(c->describe().find("profile over 0 runs") != std::string::npos);
  // Without profiling, describe() is the plan's description.
  auto d = bind_fresh(plan, /*profile=*/false);
  CHECK(d->describe() == plan.plan.description);
  set_num_threads(saved);
}
