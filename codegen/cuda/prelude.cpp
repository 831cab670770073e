// The NVRTC prelude and the prelude both platforms share (see prelude.h). Everything here
// is CUDA C++ that also compiles as host C++17: no CUDA headers, no standard headers.
#include "codegen/cuda/prelude.h"

namespace kiln::cudagen {

const char* nvrtc_prelude() {
  return R"KILN(// ---- kiln prelude: NVRTC ----
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
typedef unsigned char uint8_t;
#define KILN_GLOBAL extern "C" __global__
#define KILN_BOUNDS(threads) __launch_bounds__(threads)
#define KILN_DEVICE static __device__ __forceinline__
#define KILN_SHARED __shared__
#define KILN_SYNC() __syncthreads()
#define KILN_AT(p, n, i) (p)[i]
#define KILN_TID ((int64_t)threadIdx.x)
#define KILN_BID ((int64_t)blockIdx.x)
#define KILN_NTID ((int64_t)blockDim.x)
#define KILN_NBID ((int64_t)gridDim.x)
template <class T>
static __device__ __forceinline__ T kiln_shfl_down(T v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o);
}
static __device__ __forceinline__ bool kiln_shfl_down(bool v, int o) {
  return __shfl_down_sync(0xffffffffu, (int)v, o) != 0;
}
#define KILN_SHFL_DOWN(v, o) kiln_shfl_down(v, o)
KILN_DEVICE float kiln_f32_from_bits(uint32_t u) { return __uint_as_float(u); }
KILN_DEVICE double kiln_f64_from_bits(uint64_t u) { return __longlong_as_double((long long)u); }
)KILN";
}

