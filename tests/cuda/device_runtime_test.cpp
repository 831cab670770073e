// The CUDA device runtime (runtime/cuda_runtime.h) against the emulated driver acting as
// a checking fake (codegen/cuda/emulated_driver.h; issue 11, testing item 5(c)): the
// calls a step makes, that the arguments are valid (the fake records every violation),
// that launches equal the launch table, that the step is captured once and replayed,
// that only inputs go up and outputs come down per step, through page-locked stages,
// that a profiled executable times each launch into its plan kernel, that everything is
// freed at teardown, and that a failure of any driver call comes back as an error naming
// it, without an abort or a leak.
#include <catch2/catch.hpp>

#include <set>
#include <utility>

#include "device_fixture.h"
#include "runtime/checkpoint.h"
#include "runtime/cuda_state_mirror.h"

using namespace kiln;
using namespace kiln::test;
using cudagen::emulated_driver_state;

namespace {

const CudaCodeModule& cuda_code(const CompiledPlan& cp) {
  return dynamic_cast<const CudaCodeModule&>(*cp.code);
}

void check_all_released() {
  const cudagen::EmulatedDriverState& st = emulated_driver_state();
  CHECK(st.allocations == 0);
  CHECK(st.modules == 0);
  CHECK(st.graphs == 0);
  CHECK(st.execs == 0);
  CHECK(st.streams == 0);
  CHECK(st.contexts == 0);
  CHECK(st.host_allocations == 0);
  CHECK(st.events == 0);
}

}  // namespace

TEST_CASE("device runtime: a training step is captured once, replayed, and freed", "[cuda][device]") {
  const CompiledPlan& cp = device_step_plan("mlp");
  const CudaCodeModule& code = cuda_code(cp);
  cudagen::reset_emulated_driver();
  const cudagen::EmulatedDriverState& st = emulated_driver_state();
  {
    std::shared_ptr<CudaRuntime> rt = emulated_runtime();
    CHECK(rt->name() == "cuda:0 (kiln emulated GPU, sm_90)");
    CHECK(st.contexts == 1);
    CHECK(st.streams == 1);
    auto store = std::make_shared<StateStore>();
    BindOptions bo;
    bo.device = rt;
    Expected<std::unique_ptr<Executable>> exe = Executable::bind(cp.plan, cp.code, store, bo);
    INFO((exe.ok() ? std::string() : exe.error().message()));
    REQUIRE(exe.ok());
    CHECK((*exe)->device() == rt.get());

    // Bind: one module, each distinct kernel resolved once, one allocation for the
    // executable plus one per state buffer.
    std::set<std::string> kernels;
    for (const CudaKernelLaunch& l : code.launches()) kernels.insert(l.kernel);
    std::set<std::string> states;
    for (const PlanBuffer& b : cp.plan.buffers)
      if (b.kind == PlanBufferKind::State) states.insert(b.name);
    CHECK(st.modules == 1);
    CHECK(st.count("cuModuleGetFunction") == static_cast<int>(kernels.size()));
    CHECK(st.allocations == 1 + static_cast<int>(states.size()));
    CHECK(st.host_allocations == 1);  // one page-locked block stages inputs and outputs
    CHECK(st.kernel_runs.empty());

    fill_inputs(**exe, 1);
    Status first = (*exe)->run_checked();
    INFO((first.ok() ? std::string() : first.error().message()));
    REQUIRE(first.ok());
    CHECK(st.captures == 1);
    CHECK(st.instantiations == 1);
    CHECK(st.graph_launches == 1);
    CHECK(st.count("cuLaunchKernel") == static_cast<int>(code.launches().size()));
    // The launches ran as the table says, in order, all from the graph, all with the
    // one uploaded buffer table.
    REQUIRE(st.kernel_runs.size() == code.launches().size());
    for (size_t i = 0; i < code.launches().size(); ++i) {
      INFO("launch " << i);
      CHECK(st.kernel_runs[i].kernel == code.launches()[i].kernel);
      CHECK(st.kernel_runs[i].grid == static_cast<unsigned>(code.launches()[i].grid));
      CHECK(st.kernel_runs[i].block == static_cast<unsigned>(code.launches()[i].block));
      CHECK(st.kernel_runs[i].from_graph);
      CHECK(st.kernel_runs[i].bufs == st.kernel_runs[0].bufs);
    }

    // Later steps: the graph replays; only the minibatch goes up and the outputs come down.
    const int up = st.count("cuMemcpyHtoDAsync"), down = st.count("cuMemcpyDtoHAsync");
    const int pageable = st.pageable_copies;
    fill_inputs(**exe, 2);
    REQUIRE((*exe)->run_checked().ok());
    CHECK(st.pageable_copies == pageable);  // every per-step copy is from or to pinned memory
    CHECK(st.captures == 1);
    CHECK(st.graph_launches == 2);
    CHECK(st.count("cuLaunchKernel") == static_cast<int>(code.launches().size()));
    CHECK(st.count("cuMemcpyHtoDAsync") - up == static_cast<int>((*exe)->input_names().size()));
    CHECK(st.count("cuMemcpyDtoHAsync") - down == static_cast<int>((*exe)->output_names().size()));
    CHECK(st.kernel_runs.size() == 2 * code.launches().size());

    // A host read brings every state down once; a second read copies nothing more.
    const int before_read = st.count("cuMemcpyDtoHAsync");
    CHECK(snapshot_state(std::as_const(*store))->size() == states.size());
    CHECK(st.count("cuMemcpyDtoHAsync") - before_read == static_cast<int>(states.size()));
    CHECK(snapshot_state(std::as_const(*store))->size() == states.size());
    CHECK(st.count("cuMemcpyDtoHAsync") - before_read == static_cast<int>(states.size()));
    // A host write (a mutable lookup) sends that state up before the next step only.
    REQUIRE(store->find(*states.begin()) != nullptr);
    const int up2 = st.count("cuMemcpyHtoDAsync");
    REQUIRE((*exe)->run_checked().ok());
    CHECK(st.count("cuMemcpyHtoDAsync") - up2 == static_cast<int>((*exe)->input_names().size()) + 1);
    CHECK(st.violations.empty());
    for (const std::string& v : st.violations) INFO(v);
  }
  CHECK(st.violations.empty());
  check_all_released();
}

