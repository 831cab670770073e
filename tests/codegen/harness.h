// The op harness for the JIT backend (DESIGN.md convention 17): feeds every leaf of a
// graph with deterministic random data, runs it through compile() and through the
// reference interpreter, and compares every output and updated state element by
// element: floats within rtol relative to max(1, |ref|) (NaN must meet NaN, an infinity
// the same infinity), integers and bools exactly. A failure names the first mismatching
// element (flat and multi-index, both values). Per-element rather than one normalized
// error over the tensor, so a single wrong element (a bad border, an off-by-one index)
// cannot hide among thousands of right ones. Each fed leaf can get its own generator
// (e.g. in-range indices). Output buffers are checked for overruns by the zeroed padding
// sentinel of their 64-byte allocation.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/compile.h"
#include "frontend/ops.h"
#include "ir/interpreter.h"
#include "ir/printer.h"

namespace kiln::test {

using Gen = std::function<double(std::mt19937_64&, int64_t)>;

inline void write_buffer(HostBuffer& b, const std::vector<double>& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    switch (b.type().dtype) {
      case DType::f32: b.as<float>()[i] = static_cast<float>(v[i]); break;
      case DType::f64: b.as<double>()[i] = v[i]; break;
      case DType::i32: b.as<int32_t>()[i] = static_cast<int32_t>(v[i]); break;
      case DType::i64: b.as<int64_t>()[i] = static_cast<int64_t>(v[i]); break;
      case DType::boolean: b.as<uint8_t>()[i] = v[i] != 0.0; break;
    }
  }
}

inline std::vector<double> read_buffer(const HostBuffer& b) {
  size_t n = static_cast<size_t>(b.type().shape.numel());
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    switch (b.type().dtype) {
      case DType::f32: v[i] = b.as<float>()[i]; break;
      case DType::f64: v[i] = b.as<double>()[i]; break;
      case DType::i32: v[i] = b.as<int32_t>()[i]; break;
      case DType::i64: v[i] = static_cast<double>(b.as<int64_t>()[i]); break;
      case DType::boolean: v[i] = b.as<uint8_t>()[i]; break;
    }
  }
  return v;
}

// Default per-element tolerance of each float dtype, relative to max(1, |ref|): room for
// a few ulp from the polynomial exp/log/tanh (DESIGN.md convention 10) and for sums
// accumulated in another order than the reference's double sums.
inline double default_rtol(DType t) { return t == DType::f32 ? 1e-5 : 1e-12; }

struct ParityOptions {
  double rtol = -1;  // per element, relative to max(1, |ref|); < 0: default_rtol(dtype)
  uint64_t seed = 1;
  std::map<std::string, Gen> gens;  // per leaf name; default uniform [-2, 2)
  int runs = 1;                     // repeated runs (state carried over)
  bool fusion = true;               // false: compile one kernel per op (CompileOptions)

  double rtol_for(DType t) const {
    if (rtol >= 0) return rtol;
    return default_rtol(t);
  }
};

// Element-by-element comparison of a result with the reference.
struct ElementCheck {
  int64_t mismatches = 0;
  int64_t first = -1;  // flat index of the first mismatch
  double worst = 0;    // largest |got - ref| / max(1, |ref|) (inf for NaN/inf mismatches)
  std::string first_text;
};

inline std::string multi_index(const Shape& s, int64_t flat) {
  std::vector<int64_t> idx(s.rank());
  for (int d = s.rank() - 1; d >= 0; --d) {
    idx[d] = s[d] == 0 ? 0 : flat % s[d];
    flat = s[d] == 0 ? flat : flat / s[d];
  }
  std::string r = "[";
  for (size_t d = 0; d < idx.size(); ++d) r += (d ? "," : "") + std::to_string(idx[d]);
  return r + "]";
}

// Integers and bools exactly; floats within rtol * max(1, |ref|); NaN == NaN and an
// infinity only equals itself.
inline ElementCheck compare_elements(const std::vector<double>& got,
                                     const std::vector<double>& want, const TensorType& type,
                                     double rtol) {
  ElementCheck c;
  if (got.size() != want.size()) {
    c.mismatches = 1;
    c.worst = INFINITY;
    c.first_text = "got " + std::to_string(got.size()) + " elements, want " +
                   std::to_string(want.size());
    return c;
  }
  const bool exact = !is_float(type.dtype);
  for (size_t i = 0; i < got.size(); ++i) {
    const double a = got[i], b = want[i];
    double err;
    if (std::isnan(a) || std::isnan(b)) {
      err = std::isnan(a) && std::isnan(b) ? 0 : INFINITY;
    } else if (std::isinf(a) || std::isinf(b)) {
      err = a == b ? 0 : INFINITY;
    } else {
      err = std::fabs(a - b) / std::max(1.0, std::fabs(b));
    }
    c.worst = std::max(c.worst, err);
    if (exact ? a == b : err <= rtol) continue;
    if (c.mismatches++ == 0) {
      c.first = static_cast<int64_t>(i);
      std::ostringstream os;
      os.precision(17);
      os << "element " << i << " " << multi_index(type.shape, static_cast<int64_t>(i))
         << ": got " << a << ", want " << b;
      if (!exact) os << " (relative error " << err << " > rtol " << rtol << ")";
      c.first_text = os.str();
    }
  }
  return c;
}

