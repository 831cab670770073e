// DSL composite ops built from the primitive set: softmax, log-softmax, logsumexp,
// argmax, bernoulli.
#include "frontend/ops.h"

namespace kiln {

namespace {
SourceLoc L(const Loc& loc) { return SourceLoc::from(loc); }
}  // namespace

Tensor bernoulli(Builder& b, Shape shape, double p, const Tensor& counter, int64_t seed,
                 DType dtype, Loc loc) {
  Tensor u = rng_uniform(b, shape, counter, seed, DType::f32, loc);
  return cast(less(u, scalar_like(u, p, loc), loc), dtype, loc);
}

// The max only shifts for numerical range: the result does not depend on it, so its
// gradient is exactly zero and stop_gradient spares autodiff the work (as JAX does).
Tensor logsumexp(const Tensor& x, int axis, bool keepdims, Loc loc) {
  Tensor m = stop_gradient(max(x, {axis}, /*keepdims=*/true, loc), loc);
  Tensor s = log(sum(exp(sub(x, m, loc), loc), {axis}, true, loc), loc);
  Tensor r = add(m, s, loc);
  if (keepdims || !r.valid()) return r;
  std::vector<int64_t> dims;
  int a = axis < 0 ? axis + x.rank() : axis;
  for (int i = 0; i < x.rank(); ++i)
    if (i != a) dims.push_back(x.shape()[i]);
  return reshape(r, Shape(dims), loc);
}

Tensor log_softmax(const Tensor& x, int axis, Loc loc) {
  return sub(x, logsumexp(x, axis, /*keepdims=*/true, loc), loc);
}

Tensor softmax(const Tensor& x, int axis, Loc loc) {
  Tensor m = stop_gradient(max(x, {axis}, true, loc), loc);
  Tensor e = exp(sub(x, m, loc), loc);
  return div(e, sum(e, {axis}, true, loc), loc);
}

Tensor argmax(const Tensor& x, Loc loc) {
  if (!x.valid()) return Tensor{};
  Builder& b = *x.builder();
  int64_t n = x.dim(-1);
  Tensor m = max(x, {-1}, true, loc);
  Tensor idx = b.iota(TensorType{DType::f32, x.shape()}, x.rank() - 1, L(loc));
  // Lowest index among maxima: maximize (n - idx) over positions equal to the max.
  Tensor score = where(equal(x, m, loc), sub(scalar_like(idx, double(n), loc), idx, loc),
                       scalar_like(idx, 0.0, loc), loc);
  Tensor best = max(score, {-1}, false, loc);
  return cast(sub(scalar_like(best, double(n), loc), best, loc), DType::i32, loc);
}

}  // namespace kiln
