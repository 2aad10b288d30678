#include "app/application.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "api/api_handler.h"
#include "api/app_actions.h"
#include "api/cluster_actions.h"
#include "api/schema_actions.h"
#include "auth/app_key.h"
#include "cluster/adapters.h"
#include "core/clock.h"
#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/core_migrations.h"
#include "http/mux.h"
#include "http/server.h"
#include "ops/process.h"
#include "ops/task_actions.h"
#include "plugins/plugin_runtime.h"
#include "plugins/pm_actions.h"
#include "plugins/snapshot_loader.h"

namespace slipway::app {
namespace {

using Clock = std::chrono::steady_clock;

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

ops::InstallerOptions Application::MakeInstallerOptions(ops::ProgressFn progress) const {
  ops::InstallerOptions options;
  options.binary_version = version_;
  std::vector<db::Migration> core = db::CoreMigrations();
  options.install_migrations = core;
  for (const auto& m : plugins_->InstallMigrations()) options.install_migrations.push_back(m);
  options.migrations = core;
  // An existing database: the built-ins it has enabled (none yet when it is empty).
  auto conn = db_.pool->Acquire();
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

Status Application::Prepare() {
  if (prepared_) return Status::Ok();
  RETURN_IF_ERROR(OpenDatabase());
  RETURN_IF_ERROR(auth::EnsureAppKey(config_.storage_path, &config_.app_key));
  ASSIGN_OR_RETURN(auto snowflake, core::SnowflakeGenerator::Create(0));
  services_ = std::make_unique<api::ServicesImpl>(config_, *db_.pool, *db_.schema_lock,
                                                  std::move(snowflake));
  plugins_ = std::make_unique<plugins::PluginManager>(
      config_, version_.ToString(),
      distribution_.builtins ? distribution_.builtins() : std::vector<plugins::BuiltinPlugin>{},
      *services_, *db_.pool);
  RETURN_IF_ERROR(plugins_->LoadBuiltins());
  tasks_ = std::make_unique<ops::TaskStore>(*db_.pool);
  const ops::BackupManagerOptions ops_options{
      .storage_path = config_.storage_path,
      .app_version = version_.ToString(),
      .plugin_version = [this](const std::string& name) { return plugins_->LoadableVersion(name); },
      .restore_plugins =
          [this](db::Connection& conn, const boost::json::array& list,
                 const std::set<std::string>& disabled) {
            return plugins_->RestoreStates(conn, list, disabled);
          }};
  backups_ = std::make_unique<ops::BackupManager>(*services_, *tasks_, ops_options);
  migrations_ =
      std::make_unique<ops::MigrationManager>(*services_, *tasks_, *backups_, ops_options);
  RegisterCoreActions();
  services_->SetLoader([this](db::Connection& conn) {
    return plugins::LoadSnapshot(*plugins_, core_actions_, version_, conn);
  });
  prepared_ = true;
  return Status::Ok();
}

Status Application::Install(bool force, ops::ProgressFn progress) {
  RETURN_IF_ERROR(Prepare());
  ops::Installer installer(*db_.pool, *db_.schema_lock, MakeInstallerOptions(std::move(progress)));
  return installer.Install(force);
}

Status Application::Upgrade(ops::ProgressFn progress) {
  RETURN_IF_ERROR(Prepare());
  ops::Installer installer(*db_.pool, *db_.schema_lock, MakeInstallerOptions(std::move(progress)));
  return installer.Upgrade();
}

Status Application::AnnounceFromOutside() {
  if (outsider_) return Status::Ok();
  ASSIGN_OR_RETURN(cluster::Adapters adapters,
                   cluster::MakeAdapters(core::ProcessEnvironment(), config_.node_id + "/cli",
                                         ClusterDatabase()));
  outsider_ = std::make_unique<cluster::OutsiderAnnouncer>(config_, *db_.pool, std::move(adapters));
  services_->SetAnnouncer(outsider_.get());
  return Status::Ok();
}

Result<plugins::PluginManager*> Application::Plugins() {
  RETURN_IF_ERROR(Prepare());
  ops::Installer installer(*db_.pool, *db_.schema_lock, MakeInstallerOptions(nullptr));
  ASSIGN_OR_RETURN(ops::SchemaInfo info, installer.Inspect());
  switch (info.status) {
    case ops::SchemaStatus::kEmpty:
      return FailedPrecondition("the database is not installed; run slipway install",
                                "APP_NOT_INSTALLED");
    case ops::SchemaStatus::kNewer:
      return db::NewerSchemaError(info.schema_version, version_);
    case ops::SchemaStatus::kOlder:
      return FailedPrecondition(
          "the database schema is at " + info.schema_version + "; run slipway upgrade first",
          "APP_UPGRADE_REQUIRED");
    case ops::SchemaStatus::kCurrent:
      break;
  }
  RETURN_IF_ERROR(services_->ReloadSnapshot());
  RETURN_IF_ERROR(AnnounceFromOutside());
  return plugins_.get();
}

Status Application::SetClusterGate(const std::string& state, const std::string& message) {
  RETURN_IF_ERROR(Plugins().status());  // installed and at this version
  return api::SetClusterGate(*services_, state, message);
}

cluster::DatabaseAccess Application::ClusterDatabase() const {
  return {db_.pool.get(), db_.connect, db_.postgres};
}

Status Application::OpenDatabase() {
  if (db_.pool) return Status::Ok();
  ASSIGN_OR_RETURN(db_, db::OpenDatabase(config_.db));
  return Status::Ok();
}

Result<boost::json::object> Application::ClusterStatus() {
  RETURN_IF_ERROR(OpenDatabase());
  ASSIGN_OR_RETURN(auto conn, db_.pool->Acquire());
  ASSIGN_OR_RETURN(db::ClusterRow row, db::ReadClusterRow(*conn));
  ASSIGN_OR_RETURN(auto nodes, cluster::ListNodes(*conn, config_.node_live_timeout));
  boost::json::array list;
  for (const auto& n : nodes) list.push_back(cluster::NodeJson(n));
  return boost::json::object{{"state", row.state},
                             {"message", row.message},
                             {"schemaVersion", row.schema_version},
                             {"epoch", row.epoch},
                             {"nodes", list}};
}

Result<ops::BackupSummary> Application::CreateBackup(ops::BackupOptions options) {
  RETURN_IF_ERROR(Prepare());
  RETURN_IF_ERROR(services_->ReloadSnapshot().WithContext("reading the installed application"));
  return backups_->Backup(std::move(options));
}

Result<ops::TaskRecord> Application::RestoreBackup(
    boost::json::object params, std::function<void(const ops::TaskProgress&)> observe) {
  RETURN_IF_ERROR(Plugins().status());  // installed and at this version
  RETURN_IF_ERROR(AnnounceFromOutside());
  RETURN_IF_ERROR(services_->ReloadSnapshot().WithContext("reading the installed application"));
  // This command's own task: visible to every node (their sweeps leave its gate alone while it
  // runs, and open it when this process is gone).
  const std::string me = ops::TaskCommandId(config_.node_id);
  ops::TaskRunnerOptions options;
  ASSIGN_OR_RETURN(ops::TaskRecord task, tasks_->Start(std::string(ops::kRestoreTask), params,
                                                       std::nullopt, me, options.lease));
  ops::TaskHandler handler = ops::Observed(
      [this](ops::TaskContext& ctx) { return backups_->RunRestore(ctx); }, std::move(observe));
  return ops::RunTask(*tasks_, me, std::move(task), handler, options, nullptr);
}

Result<ops::BackupSummary> Application::ExportMigration(ops::ExportOptions options) {
  RETURN_IF_ERROR(Prepare());
  RETURN_IF_ERROR(services_->ReloadSnapshot().WithContext("reading the installed application"));
  return migrations_->Export(std::move(options));
}

Result<ops::MigrationDiff> Application::CheckMigration(const ops::ImportRequest& request) {
  RETURN_IF_ERROR(Plugins().status());  // installed and at this version
  RETURN_IF_ERROR(services_->ReloadSnapshot().WithContext("reading the installed application"));
  return migrations_->Check(request);
}

Result<ops::TaskRecord> Application::ImportMigration(
    boost::json::object params, std::function<void(const ops::TaskProgress&)> observe) {
  RETURN_IF_ERROR(Plugins().status());
  RETURN_IF_ERROR(AnnounceFromOutside());
  RETURN_IF_ERROR(services_->ReloadSnapshot().WithContext("reading the installed application"));
  const std::string me = ops::TaskCommandId(config_.node_id);
  ops::TaskRunnerOptions options;
  ASSIGN_OR_RETURN(ops::TaskRecord task, tasks_->Start(std::string(ops::kImportTask), params,
                                                       std::nullopt, me, options.lease));
  ops::TaskHandler handler = ops::Observed(
      [this](ops::TaskContext& ctx) { return migrations_->RunImport(ctx); }, std::move(observe));
  return ops::RunTask(*tasks_, me, std::move(task), handler, options, nullptr);
}

void Application::RegisterCoreActions() {
  api::RegisterAppActions(core_actions_,
                          {version_.ToString(), config_.db.dialect, config_.node_id, &lifecycle_});
  plugins::RegisterPluginActions(core_actions_, *plugins_);
  api::RegisterClusterActions(core_actions_, [this] { return cluster_.get(); });
  ops::RegisterTaskActions(core_actions_, *tasks_);
  backups_->RegisterActions(core_actions_);
  migrations_->RegisterActions(core_actions_);
  // A collection may not take the name of a resource the core or a plugin serves.
  api::RegisterSchemaActions(core_actions_, [this](std::string_view name) {
    auto snap = services_->snapshot();
    return core_actions_.HasResource(std::string(name)) ||
           (snap->actions && snap->actions->HasResource(std::string(name)));
  });
}

int Application::WaitForStopSignal(std::chrono::milliseconds timeout) {
  sigset_t set = StopSignals();
  auto deadline = Clock::now() + timeout;
  while (timeout.count() < 0 || Clock::now() < deadline) {
    siginfo_t info;
    timespec wait{0, 200'000'000};
    int sig = sigtimedwait(&set, &info, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      core::log::Info("stop signal received", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      return sig;
    }
  }
  return 0;
}

Status Application::Serve() {
  auto started = Clock::now();
  // Block the stop signals before any thread starts, so that every thread inherits the mask and
  // only WaitForStopSignal() receives them.
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // Where background work (the backups) runs: BACKGROUND_CGROUP, refused here if it is wrong.
  ASSIGN_OR_RETURN(const std::string background,
                   ops::SetUpBackgroundWork(config_.background_cgroup));
  core::log::Info(background);

  RETURN_IF_ERROR(Prepare());
  ops::SchemaInfo info;
  {
    ops::Installer installer(*db_.pool, *db_.schema_lock, MakeInstallerOptions(nullptr));
    ASSIGN_OR_RETURN(info, installer.Inspect());
  }
  if (info.status == ops::SchemaStatus::kNewer) {
    return db::NewerSchemaError(info.schema_version, version_);
  }
  if (info.status == ops::SchemaStatus::kOlder && !config_.auto_upgrade) {
    return FailedPrecondition("the database schema is at version " + info.schema_version +
                                  ", older than this binary (" + version_.ToString() +
                                  ") and automatic upgrade is off; run slipway upgrade",
                              "APP_UPGRADE_REQUIRED");
  }

  // The cluster adapters (cluster/adapters.h: the database, Redis where configured) and this
  // node's registration.
  ASSIGN_OR_RETURN(
      cluster::Adapters adapters,
      cluster::MakeAdapters(core::ProcessEnvironment(), config_.node_id, ClusterDatabase()));
  cluster::ClusterNode::Hooks hooks;
  hooks.state = [this] { return std::string(api::AppStateName(lifecycle_.state())); };
  hooks.reload = [this] { return node_->Refresh(); };
  hooks.plugin_message = [this](std::string_view plugin, const boost::json::value& body) {
    plugins::DeliverSyncMessage(*services_->snapshot(), plugin, body);
  };
  hooks.oldest_held = [this] { return services_->OldestEpochHeld(); };
  hooks.current_until = [this](api::Lifecycle::SteadyTime t) { lifecycle_.SetCurrentUntil(t); };
  hooks.after_heartbeat = [this] {
    Status s = services_->FinishPendingRemovals();
    if (!s.ok()) core::log::Warn("postponed removals not finished", {{"error", s.message()}});
  };
  cluster_ = std::make_unique<cluster::ClusterNode>(config_, version_.ToString(), *db_.pool,
                                                    std::move(adapters), std::move(hooks));
  services_->SetAnnouncer(cluster_.get());
  services_->SetWorkerIdSource([this] { return cluster_->WorkerIdForIssuing(); });
  services_->OnEpochReleased([node = cluster_.get()](int64_t oldest) { node->Released(oldest); });
  lifecycle_.OnStale([node = cluster_.get()] { node->Wake(); });
  node_ = std::make_unique<ops::NodeProcedures>(
      *db_.pool, *db_.schema_lock, lifecycle_, *services_, cluster_.get(), version_,
      [this](ops::ProgressFn progress) { return MakeInstallerOptions(std::move(progress)); });
  services_->OnPublish([this](const api::Snapshot& snap) { node_->OnSnapshot(snap); });
  node_->OnFatal([this](const Status& why) {
    {
      std::lock_guard lock(fatal_mu_);
      fatal_ = why;
    }
    kill(getpid(), SIGTERM);  // WaitForStopSignal receives it: the ordinary stop, then exit
  });

  core::ThreadPool workers("db", config_.db.pool_max, static_cast<size_t>(config_.db.queue_limit));
  core::ThreadPool hashing("hash", config_.auth_hash_threads,
                           static_cast<size_t>(config_.auth_hash_queue));
  api::ApiHandler api(config_.api_base_path, lifecycle_, workers, hashing, *services_);
  http::ServerOptions options;
  options.host = config_.host;
  options.port = config_.port;
  options.threads = config_.io_threads;
  options.body_limit_bytes = config_.body_limit_bytes;
  options.header_timeout = config_.header_timeout;
  options.body_timeout = config_.body_timeout;
  options.idle_timeout = config_.idle_timeout;
  // Uploaded files (the file manager's local storage) are served beside the API, as NocoBase does.
  http::Mux root(api);
  root.ServeFiles(http::StaticFiles(config_.storage_path / "uploads", "/storage/uploads"));
  ASSIGN_OR_RETURN(auto server, http::Server::Start(options, root));
  core::log::Info("listening", {{"address", config_.host},
                                {"port", static_cast<int>(server->port())},
                                {"dialect", config_.db.dialect},
                                {"storage", config_.storage_path.string()},
                                {"io_threads", config_.io_threads},
                                {"db_workers", config_.db.pool_max}});

  // Tasks are taken (WORKER_MODE) once the node serves: the task table exists and is current.
  task_runner_ = std::make_unique<ops::TaskRunner>(*tasks_, config_.node_id, config_.worker_mode);
  // Backup tasks run as this binary's `backup create`, with this node's configuration, in a
  // scheduling group of their own: requests first. /proc/self/exe is the image this node runs,
  // even once a package upgrade has replaced the file on disk.
  std::vector<std::string> backup_command = {"/proc/self/exe", "backup", "--storage",
                                             config_.storage_path.string()};
  if (config_.db.dialect == "sqlite") {
    backup_command.insert(backup_command.end(), {"--db-storage", config_.db.storage.string()});
  }
  backups_->RunBackupsApart(std::move(backup_command), ops::ThisEnvironment());
  backups_->Register(*task_runner_);
  migrations_->Register(*task_runner_);
  std::thread startup([this, info] {
    node_->StartUp(info);
    if (lifecycle_.state() != api::AppState::kRunning) return;
    task_runner_->Start();
    Status indexes = services_->BuildUnbuiltIndexes();
    if (!indexes.ok()) core::log::Warn("indexes not checked", {{"error", indexes.message()}});
  });
  if (WaitForStopSignal() == SIGTERM && config_.shutdown_delay.count() > 0 &&
      lifecycle_.state() == api::AppState::kRunning) {
    // Leave the load balancer before leaving: the health check fails, requests are still served.
    lifecycle_.SetLeaving();
    core::log::Info("leaving: the health check fails while requests are still served",
                    {{"delay_ms", static_cast<long long>(config_.shutdown_delay.count())}});
    WaitForStopSignal(config_.shutdown_delay);  // a second signal cuts it short
  }

  lifecycle_.TransitionTo(api::AppState::kStopping).IgnoreError();
  auto stopping = Clock::now();
  core::log::Info("draining",
                  {{"connections", server->connection_count()},
                   {"grace_ms", static_cast<long long>(config_.shutdown_grace.count())}});
  server->Shutdown(config_.shutdown_grace);
  startup.join();  // it ends its waits (for an installer, for Redis) once the state is stopping
  task_runner_->Stop();  // a running task is told to stop at its next report
  services_->SetAnnouncer(nullptr);
  cluster_->Stop();
  workers.Stop();
  hashing.Stop();
  server.reset();
  core::log::Info("stopped", {{"drain_ms", core::MillisSince(stopping)},
                              {"uptime_s", core::MillisSince(started) / 1000.0}});
  std::lock_guard lock(fatal_mu_);
  return fatal_;
}

}  // namespace slipway::app
