#include "app/plugin_manager.h"

#include <chrono>
#include <system_error>

#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/migration.h"
#include "db/system_tables.h"
#include "plugins/library.h"
#include "plugins/package.h"

namespace slipway::app {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr auto kLockTimeout = std::chrono::seconds(60);
const std::string kTable(db::kPluginsTable);

std::string Now(db::Dialect d) {
  return d == db::Dialect::kPostgres ? "now()" : "CURRENT_TIMESTAMP";
}

Status PluginError(const std::string& name, const std::string& doing, const Status& cause) {
  return Status(StatusCode::kAborted,
                doing + " plugin '" + name + "' failed and was rolled back: " + cause.message(),
                "PLUGIN_ERROR");
}

}  // namespace

PluginManager::PluginManager(const core::Config& config, std::string app_version,
                             std::vector<BuiltinPlugin> builtins, Services& services,
                             db::Pool& pool, db::SchemaLock& lock)
    : config_(config),
      app_version_(std::move(app_version)),
      builtins_(std::move(builtins)),
      services_(services),
      pool_(pool),
      lock_(lock) {}

const BuiltinPlugin* PluginManager::FindBuiltin(std::string_view name) const {
  for (const BuiltinPlugin& b : builtins_) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

fs::path PluginManager::PackageDir(const std::string& name, const std::string& version) const {
  return config_.storage_path / "plugins" / name / version;
}

Status PluginManager::LoadBuiltins() {
  for (const BuiltinPlugin& b : builtins_) {
    auto rt = std::make_shared<PluginRuntime>(b.create(), nullptr, /*built_in=*/true, app_version_,
                                              services_);
    RETURN_IF_ERROR(rt->LoadRegistrations());
    std::lock_guard lock(runtime_mu_);
    runtimes_[b.name + "@" + app_version_] = std::move(rt);
  }
  return Status::Ok();
}

std::vector<db::Migration> PluginManager::InstallMigrations() const {
  std::vector<db::Migration> out;
  for (const BuiltinPlugin& b : builtins_) {
    if (!b.enabled_on_install) continue;
    auto it = runtimes_.find(b.name + "@" + app_version_);
    if (it == runtimes_.end()) continue;
    for (const auto& m : it->second->migrations()) out.push_back(m);
  }
  return out;
}

InstallHook PluginManager::MakeInstallHook() const {
  return [this](db::Connection& conn) -> Status {
    for (const BuiltinPlugin& b : builtins_) {
      ASSIGN_OR_RETURN(
          auto rs, conn.Query("INSERT INTO " + kTable +
                                  " (name, version, package_version, enabled, installed, built_in) "
                                  "VALUES ($1, $2, $2, $3, $3, $4)",
                              {b.name, app_version_, b.enabled_on_install, true}));
    }
    for (const BuiltinPlugin& b : builtins_) {
      if (!b.enabled_on_install) continue;
      slipway::Plugin& p = runtimes_.at(b.name + "@" + app_version_)->plugin();
      RETURN_IF_ERROR(GuardPlugin(b.name, "Install", [&] { return p.Install(conn); }));
      RETURN_IF_ERROR(GuardPlugin(b.name, "AfterEnable", [&] { return p.AfterEnable(conn); }));
    }
    return Status::Ok();
  };
}

Result<std::vector<db::Migration>> PluginManager::UpgradeMigrations(db::Connection& conn) const {
  std::set<std::string> enabled;
  ASSIGN_OR_RETURN(
      auto rs,
      conn.Query("SELECT name FROM " + kTable + " WHERE built_in = $1 AND enabled = $1", {true}));
  for (int r = 0; r < rs->row_count(); ++r) enabled.emplace(rs->Text(r, 0));
  std::vector<db::Migration> out;
  for (const BuiltinPlugin& b : builtins_) {
    if (!enabled.count(b.name) && !b.required) continue;
    auto it = runtimes_.find(b.name + "@" + app_version_);
    if (it == runtimes_.end()) continue;
    for (const auto& m : it->second->migrations()) out.push_back(m);
  }
  return out;
}

InstallHook PluginManager::MakeUpgradeHook() const {
  return [this](db::Connection& conn) -> Status {
    for (const BuiltinPlugin& b : builtins_) {
      ASSIGN_OR_RETURN(auto rs,
                       conn.Query("SELECT 1 FROM " + kTable + " WHERE name = $1", {b.name}));
      if (rs->row_count() == 0) {  // a built-in new in this version: added, enabled if required
        ASSIGN_OR_RETURN(
            auto ins,
            conn.Query("INSERT INTO " + kTable +
                           " (name, version, package_version, enabled, installed, built_in) "
                           "VALUES ($1, $2, $2, $3, $3, $4)",
                       {b.name, app_version_, b.required, true}));
      } else {
        ASSIGN_OR_RETURN(auto up, conn.Query("UPDATE " + kTable +
                                                 " SET version = $2, package_version = $2 "
                                                 "WHERE name = $1 AND built_in = $3",
                                             {b.name, app_version_, true}));
      }
    }
    return Status::Ok();
  };
}

Result<std::vector<PluginRow>> PluginManager::ReadRows(db::Connection& conn) const {
  ASSIGN_OR_RETURN(auto rs,
                   conn.Query("SELECT name, version, package_version, package_path, enabled, "
                              "installed, built_in, options, error FROM " +
                              kTable + " ORDER BY name"));
  std::vector<PluginRow> rows;
  for (int r = 0; r < rs->row_count(); ++r) {
    PluginRow row;
    row.name = std::string(rs->Text(r, 0));
    row.version = std::string(rs->Text(r, 1));
    row.package_version = rs->IsNull(r, 2) ? row.version : std::string(rs->Text(r, 2));
    row.package_path = rs->IsNull(r, 3) ? "" : std::string(rs->Text(r, 3));
    row.enabled = rs->Bool(r, 4);
    row.installed = rs->Bool(r, 5);
    row.built_in = rs->Bool(r, 6);
    if (!rs->IsNull(r, 7)) {
      boost::system::error_code ec;
      json::value v = json::parse(rs->Text(r, 7), ec);
      if (!ec && v.is_object()) row.options = std::move(v.as_object());
    }
    row.error = rs->IsNull(r, 8) ? "" : std::string(rs->Text(r, 8));
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<PluginRow> PluginManager::FindRow(db::Connection& conn, const std::string& name) const {
  ASSIGN_OR_RETURN(auto rows, ReadRows(conn));
  for (auto& row : rows) {
    if (row.name == name) return row;
  }
  return NotFound("plugin '" + name + "' is not added (pm:add adds a package)", "PLUGIN_NOT_FOUND");
}

Result<std::shared_ptr<PluginRuntime>> PluginManager::RuntimeFor(const PluginRow& row,
                                                                 const std::string& version) {
  std::string key = row.name + "@" + (row.built_in ? app_version_ : version);
  {
    std::lock_guard lock(runtime_mu_);
    auto it = runtimes_.find(key);
    if (it != runtimes_.end()) return it->second;
  }
  if (row.built_in)
    return NotFound("built-in plugin '" + row.name + "' is not part of this binary");
  fs::path dir = PackageDir(row.name, version);
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    return FailedPrecondition("the package of plugin '" + row.name + "' " + version +
                                  " is missing: " + dir.string() + " does not exist on this node",
                              "PLUGIN_PACKAGE_MISSING");
  }
  ASSIGN_OR_RETURN(plugins::PackageInfo info, plugins::InspectPackage(dir));
  ASSIGN_OR_RETURN(auto library, plugins::PluginLibrary::Open(info.library));
  ASSIGN_OR_RETURN(auto plugin, library->Create());
  std::shared_ptr<plugins::PluginLibrary> shared_library(std::move(library));
  auto rt = std::make_shared<PluginRuntime>(std::move(plugin), shared_library, false, app_version_,
                                            services_);
  RETURN_IF_ERROR(rt->LoadRegistrations());
  std::lock_guard lock(runtime_mu_);
  runtimes_[key] = rt;
  return rt;
}

Result<std::vector<PluginManager::Dependency>> PluginManager::DependenciesOf(
    const PluginRow& row, const std::string& version) const {
  std::vector<Dependency> deps;
  if (row.built_in) {
    const BuiltinPlugin* b = FindBuiltin(row.name);
    if (b != nullptr) {
      for (const auto& d : b->dependencies) {
        ASSIGN_OR_RETURN(auto any, core::SemVerRange::Parse("*"));
        deps.push_back({d, any});
      }
    }
    return deps;
  }
  ASSIGN_OR_RETURN(plugins::PackageInfo info,
                   plugins::InspectPackage(PackageDir(row.name, version)));
  for (const auto& d : info.manifest.dependencies) deps.push_back({d.name, d.range});
  return deps;
}

Result<std::vector<PluginRow>> PluginManager::EnabledInOrder(db::Connection& conn) const {
  ASSIGN_OR_RETURN(auto rows, ReadRows(conn));
  std::map<std::string, PluginRow> enabled;
  for (auto& r : rows) {
    if (r.enabled) enabled[r.name] = r;
  }
  std::vector<PluginRow> order;
  std::set<std::string> placed;
  // Built-ins first in their declared order, then packages after their dependencies.
  for (const BuiltinPlugin& b : builtins_) {
    if (enabled.count(b.name)) {
      order.push_back(enabled[b.name]);
      placed.insert(b.name);
    }
  }
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto& [name, row] : enabled) {
      if (placed.count(name)) continue;
      auto deps = DependenciesOf(row, row.version);
      bool ready = true;
      if (deps.ok()) {
        for (const auto& d : *deps) {
          if (enabled.count(d.name) && !placed.count(d.name)) ready = false;
        }
      }
      if (ready) {
        order.push_back(row);
        placed.insert(name);
        progress = true;
      }
    }
  }
  for (auto& [name, row] : enabled) {  // a dependency cycle: load the rest in name order
    if (!placed.count(name)) order.push_back(row);
  }
  return order;
}

