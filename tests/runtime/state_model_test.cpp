// The state model: executables of one model share model-scoped state across batch
// sizes, executable-scoped (carried) state is per executable, reset_state re-initialises
// by kind, the learning rate is a state, and layer names do not depend on what else the
// process built.
#include <catch2/catch.hpp>

#include <cstring>

#include "codegen/compile.h"
#include "frontend/nn.h"
#include "models/harness.h"
#include "models/registry.h"

using namespace kiln;

namespace {

// h' = tanh(x @ W + h): a carried hidden state of shape [batch, 4].
Graph rnn_step(int64_t batch) {
  Graph g("rnn.step");
  Builder b(g);
  Tensor x = b.input("x", TensorType{DType::f32, Shape{batch, 3}});
  Tensor w = b.parameter("rnn.w", TensorType{DType::f32, Shape{3, 4}}, InitSpec::normal(0, 1));
  Tensor h = b.state("rnn.h", TensorType{DType::f32, Shape{batch, 4}}, StateKind::Carried,
                     InitSpec::zeros(), StateScope::Executable);
  Tensor h2 = tanh(matmul(x, w) + h);
  b.update_state(h, h2);
  b.output("h", h2);
  REQUIRE(b.ok());
  return g;
}

std::unique_ptr<Executable> build(const Graph& g, std::shared_ptr<StateStore> st) {
  Expected<std::unique_ptr<Executable>> e = compile(g, st);
  INFO((e.ok() ? "" : e.error().message()));
  REQUIRE(e.ok());
  return std::move(*e);
}

void fill(HostBuffer* b, float v) {
  REQUIRE(b != nullptr);
  for (int64_t i = 0; i < b->type().shape.numel(); ++i) b->as<float>()[i] = v;
}

}  // namespace

TEST_CASE("carried state: one buffer per executable, batch 32 and batch 1", "[state]") {
  auto store = std::make_shared<StateStore>();
  auto big = build(rnn_step(32), store);
  auto one = build(rnn_step(1), store);
  HostBuffer* h32 = big->state_buffer("rnn.h");
  HostBuffer* h1 = one->state_buffer("rnn.h");
  REQUIRE(h32 != nullptr);
  REQUIRE(h1 != nullptr);
  CHECK(h32->type().shape == Shape{32, 4});
  CHECK(h1->type().shape == Shape{1, 4});
  CHECK_FALSE(store->has("rnn.h"));  // not in the model's shared store
  CHECK(big->state_buffer("rnn.w") == one->state_buffer("rnn.w"));  // shared weights
  fill(big->input("x"), 0.5f);
  fill(one->input("x"), 0.5f);
  big->run();
  big->run();
  one->run();
  // Two steps vs one step from zero: the states differ, each evolved on its own.
  float after_two = h32->as<float>()[0], after_one = h1->as<float>()[0];
  CHECK(after_two != after_one);
  CHECK(after_one == Approx(one->output("h")->as<float>()[0]));
  CHECK(big->reset_state(StateKind::Carried) == 1);
  for (int i = 0; i < 32 * 4; ++i) CHECK(h32->as<float>()[i] == 0.0f);
  CHECK(h1->as<float>()[0] == after_one);  // the other executable's state is untouched
  CHECK(big->reset_state(StateKind::OptimizerSlot) == 0);
}

TEST_CASE("train and eval executables at different batch sizes share weights", "[state]") {
  RunOptions o;
  Expected<SupervisedSpec> spec = find_model("mlp")->spec(o);
  REQUIRE(spec.ok());
  CompiledModel model(std::move(*spec), 0);
  Expected<Executable*> train = model.get(GraphKind::Train, 32);
  Expected<Executable*> eval = model.get(GraphKind::Eval, 7);
  REQUIRE(train.ok());
  REQUIRE(eval.ok());
  CHECK((*train)->state_buffer("mlp.hidden.weight") == (*eval)->state_buffer("mlp.hidden.weight"));
  CHECK((*eval)->state_buffer("lr") == nullptr);  // evaluation binds no optimizer state
  fill((*eval)->input("x"), 0.3f);
  std::memset((*eval)->input("y")->data(), 0, (*eval)->input("y")->bytes());
  (*eval)->run();
  float before = *(*eval)->output("loss")->as<float>();
  fill((*train)->input("x"), 0.3f);
  std::memset((*train)->input("y")->data(), 0, (*train)->input("y")->bytes());
  (*train)->run();
  (*eval)->run();
  CHECK(*(*eval)->output("loss")->as<float>() < before);  // eval sees the trained weights
}

TEST_CASE("the learning rate is a state: changing it needs no recompilation", "[state]") {
  RunOptions o;
  Expected<SupervisedSpec> spec = find_model("softmax")->spec(o);
  REQUIRE(spec.ok());
  CompiledModel model(std::move(*spec), 0);
  Executable* step = model.get(GraphKind::Train, 16).value();
  const StateEntry* lr = model.state().entry("lr");
  REQUIRE(lr != nullptr);
  CHECK(lr->kind == StateKind::Hyperparameter);
  CHECK(*lr->buffer.as<float>() == 0.1f);
  HostBuffer* w = model.state().find("softmax.out.weight");
  std::vector<float> w0(w->as<float>(), w->as<float>() + 7840);
  *model.state().find("lr")->as<float>() = 0.0f;
  fill(step->input("x"), 0.2f);
  std::memset(step->input("y")->data(), 0, step->input("y")->bytes());
  step->run();
  CHECK(std::memcmp(w0.data(), w->data(), w0.size() * 4) == 0);  // lr 0: no change
  *model.state().find("lr")->as<float>() = 0.5f;
  step->run();
  CHECK(std::memcmp(w0.data(), w->data(), w0.size() * 4) != 0);
}

TEST_CASE("parameter names are deterministic paths, whatever else the process built",
          "[state]") {
  auto names = [] {
    Graph g("net");
    Builder b(g);
    nn::Context ctx(b, true, 0, "net");
    nn::Sequential s;
    s.emplace<nn::Linear>(4, 3);
    s.emplace<nn::Activation>(nn::Activation::ReLU);
    s.emplace<nn::Linear>(3, 2);
    Tensor x = b.input("x", TensorType{DType::f32, Shape{2, 4}});
    b.output("y", s(ctx, x));
    std::vector<std::string> out;
    for (Value p : g.parameters()) out.push_back(g.node(p).name);
    return out;
  };
  std::vector<std::string> first = names(), second = names();
  CHECK(first == second);
  CHECK(first == std::vector<std::string>{"net.linear0.weight", "net.linear0.bias",
                                          "net.linear1.weight", "net.linear1.bias"});
}

TEST_CASE("states say what they are; the graph verifier rejects a state without a kind",
          "[state]") {
  Graph g;
  Builder b(g);
  b.state("w", TensorType{DType::f32, Shape{2}}, StateKind::Parameter);
  CHECK_FALSE(b.ok());  // weights are parameters
  Graph g2;
  Builder b2(g2);
  Tensor s = b2.state("m", TensorType{DType::f32, Shape{2}}, StateKind::RunningStat);
  REQUIRE(b2.ok());
  CHECK(s.node().attrs.s("kind") == "running_stat");
  CHECK(s.node().attrs.s("scope") == "model");
}
