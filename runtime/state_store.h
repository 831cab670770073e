// StateStore: the named persistent buffers of a model (parameters, optimizer slots,
// counters, running statistics, hyperparameters), shared by every executable compiled
// against it, so a training step and an evaluation graph at another batch size see the
// same weights. Each buffer remembers its StateKind, scope and initializer, so it can be
// re-initialised (reset) and checkpointed by kind rather than by name conventions.
// Executable-scoped state (an RNN's carried hidden state) lives in the executable's own
// store; see runtime/executable.h.
//
// Thread-safe: creation and lookup take a lock; buffer contents are the caller's to
// synchronise (executables sharing a store must not run concurrently when one writes).
//
// Devices: a store whose executables run on a device has a StateMirror (the device's
// copy of its entries, runtime/cuda_runtime.h). The weights then live on the device
// between steps, and the accessors below keep the host buffers honest: a lookup that
// hands out a buffer first brings the device's newer values down (const lookups read;
// non-const ones may write, so the device takes the host's values before its next run).
// A HostBuffer pointer kept across runs is not refreshed: look the entry up again.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ir/state.h"
#include "runtime/host_buffer.h"

namespace kiln {

struct StateEntry {
  std::string name;
  HostBuffer buffer;
  StateKind kind = StateKind::Parameter;
  StateScope scope = StateScope::Model;
  InitSpec init;
  uint64_t seed = 0;  // initial values are a function of (init, seed, name)

  // Writes the initial values into the buffer.
  void reinitialize();
};

// How the host is about to use an entry's buffer.
enum class HostAccess {
  Read,       // reads it: bring newer device values down
  Write,      // may read and write it: down, then the device copy is stale
  Overwrite,  // replaces every value (re-initialisation): no copy down, device stale
};

// A device's copy of a store's entries (implemented by the device runtime).
class StateMirror {
 public:
  virtual ~StateMirror() = default;
  // Called before the host uses `e`'s buffer. Failures are kept and reported by the
  // device's next run (an accessor cannot fail).
  virtual void host_access(StateEntry& e, HostAccess access) = 0;
};

class StateStore {
 public:
  StateStore() = default;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Finds `name`, or creates it filled with its initial values (*created = true). An
  // existing buffer of another type or kind is an error naming both. (For binding: no
  // mirror synchronisation.)
  Expected<StateEntry*> get_or_create(const std::string& name, const TensorType& type,
                                      StateKind kind, StateScope scope, const InitSpec& init,
                                      uint64_t seed, bool* created = nullptr);
  StateEntry* entry(const std::string& name);
  const StateEntry* entry(const std::string& name) const;
  HostBuffer* find(const std::string& name);
  const HostBuffer* find(const std::string& name) const;
  bool has(const std::string& name) const { return entry(name) != nullptr; }

  std::vector<std::string> names() const;       // sorted
  std::vector<StateEntry*> entries();            // sorted by name
  std::vector<const StateEntry*> entries() const;
  std::vector<std::string> parameters() const;  // StateKind::Parameter, sorted
  bool trainable(const std::string& name) const;
  // Re-initialises every buffer of `kind`; returns how many.
  int reset(StateKind kind);

  // The device copy of this store's entries (null: host only). Set once by the first
  // device executable bound against the store.
  std::shared_ptr<StateMirror> mirror() const;
  void set_mirror(std::shared_ptr<StateMirror> mirror);
  // Tells the mirror, if any, that the host is about to use `e` (see HostAccess).
  void host_access(StateEntry& e, HostAccess access) const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<StateMirror> mirror_;
  std::map<std::string, std::unique_ptr<StateEntry>> entries_;  // stable addresses
};

}  // namespace kiln