Status PluginManager::RecordError(db::Connection& conn, const std::string& name,
                                  const std::string& error) {
  if (conn.in_transaction()) conn.Rollback().IgnoreError();
  auto r = conn.Query("UPDATE " + kTable + " SET error = $2, updated_at = " + Now(conn.dialect()) +
                          " WHERE name = $1",
                      {name, error});
  core::log::Error("plugin failed", {{"plugin", name}, {"error", error}});
  return r.ok() ? Status::Ok() : r.status();
}

Status PluginManager::Activate(db::Connection& conn, PluginRow row, bool enable) {
  const std::string& target = row.package_version;
  const bool upgrading = row.installed && row.version != target;
  std::string doing = enable ? (upgrading ? "upgrading and enabling" : "enabling") : "upgrading";
  auto rt = RuntimeFor(row, target);
  if (!rt.ok()) {
    Status failed = PluginError(row.name, doing, rt.status());
    RecordError(conn, row.name, failed.message()).IgnoreError();
    return failed;
  }
  slipway::Plugin& p = (*rt)->plugin();
  // Its collections may not take a name another plugin or the user already has.
  auto snapshot = services_.snapshot();
  for (const data::Collection& c : (*rt)->collections()) {
    const data::Collection* existing = snapshot->schema ? snapshot->schema->Find(c.name) : nullptr;
    if (existing != nullptr && existing->origin != row.name) {
      Status clash = FailedPrecondition("collection '" + c.name + "' already exists (" +
                                        existing->origin + ")");
      RecordError(conn, row.name, PluginError(row.name, doing, clash).message()).IgnoreError();
      return PluginError(row.name, doing, clash);
    }
  }
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(conn));
    // PendingMigrations points into its argument: keep the list alive while applying it.
    const std::vector<db::Migration> migrations = (*rt)->migrations();
    ASSIGN_OR_RETURN(auto pending, db::PendingMigrations(conn, migrations));
    for (const db::Migration* m : pending) RETURN_IF_ERROR(db::ApplyMigration(conn, *m));
    if (!row.installed) {
      RETURN_IF_ERROR(GuardPlugin(row.name, "Install", [&] { return p.Install(conn); }));
    } else if (upgrading) {
      RETURN_IF_ERROR(
          GuardPlugin(row.name, "Upgrade", [&] { return p.Upgrade(conn, row.version); }));
    }
    if (enable && !row.enabled) {
      RETURN_IF_ERROR(GuardPlugin(row.name, "AfterEnable", [&] { return p.AfterEnable(conn); }));
    }
    ASSIGN_OR_RETURN(auto up, conn.Query("UPDATE " + kTable +
                                             " SET enabled = $2, installed = $3, version = $4, "
                                             "error = NULL, updated_at = " +
                                             Now(conn.dialect()) + " WHERE name = $1",
                                         {row.name, enable || row.enabled, true, target}));
    RETURN_IF_ERROR(db::BumpEpoch(conn).status());
    return tx.Commit();
  };
  auto started = std::chrono::steady_clock::now();
  Status s = run();
  if (!s.ok()) {
    Status failed = PluginError(row.name, doing, s);
    RecordError(conn, row.name, failed.message()).IgnoreError();
    return failed;
  }
  core::log::Info(
      enable ? "plugin enabled" : "plugin upgraded",
      {{"plugin", row.name},
       {"version", target},
       {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count()}});
  return Status::Ok();
}

