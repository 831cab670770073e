// The op harness's case families (every op, random shapes with broadcasting, f32 and
// f64, fused chains, reductions over all axis sets, indexing, pad, matmul, rng, state
// updates, differentiated graphs with tied maxima): functions returning graphs, shared
// by the JIT's parity test (parity_test.cpp) and the CUDA emulator's (tests/cuda/).
#pragma once

#include <random>
#include <string>

#include "harness.h"
#include "parity_cases.h"
#include "passes/autodiff.h"

namespace kiln::test {

inline Shape random_shape(std::mt19937_64& rng, int rank, int64_t max_dim = 9) {
  Shape s;
  for (int i = 0; i < rank; ++i) s.dims.push_back(1 + static_cast<int64_t>(rng() % max_dim));
  return s;
}

// Positive inputs for log/sqrt/pow bases.
inline Gen positive() {
  return [](std::mt19937_64& r, int64_t) {
    return 0.05 + std::uniform_real_distribution<double>(0, 3)(r);
  };
}

inline Gen indices(int64_t n) {
  return [n](std::mt19937_64& r, int64_t) { return static_cast<double>(r() % n); };
}

// Small integers as floats: plenty of exact ties.
inline Gen ties() {
  return [](std::mt19937_64& r, int64_t) { return static_cast<double>(r() % 3); };
}

// Pure data movement copies bits: no tolerance at all.
inline ParityOptions exact() {
  ParityOptions o;
  o.rtol = 0;
  return o;
}

// ---- case families --------------------------------------------------------------

inline Cases unary_cases() {
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
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    for (const U& u : ops) {
      Shape s = random_shape(rng, 1 + rng() % 3);
      ParityOptions o;
      if (u.positive) o.gens["x"] = positive();
      cs.push_back(make_case(std::string(u.name) + " " + dtype_name(dt), [&](Builder& b) {
        Tensor x = b.input("x", {dt, s});
        b.output("y", u.fn(x, std::source_location::current()));
      }, o));
    }
  }
  return cs;
}

inline Cases binary_cases() {
  std::mt19937_64 rng(7);
  Cases cs;
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (int op = 0; op < 7; ++op) {
      if (op == 4 && !is_float(dt)) continue;  // pow is float-only
      for (int rep = 0; rep < 3; ++rep) {
        Shape s = random_shape(rng, 1 + rng() % 4);
        Shape s2 = s;
        for (auto& d : s2.dims)
          if (rng() % 2) d = 1;  // broadcast some axes
        if (rng() % 2 && s2.rank() > 1) s2.dims.erase(s2.dims.begin());
        ParityOptions o;
        if (op == 4) o.gens["x"] = positive();
        if (op == 3) {
          o.gens["y"] = [](std::mt19937_64& r, int64_t) {
            double v = 1 + static_cast<double>(r() % 5);
            return r() % 2 ? v : -v;
          };
        }
        std::string name = "op " + std::to_string(op) + " " + dtype_name(dt);
        cs.push_back(make_case(name, [&](Builder& b) {
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
        }, o));
      }
    }
  }
  return cs;
}

inline ParityCase i32_wrap_case() {
  ParityOptions o;  // integers compare exactly
  static const double extremes[] = {INT32_MIN, INT32_MAX, INT32_MAX - 1, -7, 65536 * 3 + 5, 1e9};
  static const double divisors[] = {-1, 2, 65537, INT32_MAX, -3, INT32_MIN};
  o.gens["x"] = [](std::mt19937_64& r, int64_t) { return extremes[r() % 6]; };
  o.gens["y"] = [](std::mt19937_64& r, int64_t) { return divisors[r() % 6]; };
  return make_case("i32 wrap", [](Builder& b) {
    Tensor x = b.input("x", {DType::i32, Shape{64}});
    Tensor y = b.input("y", {DType::i32, Shape{64}});
    b.output("add", add(x, y));
    b.output("sub", sub(x, y));
    b.output("mul", mul(x, y));
    b.output("div", div(x, y));  // INT_MIN / -1 wraps to INT_MIN instead of trapping
    b.output("sum", sum(x));
  }, o);
}

inline Cases compare_cases() {
  std::mt19937_64 rng(9);
  Cases cs;
  for (DType dt : {DType::f32, DType::i32, DType::i64, DType::f64}) {
    Shape s = random_shape(rng, 2);
    ParityOptions o;
    o.gens["y"] = [](std::mt19937_64& r, int64_t i) { return i % 3 == 0 ? 1.0 : double(r() % 5) - 2; };
    o.gens["x"] = [](std::mt19937_64& r, int64_t i) { return i % 3 == 0 ? 1.0 : double(r() % 5) - 2.5; };
    cs.push_back(make_case(dtype_name(dt), [&](Builder& b) {
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
    }, o));
  }
  return cs;
}

