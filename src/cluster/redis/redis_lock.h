// The Redis LeaseLock (lock.h): key "slipway:lock:<name>" holds the owner token.
//
// TryAcquire is SET key token NX PX ttl; Extend and Release run as Lua scripts (EVAL) that
// compare the token and only then PEXPIRE or DEL, so a holder whose lease expired cannot touch
// the next holder's lock. Acquire polls TryAcquire (LeaseLock's) until `wait` ends.
// Fails with Unavailable when Redis is unreachable (see redis_client.h). Thread-safe.
#pragma once

#include <memory>

#include "cluster/lock.h"
#include "cluster/redis/redis_client.h"

namespace slipway::cluster::redis {

class RedisLeaseLock final : public LeaseLock {
 public:
  explicit RedisLeaseLock(std::unique_ptr<RedisClient> client);

  Result<std::optional<std::string>> TryAcquire(const std::string& name,
                                                std::chrono::milliseconds ttl) override;
  Result<bool> Extend(const std::string& name, const std::string& token,
                      std::chrono::milliseconds ttl) override;
  Result<bool> Release(const std::string& name, const std::string& token) override;
  std::string_view backend() const override { return "redis"; }

  RedisClient& client() { return *client_; }
  static std::string Key(const std::string& name) { return "slipway:lock:" + name; }

 private:
  std::unique_ptr<RedisClient> client_;
};

}  // namespace slipway::cluster::redis
