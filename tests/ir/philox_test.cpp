// Philox4x32-10 against Random123's known-answer vectors, kiln's counter/key packing
// and float mappings (ir/philox.h), and the rng_uniform / rng_normal reference ops.
#include <cmath>

#include "ir/philox.h"
#include "ir/test_util.h"

namespace kiln {

using philox::Counter;
using philox::Key;

// The algorithm is usable in constant expressions (the spec backends replicate).
static_assert(philox::philox4x32_10(Counter{0, 0, 0, 0}, Key{0, 0})[0] == 0x6627e8d5u);

TEST_CASE("philox: Random123 known-answer vectors", "[philox]") {
  CHECK(philox::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
        Counter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                              {0xffffffffu, 0xffffffffu}) ==
        Counter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                              {0xa4093822u, 0x299f31d0u}) ==
        Counter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("philox: counter and key packing", "[philox]") {
  CHECK(philox::make_counter(0x0000000500000007ull, 0x0000000900000003ull) ==
        Counter{7, 5, 3, 9});
  CHECK(philox::make_key(-1, 0x1'0000'0002ll) == Key{0xffffffffu, 2});
}

TEST_CASE("philox: float mappings", "[philox]") {
  Counter w{0xffffffffu, 0xffffffffu, 0, 0};
  CHECK(philox::uniform_f32(w) < 1.0f);
  CHECK(philox::uniform_f32(w) == static_cast<float>(16777215.0 / 16777216.0));
  CHECK(philox::uniform_f64(w) < 1.0);
  CHECK(philox::uniform_f64(w) == 9007199254740991.0 / 9007199254740992.0);
  Counter z{0, 0, 0, 0};
  CHECK(philox::uniform_f32(z) == 0.0f);
  CHECK(philox::uniform_f64(z) == 0.0);
  CHECK(philox::uniform_f32(Counter{0x80000000u, 0, 0, 0}) == 0.5f);
  // normal: u1 = 1 (w0 >> 8 = 2^24 - 1) gives z = 0; u1 = 2^-24 never log(0).
  CHECK(philox::normal(Counter{0xffffffffu, 0, 0, 0}) == 0.0);
  double zmax = philox::normal(Counter{0, 0, 0, 0});
  CHECK(std::isfinite(zmax));
  CHECK(zmax == Approx(std::sqrt(-2.0 * std::log(1.0 / 16777216.0))));
  // u2 = 0.5 -> cos(pi) = -1
  CHECK(philox::normal(Counter{0x7fffffffu, 0x80000000u, 0, 0}) ==
        Approx(-std::sqrt(-2.0 * std::log(0.5))));
}

TEST_CASE("philox: rng_uniform / rng_normal reference ops", "[philox]") {
  Graph g;
  Builder b(g);
  Tensor counter = b.input("step", TensorType{DType::i64, Shape{}});
  Tensor u = rng_uniform(b, Shape{64, 64}, counter, 7, DType::f32);
  Tensor u64 = rng_uniform(b, Shape{10}, counter, 7, DType::f64);
  Tensor n = rng_normal(b, Shape{100, 100}, counter, 7, DType::f64);
  REQUIRE(b.ok());
  b.output("u", u);
  b.output("u64", u64);
  b.output("n", n);
  auto run = [&](double step) {
    return interpret(g, {{"step", test::ref(TensorType{DType::i64, Shape{}}, {step})}});
  };
  Expected<InterpreterResult> r = run(3);
  REQUIRE(r.ok());
  const RefTensor& ut = r->outputs["u"];
  int64_t key_u = g.node(u.value()).attrs.i("key");
  // Element i uses counter (i, 0, step, 0) and key (seed, key attr).
  for (int i : {0, 1, 77, 4095}) {
    Counter w = philox::philox4x32_10(philox::make_counter(i, 3), philox::make_key(7, key_u));
    CHECK(ut.data[i] == static_cast<double>(philox::uniform_f32(w)));
  }
  double mean = 0;
  for (double v : ut.data) {
    CHECK(v >= 0.0);
    CHECK(v < 1.0);
    mean += v;
  }
  mean /= static_cast<double>(ut.data.size());
  CHECK(mean == Approx(0.5).margin(0.02));
  int64_t key_u64 = g.node(u64.value()).attrs.i("key");
  Counter w5 = philox::philox4x32_10(philox::make_counter(5, 3), philox::make_key(7, key_u64));
  CHECK(r->outputs["u64"].data[5] == philox::uniform_f64(w5));

  const RefTensor& nt = r->outputs["n"];
  double m = 0, m2 = 0;
  for (double v : nt.data) {
    m += v;
    m2 += v * v;
  }
  m /= static_cast<double>(nt.data.size());
  m2 /= static_cast<double>(nt.data.size());
  CHECK(m == Approx(0.0).margin(0.05));
  CHECK(m2 - m * m == Approx(1.0).margin(0.05));

  // Same step -> same numbers; another step -> different numbers.
  Expected<InterpreterResult> r2 = run(3);
  Expected<InterpreterResult> r3 = run(4);
  REQUIRE(r2.ok());
  REQUIRE(r3.ok());
  CHECK(r2->outputs["u"].data == ut.data);
  CHECK(r3->outputs["u"].data != ut.data);
  // Two ops with the same seed get different keys, hence different streams.
  CHECK(key_u != key_u64);
}

TEST_CASE("philox: rng shape rules", "[philox]") {
  Graph g;
  Value c32 = *g.add_leaf(OpKind::Input, TensorType{DType::i32, Shape{}}, {}, {}, "c");
  Value c64 = *g.add_leaf(OpKind::Input, TensorType{DType::i64, Shape{}}, {}, {}, "d");
  AttrMap attrs{{"seed", int64_t{1}}, {"key", int64_t{2}}, {"shape", std::vector<int64_t>{2, 3}}};
  Expected<Value> bad = g.add(OpKind::RngUniform, {c32}, attrs);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message(), Catch::Contains("counter must be an i64 scalar"));
  Expected<Value> ok = g.add(OpKind::RngUniform, {c64}, attrs);
  REQUIRE(ok.ok());
  CHECK(g.type(*ok) == TensorType{DType::f32, Shape{2, 3}});
  AttrMap int_attrs = attrs;
  int_attrs.set("dtype", DType::i32);
  CHECK_FALSE(g.add(OpKind::RngNormal, {c64}, int_attrs).ok());
}

}  // namespace kiln
