// The Redis WorkerIdAllocator (worker_ids.h).
//
// Lease() tries ids from a random start with SET slipway:worker:<id> <owner> NX PX <ttl>, where
// <owner> is "<node id>/<random token>" (the token tells this lease from an earlier one of the
// same node). A background thread renews every `renew_interval` with a Lua script that PEXPIREs
// the key only if it still holds <owner>; after a failed attempt (Redis unreachable) it retries
// every `retry_interval`. The lease is lost when renewal finds another value (or none), and also
// when no renewal succeeded within `ttl` of the last good one: from then on another node may hold
// the id. Loss is logged once, as an error. Release() deletes the key only if it holds <owner>.
//
// Thread-safe. One renewal thread per allocator while an id is leased.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/redis/redis_client.h"
#include "cluster/worker_ids.h"

namespace slipway::cluster::redis {

struct RedisWorkerIdOptions {
  std::chrono::milliseconds ttl{15'000};
  std::chrono::milliseconds renew_interval{5'000};
  std::chrono::milliseconds retry_interval{1'000};
};

class RedisWorkerIdAllocator final : public WorkerIdAllocator {
 public:
  RedisWorkerIdAllocator(std::unique_ptr<RedisClient> client, std::string node_id,
                         RedisWorkerIdOptions options = {});
  ~RedisWorkerIdAllocator() override;

  Result<int> Lease() override;
  Status Renew() override;
  void Release() override;
  int id() const override;
  bool lost() const override;
  std::string_view backend() const override { return "redis"; }

  // The value stored under the leased id's key ("" when none is leased).
  std::string owner() const;
  RedisClient& client() { return *client_; }
  static std::string Key(int id) { return "slipway:worker:" + std::to_string(id); }

 private:
  using Clock = std::chrono::steady_clock;
  void RenewLoop();
  void StopRenewer();  // called with lifecycle_mu_ held, mu_ not held
  void MarkLostLocked(const std::string& why);

  const std::unique_ptr<RedisClient> client_;
  const std::string node_id_;
  const RedisWorkerIdOptions options_;
  std::mutex lifecycle_mu_;  // serializes Lease() and Release(); guards renewer_
  std::thread renewer_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  // Guarded by mu_.
  int id_ = -1;
  std::string owner_;
  Clock::time_point valid_until_{};  // the lease is ours at least until then
  bool lost_ = false;
  bool stop_ = false;
};

}  // namespace slipway::cluster::redis
