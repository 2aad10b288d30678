// The cluster adapters of one node, chosen from the environment with NocoBase's variable names.
//
//   REDIS_URL                 the default Redis for everything below
//   PUBSUB_ADAPTER_REDIS_URL  sync bus (else REDIS_URL; neither: in-process)
//   CACHE_DEFAULT_STORE       memory | redis (unset: redis when CACHE_REDIS_URL or REDIS_URL is
//                             set, else memory)
//   CACHE_REDIS_URL           cache (else REDIS_URL)
//   LOCK_ADAPTER_DEFAULT      local | redis (unset: as for the cache)
//   LOCK_ADAPTER_REDIS_URL    locks and worker ids (else REDIS_URL)
//
// With no Redis configured everything is in-process (memory/): right for a single node, wrong for
// a cluster. Worker ids come from Redis whenever LOCK_ADAPTER_REDIS_URL or REDIS_URL is set.
//
// MakeAdapters does no I/O: Redis clients connect on first use, so a Redis that is down shows up
// as Unavailable from the adapters, not here. It fails with InvalidArgument naming the variable
// when a URL is malformed (checked even if unused), a store/adapter name is unknown, or redis is
// asked for with no URL. Each Redis adapter has its own connection(s), so that cache traffic never
// delays a lock or a lease renewal.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <string>

#include "cluster/cache.h"
#include "cluster/lock.h"
#include "cluster/sync_bus.h"
#include "cluster/worker_ids.h"
#include "core/config.h"
#include "slipway/status.h"

namespace slipway::cluster {

struct Adapters {
  std::unique_ptr<SyncBus> bus;
  std::unique_ptr<LeaseLock> lock;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<WorkerIdAllocator> worker_ids;
};

// `node_id` tags this node's sync messages and worker-id leases.
Result<Adapters> MakeAdapters(const core::Environment& env, const std::string& node_id);

// {"bus": {"backend", "connected", "since", "reconnects", "lastError"}, "lock": backend,
//  "cache": backend, "workerIds": {"backend", "id", "lost"}} for a status page.
boost::json::object DescribeAdapters(const Adapters& adapters);

}  // namespace slipway::cluster
