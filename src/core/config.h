// Config: everything a node reads at start, from the environment (NocoBase's variable names where
// one exists) with command-line flags applied on top by the CLI.
//
// Loading validates every value and fails with InvalidArgument naming the variable and what it
// expected; nothing is silently defaulted from a malformed value. A Config is a plain value,
// built once at start and read-only afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "slipway/status.h"

namespace slipway::core {

// Where configuration values come from; an interface so tests can supply a map.
class Environment {
 public:
  virtual ~Environment() = default;
  virtual std::optional<std::string> Get(const std::string& name) const = 0;
};

// The process environment (getenv).
class ProcessEnvironment final : public Environment {
 public:
  std::optional<std::string> Get(const std::string& name) const override;
};

class MapEnvironment final : public Environment {
 public:
  explicit MapEnvironment(std::map<std::string, std::string> values) : values_(std::move(values)) {}
  MapEnvironment(std::initializer_list<std::pair<const std::string, std::string>> values)
      : values_(values) {}
  std::optional<std::string> Get(const std::string& name) const override;

 private:
  std::map<std::string, std::string> values_;
};

enum class LogFormat { kConsole, kJson };

// WORKER_MODE, NocoBase's: what a node does. Empty: requests and tasks; "!": requests only;
// "*": tasks of every kind and no requests; "backup,restore": tasks of those kinds only and no
// requests; "-": neither (a node kept for operations, e.g. while it is examined).
struct WorkerMode {
  bool serves_requests = true;
  bool takes_tasks = true;
  std::vector<std::string> task_kinds;  // empty: every kind
  std::string text;                     // as given, for messages

