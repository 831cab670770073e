// Reverse-mode autodiff driver. Only nodes on a path wrt -> loss are visited; they are
// walked in reverse creation order (a valid reverse topological order), each node's rule
// maps dL/dout to one dL/dinput per operand, and contributions to the same value are
// summed with `add`. Gradient nodes take the forward node's SourceLoc (via LocScope), so
// errors and printed graphs point at the user's line.
#include "passes/autodiff.h"

#include "ir/tensor_ops.h"

namespace kiln {
namespace {

GradFn registry_rule(OpKind k) { return op_def(k).grad; }

std::string describe(const Node& n) {
  std::string s = "'" + std::string(op_name(n.op)) + "' (node %" + std::to_string(n.id);
  if (!n.name.empty()) s += " \"" + n.name + "\"";
  return s + ", " + n.type.to_string() + ")";
}

}  // namespace

Expected<std::vector<Value>> gradients_with_rules(Graph& g, Value loss,
                                                  const std::vector<Value>& wrt,
                                                  GradRuleLookup rules, SourceLoc loc) {
  auto fail = [&](const std::string& why) { return Error(loc.to_string() + ": gradients: " + why); };
  if (!loss.valid() || loss.id >= g.size()) return fail("loss refers to a missing node");
  const TensorType loss_type = g.type(loss);
  if (!is_float(loss_type.dtype) || loss_type.shape.rank() != 0)
    return fail("loss must be a float scalar, got " + loss_type.to_string());
  for (Value w : wrt)
    if (!w.valid() || w.id >= g.size())
      return fail("wrt refers to a missing node %" + std::to_string(w.id));

  // needed[i]: i depends on some wrt value AND the loss depends on i.
  const int n = loss.id + 1;
  std::vector<char> from_wrt(n, 0), to_loss(n, 0), needed(n, 0);
  for (Value w : wrt)
    if (w.id < n) from_wrt[w.id] = 1;
  for (int i = 0; i < n; ++i)
    for (Value in : g.node(i).inputs) from_wrt[i] |= from_wrt[in.id];
  to_loss[loss.id] = 1;
  for (int i = n - 1; i >= 0; --i)
    if (to_loss[i])
      for (Value in : g.node(i).inputs) to_loss[in.id] = 1;
  for (int i = 0; i < n; ++i) needed[i] = from_wrt[i] && to_loss[i];

  Builder b(g);
  std::vector<Tensor> acc(n);
  if (needed[loss.id]) acc[loss.id] = b.constant(1.0, loss_type, loc);

  for (int id = n - 1; id >= 0; --id) {
    if (!needed[id] || !acc[id].valid()) continue;
    const Node node = g.node(id);  // a copy: rules append nodes, which may move storage
    const OpDef& def = node.def();
    if (def.has(kLeaf) || def.has(kNoGrad)) continue;
    GradFn rule = rules(node.op);
    if (!rule)
      return Error(node.loc.to_string() + ": no gradient rule for op " + describe(node) +
                   "; cannot differentiate through it");
    Builder::LocScope scope(b, node.loc);
    std::vector<Tensor> inputs;
    for (Value v : node.inputs) inputs.push_back(Tensor(&b, v));
    Tensor out(&b, Value{id});
    Tensor grad_out = acc[id];
    GradContext ctx{b, node, inputs, out, grad_out};
    std::vector<Tensor> grads = rule(ctx);
    if (!b.ok())
      return b.status().error().wrap("gradient of " + describe(node) + " at " +
                                     node.loc.to_string());
    if (grads.size() != node.inputs.size())
      return Error("internal: gradient rule of " + describe(node) + " returned " +
                   std::to_string(grads.size()) + " gradients for " +
                   std::to_string(node.inputs.size()) + " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      Value in = node.inputs[i];
      if (!grads[i].valid() || !needed[in.id]) continue;
      if (grads[i].type() != g.type(in))
        return Error("internal: gradient rule of " + describe(node) + " gave " +
                     grads[i].type().to_string() + " for input " + std::to_string(i) + " of type " +
                     g.type(in).to_string());
      acc[in.id] = acc[in.id].valid() ? add(acc[in.id], grads[i]) : grads[i];
    }
    if (!b.ok()) return b.status().error().wrap("accumulating gradients of " + describe(node));
  }

  std::vector<Value> result;
  for (Value w : wrt) {
    Tensor t = w.id < n ? acc[w.id] : Tensor{};
    if (!t.valid()) t = b.constant(0.0, g.type(w), loc);
    result.push_back(t.value());
  }
  if (!b.ok()) return b.status().error();
  return result;
}

Expected<std::vector<Value>> gradients(Graph& g, Value loss, const std::vector<Value>& wrt,
                                       SourceLoc loc) {
  return gradients_with_rules(g, loss, wrt, registry_rule, loc);
}

}  // namespace kiln
