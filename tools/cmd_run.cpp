// `kiln run MODEL.kiln`: a model file (kiln export) JIT-compiled and run on zero inputs,
// timed: the seconds from the command's start to the first result (reading the file,
// compiling, binding the weights, one run) and the latency of further runs. With the
// compile cache warm the first result needs no LLVM work. bench/aot_latency.py compares
// this with the same model compiled ahead of time. Each output's sum and sum of absolute
// values are printed, so runs on two devices (--device cuda) can be compared.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "codegen/cuda/compile_device.h"
#include "ir/serialize.h"
#include "runtime/atomic_file.h"
#include "runtime/thread_pool.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/json_out.h"

namespace kiln::cli {

namespace {

struct RunArgs {
  std::string model;
  int repeat = 1000;
  int threads = 0;
  bool json = false;
};

struct OutputSums {
  std::string name;
  double sum = 0, abs_sum = 0;  // abs_sum: a sum that cancellation cannot hide
};

// A buffer's element sums (booleans as 0/1).
OutputSums sums_of(const std::string& name, const HostBuffer& b) {
  OutputSums s{name};
  const int64_t n = b.type().shape.numel();
  for (int64_t i = 0; i < n; ++i) {
    double x = 0;
    switch (b.type().dtype) {
      case DType::f32: x = b.as<float>()[i]; break;
      case DType::f64: x = b.as<double>()[i]; break;
      case DType::i32: x = b.as<int32_t>()[i]; break;
      case DType::i64: x = static_cast<double>(b.as<int64_t>()[i]); break;
      case DType::boolean: x = b.as<uint8_t>()[i] != 0; break;
    }
    s.sum += x;
    s.abs_sum += std::fabs(x);
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run_model(const RunArgs& a, std::chrono::steady_clock::time_point start) {
  if (a.threads > 0) set_num_threads(a.threads);
  Expected<std::string> bytes = read_file(a.model);
  if (!bytes.ok()) return report_error(bytes.error());
  Expected<ModelFile> file = deserialize_model(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
      a.model);
  if (!file.ok()) return report_error(file.error());
  Expected<std::unique_ptr<Executable>> exe =
      cudagen::compile_on_default_device(file->graph, std::make_shared<StateStore>());
  if (!exe.ok()) return report_error(exe.error().wrap("compiling " + a.model));
  for (const NamedTensor& t : file->parameters)
    if (HostBuffer* b = (*exe)->state_buffer(t.name); b && b->bytes() == t.bytes.size())
      std::memcpy(b->data(), t.bytes.data(), t.bytes.size());
  if (Status st = (*exe)->run_checked(); !st.ok()) return report_error(st.error().wrap("running " + a.model));
  const double first = seconds_since(start);
  std::vector<OutputSums> sums;  // the first run's outputs
  for (const std::string& name : (*exe)->output_names()) sums.push_back(sums_of(name, *(*exe)->output(name)));
  std::vector<double> runs;
  for (int i = 0; i < a.repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    (*exe)->run();
    runs.push_back(seconds_since(t0));
  }
  if (Status st = (*exe)->run_status(); !st.ok()) return report_error(st.error().wrap("running " + a.model));
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (double r : runs) mean += r;
  mean = runs.empty() ? 0 : mean / runs.size();
  const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  const double least = sorted.empty() ? 0 : sorted.front();
  const ExecutableStats& st = (*exe)->stats();
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = a.model;
    j["graph"] = (*exe)->plan().name;
    j["kernels"] = st.kernels;
    j["compile_seconds"] = st.compile_seconds;
    j["cache_hit"] = st.cache_hit;
    j["first_result_seconds"] = first;
    j["runs"] = runs.size();
    j["run_us_least"] = least * 1e6;
    j["run_us_median"] = median * 1e6;
    j["run_us_mean"] = mean * 1e6;
    for (const OutputSums& o : sums) j["outputs"][o.name] = {{"sum", o.sum}, {"abs_sum", o.abs_sum}};
    std::printf("%s\n", json_line(j).c_str());
    return 0;
  }
  std::printf("%s: graph %s, %d kernels, compiled in %.4f s%s\n", a.model.c_str(),
              (*exe)->plan().name.c_str(), st.kernels, st.compile_seconds,
              st.cache_hit ? " (compile cache hit)" : "");
  std::printf("first result %.4f s after start; %zu more runs: %.1f us least, %.1f us median, "
              "%.1f us mean\n",
              first, runs.size(), least * 1e6, median * 1e6, mean * 1e6);
  for (const OutputSums& o : sums)
    std::printf("output %s: sum %.9g, sum of |x| %.9g\n", o.name.c_str(), o.sum, o.abs_sum);
  return 0;
}

}  // namespace

Command add_run_command(CLI::App& kiln) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* sub = kiln.add_subcommand(
      "run", "JIT-compile a model file (kiln export) and time runs of it on zero inputs");
  sub->allow_extras();
  sub->add_option("MODEL", a->model, "the model file")->required()->type_name("");
  add_int(*sub, "--repeat", a->repeat, 0, 10000000, "runs to time after the first (default 1000)");
  add_int(*sub, "--threads", a->threads, 1, kMaxThreads, "worker threads (default: all cores)");
  sub->add_flag("--json", a->json, "print one JSON object with the timings");
  const auto start = std::chrono::steady_clock::now();
  return {sub, [a, start] { return run_model(*a, start); }};
}

}  // namespace kiln::cli
