// conv2d, conv2d_input_grad and conv2d_weight_grad at the IR level: shape rules (valid
// geometries and one message per error), reference values on hand-checked cases, the
// reference against an im2col + matmul built from primitives, the three references
// against each other (they are adjoints), finite-difference gradient checks of every
// rule to second order, and text and flatbuffers round trips.
#include "ir/gradcheck.h"
#include "ir/op_eval.h"
#include "ir/printer.h"
#include "ir/serialize.h"

namespace kiln {
namespace {

using gradcheck::f64;
using namespace optest;

Build conv(Conv2dOptions o = {}) {
  return [o](std::vector<Tensor>& x) { return conv2d(x[0], x[1], o); };
}
Build input_grad(std::array<int64_t, 2> size, Conv2dOptions o = {}) {
  return [=](std::vector<Tensor>& x) { return conv2d_input_grad(x[0], x[1], size, o); };
}
Build weight_grad(std::array<int64_t, 2> size, Conv2dOptions o = {}) {
  return [=](std::vector<Tensor>& x) { return conv2d_weight_grad(x[0], x[1], size, o); };
}

Conv2dOptions opts(std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                   std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1) {
  return Conv2dOptions{stride, padding, dilation, groups};
}

// conv2d from primitives: zero padding, one strided slice per kernel tap, the taps stacked
// into columns [N, C/groups * KH * KW, OH * OW] and multiplied by w as [F/groups, ...],
// group by group.
Tensor conv_by_matmul(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  const Shape xs = x.shape(), ws = w.shape();
  const int64_t G = o.groups, CG = ws[1], FG = ws[0] / G, KH = ws[2], KW = ws[3];
  const int64_t OH = (xs[2] + 2 * o.padding[0] - o.dilation[0] * (KH - 1) - 1) / o.stride[0] + 1;
  const int64_t OW = (xs[3] + 2 * o.padding[1] - o.dilation[1] * (KW - 1) - 1) / o.stride[1] + 1;
  const Tensor xp = pad(x, {0, 0, o.padding[0], o.padding[1]}, {0, 0, o.padding[0], o.padding[1]});
  std::vector<Tensor> groups;
  for (int64_t g = 0; g < G; ++g) {
    const Tensor xg = slice(xp, 1, g * CG, (g + 1) * CG);
    std::vector<Tensor> taps;
    for (int64_t i = 0; i < KH; ++i)
      for (int64_t j = 0; j < KW; ++j) {
        const int64_t r = i * o.dilation[0], c = j * o.dilation[1];
        Tensor t = slice(xg, 2, r, r + (OH - 1) * o.stride[0] + 1, o.stride[0]);
        t = slice(t, 3, c, c + (OW - 1) * o.stride[1] + 1, o.stride[1]);
        taps.push_back(reshape(t, Shape{xs[0], CG, 1, OH * OW}));
      }
    const Tensor cols = reshape(concat(taps, 2), Shape{xs[0], CG * KH * KW, OH * OW});
    const Tensor wg = reshape(slice(w, 0, g * FG, (g + 1) * FG), Shape{FG, CG * KH * KW});
    groups.push_back(matmul(wg, cols));
  }
  return reshape(concat(groups, 1), Shape{xs[0], ws[0], OH, OW});
}

// A convolution geometry for the randomized checks: x [N, C, H, W], w [F, C/G, KH, KW].
struct Geometry {
  std::vector<int64_t> x, w;
  Conv2dOptions o;
  std::array<int64_t, 2> hw() const { return {x[2], x[3]}; }
  std::array<int64_t, 2> kernel() const { return {w[2], w[3]}; }
};

const std::vector<Geometry> kGeometries = {
    {{2, 3, 5, 5}, {4, 3, 3, 3}, {}},
    {{1, 2, 6, 7}, {3, 2, 3, 2}, opts({2, 3}, {1, 2})},
    {{1, 2, 7, 6}, {2, 2, 2, 3}, opts({1, 1}, {1, 0}, {2, 1})},
    {{1, 4, 5, 5}, {6, 2, 3, 3}, opts({2, 2}, {1, 1}, {1, 1}, 2)},
    {{2, 3, 4, 5}, {6, 1, 2, 2}, opts({1, 2}, {0, 1}, {1, 1}, 3)},
    {{1, 6, 7, 8}, {3, 2, 3, 3}, opts({2, 1}, {2, 1}, {2, 3}, 3)},
};

std::vector<int64_t> output_dims(const Geometry& g) {
  Built b = build({f64(g.x), f64(g.w)}, conv(g.o));
  REQUIRE(b.error == "");
  return b.shape.dims;
}

}  // namespace

TEST_CASE("conv2d: shape rules of valid geometries", "[conv]") {
  CHECK(build({f32({2, 3, 8, 8}), f32({4, 3, 3, 3})}, conv()).shape == Shape{2, 4, 6, 6});
  CHECK(build({f32({2, 3, 8, 8}), f32({4, 3, 3, 3})}, conv(opts({2, 2}, {1, 1}))).shape ==
        Shape{2, 4, 4, 4});
  CHECK(build({f32({2, 3, 8, 8}), f32({4, 3, 3, 3})}, conv(opts({1, 1}, {0, 0}, {2, 2}))).shape ==
        Shape{2, 4, 4, 4});
  // Non-square everything: OH = (7 + 2 - 2 - 1)/2 + 1 = 4, OW = (9 - 2*1 - 1)/1 + 1 = 7.
  CHECK(build({f64({1, 2, 7, 9}), f64({6, 1, 3, 2})}, conv(opts({2, 1}, {1, 0}, {1, 2}, 2)))
            .shape == Shape{1, 6, 4, 7});
  // The floor: 8 rows, kernel 3, stride 2 -> 3 (the last row is never read).
  CHECK(build({f32({1, 1, 8, 8}), f32({1, 1, 3, 3})}, conv(opts({2, 2}, {0, 0}))).shape ==
        Shape{1, 1, 3, 3});
  // A kernel exactly as large as the padded input.
  CHECK(build({f32({1, 1, 3, 3}), f32({2, 1, 5, 5})}, conv(opts({1, 1}, {1, 1}))).shape ==
        Shape{1, 2, 1, 1});

  // The gradients: the transposed convolution may target any input size that conv2d maps
  // onto dy (7 and 8 both give 4 with kernel 3, stride 2, padding 1).
  const Conv2dOptions s2 = opts({2, 2}, {1, 1});
  CHECK(build({f32({2, 4, 4, 4}), f32({4, 3, 3, 3})}, input_grad({8, 8}, s2)).shape ==
        Shape{2, 3, 8, 8});
  CHECK(build({f32({2, 4, 4, 4}), f32({4, 3, 3, 3})}, input_grad({7, 8}, s2)).shape ==
        Shape{2, 3, 7, 8});
  CHECK(build({f32({2, 3, 8, 8}), f32({2, 4, 4, 4})}, weight_grad({3, 3}, s2)).shape ==
        Shape{4, 3, 3, 3});
  const Conv2dOptions g2 = opts({1, 1}, {0, 0}, {1, 1}, 2);
  CHECK(build({f32({1, 6, 3, 3}), f32({6, 2, 3, 3})}, input_grad({5, 5}, g2)).shape ==
        Shape{1, 4, 5, 5});
  CHECK(build({f32({1, 4, 5, 5}), f32({1, 6, 3, 3})}, weight_grad({3, 3}, g2)).shape ==
        Shape{6, 2, 3, 3});
}

TEST_CASE("conv2d: shape errors name the problem", "[conv]") {
  struct Err {
    const char* what;
    std::vector<TensorType> ins;
    Build f;
    const char* message;
  };
  const TensorType x = f32({1, 3, 8, 8}), w = f32({4, 3, 3, 3});
  const std::vector<Err> errs = {
      {"x rank", {f32({1, 3, 8}), w}, conv(), "x must have rank 4 [N, C, H, W], got f32[1,3,8]"},
      {"w rank", {x, f32({4, 3, 3})}, conv(), "w must have rank 4 [N, C, H, W], got f32[4,3,3]"},
      {"dtypes", {x, f64({4, 3, 3, 3})}, conv(),
       "dtypes differ: x is f32[1,3,8,8], w is f64[4,3,3,3]"},
      {"float only",
       {TensorType{DType::i32, Shape{1, 3, 8, 8}}, TensorType{DType::i32, Shape{4, 3, 3, 3}}},
       conv(), "x must be f32 or f64, got i32[1,3,8,8]"},
      {"C % groups", {x, f32({4, 1, 3, 3})}, conv(opts({1, 1}, {0, 0}, {1, 1}, 2)),
       "input channels 3 are not divisible by groups 2"},
      {"w channels", {f32({1, 4, 8, 8}), f32({4, 4, 3, 3})}, conv(opts({1, 1}, {0, 0}, {1, 1}, 2)),
       "w [4,4,3,3] has 4 input channels per filter, expected C/groups = 4/2 = 2"},
      {"w channels, no groups", {x, f32({4, 2, 3, 3})}, conv(),
       "w [4,2,3,3] has 2 input channels per filter, expected C/groups = 3/1 = 3"},
      {"F % groups", {f32({1, 4, 8, 8}), f32({3, 2, 3, 3})}, conv(opts({1, 1}, {0, 0}, {1, 1}, 2)),
       "output channels 3 are not divisible by groups 2"},
      {"stride 0", {x, w}, conv(opts({0, 1}, {0, 0})), "stride must be >= 1, got [0,1]"},
      {"stride huge", {x, w}, conv(opts({1, 2000000}, {0, 0})),
       "stride must be <= 1048576, got [1,2000000]"},
      {"dilation 0", {x, w}, conv(opts({1, 1}, {0, 0}, {1, 0})),
       "dilation must be >= 1, got [1,0]"},
      {"padding < 0", {x, w}, conv(opts({1, 1}, {-1, 0})), "padding must be >= 0, got [-1,0]"},
      {"groups 0", {x, w}, conv(opts({1, 1}, {0, 0}, {1, 1}, 0)),
       "groups must be in [1, 1048576], got 0"},
      {"kernel too large", {f32({1, 1, 4, 4}), f32({1, 1, 5, 5})}, conv(),
       "kernel 5x5 (dilation 1x1) is larger than the padded input 4x4"},
      {"dilated kernel too large", {f32({1, 1, 5, 6}), f32({1, 1, 3, 3})},
       conv(opts({1, 1}, {0, 1}, {3, 3})),
       "kernel 3x3 (dilation 3x3) is larger than the padded input 5x8"},
      {"input grad: dy size", {f32({1, 4, 5, 5}), w}, input_grad({8, 8}),
       "conv2d of x [1,3,8,8] with w [4,3,3,3] gives [1,4,6,6], but dy is [1,4,5,5]"},
      {"input grad: dy channels", {f32({1, 5, 6, 6}), w}, input_grad({8, 8}),
       "gives [1,4,6,6], but dy is [1,5,6,6]"},
      {"input grad: input_size", {f32({1, 4, 6, 6}), w}, input_grad({-1, 8}),
       "input_size must be >= 0, got [-1,8]"},
      {"input grad: dtypes", {f64({1, 4, 6, 6}), w}, input_grad({8, 8}),
       "dtypes differ: dy is f64[1,4,6,6], w is f32[4,3,3,3]"},
      {"weight grad: dy size", {x, f32({1, 4, 5, 5})}, weight_grad({3, 3}),
       "conv2d of x [1,3,8,8] with w [4,3,3,3] gives [1,4,6,6], but dy is [1,4,5,5]"},
      {"weight grad: batch", {x, f32({2, 4, 6, 6})}, weight_grad({3, 3}),
       "gives [1,4,6,6], but dy is [2,4,6,6]"},
      {"weight grad: kernel_size", {x, f32({1, 4, 6, 6})}, weight_grad({0, 3}),
       "kernel_size must be >= 1, got [0,3]"},
      {"weight grad: groups", {x, f32({1, 4, 6, 6})},
       weight_grad({3, 3}, opts({1, 1}, {0, 0}, {1, 1}, 2)),
       "input channels 3 are not divisible by groups 2"},
  };
  for (const Err& e : errs) {
    INFO(e.what);
    CHECK_THAT(build(e.ins, e.f).error, Catch::Contains(e.message));
  }
}

TEST_CASE("conv2d: an error names the op, the operands and the user's line", "[conv]") {
  Graph g;
  Builder b(g);
  Tensor x = b.input("x", f32({1, 1, 4, 4}));
  Tensor w = b.input("w", f32({1, 1, 5, 5}));
  int line = __LINE__ + 1;
  Tensor y = conv2d(x, w);
  CHECK_FALSE(y.valid());
  const std::string msg = b.status().error().message();
  CHECK_THAT(msg, Catch::Contains("conv2d(f32[1,1,4,4], f32[1,1,5,5])"));
  CHECK_THAT(msg, Catch::Contains("conv_ops_test.cpp:" + std::to_string(line)));
}

TEST_CASE("conv2d: attribute lists of the wrong length are errors", "[conv]") {
  Graph g;
  Value x = *g.add_leaf(OpKind::Input, f32({1, 1, 4, 4}), {}, {}, "x");
  Value w = *g.add_leaf(OpKind::Input, f32({1, 1, 3, 3}), {}, {}, "w");
  AttrMap a{{"stride", std::vector<int64_t>{1, 1, 1}},
            {"padding", std::vector<int64_t>{0, 0}},
            {"dilation", std::vector<int64_t>{1, 1}},
            {"groups", int64_t{1}}};
  Expected<Value> v = g.add(OpKind::Conv2d, {x, w}, a);
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message(),
             Catch::Contains("stride must have 2 entries (height, width), got [1,1,1]"));
  a.set("stride", std::vector<int64_t>{1, 1});
  a.set("groups", 1.0);  // a float where an int is declared: the registry's AttrSpec says so
  CHECK_FALSE(g.add(OpKind::Conv2d, {x, w}, a).ok());
}

