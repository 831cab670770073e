// The op harness for the JIT backend (DESIGN.md convention 17): feeds every leaf of a
// graph with deterministic random data, runs it through compile() and through the
// reference interpreter, and compares every output and updated state by normalized
// error (sum of squared differences over sum of squares, NaN/inf patterns must match).
// Each fed leaf can get its own generator (e.g. in-range indices). Output buffers are
// checked for overruns by the zeroed padding sentinel of their 64-byte allocation.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <random>
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

// Normalized error; a NaN/inf mismatch gives +inf.
inline double nmse(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double a = got[i], b = want[i];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) != std::isnan(b)) return INFINITY;
      continue;
    }
    if (std::isinf(a) || std::isinf(b)) {
      if (a != b) return INFINITY;
      continue;
    }
    num += (a - b) * (a - b);
    den += b * b;
  }
  return den == 0 ? num : num / den;
}

struct ParityOptions {
  double tol = 1e-10;
  uint64_t seed = 1;
  std::map<std::string, Gen> gens;  // per leaf name; default uniform [-2, 2)
  int runs = 1;                     // repeated runs (state carried over)
};

inline double default_gen(DType t, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  switch (t) {
    case DType::boolean: return rng() & 1;
    case DType::i32:
    case DType::i64: return static_cast<double>(static_cast<int64_t>(rng() % 7) - 3);
    default: return u(rng);
  }
}

// Returns the worst normalized error over outputs and updated states.
inline double check_parity(const Graph& g, const ParityOptions& o = {}) {
  INFO("graph:\n" << print_graph(g));
  auto st = std::make_shared<StateStore>();
  Expected<std::unique_ptr<Executable>> exe = compile(g, st);
  INFO((exe.ok() ? std::string() : exe.error().message()));
  REQUIRE(exe.ok());
  INFO("kernels:\n" << (*exe)->describe());
  std::mt19937_64 rng(o.seed);
  std::map<std::string, RefTensor> feeds;
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Input && n.op != OpKind::Parameter && n.op != OpKind::State) continue;
    RefTensor t{n.type, {}};
    auto it = o.gens.find(n.name);
    for (int64_t i = 0; i < n.type.shape.numel(); ++i) {
      double v = it != o.gens.end() ? it->second(rng, i) : default_gen(n.dtype(), rng);
      t.data.push_back(round_to_dtype(n.dtype(), v));
    }
    HostBuffer* b = n.op == OpKind::Input ? (*exe)->input(n.name) : st->find(n.name);
    REQUIRE(b != nullptr);
    write_buffer(*b, t.data);
    feeds[n.name] = t;
  }
  double worst = 0;
  for (int r = 0; r < o.runs; ++r) {
    Expected<InterpreterResult> ref = interpret(g, feeds);
    INFO((ref.ok() ? std::string() : ref.error().message()));
    REQUIRE(ref.ok());
    (*exe)->run();
    for (const Output& out : g.outputs()) {
      const HostBuffer* b = (*exe)->output(out.name);
      REQUIRE(b != nullptr);
      // Sentinel: the zeroed padding of the 64-byte-aligned allocation stays zero.
      size_t padded = (std::max<size_t>(b->bytes(), 1) + 63) / 64 * 64;
      const unsigned char* raw = static_cast<const unsigned char*>(b->data());
      for (size_t i = b->bytes(); i < padded; ++i) REQUIRE(raw[i] == 0);
      double e = nmse(read_buffer(*b), ref->outputs.at(out.name).data);
      INFO("output " << out.name << " error " << e);
      CHECK(e <= o.tol);
      worst = std::max(worst, e);
    }
    for (auto& [name, t] : ref->states) {
      const HostBuffer* b = st->find(name);
      REQUIRE(b != nullptr);
      double e = nmse(read_buffer(*b), t.data);
      INFO("state " << name << " error " << e);
      CHECK(e <= o.tol);
      worst = std::max(worst, e);
      feeds[name] = t;
    }
  }
  return worst;
}

}  // namespace kiln::test
