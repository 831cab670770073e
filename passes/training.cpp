// Training-step construction: gradients + optimizer updates as graph nodes.
#include "passes/training.h"

#include <algorithm>
#include <cctype>

#include "ir/tensor_ops.h"
#include "passes/autodiff.h"

namespace kiln {

Expected<OptimizerConfig::Kind> parse_optimizer(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "sgd") return OptimizerConfig::SGD;
  if (n == "adam") return OptimizerConfig::Adam;
  return Error("unknown optimizer '" + name + "' (expected sgd or adam)");
}

namespace {

// An optimizer slot (momentum, Adam moment) shaped like the weight it serves.
Tensor slot_like(Builder& b, const std::string& name, const Tensor& like) {
  return b.state(name, like.type(), StateKind::OptimizerSlot);
}

}  // namespace

Expected<bool> TrainingStepPass::run(Graph& g) {
  Value loss;
  for (const Output& o : g.outputs())
    if (o.name == loss_output_) loss = o.value;
  if (!loss.valid()) return Error("graph has no output named '" + loss_output_ + "'");
  // Copies, not references: adding nodes below reallocates the graph's node vector.
  const SourceLoc loc = g.node(loss).loc;
  const TensorType loss_type = g.node(loss).type;
  if (loss_type.shape.rank() != 0 || !is_float(loss_type.dtype))
    return Error(loc.to_string() + ": loss '" + loss_output_ + "' must be a float scalar, got " +
                 loss_type.to_string());

  std::vector<Value> params = g.parameters();
  if (params.empty()) return Error("graph has no parameters to train");
  for (const StateUpdate& u : g.state_updates())
    if (g.node(u.state).op == OpKind::Parameter)
      return Error("parameter '" + g.node(u.state).name + "' already has a state update");

  std::vector<Value> grads = KILN_TRY(gradients(g, loss, params, loc));

  Builder b(g);
  Builder::LocScope scope(b, loc);
  std::vector<Tensor> ws, gs;
  for (size_t i = 0; i < params.size(); ++i) {
    ws.emplace_back(&b, params[i]);
    gs.emplace_back(&b, grads[i]);
  }
  const OptimizerConfig& c = config_;
  // The learning rate is state, not a constant in the code: a schedule (or a resumed
  // checkpoint) changes it between runs without recompiling.
  Tensor lr = b.state("lr", TensorType{DType::f32, Shape{}}, StateKind::Hyperparameter,
                      InitSpec::constant(c.lr));
  if (c.weight_decay != 0.0)
    for (size_t i = 0; i < ws.size(); ++i) gs[i] = gs[i] + ws[i] * c.weight_decay;
  if (c.clip_norm > 0.0) {
    // g *= min(1, clip / (||g|| + 1e-6)) over all gradients together.
    Tensor total;
    for (const Tensor& gr : gs) {
      Tensor sq = sum(gr * gr);
      total = total.valid() ? total + sq : sq;
    }
    Tensor norm = sqrt(total);
    Tensor scale = minimum(c.clip_norm / (norm + 1e-6), 1.0);
    for (Tensor& gr : gs) gr = gr * broadcast_to(cast(scale, gr.dtype()), gr.shape());
  }

  if (c.kind == OptimizerConfig::SGD) {
    for (size_t i = 0; i < ws.size(); ++i) {
      const std::string name = ws[i].node().name;
      Tensor step = gs[i];
      if (c.momentum != 0.0) {
        Tensor v = slot_like(b, name + ".momentum", ws[i]);
        Tensor v_new = v * c.momentum + gs[i];
        b.update_state(v, v_new);
        step = v_new;
      }
      b.update_state(ws[i], ws[i] - step * cast(lr, ws[i].dtype()));
    }
  } else {
    // Adam with bias correction folded into the step size:
    //   t' = t + 1; m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2
    //   w' = w - lr * sqrt(1-b2^t') / (1-b1^t') * m' / (sqrt(v') + eps*sqrt(1-b2^t'))
    // which equals w - lr * m_hat / (sqrt(v_hat) + eps) exactly.
    Tensor t = b.state("adam.t", TensorType{DType::f32, Shape{}}, StateKind::StepCounter);
    Tensor t1 = t + 1.0;
    b.update_state(t, t1);
    Tensor c1 = 1.0 - pow(b.scalar(c.beta1), t1);
    Tensor c2 = sqrt(1.0 - pow(b.scalar(c.beta2), t1));
    Tensor step_size = c2 / c1 * lr;
    Tensor eps_hat = c2 * c.eps;
    for (size_t i = 0; i < ws.size(); ++i) {
      const std::string name = ws[i].node().name;
      Tensor m = slot_like(b, name + ".adam_m", ws[i]);
      Tensor v = slot_like(b, name + ".adam_v", ws[i]);
      Tensor m_new = m * c.beta1 + gs[i] * (1.0 - c.beta1);
      Tensor v_new = v * c.beta2 + gs[i] * gs[i] * (1.0 - c.beta2);
      b.update_state(m, m_new);
      b.update_state(v, v_new);
      DType dt = ws[i].dtype();
      Tensor upd = m_new / (sqrt(v_new) + cast(eps_hat, dt)) * cast(step_size, dt);
      b.update_state(ws[i], ws[i] - upd);
    }
  }
  KILN_RETURN_IF_ERROR(b.status());
  return true;
}

}  // namespace kiln