  bool TakesKind(std::string_view kind) const {
    if (!takes_tasks) return false;
    if (task_kinds.empty()) return true;
    for (const std::string& k : task_kinds) {
      if (k == kind) return true;
    }
    return false;
  }
};

// Parses WORKER_MODE; InvalidArgument naming what is wrong (kinds are [a-z0-9_.-]+).
Result<WorkerMode> ParseWorkerMode(std::string_view text);

struct DatabaseConfig {
  std::string dialect = "sqlite";    // DB_DIALECT: sqlite | postgres
  std::filesystem::path storage;     // DB_STORAGE: the SQLite file
  std::string host = "127.0.0.1";    // DB_HOST
  uint16_t port = 5432;              // DB_PORT
  std::string database = "slipway";  // DB_DATABASE
  std::string user = "slipway";      // DB_USER
  std::string password;              // DB_PASSWORD
  int pool_max = 4;                  // DB_POOL_MAX: connections (and database worker threads)
  // DB_FIBER_POOL: PostgreSQL connections per I/O thread for record actions run in fibers
  // (src/core/fiber.h), on top of DB_POOL_MAX; 0 sends them to the worker threads instead.
  int fiber_pool = 4;
  // DB_STATEMENT_TIMEOUT (ms): the longest one statement of an API request may run; past it the
  // request is answered 503. 0: no limit. Tasks and procedures (backups, restores, migrations,
  // schema changes and their index builds) have none.
  std::chrono::milliseconds statement_timeout{5'000};
  // DB_QUEUE_LIMIT: API requests that may wait for the database at once (queued for a worker
  // thread, or in fibers), beyond those it runs; past it a request is answered 503 with
  // Retry-After rather than waiting behind the others.
  int queue_limit = 1000;
  std::string sqlite_synchronous = "full";  // DB_SQLITE_SYNCHRONOUS: full | normal
};

struct Config {
  // HTTP
  std::string host = "0.0.0.0";                      // APP_HOST
  uint16_t port = 13000;                             // APP_PORT
  std::string api_base_path = "/api/";               // API_BASE_PATH
  int io_threads = 0;                                // HTTP_THREADS; 0 = one per core
  size_t body_limit_bytes = 8 << 20;                 // HTTP_BODY_LIMIT (bytes)
  std::chrono::milliseconds header_timeout{10'000};  // HTTP_HEADER_TIMEOUT (ms)
  std::chrono::milliseconds body_timeout{30'000};    // HTTP_BODY_TIMEOUT (ms)
  std::chrono::milliseconds idle_timeout{60'000};    // HTTP_IDLE_TIMEOUT (ms), keep-alive
  std::chrono::milliseconds shutdown_grace{30'000};  // SHUTDOWN_GRACE (ms)
  // SHUTDOWN_DELAY (ms): after SIGTERM the health check fails for this long while requests are
  // still served, so that a load balancer (two failed checks) or Kubernetes takes the node out
  // before it stops accepting. SIGINT (a terminal's Ctrl-C) skips it.
  std::chrono::milliseconds shutdown_delay{2'000};
  // SYNC_POLL_INTERVAL (ms): how often a node re-reads the cluster epoch, so that a change made
  // elsewhere (another node, the CLI) is applied here even without a sync message.
  std::chrono::milliseconds sync_poll_interval{500};
  std::chrono::milliseconds heartbeat_interval{1000};  // HEARTBEAT_INTERVAL (ms)
  std::chrono::milliseconds node_live_timeout{5000};   // NODE_LIVE_TIMEOUT (ms)
  // LIST_EXACT_COUNT_LIMIT: a list of a collection whose table the database estimates larger
  // than this counts no rows (it says hasNext instead), as NocoBase's SIMPLE_PAGINATION_LIMIT.
  int64_t list_exact_count_limit = 300'000;
  std::chrono::milliseconds cluster_confirm_timeout{10000};  // CLUSTER_CONFIRM_TIMEOUT (ms)

  // Application
  std::string app_env = "production";          // APP_ENV
  std::string app_key;                         // APP_KEY; generated into storage when empty
  std::chrono::seconds auth_token_ttl{86400};  // AUTH_TOKEN_TTL (seconds a sign-in lasts)
  // Sign-in protection (docs/security.md). Password hashes run on AUTH_HASH_THREADS threads
  // (0: half the cores, at least one) with at most AUTH_HASH_QUEUE waiting; failed sign-ins are
  // counted per account and per client address over AUTH_FAILURE_WINDOW, past the limits: 429.
  int auth_hash_threads = 0;
  int auth_hash_queue = 16;
  int auth_max_failures_per_account = 10;
  int auth_max_failures_per_address = 50;
  std::chrono::milliseconds auth_failure_window{15 * 60 * 1000};
  // TRUSTED_PROXIES: addresses of load balancers whose X-Forwarded-For names the client.
  std::vector<std::string> trusted_proxies;
  std::filesystem::path storage_path = "storage";  // STORAGE_PATH
  std::string node_id;                             // NODE_ID; defaults to "<hostname>:<port>"
  WorkerMode worker_mode;                          // WORKER_MODE
  // BACKGROUND_CGROUP: where a node's background work (its backups) runs: "auto", "off" or a
  // cgroup directory, made idle (ops::SetUpBackgroundWork).
  std::string background_cgroup = "auto";
  bool auto_upgrade = true;  // AUTO_UPGRADE (flag --no-auto-upgrade)
  DatabaseConfig db;

  // Logging
  LogFormat log_format = LogFormat::kConsole;  // LOG_FORMAT or LOGGER_FORMAT: console | json
  std::string log_level = "info";              // LOGGER_LEVEL or LOG_LEVEL

  // First administrator, created on install.
  std::string init_root_email = "admin@nocobase.com";  // INIT_ROOT_EMAIL
  std::string init_root_password = "admin123";         // INIT_ROOT_PASSWORD
  std::string init_root_username = "nocobase";         // INIT_ROOT_USERNAME
  std::string init_root_nickname = "Super Admin";      // INIT_ROOT_NICKNAME

  // Reads every variable above from `env`. DB_STORAGE defaults to
  // <STORAGE_PATH>/db/slipway.sqlite.
  static Result<Config> Load(const Environment& env);

  // Fills what depends on other values (node id, default DB_STORAGE) and checks consistency.
  // Call after flags were applied.
  Status Finish();
};

}  // namespace slipway::core
