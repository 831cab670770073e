// Printer/parser: a graph using every op and every attribute kind (floats such as 0.1,
// negative and non-finite numbers, strings with quotes and backslashes) round-trips:
// parse(print(g)) prints identically and verifies. Also: the documented format, parse
// errors with line:column, and the Graphviz export.
#include <cmath>
#include <limits>
#include <set>

#include "ir/printer.h"
#include "ir/test_util.h"
#include "ir/verifier.h"

namespace kiln {
namespace {

TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }
TensorType i64(std::vector<int64_t> d) { return TensorType{DType::i64, Shape(std::move(d))}; }

// Uses every op at least once; returns the graph.
Graph every_op_graph() {
  Graph g("every \"op\" graph");
  Builder b(g);
  Tensor x = b.input("x \"quoted\" \\ name", f32({2, 3}));
  Tensor w = b.parameter("w", f32({3, 3}), InitSpec::normal(0.1, -2.5));
  Tensor st = b.state("step", i64({}), StateKind::StepCounter, InitSpec{InitKind::Constant, -1e-300, 1e300});
  Tensor c = b.constant(-0.1, f32({2, 3}));
  double inf = std::numeric_limits<double>::infinity();
  Tensor d = b.constant_data({0.1, -0.0, 1e100, -3, inf, -inf}, f32({2, 3}));
  Tensor io = b.iota(i64({4}), 0);
  Tensor ru = rng_uniform(b, Shape{2, 3}, st, -5, DType::f32);
  Tensor rn = rng_normal(b, Shape{2, 3}, st, int64_t{1} << 40, DType::f64);
  Tensor u = neg(abs(exp(log(sqrt(tanh(sigmoid(relu(x))))))));
  Tensor e = cast(rn, DType::f32);
  Tensor bo = logical_not(logical_and(less(x, c), logical_or(less_equal(x, d), greater(x, e))));
  Tensor bo2 = logical_and(greater_equal(x, c), logical_and(equal(x, c), not_equal(x, d)));
  Tensor s = where(logical_or(bo, bo2), x, ru);
  Tensor arith = maximum(minimum(pow(add(sub(mul(s, u), c), d), d), e), div(u, d));
  Tensor bc = broadcast_to(reshape(arith, Shape{2, 1, 3}), Shape{2, 4, 3});
  Tensor pm = permute(bc, {2, 0, 1});
  // Padded by one in front, so elements 2 and 4 are pm's 1 and 3.
  Tensor sl = slice(stop_gradient(pad(pm, {0, 0, 1}, {0, 0, 0}, 0.5)), 2, 2, 5, 2);
  Tensor cc = concat({sl, sl}, 1);
  Tensor r1 = sum(cc, {0}, true);
  Tensor r2 = max(cc, {1, 2});
  Tensor r3 = mean(cc, {2});
  Tensor mm = matmul(x, w);
  Tensor ids = cast(slice(io, 0, 0, 2), DType::i32);
  Tensor ga = gather(w, ids);
  Tensor oh = one_hot(ids, 5, DType::f64);
  Tensor sa = scatter_add(ids, mm, 4);
  Tensor im = reshape(x, Shape{1, 1, 2, 3});
  Tensor k = reshape(w, Shape{3, 1, 1, 3});
  const Conv2dOptions co{.padding = {1, 0}};
  Tensor cv = conv2d(im, k, co);  // [1, 3, 4, 1]
  Tensor cx = conv2d_input_grad(cv, k, {2, 3}, co);
  Tensor cw = conv2d_weight_grad(im, cv, {1, 3}, co);
  const Pool2dOptions po{.kernel = {2, 2}, .stride = {1, 1}, .padding = {1, 0},
                         .count_include_pad = false};
  Tensor mp = max_pool2d_grad(max_pool2d_indices(im, po), max_pool2d(im, po), {2, 3}, po);
  Tensor ap = avg_pool2d_grad(avg_pool2d(im, po), {2, 3}, po);
  Tensor aa = adaptive_avg_pool2d_grad(adaptive_avg_pool2d(im, {3, 2}), {2, 3});
  b.output("r1", r1);
  b.output("r2 \"q\"", r2);
  b.output("r3", r3);
  b.output("ga", ga);
  b.output("oh", oh);
  b.output("sa", sa);
  b.output("cx", cx);
  b.output("cw", cw);
  b.output("pools", mp + ap + aa);
  b.update_state(st, st + b.scalar(1, DType::i64));
  KILN_CHECK(b.ok(), b.status().ok() ? "" : b.status().error().message());
  return g;
}

}  // namespace

