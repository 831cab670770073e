// `kiln bench MODEL`: one compiled training step (or evaluation step, --eval) of a model,
// run on random inputs and timed kernel by kernel, against this machine's measured limits
// (runtime/machine_peaks.h). Each kernel's FLOPs and bytes (codegen/kernel_cost.h) give
// its GFLOP/s or GB/s and the fraction of the peak it reaches -- the GEMM rate for
// contractions, the copy bandwidth for everything else -- and the step's roofline:
//   GEMM-bound  the contractions' FLOPs at the peak GEMM rate (everything else free),
//   limit       the sum over kernels of max(FLOPs / GEMM peak for contractions,
//               bytes / copy bandwidth): no kernel faster than its bound;
// and the step's time as a fraction of the limit (100% = at the machine's limit).
// With --device cuda the step runs on the GPU, launch by launch between CUDA events (not
// the captured graph; runtime/cuda_runtime.h), and the table shows the device profile:
// time, rate and bandwidth per kernel, without the host's peaks or roofline.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "codegen/cuda/compile_device.h"
#include "models/registry.h"
#include "runtime/machine_peaks.h"
#include "runtime/thread_pool.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/json_out.h"

namespace kiln::cli {

namespace {

struct BenchArgs {
  std::string model;
  int64_t batch = 256;
  int steps = 0;  // 0: as many as fit in about a second (at least 5)
  int threads = 0;
  int size = 0;
  bool eval = false;
  bool no_fusion = false;
  bool json = false;
  std::string data;
};

struct KernelRow {
  std::string name;
  double seconds = 0, least = 0, flops = 0, bytes = 0, bound = 0;  // seconds: the mean
  bool contraction = false;
};

int run_bench(const BenchArgs& a) {
  const ModelEntry* model = find_model(a.model);
  if (!model) return report_error(Error("unknown model '" + a.model + "' (see 'kiln models')"));
  RunOptions opts;
  opts.size = a.size;
  opts.data = a.data;
  opts.threads = a.threads;
  Status usable = check_run_options(*model, opts);
  if (!usable.ok()) return report_error(usable.error());
  if (a.threads > 0) set_num_threads(a.threads);
  Expected<SupervisedSpec> spec = model->spec(opts);
  if (!spec.ok()) return report_error(spec.error());
  const GraphKind kind = a.eval ? GraphKind::Eval : GraphKind::Train;
  Expected<Graph> g = build_graph(*spec, kind, a.batch);
  if (!g.ok()) return report_error(g.error());
  CompileOptions co;
  co.profile = true;
  co.fusion = !a.no_fusion;
  Expected<std::unique_ptr<Executable>> compiled =
      cudagen::compile_on_default_device(*g, std::make_shared<StateStore>(), co);
  if (!compiled.ok()) return report_error(compiled.error());
  Executable& exe = **compiled;
  fill_random_inputs(exe, 10);  // 10: a valid label, token id or length for every model

  // The host's limits mean nothing for a device's kernels.
  const std::optional<MachinePeaks> peaks =
      exe.device() ? std::nullopt : std::optional<MachinePeaks>(measure_machine_peaks());
  for (int i = 0; i < 3; ++i)  // warm-up: page faults, caches, thread wake-up
    if (Status st = exe.run_checked(); !st.ok()) return report_error(st.error());
  exe.reset_profile();
  std::vector<double> step_seconds;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Status st = exe.run_checked(); !st.ok()) return report_error(st.error());
    const auto t1 = std::chrono::steady_clock::now();
    step_seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    const double elapsed = std::chrono::duration<double>(t1 - start).count();
    const int done = static_cast<int>(step_seconds.size());
    if (a.steps > 0 ? done >= a.steps : (done >= 5 && elapsed >= 1.0)) break;
  }
  std::vector<double> sorted = step_seconds;
  std::sort(sorted.begin(), sorted.end());
  const double least = sorted.front(), median = sorted[sorted.size() / 2];

