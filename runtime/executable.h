// A compiled graph ready to run. run() performs no allocation and no per-op dispatch:
// it calls one native entry function with precomputed buffer pointers. Inputs and
// outputs are fixed buffers owned by the executable (fill inputs, run, read outputs);
// parameters and other state live in a StateStore that several executables (train
// step, eval, generate) share, so they see the same weights.
//
// This header is part of the runtime, which must not depend on LLVM.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/shape.h"
#include "ir/status.h"

namespace kiln {

// An owned, 64-byte-aligned tensor buffer.
class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(TensorType type);
  HostBuffer(HostBuffer&&) noexcept;
  HostBuffer& operator=(HostBuffer&&) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer();

  const TensorType& type() const { return type_; }
  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T> T* as() { return static_cast<T*>(data_); }
  template <typename T> const T* as() const { return static_cast<const T*>(data_); }
  size_t bytes() const { return type_.bytes(); }

 private:
  TensorType type_;
  void* data_ = nullptr;
};

// Named persistent buffers: parameters (trainable) and states.
class StateStore {
 public:
  bool has(const std::string& name) const { return buffers_.count(name) != 0; }
  // Creates the buffer if missing. Errors if it exists with another type.
  Expected<HostBuffer*> get_or_create(const std::string& name, const TensorType& type,
                                      bool trainable, bool* created = nullptr);
  HostBuffer* find(const std::string& name);
  const HostBuffer* find(const std::string& name) const;
  std::vector<std::string> names() const;       // sorted
  std::vector<std::string> parameters() const;  // trainable ones, sorted
  bool trainable(const std::string& name) const;

 private:
  std::map<std::string, HostBuffer> buffers_;
  std::map<std::string, bool> trainable_;
};

struct ExecutableStats {
  int graph_nodes = 0;      // nodes in the optimized graph
  int kernels = 0;          // kernels called by the entry function
  size_t arena_bytes = 0;   // peak bytes of the intermediate arena
  double compile_seconds = 0;
};

// Kernel entry point signature shared with the code generator.
using EntryFn = void (*)(void** buffers);

class Executable {
 public:
  virtual ~Executable() = default;

  // Input/output buffers by name (nullptr if unknown).
  virtual HostBuffer* input(const std::string& name) = 0;
  virtual const HostBuffer* output(const std::string& name) const = 0;
  virtual std::vector<std::string> input_names() const = 0;
  virtual std::vector<std::string> output_names() const = 0;
  virtual void run() = 0;

  virtual StateStore& state() = 0;
  virtual const ExecutableStats& stats() const = 0;
  // Human-readable kernel list + memory plan (kiln inspect).
  virtual std::string describe() const = 0;
};

}  // namespace kiln
