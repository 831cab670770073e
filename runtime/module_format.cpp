// Module manifests (see runtime/module_format.h). Reading goes envelope first (size,
// identifier, the version field read from a shallowly verified root, full flatbuffers
// verification; ir/schema/flatbuffer_io.h), then the ABI version, then decodes each field
// with a check that names it, and finally checks the plan as a whole (validate_plan) and
// the weights against it.
#include "runtime/module_format.h"

#include <cctype>
#include <limits>
#include <map>
#include <set>

#include <flatbuffers/flatbuffers.h>

#include "ir/schema/flatbuffer_io.h"
#include "module_generated.h"
#include "runtime/abi.h"
#include "runtime/atomic_file.h"
#include "runtime/cuda_arch.h"

namespace kiln {
namespace {

using namespace fbio;  // to_fb, read_enum, read_shape, str, Budget, Envelope, ...

const FileKind kModuleKind{"kiln module", "module", "module", "KMOD", kModuleFormatVersion,
                           fb::Module::VT_VERSION};

// ---- enums of module.fbs --------------------------------------------------------------

fb::PlanBufferKind to_fb(PlanBufferKind k) {
  switch (k) {
    case PlanBufferKind::Arena: return fb::PlanBufferKind::Arena;
    case PlanBufferKind::Input: return fb::PlanBufferKind::Input;
    case PlanBufferKind::Output: return fb::PlanBufferKind::Output;
    case PlanBufferKind::State: return fb::PlanBufferKind::State;
    case PlanBufferKind::Constant: return fb::PlanBufferKind::Constant;
  }
  return fb::PlanBufferKind::Arena;
}

Expected<PlanBufferKind> read_buffer_kind(fb::PlanBufferKind k) {
  switch (k) {
    case fb::PlanBufferKind::Arena: return PlanBufferKind::Arena;
    case fb::PlanBufferKind::Input: return PlanBufferKind::Input;
    case fb::PlanBufferKind::Output: return PlanBufferKind::Output;
    case fb::PlanBufferKind::State: return PlanBufferKind::State;
    case fb::PlanBufferKind::Constant: return PlanBufferKind::Constant;
  }
  return Error("unknown buffer kind value " + std::to_string(static_cast<int>(k)));
}

fb::InitKind to_fb(InitKind k) {
  switch (k) {
    case InitKind::Zeros: return fb::InitKind::Zeros;
    case InitKind::Constant: return fb::InitKind::Constant;
    case InitKind::Normal: return fb::InitKind::Normal;
    case InitKind::Uniform: return fb::InitKind::Uniform;
    case InitKind::XavierUniform: return fb::InitKind::XavierUniform;
    case InitKind::KaimingNormal: return fb::InitKind::KaimingNormal;
  }
  return fb::InitKind::Zeros;
}

Expected<InitKind> read_init_kind(fb::InitKind k) {
  switch (k) {
    case fb::InitKind::Zeros: return InitKind::Zeros;
    case fb::InitKind::Constant: return InitKind::Constant;
    case fb::InitKind::Normal: return InitKind::Normal;
    case fb::InitKind::Uniform: return InitKind::Uniform;
    case fb::InitKind::XavierUniform: return InitKind::XavierUniform;
    case fb::InitKind::KaimingNormal: return InitKind::KaimingNormal;
  }
  return Error("unknown initializer kind value " + std::to_string(static_cast<int>(k)));
}

// ---- reading --------------------------------------------------------------------------

using StringVector = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>;

// Present, non-empty, unique strings; `what` ("plan input") names an entry in errors.
Expected<std::vector<std::string>> read_names(const StringVector* v, const std::string& at,
                                              const char* what, Budget& budget) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (flatbuffers::uoffset_t i = 0; i < elems(v); ++i) {
    KILN_RETURN_IF_ERROR(budget.take(32 + elems(v->Get(i)), at));
    std::string s = str(v->Get(i));
    std::string where = at + what + " " + std::to_string(i);
    if (s.empty()) return Error(where + ": empty name");
    if (!seen.insert(s).second) return Error(where + ": duplicate name \"" + s + "\"");
    out.push_back(std::move(s));
  }
  return out;
}

Expected<PlanBuffer> read_buffer(const fb::PlanBuffer& b, size_t index, const std::string& at,
                                 Budget& budget) {
  std::string where = at + "plan buffer " + std::to_string(index);
  KILN_RETURN_IF_ERROR(budget.take(
      128 + elems(b.name()) + 8 * elems(b.shape()) + elems(b.data()), where + ": "));
  PlanBuffer out;
  out.name = str(b.name());
  if (!out.name.empty()) where += " \"" + out.name + "\"";
  where += ": ";
  Expected<PlanBufferKind> kind = read_buffer_kind(b.kind());
  if (!kind.ok()) return Error(where + kind.error().message());
  out.kind = *kind;
  Expected<TensorType> type = read_type(b.dtype(), b.shape());
  if (!type.ok()) return Error(where + type.error().message());
  out.type = std::move(*type);
  out.offset = b.offset();
  Expected<StateKind> state_kind = read_enum(b.state_kind());
  if (!state_kind.ok()) return Error(where + state_kind.error().message());
  out.state_kind = *state_kind;
  Expected<StateScope> scope = read_enum(b.scope());
  if (!scope.ok()) return Error(where + scope.error().message());
  out.scope = *scope;
  if (const fb::InitSpec* init = b.init()) {
    Expected<InitKind> ik = read_init_kind(init->kind());
    if (!ik.ok()) return Error(where + ik.error().message());
    out.init = InitSpec{*ik, init->a(), init->b()};
  }
  if (out.kind == PlanBufferKind::Constant) {
    size_t need = out.type.bytes(), have = elems(b.data());
    if (have != need)
      return Error(where + "data has " + std::to_string(have) + " bytes, " +
                   out.type.to_string() + " needs " + std::to_string(need));
    if (have) out.data.assign(b.data()->data(), b.data()->data() + have);
  } else if (elems(b.data()) != 0) {
    return Error(where + "data on a " + plan_buffer_kind_name(out.kind) + " buffer");
  }
  return out;
}

Expected<ExecutablePlan> read_plan(const fb::Plan* p, const std::string& at, Budget& budget) {
  if (!p) return Error(at + "missing plan");
  ExecutablePlan plan;
  KILN_RETURN_IF_ERROR(budget.take(
      256 + elems(p->name()) + elems(p->entry_symbol()) + elems(p->description()), at));
  plan.name = str(p->name());
  plan.entry_symbol = str(p->entry_symbol());
  plan.arena_bytes = p->arena_bytes();
  plan.init_seed = p->init_seed();
  plan.description = str(p->description());
  for (flatbuffers::uoffset_t i = 0; i < elems(p->buffers()); ++i)
    plan.buffers.push_back(KILN_TRY(read_buffer(*p->buffers()->Get(i), i, at, budget)));
  for (flatbuffers::uoffset_t i = 0; i < elems(p->launches()); ++i) {
    const fb::KernelLaunch* k = p->launches()->Get(i);
    KILN_RETURN_IF_ERROR(budget.take(
        128 + elems(k->name()) + elems(k->symbol()) + 4 * elems(k->reads()), at));
    KernelLaunch launch;
    launch.name = str(k->name());
    launch.symbol = str(k->symbol());
    std::vector<int32_t> reads = scalars(k->reads());
    launch.reads.assign(reads.begin(), reads.end());
    launch.writes = k->writes();
    launch.flops = k->flops();
    launch.bytes = k->bytes();
    launch.contraction = k->contraction();
    plan.launches.push_back(std::move(launch));
  }
  for (flatbuffers::uoffset_t i = 0; i < elems(p->guards()); ++i) {
    KILN_RETURN_IF_ERROR(budget.take(32, at));
    const fb::ArenaGuard* g = p->guards()->Get(i);
    plan.guards.push_back({g->buffer(), g->offset(), g->bytes()});
  }
  plan.inputs = KILN_TRY(read_names(p->inputs(), at, "plan input", budget));
  plan.outputs = KILN_TRY(read_names(p->outputs(), at, "plan output", budget));
  if (const fb::PlanStats* s = p->stats()) {
    plan.stats.graph_nodes = s->graph_nodes();
    plan.stats.kernels = s->kernels();
    plan.stats.arena_bytes = s->arena_bytes();
    plan.stats.compile_seconds = s->compile_seconds();
  }
  if (Status st = validate_plan(plan); !st.ok()) return Error(at + st.error().message());
  return plan;
}

Expected<ModuleTarget> read_target(const fb::Target* t, const std::string& at, Budget& budget) {
  ModuleTarget out;
  if (!t) return out;
  KILN_RETURN_IF_ERROR(budget.take(64 + elems(t->triple()) + elems(t->cpu()), at));
  out.triple = str(t->triple());
  out.cpu = str(t->cpu());
  out.features = KILN_TRY(read_names(t->features(), at, "target feature", budget));
  return out;
}

Expected<std::vector<ModuleWeight>> read_weights(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Tensor>>* v, const std::string& at,
    Budget& budget) {
  std::vector<ModuleWeight> out;
  for (flatbuffers::uoffset_t i = 0; i < elems(v); ++i) {
    const fb::Tensor& t = *v->Get(i);
    std::string where = at + "weight " + std::to_string(i);
    ModuleWeight w;
    w.name = KILN_TRY(read_tensor_name(t, where, budget));
    Expected<TensorType> type = read_type(t.dtype(), t.shape());
    if (!type.ok()) return Error(where + type.error().message());
    w.type = std::move(*type);
    // Kind and scope repeat the state buffer's (for tools that read only the weights);
    // the plan's buffer is authoritative, so they are only checked to be known values.
    if (Expected<StateKind> k = read_enum(t.kind()); !k.ok())
      return Error(where + k.error().message());
    if (Expected<StateScope> s = read_enum(t.scope()); !s.ok())
      return Error(where + s.error().message());
    Expected<std::vector<uint8_t>> bytes = read_data(t, w.type);
    if (!bytes.ok()) return Error(where + bytes.error().message());
    w.bytes = std::move(*bytes);
    out.push_back(std::move(w));
  }
  return out;
}

Expected<ModuleCudaCode> read_cuda(const fb::CudaCode& c, const std::string& at, Budget& budget) {
  KILN_RETURN_IF_ERROR(budget.take(64 + elems(c.arch()) + elems(c.image()) + elems(c.ptx()) +
                                       elems(c.source()),
                                   at));
  ModuleCudaCode out;
  out.arch = str(c.arch());
  if (elems(c.image())) out.image.assign(c.image()->data(), c.image()->data() + c.image()->size());
  out.ptx = str(c.ptx());
  out.source = str(c.source());
  for (flatbuffers::uoffset_t i = 0; i < elems(c.launches()); ++i) {
    const fb::CudaLaunch* l = c.launches()->Get(i);
    KILN_RETURN_IF_ERROR(budget.take(64 + elems(l->kernel()), at));
    out.launches.push_back({str(l->kernel()), l->grid(), l->block(), l->shared_bytes(), l->plan_launch()});
  }
  return out;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// The state buffer a weight of `plan` fills (the first of that name), or nullptr.
const PlanBuffer* state_buffer(const ExecutablePlan& plan, const std::string& name) {
  for (const PlanBuffer& b : plan.buffers)
    if (b.kind == PlanBufferKind::State && b.name == name) return &b;
  return nullptr;
}

Error refuse(ModuleError* why, ModuleError kind, Error e) {
  if (why) *why = kind;
  return e;
}

}  // namespace

Status check_weights(const ExecutablePlan& plan, const std::vector<ModuleWeight>& weights,
                     const std::string& at) {
  std::set<std::string> seen;
  for (size_t i = 0; i < weights.size(); ++i) {
    const ModuleWeight& w = weights[i];
    std::string where = at + "weight " + std::to_string(i);
    if (w.name.empty()) return Error(where + ": missing name");
    where += " \"" + w.name + "\": ";
    if (!seen.insert(w.name).second) return Error(where + "duplicate name");
    const PlanBuffer* b = state_buffer(plan, w.name);
    if (!b) return Error(where + "plan '" + plan.name + "' has no state buffer of that name");
    if (b->scope != StateScope::Model)
      return Error(where + "names an executable-scoped state buffer; only model-scoped "
                           "state is stored with a module");
    if (b->type != w.type)
      return Error(where + "is " + w.type.to_string() + ", the state buffer is " +
                   b->type.to_string());
    if (w.bytes.size() != w.type.bytes())
      return Error(where + "holds " + std::to_string(w.bytes.size()) + " bytes, " +
                   w.type.to_string() + " needs " + std::to_string(w.type.bytes()));
  }
  return Status::Ok();
}

Status check_cuda_code(const ExecutablePlan& plan, const ModuleCudaCode& cuda, const std::string& at) {
  const std::string where = at + "cuda ";
  Expected<CudaArch> arch = parse_cuda_arch(cuda.arch);
  if (!arch.ok() || arch->ptx) return Error(where + "arch: '" + cuda.arch + "' is not sm_NN (e.g. sm_90)");
  if (cuda.image.empty()) return Error(where + "image: missing (no cubin for " + cuda.arch + ")");
  constexpr int kMaxSharedBytes = 256 << 10;
  int64_t next = 0;  // the plan launch that must come next, or the current one again
  for (size_t i = 0; i < cuda.launches.size(); ++i) {
    const CudaKernelLaunch& l = cuda.launches[i];
    const std::string w = where + "launch " + std::to_string(i) + ": ";
    if (!is_identifier(l.kernel)) return Error(w + "kernel name '" + l.kernel + "' is not a C identifier");
    if (l.grid < 1 || l.grid > std::numeric_limits<int32_t>::max())
      return Error(w + l.kernel + ": grid of " + std::to_string(l.grid) + " blocks (1 to 2^31-1)");
    if (l.block < 1 || l.block > 1024)
      return Error(w + l.kernel + ": block of " + std::to_string(l.block) + " threads (1 to 1024)");
    if (l.shared_bytes < 0 || l.shared_bytes > kMaxSharedBytes)
      return Error(w + l.kernel + ": " + std::to_string(l.shared_bytes) +
                   " bytes of dynamic shared memory (0 to 256 KiB)");
    if (l.plan_launch != next && (next == 0 || l.plan_launch != next - 1))
      return Error(w + l.kernel + ": belongs to plan launch " + std::to_string(l.plan_launch) +
                   ", expected " + (next > 0 ? std::to_string(next - 1) + " or " : "") +
                   std::to_string(next) + " (launches follow the plan's order)");
    if (l.plan_launch == next) ++next;
  }
  if (next != static_cast<int64_t>(plan.launches.size()))
    return Error(where + "launches: cover " + std::to_string(next) + " of the plan's " +
                 std::to_string(plan.launches.size()) + " kernels");
  return Status::Ok();
}

std::vector<uint8_t> serialize_module(const CompiledModuleFile& m) {
  const ExecutablePlan& p = m.plan;
  size_t total = 4096 + m.object.size() + p.name.size() + p.entry_symbol.size() +
                 p.description.size();
  for (const PlanBuffer& b : p.buffers) {
    if (b.kind == PlanBufferKind::Constant)
      total += tensor_size_estimate("serialize_module: constant", b.name, b.type, b.data);
    total += 256 + b.name.size() + 8 * b.type.shape.dims.size();
  }
  for (const KernelLaunch& k : p.launches)
    total += 128 + k.name.size() + k.symbol.size() + 4 * k.reads.size();
  for (const ModuleWeight& w : m.weights)
    total += tensor_size_estimate("serialize_module: weight", w.name, w.type, w.bytes);
  for (const auto& [k, v] : m.metadata) total += 32 + k.size() + v.size();
  if (m.cuda) {
    total += 256 + m.cuda->image.size() + m.cuda->ptx.size() + m.cuda->source.size();
    for (const CudaKernelLaunch& l : m.cuda->launches) total += 64 + l.kernel.size();
  }
  KILN_CHECK(total < kMaxFileBytes,
             "serialize_module: module '" + p.name + "' exceeds flatbuffers' 2 GiB limit");

  flatbuffers::FlatBufferBuilder b(total);
  b.ForceDefaults(true);  // every field explicit (tools and tests patch them in place)
  std::vector<flatbuffers::Offset<fb::PlanBuffer>> buffers;
  for (const PlanBuffer& pb : p.buffers) {
    auto name = b.CreateString(pb.name);
    auto shape = b.CreateVector(pb.type.shape.dims);
    auto init = fb::CreateInitSpec(b, to_fb(pb.init.kind), pb.init.a, pb.init.b);
    flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data;
    if (pb.kind == PlanBufferKind::Constant) {
      b.ForceVectorAlignment(pb.data.size(), 1, 64);
      data = b.CreateVector(pb.data);
    }
    buffers.push_back(fb::CreatePlanBuffer(b, to_fb(pb.kind), name, to_fb(pb.type.dtype), shape,
                                           pb.offset, to_fb(pb.state_kind), to_fb(pb.scope),
                                           init, data));
  }
  std::vector<flatbuffers::Offset<fb::KernelLaunch>> launches;
  for (const KernelLaunch& k : p.launches) {
    std::vector<int32_t> reads(k.reads.begin(), k.reads.end());
    launches.push_back(fb::CreateKernelLaunchDirect(b, k.name.c_str(), k.symbol.c_str(), &reads,
                                                    k.writes, k.flops, k.bytes, k.contraction));
  }
  std::vector<flatbuffers::Offset<fb::ArenaGuard>> guards;
  for (const ArenaGuard& g : p.guards)
    guards.push_back(fb::CreateArenaGuard(b, g.buffer, g.offset, g.bytes));
  auto stats = fb::CreatePlanStats(b, p.stats.graph_nodes, p.stats.kernels, p.stats.arena_bytes,
                                   p.stats.compile_seconds);
  auto plan = fb::CreatePlan(b, b.CreateString(p.name), b.CreateString(p.entry_symbol),
                             p.arena_bytes, b.CreateVector(buffers), b.CreateVector(launches),
                             b.CreateVector(guards), b.CreateVectorOfStrings(p.inputs),
                             b.CreateVectorOfStrings(p.outputs), p.init_seed, stats,
                             b.CreateString(p.description));
  auto target = fb::CreateTarget(b, b.CreateString(m.target.triple), b.CreateString(m.target.cpu),
                                 b.CreateVectorOfStrings(m.target.features));
  std::vector<flatbuffers::Offset<fb::Tensor>> weights;
  for (const ModuleWeight& w : m.weights) {
    const PlanBuffer* sb = state_buffer(p, w.name);
    weights.push_back(write_tensor(b, w.name, w.type, w.bytes,
                                   sb ? sb->state_kind : StateKind::Parameter,
                                   sb ? sb->scope : StateScope::Model));
  }
  auto wv = b.CreateVector(weights);
  auto mv = b.CreateVector(write_key_values(b, m.metadata));
  b.ForceVectorAlignment(m.object.size(), 1, 64);
  auto object = b.CreateVector(m.object);
  flatbuffers::Offset<fb::CudaCode> cuda;  // absent from CPU modules
  if (m.cuda) {
    std::vector<flatbuffers::Offset<fb::CudaLaunch>> ls;
    for (const CudaKernelLaunch& l : m.cuda->launches)
      ls.push_back(fb::CreateCudaLaunchDirect(b, l.kernel.c_str(), l.grid, l.block, l.shared_bytes,
                                              l.plan_launch));
    auto lv = b.CreateVector(ls);
    auto arch = b.CreateString(m.cuda->arch);
    b.ForceVectorAlignment(m.cuda->image.size(), 1, 64);
    auto image = b.CreateVector(m.cuda->image);
    auto ptx = b.CreateString(m.cuda->ptx);
    auto source = b.CreateString(m.cuda->source);
    cuda = fb::CreateCudaCode(b, arch, image, ptx, lv, source);
  }
  b.Finish(fb::CreateModule(b, kModuleFormatVersion, KILN_ABI_VERSION, target, plan, wv, mv,
                            object, cuda),
           fb::ModuleIdentifier());
  return finish(b);
}

Expected<CompiledModuleFile> deserialize_module(std::span<const uint8_t> bytes,
                                                const std::string& source, ModuleError* why) {
  Envelope env;
  Expected<const fb::Module*> root = env.open<fb::Module>(bytes, source, kModuleKind);
  if (!root.ok()) return refuse(why, ModuleError::Format, root.error());
  const fb::Module& fm = **root;
  const std::string at = source + ": ";
  if (fm.abi_version() != KILN_ABI_VERSION)
    return refuse(why, ModuleError::AbiVersion,
                  Error(at + "code generated for kiln ABI version " +
                        std::to_string(fm.abi_version()) + ", this runtime implements version " +
                        std::to_string(KILN_ABI_VERSION) + " (recompile the module)"));
  auto decode = [&]() -> Expected<CompiledModuleFile> {
    Budget budget(bytes.size());
    CompiledModuleFile m;
    m.target = KILN_TRY(read_target(fm.target(), at, budget));
    m.plan = KILN_TRY(read_plan(fm.plan(), at, budget));
    m.weights = KILN_TRY(read_weights(fm.weights(), at, budget));
    KILN_RETURN_IF_ERROR(check_weights(m.plan, m.weights, at));
    m.metadata = KILN_TRY(read_metadata(fm.metadata(), at, budget));
    KILN_RETURN_IF_ERROR(budget.take(elems(fm.object()), at));
    if (elems(fm.object()))
      m.object.assign(fm.object()->data(), fm.object()->data() + fm.object()->size());
    if (const fb::CudaCode* c = fm.cuda()) {
      if (!m.object.empty() || !m.target.features.empty())
        return Error(at + "cuda: a module holds CPU code (object, target features) or CUDA code, not both");
      m.cuda = KILN_TRY(read_cuda(*c, at, budget));
      KILN_RETURN_IF_ERROR(check_cuda_code(m.plan, *m.cuda, at));
    }
    return m;
  };
  Expected<CompiledModuleFile> m = decode();
  if (!m.ok()) return refuse(why, ModuleError::Format, m.error());
  return m;
}

Status save_module(const std::string& path, const CompiledModuleFile& m) {
  std::vector<uint8_t> bytes = serialize_module(m);
  return write_file_atomic(path, bytes.data(), bytes.size());
}

Expected<CompiledModuleFile> load_module(const std::string& path, ModuleError* why) {
  Expected<std::string> contents = read_file(path);
  if (!contents.ok()) return refuse(why, ModuleError::Io, contents.error());
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(contents->data()),
                                 contents->size());
  return deserialize_module(bytes, path, why);
}

}  // namespace kiln