const char* common_prelude() {
  return R"KILN(// ---- kiln prelude: kernel IR semantics (shared by NVRTC and the emulator) ----
// maximum/minimum as LLVM's llvm.maximum/minimum (the CPU backend): NaN if either is
// NaN, and -0 < +0.
template <class T> KILN_DEVICE T kiln_fmax(T a, T b) {
  return a != a ? a : b != b ? b : a > b ? a : b > a ? b : a == 0 ? a + b : a;
}
template <class T> KILN_DEVICE T kiln_fmin(T a, T b) {
  return a != a ? a : b != b ? b : a < b ? a : b < a ? b : a == 0 ? -((-a) + (-b)) : a;
}
template <class T> KILN_DEVICE T kiln_imax(T a, T b) { return a > b ? a : b; }
template <class T> KILN_DEVICE T kiln_imin(T a, T b) { return a < b ? a : b; }

// Integer arithmetic wraps (two's complement), as in the reference.
KILN_DEVICE int32_t kiln_add_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
KILN_DEVICE int32_t kiln_sub_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
KILN_DEVICE int32_t kiln_mul_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }
KILN_DEVICE int32_t kiln_neg_i32(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
KILN_DEVICE int32_t kiln_abs_i32(int32_t a) { return a < 0 ? kiln_neg_i32(a) : a; }
KILN_DEVICE int64_t kiln_add_i64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
KILN_DEVICE int64_t kiln_sub_i64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
KILN_DEVICE int64_t kiln_mul_i64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
KILN_DEVICE int64_t kiln_neg_i64(int64_t a) { return (int64_t)(0ull - (uint64_t)a); }
KILN_DEVICE int64_t kiln_abs_i64(int64_t a) { return a < 0 ? kiln_neg_i64(a) : a; }
// Division never traps: x / -1 = -x (wrapping), a zero divisor divides by 1 (the
// reference reports x / 0 as an error); x % 0 and x % -1 are 0.
KILN_DEVICE int32_t kiln_div_i32(int32_t a, int32_t b) { return b == -1 ? kiln_neg_i32(a) : a / (b == 0 ? 1 : b); }
KILN_DEVICE int32_t kiln_mod_i32(int32_t a, int32_t b) { return b == 0 || b == -1 ? 0 : a % b; }
KILN_DEVICE int64_t kiln_div_i64(int64_t a, int64_t b) { return b == -1 ? kiln_neg_i64(a) : a / (b == 0 ? 1 : b); }
KILN_DEVICE int64_t kiln_mod_i64(int64_t a, int64_t b) { return b == 0 || b == -1 ? 0 : a % b; }

// float -> int truncates toward zero and saturates, NaN -> 0.
KILN_DEVICE int32_t kiln_f2i32(double v) {
  return v != v ? 0 : v >= 2147483648.0 ? 2147483647 : v <= -2147483649.0 ? (-2147483647 - 1) : (int32_t)v;
}
KILN_DEVICE int64_t kiln_f2i64(double v) {
  return v != v ? 0 : v >= 9223372036854775808.0 ? 9223372036854775807LL
       : v < -9223372036854775808.0 ? (-9223372036854775807LL - 1) : (int64_t)v;
}

// Overflow-free sigmoid, as the CPU backend: e = exp(-|x|), x >= 0 ? 1/(1+e) : e/(1+e).
KILN_DEVICE float kiln_sigmoid(float x) {
  const float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
  return x != x ? x : x >= 0.0f ? r : e * r;
}
KILN_DEVICE double kiln_sigmoid(double x) {
  const double e = exp(-fabs(x)), r = 1.0 / (1.0 + e);
  return x != x ? x : x >= 0.0 ? r : e * r;
}

// Reduction combiners by accumulator type (sum of bools is `or`, as on the CPU).
KILN_DEVICE float kiln_acc_sum(float a, float b) { return a + b; }
KILN_DEVICE double kiln_acc_sum(double a, double b) { return a + b; }
KILN_DEVICE int32_t kiln_acc_sum(int32_t a, int32_t b) { return kiln_add_i32(a, b); }
KILN_DEVICE int64_t kiln_acc_sum(int64_t a, int64_t b) { return kiln_add_i64(a, b); }
KILN_DEVICE bool kiln_acc_sum(bool a, bool b) { return a || b; }
KILN_DEVICE float kiln_acc_max(float a, float b) { return kiln_fmax(a, b); }
KILN_DEVICE double kiln_acc_max(double a, double b) { return kiln_fmax(a, b); }
KILN_DEVICE int32_t kiln_acc_max(int32_t a, int32_t b) { return kiln_imax(a, b); }
KILN_DEVICE int64_t kiln_acc_max(int64_t a, int64_t b) { return kiln_imax(a, b); }
KILN_DEVICE bool kiln_acc_max(bool a, bool b) { return a || b; }
struct kiln_op_sum {
  template <class T> KILN_DEVICE T apply(T a, T b) { return kiln_acc_sum(a, b); }
};
struct kiln_op_max {
  template <class T> KILN_DEVICE T apply(T a, T b) { return kiln_acc_max(a, b); }
};

// Tree reduction of one value per lane over a warp (shuffles, a fixed order): every lane
// of the warp must call it; the result is valid in lane 0.
template <class Op, class T>
KILN_DEVICE T kiln_warp_reduce(T v) {
  for (int o = 16; o > 0; o >>= 1) v = Op::apply(v, KILN_SHFL_DOWN(v, o));
  return v;
}

// Tree reduction of one value per thread over the block, in a fixed order (warp
// shuffles, then the warps' partials in `scratch`, 32 slots): deterministic, no atomics.
// Every thread of the block must call it; the result is valid in thread 0.
template <class Op, class T>
KILN_DEVICE T kiln_block_reduce(T v, T* scratch, T identity) {
  for (int o = 16; o > 0; o >>= 1) v = Op::apply(v, KILN_SHFL_DOWN(v, o));
  const int64_t lane = KILN_TID & 31, warp = KILN_TID >> 5;
  if (lane == 0) scratch[warp] = v;
  KILN_SYNC();
  v = KILN_TID < ((KILN_NTID + 31) >> 5) ? scratch[KILN_TID] : identity;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v = Op::apply(v, KILN_SHFL_DOWN(v, o));
  KILN_SYNC();  // scratch is reused by the next reduction
  return v;
}

// Philox4x32-10, bit-exact with ir/philox.h: counter {lo(i), hi(i), lo(c), hi(c)},
// key {lo(seed), lo(key)}.
struct kiln_words { uint32_t w0, w1, w2, w3; };
KILN_DEVICE kiln_words kiln_philox(uint64_t index, uint64_t counter, uint32_t k0, uint32_t k1) {
  uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32);
  uint32_t c2 = (uint32_t)counter, c3 = (uint32_t)(counter >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
    const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
  }
  kiln_words w = {c0, c1, c2, c3};
  return w;
}
KILN_DEVICE float kiln_uniform_f32(kiln_words w) { return (float)(w.w0 >> 8) * (1.0f / 16777216.0f); }
KILN_DEVICE double kiln_uniform_f64(kiln_words w) {
  return (double)((((uint64_t)w.w0 << 32) | w.w1) >> 11) * (1.0 / 9007199254740992.0);
}
// Box-Muller on words 0 and 1, in double (f32 outputs round once).
KILN_DEVICE double kiln_normal(kiln_words w) {
  const double u1 = (double)((w.w0 >> 8) + 1u) * (1.0 / 16777216.0);
  const double u2 = (double)(w.w1 >> 8) * (1.0 / 16777216.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925286766559 * u2);
}
// ---- end of prelude ----
)KILN";
}

}  // namespace kiln::cudagen
