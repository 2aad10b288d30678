// WorkerIdStore: where the cluster keeps its worker-id leases. A worker id (0..1023) is the part
// of a Snowflake id (core/ids.h) that tells nodes apart: ids from nodes that hold distinct worker
// ids never collide. This interface is only the store's operations; the timing that makes a
// lease safe to issue ids under (renewal, the validity deadline, re-leasing, waiting out a store
// that forgot) is written once, in WorkerIdLease (worker_id_lease.h).
//
// A lease belongs to an `owner` (a token unique to one process: "<node id>/<random>"), lasts `ttl`
// from its last acquisition or renewal by the store's clock, and is exclusive: the store never
// gives an id that a live lease holds to another owner.
//
// Implementations:
//   database::DatabaseWorkerIdStore  a row per id in slipway_worker_ids (PostgreSQL or SQLite),
//                                    expiry by the database's clock. Never forgets a lease.
//   redis::RedisWorkerIdStore        key "slipway:worker:<id>" = owner, SET NX PX. Forgets every
//                                    lease when Redis restarts without persistence or is flushed.
//   memory::MemoryWorkerIdStore      this process only (unit tests); can be told to forget.
//
// How it fails: Acquire is ResourceExhausted when all 1024 ids are held by live leases;
// every call is Unavailable when the store cannot be reached. Thread-safe; never call it from a
// fiber (the Redis and database stores block their thread).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::cluster {

class WorkerIdStore {
 public:
  static constexpr int kMaxWorkerId = 1023;

  virtual ~WorkerIdStore() = default;
  // Leases a free id to `owner` for `ttl`: `preferred` when it is free or already `owner`'s
  // (-1: no preference), else any free id.
  virtual Result<int> Acquire(const std::string& owner, int preferred,
                              std::chrono::milliseconds ttl) = 0;
  // Extends `owner`'s lease on `id` to `ttl` from now. False when the lease is no longer
  // `owner`'s (it expired, or the store forgot it, or another owner holds the id): nothing is
  // changed then.
  virtual Result<bool> Renew(int id, const std::string& owner, std::chrono::milliseconds ttl) = 0;
  // Ends `owner`'s lease on `id`; nothing happens when it is not `owner`'s.
  virtual Status Release(int id, const std::string& owner) = 0;
  // True when the store can lose leases it granted (a Redis restarted without persistence,
  // FLUSHALL, a failover to a replica that lagged). WorkerIdLease then does not use an id it
  // acquired until one TTL later (see worker_id_lease.h).
  virtual bool may_forget() const = 0;
  virtual std::string_view backend() const = 0;  // "postgres" | "sqlite" | "redis" | "memory"
};

}  // namespace slipway::cluster