inline Cases chain_cases() {
  std::mt19937_64 rng(123);
  Cases cs;
  for (int rep = 0; rep < 20; ++rep) {
    DType dt = rep % 2 ? DType::f64 : DType::f32;
    Shape s = random_shape(rng, 1 + rng() % 3, 40);
    std::vector<int> steps;
    for (int step = 0; step < 6; ++step) steps.push_back(static_cast<int>(rng() % 8));
    cs.push_back(make_case("chain " + std::to_string(rep), [&](Builder& b) {
      Tensor x = b.input("x", {dt, s});
      Tensor y = b.input("y", {dt, Shape{s.dims.back()}});
      Tensor v = x;
      for (int step : steps) {
        switch (step) {
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
    }));
  }
  return cs;
}

inline Cases reduction_cases() {
  std::mt19937_64 rng(5);
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    for (int rank = 1; rank <= 3; ++rank) {
      Shape s = random_shape(rng, rank, 13);
      for (int mask = 1; mask < (1 << rank); ++mask) {
        std::vector<int64_t> axes;
        for (int d = 0; d < rank; ++d)
          if (mask & (1 << d)) axes.push_back(d);
        for (int kd = 0; kd < 2; ++kd) {
          std::string name = "shape " + s.to_string() + " mask " + std::to_string(mask) +
                             " keepdims " + std::to_string(kd);
          cs.push_back(make_case(name, [&](Builder& b) {
            Tensor x = b.input("x", {dt, s});
            b.output("sum", sum(exp(mul(x, scalar_like(x, 0.3))), axes, kd));
            b.output("max", max(x, axes, kd));
            b.output("mean", mean(x, axes, kd));
          }));
        }
      }
    }
  }
  // Large rows: vectorized reductions and the parallel path. f32 sums of 300 and 517
  // terms in [-2, 2), added in another order than the reference's double sum: the
  // rounding error grows with the number of terms, not with the (often small) result.
  ParityOptions large;
  large.rtol = 1e-4;
  cs.push_back(make_case("large rows", [](Builder& b) {
    Tensor x = b.input("x", {DType::f32, Shape{300, 517}});
    b.output("rows", sum(x, {1}));
    b.output("cols", sum(x, {0}));
    b.output("all", mean(x));
    b.output("softmax", softmax(x));
  }, large));
  return cs;
}

inline Cases shape_cases() {
  std::mt19937_64 rng(11);
  Cases cs;
  for (int rep = 0; rep < 8; ++rep) {
    DType dt = rep % 2 ? DType::f64 : DType::f32;
    Shape s = random_shape(rng, 3, 7);
    cs.push_back(make_case("shape ops " + std::to_string(rep), [&](Builder& b) {
      Tensor x = b.input("x", {dt, s});
      b.output("perm", permute(x, {2, 0, 1}));
      b.output("t", transpose(x));
      b.output("flat", reshape(x, Shape{s[0], s[1] * s[2]}));
      b.output("regroup", reshape(permute(x, {1, 0, 2}), Shape{s[1] * s[0] * s[2]}));
      b.output("unsq", reshape(x, Shape{s[0], 1, s[1], s[2], 1}));
      b.output("slice", slice(x, 2, 0, s[2], 2));
      b.output("slice2", slice(x, 0, s[0] / 2, s[0]));
      b.output("cat", concat({x, mul(x, x), slice(x, 1, 0, 1)}, 1));
      b.output("bcast", broadcast_to(reshape(x, Shape{s[0], s[1], s[2], 1}),
                                     Shape{2, s[0], s[1], s[2], 3}));
    }, exact()));
  }
  return cs;
}

// pad in every dtype: alone (a kernel of its own), fused after and before arithmetic,
// around an empty input, over a reduction's output and read by a reduction; and
// stop_gradient, which must compile to its input.
inline Cases pad_and_stop_gradient_cases() {
  std::mt19937_64 rng(17);
  Cases cs;
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean}) {
    for (int rep = 0; rep < 3; ++rep) {
      Shape s = random_shape(rng, 1 + rep, 6);
      std::vector<int64_t> low, high;
      for (int d = 0; d < s.rank(); ++d) {
        low.push_back(static_cast<int64_t>(rng() % 3));
        high.push_back(static_cast<int64_t>(rng() % 3));
      }
      double value = dt == DType::boolean ? 1.0 : is_float(dt) ? 1.5 : -3.0;
      std::string name = std::string("pad ") + dtype_name(dt) + " " + s.to_string();
      ParityOptions o;
      o.rtol = is_float(dt) ? default_rtol(dt) : 0;
      cs.push_back(make_case(name, [&](Builder& b) {
        Tensor x = b.input("x", {dt, s});
        b.output("pad", pad(x, low, high, value));
        b.output("sg", stop_gradient(x));
        // A value that is zero-size along axis 0 padded back to size 2: all `value`.
        std::vector<int64_t> lo0(s.rank(), 0), hi0(s.rank(), 0);
        lo0[0] = hi0[0] = 1;
        b.output("pad_empty", pad(slice(x, 0, 0, 0), lo0, hi0, value));
        if (dt == DType::boolean) {
          b.output("pad_fused", logical_not(pad(logical_and(x, stop_gradient(x)), low, high)));
          return;
        }
        Tensor inner = is_float(dt) ? exp(mul(x, scalar_like(x, 0.1))) : add(x, x);
        Tensor padded = pad(inner, low, high, value);
        b.output("pad_fused", mul(padded, scalar_like(padded, 2.0)));
        b.output("sg_fused", mul(stop_gradient(add(x, x)), x));
        b.output("pad_sum", sum(pad(x, low, high, value), {0}));
        b.output("sum_pad", pad(sum(x, {s.rank() - 1}, /*keepdims=*/true), low, high, value));
      }, o));
    }
  }
  return cs;
}

