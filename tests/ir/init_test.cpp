// Initializers (ir/state.h, read from leaves by ir/leaf_state.h): each init kind's values, determinism in (seed, name),
// dependence on both, dtype rounding, xavier bounds, kaiming's std, and errors for unknown inits.
#include <cmath>

#include "ir/leaf_state.h"
#include "ir/test_util.h"

namespace kiln {
namespace {

Node leaf(const std::string& name, TensorType t, AttrMap attrs) {
  Node n;
  n.op = OpKind::Parameter;
  n.name = name;
  n.type = std::move(t);
  n.attrs = std::move(attrs);
  return n;
}

std::vector<double> init(const Node& n, uint64_t seed = 0) {
  Expected<LeafState> st = leaf_state(n);
  INFO((st.ok() ? std::string() : st.error().message()));
  REQUIRE(st.ok());
  return initial_values(st->init, n.type, n.name, seed);
}

TensorType f64(std::vector<int64_t> d) { return TensorType{DType::f64, Shape(std::move(d))}; }

// Mean and standard deviation of the values.
std::pair<double, double> moments(const std::vector<double>& v) {
  double m = 0, m2 = 0;
  for (double x : v) {
    m += x;
    m2 += x * x;
  }
  m /= static_cast<double>(v.size());
  m2 /= static_cast<double>(v.size());
  return {m, std::sqrt(m2 - m * m)};
}

}  // namespace

TEST_CASE("init: zeros and constant", "[init]") {
  CHECK(init(leaf("a", f64({3}), {{"init", std::string("zeros")}})) == std::vector<double>(3, 0.0));
  CHECK(init(leaf("a", f64({2}), {})) == std::vector<double>(2, 0.0));
  CHECK(init(leaf("a", f64({2}), {{"init", std::string("constant")}, {"init_a", 1.5}})) ==
        std::vector<double>{1.5, 1.5});
  std::vector<double> f = init(leaf("a", TensorType{DType::f32, Shape{1}},
                                    {{"init", std::string("constant")}, {"init_a", 0.1}}));
  CHECK(f[0] == static_cast<double>(0.1f));
  std::vector<double> i = init(leaf("a", TensorType{DType::i32, Shape{1}},
                                    {{"init", std::string("constant")}, {"init_a", -2.7}}));
  CHECK(i[0] == -2.0);
}

TEST_CASE("init: random kinds are deterministic in (seed, name) and have the right law",
          "[init]") {
  AttrMap normal{{"init", std::string("normal")}, {"init_a", 1.0}, {"init_b", 2.0}};
  Node a = leaf("layer0.w", f64({100, 100}), normal);
  std::vector<double> v = init(a, 5);
  CHECK(init(a, 5) == v);
  CHECK(init(a, 6) != v);
  CHECK(init(leaf("layer1.w", f64({100, 100}), normal), 5) != v);
  double m = 0, m2 = 0;
  for (double x : v) {
    m += x;
    m2 += x * x;
  }
  m /= 1e4;
  m2 /= 1e4;
  CHECK(m == Approx(1.0).margin(0.06));
  CHECK(std::sqrt(m2 - m * m) == Approx(2.0).margin(0.06));

  std::vector<double> u =
      init(leaf("u", f64({1000}), {{"init", std::string("uniform")}, {"init_a", -3.0}, {"init_b", -1.0}}));
  double um = 0;
  for (double x : u) {
    CHECK(x >= -3.0);
    CHECK(x < -1.0);
    um += x;
  }
  CHECK(um / 1000 == Approx(-2.0).margin(0.1));
}

TEST_CASE("init: xavier_uniform bounds", "[init]") {
  AttrMap xavier{{"init", std::string("xavier_uniform")}};
  // [fan_in, fan_out] = [20, 30]: bound sqrt(6/50).
  std::vector<double> v = init(leaf("w", f64({20, 30}), xavier));
  double bound = std::sqrt(6.0 / 50.0), mx = 0;
  for (double x : v) mx = std::max(mx, std::abs(x));
  CHECK(mx <= bound);
  CHECK(mx > 0.9 * bound);
  // conv [out=8, in=4, 3, 3]: fan_in 36, fan_out 72.
  std::vector<double> c = init(leaf("k", f64({8, 4, 3, 3}), xavier));
  double cb = std::sqrt(6.0 / 108.0), cm = 0;
  for (double x : c) cm = std::max(cm, std::abs(x));
  CHECK(cm <= cb);
  CHECK(cm > 0.9 * cb);
}


TEST_CASE("init: kaiming_normal has mean 0 and std sqrt(2 / fan_in)", "[init]") {
  AttrMap kaiming{{"init", std::string("kaiming_normal")}};
  // conv [out=256, in=16, 3, 3]: fan_in = 16*9 = 144 (36864 values: the estimated std is
  // within 0.4% of the true one per standard error).
  auto [m, s] = moments(init(leaf("conv.weight", f64({256, 16, 3, 3}), kaiming), 7));
  CHECK(m == Approx(0.0).margin(0.01));
  CHECK(s == Approx(std::sqrt(2.0 / 144)).epsilon(0.02));
  // Linear [in=100, out=400]: fan_in = dims[0] = 100.
  auto [lm, ls] = moments(init(leaf("fc.weight", f64({100, 400}), kaiming), 7));
  CHECK(lm == Approx(0.0).margin(0.01));
  CHECK(ls == Approx(std::sqrt(2.0 / 100)).epsilon(0.02));
  // Deterministic in (seed, name), like every random init.
  CHECK(init(leaf("w", f64({4, 3, 2, 2}), kaiming), 1) ==
        initial_values(InitSpec::kaiming_normal(), f64({4, 3, 2, 2}), "w", 1));
}

TEST_CASE("init: unknown init and state kinds are errors listing the choices", "[init]") {
  Expected<LeafState> v = leaf_state(leaf("w", f64({2}), {{"init", std::string("he_normal")}}));
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message(), Catch::Contains("unknown init 'he_normal'"));
  CHECK_THAT(v.error().message(), Catch::Contains("xavier_uniform or kaiming_normal"));
  Node s = leaf("s", f64({2}), {{"kind", std::string("momentum")}});
  s.op = OpKind::State;
  Expected<LeafState> k = leaf_state(s);
  REQUIRE_FALSE(k.ok());
  CHECK_THAT(k.error().message(), Catch::Contains("state kind 'momentum'"));
  s.attrs = {};
  CHECK_FALSE(leaf_state(s).ok());  // a state must say what it is
  s.attrs = {{"kind", std::string("carried")}, {"scope", std::string("executable")}};
  Expected<LeafState> c = leaf_state(s);
  REQUIRE(c.ok());
  CHECK(c->kind == StateKind::Carried);
  CHECK(c->scope == StateScope::Executable);
}

TEST_CASE("state vocabulary: names round-trip", "[init]") {
  for (int k = 0; k < kNumStateKinds; ++k)
    CHECK(parse_state_kind(state_kind_name(StateKind(k))) == StateKind(k));
  for (InitKind k : {InitKind::Zeros, InitKind::Constant, InitKind::Normal, InitKind::Uniform,
                     InitKind::XavierUniform, InitKind::KaimingNormal})
    CHECK(parse_init_kind(init_kind_name(k)) == k);
  CHECK_FALSE(parse_state_scope("global").has_value());
}

}  // namespace kiln
