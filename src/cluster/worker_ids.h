// WorkerIdAllocator: leases this node a worker id, 0..1023, unique among live nodes, for
// Snowflake ids (core/ids.h: unique ids across nodes follow from unique worker ids).
//
// Implementations: memory::MemoryWorkerIdAllocator (unique within this process: a process-wide
// set of ids in use) and redis::RedisWorkerIdAllocator (key "slipway:worker:<id>" set with NX and
// a TTL, kept alive by a background thread with a checked PEXPIRE).
//
// lost(): the lease can no longer be vouched for, because renewal found the key gone or held by
// someone else (a long Redis outage, a Redis restart without persistence), or because no renewal
// succeeded within one TTL. Another node may then get the same id: the application must stop
// issuing ids with it and Lease() a new one (SnowflakeGenerator::set_worker_id accepts it).
//
// How it fails: Lease() is Unavailable when Redis is unreachable and ResourceExhausted when all
// 1024 ids are taken; Renew() is Aborted when the lease is lost, FailedPrecondition when nothing
// is leased. Thread-safe.
#pragma once

#include <string_view>

#include "slipway/status.h"

namespace slipway::cluster {

class WorkerIdAllocator {
 public:
  static constexpr int kMaxWorkerId = 1023;

  virtual ~WorkerIdAllocator() = default;
  // The leased id; leases one when none is held (or the held one was lost).
  virtual Result<int> Lease() = 0;
  // Confirms and extends the lease now (the background thread also does this).
  virtual Status Renew() = 0;
  // Gives the id back (only if still ours). Idempotent; the destructor calls it.
  virtual void Release() = 0;
  // The leased id, or -1 when none is held.
  virtual int id() const = 0;
  virtual bool lost() const = 0;
  virtual std::string_view backend() const = 0;  // "memory" | "redis"
};

}  // namespace slipway::cluster
