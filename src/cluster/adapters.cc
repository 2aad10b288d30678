#include "cluster/adapters.h"

#include <ctime>
#include <optional>

#include "cluster/database/database_lock.h"
#include "cluster/database/database_worker_ids.h"
#include "cluster/database/postgres_sync_bus.h"
#include "cluster/memory/memory_cache.h"
#include "cluster/memory/memory_sync_bus.h"
#include "cluster/redis/redis_cache.h"
#include "cluster/redis/redis_lock.h"
#include "cluster/redis/redis_sync_bus.h"
#include "cluster/redis/redis_worker_ids.h"
#include "core/clock.h"

namespace slipway::cluster {
namespace {

using redis::RedisUrl;

std::optional<std::string> Read(const core::Environment& env, const std::string& name) {
  std::optional<std::string> v = env.Get(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

Result<std::optional<RedisUrl>> ReadUrl(const core::Environment& env, const std::string& name) {
  std::optional<std::string> text = Read(env, name);
  if (!text) return std::optional<RedisUrl>();
  Result<RedisUrl> url = redis::ParseRedisUrl(*text);
  if (!url.ok()) return InvalidArgument(name + ": " + url.status().message());
  return std::optional<RedisUrl>(std::move(url).value());
}

// Whether `name` (memory_name | "redis") asks for Redis; unset: whenever a URL is configured.
Result<bool> UseRedis(const core::Environment& env, const std::string& name,
                      const std::string& memory_name, const std::optional<RedisUrl>& url,
                      const std::string& url_variable) {
  std::optional<std::string> choice = Read(env, name);
  if (!choice) return url.has_value();
  if (*choice == memory_name) return false;
  if (*choice != "redis") {
    return InvalidArgument(name + " must be " + memory_name + " or redis, not '" + *choice + "'");
  }
  if (!url) return InvalidArgument(name + "=redis needs " + url_variable + " or REDIS_URL");
  return true;
}

std::unique_ptr<redis::RedisClient> Client(const RedisUrl& url, const std::string& name) {
  redis::RedisClientOptions options;
  options.name = name;
  return std::make_unique<redis::RedisClient>(url, options);
}

// Where locks and worker ids live: true for Redis (LOCK_ADAPTER_DEFAULT=redis), false for the
// database (unset, local, database).
Result<bool> LocksInRedis(const core::Environment& env, const std::optional<RedisUrl>& url) {
  std::optional<std::string> choice = Read(env, "LOCK_ADAPTER_DEFAULT");
  if (!choice || *choice == "local" || *choice == "database") return false;
  if (*choice != "redis") {
    return InvalidArgument("LOCK_ADAPTER_DEFAULT must be local, database or redis, not '" +
                           *choice + "'");
  }
  if (!url) {
    return InvalidArgument("LOCK_ADAPTER_DEFAULT=redis needs LOCK_ADAPTER_REDIS_URL or REDIS_URL");
  }
  return true;
}

Result<WorkerIdLeaseOptions> LeaseOptions(const core::Environment& env) {
  std::optional<std::string> text = Read(env, "WORKER_ID_TTL");
  if (!text) return WorkerIdLeaseOptions();
  int64_t ms = -1;
  size_t used = 0;
  try {
    ms = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text->size() || ms < 1000 || ms > 600'000) {
    return InvalidArgument("WORKER_ID_TTL='" + *text +
                           "' must be milliseconds from 1000 to 600000");
  }
  return WorkerIdLeaseOptions::ForTtl(std::chrono::milliseconds(ms));
}

std::string IsoTime(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "";
  return core::UtcText(std::chrono::system_clock::to_time_t(t));
}

boost::json::object ClientJson(std::string_view backend, redis::RedisClient* client) {
  boost::json::object o{{"backend", backend}};
  if (client != nullptr) {
    o["url"] = client->url().Address();
    o["connected"] = client->connected();
    o["reconnects"] = client->reconnects();
    o["lastError"] = client->last_error();
  }
  return o;
}

}  // namespace

Result<Adapters> MakeAdapters(const core::Environment& env, const std::string& node_id,
                              const DatabaseAccess& database) {
  if (database.pool == nullptr || !database.connect) {
    return InvalidArgument("the cluster adapters need the node's database");
  }
  ASSIGN_OR_RETURN(std::optional<RedisUrl> redis_url, ReadUrl(env, "REDIS_URL"));
  ASSIGN_OR_RETURN(std::optional<RedisUrl> pubsub_url, ReadUrl(env, "PUBSUB_ADAPTER_REDIS_URL"));
  ASSIGN_OR_RETURN(std::optional<RedisUrl> cache_url, ReadUrl(env, "CACHE_REDIS_URL"));
  ASSIGN_OR_RETURN(std::optional<RedisUrl> lock_url, ReadUrl(env, "LOCK_ADAPTER_REDIS_URL"));
  if (!pubsub_url) pubsub_url = redis_url;
  if (!cache_url) cache_url = redis_url;
  if (!lock_url) lock_url = redis_url;

  ASSIGN_OR_RETURN(bool redis_cache,
                   UseRedis(env, "CACHE_DEFAULT_STORE", "memory", cache_url, "CACHE_REDIS_URL"));
  ASSIGN_OR_RETURN(bool redis_locks, LocksInRedis(env, lock_url));
  ASSIGN_OR_RETURN(WorkerIdLeaseOptions lease, LeaseOptions(env));

  Adapters a;
  if (pubsub_url) {
    a.bus = std::make_unique<redis::RedisSyncBus>(*pubsub_url, node_id);
  } else if (database.postgres) {
    a.bus =
        std::make_unique<database::PostgresSyncBus>(*database.postgres, *database.pool, node_id);
  } else {
    a.bus = std::make_unique<memory::MemorySyncBus>(node_id);
  }
  if (redis_cache) {
    a.cache = std::make_unique<redis::RedisCache>(Client(*cache_url, "cache"));
  } else {
    a.cache = std::make_unique<memory::MemoryCache>();
  }
  std::unique_ptr<WorkerIdStore> worker_ids;
  if (redis_locks) {
    a.lock = std::make_unique<redis::RedisLeaseLock>(Client(*lock_url, "lock"));
    // Retried every few hundred ms while no lease is valid: a short backoff, so that the lease
    // comes back as soon as Redis does.
    redis::RedisClientOptions options;
    options.name = "worker-ids";
    options.backoff_initial = std::chrono::milliseconds(50);
    options.backoff_max = lease.retry_interval;
    worker_ids = std::make_unique<redis::RedisWorkerIdStore>(
        std::make_unique<redis::RedisClient>(*lock_url, options));
  } else {
    a.lock = std::make_unique<database::DatabaseLeaseLock>(*database.pool);
    worker_ids = std::make_unique<database::DatabaseWorkerIdStore>(database.pool->dialect(),
                                                                   database.connect);
  }
  a.worker_ids = std::make_unique<WorkerIdLease>(std::move(worker_ids), node_id, lease);
  return a;
}

boost::json::object DescribeAdapters(const Adapters& a) {
  boost::json::object out;
  if (a.bus) {
    BusStatus s = a.bus->status();
    out["bus"] = boost::json::object{{"backend", s.backend},
                                     {"connected", s.connected},
                                     {"since", IsoTime(s.since)},
                                     {"reconnects", s.reconnects},
                                     {"lastError", s.last_error}};
  }
  if (a.lock) {
    auto* r = dynamic_cast<redis::RedisLeaseLock*>(a.lock.get());
    out["lock"] = ClientJson(a.lock->backend(), r ? &r->client() : nullptr);
  }
  if (a.cache) {
    auto* r = dynamic_cast<redis::RedisCache*>(a.cache.get());
    out["cache"] = ClientJson(a.cache->backend(), r ? &r->client() : nullptr);
  }
  if (a.worker_ids) {
    auto* r = dynamic_cast<redis::RedisWorkerIdStore*>(&a.worker_ids->store());
    boost::json::object w = ClientJson(a.worker_ids->store().backend(), r ? &r->client() : nullptr);
    for (auto& [key, value] : a.worker_ids->Describe()) w[key] = value;
    out["workerIds"] = std::move(w);
  }
  return out;
}

}  // namespace slipway::cluster