TEST_CASE("printer: every op and attribute kind round-trips", "[printer]") {
  Graph g = every_op_graph();
  std::set<OpKind> ops;
  std::set<AttrKind> kinds;
  for (const Node& n : g.nodes()) {
    ops.insert(n.op);
    for (const auto& [k, v] : n.attrs.items()) kinds.insert(attr_kind(v));
  }
  CHECK(ops.size() == static_cast<size_t>(kNumOps));
  CHECK(kinds.size() == 6);
  REQUIRE(verify(g).ok());

  std::string text = print_graph(g);
  Expected<Graph> parsed = parse_graph(text);
  INFO(text);
  INFO((parsed.ok() ? std::string() : parsed.error().message()));
  REQUIRE(parsed.ok());
  CHECK(print_graph(*parsed) == text);
  CHECK(verify(*parsed).ok());
  CHECK(parsed->name() == g.name());
  REQUIRE(parsed->size() == g.size());
  for (int i = 0; i < g.size(); ++i) {
    INFO("node %" << i);
    CHECK(parsed->node(i).attrs == g.node(i).attrs);
    CHECK(parsed->node(i).type == g.node(i).type);
    CHECK(parsed->node(i).name == g.node(i).name);
  }
  // Exact float round trip (0.1 is not representable; %.17g keeps every bit).
  const Node& par = parsed->node(parsed->find_leaf("w"));
  CHECK(par.attrs.f("init_a") == 0.1);
  CHECK(par.attrs.f("init_b") == -2.5);
  CHECK(std::signbit(parsed->node(Value{4}).attrs.floats("data")[1]));
  CHECK(std::isinf(parsed->node(Value{4}).attrs.floats("data")[4]));
  CHECK(parsed->outputs().size() == g.outputs().size());
  CHECK(parsed->outputs()[1].name == "r2 \"q\"");
  CHECK(parsed->state_updates().size() == 1);

  // Interpreting both gives identical results.
  std::map<std::string, RefTensor> feeds{
      {"x \"quoted\" \\ name", test::ref(f32({2, 3}), {0.5, 1.5, -0.5, 2, 0.25, -1})}};
  Expected<InterpreterResult> r1 = interpret(g, feeds, 3);
  Expected<InterpreterResult> r2 = interpret(*parsed, feeds, 3);
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  CHECK(r1->outputs["sa"].data == r2->outputs["sa"].data);
  CHECK(r1->outputs["oh"].data == r2->outputs["oh"].data);
}

TEST_CASE("printer: documented format", "[printer]") {
  Graph g("mlp");
  Builder b(g);
  Tensor x = b.input("x", f32({2, 3}));
  Tensor w = b.parameter("w", f32({3, 4}), InitSpec::zeros());
  Tensor y = matmul(x, w);
  b.output("y", y);
  b.update_state(w, w);
  std::string text = print_graph(g);
  CHECK(text ==
        "graph mlp {\n"
        "  %0 = input() {name=\"x\"} : f32[2,3]\n"
        "  %1 = parameter() {init=\"zeros\", init_a=0.0, init_b=0.0, name=\"w\"} : f32[3,4]\n"
        "  %2 = matmul(%0, %1) : f32[2,4]\n"
        "  output \"y\" = %2\n"
        "  update %1 = %1\n"
        "}\n");
  std::string with_loc = print_graph(g, PrintOptions{.locations = true});
  CHECK_THAT(with_loc, Catch::Contains("# printer_test.cpp:"));
  Expected<Graph> back = parse_graph(with_loc);
  REQUIRE(back.ok());
  CHECK(print_graph(*back) == text);
}