TEST_CASE("device runtime: two executables share the model's state on the device", "[cuda][device]") {
  const CompiledPlan& cp = device_step_plan("mlp");
  cudagen::reset_emulated_driver();
  {
    std::shared_ptr<CudaRuntime> rt = emulated_runtime();
    auto store = std::make_shared<StateStore>();
    BindOptions bo;
    bo.device = rt;
    auto a = Executable::bind(cp.plan, cp.code, store, bo);
    auto b = Executable::bind(cp.plan, cp.code, store, bo);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    auto mirror = std::dynamic_pointer_cast<CudaStateMirror>(store->mirror());
    REQUIRE(mirror);
    const int allocations = emulated_driver_state().allocations;
    CHECK(allocations == 2 + static_cast<int>(mirror->entries()));  // states placed once
    // A store on one device refuses a second device.
    std::shared_ptr<CudaRuntime> other = emulated_runtime();
    BindOptions bo2;
    bo2.device = other;
    auto c = Executable::bind(cp.plan, cp.code, store, bo2);
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message(), Catch::Contains("already lives on another device"));
    // ...and host code, which would read stale host copies.
    auto h = Executable::bind(cp.plan, cp.code, store, BindOptions{});
    REQUIRE_FALSE(h.ok());
    CHECK_THAT(h.error().message(), Catch::Contains("the model's state lives on a device"));
  }
  CHECK(emulated_driver_state().violations.empty());
  check_all_released();
}

TEST_CASE("device runtime: bad code and launch tables are refused at bind", "[cuda][device]") {
  const CompiledPlan& cp = device_step_plan("mlp");
  const CudaCodeModule& code = cuda_code(cp);
  cudagen::reset_emulated_driver();
  {
    std::shared_ptr<CudaRuntime> rt = emulated_runtime();
    BindOptions bo;
    bo.device = rt;
    auto refused = [&](std::shared_ptr<CodeModule> m, const std::string& why) {
      auto exe = Executable::bind(cp.plan, std::move(m), std::make_shared<StateStore>(), bo);
      REQUIRE_FALSE(exe.ok());
      CHECK_THAT(exe.error().message(), Catch::Contains(why));
    };
    refused(std::make_shared<CudaCodeModule>(code.image(), code.launches(), "sm_80"), "built for sm_80");
    refused(std::make_shared<CudaCodeModule>(std::vector<uint8_t>{}, code.launches(), "sm_90"), "no image");
    std::vector<CudaKernelLaunch> wide = code.launches();
    wide[0].block = 2048;
    refused(std::make_shared<CudaCodeModule>(code.image(), wide, "sm_90"), "outside what a device launches");
    std::vector<CudaKernelLaunch> unknown = code.launches();
    unknown[0].kernel = "no_such_kernel";
    refused(std::make_shared<CudaCodeModule>(code.image(), unknown, "sm_90"),
            "kernel no_such_kernel: cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND");
    // A profile needs each launch's plan kernel.
    std::vector<CudaKernelLaunch> orphan = code.launches();
    orphan[1].plan_launch = -1;
    bo.profile = true;
    refused(std::make_shared<CudaCodeModule>(code.image(), orphan, "sm_90"),
            "launch of " + orphan[1].kernel + " names no kernel of the plan to profile");
  }
  CHECK(emulated_driver_state().violations.empty());
  check_all_released();
}