Status PluginManager::EnableWithDependencies(db::Connection& conn, const std::string& name,
                                             std::set<std::string>* visiting) {
  if (!visiting->insert(name).second) {
    return FailedPrecondition("plugin '" + name + "' is part of a dependency cycle");
  }
  ASSIGN_OR_RETURN(PluginRow row, FindRow(conn, name));
  ASSIGN_OR_RETURN(auto deps, DependenciesOf(row, row.package_version));
  for (const Dependency& d : deps) {
    auto dep = FindRow(conn, d.name);
    if (!dep.ok()) {
      return FailedPrecondition("plugin '" + name + "' needs '" + d.name + "' (" + d.range.text() +
                                    "), which is not added",
                                "PLUGIN_DEPENDENCY");
    }
    auto dep_version = core::SemVer::Parse(dep->package_version);
    if (!dep_version.ok() || !d.range.Matches(*dep_version)) {
      return FailedPrecondition("plugin '" + name + "' needs '" + d.name + "' " + d.range.text() +
                                    ", but " + dep->package_version + " is added",
                                "PLUGIN_DEPENDENCY");
    }
    if (!dep->enabled || dep->version != dep->package_version) {
      RETURN_IF_ERROR(EnableWithDependencies(conn, d.name, visiting));
    }
  }
  if (row.enabled && row.version == row.package_version) return Status::Ok();
  return Activate(conn, row, /*enable=*/true);
}