  int64_t runs = 0;
  const std::vector<double> seconds = exe.kernel_seconds(&runs);
  const std::vector<double> least_seconds = exe.kernel_least_seconds();
  const std::vector<KernelLaunch>& launches = exe.plan().launches;
  std::vector<KernelRow> rows;
  double total = 0, flops = 0, bytes = 0, gemm_flops = 0, limit = 0, memory_bound = 0;
  for (size_t i = 0; i < launches.size() && i < seconds.size(); ++i) {
    KernelRow r;
    r.name = launches[i].name;
    r.seconds = seconds[i] / static_cast<double>(std::max<int64_t>(1, runs));
    r.least = i < least_seconds.size() ? least_seconds[i] : 0;
    r.flops = launches[i].flops;
    r.bytes = launches[i].bytes;
    r.contraction = launches[i].contraction;
    const double memory = peaks ? r.bytes / peaks->copy_bytes_per_s : 0.0;
    r.bound = std::max(r.contraction && peaks ? r.flops / peaks->gemm_flops_per_s : 0.0, memory);
    total += r.seconds;
    flops += r.flops;
    bytes += r.bytes;
    if (r.contraction) gemm_flops += r.flops;
    else memory_bound += memory;
    limit += r.bound;
    rows.push_back(r);
  }
  const double gemm_bound = peaks ? gemm_flops / peaks->gemm_flops_per_s : 0.0;
  const std::string device = exe.device() ? exe.device()->name() : "";

  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = a.model;
    j["graph"] = a.eval ? "eval" : "train";
    j["batch"] = a.batch;
    if (peaks) j["threads"] = peaks->threads;
    else j["device"] = device;
    j["fusion"] = !a.no_fusion;
    j["kernels"] = launches.size();
    if (peaks) {
      j["gemm_peak_gflops"] = peaks->gemm_flops_per_s * 1e-9;
      j["copy_gbps"] = peaks->copy_bytes_per_s * 1e-9;
    }
    j["steps"] = step_seconds.size();
    j["step_ms_least"] = least * 1e3;
    j["step_ms_median"] = median * 1e3;
    j["flops"] = flops;
    j["bytes"] = bytes;
    j["gemm_flops"] = gemm_flops;
    if (peaks) {
      j["gemm_bound_ms"] = gemm_bound * 1e3;
      j["memory_bound_ms"] = memory_bound * 1e3;
      j["limit_ms"] = limit * 1e3;
      j["fraction_of_limit"] = limit / least;
      j["fraction_of_gemm_bound"] = gemm_bound / least;
    }
    nlohmann::ordered_json ks = nlohmann::ordered_json::array();
    for (const KernelRow& r : rows) {
      ks.push_back({{"name", r.name}, {"us", r.seconds * 1e6}, {"us_least", r.least * 1e6},
                    {"flops", r.flops}, {"bytes", r.bytes}});
      if (peaks) ks.back()["bound_us"] = r.bound * 1e6;
    }
    j["profile"] = ks;
    std::printf("%s\n", json_line(j).c_str());
    return 0;
  }
  const std::string where = peaks ? std::to_string(peaks->threads) + (peaks->threads == 1 ? " thread" : " threads") : device;
  std::printf("kiln bench %s: %s step, batch %lld, %s, %zu kernels%s\n", a.model.c_str(),
              a.eval ? "evaluation" : "training", (long long)a.batch, where.c_str(), launches.size(),
              a.no_fusion ? ", unfused" : "");
  if (peaks)
    std::printf("machine: GEMM %.1f GFLOP/s (f32 %lld^3, %s), copy %.1f GB/s (%lld MiB memcpy)\n",
                peaks->gemm_flops_per_s * 1e-9, (long long)peaks->gemm_n, peaks->isa.c_str(),
                peaks->copy_bytes_per_s * 1e-9, (long long)(peaks->copy_bytes >> 20));
  else
    std::printf("device profile: each launch between CUDA events, launched one by one (not the "
                "captured graph); a kernel's time sums its launches\n");
  std::printf("step: %.3f ms least, %.3f ms median of %zu runs\n", least * 1e3, median * 1e3,
              step_seconds.size());
  std::printf("%-44s %9s %9s %6s %9s %8s %8s\n", "kernel", "us/step", "least us", "share",
              "GFLOP/s", "GB/s", "of peak");
  for (size_t i = 0; i < rows.size(); ++i) {
    const KernelRow& r = rows[i];
    std::string name = "k" + std::to_string(i) + " " + r.name;
    if (name.size() > 44) name = name.substr(0, 41) + "...";
    const double s = std::max(r.seconds, 1e-12);
    std::string of_peak = "-";
    if (peaks)
      of_peak = std::to_string(std::lround(100 * (r.contraction ? r.flops / s / peaks->gemm_flops_per_s
                                                                 : r.bytes / s / peaks->copy_bytes_per_s))) +
                "%";
    std::printf("%-44s %9.1f %9.1f %5.1f%% %9.1f %8.2f %7s %s\n", name.c_str(), r.seconds * 1e6,
                r.least * 1e6, 100 * r.seconds / std::max(total, 1e-12), r.flops / s * 1e-9,
                r.bytes / s * 1e-9, of_peak.c_str(), r.contraction ? "gemm" : "copy");
  }
  std::printf("step: %.1f MFLOP (%.1f in contractions), %.2f MB moved\n", flops * 1e-6,
              gemm_flops * 1e-6, bytes * 1e-6);
  if (!peaks) return 0;
  std::printf("roofline: GEMM-bound %.3f ms, memory-bound %.3f ms (the other kernels' bytes), "
              "limit %.3f ms\n",
              gemm_bound * 1e3, memory_bound * 1e3, limit * 1e3);
  std::printf("step at %.0f%% of the limit, %.0f%% of the GEMM-bound limit\n", 100 * limit / least,
              100 * gemm_bound / least);
  return 0;
}

}  // namespace

Command add_bench_command(CLI::App& kiln) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* sub = kiln.add_subcommand(
      "bench", "time a model's compiled step kernel by kernel against the machine's limits");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model to benchmark (see 'kiln models')")
      ->required()
      ->type_name("");
  add_int(*sub, "--batch-size", a->batch, 1, 1 << 24, "batch size of the step (default 256)");
  add_int(*sub, "--steps", a->steps, 1, 1000000,
          "timed steps (default: as many as fit in about a second, at least 5)");
  add_int(*sub, "--threads", a->threads, 1, kMaxThreads, "worker threads (default: all cores)");
  sub->add_flag("--eval", a->eval, "time the evaluation step instead of the training step");
  sub->add_flag("--no-fusion", a->no_fusion, "compile one kernel per op (every value stored)");
  sub->add_flag("--json", a->json, "print one JSON object with the results instead of the table");
  add_size_flag(*sub, a->size);
  sub->add_option("--data", a->data, "data file or directory (model-specific)")->type_name("PATH");
  return {sub, [a] { return run_bench(*a); }};
}

}  // namespace kiln::cli
