#include "cluster/memory/memory_cache.h"

#include <algorithm>

namespace slipway::cluster::memory {

MemoryCache::MemoryCache(size_t max_entries, const core::Clock& clock)
    : max_entries_(std::max<size_t>(max_entries, 1)), clock_(clock) {}

void MemoryCache::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) {
  order_.erase(it->second.order);
  entries_.erase(it);
}

void MemoryCache::MakeRoomLocked() {
  size_t target = max_entries_ - std::max<size_t>(max_entries_ / 10, 1);
  auto now = clock_.Now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->second.expires <= now) EraseLocked(it);
    it = next;
  }
  while (entries_.size() > target) EraseLocked(entries_.find(order_.front()));
}

Result<std::optional<std::string>> MemoryCache::Get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::optional<std::string>();
  if (it->second.expires <= clock_.Now()) {
    EraseLocked(it);
    return std::optional<std::string>();
  }
  return std::optional<std::string>(it->second.value);
}

Status MemoryCache::Set(const std::string& key, const std::string& value,
                        std::chrono::milliseconds ttl) {
  if (ttl.count() < 0) return InvalidArgument("cache ttl must not be negative");
  auto expires = ttl.count() == 0 ? core::Clock::TimePoint::max() : clock_.Now() + ttl;
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) EraseLocked(it);
  if (entries_.size() >= max_entries_) MakeRoomLocked();
  order_.push_back(key);
  entries_.emplace(key, Entry{value, expires, std::prev(order_.end())});
  return Status::Ok();
}

Status MemoryCache::Del(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(key); it != entries_.end()) EraseLocked(it);
  return Status::Ok();
}

size_t MemoryCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace slipway::cluster::memory
