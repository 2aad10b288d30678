#include "app/application.h"

#include <signal.h>

#include <chrono>
#include <thread>

#include "app/api_handler.h"
#include "core/json_writer.h"
#include "core/logging.h"
#include "db/core_migrations.h"
#include "db/sqlite/sqlite_connection.h"

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
  if (config_.db.dialect != "sqlite") {
    return Unimplemented("DB_DIALECT=" + config_.db.dialect + " is not supported by this build");
  }
  db::SqliteOptions options;
  options.path = config_.db.storage;
  options.synchronous = config_.db.sqlite_synchronous;
  pool_ = std::make_unique<db::Pool>(
      db::Dialect::kSqlite, [options] { return db::OpenSqlite(options); }, config_.db.pool_max);
  schema_lock_ = db::MakeFileSchemaLock(config_.db.storage.string() + ".lock");
  // Open one connection now so that a bad path fails here, with the path in the message.
  ASSIGN_OR_RETURN(auto conn, pool_->Acquire());
  return Status::Ok();
}

InstallerOptions Application::MakeInstallerOptions(ProgressFn progress) const {
  InstallerOptions options;
  options.binary_version = version_;
  options.migrations = db::CoreMigrations();
  for (const auto& m : distribution_.extra_migrations) options.migrations.push_back(m);
  options.progress = std::move(progress);
  return options;
}

Status Application::Install(bool force, ProgressFn progress) {
  RETURN_IF_ERROR(OpenDatabase());
  Installer installer(*pool_, *schema_lock_, MakeInstallerOptions(std::move(progress)));
  return installer.Install(force);
}

Status Application::Upgrade(ProgressFn progress) {
  RETURN_IF_ERROR(OpenDatabase());
  Installer installer(*pool_, *schema_lock_, MakeInstallerOptions(std::move(progress)));
  return installer.Upgrade();
}

void Application::RegisterBuiltinActions() {
  actions_.Add("app", "getInfo",
               {[this](ActionRequest&) -> Result<http::Response> {
                  std::string body;
                  core::JsonWriter w(&body);
                  w.BeginObject().Key("data").BeginObject();
                  w.Key("database").BeginObject().Key("dialect").String(config_.db.dialect).EndObject();
                  w.Key("version").String(version_.ToString());
                  w.Key("schemaVersion").String(schema_version_);
                  w.Key("lang").String("en-US");
                  w.Key("name").String("main");
                  w.Key("theme").String("default");
                  w.Key("state").String(AppStateName(lifecycle_.state()));
                  w.Key("nodeId").String(config_.node_id);
                  w.EndObject().EndObject();
                  return http::Response::Json(200, std::move(body));
                },
                RunsOn::kIoThread});
}

void Application::StartUp(SchemaInfo info) {
  auto started = Clock::now();
  Installer installer(*pool_, *schema_lock_,
                      MakeInstallerOptions([this](int done, int total, std::string_view what) {
                        lifecycle_.SetMessage(std::string(what) + " (" + std::to_string(done) +
                                              "/" + std::to_string(total) + ")");
                      }));
  Status status;
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
  auto now = installer.Inspect();
  schema_version_ = now.ok() ? now->schema_version : version_.ToString();
  if (lifecycle_.TransitionTo(AppState::kRunning).ok()) {
    core::log::Info("serving", {{"schema_version", schema_version_}, {"startup_ms", MillisSince(started)}});
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

  RETURN_IF_ERROR(OpenDatabase());
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

  RegisterBuiltinActions();
  core::ThreadPool workers("db", config_.db.pool_max, 10'000);
  ApiHandler api(config_.api_base_path, lifecycle_, actions_, workers);
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
  RETURN_IF_ERROR(WaitForStopSignal());

  lifecycle_.TransitionTo(AppState::kStopping).IgnoreError();
  auto stopping = Clock::now();
  core::log::Info("draining", {{"connections", server->connection_count()},
                               {"grace_ms", static_cast<long long>(config_.shutdown_grace.count())}});
  server->Shutdown(config_.shutdown_grace);
  workers.Stop();
  startup.join();
  server.reset();
  core::log::Info("stopped", {{"drain_ms", MillisSince(stopping)},
                              {"uptime_s", MillisSince(started) / 1000.0}});
  return Status::Ok();
}

}  // namespace slipway::app
