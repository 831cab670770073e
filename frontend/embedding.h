// Token inputs for the sequence models (d2l chapters 8-10): Embedding, a learned table
// whose rows are looked up by token id, and OneHot, the fixed encoding d2l's
// from-scratch RNNs feed. Both take integer token ids of any shape [I...] and append a
// feature axis: [I...] -> [I..., dim] (Embedding) or [I..., depth] (OneHot), so a
// batch-major [B, T] minibatch transposed to [T, B] becomes the time-major [T, B, D]
// input of the recurrent layers (frontend/rnn_layers.h).
//
// Embedding is one gather of rows of the parameter "<name>.weight" [vocab, dim]; its
// gradient is the gather rule's scatter-add into the table, so only the rows a batch
// used receive gradient. Initialised N(0, 1) like PyTorch's nn.Embedding.
#pragma once

#include <string>

#include "frontend/nn.h"

namespace kiln::nn {

class Embedding : public Module {
 public:
  // Parameter "<name>.weight" [vocab_size, dim]; without a name the layer takes
  // ctx.fresh_name("embedding") the first time it is called.
  Embedding(int64_t vocab_size, int64_t dim, Init weight_init = Init::normal(0, 1),
            std::string name = "");
  // ids: i32 or i64 [I...] -> [I..., dim] of `dtype` (f32 unless set_dtype changed it).
  Tensor forward(Context& ctx, const Tensor& ids) override;
  std::string describe() const override;
  std::string weight_name() const { return name_ + ".weight"; }
  // The table's dtype (f32 by default; f64 for gradient checks).
  Embedding& set_dtype(DType dtype) {
    dtype_ = dtype;
    return *this;
  }

 private:
  int64_t vocab_, dim_;
  Init init_;
  std::string name_;
  DType dtype_ = DType::f32;
};

// ids [I...] -> one_hot [I..., depth] of `dtype` (d2l's F.one_hot(X.T, len(vocab))).
// Ids outside [0, depth) give all-zero rows, as the one_hot op defines.
class OneHot : public Module {
 public:
  explicit OneHot(int64_t depth, DType dtype = DType::f32) : depth_(depth), dtype_(dtype) {}
  Tensor forward(Context& ctx, const Tensor& ids) override;
  std::string describe() const override { return "OneHot(" + std::to_string(depth_) + ")"; }

 private:
  int64_t depth_;
  DType dtype_;
};

}  // namespace kiln::nn
