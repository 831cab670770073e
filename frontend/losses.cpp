// Loss and metric implementations.
#include "frontend/losses.h"

namespace kiln {

Tensor softmax_cross_entropy_per_example(const Tensor& logits, const Tensor& labels,
                                         std::source_location loc) {
  if (!logits.valid() || !labels.valid()) return Tensor{};
  Builder& b = *logits.builder();
  Builder::LocScope scope(b, SourceLoc::from(loc));
  if (logits.rank() != 2 || labels.rank() != 1 || labels.dim(0) != logits.dim(0) ||
      !is_int(labels.dtype())) {
    b.record_error(Error(SourceLoc::from(loc).to_string() +
                         ": softmax_cross_entropy expects logits [N, C] and integer labels [N], "
                         "got " + logits.type().to_string() + " and " +
                         labels.type().to_string()));
    return Tensor{};
  }
  Tensor lse = logsumexp(logits, -1, /*keepdims=*/false);
  Tensor picked = sum(logits * one_hot(labels, logits.dim(-1), logits.dtype()), {-1});
  return lse - picked;
}

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels,
                             std::source_location loc) {
  Tensor per = softmax_cross_entropy_per_example(logits, labels, loc);
  if (!per.valid()) return per;
  Builder::LocScope scope(*per.builder(), SourceLoc::from(loc));
  return mean(per);
}

Tensor mse(const Tensor& pred, const Tensor& target, bool half, std::source_location loc) {
  if (!pred.valid() || !target.valid()) return Tensor{};
  Builder& b = *pred.builder();
  Builder::LocScope scope(b, SourceLoc::from(loc));
  if (pred.numel() != target.numel()) {
    b.record_error(Error(SourceLoc::from(loc).to_string() + ": mse of " +
                         pred.type().to_string() + " and " + target.type().to_string() +
                         ": element counts differ"));
    return Tensor{};
  }
  Tensor d = pred - reshape(target, pred.shape());
  Tensor m = mean(d * d);
  return half ? m * 0.5 : m;
}

Tensor l2_penalty(const Tensor& w, std::source_location loc) {
  if (!w.valid()) return Tensor{};
  Builder::LocScope scope(*w.builder(), SourceLoc::from(loc));
  return sum(w * w) * 0.5;
}

Tensor correct_count(const Tensor& logits, const Tensor& labels, std::source_location loc) {
  if (!logits.valid() || !labels.valid()) return Tensor{};
  Builder::LocScope scope(*logits.builder(), SourceLoc::from(loc));
  Tensor pred = argmax(logits);
  return sum(cast(equal(pred, cast(labels, DType::i32)), logits.dtype()));
}

}  // namespace kiln
