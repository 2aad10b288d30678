#include "cluster/memory/memory_worker_ids.h"

namespace slipway::cluster::memory {

void MemoryWorkerIdTable::Forget() {
  std::lock_guard lock(mu_);
  leases_.clear();
}

void MemoryWorkerIdTable::set_reachable(bool reachable) {
  std::lock_guard lock(mu_);
  reachable_ = reachable;
}

void MemoryWorkerIdTable::set_call_hook(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

std::string MemoryWorkerIdTable::OwnerOf(int id) {
  std::lock_guard lock(mu_);
  return LiveLocked(id) ? leases_[id].owner : "";
}

Status MemoryWorkerIdTable::Call() {
  std::function<void()> hook;
  {
    std::lock_guard lock(mu_);
    hook = hook_;
  }
  if (hook) hook();
  std::lock_guard lock(mu_);
  if (!reachable_) return Unavailable("the in-memory worker-id store is unreachable (test)");
  return Status::Ok();
}

bool MemoryWorkerIdTable::LiveLocked(int id) const {
  auto it = leases_.find(id);
  return it != leases_.end() && clock_.Now() < it->second.expires;
}

Result<int> MemoryWorkerIdStore::Acquire(const std::string& owner, int preferred,
                                         std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(table_->Call());
  std::lock_guard lock(table_->mu_);
  auto free_for_owner = [&](int id) {
    return !table_->LiveLocked(id) || table_->leases_[id].owner == owner;
  };
  int chosen = -1;
  if (preferred >= 0 && preferred <= kMaxWorkerId && free_for_owner(preferred)) chosen = preferred;
  for (int id = 0; chosen < 0 && id <= kMaxWorkerId; ++id) {
    if (!table_->LiveLocked(id)) chosen = id;
  }
  if (chosen < 0) {
    return ResourceExhausted("all " + std::to_string(kMaxWorkerId + 1) +
                             " worker ids are leased (in-memory store)");
  }
  table_->leases_[chosen] = {owner, table_->clock_.Now() + ttl};
  return chosen;
}

Result<bool> MemoryWorkerIdStore::Renew(int id, const std::string& owner,
                                        std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(table_->Call());
  std::lock_guard lock(table_->mu_);
  if (!table_->LiveLocked(id) || table_->leases_[id].owner != owner) return false;
  table_->leases_[id].expires = table_->clock_.Now() + ttl;
  return true;
}

Status MemoryWorkerIdStore::Release(int id, const std::string& owner) {
  RETURN_IF_ERROR(table_->Call());
  std::lock_guard lock(table_->mu_);
  auto it = table_->leases_.find(id);
  if (it != table_->leases_.end() && it->second.owner == owner) table_->leases_.erase(it);
  return Status::Ok();
}

}  // namespace slipway::cluster::memory
