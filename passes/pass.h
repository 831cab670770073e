// Pass interface and pass manager. One pass = passes/<name>.{h,cpp} plus
// tests/passes/<name>_test.cpp. run() returns true when the graph changed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  virtual Expected<bool> run(Graph& g) = 0;
};

struct PassTiming {
  std::string pass;
  double seconds = 0;
  bool changed = false;
  int nodes_after = 0;
};

class PassManager {
 public:
  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  // Verify after each pass (on by default: tests and debug builds want it).
  void set_verify(bool v) { verify_ = v; }
  // Called with (pass name, graph) after each pass, e.g. to print it.
  void set_after_pass(std::function<void(const std::string&, const Graph&)> fn) {
    after_ = std::move(fn);
  }
  Status run(Graph& g);
  const std::vector<PassTiming>& timings() const { return timings_; }

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
  bool verify_ = true;
  std::function<void(const std::string&, const Graph&)> after_;
  std::vector<PassTiming> timings_;
};

}  // namespace kiln
