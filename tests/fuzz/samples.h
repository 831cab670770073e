// Sample files for the loader tests and the fuzzers' seed corpus: a graph with every
// attribute kind (int, float, ints, floats, string, dtype; -0.0, denormals, int64
// extremes), leaves of every kind, source locations in several files, outputs and a state
// update; a graph using the indexing and reduction ops, written as text; a model file
// (graph + parameter values + metadata), a checkpoint with every state kind, both
// scopes and every dtype, and a compiled-module manifest with every buffer kind, every
// initializer kind, launches, guards, weights, metadata and object bytes.
#pragma once

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ir/printer.h"
#include "ir/serialize.h"
#include "ir/verifier.h"
#include "runtime/checkpoint_format.h"
#include "runtime/module_format.h"

namespace kiln::fuzz {

inline TensorType tt(DType d, std::vector<int64_t> dims) {
  return TensorType{d, Shape(std::move(dims))};
}

inline Graph every_attr_graph() {
  Graph g("all \"attrs\" ŷ");
  auto at = [](const char* file, uint32_t line, uint32_t col) { return SourceLoc{file, line, col}; };
  auto ok = [](Expected<Value> v) {
    KILN_CHECK(v.ok(), v.ok() ? "" : v.error().message());
    return *v;
  };
  Value x = ok(g.add_leaf(OpKind::Input, tt(DType::f32, {2, 3}), {}, at("/src/model.cpp", 10, 5),
                          "x"));
  Value w = ok(g.add_leaf(OpKind::Parameter, tt(DType::f32, {3, 4}),
                          {{"init", std::string("normal")}, {"init_a", -0.0}, {"init_b", 0.01}},
                          at("/src/model.cpp", 11, 7), "net.fc1.weight"));
  Value step = ok(g.add_leaf(OpKind::State, tt(DType::i64, {}),
                             {{"kind", std::string("step_counter")}, {"scope", std::string("model")}},
                             at("/src/opt.cpp", 3, 1), "step"));
  Value data = ok(g.add_leaf(OpKind::Constant, tt(DType::f64, {3}),
                             {{"data", std::vector<double>{0.1, -0.0, 1e-310}}}, at("", 0, 0)));
  Value one = ok(g.add_leaf(OpKind::Constant, tt(DType::i64, {}), {{"value", 1.0}}));
  Value io = ok(g.add_leaf(OpKind::Iota, tt(DType::i32, {2, 4}), {{"axis", int64_t{1}}},
                           at("/src/model.cpp", 12, 9)));
  Value mm = ok(g.add(OpKind::Matmul, {x, w}, {}, at("/src/model.cpp", 20, 14)));
  Value cast = ok(g.add(OpKind::Cast, {io}, {{"dtype", DType::f32}}, at("/src/model.cpp", 21, 3)));
  Value sum = ok(g.add(OpKind::Add, {mm, cast}, {}, at("/src/other.cpp", 1, 1), "the sum"));
  Value red = ok(g.add(OpKind::ReduceSum, {sum},
                       {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{1}}}));
  Value bc = ok(g.add(OpKind::Broadcast, {red}, {{"shape", std::vector<int64_t>{2, 4}}}));
  Value rng = ok(g.add(OpKind::RngUniform, {step},
                       {{"seed", std::numeric_limits<int64_t>::min()},
                        {"key", std::numeric_limits<int64_t>::max()},
                        {"shape", std::vector<int64_t>{2, 4}},
                        {"dtype", DType::f32}}));
  Value cc = ok(g.add(OpKind::Concat, {bc, rng}, {{"axis", int64_t{1}}}));
  Value next = ok(g.add(OpKind::Add, {step, one}));
  g.add_output("y", cc);
  g.add_output("data \"quoted\"", data);
  g.add_state_update(step, next);
  KILN_CHECK(verify(g).ok(), "every_attr_graph does not verify");
  return g;
}

