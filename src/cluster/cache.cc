#include "cluster/cache.h"

#include "core/logging.h"

namespace slipway::cluster {

Result<std::string> Cache::Wrap(const std::string& key, std::chrono::milliseconds ttl,
                                const std::function<Result<std::string>()>& load) {
  Result<std::optional<std::string>> cached = Get(key);
  if (cached.ok() && cached->has_value()) return std::move(**cached);
  if (!cached.ok() && cached.status().code() != StatusCode::kUnavailable) {
    return std::move(cached).TakeStatus();
  }
  ASSIGN_OR_RETURN(std::string value, load());
  // Only when the cache answered: an unreachable one was logged by its client already.
  if (cached.ok()) {
    Status stored = Set(key, value, ttl);
    if (!stored.ok()) {
      core::log::Debug("cache set failed", {{"key", key}, {"error", stored.message()}});
    }
  }
  return value;
}

}  // namespace slipway::cluster