TEST_CASE("conv2d: reference values on hand-checked cases", "[conv]") {
  const RefTensor x = test::ref(f64({1, 1, 4, 4}), ramp(16));  // rows 0..3, 4..7, ...
  const RefTensor ones3 = test::ref(f64({1, 1, 3, 3}), std::vector<double>(9, 1.0));
  // Sums of the 3x3 windows.
  CHECK(eval({x, ones3}, conv()) == std::vector<double>{45, 54, 81, 90});
  // Zero padding 1: border windows see fewer inputs.
  CHECK(eval({x, ones3}, conv(opts({1, 1}, {1, 1}))) ==
        std::vector<double>{10, 18, 24, 18, 27, 45, 54, 39, 51, 81, 90, 63, 42, 66, 72, 50});
  // Stride 2 keeps every other window of the padded result.
  CHECK(eval({x, ones3}, conv(opts({2, 2}, {1, 1}))) == std::vector<double>{10, 24, 51, 90});
  // Dilation 2: a 2x2 kernel reads x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2].
  const RefTensor ones2 = test::ref(f64({1, 1, 2, 2}), {1, 1, 1, 1});
  CHECK(eval({x, ones2}, conv(opts({1, 1}, {0, 0}, {2, 2}))) ==
        std::vector<double>{20, 24, 36, 40});
  // Cross-correlation (no kernel flip): a kernel whose only 1 is top-left copies x.
  const RefTensor x3 = test::ref(f64({1, 1, 3, 3}), ramp(9));
  CHECK(eval({x3, test::ref(f64({1, 1, 2, 2}), {1, 0, 0, 0})}, conv()) ==
        std::vector<double>{0, 1, 3, 4});
  // Groups 2: each filter sees only its group's channel (channel 0 all 1, channel 1 all 10).
  const RefTensor xg = test::ref(f64({1, 2, 1, 2}), {1, 1, 10, 10});
  CHECK(eval({xg, test::ref(f64({2, 1, 1, 1}), {2, 3})}, conv(opts({1, 1}, {0, 0}, {1, 1}, 2))) ==
        std::vector<double>{2, 2, 30, 30});
  // Groups 1: both filters see both channels.
  CHECK(eval({xg, test::ref(f64({2, 2, 1, 1}), {2, 0, 0, 3})}, conv()) ==
        std::vector<double>{2, 2, 30, 30});

  // The transposed convolution spreads each dy over its window; the weight gradient
  // correlates x with dy.
  const RefTensor dy = test::ref(f64({1, 1, 2, 2}), {1, 2, 3, 4});
  CHECK(eval({dy, ones3}, input_grad({4, 4})) ==
        std::vector<double>{1, 3, 3, 2, 4, 10, 10, 6, 4, 10, 10, 6, 3, 7, 7, 4});
  // dw[i, j] = sum over windows o of x[o + (i, j)] * dy[o]: 1*x[i,j] + 2*x[i,j+1] + ...
  CHECK(eval({x, dy}, weight_grad({3, 3})) ==
        std::vector<double>{34, 44, 54, 74, 84, 94, 114, 124, 134});
}