// Indexing, comparison and reduction ops, in the textual IR.
inline Graph indexing_graph() {
  const char* text = R"(graph indexing {
  %0 = input() {name="x"} : f32[2,3]
  %1 = input() {name="idx"} : i32[4]
  %2 = parameter() {init="xavier_uniform", name="table"} : f32[5,3]
  %3 = gather(%2, %1) : f32[4,3]
  %4 = permute(%0) {perm=[1,0]} : f32[3,2]
  %5 = reshape(%4) {shape=[2,3]} : f32[2,3]
  %6 = slice(%3) {start=[0,0], step=[2,1], stop=[4,3]} : f32[2,3]
  %7 = gt(%5, %6) : bool[2,3]
  %8 = select(%7, %5, %6) : f32[2,3]
  %9 = one_hot(%1) {depth=5, dtype=f64} : f64[4,5]
  %10 = scatter_add(%1, %3) {rows=5} : f32[5,3]
  %11 = reduce_max(%10) {axes=[0]} : f32[3]
  %12 = exp(%8) : f32[2,3]
  %13 = not(%7) : bool[2,3]
  %14 = reduce_mean(%9) {axes=[0,1], keepdims=0} : f64[]
  %15 = state() {init="constant", init_a=0.5, kind="running_stat", scope="executable", name="avg"} : f64[]
  %16 = add(%15, %14) : f64[]
  output "sel" = %12
  output "mask" = %13
  output "max" = %11
  update %15 = %16
})";
  Expected<Graph> g = parse_graph(text);
  KILN_CHECK(g.ok(), g.ok() ? "" : g.error().message());
  KILN_CHECK(verify(*g).ok(), verify(*g).ok() ? "" : verify(*g).error().message());
  return std::move(*g);
}

inline std::vector<uint8_t> le_floats(const std::vector<float>& xs) {
  std::vector<uint8_t> out(xs.size() * 4);
  if (!xs.empty()) std::memcpy(out.data(), xs.data(), out.size());
  return out;
}

inline ModelFile sample_model() {
  ModelFile m;
  m.graph = every_attr_graph();
  std::vector<float> w;
  for (int i = 0; i < 12; ++i) w.push_back(0.5f * static_cast<float>(i) - 1.0f);
  NamedTensor step{"step", tt(DType::i64, {}), std::vector<uint8_t>(8, 0)};
  step.bytes[0] = 42;
  m.parameters = {{"net.fc1.weight", tt(DType::f32, {3, 4}), le_floats(w)}, step};
  m.metadata = {{"image_size", "28x28"}, {"normalize_mean", "0.2860"}, {"empty", ""}};
  return m;
}

inline CheckpointTensor sample_tensor(std::string name, StateKind kind, StateScope scope, DType dt,
                                      std::vector<int64_t> dims, uint8_t fill) {
  CheckpointTensor t{std::move(name), kind, scope, tt(dt, std::move(dims)), {}};
  t.bytes.resize(t.type.bytes());
  for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes[i] = static_cast<uint8_t>(fill + i);
  return t;
}

inline CheckpointData sample_checkpoint() {
  using K = StateKind;
  using S = StateScope;
  CheckpointData d;
  d.model = "mlp";
  d.rng_version = 1;
  d.epoch = 3;
  d.step = 705;
  d.data_seed = 0xfedcba9876543210ull;
  d.data_position = 1280;
  d.epoch_metrics = {{{"train_loss", 0.61}, {"train_acc", 0.78}},
                     {{"train_loss", 0.45}, {"train_acc", -0.0}},
                     {}};
  d.metadata = {{"kiln", "0.1"}, {"optimizer", "sgd lr=0.1"}, {"empty", ""}};
  d.tensors = {sample_tensor("mlp.fc1.weight", K::Parameter, S::Model, DType::f32, {3, 5}, 1),
               sample_tensor("mlp.fc1.weight.momentum", K::OptimizerSlot, S::Model, DType::f32,
                             {3, 5}, 9),
               sample_tensor("step", K::StepCounter, S::Model, DType::i64, {}, 0),
               sample_tensor("dropout.counter", K::RngCounter, S::Model, DType::i64, {}, 7),
               sample_tensor("bn.mean", K::RunningStat, S::Model, DType::f64, {4}, 3),
               sample_tensor("rnn.h", K::Carried, S::Executable, DType::f32, {2, 0}, 0),
               sample_tensor("lr", K::Hyperparameter, S::Model, DType::f32, {}, 5),
               sample_tensor("mask", K::Carried, S::Executable, DType::boolean, {3}, 0),
               sample_tensor("ids", K::Carried, S::Executable, DType::i32, {2}, 0)};
  return d;
}

