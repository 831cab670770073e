// Compiled-module manifests as bytes (schema ir/schema/module.fbs, identifier "KMOD";
// docs/aot.md): the ExecutablePlan of ahead-of-time compiled code, the target it was
// compiled for (triple, CPU, required CPU features), the KILN_ABI_VERSION of the code,
// optional embedded weights (values of model-scoped state buffers), metadata and
// optionally the code itself (bundles). Plain structs only: no flatbuffers type appears
// here. deserialize_module trusts nothing: identifier, format version, ABI version,
// flatbuffers Verifier, then known enum values, bounded shapes, validate_plan, unique
// names (weights, signature, features) and every weight naming a model-scoped state
// buffer of the same dtype and shape with numel * dtype size bytes; for CUDA code,
// check_cuda_code. Every error starts with `source` and names the field; no input makes
// it crash or abort.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/shape.h"
#include "ir/status.h"
#include "runtime/cuda_launch.h"
#include "runtime/plan.h"

namespace kiln {

// The manifest format version this kiln writes and reads; other versions are refused.
inline constexpr uint32_t kModuleFormatVersion = 1;

struct ModuleTarget {
  std::string triple;                 // "x86_64-pc-linux-gnu"
  std::string cpu;                    // LLVM CPU name: "x86-64-v3", "znver4"
  std::vector<std::string> features;  // required, as __builtin_cpu_supports spells them
};

// The value of a model-scoped state buffer: `bytes` holds type.bytes() bytes,
// little-endian, row-major (bool is one byte).
struct ModuleWeight {
  std::string name;
  TensorType type;
  std::vector<uint8_t> bytes;
};

// A plan compiled for NVIDIA GPUs (`kiln compile --device cuda`; runtime/cuda_module.h
// loads it).
struct ModuleCudaCode {
  std::string arch;                        // "sm_90": what `image` was built for
  std::vector<uint8_t> image;              // a cubin for `arch` (what cuModuleLoadData takes)
  std::string ptx;                         // PTX for compute_XX of `arch`; may be empty
  std::vector<CudaKernelLaunch> launches;  // one step, in order
  std::string source;                      // the CUDA C++ compiled; may be empty
};

struct CompiledModuleFile {
  ModuleTarget target;                // CPU code only
  ExecutablePlan plan;
  std::vector<ModuleWeight> weights;  // empty: initializers, or external weights
  std::vector<std::pair<std::string, std::string>> metadata;  // unique keys
  std::vector<uint8_t> object;        // the CPU code, when the manifest carries it
  std::optional<ModuleCudaCode> cuda;  // CUDA code instead of CPU code
};

// Why a module was refused, for callers that map refusals to codes (the C API).
enum class ModuleError : uint8_t {
  Io,           // the file or library could not be read or opened
  Symbol,       // a symbol the library must export is missing
  Format,       // not a valid manifest
  AbiVersion,   // code generated against another KILN_ABI_VERSION
  CpuFeatures,  // this CPU lacks a feature the code needs
  Device,       // no CUDA device, or a failed device call (runtime/cuda_module.h)
  DeviceArch,   // the GPU cannot run the module's CUDA code
};

// Writes kModuleFormatVersion and KILN_ABI_VERSION. KILN_CHECKs that each weight and
// constant holds type.bytes() bytes and that the whole manifest stays under flatbuffers'
// 2 GiB limit (caller bugs, not file data).
std::vector<uint8_t> serialize_module(const CompiledModuleFile& m);
// `why`, when given, is set on failure.
Expected<CompiledModuleFile> deserialize_module(std::span<const uint8_t> bytes,
                                                const std::string& source,
                                                ModuleError* why = nullptr);

// Checks a weight list against `plan`: each names a model-scoped state buffer with the
// same dtype and shape and holds numel * dtype size bytes, and no name repeats. Errors
// start with `at` ("m.kmod: ") and name the weight.
Status check_weights(const ExecutablePlan& plan, const std::vector<ModuleWeight>& weights,
                     const std::string& at);

// Checks CUDA code against `plan`: arch spelled sm_NN, a non-empty image, and a launch
// table that covers the plan: each launch names a kernel (a C identifier), has a grid of
// 1 to 2^31-1 blocks of 1 to 1024 threads and 0 to 256 KiB of dynamic shared memory, and
// belongs to a plan launch, in the plan's order, every plan launch having at least one.
// Errors start with `at` ("m.kmod: ") and name the field.
Status check_cuda_code(const ExecutablePlan& plan, const ModuleCudaCode& cuda, const std::string& at);

// Whole files, written atomically (runtime/atomic_file.h).
Status save_module(const std::string& path, const CompiledModuleFile& m);
Expected<CompiledModuleFile> load_module(const std::string& path, ModuleError* why = nullptr);

}  // namespace kiln
