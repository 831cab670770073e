// JIT vs reference interpreter for every op: random shapes with broadcasting, f32 and
// f64, fused elementwise chains, reductions over all axis sets (with keepdims),
// indexing ops, matmul with transposes and batches, rng ops, state updates.
#include <catch2/catch.hpp>

#include "codegen/lower.h"
#include "harness.h"

using namespace kiln;
using namespace kiln::test;

namespace {

Shape random_shape(std::mt19937_64& rng, int rank, int64_t max_dim = 9) {
  Shape s;
  for (int i = 0; i < rank; ++i) s.dims.push_back(1 + static_cast<int64_t>(rng() % max_dim));
  return s;
}

// Positive inputs for log/sqrt/pow bases.
Gen positive() {
  return [](std::mt19937_64& r, int64_t) {
    return 0.05 + std::uniform_real_distribution<double>(0, 3)(r);
  };
}

Gen indices(int64_t n) {
  return [n](std::mt19937_64& r, int64_t) { return static_cast<double>(r() % n); };
}

}  // namespace

TEST_CASE("every op kind has a lowering", "[codegen]") {
  for (int i = 0; i < kNumOps; ++i) {
    INFO(op_name(static_cast<OpKind>(i)));
    CHECK(has_lowering(static_cast<OpKind>(i)));
  }
}

TEST_CASE("unary ops match the reference", "[codegen][parity]") {
  std::mt19937_64 rng(42);
  using UFn = Tensor (*)(const Tensor&, std::source_location);
  struct U {
    const char* name;
    UFn fn;
    bool positive;
  };
  const U ops[] = {{"neg", kiln::neg, false},   {"abs", kiln::abs, false},
                   {"exp", kiln::exp, false},   {"log", kiln::log, true},
                   {"sqrt", kiln::sqrt, true},  {"tanh", kiln::tanh, false},
                   {"sigmoid", kiln::sigmoid, false}, {"relu", kiln::relu, false}};
  for (DType dt : {DType::f32, DType::f64}) {
    for (const U& u : ops) {
      INFO(u.name << " " << dtype_name(dt));
      Graph g;
      Builder b(g);
      Shape s = random_shape(rng, 1 + rng() % 3);
      Tensor x = b.input("x", {dt, s});
      b.output("y", u.fn(x, std::source_location::current()));
      REQUIRE(b.ok());
      ParityOptions o;
      o.tol = dt == DType::f32 ? 1e-12 : 1e-26;
      if (u.positive) o.gens["x"] = positive();
      check_parity(g, o);
    }
  }
}

TEST_CASE("binary ops with broadcasting match the reference", "[codegen][parity]") {
  std::mt19937_64 rng(7);
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (int op = 0; op < 7; ++op) {
      if (op == 4 && !is_float(dt)) continue;  // pow is float-only
      for (int rep = 0; rep < 3; ++rep) {
        Graph g;
        Builder b(g);
        Shape s = random_shape(rng, 1 + rng() % 4);
        Shape s2 = s;
        for (auto& d : s2.dims)
          if (rng() % 2) d = 1;  // broadcast some axes
        if (rng() % 2 && s2.rank() > 1) s2.dims.erase(s2.dims.begin());
        Tensor x = b.input("x", {dt, s});
        Tensor y = b.input("y", {dt, s2});
        Tensor z;
        switch (op) {
          case 0: z = add(x, y); break;
          case 1: z = sub(y, x); break;
          case 2: z = mul(x, y); break;
          case 3: z = div(x, y); break;
          case 4: z = pow(x, y); break;
          case 5: z = maximum(x, y); break;
          case 6: z = minimum(y, x); break;
        }
        b.output("z", z);
        REQUIRE(b.ok());
        INFO("op " << op << " " << dtype_name(dt));
        ParityOptions o;
        o.tol = dt == DType::f32 ? 1e-12 : 1e-26;
        if (op == 4) o.gens["x"] = positive();
        if (op == 3) {
          o.gens["y"] = [](std::mt19937_64& r, int64_t) {
            double v = 1 + static_cast<double>(r() % 5);
            return r() % 2 ? v : -v;
          };
        }
        check_parity(g, o);
      }
    }
  }
}