// Checks one result; returns its worst relative error.
inline double check_elements(const std::string& what, const std::vector<double>& got,
                             const RefTensor& want, const ParityOptions& o) {
  ElementCheck c = compare_elements(got, want.data, want.type, o.rtol_for(want.type.dtype));
  INFO(what << " " << want.type.to_string() << ": " << c.mismatches << " of "
            << want.data.size() << " elements differ; first: " << c.first_text);
  CHECK(c.mismatches == 0);
  return c.worst;
}

inline double default_gen(DType t, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  switch (t) {
    case DType::boolean: return rng() & 1;
    case DType::i32:
    case DType::i64: return static_cast<double>(static_cast<int64_t>(rng() % 7) - 3);
    default: return u(rng);
  }
}

// A leaf's data: the case's generator for it, else the dtype's default, rounded to the
// dtype (the JIT and the reference read the same values).
inline RefTensor leaf_data(const Node& n, const ParityOptions& o, std::mt19937_64& rng) {
  RefTensor t{n.type, {}};
  auto it = o.gens.find(n.name);
  for (int64_t i = 0; i < n.type.shape.numel(); ++i) {
    double v = it != o.gens.end() ? it->second(rng, i) : default_gen(n.dtype(), rng);
    t.data.push_back(round_to_dtype(n.dtype(), v));
  }
  return t;
}

// Writes every leaf's data (leaf_data, in node order from o.seed) into exe's input and
// state buffers and into feeds; returns the name of a leaf exe has no buffer for, or "".
inline std::string feed_leaves(const Graph& g, const ParityOptions& o, Executable& exe,
                               std::map<std::string, RefTensor>& feeds) {
  std::mt19937_64 rng(o.seed);
  for (const Node& n : g.nodes()) {
    if (!n.def().has(kBound)) continue;
    RefTensor t = leaf_data(n, o, rng);
    HostBuffer* b = n.op == OpKind::Input ? exe.input(n.name) : exe.state_buffer(n.name);
    if (!b) return n.name;
    write_buffer(*b, t.data);
    feeds[n.name] = std::move(t);
  }
  return "";
}

// Returns the worst per-element relative error over outputs and updated states.
inline double check_parity(const Graph& g, const ParityOptions& o = {}) {
  INFO("graph:\n" << print_graph(g));
  auto st = std::make_shared<StateStore>();
  CompileOptions co;
  co.arena_guard_bytes = 64;  // canaries after every arena buffer catch overruns
  co.fusion = o.fusion;
  Expected<std::unique_ptr<Executable>> exe = compile(g, st, co);
  INFO((exe.ok() ? std::string() : exe.error().message()));
  REQUIRE(exe.ok());
  INFO("kernels:\n" << (*exe)->describe());
  std::map<std::string, RefTensor> feeds;
  const std::string missing = feed_leaves(g, o, **exe, feeds);
  INFO("no buffer for leaf " << missing);
  REQUIRE(missing.empty());
  double worst = 0;
  for (int r = 0; r < o.runs; ++r) {
    Expected<InterpreterResult> ref = interpret(g, feeds);
    INFO((ref.ok() ? std::string() : ref.error().message()));
    REQUIRE(ref.ok());
    (*exe)->run();
    Status guards = (*exe)->check_guards();
    INFO((guards.ok() ? std::string() : guards.error().message()));
    REQUIRE(guards.ok());
    for (const Output& out : g.outputs()) {
      const HostBuffer* b = (*exe)->output(out.name);
      REQUIRE(b != nullptr);
      // Sentinel: the zeroed padding of the 64-byte-aligned allocation stays zero.
      size_t padded = (std::max<size_t>(b->bytes(), 1) + 63) / 64 * 64;
      const unsigned char* raw = static_cast<const unsigned char*>(b->data());
      for (size_t i = b->bytes(); i < padded; ++i) REQUIRE(raw[i] == 0);
      worst = std::max(worst, check_elements("output " + out.name, read_buffer(*b),
                                             ref->outputs.at(out.name), o));
    }
    for (auto& [name, t] : ref->states) {
      const HostBuffer* b = (*exe)->state_buffer(name);
      REQUIRE(b != nullptr);
      worst = std::max(worst, check_elements("state " + name, read_buffer(*b), t, o));
      feeds[name] = t;
    }
  }
  return worst;
}

// The optimized LLVM IR of g's plan (compiled with the cache off: a cached object has
// no IR to show).
inline std::string optimized_llvm(const Graph& g) {
  std::string llvm;
  CompileOptions co;
  co.want_llvm = true;
  co.cache = CompileCacheConfig{};
  co.after_stage = [&](const std::string& stage, const std::string& text) {
    if (stage == "llvm") llvm = text;
  };
  REQUIRE(compile_plan(g, co).ok());
  REQUIRE_FALSE(llvm.empty());
  return llvm;
}

}  // namespace kiln::test
