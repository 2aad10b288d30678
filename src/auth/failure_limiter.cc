#include "auth/failure_limiter.h"

#include <algorithm>
#include <vector>

namespace slipway::auth {

void FailureLimiter::Prune(std::deque<Clock::time_point>& times, Clock::time_point now) const {
  while (!times.empty() && now - times.front() >= window_) times.pop_front();
}

int64_t FailureLimiter::RetryAfter(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  Prune(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return 0;
  }
  if (static_cast<int>(it->second.size()) < max_failures_) return 0;
  auto wait = it->second.front() + window_ - now;
  int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
  return std::max<int64_t>(1, seconds + 1);
}

void FailureLimiter::RecordFailure(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) {
    if (failures_.size() >= max_keys_) MakeRoom(now);
    it = failures_.emplace(key, std::deque<Clock::time_point>{}).first;
  }
  Prune(it->second, now);
  it->second.push_back(now);
  while (static_cast<int>(it->second.size()) > max_failures_) it->second.pop_front();
}

void FailureLimiter::Reset(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

void FailureLimiter::MakeRoom(Clock::time_point now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    Prune(it->second, now);
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
  if (failures_.size() >= max_keys_) failures_.erase(failures_.begin());
}

std::string ClientAddress(std::string_view peer, std::string_view forwarded_for,
                          const std::vector<std::string>& trusted_proxies) {
  auto trusted = [&](std::string_view a) {
    return std::find(trusted_proxies.begin(), trusted_proxies.end(), a) != trusted_proxies.end();
  };
  if (!trusted(peer) || forwarded_for.empty()) return std::string(peer);
  // Walk X-Forwarded-For from the right: the first address not of a trusted proxy is the client.
  std::string_view list = forwarded_for;
  while (!list.empty()) {
    size_t comma = list.rfind(',');
    std::string_view item = comma == std::string_view::npos ? list : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty() && !trusted(item)) return std::string(item);
    if (comma == std::string_view::npos) break;
    list = list.substr(0, comma);
  }
  return std::string(peer);
}

}  // namespace slipway::auth
