// TargetSpec (target.h): `native` takes the host CPU name and feature map from llvm::sys,
// any other value must be a CPU name LLVM knows for the host triple (the x86-64-v2/v3/v4
// levels are such names). The required features are read back from the subtarget LLVM
// builds for the spec, so a level, a named CPU and the host are treated alike.
#include "codegen/llvm/target.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "llvm/ADT/StringMap.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

namespace kiln::llvmgen {

namespace {

// (LLVM feature, __builtin_cpu_supports name) of the x86 extensions code generation can
// use. The levels: v2 = sse3 ssse3 sse4.1 sse4.2 popcnt cx16; v3 adds avx avx2 fma bmi
// bmi2 f16c lzcnt movbe; v4 adds avx512f avx512bw avx512cd avx512dq avx512vl.
constexpr std::pair<const char*, const char*> kX86Features[] = {
    {"sse3", "sse3"},
    {"ssse3", "ssse3"},
    {"sse4.1", "sse4.1"},
    {"sse4.2", "sse4.2"},
    {"sse4a", "sse4a"},
    {"popcnt", "popcnt"},
    {"cx16", "cmpxchg16b"},
    {"avx", "avx"},
    {"avx2", "avx2"},
    {"fma", "fma"},
    {"fma4", "fma4"},
    {"xop", "xop"},
    {"bmi", "bmi"},
    {"bmi2", "bmi2"},
    {"f16c", "f16c"},
    {"lzcnt", "lzcnt"},
    {"movbe", "movbe"},
    {"aes", "aes"},
    {"pclmul", "pclmul"},
    {"vpclmulqdq", "vpclmulqdq"},
    {"gfni", "gfni"},
    {"sha", "sha"},
    {"avxvnni", "avxvnni"},
    {"avx512f", "avx512f"},
    {"avx512bw", "avx512bw"},
    {"avx512cd", "avx512cd"},
    {"avx512dq", "avx512dq"},
    {"avx512vl", "avx512vl"},
    {"avx512ifma", "avx512ifma"},
    {"avx512vbmi", "avx512vbmi"},
    {"avx512vbmi2", "avx512vbmi2"},
    {"avx512vnni", "avx512vnni"},
    {"avx512bitalg", "avx512bitalg"},
    {"avx512vpopcntdq", "avx512vpopcntdq"},
    {"avx512bf16", "avx512bf16"},
    {"avx512fp16", "avx512fp16"},
};

std::string host_feature_string() {
  std::vector<std::string> feats;
  for (const auto& f : llvm::sys::getHostCPUFeatures())
    feats.push_back((f.second ? "+" : "-") + f.first().str());
  std::sort(feats.begin(), feats.end());  // a StringMap has no stable order
  std::string s;
  for (const std::string& f : feats) s += (s.empty() ? "" : ",") + f;
  return s;
}

std::string accepted_values(const llvm::MCSubtargetInfo& sti) {
  std::string s = "native, x86-64-v2, x86-64-v3, x86-64-v4 or an LLVM CPU name:";
  for (const llvm::SubtargetSubTypeKV& cpu : sti.getAllProcessorDescriptions())
    s += std::string(" ") + cpu.Key;
  return s;
}

}  // namespace

void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

Expected<TargetSpec> parse_target(const std::string& target_cpu) {
  initialize_llvm();
  TargetSpec spec;
  spec.name = target_cpu;
  spec.triple = llvm::sys::getProcessTriple();
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(spec.triple, err);
  if (!target) return Error("LLVM has no target for " + spec.triple + ": " + err);
  if (target_cpu == "native") {
    spec.cpu = llvm::sys::getHostCPUName().str();
    spec.features = host_feature_string();
  } else {
    spec.cpu = target_cpu;
  }
  // The name is checked on a generic subtarget first: given an unknown name, LLVM only
  // prints a warning and ignores it.
  std::unique_ptr<llvm::MCSubtargetInfo> generic(
      target->createMCSubtargetInfo(spec.triple, "", ""));
  if (!generic) return Error("LLVM cannot describe the CPUs of " + spec.triple);
  if (target_cpu != "native" && (target_cpu.empty() || !generic->isCPUStringValid(spec.cpu)))
    return Error("unknown target CPU '" + target_cpu + "': expected " + accepted_values(*generic));
  std::unique_ptr<llvm::MCSubtargetInfo> sti(
      target->createMCSubtargetInfo(spec.triple, spec.cpu, spec.features));
  if (llvm::Triple(spec.triple).isX86())
    for (const auto& [llvm_name, gcc_name] : kX86Features)
      if (sti->checkFeatures(std::string("+") + llvm_name))
        spec.required_features.push_back(gcc_name);
  std::sort(spec.required_features.begin(), spec.required_features.end());
  return spec;
}

const TargetSpec& host_target() {
  static const TargetSpec spec = [] {
    Expected<TargetSpec> s = parse_target("native");
    // The host CPU name comes from LLVM itself, so it is always one LLVM knows.
    KILN_CHECK(s.ok(), "cannot describe the host CPU: " + s.error().message());
    return std::move(*s);
  }();
  return spec;
}

std::vector<std::string> missing_host_features(const TargetSpec& spec) {
  const std::vector<std::string>& host = host_target().required_features;
  std::vector<std::string> missing;
  for (const std::string& f : spec.required_features)
    if (!std::binary_search(host.begin(), host.end(), f)) missing.push_back(f);
  return missing;
}

Expected<std::unique_ptr<llvm::TargetMachine>> create_target_machine(const TargetSpec& spec) {
  initialize_llvm();
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(spec.triple, err);
  if (!target) return Error("LLVM has no target for " + spec.triple + ": " + err);
  llvm::TargetMachine* tm = target->createTargetMachine(
      spec.triple, spec.cpu, spec.features, llvm::TargetOptions(), llvm::Reloc::PIC_,
      llvm::CodeModel::Small, llvm::CodeGenOptLevel::Aggressive);
  if (!tm) return Error("LLVM cannot create a target machine for " + spec.cpu);
  return std::unique_ptr<llvm::TargetMachine>(tm);
}

}  // namespace kiln::llvmgen
