// Max, average and adaptive average pooling and their gradients at the IR level: shape
// rules (valid geometries and one message per error), reference values on hand-checked
// cases (PyTorch's first-maximum rule for the stored indices with ties, NaN, padding and
// all -inf windows; count_include_pad;
// adaptive windows of non-divisible sizes), each grad reference against its pool (adjoint
// identities), finite-difference gradient checks of every rule to second order, and text
// and flatbuffers round trips.
#include <limits>

#include "ir/gradcheck.h"
#include "ir/op_eval.h"
#include "ir/printer.h"
#include "ir/serialize.h"

namespace kiln {
namespace {

using gradcheck::f64;
using namespace optest;

TensorType i32(std::vector<int64_t> d) { return TensorType{DType::i32, Shape(std::move(d))}; }

Pool2dOptions pool(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                   std::array<int64_t, 2> padding = {0, 0}, bool count_include_pad = true) {
  return Pool2dOptions{kernel, stride, padding, count_include_pad};
}

Build max_pool(Pool2dOptions o) {
  return [o](std::vector<Tensor>& x) { return max_pool2d(x[0], o); };
}
Build max_pool_indices(Pool2dOptions o) {
  return [o](std::vector<Tensor>& x) { return max_pool2d_indices(x[0], o); };
}
// max_pool2d_grad of inputs (indices, dy), for an x of spatial size `size`.
Build max_pool_grad(std::array<int64_t, 2> size, Pool2dOptions o) {
  return [=](std::vector<Tensor>& x) { return max_pool2d_grad(x[0], x[1], size, o); };
}
// max_pool2d's gradient rule: max_pool2d_grad(max_pool2d_indices(x), dy), inputs (x, dy).
Build max_pool_backward(Pool2dOptions o) {
  return [o](std::vector<Tensor>& x) {
    return max_pool2d_grad(max_pool2d_indices(x[0], o), x[1], {x[0].shape()[2], x[0].shape()[3]},
                           o);
  };
}
Build avg_pool(Pool2dOptions o) {
  return [o](std::vector<Tensor>& x) { return avg_pool2d(x[0], o); };
}
Build avg_pool_grad(std::array<int64_t, 2> size, Pool2dOptions o) {
  return [=](std::vector<Tensor>& x) { return avg_pool2d_grad(x[0], size, o); };
}
Build adaptive(std::array<int64_t, 2> out) {
  return [out](std::vector<Tensor>& x) { return adaptive_avg_pool2d(x[0], out); };
}
Build adaptive_grad(std::array<int64_t, 2> size) {
  return [size](std::vector<Tensor>& x) { return adaptive_avg_pool2d_grad(x[0], size); };
}

// An op built from raw attributes, for attribute values the builders never write.
Build raw(OpKind op, AttrMap attrs) {
  return [=](std::vector<Tensor>& x) { return x[0].builder()->op(op, x, attrs, {}); };
}

std::vector<double> times(std::vector<double> v, double s) {
  for (double& x : v) x *= s;
  return v;
}

}  // namespace

TEST_CASE("pooling: shape rules of valid geometries", "[pool]") {
  const TensorType x = f32({2, 3, 8, 8});
  CHECK(build({x}, max_pool({})).shape == Shape{2, 3, 4, 4});  // default 2x2, stride 2
  CHECK(build({f32({1, 2, 5, 6})}, max_pool(pool({3, 3}, {2, 2}, {1, 1}))).shape ==
        Shape{1, 2, 3, 3});
  CHECK(build({f32({1, 2, 5, 6})}, avg_pool(pool({3, 2}, {1, 2}, {1, 0}))).shape ==
        Shape{1, 2, 5, 3});
  CHECK(build({f32({1, 2, 5, 6})}, max_pool_indices(pool({3, 3}, {2, 2}, {1, 1}))).shape ==
        Shape{1, 2, 3, 3});
  CHECK(build({i32({1, 1, 2, 2}), f32({1, 1, 2, 2})}, max_pool_grad({4, 4}, {})).shape ==
        Shape{1, 1, 4, 4});
  CHECK(build({i32({1, 1, 2, 2}), f32({1, 1, 2, 2})}, max_pool_grad({5, 4}, {})).shape ==
        Shape{1, 1, 5, 4});
  // 8 and 9 rows both pool to 4 with kernel 2, stride 2.
  CHECK(build({f32({2, 3, 4, 4})}, avg_pool_grad({8, 8}, {})).shape == Shape{2, 3, 8, 8});
  CHECK(build({f32({2, 3, 4, 4})}, avg_pool_grad({9, 8}, {})).shape == Shape{2, 3, 9, 8});
  CHECK(build({f32({1, 2, 5, 7})}, adaptive({3, 2})).shape == Shape{1, 2, 3, 2});
  CHECK(build({f32({1, 2, 5, 7})}, adaptive({7, 9})).shape == Shape{1, 2, 7, 9});  // upsampling
  CHECK(build({f32({1, 2, 3, 2})}, adaptive_grad({5, 7})).shape == Shape{1, 2, 5, 7});
}

TEST_CASE("pooling: shape errors name the problem", "[pool]") {
  struct Err {
    const char* what;
    std::vector<TensorType> ins;
    Build f;
    const char* message;
  };
  const TensorType x = f32({1, 1, 4, 4});
  const AttrMap k2{{"kernel", std::vector<int64_t>{2, 2}},
                   {"stride", std::vector<int64_t>{2, 2}},
                   {"padding", std::vector<int64_t>{0, 0}},
                   {"count_include_pad", int64_t{2}}};
  const std::vector<Err> errs = {
      {"rank", {f32({1, 4, 4})}, max_pool({}), "x must have rank 4 [N, C, H, W], got f32[1,4,4]"},
      {"float only", {TensorType{DType::i64, Shape{1, 1, 4, 4}}}, avg_pool({}),
       "x must be f32 or f64, got i64[1,1,4,4]"},
      {"kernel 0", {x}, max_pool(pool({0, 2}, {1, 1})), "kernel must be >= 1, got [0,2]"},
      {"stride 0", {x}, avg_pool(pool({2, 2}, {2, 0})), "stride must be >= 1, got [2,0]"},
      {"negative padding", {x}, max_pool(pool({2, 2}, {1, 1}, {-1, 0})),
       "padding must be >= 0, got [-1,0]"},
      {"padding > kernel/2", {x}, max_pool(pool({3, 3}, {1, 1}, {2, 0})),
       "padding 2x0 must be at most half the kernel 3x3"},
      {"padding > kernel/2 (avg)", {x}, avg_pool(pool({1, 1}, {1, 1}, {0, 1})),
       "padding 0x1 must be at most half the kernel 1x1"},
      {"kernel too large", {x}, avg_pool(pool({5, 5}, {1, 1})),
       "kernel 5x5 is larger than the padded input 4x4"},
      {"kernel too large with padding", {f32({1, 1, 4, 2})}, max_pool(pool({3, 5}, {1, 1}, {1, 1})),
       "kernel 3x5 is larger than the padded input 6x4"},
      {"empty input", {f32({1, 1, 0, 4})}, max_pool(pool({1, 1}, {1, 1})),
       "the input must be at least 1x1, got 0x4"},
      {"count_include_pad", {x}, raw(OpKind::AvgPool2d, k2),
       "count_include_pad must be 0 or 1, got 2"},
      {"max indices: float only", {TensorType{DType::i32, Shape{1, 1, 4, 4}}},
       max_pool_indices({}), "x must be f32 or f64, got i32[1,1,4,4]"},
      {"max indices: plane too large for i32", {f32({1, 1, 1 << 16, 1 << 15})},
       max_pool_indices({}),
       "the input plane 65536x32768 has more positions than i32 indices hold"},
      {"max grad: dy shape", {i32({1, 1, 2, 2}), f32({1, 1, 3, 3})}, max_pool_grad({4, 4}, {}),
       "dy is f32[1,1,3,3], but max_pool2d of x [1,1,4,4] gives f32[1,1,2,2]"},
      {"max grad: indices shape", {i32({1, 1, 3, 3}), f32({1, 1, 2, 2})},
       max_pool_grad({4, 4}, {}),
       "indices are i32[1,1,3,3], but max_pool2d_indices of x [1,1,4,4] gives i32[1,1,2,2]"},
      {"max grad: indices dtype", {TensorType{DType::i64, Shape{1, 1, 2, 2}}, f64({1, 1, 2, 2})},
       max_pool_grad({4, 4}, {}),
       "indices are i64[1,1,2,2], but max_pool2d_indices of x [1,1,4,4] gives i32[1,1,2,2]"},
      {"max grad: input_size", {i32({1, 1, 2, 2}), f32({1, 1, 2, 2})}, max_pool_grad({4, -1}, {}),
       "input_size must be >= 0, got [4,-1]"},
      {"avg grad: dy shape", {f32({1, 1, 3, 3})}, avg_pool_grad({4, 4}, {}),
       "dy is f32[1,1,3,3], but avg_pool2d of x [1,1,4,4] gives f32[1,1,2,2]"},
      {"avg grad: input_size", {f32({1, 1, 2, 2})}, avg_pool_grad({-4, 4}, {}),
       "input_size must be >= 0, got [-4,4]"},
      {"adaptive: output_size", {x}, adaptive({0, 2}), "output_size must be >= 1, got [0,2]"},
      {"adaptive grad: input_size", {f32({1, 1, 2, 2})}, adaptive_grad({0, 5}),
       "the input must be at least 1x1, got 0x5"},
      {"adaptive grad: output_size",
       {f32({1, 1, 2, 2})},
       raw(OpKind::AdaptiveAvgPool2dGrad, {{"output_size", std::vector<int64_t>{3, 3}},
                                           {"input_size", std::vector<int64_t>{5, 5}}}),
       "dy is f32[1,1,2,2], but adaptive_avg_pool2d of x [1,1,5,5] gives f32[1,1,3,3]"},
      {"adaptive grad: rank", {f32({2, 2})}, adaptive_grad({5, 5}),
       "dy must have rank 4 [N, C, H, W], got f32[2,2]"},
  };
  for (const Err& e : errs) {
    INFO(e.what);
    CHECK_THAT(build(e.ins, e.f).error, Catch::Contains(e.message));
  }
}

TEST_CASE("pooling: reference values on hand-checked cases", "[pool]") {
  const RefTensor x = test::ref(f64({1, 1, 4, 4}), ramp(16));  // rows 0..3, 4..7, ...
  CHECK(eval({x}, max_pool({})) == std::vector<double>{5, 7, 13, 15});
  CHECK(eval({x}, avg_pool({})) == std::vector<double>{2.5, 4.5, 10.5, 12.5});
  // Overlapping windows with padding: rows/cols [-1, 2) and [1, 4).
  CHECK(eval({x}, max_pool(pool({3, 3}, {2, 2}, {1, 1}))) == std::vector<double>{5, 7, 13, 15});
  // count_include_pad: the first window holds 0+1+4+5 = 10 over 4 inputs and 5 padded zeros.
  CHECK(eval({x}, avg_pool(pool({3, 3}, {2, 2}, {1, 1})))[0] == Approx(10.0 / 9));
  CHECK(eval({x}, avg_pool(pool({3, 3}, {2, 2}, {1, 1}, false)))[0] == Approx(2.5));
  const RefTensor ones = test::ref(f64({1, 1, 4, 4}), std::vector<double>(16, 1.0));
  const std::vector<double> counts = {4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4};
  CHECK_THAT(eval({ones}, avg_pool(pool({3, 3}, {1, 1}, {1, 1}))),
             Catch::Matchers::Approx(times(counts, 1.0 / 9)));
  CHECK(eval({ones}, avg_pool(pool({3, 3}, {1, 1}, {1, 1}, false))) ==
        std::vector<double>(16, 1.0));
  // Padding never wins a max, even over negative inputs.
  const RefTensor neg = test::ref(f64({1, 1, 3, 3}), std::vector<double>(9, -5.0));
  CHECK(eval({neg}, max_pool(pool({3, 3}, {2, 2}, {1, 1}))) == std::vector<double>(4, -5.0));

  // Adaptive, 5 -> 3: windows [0, 2), [1, 4), [3, 5), overlapping and uneven.
  CHECK(eval({test::ref(f64({1, 1, 5, 1}), ramp(5))}, adaptive({3, 1})) ==
        std::vector<double>{0.5, 2, 3.5});
  // In 2-D, mean(5r + c) = 5 mean(rows) + mean(cols).
  CHECK(eval({test::ref(f64({1, 1, 5, 5}), ramp(25))}, adaptive({3, 3})) ==
        std::vector<double>{3, 4.5, 6, 10.5, 12, 13.5, 18, 19.5, 21});
  // 2 -> 3 repeats inputs: windows [0, 1), [0, 2), [1, 2).
  CHECK(eval({test::ref(f64({1, 1, 1, 2}), {1, 3})}, adaptive({1, 3})) ==
        std::vector<double>{1, 2, 3});
  // 1x1 is the global average, per channel.
  CHECK(eval({test::ref(f64({1, 2, 2, 2}), {1, 2, 3, 4, 10, 20, 30, 40})}, adaptive({1, 1})) ==
        std::vector<double>{2.5, 25});
  // Its gradient spreads each dy evenly over the window: 5 -> 3 covers row 1 twice, row 3 twice.
  CHECK(eval({test::ref(f64({1, 1, 3, 1}), {2, 3, 4})}, adaptive_grad({5, 1})) ==
        std::vector<double>{1, 1 + 1, 1, 1 + 2, 2});
  // avg_pool2d_grad without padding counted: the corner input of a padded 3x3 window
  // shares the window with 3 other inputs.
  CHECK(eval({test::ref(f64({1, 1, 2, 2}), {4, 0, 0, 0})},
             avg_pool_grad({4, 4}, pool({3, 3}, {2, 2}, {1, 1}, false))) ==
        std::vector<double>{1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("max_pool2d_indices: each window's first maximum in row-major order", "[pool]") {
  // ih*W + iw within the plane: the second channel's indices are those of the first.
  const RefTensor x = test::ref(f64({1, 2, 4, 4}), ramp(32));
  CHECK(eval({x}, max_pool_indices({})) == std::vector<double>{5, 7, 13, 15, 5, 7, 13, 15});
  CHECK(eval({x}, max_pool_indices(pool({3, 3}, {2, 2}, {1, 1}))) ==
        std::vector<double>{5, 7, 13, 15, 5, 7, 13, 15});

  // Ties: the first maximum wins. Windows (2x2, stride 1) of
  //   0 7 7
  //   7 0 0
  //   0 0 7
  // have their first 7 at (0,1), (0,1), (1,0) and (2,2).
  const RefTensor tied = test::ref(f64({1, 1, 3, 3}), {0, 7, 7, 7, 0, 0, 0, 0, 7});
  CHECK(eval({tied}, max_pool_indices(pool({2, 2}, {1, 1}))) == std::vector<double>{1, 1, 3, 8});

  // Padding never wins, even over negative inputs or -inf: a window of equal values picks
  // its first input.
  const Pool2dOptions padded = pool({3, 3}, {2, 2}, {1, 1});
  const RefTensor flat = test::ref(f64({1, 1, 3, 3}), std::vector<double>(9, -5.0));
  CHECK(eval({flat}, max_pool_indices(padded)) == std::vector<double>{0, 1, 3, 4});
  const double inf = std::numeric_limits<double>::infinity();
  const RefTensor low = test::ref(f64({1, 1, 3, 3}), std::vector<double>(9, -inf));
  CHECK(eval({low}, max_pool_indices(padded)) == std::vector<double>{0, 1, 3, 4});

  // NaN counts as a maximum (PyTorch's `v > max || isnan(v)`): the max is NaN and the
  // index is the last NaN of the window.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const RefTensor with_nan = test::ref(f64({1, 1, 2, 2}), {1, nan, 2, nan});
  CHECK(std::isnan(eval({with_nan}, max_pool({}))[0]));
  CHECK(eval({with_nan}, max_pool_indices({})) == std::vector<double>{3});
  const RefTensor nan_first = test::ref(f64({1, 1, 2, 2}), {nan, 5, 1, 2});
  CHECK(eval({nan_first}, max_pool_indices({})) == std::vector<double>{0});
}

TEST_CASE("max_pool2d_grad: dy goes to each window's index", "[pool]") {
  const RefTensor d = test::ref(f64({1, 1, 2, 2}), {1, 2, 3, 4});
  auto ids = [](std::vector<double> v) { return test::ref(i32({1, 1, 2, 2}), std::move(v)); };
  std::vector<double> want(16, 0.0);
  want[5] = 1, want[7] = 2, want[13] = 3, want[15] = 4;
  CHECK(eval({ids({5, 7, 13, 15}), d}, max_pool_grad({4, 4}, {})) == want);
  // Overlapping windows sharing one index add up there.
  std::vector<double> sum4(9, 0.0);
  sum4[4] = 10;
  CHECK(eval({ids({4, 4, 4, 4}), d}, max_pool_grad({3, 3}, pool({2, 2}, {1, 1}))) == sum4);
  // Any position of the window may hold the index, its first (0) included.
  CHECK(eval({ids({0, 2, 6, 8}), d}, max_pool_grad({3, 3}, pool({2, 2}, {1, 1}))) ==
        std::vector<double>{1, 0, 2, 0, 0, 0, 3, 0, 4});
  // An index outside its window is an error (index 2 is not in the window of rows and
  // columns [0, 2)).
  Graph g;
  Builder b(g);
  b.output("dx", max_pool2d_grad(b.input("i", i32({1, 1, 2, 2})), b.input("dy", d.type), {4, 4},
                                 Pool2dOptions{}));
  REQUIRE(b.ok());
  Expected<InterpreterResult> r = interpret(g, {{"i", ids({2, 7, 13, 15})}, {"dy", d}});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("index 2 at position 0 is outside its window"));

  // As max_pool2d's gradient: the tied windows above send dy to (0,1) twice, (1,0), (2,2).
  const RefTensor tied = test::ref(f64({1, 1, 3, 3}), {0, 7, 7, 7, 0, 0, 0, 0, 7});
  CHECK(eval({tied, d}, max_pool_backward(pool({2, 2}, {1, 1}))) ==
        std::vector<double>{0, 1 + 2, 0, 3, 0, 0, 0, 0, 4});
}

TEST_CASE("max_pool2d_grad: its dy gradient reads g at each window's index", "[pool]") {
  // The finite-difference checks use distinct values; this covers ties and windows whose
  // maximum is -inf (only the first input position of the window may win, never padding).
  // ddy = d/d(dy) sum(max_pool2d_grad(max_pool2d_indices(x), dy) * g), built by autodiff.
  auto ddy = [](const RefTensor& x, const Pool2dOptions& o) {
    Graph gr;
    Builder b(gr);
    std::vector<Tensor> ins = {b.input("x", x.type),
                               b.input("dy", f64(build({x.type}, max_pool(o)).shape.dims))};
    Tensor g = b.input("g", x.type);
    Tensor loss = sum(mul(max_pool_backward(o)(ins), g));
    Expected<std::vector<Value>> grads = gradients(gr, loss.value(), {ins[1].value()});
    INFO((grads.ok() ? std::string() : grads.error().message()));
    REQUIRE(grads.ok());
    gr.add_output("ddy", (*grads)[0]);
    std::map<std::string, RefTensor> feeds = {
        {"x", x}, {"dy", test::ref(ins[1].type(), std::vector<double>(ins[1].numel(), 0.0))},
        {"g", test::ref(x.type, ramp(x.type.shape.numel()))}};
    return test::run_output(gr, feeds, "ddy").data;
  };
  // g = 0, 1, 2, ... per plane offset: ddy holds the flat index of each window's first
  // maximum in x (plane 1 starts at 9).
  const RefTensor tied =
      test::ref(f64({1, 2, 3, 3}), {0, 7, 7, 7, 0, 0, 0, 0, 7, 1, 1, 1, 1, 2, 2, 1, 3, 1});
  CHECK(ddy(tied, pool({2, 2}, {1, 1})) == std::vector<double>{1, 1, 3, 8, 13, 13, 16, 16});
  const double inf = std::numeric_limits<double>::infinity();
  const RefTensor low = test::ref(f64({1, 1, 3, 3}), std::vector<double>(9, -inf));
  CHECK(ddy(low, pool({3, 3}, {2, 2}, {1, 1})) == std::vector<double>{0, 1, 3, 4});
}

TEST_CASE("pooling: each grad reference is the adjoint of its pool", "[pool]") {
  // <pool(x), dy> = <x, pool_grad(dy)>; for max pooling, <max_pool2d(x), dy> =
  // <x, max_pool2d_grad(max_pool2d_indices(x), dy)> since each output is one input.
  std::mt19937_64 rng(5);
  const std::vector<int64_t> xs = {2, 3, 7, 6};
  auto draw = [&](std::vector<int64_t> d) {
    return test::ref(f64(d), test::uniform_data(rng, Shape(d).numel(), -1, 1));
  };
  auto dot = [](const Tensor& a, const Tensor& b) { return sum(mul(a, b)); };
  const std::vector<Pool2dOptions> options = {
      pool({3, 3}, {2, 2}, {1, 1}), pool({3, 3}, {2, 2}, {1, 1}, false),
      pool({2, 3}, {1, 2}, {1, 0}), pool({3, 2}, {3, 1}, {0, 1}, false)};
  for (const Pool2dOptions& o : options) {
    INFO("kernel " << o.kernel[0] << "x" << o.kernel[1] << " include pad " << o.count_include_pad);
    const Shape y = build({f64(xs)}, avg_pool(o)).shape;
    const std::vector<RefTensor> ins = {draw(xs), draw(y.dims)};
    const double a =
        eval(ins, [&](std::vector<Tensor>& t) { return dot(avg_pool2d(t[0], o), t[1]); })[0];
    const double b = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(t[0], avg_pool2d_grad(t[1], {xs[2], xs[3]}, o));
    })[0];
    CHECK(b == Approx(a).margin(1e-12));
    const double m =
        eval(ins, [&](std::vector<Tensor>& t) { return dot(max_pool2d(t[0], o), t[1]); })[0];
    const double mg = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(t[0], max_pool_backward(o)(t));
    })[0];
    CHECK(mg == Approx(m).margin(1e-12));
  }
  for (std::array<int64_t, 2> out : {std::array<int64_t, 2>{3, 4}, {5, 5}, {1, 1}, {9, 2}}) {
    INFO("adaptive to " << out[0] << "x" << out[1]);
    const std::vector<RefTensor> ins = {draw(xs), draw({xs[0], xs[1], out[0], out[1]})};
    const double a = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(adaptive_avg_pool2d(t[0], out), t[1]);
    })[0];
    const double b = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(t[0], adaptive_avg_pool2d_grad(t[1], {xs[2], xs[3]}));
    })[0];
    CHECK(b == Approx(a).margin(1e-12));
  }
}

