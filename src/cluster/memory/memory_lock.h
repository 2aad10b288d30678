// The in-process LeaseLock (lock.h): a table of held locks with expiry times.
//
// LeaseLock objects that share a MemoryLockTable exclude each other; Default() is the
// process-wide table, so every in-process lock made without an explicit table (MakeAdapters)
// excludes every other one in the process. Waiting in Acquire() is woken by releases.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/lock.h"

namespace slipway::cluster::memory {

class MemoryLockTable {
 public:
  static std::shared_ptr<MemoryLockTable> Default();

 private:
  friend class MemoryLeaseLock;
  using Clock = std::chrono::steady_clock;
  struct Held {
    std::string token;
    Clock::time_point expires;
  };
  // The live holder of `name`, dropping an expired one. Called with mu_ held.
  Held* FindLocked(const std::string& name);

  std::mutex mu_;
  std::condition_variable released_;
  std::map<std::string, Held> held_;  // guarded by mu_
};

class MemoryLeaseLock final : public LeaseLock {
 public:
  // `table` is shared with the locks this one must exclude.
  explicit MemoryLeaseLock(std::shared_ptr<MemoryLockTable> table = MemoryLockTable::Default());

  Result<std::optional<std::string>> TryAcquire(const std::string& name,
                                                std::chrono::milliseconds ttl) override;
  Result<std::string> Acquire(const std::string& name, std::chrono::milliseconds ttl,
                              std::chrono::milliseconds wait) override;
  Result<bool> Extend(const std::string& name, const std::string& token,
                      std::chrono::milliseconds ttl) override;
  Result<bool> Release(const std::string& name, const std::string& token) override;
  std::string_view backend() const override { return "memory"; }

 private:
  std::shared_ptr<MemoryLockTable> table_;
};

}  // namespace slipway::cluster::memory