TEST_CASE("conv2d: the reference equals im2col + matmul built from primitives", "[conv]") {
  std::mt19937_64 rng(7);
  for (const Geometry& geo : kGeometries) {
    INFO("x " << Shape(geo.x).to_string() << " w " << Shape(geo.w).to_string());
    const RefTensor x = test::ref(f64(geo.x), test::uniform_data(rng, Shape(geo.x).numel(), -1, 1));
    const RefTensor w = test::ref(f64(geo.w), test::uniform_data(rng, Shape(geo.w).numel(), -1, 1));
    const std::vector<double> direct = eval({x, w}, conv(geo.o));
    const std::vector<double> by_matmul = eval(
        {x, w}, [&](std::vector<Tensor>& t) { return conv_by_matmul(t[0], t[1], geo.o); });
    REQUIRE(direct.size() == by_matmul.size());
    for (size_t i = 0; i < direct.size(); ++i)
      CHECK(direct[i] == Approx(by_matmul[i]).margin(1e-12));
  }
}

TEST_CASE("conv2d: the three references are adjoints of each other", "[conv]") {
  // <conv2d(x, w), dy> = <x, conv2d_input_grad(dy, w)> = <w, conv2d_weight_grad(x, dy)>.
  std::mt19937_64 rng(11);
  for (const Geometry& geo : kGeometries) {
    INFO("x " << Shape(geo.x).to_string() << " w " << Shape(geo.w).to_string());
    const std::vector<int64_t> y = output_dims(geo);
    auto draw = [&](const std::vector<int64_t>& d) {
      return test::ref(f64(d), test::uniform_data(rng, Shape(d).numel(), -1, 1));
    };
    const std::vector<RefTensor> ins = {draw(geo.x), draw(geo.w), draw(y)};
    auto dot = [](const Tensor& a, const Tensor& b) { return sum(mul(a, b)); };
    const double a = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(conv2d(t[0], t[1], geo.o), t[2]);
    })[0];
    const double b = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(t[0], conv2d_input_grad(t[2], t[1], geo.hw(), geo.o));
    })[0];
    const double c = eval(ins, [&](std::vector<Tensor>& t) {
      return dot(t[1], conv2d_weight_grad(t[0], t[2], geo.kernel(), geo.o));
    })[0];
    CHECK(b == Approx(a).margin(1e-12));
    CHECK(c == Approx(a).margin(1e-12));
  }
}

