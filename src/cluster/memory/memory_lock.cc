#include "cluster/memory/memory_lock.h"

#include <algorithm>

#include "core/ids.h"

namespace slipway::cluster::memory {
namespace {

Status CheckArgs(const std::string& name, std::chrono::milliseconds ttl) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  if (ttl.count() <= 0) return InvalidArgument("lock ttl must be positive");
  return Status::Ok();
}

}  // namespace

std::shared_ptr<MemoryLockTable> MemoryLockTable::Default() {
  // Leaked on purpose: locks destroyed during static destruction still find it.
  static auto* table = new std::shared_ptr<MemoryLockTable>(std::make_shared<MemoryLockTable>());
  return *table;
}

MemoryLockTable::Held* MemoryLockTable::FindLocked(const std::string& name) {
  auto it = held_.find(name);
  if (it == held_.end()) return nullptr;
  if (it->second.expires <= Clock::now()) {
    held_.erase(it);
    return nullptr;
  }
  return &it->second;
}

MemoryLeaseLock::MemoryLeaseLock(std::shared_ptr<MemoryLockTable> table)
    : table_(std::move(table)) {}

Result<std::optional<std::string>> MemoryLeaseLock::TryAcquire(const std::string& name,
                                                               std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  std::lock_guard lock(table_->mu_);
  if (table_->FindLocked(name) != nullptr) return std::optional<std::string>();
  std::string token = core::NewUuidV4();
  table_->held_[name] = {token, MemoryLockTable::Clock::now() + ttl};
  return std::optional<std::string>(std::move(token));
}

Result<std::string> MemoryLeaseLock::Acquire(const std::string& name, std::chrono::milliseconds ttl,
                                             std::chrono::milliseconds wait) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  auto deadline = MemoryLockTable::Clock::now() + wait;
  std::unique_lock lock(table_->mu_);
  while (true) {
    MemoryLockTable::Held* held = table_->FindLocked(name);
    if (held == nullptr) {
      std::string token = core::NewUuidV4();
      table_->held_[name] = {token, MemoryLockTable::Clock::now() + ttl};
      return token;
    }
    if (MemoryLockTable::Clock::now() >= deadline) {
      return Unavailable("lock '" + name + "' is held by another owner (waited " +
                         std::to_string(wait.count()) + " ms)");
    }
    // Woken by a release, or when the holder's lease or our patience runs out.
    table_->released_.wait_until(lock, std::min(deadline, held->expires));
  }
}

Result<bool> MemoryLeaseLock::Extend(const std::string& name, const std::string& token,
                                     std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  std::lock_guard lock(table_->mu_);
  MemoryLockTable::Held* held = table_->FindLocked(name);
  if (held == nullptr || held->token != token) return false;
  held->expires = MemoryLockTable::Clock::now() + ttl;
  return true;
}

Result<bool> MemoryLeaseLock::Release(const std::string& name, const std::string& token) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  {
    std::lock_guard lock(table_->mu_);
    MemoryLockTable::Held* held = table_->FindLocked(name);
    if (held == nullptr || held->token != token) return false;
    table_->held_.erase(name);
  }
  table_->released_.notify_all();
  return true;
}

}  // namespace slipway::cluster::memory