TEST_CASE("i32 arithmetic wraps on overflow in the reference and in generated code",
          "[codegen][parity]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::i32, Shape{64}});
  Tensor y = b.input("y", {DType::i32, Shape{64}});
  b.output("add", add(x, y));
  b.output("sub", sub(x, y));
  b.output("mul", mul(x, y));
  b.output("div", div(x, y));  // INT_MIN / -1 wraps to INT_MIN instead of trapping
  b.output("sum", sum(x));
  REQUIRE(b.ok());
  ParityOptions o;
  o.tol = 0;
  const double extremes[] = {INT32_MIN, INT32_MAX, INT32_MAX - 1, -7, 65536 * 3 + 5, 1e9};
  const double divisors[] = {-1, 2, 65537, INT32_MAX, -3, INT32_MIN};
  o.gens["x"] = [&](std::mt19937_64& r, int64_t) { return extremes[r() % 6]; };
  o.gens["y"] = [&](std::mt19937_64& r, int64_t) { return divisors[r() % 6]; };
  check_parity(g, o);
  // And the wrapped values are two's complement, not saturated.
  RefTensor xs{{DType::i32, Shape{64}}, std::vector<double>(64, INT32_MAX)};
  RefTensor ys{{DType::i32, Shape{64}}, std::vector<double>(64, 1)};
  auto res = interpret(g, {{"x", xs}, {"y", ys}});
  REQUIRE(res.ok());
  CHECK(res->outputs.at("add").data[0] == INT32_MIN);
  CHECK(res->outputs.at("sum").data[0] == -64);
}

TEST_CASE("compare, logical, select, cast and not match the reference", "[codegen][parity]") {
  std::mt19937_64 rng(9);
  for (DType dt : {DType::f32, DType::i32, DType::i64, DType::f64}) {
    Graph g;
    Builder b(g);
    Shape s = random_shape(rng, 2);
    Tensor x = b.input("x", {dt, s});
    Tensor y = b.input("y", {dt, s});
    Tensor lt = less(x, y), le = less_equal(x, y), gt = greater(x, y), ge = greater_equal(x, y);
    Tensor eq = equal(x, y), ne = not_equal(x, y);
    b.output("lt", lt);
    b.output("le", le);
    b.output("gt", gt);
    b.output("ge", ge);
    b.output("eq", eq);
    b.output("ne", ne);
    b.output("and", logical_and(lt, ne));
    b.output("or", logical_or(logical_not(lt), eq));
    b.output("sel", where(gt, x, y));
    for (DType to : {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean})
      b.output(std::string("cast_") + dtype_name(to), cast(mul(x, scalar_like(x, 3.3)), to));
    b.output("bool_to_f", cast(ge, DType::f32));
    REQUIRE(b.ok());
    ParityOptions o;
    o.tol = 1e-12;
    o.gens["y"] = [](std::mt19937_64& r, int64_t i) { return i % 3 == 0 ? 1.0 : double(r() % 5) - 2; };
    o.gens["x"] = [](std::mt19937_64& r, int64_t i) { return i % 3 == 0 ? 1.0 : double(r() % 5) - 2.5; };
    check_parity(g, o);
  }
}

TEST_CASE("fused elementwise chains match the reference", "[codegen][parity]") {
  std::mt19937_64 rng(123);
  for (int rep = 0; rep < 20; ++rep) {
    DType dt = rep % 2 ? DType::f64 : DType::f32;
    Graph g;
    Builder b(g);
    Shape s = random_shape(rng, 1 + rng() % 3, 40);
    Tensor x = b.input("x", {dt, s});
    Tensor y = b.input("y", {dt, Shape{s.dims.back()}});
    Tensor v = x;
    for (int step = 0; step < 6; ++step) {
      switch (rng() % 8) {
        case 0: v = add(v, y); break;
        case 1: v = mul(v, scalar_like(v, 0.5)); break;
        case 2: v = tanh(v); break;
        case 3: v = sigmoid(v); break;
        case 4: v = relu(sub(v, y)); break;
        case 5: v = exp(mul(v, scalar_like(v, 0.1))); break;
        case 6: v = where(greater(v, y), v, neg(v)); break;
        case 7: v = add(v, mul(v, v)); break;
      }
    }
    b.output("v", v);
    b.output("w", add(v, x));  // v used twice: materialized
    REQUIRE(b.ok());
    ParityOptions o;
    o.tol = dt == DType::f32 ? 1e-11 : 1e-24;
    check_parity(g, o);
  }
}

