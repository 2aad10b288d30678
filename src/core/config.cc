#include "core/config.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <thread>

namespace slipway::core {

std::optional<std::string> ProcessEnvironment::Get(const std::string& name) const {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> MapEnvironment::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<WorkerMode> ParseWorkerMode(std::string_view text) {
  WorkerMode m;
  m.text = std::string(text);
  auto trimmed = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::string_view t = trimmed(text);
  if (t.empty()) return m;
  if (t == "!") {
    m.takes_tasks = false;
    return m;
  }
  if (t == "-") {
    m.serves_requests = false;
    m.takes_tasks = false;
    return m;
  }
  m.serves_requests = false;
  if (t == "*") return m;
  while (!t.empty()) {
    size_t comma = t.find(',');
    std::string_view kind = trimmed(t.substr(0, comma));
    bool valid = !kind.empty();
    for (char c : kind) {
      valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                        c == '.' || (c >= 'A' && c <= 'Z'));
    }
    if (!valid) {
      return InvalidArgument("WORKER_MODE '" + std::string(text) +
                             "': expected empty, '!', '*', '-' or a comma-separated list of task "
                             "kinds (letters, digits, '_', '-', '.')");
    }
    m.task_kinds.emplace_back(kind);
    if (comma == std::string_view::npos) break;
    t.remove_prefix(comma + 1);
  }
  return m;
}

namespace {

// Reads one variable; an empty value counts as unset, as in NocoBase's .env files.
class Reader {
 public:
  explicit Reader(const Environment& env) : env_(env) {}