TEST_CASE("device runtime: a profiled step times every launch into its plan kernel", "[cuda][device]") {
  const CompiledPlan& cp = device_step_plan("mlp");
  const CudaCodeModule& code = cuda_code(cp);
  cudagen::reset_emulated_driver();
  const cudagen::EmulatedDriverState& st = emulated_driver_state();
  {
    std::shared_ptr<CudaRuntime> rt = emulated_runtime();
    BindOptions bo;
    bo.device = rt;
    auto graph_run = Executable::bind(cp.plan, cp.code, std::make_shared<StateStore>(), bo);
    bo.profile = true;
    auto profiled = Executable::bind(cp.plan, cp.code, std::make_shared<StateStore>(), bo);
    REQUIRE(graph_run.ok());
    REQUIRE(profiled.ok());
    const int launches = static_cast<int>(code.launches().size());
    CHECK(st.events == 2 * launches);
    for (int step = 0; step < 2; ++step) {
      fill_inputs(**graph_run, 5 + step);
      fill_inputs(**profiled, 5 + step);
      REQUIRE((*graph_run)->run_checked().ok());
      const int before = st.count("cuLaunchKernel");
      Status run = (*profiled)->run_checked();
      INFO((run.ok() ? std::string() : run.error().message()));
      REQUIRE(run.ok());
      // Launched one by one between events, never captured.
      CHECK(st.count("cuLaunchKernel") - before == launches);
    }
    CHECK(st.captures == 1);  // the unprofiled executable's only
    CHECK(st.count("cuEventRecord") == 4 * launches);
    CHECK(st.count("cuEventElapsedTime") == 2 * launches);
    // The same numbers as the captured step.
    for (const std::string& name : (*profiled)->output_names())
      CHECK(float_mismatch(name, *(*profiled)->output(name), *(*graph_run)->output(name), 0, 0) == "");
    // Every plan kernel that has a launch was timed on both runs.
    int64_t runs = 0;
    const std::vector<double> seconds = (*profiled)->kernel_seconds(&runs);
    const std::vector<double> least = (*profiled)->kernel_least_seconds();
    CHECK(runs == 2);
    REQUIRE(seconds.size() == cp.plan.launches.size());
    std::set<int> timed;
    for (const CudaKernelLaunch& l : code.launches()) timed.insert(l.plan_launch);
    CHECK(timed.size() == cp.plan.launches.size());
    for (int k : timed) {
      INFO("plan kernel " << k);
      CHECK(seconds[static_cast<size_t>(k)] > 0);
      CHECK(least[static_cast<size_t>(k)] > 0);
      CHECK(least[static_cast<size_t>(k)] <= seconds[static_cast<size_t>(k)]);
    }
    (*profiled)->reset_profile();
    CHECK((*profiled)->kernel_seconds(&runs)[0] == 0);
    CHECK(runs == 0);
  }
  CHECK(st.violations.empty());
  check_all_released();
}

TEST_CASE("device runtime: a missing driver entry point is named", "[cuda][device]") {
  CudaDriverTable t = cudagen::emulated_driver_table();
  t.cuGraphInstantiateWithFlags = nullptr;
  t.cuMemFree = nullptr;
  auto rt = CudaRuntime::create(t, "old.so");
  REQUIRE_FALSE(rt.ok());
  CHECK(rt.error().message() == "old.so: the CUDA driver lacks cuMemFree_v2, cuGraphInstantiateWithFlags");
}

