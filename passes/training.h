// training: turns a forward graph with a scalar loss into ONE training-step graph:
// forward + loss + gradients (autodiff) + optimizer update. Parameters, optimizer
// moments and the step counter are state leaves updated in place through state updates,
// and Adam's bias corrections are computed in the graph from the step counter, so the
// compiled step never changes between calls (DESIGN.md convention 14).
#pragma once

#include <string>

#include "passes/pass.h"

namespace kiln {

struct OptimizerConfig {
  enum Kind { SGD, Adam };
  Kind kind = SGD;
  double lr = 0.1;
  double momentum = 0.0;      // SGD: v = momentum*v + g; w -= lr*v (PyTorch semantics)
  double weight_decay = 0.0;  // adds weight_decay*w to every gradient (PyTorch semantics)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
  double clip_norm = 0.0;     // > 0: scale gradients so their global L2 norm <= clip_norm
};

// Parses "sgd" / "adam" (case-insensitive).
Expected<OptimizerConfig::Kind> parse_optimizer(const std::string& name);

class TrainingStepPass : public Pass {
 public:
  // `loss_output` names the graph output holding the scalar loss to minimize.
  TrainingStepPass(std::string loss_output, OptimizerConfig config)
      : loss_output_(std::move(loss_output)), config_(config) {}
  std::string name() const override { return "training"; }
  Expected<bool> run(Graph& g) override;

 private:
  std::string loss_output_;
  OptimizerConfig config_;
};

}  // namespace kiln
