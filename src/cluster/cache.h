// Cache: a string key-value cache with per-entry time-to-live.
//
// Implementations: memory::MemoryCache (this process only, bounded: expired entries go first,
// then the oldest) and redis::RedisCache (shared by the nodes; keys "slipway:cache:<key>").
// A TTL of zero keeps the entry until it is deleted or evicted.
//
// How it fails: Unavailable when the cache service is unreachable (Redis); InvalidArgument for a
// negative TTL. Wrap() treats an unreachable cache as a miss and returns what `load` returns
// (without trying to store it), so a cache outage slows callers down but does not fail them. It
// fails when `load` fails (and then caches nothing) or when the cache answers with an error other
// than Unavailable; a failed Set after a successful load is ignored.
// Thread-safe: any method from any thread. Wrap() does not stop two threads that miss at once from
// both loading.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::cluster {

class Cache {
 public:
  virtual ~Cache() = default;
  // The value, or nullopt when absent or expired.
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  virtual Status Set(const std::string& key, const std::string& value,
                     std::chrono::milliseconds ttl) = 0;
  virtual Status Del(const std::string& key) = 0;
  // Get, else load and Set with `ttl`.
  Result<std::string> Wrap(const std::string& key, std::chrono::milliseconds ttl,
                           const std::function<Result<std::string>()>& load);
  virtual std::string_view backend() const = 0;  // "memory" | "redis"
};

}  // namespace slipway::cluster
