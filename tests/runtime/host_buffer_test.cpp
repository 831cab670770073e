// HostBuffer::allocate refuses, with an error naming the type and the bytes, what the
// explicit constructor would abort on (issue 12, item 9): an overflowing or negative
// shape, a size above host_buffer_limit(), an allocation the machine cannot give.
// store_elements saturates instead of invoking undefined float-to-int casts.
#include "runtime/host_buffer.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>

#include "codegen/compile.h"
#include "ir/tensor_ops.h"

using namespace kiln;

namespace {

// Restores the process-wide limit when a test ends.
struct LimitGuard {
  ~LimitGuard() { set_host_buffer_limit(0); }
};

}  // namespace

TEST_CASE("HostBuffer::allocate gives zeroed, aligned buffers", "[runtime][host_buffer]") {
  auto b = HostBuffer::allocate(TensorType{DType::f32, Shape{3, 5}});
  REQUIRE(b.ok());
  CHECK(b->bytes() == 60);
  CHECK(reinterpret_cast<uintptr_t>(b->data()) % 64 == 0);
  for (int i = 0; i < 15; ++i) CHECK(b->as<float>()[i] == 0.0f);
  auto empty = HostBuffer::allocate(TensorType{DType::i64, Shape{0, 4}});
  REQUIRE(empty.ok());
  CHECK(empty->data() != nullptr);
  CHECK(empty->bytes() == 0);
  HostBuffer moved = std::move(*b);
  CHECK(moved.type() == (TensorType{DType::f32, Shape{3, 5}}));
}

TEST_CASE("HostBuffer::allocate refuses invalid and oversized types with a clear error",
          "[runtime][host_buffer][hardening]") {
  const int64_t big = int64_t{1} << 32;
  // Shape{2^32, 2^32}: numel() wraps to 0; the type is refused, not allocated as 64 bytes.
  auto wrap = HostBuffer::allocate(TensorType{DType::f32, Shape{big, big}});
  REQUIRE_FALSE(wrap.ok());
  CHECK_THAT(wrap.error().message(), Catch::Contains("f32[4294967296,4294967296]") && Catch::Contains("limit"));
  auto neg = HostBuffer::allocate(TensorType{DType::f32, Shape{-3}});
  REQUIRE_FALSE(neg.ok());
  CHECK_THAT(neg.error().message(), Catch::Contains("negative"));

  // f32[2^33] = 32 GiB: above the default limit (16 GiB, or less on a smaller machine).
  CHECK(host_buffer_limit() <= kDefaultHostBufferLimit);
  auto huge = HostBuffer::allocate(TensorType{DType::f32, Shape{int64_t{1} << 33}});
  REQUIRE_FALSE(huge.ok());
  CHECK_THAT(huge.error().message(), Catch::Contains("f32[8589934592]") && Catch::Contains("34359738368 bytes") &&
                                         Catch::Contains("32 GiB") && Catch::Contains("for one buffer"));
  // kiln inspect mlp --batch-size 16777216: the input x.
  auto batch = HostBuffer::allocate(TensorType{DType::f32, Shape{16777216, 1, 28, 28}});
  REQUIRE_FALSE(batch.ok());
  CHECK_THAT(batch.error().message(), Catch::Contains("f32[16777216,1,28,28]") && Catch::Contains("52613349376 bytes"));
}

TEST_CASE("the host buffer limit is configurable", "[runtime][host_buffer][hardening]") {
  LimitGuard guard;
  set_host_buffer_limit(1000);
  CHECK(host_buffer_limit() == 1000);
  CHECK(HostBuffer::allocate(TensorType{DType::f32, Shape{250}}).ok());
  auto over = HostBuffer::allocate(TensorType{DType::f32, Shape{251}});
  REQUIRE_FALSE(over.ok());
  CHECK_THAT(over.error().message(), Catch::Contains("f32[251]") && Catch::Contains("1004 bytes") &&
                                         Catch::Contains("limit of 1000 bytes"));
  Status st = check_host_allocation(TensorType{DType::f64, Shape{200}}, "input 'x'");
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::StartsWith("input 'x': f64[200]") && Catch::Contains("1600 bytes"));
  Status raw = check_host_allocation(uint64_t{5000}, "plan 'p': arena");
  REQUIRE_FALSE(raw.ok());
  CHECK_THAT(raw.error().message(), Catch::StartsWith("plan 'p': arena: needs 5000 bytes"));
  CHECK(check_host_allocation(uint64_t{1000}, "ok").ok());
  set_host_buffer_limit(0);
  CHECK(host_buffer_limit() > 1000);
}

TEST_CASE("store_elements saturates out-of-range integers and maps NaN to 0", "[runtime][host_buffer]") {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {1e30, -1e30, NAN, inf, -inf, 41.9, -41.9};
  int32_t i32[7];
  store_elements(DType::i32, v, 7, i32);
  CHECK(i32[0] == INT32_MAX);
  CHECK(i32[1] == INT32_MIN);
  CHECK(i32[2] == 0);
  CHECK(i32[3] == INT32_MAX);
  CHECK(i32[4] == INT32_MIN);
  CHECK(i32[5] == 41);
  CHECK(i32[6] == -41);
  int64_t i64[7];
  store_elements(DType::i64, v, 7, i64);
  CHECK(i64[0] == INT64_MAX);
  CHECK(i64[1] == INT64_MIN);
  CHECK(i64[2] == 0);
  CHECK(i64[5] == 41);
  float f[2];
  store_elements(DType::f32, {2.5}, 2, f);  // a single value splats
  CHECK(f[0] == 2.5f);
  CHECK(f[1] == 2.5f);
}

// Needs the call sites in runtime/executable.cpp (inputs, outputs, constants, the arena)
// and runtime/state_store.cpp to go through HostBuffer::allocate / check_host_allocation.
TEST_CASE("compiling a graph with a 32 GiB input or state is a clear error and no abort",
          "[runtime][host_buffer][hardening]") {
  const int64_t n = int64_t{1} << 33;
  for (bool as_state : {false, true}) {
    Graph g("huge");
    Builder b(g);
    Tensor x = as_state ? b.state("s", TensorType{DType::f32, Shape{n}}, StateKind::RunningStat)
                        : b.input("x", TensorType{DType::f32, Shape{n}});
    b.output("y", x + 1.0);
    REQUIRE(b.ok());  // 32 GiB is within the 2^40-byte type limit, but not the buffer limit
    auto exe = compile(g, std::make_shared<StateStore>());
    INFO((as_state ? "state" : "input"));
    REQUIRE_FALSE(exe.ok());
    CHECK_THAT(exe.error().message(), Catch::Contains("f32[8589934592]") && Catch::Contains("34359738368 bytes") &&
                                          Catch::Contains("limit"));
  }
}