TEST_CASE("conv2d: gradient rules match finite differences, first and second order",
          "[conv][gradcheck]") {
  std::mt19937_64 rng(3);
  std::vector<gradcheck::Case> cases;
  for (const Geometry& geo : kGeometries) {
    const std::string shape = Shape(geo.x).to_string() + " * " + Shape(geo.w).to_string() +
                              " groups " + std::to_string(geo.o.groups);
    const std::vector<int64_t> y = output_dims(geo);
    cases.push_back({"conv2d " + shape, {{f64(geo.x)}, {f64(geo.w)}}, conv(geo.o)});
    cases.push_back({"conv2d_input_grad " + shape, {{f64(y)}, {f64(geo.w)}},
                     input_grad(geo.hw(), geo.o)});
    cases.push_back({"conv2d_weight_grad " + shape, {{f64(geo.x)}, {f64(y)}},
                     weight_grad(geo.kernel(), geo.o)});
  }
  std::set<OpKind> covered;
  for (const gradcheck::Case& c : cases) gradcheck::run(c, rng, &covered);
  for (OpKind op : {OpKind::Conv2d, OpKind::Conv2dInputGrad, OpKind::Conv2dWeightGrad})
    CHECK(covered.count(op) == 1);
}

TEST_CASE("conv2d: graphs round-trip through text and flatbuffers", "[conv][printer][serialize]") {
  Graph g("conv ops");
  Builder b(g);
  const Conv2dOptions o = opts({2, 1}, {1, 0}, {1, 2}, 2);
  Tensor x = b.input("x", f32({1, 4, 7, 9}));
  Tensor w = b.parameter("w", f32({6, 2, 3, 2}), InitSpec::kaiming_normal());
  Tensor y = conv2d(x, w, o);
  b.output("dx", conv2d_input_grad(y, w, {7, 9}, o));
  b.output("dw", conv2d_weight_grad(x, y, {3, 2}, o));
  REQUIRE(b.ok());
  check_round_trips(g, "conv.kgraph");
}

}  // namespace kiln
