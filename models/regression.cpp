// d2l's synthetic regression models: linear regression from scratch (3.2), polynomial
// fitting showing under- and over-fitting (4.4), and weight decay as an explicit L2
// penalty on a 200-input linear model trained on 20 examples (4.5).
#include <cmath>

#include "models/run_common.h"
#include "models/synthetic.h"

namespace kiln {
namespace {

SupervisedSpec linear_spec(const std::string& name, int64_t inputs, bool bias, nn::Init init,
                           double lr, const RunOptions& opts) {
  auto layer = std::make_shared<nn::Linear>(inputs, 1, init, bias, name + ".out");
  SupervisedSpec s;
  s.name = name;
  s.example_shape = Shape{inputs};
  s.classification = false;
  s.net = [layer](nn::Context& ctx, const Tensor& x) { return (*layer)(ctx, x); };
  s.layers = layer;
  s.optimizer.lr = lr;
  s.optimizer.weight_decay = std::isnan(opts.wd) ? 0.0 : opts.wd;
  s.seed = static_cast<int64_t>(opts.seed);
  return s;
}

double l2_norm(const HostBuffer* b) {
  double s = 0;
  for (int64_t i = 0; i < b->type().shape.numel(); ++i) s += double(b->as<float>()[i]) * b->as<float>()[i];
  return std::sqrt(s);
}

// ---- linreg (d2l 3.2) ----
const TrainDefaults kLinreg{3, 10, 0.03};

Expected<SupervisedSpec> linreg_spec(const RunOptions& o) {
  return linear_spec("linreg", 2, true, nn::Init::normal(0.0, 0.01), resolve_lr(o, kLinreg), o);
}

// The most examples `--limit` may ask linreg to generate (2 features: 120 MB of data).
constexpr int64_t kMaxSyntheticExamples = 10'000'000;

Expected<RunReport> run_linreg(const RunOptions& o) {
  SupervisedSpec spec = KILN_TRY(linreg_spec(o));
  const std::vector<double> true_w = {2.0, -3.4};
  const double true_b = 4.2;
  // --limit sizes the synthetic data set; it is generated in memory, so its size is capped.
  if (o.limit > kMaxSyntheticExamples)
    return Error("--limit: linreg generates at most " + std::to_string(kMaxSyntheticExamples) +
                 " synthetic examples, got " + std::to_string(o.limit));
  SyntheticData d = linear_data(true_w, true_b, o.limit > 0 ? o.limit : 1000, 0.01, o.seed + 1);
  TableSource train(d.x, d.width, d.y);
  return run_supervised(std::move(spec), train, nullptr, o, kLinreg,
                        [&](CompiledModel& m, RunReport& r) -> Status {
                          const HostBuffer* w = m.state().find("linreg.out.weight");
                          const HostBuffer* b = m.state().find("linreg.out.bias");
                          if (!w || !b) return Error("linreg: trained parameters missing");
                          r.set("w0", w->as<float>()[0]);
                          r.set("w1", w->as<float>()[1]);
                          r.set("b", b->as<float>()[0]);
                          r.set("w_error", std::hypot(w->as<float>()[0] - true_w[0],
                                                      w->as<float>()[1] - true_w[1]));
                          r.set("b_error", std::abs(b->as<float>()[0] - true_b));
                          return Status::Ok();
                        });
}

// ---- polyfit (d2l 4.4) ----
const TrainDefaults kPolyfit{400, 10, 0.01};
constexpr int kMaxDegree = 20;

Expected<SupervisedSpec> polyfit_spec_k(const RunOptions& o, int64_t k) {
  SupervisedSpec s = linear_spec("polyfit" + std::to_string(k), k, false, nn::Init::normal(0.0, 0.01),
                                 resolve_lr(o, kPolyfit), o);
  s.loss = [](nn::Context&, const Tensor& pred, const Tensor& y) { return mse(pred, y); };
  return s;
}

Expected<SupervisedSpec> polyfit_spec(const RunOptions& o) { return polyfit_spec_k(o, 4); }

Expected<RunReport> run_polyfit(const RunOptions& o) {
  SyntheticData all = polynomial_data(200, kMaxDegree, o.seed + 1);
  SyntheticData train_all = take_rows(all, 0, 100), test_all = take_rows(all, 100, 200);
  RunReport report;
  report.model = "polyfit";
  struct Variant {
    const char* name;
    int64_t features;
  };
  for (Variant v : {Variant{"cubic", 4}, Variant{"linear", 2}, Variant{"high_degree", kMaxDegree}}) {
    SupervisedSpec spec = KILN_TRY(polyfit_spec_k(o, v.features));
    SyntheticData tr = take_columns(train_all, v.features), te = take_columns(test_all, v.features);
    TableSource train(tr.x, tr.width, tr.y), test(te.x, te.width, te.y);
    RunOptions sub = o;
    sub.progress = false;  // 400 epochs x 3 fits: only the summary is printed
    RunReport r = KILN_TRY(run_supervised(std::move(spec), train, &test, sub, kPolyfit));
    std::string p = v.name;
    report.set(p + "_train_loss", r.get("train_loss"));
    report.set(p + "_test_loss", r.get("test_loss"));
    if (v.features == 4) {
      for (const auto& [k, val] : r.metrics)
        if (k == "train_loss" || k == "test_loss" || k == "epochs" || k == "seconds_per_epoch" ||
            k == "examples_per_second")
          report.set(k, val);
    }
    report.set("compile_seconds", report.get("compile_seconds", 0.0) + r.get("compile_seconds"));
  }
  return report;
}

// ---- weight_decay (d2l 4.5) ----
const TrainDefaults kWeightDecay{100, 5, 0.003};
constexpr int64_t kWdInputs = 200;

Expected<SupervisedSpec> weight_decay_spec(const RunOptions& o) {
  double lambda = std::isnan(o.wd) ? 3.0 : o.wd;
  SupervisedSpec s = linear_spec("weight_decay", kWdInputs, true, nn::Init::normal(0.0, 1.0),
                                 resolve_lr(o, kWeightDecay), o);
  s.optimizer.weight_decay = 0.0;  // --wd is the explicit penalty's lambda here
  // loss = squared_loss + lambda * l2_penalty(w); evaluation uses squared_loss alone.
  s.loss = [lambda](nn::Context& ctx, const Tensor& pred, const Tensor& y) {
    Tensor w(&ctx.b, ctx.b.graph().find_leaf("weight_decay.out.weight"));
    return mse(pred, y, /*half=*/true) + l2_penalty(w) * lambda;
  };
  s.eval_loss = [](nn::Context&, const Tensor& pred, const Tensor& y) {
    return mse(pred, y, /*half=*/true);
  };
  return s;
}

Expected<RunReport> run_weight_decay(const RunOptions& o) {
  SupervisedSpec spec = KILN_TRY(weight_decay_spec(o));
  std::vector<double> true_w(kWdInputs, 0.01);
  SyntheticData tr = linear_data(true_w, 0.05, 20, 0.01, o.seed + 1);
  SyntheticData te = linear_data(true_w, 0.05, 100, 0.01, o.seed + 2);
  TableSource train(tr.x, tr.width, tr.y), test(te.x, te.width, te.y);
  RunOptions sub = o;
  return run_supervised(std::move(spec), train, &test, sub, kWeightDecay,
                        [&](CompiledModel& m, RunReport& r) -> Status {
                          const HostBuffer* w = m.state().find("weight_decay.out.weight");
                          if (!w) return Error("weight_decay: trained weight missing");
                          r.set("lambda", std::isnan(o.wd) ? 3.0 : o.wd);
                          r.set("w_l2_norm", l2_norm(w));
                          return Status::Ok();
                        });
}

ModelRegistration linreg_reg{{"linreg",
                              "linear regression on synthetic data, w=[2,-3.4], b=4.2 (d2l 3.2)",
                              kOptPlot | kOptCheckpoint | kOptLimit | kOptOptimizer,
                              run_linreg, linreg_spec}};
ModelRegistration polyfit_reg{
    {"polyfit", "cubic polynomial fit: normal, under- and over-fitting (d2l 4.4)", kOptOptimizer,
     run_polyfit, polyfit_spec}};
ModelRegistration weight_decay_reg{
    {"weight_decay", "200-input linear model on 20 examples with L2 penalty --wd (d2l 4.5)",
     kOptPlot | kOptCheckpoint | kOptOptimizer, run_weight_decay, weight_decay_spec}};

}  // namespace
}  // namespace kiln
