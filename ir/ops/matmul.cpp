// Registry entry for matmul: batched matrix product [..., M, K] x [..., K, N] ->
// [..., M, N] with identical batch dims (the frontend broadcasts and handles 1-D
// operands). Gradients: dA = dC B^T, dB = A^T dC.
#include "ir/tensor_ops.h"
#include "ir/ops/common.h"

namespace kiln {
namespace {

using Ins = std::span<const TensorType>;
using RefIns = std::span<const RefTensor* const>;

Expected<TensorType> infer_matmul(const Node&, Ins in) {
  const Shape& a = in[0].shape;
  const Shape& b = in[1].shape;
  if (a.rank() < 2 || b.rank() < 2)
    return Error("operands must have rank >= 2, got " + a.to_string() + " and " + b.to_string());
  if (a.rank() != b.rank())
    return Error("ranks differ: " + a.to_string() + " vs " + b.to_string() +
                 " (batch dims must match exactly)");
  if (in[0].dtype != in[1].dtype)
    return Error(std::string("dtypes differ: ") + dtype_name(in[0].dtype) + " vs " +
                 dtype_name(in[1].dtype));
  KILN_RETURN_IF_ERROR(ops::require_numeric(in[0], "operands"));
  int r = a.rank();
  for (int d = 0; d < r - 2; ++d)
    if (a[d] != b[d])
      return Error("batch dims differ: " + a.to_string() + " vs " + b.to_string());
  if (a[r - 1] != b[r - 2])
    return Error("contraction dims differ: " + std::to_string(a[r - 1]) + " vs " +
                 std::to_string(b[r - 2]) + " (" + a.to_string() + " x " + b.to_string() + ")");
  Shape out = a;
  out.dims[r - 1] = b[r - 1];
  return TensorType{in[0].dtype, out};
}

Status ref_matmul(const Node&, RefIns in, RefTensor& out) {
  const Shape& a = in[0]->type.shape;
  const Shape& b = in[1]->type.shape;
  int r = a.rank();
  int64_t m = a[r - 2], k = a[r - 1], n = b[r - 1];
  int64_t batch = 1;
  for (int d = 0; d < r - 2; ++d) batch *= a[d];
  for (int64_t bi = 0; bi < batch; ++bi) {
    const double* pa = in[0]->data.data() + bi * m * k;
    const double* pb = in[1]->data.data() + bi * k * n;
    double* pc = out.data.data() + bi * m * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += pa[i * k + p] * pb[p * n + j];
        pc[i * n + j] = acc;
      }
  }
  return Status::Ok();
}

std::vector<Tensor> grad_matmul(GradContext& c) {
  const Tensor& a = c.inputs[0];
  const Tensor& b = c.inputs[1];
  return {matmul(c.grad_out, transpose(b)), matmul(transpose(a), c.grad_out)};
}

}  // namespace

void register_matmul_ops(std::vector<OpDef>& d) {
  d.push_back({OpKind::Matmul, "matmul", 2, 2, {}, kPreservesZero | kContraction,
               "[..., M, K] x [..., K, N] -> [..., M, N]; batch dims must match exactly.",
               infer_matmul, ref_matmul, grad_matmul});
}

}  // namespace kiln
