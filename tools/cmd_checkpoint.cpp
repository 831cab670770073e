// `kiln checkpoint FILE`: what a training checkpoint holds. Where training stands
// (model, format and random-streams versions, epoch, step, data order), one line per
// tensor (name, kind, dtype, shape, 64-bit content hash: equal hashes mean equal
// contents, so two runs can be compared without their files), then the metrics of every
// completed epoch. --json prints it all as one JSON object instead.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "runtime/checkpoint.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/json_out.h"

namespace kiln::cli {

namespace {

struct CheckpointArgs {
  std::string file;
  bool json = false;
};

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

nlohmann::ordered_json checkpoint_json(const std::string& file, const CheckpointData& ck) {
  nlohmann::ordered_json j;
  j["file"] = file;
  j["model"] = ck.model;
  j["format_version"] = kCheckpointFormatVersion;
  j["rng_version"] = ck.rng_version;
  j["epoch"] = ck.epoch;
  j["step"] = ck.step;
  j["data_seed"] = ck.data_seed;
  j["data_position"] = ck.data_position;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : ck.metadata) meta[k] = v;
  j["metadata"] = std::move(meta);
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const CheckpointTensor& t : ck.tensors) {
    nlohmann::ordered_json e;
    e["name"] = t.name;
    e["kind"] = state_kind_name(t.kind);
    e["scope"] = state_scope_name(t.scope);
    e["dtype"] = dtype_name(t.type.dtype);
    e["shape"] = t.type.shape.dims;
    e["bytes"] = t.bytes.size();
    e["hash"] = hex64(content_hash(t));
    tensors.push_back(std::move(e));
  }
  j["tensors"] = std::move(tensors);
  nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
  for (size_t i = 0; i < ck.epoch_metrics.size(); ++i) {
    nlohmann::ordered_json e;
    e["epoch"] = i + 1;
    for (const auto& [k, v] : ck.epoch_metrics[i]) e[k] = v;
    epochs.push_back(std::move(e));
  }
  j["epoch_metrics"] = std::move(epochs);
  return j;
}

void print_text(const std::string& file, const CheckpointData& ck) {
  std::printf("%-14s %s\n", "checkpoint", file.c_str());
  std::printf("%-14s %s\n", "model", ck.model.c_str());
  std::printf("%-14s %u\n", "format", static_cast<unsigned>(kCheckpointFormatVersion));
  std::printf("%-14s %u\n", "rng_version", static_cast<unsigned>(ck.rng_version));
  std::printf("%-14s %lld\n", "epoch", static_cast<long long>(ck.epoch));
  std::printf("%-14s %lld\n", "step", static_cast<long long>(ck.step));
  std::printf("%-14s %llu\n", "data_seed", static_cast<unsigned long long>(ck.data_seed));
  std::printf("%-14s %lld\n", "data_position", static_cast<long long>(ck.data_position));
  for (const auto& [k, v] : ck.metadata)
    std::printf("%-14s %s = %s\n", "metadata", k.c_str(), v.c_str());

  size_t total = 0;
  size_t name_w = 4, kind_w = 4, shape_w = 5;
  for (const CheckpointTensor& t : ck.tensors) {
    total += t.bytes.size();
    name_w = std::max(name_w, t.name.size());
    kind_w = std::max(kind_w, std::string(state_kind_name(t.kind)).size());
    shape_w = std::max(shape_w, t.type.shape.to_string().size());
  }
  std::printf("%-14s %zu (%zu bytes)\n", "tensors", ck.tensors.size(), total);
  int nw = static_cast<int>(name_w), kw = static_cast<int>(kind_w), sw = static_cast<int>(shape_w);
  std::printf("  %-*s  %-*s  %-5s  %-*s  %s\n", nw, "name", kw, "kind", "dtype", sw, "shape",
              "hash");
  for (const CheckpointTensor& t : ck.tensors)
    std::printf("  %-*s  %-*s  %-5s  %-*s  %s\n", nw, t.name.c_str(), kw, state_kind_name(t.kind),
                dtype_name(t.type.dtype), sw, t.type.shape.to_string().c_str(),
                hex64(content_hash(t)).c_str());

  for (size_t i = 0; i < ck.epoch_metrics.size(); ++i) {
    std::printf("epoch %zu", i + 1);
    for (const auto& [k, v] : ck.epoch_metrics[i]) std::printf("  %s %.6g", k.c_str(), v);
    std::printf("\n");
  }
}

int run_checkpoint(const CheckpointArgs& a) {
  Expected<CheckpointData> ck = load_checkpoint(a.file);
  if (!ck.ok()) return report_error(ck.error());
  if (a.json) {
    std::printf("%s\n", json_line(checkpoint_json(a.file, *ck)).c_str());
  } else {
    print_text(a.file, *ck);
  }
  return 0;
}

}  // namespace

Command add_checkpoint_command(CLI::App& kiln) {
  auto a = std::make_shared<CheckpointArgs>();
  CLI::App* sub = kiln.add_subcommand(
      "checkpoint", "show a training checkpoint: progress, tensors and their hashes, metrics");
  sub->allow_extras();
  sub->add_option("FILE", a->file, "the checkpoint (from kiln train --save)")
      ->required()
      ->type_name("");
  sub->add_flag("--json", a->json, "print one JSON object instead of text");
  return {sub, [a] { return run_checkpoint(*a); }};
}

}  // namespace kiln::cli