Result<json::object> PluginManager::Enable(const std::string& name) {
  std::lock_guard op(op_mu_);
  RETURN_IF_ERROR(lock_.Acquire(kLockTimeout));
  db::SchemaLockGuard guard(lock_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  std::set<std::string> visiting;
  Status s = EnableWithDependencies(*conn, name, &visiting);
  RETURN_IF_ERROR(services_.AfterCommit());  // also after a failure: dependencies may be on
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, name));
  return Describe(row);
}

Result<json::object> PluginManager::Upgrade(const std::string& name) {
  std::lock_guard op(op_mu_);
  RETURN_IF_ERROR(lock_.Acquire(kLockTimeout));
  db::SchemaLockGuard guard(lock_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, name));
  if (row.installed && row.version == row.package_version) {
    return FailedPrecondition(
        "plugin '" + name + "' is already at " + row.version + "; add a newer package first",
        "PLUGIN_UP_TO_DATE");
  }
  Status s = Activate(*conn, row, /*enable=*/false);
  RETURN_IF_ERROR(services_.AfterCommit());
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(PluginRow now, FindRow(*conn, name));
  return Describe(now);
}

Result<json::object> PluginManager::Disable(const std::string& name) {
  std::lock_guard op(op_mu_);
  RETURN_IF_ERROR(lock_.Acquire(kLockTimeout));
  db::SchemaLockGuard guard(lock_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, name));
  if (const BuiltinPlugin* b = FindBuiltin(name); b != nullptr && b->required) {
    return FailedPrecondition("plugin '" + name + "' is required and cannot be disabled",
                              "PLUGIN_REQUIRED");
  }
  if (!row.enabled) return Describe(row);
  ASSIGN_OR_RETURN(auto rows, ReadRows(*conn));
  std::vector<std::string> dependents;
  for (const PluginRow& other : rows) {
    if (!other.enabled || other.name == name) continue;
    auto deps = DependenciesOf(other, other.version);
    if (!deps.ok()) continue;
    for (const auto& d : *deps) {
      if (d.name == name) dependents.push_back(other.name);
    }
  }
  if (!dependents.empty()) {
    std::string list;
    for (const auto& d : dependents) list += (list.empty() ? "'" : ", '") + d + "'";
    return FailedPrecondition("plugin '" + name + "' is needed by enabled plugin " + list +
                                  "; disable " + (dependents.size() > 1 ? "them" : "it") + " first",
                              "PLUGIN_IN_USE");
  }
  // A package missing from this node's disk must not keep an administrator from disabling the
  // plugin (that is how a node that went out of service for it is brought back): its
  // AfterDisable hook cannot run here, which the log says.
  auto rt = RuntimeFor(row, row.version);
  if (!rt.ok() && rt.status().tag() != "PLUGIN_PACKAGE_MISSING")
    return PluginError(name, "disabling", rt.status());
  if (!rt.ok()) {
    core::log::Warn(
        "disabling a plugin whose package is missing; its AfterDisable hook does not run",
        {{"plugin", name}, {"error", rt.status().message()}});
  }
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(*conn));
    if (rt.ok()) {
      RETURN_IF_ERROR(
          GuardPlugin(name, "AfterDisable", [&] { return (*rt)->plugin().AfterDisable(*conn); }));
    }
    ASSIGN_OR_RETURN(auto up, conn->Query("UPDATE " + kTable + " SET enabled = $2, updated_at = " +
                                              Now(conn->dialect()) + " WHERE name = $1",
                                          {name, false}));
    RETURN_IF_ERROR(db::BumpEpoch(*conn).status());
    return tx.Commit();
  };
  Status s = run();
  if (!s.ok()) return PluginError(name, "disabling", s);
  RETURN_IF_ERROR(services_.AfterCommit());
  core::log::Info("plugin disabled", {{"plugin", name}});
  ASSIGN_OR_RETURN(PluginRow now, FindRow(*conn, name));
  return Describe(now);
}

