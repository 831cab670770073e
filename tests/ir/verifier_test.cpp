// Verifier: a well-formed graph passes; each kind of corruption (bad ids, forward
// references, arity, attribute kinds, stale types, bad outputs/updates, duplicate leaf
// names) is reported with the node id, the op and the types involved.
#include "ir/test_util.h"
#include "ir/verifier.h"

namespace kiln {
namespace {

TensorType f32(std::vector<int64_t> d) { return TensorType{DType::f32, Shape(std::move(d))}; }

struct Small {
  Graph g;
  Value x, w, y, s;
  Small() {
    Builder b(g);
    Tensor tx = b.input("x", f32({2, 3}));
    Tensor tw = b.parameter("w", f32({3, 4}), InitSpec::zeros());
    Tensor ts = b.state("s", f32({}), StateKind::Carried);
    Tensor ty = matmul(tx, tw);
    b.output("y", ty);
    b.update_state(ts, ts + 1.0);
    KILN_CHECK(b.ok(), "builder failed");
    x = tx.value();
    w = tw.value();
    y = ty.value();
    s = ts.value();
  }
};

std::string verify_error(const Graph& g) {
  Status st = verify(g);
  REQUIRE_FALSE(st.ok());
  return st.error().message();
}

}  // namespace

TEST_CASE("verifier: well-formed graphs pass", "[verifier]") {
  Small t;
  Status st = verify(t.g);
  INFO((st.ok() ? std::string() : st.error().message()));
  CHECK(st.ok());
}

TEST_CASE("verifier: stale type names node, op, both types and loc", "[verifier]") {
  Small t;
  Node& n = t.g.node(t.y);
  n.loc = SourceLoc{"model.cpp", 12, 3};
  n.type = f32({2, 5});
  std::string msg = verify_error(t.g);
  CHECK_THAT(msg, Catch::Contains("%3 matmul (model.cpp:12)"));
  CHECK_THAT(msg, Catch::Contains("stored type f32[2,5] but inferred f32[2,4]"));
}

TEST_CASE("verifier: structural corruption", "[verifier]") {
  SECTION("forward reference") {
    Small t;
    t.g.node(t.y).inputs[0] = Value{t.g.size() - 1};
    CHECK_THAT(verify_error(t.g), Catch::Contains("not an earlier node"));
  }
  SECTION("wrong id") {
    Small t;
    t.g.mutable_nodes()[1].id = 7;
    CHECK_THAT(verify_error(t.g), Catch::Contains("node at index 1 has id %7"));
  }
  SECTION("arity") {
    Small t;
    t.g.node(t.y).inputs.push_back(t.x);
    CHECK_THAT(verify_error(t.g), Catch::Contains("matmul"));
    CHECK_THAT(verify_error(t.g), Catch::Contains("takes 2 inputs, has 3"));
  }
  SECTION("attribute kind") {
    Small t;
    t.g.node(t.w).attrs.set("init", int64_t{3});
    CHECK_THAT(verify_error(t.g), Catch::Contains("attribute 'init' must be string, got int"));
  }
  SECTION("unknown attribute") {
    Small t;
    t.g.node(t.y).attrs.set("alpha", 1.0);
    CHECK_THAT(verify_error(t.g), Catch::Contains("unknown attribute 'alpha'"));
  }
  SECTION("missing attribute") {
    Graph g;
    Value a = *g.add_leaf(OpKind::Input, f32({2}), {}, {}, "a");
    Value r = *g.add(OpKind::Reshape, {a}, {{"shape", std::vector<int64_t>{2, 1}}});
    g.node(r).attrs = AttrMap{};
    CHECK_THAT(verify_error(g), Catch::Contains("%1 reshape: missing attribute 'shape'"));
  }
  SECTION("duplicate and empty leaf names") {
    Small t;
    t.g.node(t.w).name = "x";
    CHECK_THAT(verify_error(t.g), Catch::Contains("duplicate leaf name \"x\""));
    t.g.node(t.w).name = "";
    CHECK_THAT(verify_error(t.g), Catch::Contains("leaf has no name"));
  }
  SECTION("outputs") {
    Small t;
    t.g.add_output("bad", Value{99});
    CHECK_THAT(verify_error(t.g), Catch::Contains("output \"bad\" refers to missing node %99"));
  }
  SECTION("duplicate output names") {
    Small t;
    t.g.add_output("y", t.x);
    CHECK_THAT(verify_error(t.g), Catch::Contains("duplicate output name \"y\""));
  }
  SECTION("state update of a non-state") {
    Small t;
    t.g.add_state_update(t.x, t.x);
    CHECK_THAT(verify_error(t.g), Catch::Contains("not a parameter or state"));
  }
  SECTION("state update type mismatch") {
    Small t;
    t.g.mutable_state_updates()[0].value = t.x;
    CHECK_THAT(verify_error(t.g), Catch::Contains("is f32[2,3], state is f32[]"));
  }
  SECTION("state updated twice") {
    Small t;
    t.g.add_state_update(t.s, t.g.state_updates()[0].value);
    CHECK_THAT(verify_error(t.g), Catch::Contains("updated twice"));
  }
}

}  // namespace kiln