// A manifest whose plan has every buffer kind and initializer kind (buffer ids: 0 input
// x, 1 output y, 2 constant, 3 parameter w, 4 step counter, 5 carried h (executable
// scope), 6 arena tmp, 7 running mean, 8 parameter b, 9 xavier, 10 kaiming, 11 lr), with
// weights for w and mean.
inline CompiledModuleFile sample_module() {
  TensorType f3 = tt(DType::f32, {3});
  CompiledModuleFile m;
  m.target = {"x86_64-pc-linux-gnu", "x86-64-v3", {"avx2", "fma"}};
  ExecutablePlan& p = m.plan;
  p.name = "mlp.infer";
  p.entry_symbol = "mlp_entry";
  p.arena_bytes = 256;
  p.init_seed = 0x123456789abcdefull;
  p.description = "fusion: 2 kernels\n";
  p.stats = {12, 2, 256, 0.25};
  auto state = [&](std::string name, TensorType type, StateKind kind, InitSpec init,
                   StateScope scope = StateScope::Model) {
    PlanBuffer b{PlanBufferKind::State, std::move(name), std::move(type)};
    b.state_kind = kind;
    b.scope = scope;
    b.init = init;
    return b;
  };
  PlanBuffer c{PlanBufferKind::Constant, "", f3};
  c.data = le_floats({1.5f, -0.0f, 3.0f});
  PlanBuffer tmp{PlanBufferKind::Arena, "tmp", tt(DType::f32, {4})};
  tmp.offset = 64;
  p.buffers = {{PlanBufferKind::Input, "x", f3},
               {PlanBufferKind::Output, "y", f3},
               c,
               state("w", f3, StateKind::Parameter, InitSpec::normal(0, 0.01)),
               state("step", tt(DType::i64, {}), StateKind::StepCounter, InitSpec::zeros()),
               state("h", tt(DType::f32, {2, 0}), StateKind::Carried, InitSpec::uniform(-1, 1),
                     StateScope::Executable),
               tmp,
               state("mean", tt(DType::f64, {3}), StateKind::RunningStat, InitSpec::constant(0.5)),
               state("b", f3, StateKind::Parameter, InitSpec::constant(-2)),
               state("xw", tt(DType::f32, {2, 3}), StateKind::Parameter,
                     InitSpec::xavier_uniform()),
               state("kw", tt(DType::f32, {3, 2, 1, 1}), StateKind::Parameter,
                     InitSpec::kaiming_normal()),
               state("lr", tt(DType::f32, {}), StateKind::Hyperparameter, InitSpec::constant(0.1))};
  p.launches = {{"fused_add_0", "k0", {0, 2, 3}, 6, 6.0, 24.0, false},
                {"gemm_1", "k1", {6, 8, 9, 10, 11}, 1, 1e9, 2e6, true}};
  p.guards = {{6, 80, 48}};
  p.inputs = {"x"};
  p.outputs = {"y"};
  m.weights = {{"w", f3, le_floats({0.25f, -1.0f, 2.0f})},
               {"mean", tt(DType::f64, {3}), std::vector<uint8_t>(24, 0x3f)}};
  m.metadata = {{"image_size", "28x28"}, {"empty", ""}};
  m.object = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
  return m;
}

}  // namespace kiln::fuzz
