// Training on the CUDA device runtime with the emulated driver (issue 11, testing item
// 5(c)): device memory is host memory and every cuLaunchKernel runs the kernel on the
// host emulator, so the runtime's whole path (module, device arena, buffer table, state
// mirror, graph capture and replay, copies) computes real numbers that are compared
// with the CPU executable of the same graph: two full training steps of mlp and lenet
// (loss, every output and every updated state), then a Trainer loop through the model
// zoo's executable cache showing that evaluation sees the weights the training step
// wrote on the device, that checkpoint reads see the device's values, and that host
// writes reach the device.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <utility>

#include "device_fixture.h"
#include "models/harness.h"
#include "runtime/checkpoint.h"

using namespace kiln;
using namespace kiln::test;

namespace {

// Two steps of `model` on the device and on the CPU from the same initial state and
// inputs: "" when the outputs and states agree after each step.
std::string device_vs_cpu(const std::string& model, int64_t classes) {
  const CompiledPlan& dev_plan = device_step_plan(model);
  CompileOptions co;
  co.init_seed = 7;
  Expected<std::unique_ptr<Executable>> cpu = compile(zoo_step_graph(model, 4), std::make_shared<StateStore>(), co);
  if (!cpu.ok()) return "cpu: " + cpu.error().message();
  BindOptions bo;
  bo.device = emulated_runtime();
  Expected<std::unique_ptr<Executable>> dev =
      Executable::bind(dev_plan.plan, dev_plan.code, std::make_shared<StateStore>(), bo);
  if (!dev.ok()) return "bind: " + dev.error().message();
  for (int step = 0; step < 2; ++step) {
    fill_inputs(**cpu, 10 + step, classes);
    fill_inputs(**dev, 10 + step, classes);
    (*cpu)->run();
    if (Status s = (*dev)->run_checked(); !s.ok()) return "device run: " + s.error().message();
    const std::string at = "step " + std::to_string(step + 1) + ": ";
    for (const std::string& out : (*cpu)->output_names())
      if (std::string m = float_mismatch(at + "output " + out, *(*dev)->output(out), *(*cpu)->output(out)); !m.empty())
        return m;
    int states = 0;
    for (const PlanBuffer& b : dev_plan.plan.buffers) {
      if (b.kind != PlanBufferKind::State) continue;
      HostBuffer* d = (*dev)->state_buffer(b.name);  // brought down from the device
      HostBuffer* c = (*cpu)->state_buffer(b.name);
      if (!d || !c) return "state " + b.name + " missing";
      if (std::string m = float_mismatch(at + "state " + b.name, *d, *c); !m.empty()) return m;
      ++states;
    }
    if (states < 4) return "too few states compared";
  }
  if (Status g = (*dev)->check_guards(); !g.ok()) return g.error().message();
  return "";
}

}  // namespace

TEST_CASE("device runtime on the emulated driver: two training steps match the CPU", "[cuda][device][zoo]") {
  cudagen::reset_emulated_driver();
  SECTION("mlp") { CHECK(device_vs_cpu("mlp", 10) == ""); }
  SECTION("lenet") { CHECK(device_vs_cpu("lenet", 10) == ""); }
  CHECK(cudagen::emulated_driver_state().violations.empty());
  CHECK(cudagen::emulated_driver_state().launch_error == "");
  CHECK(cudagen::emulated_driver_state().allocations == 0);
}

namespace {

TableSource random_images(int64_t n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::vector<float> x(static_cast<size_t>(n * 784));
  for (float& v : x) v = std::uniform_real_distribution<float>(0, 1)(r);
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int32_t& v : y) v = static_cast<int32_t>(r() % 10);
  return TableSource(std::move(x), 784, std::move(y));
}

SupervisedSpec mlp_spec() {
  RunOptions o;
  Expected<SupervisedSpec> spec = find_model("mlp")->spec(o);
  REQUIRE(spec.ok());
  return std::move(*spec);
}

}  // namespace

TEST_CASE("device runtime on the emulated driver: a Trainer loop keeps eval and checkpoints current",
          "[cuda][device][train]") {
  cudagen::reset_emulated_driver();
  const TableSource train = random_images(32, 1), test = random_images(16, 2);
  TrainerOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  std::shared_ptr<CudaRuntime> rt = emulated_runtime();
  std::vector<CheckpointTensor> trained;
  double dev_loss = 0, zeroed_loss = 0;
  {
    DefaultTargetGuard guard({rt, cudagen::emulated_image_builder()});
    CompiledModel dev(mlp_spec(), 5);
    Trainer t(dev.factory(GraphKind::Train), dev.factory(GraphKind::Eval), o);
    Expected<std::vector<EpochMetrics>> h = t.fit(train, &test);
    INFO((h.ok() ? std::string() : h.error().message()));
    REQUIRE(h.ok());
    REQUIRE(h->size() == 2);
    CHECK(std::isfinite((*h)[1].train_loss));
    Expected<Executable*> step = dev.get(GraphKind::Train, 16);
    REQUIRE(step.ok());
    CHECK((*step)->device() == rt.get());
    // The step ran as a replayed graph: one capture per executable (train and eval).
    CHECK(cudagen::emulated_driver_state().captures == 2);
    CHECK(cudagen::emulated_driver_state().graph_launches == 2 * 2 + 2 * 1);
    Expected<EvalMetrics> e = t.evaluate(test);
    REQUIRE(e.ok());
    dev_loss = e->loss;
    // What a checkpoint saves: the device's current weights.
    trained = *snapshot_state(std::as_const(dev.state()));
    // Host writes reach the device: with every parameter zero the logits are zero and
    // the loss is ln 10.
    for (const std::string& p : dev.state().parameters()) {
      HostBuffer* b = dev.state().find(p);
      std::memset(b->data(), 0, b->bytes());
    }
    Expected<EvalMetrics> z = t.evaluate(test);
    REQUIRE(z.ok());
    zeroed_loss = z->loss;
  }
  CHECK(zeroed_loss == Approx(std::log(10.0)).epsilon(1e-6));
  // The same weights on the CPU give the device's evaluation: eval saw the trained
  // weights, and the snapshot holds them (not the initial ones).
  CompiledModel cpu(mlp_spec(), 5);
  Trainer tc(cpu.factory(GraphKind::Train), cpu.factory(GraphKind::Eval), o);
  Expected<EvalMetrics> initial = tc.evaluate(test);
  REQUIRE(initial.ok());
  CheckpointData ck;
  ck.tensors = trained;
  Status restored = restore_state(cpu.state(), ck, "device snapshot", RestoreMode::Subset);
  INFO((restored.ok() ? std::string() : restored.error().message()));
  REQUIRE(restored.ok());
  Expected<EvalMetrics> cpu_eval = tc.evaluate(test);
  REQUIRE(cpu_eval.ok());
  CHECK(cpu_eval->loss == Approx(dev_loss).epsilon(1e-4));
  CHECK(std::fabs(cpu_eval->loss - initial->loss) > 1e-3);  // training changed the weights
  CHECK(cudagen::emulated_driver_state().violations.empty());
}