  std::optional<std::string> Raw(const std::string& name) const {
    auto v = env_.Get(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  }

  void String(const std::string& name, std::string* out) const {
    if (auto v = Raw(name)) *out = *v;
  }

  Status Integer(const std::string& name, long long min, long long max, long long* out) const {
    auto v = Raw(name);
    if (!v) return Status::Ok();
    long long parsed = 0;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
    if (ec != std::errc() || ptr != v->data() + v->size() || parsed < min || parsed > max) {
      return InvalidArgument(name + "='" + *v + "' is not a whole number from " +
                             std::to_string(min) + " to " + std::to_string(max));
    }
    *out = parsed;
    return Status::Ok();
  }

  template <typename T>
  Status Number(const std::string& name, long long min, long long max, T* out) const {
    long long value = static_cast<long long>(*out);
    RETURN_IF_ERROR(Integer(name, min, max, &value));
    *out = static_cast<T>(value);
    return Status::Ok();
  }

  Status Millis(const std::string& name, std::chrono::milliseconds* out, long long min = 1) const {
    long long value = out->count();
    RETURN_IF_ERROR(Integer(name, min, 24LL * 3600 * 1000, &value));
    *out = std::chrono::milliseconds(value);
    return Status::Ok();
  }

  Status Bool(const std::string& name, bool* out) const {
    auto v = Raw(name);
    if (!v) return Status::Ok();
    if (*v == "1" || *v == "true" || *v == "on" || *v == "yes") {
      *out = true;
    } else if (*v == "0" || *v == "false" || *v == "off" || *v == "no") {
      *out = false;
    } else {
      return InvalidArgument(name + "='" + *v + "' is not a boolean (true/false, 1/0, on/off)");
    }
    return Status::Ok();
  }

  Status OneOf(const std::string& name, std::initializer_list<const char*> allowed,
               std::string* out) const {
    auto v = Raw(name);
    if (!v) return Status::Ok();
    std::string list;
    for (const char* a : allowed) {
      if (*v == a) {
        *out = *v;
        return Status::Ok();
      }
      list += list.empty() ? "" : ", ";
      list += a;
    }
    return InvalidArgument(name + "='" + *v + "' is not one of: " + list);
  }

 private:
  const Environment& env_;
};

}  // namespace

Result<Config> Config::Load(const Environment& env) {
  Config c;
  Reader r(env);
  r.String("APP_HOST", &c.host);
  RETURN_IF_ERROR(r.Number("APP_PORT", 0, 65535, &c.port));
  r.String("API_BASE_PATH", &c.api_base_path);
  RETURN_IF_ERROR(r.Number("HTTP_THREADS", 0, 256, &c.io_threads));
  RETURN_IF_ERROR(r.Number("HTTP_BODY_LIMIT", 1024, 1LL << 32, &c.body_limit_bytes));
  RETURN_IF_ERROR(r.Millis("HTTP_HEADER_TIMEOUT", &c.header_timeout));
  RETURN_IF_ERROR(r.Millis("HTTP_BODY_TIMEOUT", &c.body_timeout));
  RETURN_IF_ERROR(r.Millis("HTTP_IDLE_TIMEOUT", &c.idle_timeout));
  RETURN_IF_ERROR(r.Millis("SHUTDOWN_GRACE", &c.shutdown_grace));
  RETURN_IF_ERROR(r.Millis("SHUTDOWN_DELAY", &c.shutdown_delay, /*min=*/0));
  RETURN_IF_ERROR(r.Millis("SYNC_POLL_INTERVAL", &c.sync_poll_interval));
  RETURN_IF_ERROR(r.Millis("HEARTBEAT_INTERVAL", &c.heartbeat_interval));
  RETURN_IF_ERROR(r.Millis("NODE_LIVE_TIMEOUT", &c.node_live_timeout));
  long long exact_count_limit = c.list_exact_count_limit;
  RETURN_IF_ERROR(r.Integer("LIST_EXACT_COUNT_LIMIT", 0, 1'000'000'000'000LL, &exact_count_limit));
  c.list_exact_count_limit = exact_count_limit;
  RETURN_IF_ERROR(r.Millis("CLUSTER_CONFIRM_TIMEOUT", &c.cluster_confirm_timeout));

  r.String("APP_ENV", &c.app_env);
  r.String("APP_KEY", &c.app_key);
  long long ttl = c.auth_token_ttl.count();
  RETURN_IF_ERROR(r.Integer("AUTH_TOKEN_TTL", 60, 365LL * 86400, &ttl));
  c.auth_token_ttl = std::chrono::seconds(ttl);
  RETURN_IF_ERROR(r.Number("AUTH_HASH_THREADS", 0, 64, &c.auth_hash_threads));
  RETURN_IF_ERROR(r.Number("AUTH_HASH_QUEUE", 1, 100000, &c.auth_hash_queue));
  RETURN_IF_ERROR(
      r.Number("AUTH_MAX_FAILURES_PER_ACCOUNT", 1, 1000000, &c.auth_max_failures_per_account));
  RETURN_IF_ERROR(
      r.Number("AUTH_MAX_FAILURES_PER_ADDRESS", 1, 1000000, &c.auth_max_failures_per_address));
  RETURN_IF_ERROR(r.Millis("AUTH_FAILURE_WINDOW", &c.auth_failure_window));
  if (auto v = r.Raw("TRUSTED_PROXIES")) {
    std::string_view list = *v;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (!item.empty()) c.trusted_proxies.emplace_back(item);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (auto v = r.Raw("STORAGE_PATH")) c.storage_path = *v;
  r.String("NODE_ID", &c.node_id);
  if (auto v = r.Raw("WORKER_MODE")) {
    auto mode = ParseWorkerMode(*v);
    if (!mode.ok()) return mode.status();
    c.worker_mode = std::move(mode).value();
  }
  RETURN_IF_ERROR(r.Bool("AUTO_UPGRADE", &c.auto_upgrade));
  r.String("BACKGROUND_CGROUP", &c.background_cgroup);

  RETURN_IF_ERROR(r.OneOf("DB_DIALECT", {"sqlite", "postgres"}, &c.db.dialect));
  if (auto v = r.Raw("DB_STORAGE")) c.db.storage = *v;
  r.String("DB_HOST", &c.db.host);
  RETURN_IF_ERROR(r.Number("DB_PORT", 1, 65535, &c.db.port));
  r.String("DB_DATABASE", &c.db.database);
  r.String("DB_USER", &c.db.user);
  r.String("DB_PASSWORD", &c.db.password);
  RETURN_IF_ERROR(r.Number("DB_POOL_MAX", 1, 256, &c.db.pool_max));
  RETURN_IF_ERROR(r.Number("DB_FIBER_POOL", 0, 256, &c.db.fiber_pool));
  RETURN_IF_ERROR(r.Millis("DB_STATEMENT_TIMEOUT", &c.db.statement_timeout, 0));
  RETURN_IF_ERROR(r.Number("DB_QUEUE_LIMIT", 1, 1'000'000, &c.db.queue_limit));
  RETURN_IF_ERROR(r.OneOf("DB_SQLITE_SYNCHRONOUS", {"full", "normal"}, &c.db.sqlite_synchronous));

  std::string format = "console";
  RETURN_IF_ERROR(r.OneOf("LOGGER_FORMAT", {"console", "json"}, &format));
  RETURN_IF_ERROR(r.OneOf("LOG_FORMAT", {"console", "json"}, &format));
  c.log_format = format == "json" ? LogFormat::kJson : LogFormat::kConsole;
  std::initializer_list<const char*> levels = {"trace", "debug", "info", "warn", "error", "off"};
  RETURN_IF_ERROR(r.OneOf("LOGGER_LEVEL", levels, &c.log_level));
  RETURN_IF_ERROR(r.OneOf("LOG_LEVEL", levels, &c.log_level));

  r.String("INIT_ROOT_EMAIL", &c.init_root_email);
  r.String("INIT_ROOT_PASSWORD", &c.init_root_password);
  r.String("INIT_ROOT_USERNAME", &c.init_root_username);
  r.String("INIT_ROOT_NICKNAME", &c.init_root_nickname);
  return c;
}

Status Config::Finish() {
  if (db.storage.empty()) db.storage = storage_path / "db" / "slipway.sqlite";
  if (io_threads == 0) io_threads = std::max(1u, std::thread::hardware_concurrency());
  if (auth_hash_threads == 0) {
    auth_hash_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2));
  }
  if (node_id.empty()) {
    char name[256] = {0};
    if (gethostname(name, sizeof(name) - 1) != 0) name[0] = '\0';
    node_id = std::string(name[0] ? name : "node") + ":" + std::to_string(port);
  }
  if (api_base_path.empty() || api_base_path.front() != '/') {
    return InvalidArgument("API_BASE_PATH='" + api_base_path + "' must start with '/'");
  }
  if (api_base_path.back() != '/') api_base_path += '/';
  return Status::Ok();
}

}  // namespace slipway::core
