// Cache: a string key-value cache with per-entry time-to-live.
//
// Implementations: memory::MemoryCache (this process only, bounded: expired entries go first,
// then the oldest) and redis::RedisCache (shared by the nodes; keys "slipway:cache:<key>").
// A TTL of zero keeps the entry until it is deleted or evicted.
//
// What it is for, and why a cluster without Redis stays correct: nothing in Slipway relies on it
// being shared between nodes. It holds nothing a node must agree on with the others (the plugin
// API does not expose it, and no core code reads it). The caches a node does keep are its own by
// design, with or without Redis: sessions, users and roles are re-read from the database within
// 5 s (users and acl plugins), a sign-out reaches the other nodes through the token blacklist
// table (re-read every 5 s), and sign-in failure counts are per node (auth/failure_limiter.h).
// Anything that must be the same on every node lives in the database. With memory caches the
// nodes only miss more often.
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