Status PluginManager::Remove(const std::string& name, bool purge) {
  std::lock_guard op(op_mu_);
  RETURN_IF_ERROR(lock_.Acquire(kLockTimeout));
  db::SchemaLockGuard guard(lock_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, name));
  if (row.built_in) {
    return FailedPrecondition(
        "plugin '" + name + "' is built in and cannot be removed; disable it instead",
        "PLUGIN_BUILT_IN");
  }
  if (row.enabled) {
    return FailedPrecondition("plugin '" + name + "' is enabled; disable it first",
                              "PLUGIN_ENABLED");
  }
  auto rt = RuntimeFor(row, row.installed ? row.version : row.package_version);
  auto run = [&]() -> Status {
    ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(*conn));
    if (rt.ok()) {
      RETURN_IF_ERROR(GuardPlugin(name, "Remove", [&] { return (*rt)->plugin().Remove(*conn); }));
    }
    if (purge) {
      if (!rt.ok())
        return rt.status().WithContext("--purge needs the plugin's package to know its tables");
      for (const data::Collection& c : (*rt)->collections()) {
        std::string drop = "DROP TABLE IF EXISTS " + db::QuoteIdent(c.table);
        if (conn->dialect() == db::Dialect::kPostgres) drop += " CASCADE";
        RETURN_IF_ERROR(conn->ExecScript(drop));
        ASSIGN_OR_RETURN(auto f, conn->Query("DELETE FROM " + std::string(db::kFieldsTable) +
                                                 " WHERE collection_name = $1",
                                             {c.name}));
      }
      ASSIGN_OR_RETURN(auto m, conn->Query("DELETE FROM " + std::string(db::kMigrationsTable) +
                                               " WHERE owner = $1",
                                           {name}));
    }
    ASSIGN_OR_RETURN(auto del, conn->Query("DELETE FROM " + kTable + " WHERE name = $1", {name}));
    RETURN_IF_ERROR(db::BumpEpoch(*conn).status());
    return tx.Commit();
  };
  Status s = run();
  if (!s.ok()) return PluginError(name, "removing", s);
  std::error_code ec;
  fs::remove_all(config_.storage_path / "plugins" / name, ec);
  core::log::Info("plugin removed", {{"plugin", name}, {"purge", purge}});
  return services_.AfterCommit();
}

Result<json::object> PluginManager::UpdateSettings(const std::string& name,
                                                   const json::object& options) {
  std::lock_guard op(op_mu_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, name));
  ASSIGN_OR_RETURN(auto rt, RuntimeFor(row, row.version));
  json::object merged = row.options;
  for (const auto& kv : options) {
    if (!rt->setting_defaults().contains(kv.key())) {
      return InvalidArgument("plugin '" + name + "' has no setting '" + std::string(kv.key()) +
                             "'");
    }
    merged[kv.key()] = kv.value();
  }
  {
    ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(*conn));
    ASSIGN_OR_RETURN(auto up, conn->Query("UPDATE " + kTable + " SET options = $2, updated_at = " +
                                              Now(conn->dialect()) + " WHERE name = $1",
                                          {name, json::serialize(merged)}));
    RETURN_IF_ERROR(db::BumpEpoch(*conn).status());
    RETURN_IF_ERROR(tx.Commit());
  }
  RETURN_IF_ERROR(services_.AfterCommit());
  ASSIGN_OR_RETURN(PluginRow now, FindRow(*conn, name));
  return Describe(now);
}