TEST_CASE("reductions over every axis set match the reference", "[codegen][parity]") {
  std::mt19937_64 rng(5);
  for (DType dt : {DType::f32, DType::f64}) {
    for (int rank = 1; rank <= 3; ++rank) {
      Shape s = random_shape(rng, rank, 13);
      for (int mask = 1; mask < (1 << rank); ++mask) {
        std::vector<int64_t> axes;
        for (int d = 0; d < rank; ++d)
          if (mask & (1 << d)) axes.push_back(d);
        for (int kd = 0; kd < 2; ++kd) {
          Graph g;
          Builder b(g);
          Tensor x = b.input("x", {dt, s});
          b.output("sum", sum(exp(mul(x, scalar_like(x, 0.3))), axes, kd));
          b.output("max", max(x, axes, kd));
          b.output("mean", mean(x, axes, kd));
          REQUIRE(b.ok());
          INFO("shape " << s.to_string() << " mask " << mask << " keepdims " << kd);
          ParityOptions o;
          o.tol = dt == DType::f32 ? 1e-12 : 1e-26;
          check_parity(g, o);
        }
      }
    }
  }
  // Large rows: vectorized reductions and the parallel path.
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", {DType::f32, Shape{300, 517}});
  b.output("rows", sum(x, {1}));
  b.output("cols", sum(x, {0}));
  b.output("all", mean(x));
  b.output("softmax", softmax(x));
  REQUIRE(b.ok());
  ParityOptions o;
  o.tol = 1e-10;  // f32 sums of 155k terms (the reference sums in double)
  check_parity(g, o);
}

TEST_CASE("shape ops match the reference", "[codegen][parity]") {
  std::mt19937_64 rng(11);
  for (int rep = 0; rep < 8; ++rep) {
    DType dt = rep % 2 ? DType::f64 : DType::f32;
    Graph g;
    Builder b(g);
    Shape s = random_shape(rng, 3, 7);
    Tensor x = b.input("x", {dt, s});
    b.output("perm", permute(x, {2, 0, 1}));
    b.output("t", transpose(x));
    b.output("flat", reshape(x, Shape{s[0], s[1] * s[2]}));
    b.output("regroup", reshape(permute(x, {1, 0, 2}), Shape{s[1] * s[0] * s[2]}));
    b.output("unsq", reshape(x, Shape{s[0], 1, s[1], s[2], 1}));
    b.output("slice", slice(x, 2, 0, s[2], 2));
    b.output("slice2", slice(x, 0, s[0] / 2, s[0]));
    b.output("cat", concat({x, mul(x, x), slice(x, 1, 0, 1)}, 1));
    b.output("bcast", broadcast_to(reshape(x, Shape{s[0], s[1], s[2], 1}), Shape{2, s[0], s[1], s[2], 3}));
    REQUIRE(b.ok());
    check_parity(g, {.tol = 1e-26});
  }
}

TEST_CASE("iota, constants, gather, one_hot and scatter_add match the reference", "[codegen][parity]") {
  for (DType idt : {DType::i32, DType::i64}) {
    Graph g;
    Builder b(g);
    Tensor table = b.input("table", {DType::f32, Shape{10, 6}});
    Tensor idx = b.input("idx", {idt, Shape{4, 3}});
    b.output("gather", gather(table, idx));
    b.output("gather_expr", gather(exp(table), idx));
    b.output("onehot", one_hot(idx, 10, DType::f32));
    b.output("onehot_i", one_hot(idx, 7, DType::i32));
    Tensor upd = b.input("upd", {DType::f32, Shape{4, 3, 5}});
    b.output("scatter", scatter_add(idx, upd, 10));
    b.output("iota", b.iota({DType::f32, Shape{3, 4}}, 1));
    b.output("iota_i", b.iota({DType::i64, Shape{3, 4}}, 0));
    b.output("const", add(table, b.constant(2.5, {DType::f32, Shape{10, 6}})));
    b.output("data", mul(b.constant_data({1, 2, 3, 4, 5, 6}, {DType::f32, Shape{6}}), table));
    REQUIRE(b.ok());
    ParityOptions o;
    o.tol = 1e-12;
    o.gens["idx"] = indices(10);
    check_parity(g, o);
  }
}

