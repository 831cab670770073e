// ExecutablePlan: what the code generator hands the runtime, as plain data. The runtime
// binds a plan to memory (an arena, input/output buffers, state buffers, constants) and
// to the code that implements it (a CodeModule: the JIT now, an object file or a CUDA
// module later), and the result is an Executable (runtime/executable.h).
//
// buffers[i] is buffer id i of the generated code: the entry function receives an array
// of their addresses in that order (runtime/abi.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/shape.h"
#include "ir/status.h"
#include "ir/state.h"

namespace kiln {

enum class PlanBufferKind : uint8_t {
  Arena,     // an intermediate at `offset` in the executable's arena
  Input,     // bound by the caller before each run (buffers of one name share storage)
  Output,    // read by the caller after each run
  State,     // persistent: found or created in a state store, see StateKind / StateScope
  Constant,  // read-only data owned by the plan
};
const char* plan_buffer_kind_name(PlanBufferKind k);

struct PlanBuffer {
  PlanBufferKind kind = PlanBufferKind::Arena;
  std::string name;  // inputs, outputs and states are bound by name
  TensorType type;
  uint64_t offset = 0;  // Arena: byte offset, 64-byte aligned
  // State buffers: what they hold, who owns them, how they start.
  StateKind state_kind = StateKind::Parameter;
  StateScope scope = StateScope::Model;
  InitSpec init;
  // Constant buffers: the elements, little-endian in `type`'s dtype.
  std::vector<uint8_t> data;
};

// One kernel of the schedule. On the CPU the entry function calls the kernels itself and
// this list describes them (inspection, profiles); a device runtime launches from it.
struct KernelLaunch {
  std::string name;        // what it computes, e.g. "gemm_12" (profiles, inspect)
  std::string symbol;      // its function in the code module
  std::vector<int> reads;  // buffer ids
  int writes = -1;         // buffer id
  // What it computes and moves at the least (codegen/kernel_cost.h): profiles report
  // GFLOP/s and GB/s from these.
  double flops = 0, bytes = 0;
  bool contraction = false;  // bound by the GEMM rate: a GEMM or convolution (not memory)
};

// Bytes of the arena no kernel may write (the padding after a buffer, in plans compiled
// with guards): the runtime fills them with a pattern and check_guards() verifies it.
struct ArenaGuard {
  int buffer = -1;  // the buffer the guard follows
  uint64_t offset = 0, bytes = 0;
};

struct ExecutableStats {
  int graph_nodes = 0;     // nodes in the optimized graph
  int kernels = 0;         // kernels called by the entry function
  size_t arena_bytes = 0;  // peak bytes of the intermediate arena
  double compile_seconds = 0;
  bool cache_hit = false;  // the code came from the compile cache (codegen/compile_cache.h)
};

struct ExecutablePlan {
  std::string name;          // the graph's name, e.g. "mlp.train"
  std::string entry_symbol;  // unique per executable
  uint64_t arena_bytes = 0;
  std::vector<PlanBuffer> buffers;
  std::vector<KernelLaunch> launches;
  std::vector<ArenaGuard> guards;
  std::vector<std::string> inputs, outputs;  // the signature, in graph order
  uint64_t init_seed = 0;                    // seeds initial values of new state buffers
  ExecutableStats stats;
  std::string description;  // fusion, memory plan and kernels, for `kiln inspect`
};

// Checks the plan is internally consistent (names present, arena offsets in range and
// aligned, constant sizes match, signature names exist); errors name the buffer.
Status validate_plan(const ExecutablePlan& plan);

// The plan's interface as one line, inputs then outputs in signature order:
// "x: f32[1,1,28,28] -> pred: f32[1,10]". Generated headers record it, and the C API
// refuses a module whose signature is not the one its header was generated for.
std::string plan_signature(const ExecutablePlan& plan);

}  // namespace kiln
