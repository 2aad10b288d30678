// The cluster adapters of one node, chosen from the environment (NocoBase's variable names) and
// the database the node runs on. Every node that shares a database is a correct member of the
// cluster whatever is configured: without Redis, the database itself keeps the locks, the
// worker-id leases and (on PostgreSQL) carries the sync signal. Redis is an optimisation.
//
// Which backend, when:
//
//   sync bus     Redis PUBLISH/SUBSCRIBE when PUBSUB_ADAPTER_REDIS_URL or REDIS_URL is set;
//                else on PostgreSQL, LISTEN/NOTIFY on the cluster's database
//                (database::PostgresSyncBus); else (SQLite: one machine) in-process
//                (memory::MemorySyncBus): other processes on the same file find changes by
//                polling the epoch.
//   locks and    the database (database::DatabaseLeaseLock, database::DatabaseWorkerIdStore:
//   worker ids   rows of slipway_locks and slipway_worker_ids, expiry by the database's clock),
//                unless LOCK_ADAPTER_DEFAULT=redis: then Redis at LOCK_ADAPTER_REDIS_URL or
//                REDIS_URL. LOCK_ADAPTER_DEFAULT=local (NocoBase's name for "not Redis") or
//                database, or unset, means the database. Why not Redis by default: Redis can
//                forget a lease (a restart without persistence, FLUSHALL, a failover), so an id
//                leased there is used only a TTL after it was leased (worker_id_lease.h, rule
//                4), and a Redis outage stops ids although the database that stores the records
//                is up; the database forgets nothing and is needed for a create anyway.
//   cache        Redis when CACHE_DEFAULT_STORE=redis, or unset with CACHE_REDIS_URL or
//                REDIS_URL; else memory::MemoryCache (this process). Nothing in Slipway relies on
//                the cache being shared between nodes (cache.h says what it is for).
//   worker-id    WORKER_ID_TTL (ms, default 10000): the lease's TTL; its safety margin and the
//   lease        renewal interval are a fifth of it (worker_id_lease.h).
//
// The memory:: lock and worker-id store are never chosen here: they exist for unit tests.
//
// MakeAdapters does no I/O: Redis clients and the database adapters connect on first use, so a
// store that is down shows up as Unavailable from the adapters, not here. It fails with
// InvalidArgument naming the variable when a URL is malformed (checked even if unused), a
// store/adapter name is unknown, redis is asked for with no URL, or WORKER_ID_TTL is not a
// number of milliseconds from 1000 to 600000. Each Redis adapter has its own connection(s), and
// the worker-id store its own database connection, so that other traffic never delays a lease.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>

#include "cluster/cache.h"
#include "cluster/lock.h"
#include "cluster/sync_bus.h"
#include "cluster/worker_id_lease.h"
#include "core/config.h"
#include "db/database.h"
#include "db/postgres/postgres_connection.h"
#include "slipway/status.h"

namespace slipway::cluster {

struct Adapters {
  std::unique_ptr<SyncBus> bus;
  std::unique_ptr<LeaseLock> lock;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<WorkerIdLease> worker_ids;  // not started: ClusterNode starts it
};

// The node's database, as the database adapters use it.
struct DatabaseAccess {
  db::Pool* pool = nullptr;       // locks; publishing NOTIFY. Must outlive the adapters.
  db::ConnectionFactory connect;  // a connection of its own (worker-id leases)
  std::optional<db::PostgresOptions> postgres;  // set on PostgreSQL: the LISTEN session
};

// `node_id` tags this node's sync messages and worker-id leases.
Result<Adapters> MakeAdapters(const core::Environment& env, const std::string& node_id,
                              const DatabaseAccess& database);

// {"bus": {"backend", "connected", "since", "reconnects", "lastError"}, "lock": {"backend", ...},
//  "cache": {"backend", ...}, "workerIds": {"backend", "id", "lost", "reason", ...}} for a status
// page (Redis adapters add their connection's state).
boost::json::object DescribeAdapters(const Adapters& adapters);

}  // namespace slipway::cluster