namespace {

// A device's whole life: start, bind, two steps, a host read of the state, a third step,
// teardown. The first error ("" if none).
std::string lifecycle(const CompiledPlan& cp, bool profile = false) {
  Expected<std::shared_ptr<CudaRuntime>> rt =
      CudaRuntime::create(cudagen::emulated_driver_table(), cudagen::kEmulatedDriverName);
  if (!rt.ok()) return rt.error().message();
  auto store = std::make_shared<StateStore>();
  BindOptions bo;
  bo.device = *rt;
  bo.profile = profile;
  Expected<std::unique_ptr<Executable>> exe = Executable::bind(cp.plan, cp.code, store, bo);
  if (!exe.ok()) return exe.error().message();
  fill_inputs(**exe, 3);
  for (int step = 0; step < 3; ++step) {
    if (step == 2) (void)snapshot_state(std::as_const(*store));
    if (Status s = (*exe)->run_checked(); !s.ok()) {
      // The failure sticks: the next run says the same without touching the device.
      const int calls = static_cast<int>(emulated_driver_state().calls.size());
      Status again = (*exe)->run_checked();
      if (again.ok() || again.error().message() != s.error().message()) return "not sticky: " + s.error().message();
      if (static_cast<int>(emulated_driver_state().calls.size()) != calls) return "ran again after a failure";
      return s.error().message();
    }
  }
  return "";
}

}  // namespace

TEST_CASE("device runtime: a failure of any driver call is an error naming it, without leaks",
          "[cuda][device]") {
  const CompiledPlan& cp = device_step_plan("mlp");
  // Calls whose failure must reach the caller, and the driver's name for each.
  const std::vector<std::pair<std::string, std::string>> reported = {
      {"cuInit", "cuInit returned"},
      {"cuDeviceGet", "cuDeviceGet"},
      {"cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRetain"},
      {"cuCtxSetCurrent", "cuCtxSetCurrent"},
      {"cuStreamCreate", "cuStreamCreate"},
      {"cuModuleLoadData", "cuModuleLoadData"},
      {"cuModuleGetFunction", "cuModuleGetFunction"},
      {"cuMemAlloc", "cuMemAlloc"},
      {"cuMemsetD8Async", "cuMemsetD8Async"},
      {"cuMemcpyHtoDAsync", "cuMemcpyHtoDAsync"},
      {"cuMemcpyDtoHAsync", "cuMemcpyDtoHAsync"},
      {"cuStreamSynchronize", "cuStreamSynchronize"},
      {"cuStreamBeginCapture", "cuStreamBeginCapture"},
      {"cuLaunchKernel", "cuLaunchKernel"},
      {"cuStreamEndCapture", "cuStreamEndCapture"},
      {"cuGraphInstantiateWithFlags", "cuGraphInstantiateWithFlags"},
      {"cuGraphLaunch", "cuGraphLaunch"},
      {"cuMemHostAlloc", "cuMemHostAlloc"},
      // The profiled lifecycle's own calls.
      {"cuEventCreate", "cuEventCreate"},
      {"cuEventRecord", "cuEventRecord"},
      {"cuEventElapsedTime", "cuEventElapsedTime"},
  };
  int injected = 0;
  for (const auto& [call, name] : reported)
    for (int at : {0, 1, 3, 5}) {
      cudagen::reset_emulated_driver();
      cudagen::EmulatedDriverState& st = emulated_driver_state();
      st.fail_call = call;
      st.fail_at = at;
      const std::string err = lifecycle(cp, call.rfind("cuEvent", 0) == 0);
      INFO(call << " #" << at << ": " << err);
      CHECK(st.violations.empty());
      check_all_released();
      if (st.count(call) <= at) continue;  // the lifecycle calls it fewer times
      ++injected;
      CHECK_THAT(err, Catch::Contains(name + (call == "cuInit" ? " CUDA_ERROR_OUT_OF_MEMORY (2)"
                                                               : " failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory")));
      CHECK(err.find('\n') == std::string::npos);
    }
  CHECK(injected >= 52);
  // Teardown cannot report; a refused release must not crash or touch freed objects.
  for (const std::string call : {"cuMemFree", "cuModuleUnload", "cuGraphExecDestroy", "cuGraphDestroy",
                                 "cuStreamDestroy", "cuDevicePrimaryCtxRelease", "cuMemFreeHost",
                                 "cuEventDestroy"}) {
    cudagen::reset_emulated_driver();
    emulated_driver_state().fail_call = call;
    CHECK(lifecycle(cp, call == "cuEventDestroy") == "");
    CHECK(emulated_driver_state().count(call) >= 1);
    CHECK(emulated_driver_state().violations.empty());
  }
  cudagen::reset_emulated_driver();
}