TEST_CASE("pooling: gradient rules match finite differences, first and second order",
          "[pool][gradcheck]") {
  std::mt19937_64 rng(9);
  auto distinct = [&](std::vector<int64_t> d) {
    return gradcheck::Input{f64(d), gradcheck::distinct_values(rng, Shape(d).numel())};
  };
  const Pool2dOptions k3s2p1 = pool({3, 3}, {2, 2}, {1, 1});
  const Pool2dOptions odd = pool({2, 3}, {1, 2}, {1, 1});
  std::vector<gradcheck::Case> cases = {
      {"max_pool2d 3x3 stride 2 padding 1 (overlapping)", {distinct({1, 2, 5, 6})},
       max_pool(k3s2p1)},
      {"max_pool2d 2x2", {distinct({2, 1, 4, 4})}, max_pool({})},
      {"max_pool2d 2x3 stride 1x2 padding 1", {distinct({1, 1, 4, 5})}, max_pool(odd)},
      {"max_pool2d_grad", {distinct({1, 2, 5, 6}), {f64({1, 2, 3, 3})}},
       max_pool_backward(k3s2p1)},
      {"max_pool2d_grad 2x3", {distinct({1, 1, 4, 5}), {f64({1, 1, 5, 3})}},
       max_pool_backward(odd)},
      {"avg_pool2d count_include_pad", {{f64({1, 2, 5, 6})}}, avg_pool(k3s2p1)},
      {"avg_pool2d without padding counted", {{f64({1, 2, 5, 6})}},
       avg_pool(pool({3, 3}, {2, 2}, {1, 1}, false))},
      {"avg_pool2d 2x3", {{f64({2, 1, 4, 5})}}, avg_pool(odd)},
      {"avg_pool2d_grad", {{f64({1, 2, 3, 3})}}, avg_pool_grad({5, 6}, k3s2p1)},
      {"avg_pool2d_grad without padding counted", {{f64({1, 2, 3, 3})}},
       avg_pool_grad({5, 6}, pool({3, 3}, {2, 2}, {1, 1}, false))},
      {"adaptive_avg_pool2d 5x7 -> 3x2", {{f64({1, 2, 5, 7})}}, adaptive({3, 2})},
      {"adaptive_avg_pool2d 2x3 -> 3x5 (upsampling)", {{f64({1, 1, 2, 3})}}, adaptive({3, 5})},
      {"adaptive_avg_pool2d global", {{f64({2, 2, 3, 3})}}, adaptive({1, 1})},
      {"adaptive_avg_pool2d_grad 3x2 -> 5x7", {{f64({1, 2, 3, 2})}}, adaptive_grad({5, 7})},
  };
  std::set<OpKind> covered;
  for (const gradcheck::Case& c : cases) gradcheck::run(c, rng, &covered);
  for (OpKind op : {OpKind::MaxPool2d, OpKind::MaxPool2dIndices, OpKind::MaxPool2dGrad,
                    OpKind::AvgPool2d, OpKind::AvgPool2dGrad, OpKind::AdaptiveAvgPool2d,
                    OpKind::AdaptiveAvgPool2dGrad})
    CHECK(covered.count(op) == 1);
}

TEST_CASE("pooling: graphs round-trip through text and flatbuffers", "[pool][printer][serialize]") {
  Graph g("pool ops");
  Builder b(g);
  const Pool2dOptions o = pool({3, 2}, {2, 1}, {1, 1}, false);
  Tensor x = b.input("x", f32({2, 3, 7, 6}));
  Tensor m = max_pool2d(x, o);
  b.output("dmax", max_pool2d_grad(max_pool2d_indices(x, o), m, {7, 6}, o));
  Tensor a = avg_pool2d(x, o);
  b.output("davg", avg_pool2d_grad(a, {7, 6}, o));
  Tensor ad = adaptive_avg_pool2d(x, {3, 4});
  b.output("dadaptive", adaptive_avg_pool2d_grad(ad, {7, 6}));
  REQUIRE(b.ok());
  check_round_trips(g, "pool.kgraph");
}

}  // namespace kiln
