// LeaseLock: named cluster-wide mutual exclusion with a time-to-live.
//
// A holder gets a random owner token and must Extend() before the TTL runs out; a holder that
// crashes or stalls loses the lock when the TTL expires, so no lock outlives its holder for long.
// The token proves ownership: Extend and Release by anyone else are refused. Because a lease can
// expire under a slow holder, a holder that cares must check Extend()'s answer (false: stop, the
// work is no longer exclusive; Aborted at a higher level).
//
// Implementations: database::DatabaseLeaseLock (rows of slipway_locks, expiry by the database's
// clock: what nodes sharing a database use without Redis), redis::RedisLeaseLock (SET NX PX;
// Extend/Release as Lua scripts that compare the token first), keys "slipway:lock:<name>", and
// memory::MemoryLeaseLock (one process, for unit tests; a lock table shared by the objects that
// should exclude each other).
//
// How it fails: InvalidArgument for an empty name or a TTL that is not positive; Unavailable when
// the lock service is unreachable (the database, Redis), or when Acquire() waited `wait` in vain.
// Thread-safe: any method from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "slipway/status.h"

namespace slipway::cluster {

class LeaseLock {
 public:
  virtual ~LeaseLock() = default;
  // Takes the lock if free now: a new owner token, or nullopt when another owner holds it.
  virtual Result<std::optional<std::string>> TryAcquire(const std::string& name,
                                                        std::chrono::milliseconds ttl) = 0;
  // Waits up to `wait` for the lock; Unavailable when it stayed taken that long. By default it
  // polls TryAcquire (10 ms, doubling to 200 ms); an implementation that can be woken does better.
  virtual Result<std::string> Acquire(const std::string& name, std::chrono::milliseconds ttl,
                                      std::chrono::milliseconds wait);
  // Resets the TTL to `ttl` from now; false when `token` no longer owns the lock (expired,
  // released, taken by another).
  virtual Result<bool> Extend(const std::string& name, const std::string& token,
                              std::chrono::milliseconds ttl) = 0;
  // Releases the lock; false when `token` did not own it (nothing is changed then).
  virtual Result<bool> Release(const std::string& name, const std::string& token) = 0;
  virtual std::string_view backend() const = 0;  // "postgres" | "sqlite" | "redis" | "memory"
};

}  // namespace slipway::cluster