Result<json::object> PluginManager::AddFromPath(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string bytes, plugins::ReadFileBytes(path, 256u << 20));
  return Add(bytes);
}

Result<json::object> PluginManager::AddFromStorage(const std::string& path) {
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::absolute(config_.storage_path / "plugins"), ec);
  if (ec) return Internal("cannot resolve the plugin storage folder: " + ec.message());
  fs::path given(path);
  fs::path real = fs::weakly_canonical(given.is_absolute() ? given : base / given, ec);
  auto inside = [&] {
    auto b = base.begin(), r = real.begin();
    for (; b != base.end(); ++b, ++r) {
      if (r == real.end() || *b != *r) return false;
    }
    return r != real.end();
  };
  if (ec || !inside()) {
    return InvalidArgument("pm:add reads package files only from " + base.string() +
                               " (on the server); upload the package instead",
                           "PLUGIN_PATH_OUTSIDE_STORAGE");
  }
  return AddFromPath(real);
}

Result<json::object> PluginManager::Add(std::string_view archive_bytes) {
  std::lock_guard op(op_mu_);
  fs::path staging_root = config_.storage_path / "plugins" / ".staging";
  std::error_code ec;
  fs::create_directories(staging_root, ec);
  ASSIGN_OR_RETURN(fs::path dir, plugins::UnpackPackage(archive_bytes, staging_root));
  // Removes the unpacked files unless they were moved into place.
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      if (!path.empty()) fs::remove_all(path, ignored);
    }
  } cleanup{dir};

  ASSIGN_OR_RETURN(plugins::PackageInfo info, plugins::InspectPackage(dir));
  const plugins::Manifest& m = info.manifest;
  std::string label = "plugin '" + m.name + "' " + m.version_text;
  if (m.api_version != slipway::kPluginApiVersion) {
    return InvalidArgument(label + " targets plugin API " + std::to_string(m.api_version) +
                               "; this Slipway provides " +
                               std::to_string(slipway::kPluginApiVersion),
                           "PLUGIN_API_VERSION");
  }
  ASSIGN_OR_RETURN(core::SemVer app, core::SemVer::Parse(app_version_));
  if (!m.app_versions.Matches(app)) {
    return InvalidArgument(
        label + " supports Slipway " + m.app_versions.text() + "; this is " + app_version_,
        "PLUGIN_APP_VERSION");
  }
  if (FindBuiltin(m.name) != nullptr) {
    return InvalidArgument("'" + m.name + "' is the name of a built-in plugin",
                           "PLUGIN_NAME_TAKEN");
  }
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto rows, ReadRows(*conn));
  const PluginRow* existing = nullptr;
  for (const auto& r : rows) {
    if (r.name == m.name) existing = &r;
  }
  if (existing != nullptr) {
    auto have = core::SemVer::Parse(existing->package_version);
    if (have.ok() && !(*have < m.version)) {
      return AlreadyExists(label + " is not newer than the added " + existing->package_version,
                           "PLUGIN_EXISTS");
    }
  }
  for (const auto& d : m.dependencies) {
    std::string have;
    if (FindBuiltin(d.name) != nullptr) {
      have = app_version_;
    } else {
      for (const auto& r : rows) {
        if (r.name == d.name) have = r.package_version;
      }
    }
    if (have.empty()) {
      return InvalidArgument(
          label + " needs '" + d.name + "' " + d.range.text() + ", which is not added",
          "PLUGIN_DEPENDENCY");
    }
    auto v = core::SemVer::Parse(have);
    if (!v.ok() || !d.range.Matches(*v)) {
      return InvalidArgument(
          label + " needs '" + d.name + "' " + d.range.text() + ", but " + have + " is added",
          "PLUGIN_DEPENDENCY");
    }
  }
  // Load it from the unpacked files: entry symbols, name and version, its registrations.
  ASSIGN_OR_RETURN(auto library, plugins::PluginLibrary::Open(info.library));
  ASSIGN_OR_RETURN(auto plugin, library->Create());
  if (plugin->name() != m.name || plugin->version() != m.version_text) {
    return InvalidArgument("the library of " + label + " says it is '" +
                           std::string(plugin->name()) + "' " + std::string(plugin->version()));
  }
  {
    PluginRuntime probe(std::move(plugin),
                        std::shared_ptr<plugins::PluginLibrary>(std::move(library)), false,
                        app_version_, services_);
    RETURN_IF_ERROR(probe.LoadRegistrations());
  }
  fs::path target = PackageDir(m.name, m.version_text);
  fs::remove_all(target, ec);
  fs::create_directories(target.parent_path(), ec);
  fs::rename(dir, target, ec);
  if (ec) return Unavailable("cannot move the package to " + target.string() + ": " + ec.message());
  cleanup.path = target;  // until the row is written
  std::string rel = fs::relative(target, config_.storage_path).string();
  auto write = [&]() -> Status {
    ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(*conn));
    if (existing != nullptr) {
      ASSIGN_OR_RETURN(auto up, conn->Query("UPDATE " + kTable +
                                                " SET package_version = $2, package_path = $3, "
                                                "error = NULL, updated_at = " +
                                                Now(conn->dialect()) + " WHERE name = $1",
                                            {m.name, m.version_text, rel}));
    } else {
      ASSIGN_OR_RETURN(auto ins,
                       conn->Query("INSERT INTO " + kTable +
                                       " (name, version, package_version, package_path, enabled, "
                                       "installed, built_in) VALUES ($1, $2, $2, $3, $4, $4, $4)",
                                   {m.name, m.version_text, rel, false}));
    }
    PluginRow row{m.name,
                  existing ? existing->version : m.version_text,
                  m.version_text,
                  rel,
                  existing && existing->enabled,
                  existing && existing->installed,
                  false,
                  {},
                  ""};
    ASSIGN_OR_RETURN(auto rt, RuntimeFor(row, m.version_text));
    RETURN_IF_ERROR(GuardPlugin(m.name, "AfterAdd", [&] { return rt->plugin().AfterAdd(*conn); }));
    RETURN_IF_ERROR(db::BumpEpoch(*conn).status());
    return tx.Commit();
  };
  RETURN_IF_ERROR(write());
  cleanup.path.clear();
  core::log::Info("plugin added", {{"plugin", m.name}, {"version", m.version_text}});
  RETURN_IF_ERROR(services_.AfterCommit());
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, m.name));
  return Describe(row);
}

