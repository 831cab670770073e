// Binding a plan to memory and code (see runtime/executable.h).
#include "runtime/executable.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "runtime/profile.h"

namespace kiln {

namespace {

class HostAllocator : public Allocator {
 public:
  const char* name() const override { return "host"; }
  void* allocate(size_t bytes) override {
    size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p) std::memset(p, 0, rounded);
    return p;
  }
  void deallocate(void* p) override { std::free(p); }
};

}  // namespace

constexpr uint8_t kGuardByte = 0xA5;

// The buffer of an input or output `b` by name (buffers of one name share storage),
// allocated on first use.
static Expected<HostBuffer*> named_buffer(std::map<std::string, HostBuffer>& buffers,
                                   const PlanBuffer& b, const std::string& what) {
  auto it = buffers.find(b.name);
  if (it == buffers.end()) {
    Expected<HostBuffer> hb = HostBuffer::allocate(b.type);
    if (!hb.ok()) return hb.error().wrap(what + " '" + b.name + "'");
    it = buffers.emplace(b.name, std::move(*hb)).first;
  }
  if (it->second.type() != b.type)
    return Error(what + " '" + b.name + "' bound as " + it->second.type().to_string() +
                 " and " + b.type.to_string());
  return &it->second;
}

Allocator& host_allocator() {
  static HostAllocator a;
  return a;
}

Expected<std::unique_ptr<Executable>> Executable::bind(ExecutablePlan plan,
                                                       std::shared_ptr<CodeModule> code,
                                                       std::shared_ptr<StateStore> shared,
                                                       const BindOptions& options) {
  KILN_RETURN_IF_ERROR(validate_plan(plan));
  if (!code) return Error("plan '" + plan.name + "': no code module");
  std::unique_ptr<Executable> exe(new Executable());
  exe->shared_ = shared ? std::move(shared) : std::make_shared<StateStore>();
  exe->code_ = std::move(code);
  exe->profile_ = options.profile;
  if (options.profile)
    exe->profile_data_ = std::make_unique<KernelProfile>(static_cast<int>(plan.launches.size()));
  exe->allocator_ = options.allocator ? options.allocator : &host_allocator();
  exe->device_ = options.device;
  // Host code reads state buffers directly, so it cannot share a store whose current
  // values may be on a device.
  if (!exe->device_ && exe->shared_->mirror())
    return Error("plan '" + plan.name + "': the model's state lives on a device; bind this executable to it too");
  if (!exe->device_) {  // on a device, the device binds the arena
    if (Status st = check_host_allocation(uint64_t{plan.arena_bytes}, "plan '" + plan.name + "': arena");
        !st.ok())
      return st.error();
    exe->arena_ = exe->allocator_->allocate(plan.arena_bytes);
    if (!exe->arena_)
      return Error("plan '" + plan.name + "': cannot allocate an arena of " +
                   std::to_string(plan.arena_bytes) + " bytes");
  }
  HostBinding host;
  host.host.assign(plan.buffers.size(), nullptr);
  host.states.assign(plan.buffers.size(), nullptr);
  host.shared = exe->shared_.get();
  host.own = &exe->own_;
  host.profile = exe->profile_data_.get();
  exe->ptrs_.assign(plan.buffers.size(), nullptr);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    PlanBuffer& b = plan.buffers[i];
    void* p = nullptr;
    switch (b.kind) {
      case PlanBufferKind::Arena:
        p = exe->arena_ ? static_cast<char*>(exe->arena_) + b.offset : nullptr;
        break;
      case PlanBufferKind::Input:
      case PlanBufferKind::Output: {
        bool input = b.kind == PlanBufferKind::Input;
        HostBuffer* hb = KILN_TRY(named_buffer(input ? exe->inputs_ : exe->outputs_, b,
                                               "plan '" + plan.name + "': " +
                                                   (input ? "input" : "output")));
        p = hb->data();
        break;
      }
      case PlanBufferKind::State: {
        StateStore& store = b.scope == StateScope::Model ? *exe->shared_ : exe->own_;
        Expected<StateEntry*> e = store.get_or_create(b.name, b.type, b.state_kind, b.scope,
                                                      b.init, plan.init_seed);
        if (!e.ok()) return e.error().wrap("plan '" + plan.name + "'");
        if (std::find(exe->bound_states_.begin(), exe->bound_states_.end(), *e) ==
            exe->bound_states_.end())
          exe->bound_states_.push_back(*e);
        host.states[i] = *e;
        p = (*e)->buffer.data();
        break;
      }
      case PlanBufferKind::Constant: {
        Expected<HostBuffer> hb = HostBuffer::allocate(b.type);
        if (!hb.ok()) return hb.error().wrap("plan '" + plan.name + "': constant '" + b.name + "'");
        std::memcpy(hb->data(), b.data.data(), b.data.size());
        p = hb->data();
        exe->constants_.push_back(std::move(*hb));
        b.data = {};  // the executable's copy is the one the code reads
        break;
      }
    }
    exe->ptrs_[i] = p;
    if (b.kind != PlanBufferKind::Arena && b.kind != PlanBufferKind::State) host.host[i] = p;
  }
  if (exe->device_) {
    // The device copies constants at bind, so the plan keeps no second copy either way.
    Expected<std::unique_ptr<DeviceProgram>> dp = exe->device_->bind(plan, *exe->code_, host);
    if (!dp.ok()) return dp.error().wrap("plan '" + plan.name + "' on " + exe->device_->name());
    exe->device_program_ = std::move(*dp);
    exe->plan_ = std::move(plan);
    return exe;
  }
  for (const ArenaGuard& gd : plan.guards)
    std::memset(static_cast<char*>(exe->arena_) + gd.offset, kGuardByte, gd.bytes);
  exe->entry_ = reinterpret_cast<EntryFn>(exe->code_->lookup(plan.entry_symbol));
  if (!exe->entry_)
    return Error("plan '" + plan.name + "': entry symbol '" + plan.entry_symbol +
                 "' not found in its code module");
  exe->plan_ = std::move(plan);
  return exe;
}

