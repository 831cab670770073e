// Executable::bind on hand-written plans, with no compiler involved: the runtime alone
// binds buffers, states and constants, resolves the entry, catches overruns with arena
// guards, and refuses inconsistent plans with messages naming the buffer.
#include <catch2/catch.hpp>

#include <cstring>

#include "runtime/executable.h"

using namespace kiln;

namespace {

// out[i] = in[i] + c[i] + s[i] for 3 floats; s += 1. Buffers: 0 input, 1 output,
// 2 constant, 3 state, 4 arena scratch.
extern "C" void add3(void** b) {
  auto* in = static_cast<float*>(b[0]);
  auto* out = static_cast<float*>(b[1]);
  auto* c = static_cast<float*>(b[2]);
  auto* s = static_cast<float*>(b[3]);
  auto* tmp = static_cast<float*>(b[4]);
  for (int i = 0; i < 3; ++i) tmp[i] = in[i] + c[i];
  for (int i = 0; i < 3; ++i) out[i] = tmp[i] + s[i];
  for (int i = 0; i < 3; ++i) s[i] += 1;
}

// Writes one float past its 3-element arena buffer.
extern "C" void overrun(void** b) {
  auto* tmp = static_cast<float*>(b[4]);
  for (int i = 0; i < 4; ++i) tmp[i] = 1.0f;
}

class FakeModule : public CodeModule {
 public:
  void* lookup(const std::string& s) override {
    if (s == "add3") return reinterpret_cast<void*>(&add3);
    if (s == "overrun") return reinterpret_cast<void*>(&overrun);
    return nullptr;
  }
};

ExecutablePlan plan(const std::string& entry) {
  TensorType f3{DType::f32, Shape{3}};
  ExecutablePlan p;
  p.name = "hand";
  p.entry_symbol = entry;
  p.arena_bytes = 128;
  PlanBuffer in{PlanBufferKind::Input, "x", f3};
  PlanBuffer out{PlanBufferKind::Output, "y", f3};
  PlanBuffer c{PlanBufferKind::Constant, "", f3};
  float cv[3] = {10, 20, 30};
  c.data.assign(reinterpret_cast<uint8_t*>(cv), reinterpret_cast<uint8_t*>(cv) + 12);
  PlanBuffer s{PlanBufferKind::State, "counter", f3};
  s.state_kind = StateKind::StepCounter;
  s.init = InitSpec::constant(100);
  PlanBuffer tmp{PlanBufferKind::Arena, "tmp", f3};
  p.buffers = {in, out, c, s, tmp};
  p.inputs = {"x"};
  p.outputs = {"y"};
  p.guards = {{4, 12, 116}};
  return p;
}

}  // namespace

TEST_CASE("bind: a hand-written plan runs without a compiler", "[executable]") {
  auto store = std::make_shared<StateStore>();
  Expected<std::unique_ptr<Executable>> e =
      Executable::bind(plan("add3"), std::make_shared<FakeModule>(), store);
  REQUIRE(e.ok());
  Executable& exe = **e;
  float* x = exe.input("x")->as<float>();
  x[0] = 1, x[1] = 2, x[2] = 3;
  exe.run();
  const float* y = exe.output("y")->as<float>();
  CHECK(y[0] == 111);
  CHECK(y[2] == 133);
  exe.run();
  CHECK(y[0] == 112);  // the state advanced
  CHECK(store->entry("counter")->kind == StateKind::StepCounter);
  CHECK(exe.reset_state(StateKind::StepCounter) == 1);
  exe.run();
  CHECK(y[0] == 111);
  CHECK(exe.check_guards().ok());
  CHECK(exe.input("nope") == nullptr);
  CHECK(exe.output_names() == std::vector<std::string>{"y"});
}

TEST_CASE("bind: guards catch a kernel writing past its buffer", "[executable]") {
  Expected<std::unique_ptr<Executable>> e =
      Executable::bind(plan("overrun"), std::make_shared<FakeModule>(), nullptr);
  REQUIRE(e.ok());
  CHECK((*e)->check_guards().ok());
  (*e)->run();
  Status st = (*e)->check_guards();
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("after buffer 4 ('tmp') overwritten at byte 0"));
}

TEST_CASE("bind: inconsistent plans are refused with the buffer named", "[executable]") {
  auto code = std::make_shared<FakeModule>();
  auto refuse = [&](ExecutablePlan p, const std::string& msg) {
    Expected<std::unique_ptr<Executable>> e = Executable::bind(std::move(p), code, nullptr);
    REQUIRE_FALSE(e.ok());
    CHECK_THAT(e.error().message(), Catch::Contains(msg));
  };
  refuse(plan("missing"), "entry symbol 'missing' not found");
  ExecutablePlan p = plan("add3");
  p.buffers[4].offset = 64 + 64;
  refuse(p, "buffer 4 (arena 'tmp'): offset 128 + 12 bytes outside the arena of 128");
  p = plan("add3");
  p.buffers[2].data.pop_back();
  refuse(p, "buffer 2 (constant): holds 11 bytes, f32[3] needs 12");
  p = plan("add3");
  p.outputs.push_back("z");
  refuse(p, "output 'z' has no buffer");
  p = plan("add3");
  p.buffers[3].name = "";
  refuse(p, "buffer 3 (state): needs a name");
  // A state that exists with another type in the shared store.
  auto store = std::make_shared<StateStore>();
  REQUIRE(store->get_or_create("counter", TensorType{DType::f32, Shape{4}}, StateKind::StepCounter,
                               StateScope::Model, {}, 0).ok());
  Expected<std::unique_ptr<Executable>> e = Executable::bind(plan("add3"), code, store);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.error().message(), Catch::Contains("state 'counter' exists as f32[4], requested f32[3]"));
}
