// The Redis WorkerIdStore (worker_ids.h): key "slipway:worker:<id>" holds the owner token, with
// the lease's TTL as the key's expiry (Redis's clock).
//
// Acquire tries the preferred id first with a script that extends the key when it already holds
// the owner and else sets it only if absent; then ids from a random start with
// SET key owner NX PX ttl. Renew and Release are scripts that compare the owner first, so a
// lease that expired or changed hands is never touched. Redis keeps leases only in memory unless
// it persists every write, and forgets all of them when it restarts empty or is flushed:
// may_forget() is true, and WorkerIdLease waits a TTL before using an id acquired here.
//
// Fails with Unavailable while Redis is unreachable (redis_client.h). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "cluster/redis/redis_client.h"
#include "cluster/worker_ids.h"

namespace slipway::cluster::redis {

class RedisWorkerIdStore final : public WorkerIdStore {
 public:
  explicit RedisWorkerIdStore(std::unique_ptr<RedisClient> client) : client_(std::move(client)) {}

  Result<int> Acquire(const std::string& owner, int preferred,
                      std::chrono::milliseconds ttl) override;
  Result<bool> Renew(int id, const std::string& owner, std::chrono::milliseconds ttl) override;
  Status Release(int id, const std::string& owner) override;
  bool may_forget() const override { return true; }
  std::string_view backend() const override { return "redis"; }

  RedisClient& client() { return *client_; }
  static std::string Key(int id) { return "slipway:worker:" + std::to_string(id); }

 private:
  const std::unique_ptr<RedisClient> client_;
};

}  // namespace slipway::cluster::redis