TEST_CASE("printer: hand-written text with comments and sparse ids", "[printer]") {
  Expected<Graph> g = parse_graph(R"(
    # a comment line
    graph t {
      %10 = input() {name="a"} : f64[3]     # trailing comment
      %20 = constant() {value=-2.5} : f64[3]
      %30 = mul(%10, %20) : f64[3]
      %31 = reduce_sum(%30) {axes=[0], keepdims=0} : f64[]
      output "out" = %31
    })");
  INFO((g.ok() ? std::string() : g.error().message()));
  REQUIRE(g.ok());
  REQUIRE(g->size() == 4);
  CHECK(g->node(Value{2}).inputs[0].id == 0);
  Expected<InterpreterResult> r =
      interpret(*g, {{"a", test::ref(TensorType{DType::f64, Shape{3}}, {1, 2, 3})}});
  REQUIRE(r.ok());
  CHECK(r->outputs["out"].data[0] == -15.0);
}

TEST_CASE("printer: parse errors give line:column and what was expected", "[printer]") {
  auto err = [](std::string_view text) {
    Expected<Graph> g = parse_graph(text);
    REQUIRE_FALSE(g.ok());
    return g.error().message();
  };
  CHECK_THAT(err("graph g {\n  %0 = frobnicate() : f32[]\n}"),
             Catch::Contains("2:8: unknown op 'frobnicate'"));
  CHECK_THAT(err("graph g {\n  %0 = neg(%5) : f32[]\n}"),
             Catch::Contains("%5 is not defined"));
  CHECK_THAT(err("graph g {\n  %0 = input() {name=\"a\"} : f32[2]\n  %1 = neg(%0) : f32[3]\n}"),
             Catch::Contains("declared f32[3] but its op infers f32[2]"));
  CHECK_THAT(err("graph g {\n  %0 = input() {name=\"a\"} : f32[2]\n  %1 = add(%0) : f32[2]\n}"),
             Catch::Contains("3:3: <unknown>: add(f32[2]): takes 2 inputs"));
  CHECK_THAT(err("graph g {\n  %0 = input() {name=\"a\"} : f99[2]\n}"),
             Catch::Contains("expected a dtype"));
  CHECK_THAT(err("graph g {\n  %0 = input() {name=\"a\"} : f32[2]\n"),
             Catch::Contains("expected '}' closing the graph"));
  CHECK_THAT(err("graph g { %0 = constant() {value=1.0, value=2.0} : f32[] }"),
             Catch::Contains("given twice"));
  CHECK_THAT(err("graph g { %0 = constant() {value=\"x} : f32[] }"),
             Catch::Contains("unterminated string"));
  CHECK_THAT(err("grph g {}"), Catch::Contains("1:1: expected 'graph'"));
  CHECK_THAT(err("graph g { bogus }"), Catch::Contains("expected a node"));
  CHECK_THAT(err("graph g { %0 = constant() {value=1.0} : f32[] } trailing"),
             Catch::Contains("unexpected text after the graph"));
}

TEST_CASE("printer: graphviz export", "[printer]") {
  Graph g("d");
  Builder b(g);
  Tensor x = b.input("x", f32({2}));
  Tensor y = exp(x);
  b.output("y", y);
  std::string dot = graph_to_dot(g);
  CHECK_THAT(dot, Catch::StartsWith("digraph \"d\" {"));
  CHECK_THAT(dot, Catch::Contains("n0 -> n1;"));
  CHECK_THAT(dot, Catch::Contains("%1 exp\\nf32[2]"));
  CHECK_THAT(dot, Catch::Contains("%0 input \\\"x\\\""));
  CHECK_THAT(dot, Catch::Contains("n1 -> out_0;"));
}

}  // namespace kiln
