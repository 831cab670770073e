// Embedding and OneHot layers. See embedding.h.
#include "frontend/embedding.h"

namespace kiln::nn {
namespace {

// Records "<loc>: <layer> applied to ids of type T (expects ...)" and returns false when
// ids is not an integer tensor.
bool check_ids(Context& ctx, const Tensor& ids, const std::string& layer) {
  if (ids.dtype() == DType::i32 || ids.dtype() == DType::i64) return true;
  ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + layer +
                           " applied to ids of type " + ids.type().to_string() +
                           " (expects i32 or i64 token ids)"));
  return false;
}

}  // namespace

Embedding::Embedding(int64_t vocab_size, int64_t dim, Init weight_init, std::string name)
    : vocab_(vocab_size), dim_(dim), init_(weight_init), name_(std::move(name)) {}

Tensor Embedding::forward(Context& ctx, const Tensor& ids) {
  if (!ids.valid()) return Tensor{};
  if (name_.empty()) name_ = ctx.fresh_name("embedding");
  if (vocab_ <= 0 || dim_ <= 0 || !is_float(dtype_)) {
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() +
                             ": vocab_size and dim must be > 0 and the table a float type"));
    return Tensor{};
  }
  if (!check_ids(ctx, ids, describe())) return Tensor{};
  Tensor table = parameter(ctx.b, weight_name(), TensorType{dtype_, Shape{vocab_, dim_}}, init_);
  return gather(table, ids);
}

std::string Embedding::describe() const {
  return "Embedding(" + std::to_string(vocab_) + ", " + std::to_string(dim_) + ")";
}

Tensor OneHot::forward(Context& ctx, const Tensor& ids) {
  if (!ids.valid()) return Tensor{};
  if (depth_ <= 0 || !is_float(dtype_)) {
    ctx.b.record_error(Error(ctx.b.resolve_loc({}).to_string() + ": " + describe() +
                             ": depth must be > 0 and the encoding a float type"));
    return Tensor{};
  }
  if (!check_ids(ctx, ids, describe())) return Tensor{};
  return one_hot(ids, depth_, dtype_);
}

}  // namespace kiln::nn