Result<json::object> PluginManager::Describe(const PluginRow& row) {
  json::object o{{"name", row.name},        {"packageName", row.name},
                 {"version", row.version},  {"packageVersion", row.package_version},
                 {"enabled", row.enabled},  {"installed", row.installed},
                 {"builtIn", row.built_in}, {"options", row.options}};
  if (const BuiltinPlugin* b = FindBuiltin(row.name)) {
    o["required"] = b->required;
  } else {
    o["required"] = false;
  }
  std::string error = row.error;
  if (row.enabled && error.empty()) {
    // Enabled, but this node could not load it (e.g. its package is missing here).
    auto snap = services_.snapshot();
    if (snap->schema && snap->FindPlugin(row.name) == nullptr) {
      for (const auto& e : snap->load_errors) {
        if (e.find("'" + row.name + "'") != std::string::npos)
          error = "not loaded on this node: " + e;
      }
    }
  }
  o["error"] = error.empty() ? json::value(nullptr) : json::value(error);
  auto rt = RuntimeFor(row, row.version);
  if (rt.ok()) {
    json::object settings = (*rt)->setting_defaults();
    for (const auto& kv : row.options) settings[kv.key()] = kv.value();
    o["settings"] = std::move(settings);
  }
  auto deps = DependenciesOf(row, row.package_version);
  if (deps.ok()) {
    json::object d;
    for (const auto& dep : *deps) d[dep.name] = dep.range.text();
    o["dependencies"] = std::move(d);
  }
  if (!row.built_in) {
    auto info = plugins::InspectPackage(PackageDir(row.name, row.package_version));
    if (info.ok()) o["description"] = info->manifest.description;
  }
  return o;
}

Result<json::array> PluginManager::List() {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(auto rows, ReadRows(*conn));
  json::array out;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(json::object o, Describe(row));
    out.push_back(std::move(o));
  }
  return out;
}

Result<json::object> PluginManager::Get(const std::string& name) {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  ASSIGN_OR_RETURN(PluginRow row, FindRow(*conn, name));
  return Describe(row);
}

}  // namespace slipway::app
