// Graphs -> planned kernel programs -> CUDA programs, for the CUDA tests: the op
// harness's case families and the zoo's training steps, each rendered with its own
// kernel-name prefix so that many programs share one NVRTC or emulator compile.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "codegen/cuda/renderer.h"
#include "codegen/plan_program.h"
#include "models/registry.h"
#include "shared_data.h"

namespace kiln::test {

struct CudaPlan {
  std::string name;
  std::unique_ptr<PlannedProgram> planned;
  cudagen::CudaProgram cuda;
};

// Plans `g` as compile() would (with arena guards) and renders it with `prefix`.
inline CudaPlan cuda_plan(const std::string& name, const Graph& g, const std::string& prefix,
                          const CompileOptions& base = {}, cudagen::CudaRenderOptions ro = {}) {
  INFO("plan " << name);
  CompileOptions co = base;
  co.arena_guard_bytes = 64;
  Expected<PlannedProgram> p = plan_program(g, co);
  INFO((p.ok() ? std::string() : p.error().message()));
  REQUIRE(p.ok());
  CudaPlan cp;
  cp.name = name;
  cp.planned = std::make_unique<PlannedProgram>(std::move(*p));
  ro.prefix = prefix;
  Expected<cudagen::CudaProgram> r = cudagen::render_cuda(cp.planned->lowered.prog, ro);
  INFO((r.ok() ? std::string() : r.error().message()));
  REQUIRE(r.ok());
  cp.cuda = std::move(*r);
  return cp;
}

// The training-step graph of zoo model `model` for `batch` examples (as `kiln train`
// builds it, on a small slice of its data).
inline Graph zoo_step_graph(const std::string& model, int64_t batch) {
  INFO("zoo model " << model);
  const ModelEntry* entry = find_model(model);
  REQUIRE(entry != nullptr);
  RunOptions o;
  o.epochs = 1;
  o.limit = 16;
  o.progress = false;
  if (entry->options & kOptText) o.corpus = testing::shared_data_dir() + "/timemachine.txt";
  Expected<SupervisedSpec> spec = entry->spec(o);
  INFO((spec.ok() ? std::string() : spec.error().message()));
  REQUIRE(spec.ok());
  Expected<Graph> g = build_graph(*spec, GraphKind::Train, batch);
  INFO((g.ok() ? std::string() : g.error().message()));
  REQUIRE(g.ok());
  return std::move(*g);
}

}  // namespace kiln::test
