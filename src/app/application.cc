#include "app/application.h"

#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "app/api_handler.h"
#include "app/cluster_actions.h"
#include "app/pm_actions.h"
#include "app/schema_actions.h"
#include "cluster/adapters.h"
#include "core/json_writer.h"
#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/core_migrations.h"
#include "db/postgres/postgres_connection.h"
#include "db/postgres/postgres_pipeline.h"
#include "db/postgres/postgres_schema_lock.h"
#include "db/sqlite/sqlite_connection.h"
#include "http/server.h"

namespace slipway::app {
namespace {

using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

Application::Application(core::Config config, Distribution distribution)
    : config_(std::move(config)), distribution_(std::move(distribution)) {
  auto v = core::SemVer::Parse(distribution_.build.version);
  version_ = v.ok() ? *v : core::SemVer();
}

Application::~Application() = default;

Status Application::OpenDatabase() {
  if (pool_) return Status::Ok();
  if (config_.db.dialect == "postgres") {
    db::PostgresOptions options;
    options.host = config_.db.host;
    options.port = config_.db.port;
    options.database = config_.db.database;
    options.user = config_.db.user;
    options.password = config_.db.password;
    pool_ = std::make_unique<db::Pool>(
        db::Dialect::kPostgres, [options] { return db::OpenPostgres(options); },
        config_.db.pool_max, config_.db.fiber_pool);
    if (config_.db.fiber_pool > 0) {
      pool_->SetReaderFactory([options] { return Result(db::MakePostgresPipeline(options)); });
    }
    schema_lock_ = db::MakePostgresSchemaLock(options, db::kSchemaLockKey);
  } else if (config_.db.dialect == "sqlite") {
    db::SqliteOptions options;
    options.path = config_.db.storage;
    options.synchronous = config_.db.sqlite_synchronous;
    options.write_lock = std::make_shared<std::mutex>();
    pool_ = std::make_unique<db::Pool>(
        db::Dialect::kSqlite, [options] { return db::OpenSqlite(options); }, config_.db.pool_max);
    schema_lock_ = db::MakeFileSchemaLock(config_.db.storage.string() + ".lock");
  } else {
    return Unimplemented("DB_DIALECT=" + config_.db.dialect + " is not supported by this build");
  }
  // Open one connection now so that a bad path or an unreachable server fails here, with the
  // path or host:port/database in the message; and so that a later call tries again.
  auto conn = pool_->Acquire();
  if (!conn.ok()) {
    pool_.reset();
    schema_lock_.reset();
    return conn.status();
  }
  return Status::Ok();
}

InstallerOptions Application::MakeInstallerOptions(ProgressFn progress) const {
  InstallerOptions options;
  options.binary_version = version_;
  std::vector<db::Migration> core = db::CoreMigrations();
  options.install_migrations = core;
  for (const auto& m : plugins_->InstallMigrations()) options.install_migrations.push_back(m);
  options.migrations = core;
  // An existing database: the built-ins it has enabled (none yet when it is empty).
  auto conn = pool_->Acquire();
  auto enabled = conn.ok() ? plugins_->UpgradeMigrations(**conn)
                           : Result<std::vector<db::Migration>>(conn.status());
  for (const auto& m : enabled.ok() ? *enabled : plugins_->InstallMigrations())
    options.migrations.push_back(m);
  for (const auto& m : distribution_.extra_migrations) {
    options.migrations.push_back(m);
    options.install_migrations.push_back(m);
  }
  options.install_hooks = {plugins_->MakeInstallHook()};
  options.upgrade_hooks = {plugins_->MakeUpgradeHook()};
  options.progress = std::move(progress);
  return options;
}

Status Application::EnsureAppKey() {
  if (!config_.app_key.empty()) return Status::Ok();
  std::filesystem::path path = config_.storage_path / ".app-key";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path);
    std::getline(in, config_.app_key);
    if (config_.app_key.size() < 32) {
      return FailedPrecondition("the key in " + path.string() +
                                " is shorter than 32 characters; "
                                "remove the file or set APP_KEY");
    }
    return Status::Ok();
  }
  std::filesystem::create_directories(config_.storage_path, ec);
  unsigned char raw[32];
  randombytes_buf(raw, sizeof(raw));
  char hex[65];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  std::string tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << hex << "\n";
    if (!out) return Unavailable("cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Unavailable("cannot write " + path.string() + ": " + ec.message());
  config_.app_key = hex;
  core::log::Warn(
      "APP_KEY is not set: generated one into the storage directory; set APP_KEY "
      "to the same value on every node of a cluster",
      {{"file", path.string()}});
  return Status::Ok();
}

Status Application::Prepare() {
  if (prepared_) return Status::Ok();
  RETURN_IF_ERROR(OpenDatabase());
  RETURN_IF_ERROR(EnsureAppKey());
  ASSIGN_OR_RETURN(auto snowflake, core::SnowflakeGenerator::Create(0));
  services_ = std::make_unique<ServicesImpl>(config_, *pool_, std::move(snowflake));
  plugins_ = std::make_unique<PluginManager>(
      config_, version_.ToString(),
      distribution_.builtins ? distribution_.builtins() : std::vector<BuiltinPlugin>{}, *services_,
      *pool_, *schema_lock_);
  RETURN_IF_ERROR(plugins_->LoadBuiltins());
  RegisterCoreActions();
  services_->Attach(plugins_.get(), &core_actions_, &version_);
  services_->OnPublish([this](const Snapshot& snap) { OnSnapshot(snap); });
  prepared_ = true;
  return Status::Ok();
}

Status Application::Install(bool force, ProgressFn progress) {
  RETURN_IF_ERROR(Prepare());
  Installer installer(*pool_, *schema_lock_, MakeInstallerOptions(std::move(progress)));
  return installer.Install(force);
}

Status Application::Upgrade(ProgressFn progress) {
  RETURN_IF_ERROR(Prepare());
  Installer installer(*pool_, *schema_lock_, MakeInstallerOptions(std::move(progress)));
  return installer.Upgrade();
}

Result<PluginManager*> Application::Plugins() {
  RETURN_IF_ERROR(Prepare());
  Installer installer(*pool_, *schema_lock_, MakeInstallerOptions(nullptr));
  ASSIGN_OR_RETURN(SchemaInfo info, installer.Inspect());
  switch (info.status) {
    case SchemaStatus::kEmpty:
      return FailedPrecondition("the database is not installed; run slipway install",
                                "APP_NOT_INSTALLED");
    case SchemaStatus::kNewer:
      return Installer::NewerSchemaError(info.schema_version, version_);
    case SchemaStatus::kOlder:
      return FailedPrecondition(
          "the database schema is at " + info.schema_version + "; run slipway upgrade first",
          "APP_UPGRADE_REQUIRED");
    case SchemaStatus::kCurrent:
      break;
  }
  RETURN_IF_ERROR(services_->ReloadSnapshot());
  return plugins_.get();
}

Status Application::SetClusterGate(const std::string& state, const std::string& message) {
  RETURN_IF_ERROR(Plugins().status());  // installed and at this version
  int64_t epoch = 0;
  {
    ASSIGN_OR_RETURN(auto conn, pool_->Acquire());
    ASSIGN_OR_RETURN(epoch, db::SetClusterState(*conn, state, message));
  }
  // Tell the nodes now (they would also find it within SYNC_POLL_INTERVAL), then confirm.
  ASSIGN_OR_RETURN(cluster::Adapters adapters,
                   cluster::MakeAdapters(core::ProcessEnvironment(), config_.node_id + "/cli"));
  Status sent =
      adapters.bus->Publish("sync", boost::json::object{{"type", "epoch"}, {"epoch", epoch}});
  if (!sent.ok())
    core::log::Warn("sync signal not sent; nodes poll the epoch", {{"error", sent.message()}});
  return WaitUntilApplied(*pool_, epoch, config_.node_live_timeout,
                          config_.cluster_confirm_timeout);
}

Result<boost::json::object> Application::ClusterStatus() {
  RETURN_IF_ERROR(OpenDatabase());
  ASSIGN_OR_RETURN(auto conn, pool_->Acquire());
  ASSIGN_OR_RETURN(db::ClusterRow row, db::ReadClusterRow(*conn));
  ASSIGN_OR_RETURN(auto nodes, ListNodes(*conn, config_.node_live_timeout));
  boost::json::array list;
  for (const auto& n : nodes) list.push_back(NodeJson(n));
  return boost::json::object{{"state", row.state},
                             {"message", row.message},
                             {"schemaVersion", row.schema_version},
                             {"epoch", row.epoch},
                             {"nodes", list}};
}

void Application::RegisterCoreActions() {
  ActionRegistry& actions = core_actions_;
  actions.Add(
      "app", "getInfo",
      {[this](ActionRequest& req) -> Result<http::Response> {
         std::string body;
         core::JsonWriter w(&body);
         w.BeginObject().Key("data").BeginObject();
         w.Key("database").BeginObject().Key("dialect").String(config_.db.dialect).EndObject();
         w.Key("version").String(version_.ToString());
         w.Key("schemaVersion").String(req.snapshot->schema_version);
         w.Key("lang").String("en-US");
         w.Key("name").String("main");
         w.Key("theme").String("default");
         w.Key("state").String(AppStateName(lifecycle_.state()));
         w.Key("nodeId").String(config_.node_id);
         w.Key("epoch").Int(req.snapshot->epoch);
         w.EndObject().EndObject();
         return http::Response::Json(200, std::move(body));
       },
       RunsOn::kIoThread, Access::kOpen, "", /*safe=*/true});
  RegisterPluginActions(actions, *plugins_);
  RegisterClusterActions(actions, [this] { return cluster_.get(); });
  // A collection may not take the name of a resource the core or a plugin serves.
  RegisterSchemaActions(actions, [this](std::string_view name) {
    auto snap = services_->snapshot();
    return core_actions_.HasResource(std::string(name)) ||
           (snap->actions && snap->actions->HasResource(std::string(name)));
  });
}

void Application::PollEpoch(std::atomic<bool>* stop) {
  while (!stop->load()) {
    std::this_thread::sleep_for(config_.sync_poll_interval);
    AppState state = lifecycle_.state();
    if (stop->load() || (state != AppState::kRunning && state != AppState::kOutOfService)) continue;
    int64_t epoch = 0;
    {
      auto conn = pool_->Acquire(std::chrono::seconds(1));
      if (!conn.ok()) continue;
      auto row = db::ReadClusterRow(**conn);
      if (!row.ok()) continue;
      epoch = row->epoch;
    }
    if (epoch <= services_->snapshot()->epoch) continue;
    core::log::Info("epoch changed elsewhere; reloading",
                    {{"from", services_->snapshot()->epoch}, {"to", epoch}});
    Refresh().status().IgnoreError();
  }
}

Result<int64_t> Application::Refresh() {
  Status s = services_->ReloadSnapshot();
  if (!s.ok()) {
    if (s.tag() == "APP_OUTDATED") {
      // Another node upgraded the schema past this binary: stop serving, say why (fencing).
      if (lifecycle_.TransitionTo(AppState::kOutdated, s.message()).ok()) {
        core::log::Error("the database is newer than this node; out of service",
                         {{"error", s.message()}});
      }
    } else {
      core::log::Error("reload failed", {{"error", s.message()}});
    }
    return s;
  }
  return services_->snapshot()->epoch;
}

void Application::OnSnapshot(const Snapshot& snap) {
  // A node that could not apply what the cluster enabled takes itself out of service rather
  // than serve a diverged application; it comes back once a later change can be applied.
  AppState state = lifecycle_.state();
  if (!snap.load_errors.empty() && state == AppState::kRunning) {
    std::string why = "could not apply the cluster's plugins: " + snap.load_errors.front();
    if (lifecycle_.TransitionTo(AppState::kOutOfService, why).ok()) {
      core::log::Error("out of service", {{"reason", why}});
    }
  } else if (snap.load_errors.empty() && state == AppState::kOutOfService) {
    if (lifecycle_.TransitionTo(AppState::kRunning).ok()) core::log::Info("back in service");
  }
  // After the state: the registry row then says both what this node applied and whether it
  // serves, so a node waiting for confirmation never counts a node that is leaving service.
  if (cluster_) cluster_->Applied(snap.epoch);
}

// Joining needs a worker id; with Redis unreachable the node waits (503 APP_INITIALIZING, saying
// why) and retries with backoff instead of failing for good, and a stop signal ends the wait.
Status Application::JoinCluster() {
  auto backoff = std::chrono::milliseconds(200);
  while (true) {
    Status s = cluster_->Start();
    if (s.code() != StatusCode::kUnavailable) return s;
    if (lifecycle_.state() == AppState::kStopping) return s;
    std::string why = "waiting to join the cluster: " + s.message();
    if (lifecycle_.message() != why) {
      core::log::Warn(
          "cannot join the cluster yet; retrying",
          {{"error", s.message()}, {"retry_ms", static_cast<int64_t>(backoff.count())}});
      lifecycle_.SetMessage(why);
    }
    for (auto waited = std::chrono::milliseconds(0); waited < backoff;
         waited += std::chrono::milliseconds(50)) {
      if (lifecycle_.state() == AppState::kStopping) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

void Application::StartUp(SchemaInfo info) {
  auto started = Clock::now();
  Installer installer(*pool_, *schema_lock_,
                      MakeInstallerOptions([this](int done, int total, std::string_view what) {
                        lifecycle_.SetMessage(std::string(what) + " (" + std::to_string(done) +
                                              "/" + std::to_string(total) + ")");
                      }));
  Status status;
  // First start of several nodes at once: one takes the schema lock and installs; the others
  // stay `initializing` (503 APP_INITIALIZING) until the database is installed, then serve.
  while (info.status == SchemaStatus::kEmpty) {
    if (lifecycle_.state() == AppState::kStopping) return;
    auto free = schema_lock_->TryAcquire();
    if (free.ok() && *free) {
      schema_lock_->Release();
      break;
    }
    if (lifecycle_.message().find("another node") == std::string::npos) {
      core::log::Info("another node is installing the database; waiting for it");
    }
    lifecycle_.SetMessage(
        "another node is installing the database; this one serves when it is done");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto again = installer.Inspect();
    if (again.ok()) info = *again;
  }
  if (info.status == SchemaStatus::kEmpty) {
    lifecycle_.TransitionTo(AppState::kInstalling).IgnoreError();
    core::log::Info("installing", {{"version", version_.ToString()}});
    status = installer.Install(/*force=*/false);
    // Another process may have installed it while we waited for the lock; that is success.
    if (status.code() == StatusCode::kAlreadyExists) status = installer.Upgrade();
  } else if (info.status == SchemaStatus::kOlder) {
    lifecycle_.TransitionTo(AppState::kUpgrading).IgnoreError();
    core::log::Info("upgrading", {{"from", info.schema_version}, {"to", version_.ToString()}});
    status = installer.Upgrade();
  } else {
    // Same version; still apply migrations this binary has and the database lacks (an
    // interrupted install of a pre-release, or extra migrations of a test build).
    status = installer.Upgrade();
  }
  if (!status.ok()) {
    core::log::Error("start-up failed", {{"error", status.message()}});
    lifecycle_.TransitionTo(AppState::kError, status.message()).IgnoreError();
    return;
  }
  Status loaded = services_->ReloadSnapshot();
  if (loaded.ok() && cluster_) {
    loaded = JoinCluster();
    if (loaded.ok()) loaded = services_->SetWorkerId(cluster_->worker_id());
  }
  if (!loaded.ok()) {
    core::log::Error("start-up failed", {{"error", loaded.message()}});
    lifecycle_.TransitionTo(AppState::kError, loaded.message()).IgnoreError();
    return;
  }
  if (lifecycle_.TransitionTo(AppState::kRunning).ok()) {
    if (cluster_) cluster_->StateChanged();
    OnSnapshot(*services_->snapshot());  // a plugin this node could not load: out of service
    core::log::Info("serving",
                    {{"epoch", services_->snapshot()->epoch},
                     {"collections", services_->snapshot()->schema->collections().size()},
                     {"startup_ms", MillisSince(started)}});
  }
}

Status Application::WaitForStopSignal() {
  sigset_t set = StopSignals();
  while (true) {
    siginfo_t info;
    timespec timeout{0, 200'000'000};
    int sig = sigtimedwait(&set, &info, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      core::log::Info("stop signal received", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      return Status::Ok();
    }
  }
}

Status Application::Serve() {
  auto started = Clock::now();
  // Block the stop signals before any thread starts, so that every thread inherits the mask and
  // only WaitForStopSignal() receives them.
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  RETURN_IF_ERROR(Prepare());
  SchemaInfo info;
  {
    Installer installer(*pool_, *schema_lock_, MakeInstallerOptions(nullptr));
    ASSIGN_OR_RETURN(info, installer.Inspect());
  }
  if (info.status == SchemaStatus::kNewer) {
    return Installer::NewerSchemaError(info.schema_version, version_);
  }
  if (info.status == SchemaStatus::kOlder && !config_.auto_upgrade) {
    return FailedPrecondition("the database schema is at version " + info.schema_version +
                                  ", older than this binary (" + version_.ToString() +
                                  ") and automatic upgrade is off; run slipway upgrade",
                              "APP_UPGRADE_REQUIRED");
  }

  // The cluster adapters (Redis when configured, else in-process) and this node's registration.
  ASSIGN_OR_RETURN(cluster::Adapters adapters,
                   cluster::MakeAdapters(core::ProcessEnvironment(), config_.node_id));
  ClusterNode::Hooks hooks;
  hooks.state = [this] { return std::string(AppStateName(lifecycle_.state())); };
  hooks.reload = [this] { return Refresh(); };
  hooks.plugin_message = [this](std::string_view plugin, const boost::json::value& body) {
    auto snap = services_->snapshot();
    if (const PluginRuntime* p = snap->FindPlugin(plugin)) {
      for (const auto& handler : p->sync_handlers()) {
        GuardPlugin(plugin, "sync message", [&] {
          handler(body);
          return Status::Ok();
        }).IgnoreError();
      }
    }
  };
  hooks.worker_id_changed = [this](int id) {
    Status s = services_->SetWorkerId(id);
    if (!s.ok()) core::log::Error("could not change the worker id", {{"error", s.message()}});
  };
  cluster_ = std::make_unique<ClusterNode>(config_, version_.ToString(), *pool_,
                                           std::move(adapters), std::move(hooks));
  services_->SetCluster(cluster_.get());

  core::ThreadPool workers("db", config_.db.pool_max, 10'000);
  core::ThreadPool hashing("hash", config_.auth_hash_threads,
                           static_cast<size_t>(config_.auth_hash_queue));
  ApiHandler api(config_.api_base_path, lifecycle_, workers, hashing, *services_);
  http::ServerOptions options;
  options.host = config_.host;
  options.port = config_.port;
  options.threads = config_.io_threads;
  options.body_limit_bytes = config_.body_limit_bytes;
  options.header_timeout = config_.header_timeout;
  options.body_timeout = config_.body_timeout;
  options.idle_timeout = config_.idle_timeout;
  ASSIGN_OR_RETURN(auto server, http::Server::Start(options, api));
  core::log::Info("listening", {{"address", config_.host},
                                {"port", static_cast<int>(server->port())},
                                {"dialect", config_.db.dialect},
                                {"storage", config_.storage_path.string()},
                                {"io_threads", config_.io_threads},
                                {"db_workers", config_.db.pool_max}});

  std::thread startup([this, info] { StartUp(info); });
  std::atomic<bool> stop_polling{false};
  std::thread poller([this, &stop_polling] { PollEpoch(&stop_polling); });
  RETURN_IF_ERROR(WaitForStopSignal());
  stop_polling = true;

  lifecycle_.TransitionTo(AppState::kStopping).IgnoreError();
  auto stopping = Clock::now();
  core::log::Info("draining",
                  {{"connections", server->connection_count()},
                   {"grace_ms", static_cast<long long>(config_.shutdown_grace.count())}});
  server->Shutdown(config_.shutdown_grace);
  startup.join();  // it ends its waits (for an installer, for Redis) once the state is stopping
  poller.join();
  services_->SetCluster(nullptr);
  cluster_->Stop();
  workers.Stop();
  hashing.Stop();
  server.reset();
  core::log::Info("stopped", {{"drain_ms", MillisSince(stopping)},
                              {"uptime_s", MillisSince(started) / 1000.0}});
  return Status::Ok();
}

}  // namespace slipway::app