TEST_CASE("matmul with transposes and batches matches the reference", "[codegen][parity]") {
  std::mt19937_64 rng(3);
  for (DType dt : {DType::f32, DType::f64}) {
    for (int rep = 0; rep < 12; ++rep) {
      int64_t m = 1 + rng() % 40, n = 1 + rng() % 40, k = 1 + rng() % 40;
      bool ta = rep & 1, tb = rep & 2, batched = rep & 4;
      Graph g;
      Builder b(g);
      Shape as = ta ? Shape{k, m} : Shape{m, k};
      Shape bs = tb ? Shape{n, k} : Shape{k, n};
      if (batched) {
        as.dims.insert(as.dims.begin(), 3);
        bs.dims.insert(bs.dims.begin(), 3);
      }
      Tensor a = b.input("a", {dt, as});
      Tensor bb = b.input("b", {dt, bs});
      Tensor c = matmul(ta ? transpose(a) : a, tb ? transpose(bb) : bb);
      b.output("c", c);
      b.output("c_relu", relu(add(c, scalar_like(c, 0.1))));
      REQUIRE(b.ok());
      INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb);
      check_parity(g, {.tol = dt == DType::f32 ? 1e-11 : 1e-24});
    }
  }
  // Integer matmul lowers to a loop reduction.
  Graph g;
  Builder b(g);
  Tensor a = b.input("a", {DType::i32, Shape{5, 7}});
  Tensor bb = b.input("b", {DType::i32, Shape{7, 3}});
  b.output("c", matmul(a, bb));
  REQUIRE(b.ok());
  check_parity(g, {.tol = 0});
}

TEST_CASE("rng ops are bit-exact with the reference", "[codegen][parity]") {
  for (DType dt : {DType::f32, DType::f64}) {
    Graph g;
    Builder b(g);
    Tensor counter = b.state("step", {DType::i64, Shape{}}, StateKind::RngCounter);
    Tensor u = rng_uniform(b, Shape{7, 33}, counter, 1234, dt);
    Tensor nrm = rng_normal(b, Shape{5, 17}, counter, 99, dt);
    b.output("u", u);
    b.output("u2", add(u, u));
    b.output("n", nrm);
    b.update_state(counter, add(counter, b.constant(1, {DType::i64, Shape{}})));
    REQUIRE(b.ok());
    ParityOptions o;
    o.tol = 0;
    o.runs = 3;
    o.gens["step"] = [](std::mt19937_64&, int64_t) { return 5.0; };
    // Uniforms are bit-exact; normals go through log/cos and match to rounding.
    auto st = std::make_shared<StateStore>();
    auto exe = compile(g, st);
    REQUIRE(exe.ok());
    std::map<std::string, RefTensor> feeds;
    for (int r = 0; r < 3; ++r) {
      feeds["step"] = RefTensor{{DType::i64, Shape{}}, {double(r)}};
      st->find("step")->as<int64_t>()[0] = r;
      (*exe)->run();
      auto ref = interpret(g, feeds);
      REQUIRE(ref.ok());
      CHECK(read_buffer(*(*exe)->output("u")) == ref->outputs["u"].data);
      CHECK(read_buffer(*(*exe)->output("u2")) == ref->outputs["u2"].data);
      CHECK(nmse(read_buffer(*(*exe)->output("n")), ref->outputs["n"].data) < 1e-13);
      CHECK(st->find("step")->as<int64_t>()[0] == r + 1);
    }
  }
}

TEST_CASE("state updates are applied, in place where safe", "[codegen][parity]") {
  Graph g;
  Builder b(g);
  Tensor w = b.parameter("w", {DType::f32, Shape{8, 5}}, InitSpec::normal(0, 1));
  Tensor m = b.state("m", {DType::f32, Shape{8, 5}}, StateKind::OptimizerSlot);
  Tensor x = b.input("x", {DType::f32, Shape{3, 8}});
  Tensor y = matmul(x, w);
  Tensor loss = sum(mul(y, y));
  b.output("loss", loss);
  // m <- 0.9 m + w ; w <- w - 0.1 * transpose-read of w (not elementwise: must copy)
  b.update_state(m, add(mul(m, scalar_like(m, 0.9)), w));
  Tensor wt = transpose(w);
  b.update_state(w, sub(w, mul(transpose(wt), scalar_like(w, 0.1))));
  REQUIRE(b.ok());
  ParityOptions o;
  o.tol = 1e-12;
  o.runs = 3;
  check_parity(g, o);
}