Executable::~Executable() {
  device_program_.reset();  // device memory goes before the device
  if (arena_) allocator_->deallocate(arena_);
}

void Executable::run() { (void)run_checked(); }

Status Executable::run_status() const {
  std::lock_guard<std::mutex> lock(run_mu_);
  return device_status_;
}

Status Executable::run_checked() {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (device_program_) {
    // After a failure the device's memory may be half-updated: stop, and keep saying why.
    if (device_status_.ok()) device_status_ = device_program_->run();
    return device_status_;
  }
  if (profile_data_) {
    ProfileScope scope(profile_data_.get());
    entry_(ptrs_.data());
  } else {
    entry_(ptrs_.data());
  }
  return Status::Ok();
}

HostBuffer* Executable::input(const std::string& name) {
  auto it = inputs_.find(name);
  return it == inputs_.end() ? nullptr : &it->second;
}

const HostBuffer* Executable::output(const std::string& name) const {
  auto it = outputs_.find(name);
  return it == outputs_.end() ? nullptr : &it->second;
}

HostBuffer* Executable::state_buffer(const std::string& name) {
  StateEntry* found = nullptr;
  for (StateEntry* e : bound_states_)
    if (e->name == name && e->scope == StateScope::Executable) found = e;
  for (StateEntry* e : bound_states_)
    if (!found && e->name == name) found = e;
  if (!found) return nullptr;
  // A device's newer values come down first; the caller may write, so the device takes
  // the host's values before its next run.
  (found->scope == StateScope::Executable ? own_ : *shared_).host_access(*found, HostAccess::Write);
  return &found->buffer;
}

int Executable::reset_state(StateKind kind) {
  std::lock_guard<std::mutex> lock(run_mu_);
  int n = 0;
  for (StateEntry* e : bound_states_)
    if (e->kind == kind) {
      (e->scope == StateScope::Executable ? own_ : *shared_).host_access(*e, HostAccess::Overwrite);
      e->reinitialize();
      ++n;
    }
  return n;
}

Status Executable::check_guards() const {
  std::lock_guard<std::mutex> lock(run_mu_);
  std::vector<uint8_t> copy;
  for (const ArenaGuard& gd : plan_.guards) {
    const uint8_t* p = static_cast<const uint8_t*>(arena_) + gd.offset;
    if (device_program_) {  // the guards live on the device
      copy.resize(gd.bytes);
      KILN_RETURN_IF_ERROR(device_program_->read_arena(gd.offset, copy.data(), gd.bytes));
      p = copy.data();
    }
    for (uint64_t i = 0; i < gd.bytes; ++i)
      if (p[i] != kGuardByte)
        return Error("plan '" + plan_.name + "': " + std::to_string(gd.bytes - i) +
                     " guard bytes after buffer " + std::to_string(gd.buffer) + " ('" +
                     plan_.buffers[gd.buffer].name + "') overwritten at byte " +
                     std::to_string(i) + " past its end");
  }
  return Status::Ok();
}

std::vector<double> Executable::kernel_seconds(int64_t* runs) const {
  std::lock_guard<std::mutex> lock(run_mu_);
  *runs = profile_data_ ? profile_data_->runs() : 0;
  return profile_data_ ? profile_data_->seconds() : std::vector<double>{};
}

std::vector<double> Executable::kernel_least_seconds() const {
  std::lock_guard<std::mutex> lock(run_mu_);
  return profile_data_ ? profile_data_->least_seconds() : std::vector<double>{};
}

void Executable::reset_profile() {
  std::lock_guard<std::mutex> lock(run_mu_);
  if (profile_data_) profile_data_->reset(static_cast<int>(plan_.launches.size()));
}

std::string Executable::describe() const {
  if (!profile_data_) return plan_.description;
  std::lock_guard<std::mutex> lock(run_mu_);
  std::ostringstream os;
  os << plan_.description;
  const std::vector<double>& s = profile_data_->seconds();
  int64_t runs = std::max<int64_t>(1, profile_data_->runs());
  double total = 0;
  for (double x : s) total += x;
  os << "profile over " << profile_data_->runs() << " runs (us per run):\n";
  for (size_t i = 0; i < s.size() && i < plan_.launches.size(); ++i)
    os << "  k" << i << " " << plan_.launches[i].name << ": " << s[i] / runs * 1e6 << "\n";
  os << "  total: " << total / runs * 1e6 << "\n";
  return os.str();
}

}  // namespace kiln
