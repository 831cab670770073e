// The op harness (tests/codegen/harness.h) on the CUDA emulator: each case's graph is
// planned as compile() plans it (with arena guards), rendered to CUDA C++, and every
// case of a family shares one host compile of the emulation source; the Executable is
// bound to the emulated module, so buffers are laid out per the plan exactly as on the
// CPU. Leaves get the harness's deterministic data; outputs and updated states are
// compared element by element with the reference interpreter at the harness tolerances,
// and arena guards and output padding must be intact (no kernel wrote past a buffer).
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/cuda/emulate.h"
#include "codegen/parity_cases.h"
#include "cuda_plans.h"

namespace kiln::test {

struct EmulatedCases {
  std::vector<CudaPlan> plans;
  std::shared_ptr<cudagen::EmulatedModule> module;
};

// Plans and renders every case; `edit` may change the kernel source before the host
// compile (the tests that break a barrier or an index on purpose).
inline EmulatedCases emulate_cases(const Cases& cases,
                                   const std::function<void(std::string&)>& edit = nullptr,
                                   const cudagen::CudaRenderOptions& render = {}) {
  EmulatedCases e;
  std::vector<cudagen::EmulationUnit> units;
  for (size_t i = 0; i < cases.size(); ++i) {
    CompileOptions co;
    co.fusion = cases[i].opts.fusion;
    const std::string prefix = "e" + std::to_string(i) + "_";
    e.plans.push_back(cuda_plan(cases[i].name, cases[i].graph, prefix, co, render));
    e.plans.back().planned->plan.entry_symbol = prefix + "entry";
  }
  for (CudaPlan& p : e.plans) {
    if (edit) edit(p.cuda.source);
    units.push_back({&p.cuda, p.planned->plan.entry_symbol});
  }
  auto m = cudagen::build_emulation(units);
  INFO((m.ok() ? std::string() : m.error().message().substr(0, 20000)));
  REQUIRE(m.ok());
  e.module = *m;
  return e;
}

// Runs case `c` (plan `p`) on the emulator and compares with the reference: "" when
// every output and updated state matches, else what differs first.
inline std::string emulated_mismatch(const ParityCase& c, const CudaPlan& p,
                                     const std::shared_ptr<cudagen::EmulatedModule>& module) {
  const Graph& g = c.graph;
  const ParityOptions& o = c.opts;
  auto st = std::make_shared<StateStore>();
  Expected<std::unique_ptr<Executable>> exe = Executable::bind(p.planned->plan, module, st);
  if (!exe.ok()) return "bind: " + exe.error().message();
  std::map<std::string, RefTensor> feeds;
  if (std::string missing = feed_leaves(g, o, **exe, feeds); !missing.empty())
    return "no buffer for leaf " + missing;
  for (int r = 0; r < o.runs; ++r) {
    Expected<InterpreterResult> ref = interpret(g, feeds);
    if (!ref.ok()) return "reference: " + ref.error().message();
    (*exe)->run();
    if (std::string err = module->take_error(); !err.empty()) return "emulator: " + err;
    if (Status guards = (*exe)->check_guards(); !guards.ok()) return guards.error().message();
    auto compare = [&](const std::string& what, const HostBuffer& b, const RefTensor& want) {
      ElementCheck ec = compare_elements(read_buffer(b), want.data, want.type, o.rtol_for(want.type.dtype));
      if (ec.mismatches == 0) return std::string();
      std::ostringstream os;
      os << what << " " << want.type.to_string() << ": " << ec.mismatches << " of " << want.data.size()
         << " elements differ; first: " << ec.first_text;
      return os.str();
    };
    for (const Output& out : g.outputs()) {
      const HostBuffer* b = (*exe)->output(out.name);
      if (!b) return "no output " + out.name;
      // Sentinel: the zeroed padding of the 64-byte-aligned allocation stays zero.
      const size_t padded = (std::max<size_t>(b->bytes(), 1) + 63) / 64 * 64;
      const unsigned char* raw = static_cast<const unsigned char*>(b->data());
      for (size_t i = b->bytes(); i < padded; ++i)
        if (raw[i] != 0) return "output " + out.name + ": written past its end";
      if (std::string m = compare("output " + out.name, *b, ref->outputs.at(out.name)); !m.empty()) return m;
    }
    for (auto& [name, t] : ref->states) {
      const HostBuffer* b = (*exe)->state_buffer(name);
      if (!b) return "no state " + name;
      if (std::string m = compare("state " + name, *b, t); !m.empty()) return m;
      feeds[name] = t;
    }
  }
  return "";
}

// Every case of `cases` matches the reference on the emulator.
inline void check_emulated(const Cases& cases, const cudagen::CudaRenderOptions& render = {}) {
  EmulatedCases e = emulate_cases(cases, nullptr, render);
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << cases[i].name << "\nkernels:\n" << e.plans[i].planned->program_text.substr(0, 6000));
    CHECK(emulated_mismatch(cases[i], e.plans[i], e.module) == "");
  }
}

}  // namespace kiln::test