inline Cases leaf_and_indexing_cases() {
  Cases cs;
  for (DType idt : {DType::i32, DType::i64}) {
    ParityOptions o;
    o.gens["idx"] = indices(10);
    cs.push_back(make_case(std::string("indices ") + dtype_name(idt), [&](Builder& b) {
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
    }, o));
  }
  return cs;
}

inline Cases matmul_cases() {
  std::mt19937_64 rng(3);
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    for (int rep = 0; rep < 12; ++rep) {
      int64_t m = 1 + rng() % 40, n = 1 + rng() % 40, k = 1 + rng() % 40;
      bool ta = rep & 1, tb = rep & 2, batched = rep & 4;
      Shape as = ta ? Shape{k, m} : Shape{m, k};
      Shape bs = tb ? Shape{n, k} : Shape{k, n};
      if (batched) {
        as.dims.insert(as.dims.begin(), 3);
        bs.dims.insert(bs.dims.begin(), 3);
      }
      std::string name = "m=" + std::to_string(m) + " n=" + std::to_string(n) +
                         " k=" + std::to_string(k) + " ta=" + std::to_string(ta) +
                         " tb=" + std::to_string(tb) + " " + dtype_name(dt);
      cs.push_back(make_case(name, [&](Builder& b) {
        Tensor a = b.input("a", {dt, as});
        Tensor bb = b.input("b", {dt, bs});
        Tensor c = matmul(ta ? transpose(a) : a, tb ? transpose(bb) : bb);
        b.output("c", c);
        b.output("c_relu", relu(add(c, scalar_like(c, 0.1))));
      }));
    }
  }
  // Integer matmul lowers to a loop reduction.
  cs.push_back(make_case("i32 matmul", [](Builder& b) {
    Tensor a = b.input("a", {DType::i32, Shape{5, 7}});
    Tensor bb = b.input("b", {DType::i32, Shape{7, 3}});
    b.output("c", matmul(a, bb));
  }));
  return cs;
}

inline Cases rng_cases() {
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    cs.push_back(make_case(std::string("rng ") + dtype_name(dt), [&](Builder& b) {
      Tensor counter = b.state("step", {DType::i64, Shape{}}, StateKind::RngCounter);
      Tensor u = rng_uniform(b, Shape{7, 33}, counter, 1234, dt);
      Tensor nrm = rng_normal(b, Shape{5, 17}, counter, 99, dt);
      b.output("u", u);
      b.output("u2", add(u, u));
      b.output("n", nrm);
      b.update_state(counter, add(counter, b.constant(1, {DType::i64, Shape{}})));
    }));
  }
  return cs;
}

inline ParityCase state_update_case() {
  ParityOptions o;
  o.runs = 3;
  return make_case("state updates", [](Builder& b) {
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
  }, o);
}

// Gradients are ordinary IR, so compiling a differentiated graph checks the gradient
// rules' graphs in the JIT: tied maxima (reduce_max splits evenly, maximum/minimum give
// half to each side), slice and pad gradients (pads and slices), stop_gradient.
inline Cases gradient_cases() {
  Cases cs;
  for (DType dt : {DType::f32, DType::f64}) {
    ParityOptions o;
    o.gens["x"] = o.gens["y"] = ties();
    cs.push_back(make_case(std::string("gradients with ties ") + dtype_name(dt), [&](Builder& b) {
      TensorType t{dt, Shape{4, 6}};
      Tensor x = b.input("x", t);
      Tensor y = b.input("y", t);
      Tensor w = b.constant_data({1, -2, 3, 0.5}, {dt, Shape{4}});
      Tensor loss = sum(mul(max(x, {1}), w));
      loss = add(loss, sum(max(x, {0}, /*keepdims=*/true)));
      loss = add(loss, sum(maximum(x, y)));
      loss = add(loss, sum(mul(minimum(x, y), x)));
      loss = add(loss, sum(mul(slice(x, 1, 1, 6, 2), stop_gradient(slice(y, 1, 0, 5, 2)))));
      loss = add(loss, sum(mul(pad(y, {1, 0}, {0, 2}, 0.5), pad(x, {0, 1}, {1, 1}))));
      Graph& g = b.graph();
      Expected<std::vector<Value>> grads = gradients(g, loss.value(), {x.value(), y.value()});
      INFO((grads.ok() ? std::string() : grads.error().message()));
      REQUIRE(grads.ok());
      b.output("loss", loss);
      b.output("dx", Tensor(&b, (*grads)[0]));
      b.output("dy", Tensor(&b, (*grads)[1]));
    }, o));
  }
  return cs;
}

}  // namespace kiln::test
