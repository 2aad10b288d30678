// The in-process WorkerIdStore (worker_ids.h), for unit tests: a table of leases shared by the
// stores that should exclude each other, with expiry by an injected core::Clock.
//
// Acquire takes the preferred id when it is free or already the owner's, else the lowest free
// id. A test can make the table behave like a real store misbehaving: Forget() drops every lease
// (a Redis restarted empty), set_reachable(false) makes every call Unavailable (a store that is
// down), and a call hook runs inside every call (advance a manual clock there to make a call
// take time). Whether the store reports may_forget() is chosen when the table is made.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/worker_ids.h"
#include "core/clock.h"

namespace slipway::cluster::memory {

class MemoryWorkerIdTable {
 public:
  explicit MemoryWorkerIdTable(const core::Clock& clock = core::Clock::Steady(),
                               bool may_forget = false)
      : clock_(clock), may_forget_(may_forget) {}

  void Forget();
  void set_reachable(bool reachable);
  void set_call_hook(std::function<void()> hook);
  // The owner of `id`'s live lease, or "" (tests).
  std::string OwnerOf(int id);

 private:
  friend class MemoryWorkerIdStore;
  struct Lease {
    std::string owner;
    core::Clock::TimePoint expires;
  };
  // Runs the hook, then checks reachability. Called without mu_ held.
  Status Call();
  bool LiveLocked(int id) const;

  const core::Clock& clock_;
  const bool may_forget_;
  std::mutex mu_;
  // Guarded by mu_.
  std::map<int, Lease> leases_;
  bool reachable_ = true;
  std::function<void()> hook_;
};

class MemoryWorkerIdStore final : public WorkerIdStore {
 public:
  explicit MemoryWorkerIdStore(std::shared_ptr<MemoryWorkerIdTable> table)
      : table_(std::move(table)) {}

  Result<int> Acquire(const std::string& owner, int preferred,
                      std::chrono::milliseconds ttl) override;
  Result<bool> Renew(int id, const std::string& owner, std::chrono::milliseconds ttl) override;
  Status Release(int id, const std::string& owner) override;
  bool may_forget() const override { return table_->may_forget_; }
  std::string_view backend() const override { return "memory"; }

 private:
  std::shared_ptr<MemoryWorkerIdTable> table_;
};

}  // namespace slipway::cluster::memory
