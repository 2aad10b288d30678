// The plugin lifecycle: add, enable (with its dependencies), upgrade, disable, remove, settings.
// Every change is a cluster-wide change (api/services.h) under the schema lock: one
// transaction with the epoch bump, published on this node and confirmed on every live node.
#include <chrono>
#include <system_error>

#include "core/logging.h"
#include "db/migration.h"
#include "db/sql.h"
#include "db/system_tables.h"
#include "plugins/library.h"
#include "plugins/package.h"
#include "plugins/plugin_manager.h"

namespace slipway::plugins {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

Status PluginError(const std::string& name, const std::string& doing, const Status& cause) {
  return Status(StatusCode::kAborted,
                doing + " plugin '" + name + "' failed and was rolled back: " + cause.message(),
                "PLUGIN_ERROR");
}

// A plugin change: the schema lock (migrations may run), and a new snapshot everywhere.
api::ChangeOptions PluginChange(std::string what) { return {std::move(what), true}; }

}  // namespace

Status PluginManager::RecordError(const std::string& name, const std::string& error) {
  core::log::Error("plugin failed", {{"plugin", name}, {"error", error}});
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  return conn->Exec("UPDATE " + kPluginTable + " SET error = $2, updated_at = " +
                        db::SqlNow(conn->dialect()) + " WHERE name = $1",
                    {name, error});
}

Status PluginManager::ActivateIn(db::Connection& conn, const PluginRow& row, PluginRuntime& rt,
                                 bool enable) {
  const std::string& target = row.package_version;
  const bool upgrading = row.installed && row.version != target;
  slipway::Plugin& p = rt.plugin();
  // PendingMigrations points into its argument: keep the list alive while applying it.
  const std::vector<db::Migration> migrations = rt.migrations();
  ASSIGN_OR_RETURN(auto pending, db::PendingMigrations(conn, migrations));
  for (const db::Migration* m : pending) RETURN_IF_ERROR(db::ApplyMigration(conn, *m));
  if (!row.installed) {
    RETURN_IF_ERROR(GuardPlugin(row.name, "Install", [&] { return p.Install(conn); }));
  } else if (upgrading) {
    RETURN_IF_ERROR(GuardPlugin(row.name, "Upgrade", [&] { return p.Upgrade(conn, row.version); }));
  }
  if (enable && !row.enabled) {
    RETURN_IF_ERROR(GuardPlugin(row.name, "AfterEnable", [&] { return p.AfterEnable(conn); }));
  }
  return conn.Exec("UPDATE " + kPluginTable +
                       " SET enabled = $2, installed = $3, version = $4, error = NULL, "
                       "updated_at = " +
                       db::SqlNow(conn.dialect()) + " WHERE name = $1",
                   {row.name, enable || row.enabled, true, target});
}

std::optional<std::string> PluginManager::LoadableVersion(const std::string& name) const {
  auto row = FindRow(name);
  if (!row.ok()) return std::nullopt;
  return row->package_version.empty() ? row->version : row->package_version;
}

Status PluginManager::RestoreStates(db::Connection& conn, const json::array& plugins,
                                    const std::set<std::string>& disabled) {
  for (const json::value& v : plugins) {
    if (!v.is_object()) continue;
    const json::object& p = v.as_object();
    const json::value* name_v = p.if_contains("name");
    if (name_v == nullptr || !name_v->is_string()) continue;
    const std::string name(name_v->as_string());
    auto row = FindRow(conn, name);
    if (!row.ok()) {
      if (disabled.count(name)) continue;
      return row.status().WithContext("the backup's plugin '" + name + "'");
    }
    auto flag = [&](std::string_view key) {
      const json::value* f = p.if_contains(key);
      return f != nullptr && f->is_bool() && f->as_bool();
    };
    const bool enable = flag("enabled") && !disabled.count(name);
    const bool install = flag("installed") && !disabled.count(name);
    if (install && (!row->installed || row->version != row->package_version)) {
      ASSIGN_OR_RETURN(auto rt, RuntimeFor(*row, row->package_version));
      RETURN_IF_ERROR(
          ActivateIn(conn, *row, *rt, false).WithContext("installing plugin '" + name + "'"));
    }
    const json::value* options = p.if_contains("options");
    RETURN_IF_ERROR(conn.Exec(
        "UPDATE " + kPluginTable + " SET enabled = $2, options = $3, error = NULL, updated_at = " +
            db::SqlNow(conn.dialect()) + " WHERE name = $1",
        {name, enable,
         options != nullptr && options->is_object() ? db::Value(json::serialize(*options))
                                                    : db::Null()}));
  }
  return Status::Ok();
}

Status PluginManager::PlanEnable(db::Connection& conn, const std::string& name,
                                 std::set<std::string>* visiting, std::vector<PluginRow>* plan) {
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
      RETURN_IF_ERROR(PlanEnable(conn, d.name, visiting, plan));
    }
  }
  if (row.enabled && row.version == row.package_version) return Status::Ok();
  for (const PluginRow& planned : *plan) {
    if (planned.name == name) return Status::Ok();
  }
  plan->push_back(std::move(row));
  return Status::Ok();
}

Status PluginManager::Activate(const std::vector<PluginRow>& plan, bool enable,
                               const std::string& what) {
  // Everything that can be checked before the change: each package loads, and its collections
  // take no name another plugin or the user already has.
  std::vector<std::shared_ptr<PluginRuntime>> runtimes;
  auto snapshot = services_.snapshot();
  for (const PluginRow& row : plan) {
    const bool upgrading = row.installed && row.version != row.package_version;
    std::string doing = enable ? (upgrading ? "upgrading and enabling" : "enabling") : "upgrading";
    auto rt = RuntimeFor(row, row.package_version);
    Status problem = rt.ok() ? Status::Ok() : rt.status();
    if (rt.ok()) {
      for (const data::Collection& c : (*rt)->collections()) {
        const data::Collection* existing =
            snapshot->schema ? snapshot->schema->Find(c.name) : nullptr;
        if (existing != nullptr && existing->origin != row.name) {
          problem = FailedPrecondition("collection '" + c.name + "' already exists (" +
                                       existing->origin + ")");
        }
      }
    }
    if (!problem.ok()) {
      Status failed = PluginError(row.name, doing, problem);
      RecordError(row.name, failed.message()).IgnoreError();
      return failed;
    }
    runtimes.push_back(*rt);
  }
  auto started = std::chrono::steady_clock::now();
  std::string failing;
  Status s = services_.ApplyChange(
      PluginChange(what),
      [&](db::Connection& conn, const api::Snapshot&) -> Result<api::SnapshotUpdate> {
        for (size_t i = 0; i < plan.size(); ++i) {
          failing = plan[i].name;
          RETURN_IF_ERROR(ActivateIn(conn, plan[i], *runtimes[i], enable));
        }
        return api::SnapshotUpdate::Reload();
      });
  if (!s.ok()) {
    if (failing.empty()) return s;  // refused before the change began (the lock, the database)
    Status failed = PluginError(failing, enable ? "enabling" : "upgrading", s);
    RecordError(failing, failed.message()).IgnoreError();
    return failed;
  }
  for (const PluginRow& row : plan) {
    core::log::Info(enable ? "plugin enabled" : "plugin upgraded",
                    {{"plugin", row.name},
                     {"version", row.package_version},
                     {"ms", std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - started)
                                .count()}});
  }
  return Status::Ok();
}

Result<json::object> PluginManager::Enable(const std::string& name) {
  std::lock_guard op(op_mu_);
  std::vector<PluginRow> plan;  // dependencies first
  {
    ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    std::set<std::string> visiting;
    RETURN_IF_ERROR(PlanEnable(*conn, name, &visiting, &plan));
  }
  if (!plan.empty()) RETURN_IF_ERROR(Activate(plan, /*enable=*/true, "pm:enable " + name));
  return Get(name);
}

Result<json::object> PluginManager::Upgrade(const std::string& name) {
  std::lock_guard op(op_mu_);
  ASSIGN_OR_RETURN(PluginRow row, FindRow(name));
  if (row.installed && row.version == row.package_version) {
    return FailedPrecondition(
        "plugin '" + name + "' is already at " + row.version + "; add a newer package first",
        "PLUGIN_UP_TO_DATE");
  }
  RETURN_IF_ERROR(Activate({row}, /*enable=*/false, "pm:upgrade " + name));
  return Get(name);
}

Result<json::object> PluginManager::Disable(const std::string& name) {
  std::lock_guard op(op_mu_);
  ASSIGN_OR_RETURN(PluginRow row, FindRow(name));
  if (const BuiltinPlugin* b = FindBuiltin(name); b != nullptr && b->required) {
    return FailedPrecondition("plugin '" + name + "' is required and cannot be disabled",
                              "PLUGIN_REQUIRED");
  }
  if (!row.enabled) return Describe(row);
  std::vector<PluginRow> rows;
  {
    ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    ASSIGN_OR_RETURN(rows, ReadRows(*conn));
  }
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
  Status s = services_.ApplyChange(
      PluginChange("pm:disable " + name),
      [&](db::Connection& c, const api::Snapshot&) -> Result<api::SnapshotUpdate> {
        if (rt.ok()) {
          RETURN_IF_ERROR(
              GuardPlugin(name, "AfterDisable", [&] { return (*rt)->plugin().AfterDisable(c); }));
        }
        RETURN_IF_ERROR(c.Exec("UPDATE " + kPluginTable + " SET enabled = $2, updated_at = " +
                                   db::SqlNow(c.dialect()) + " WHERE name = $1",
                               {name, false}));
        return api::SnapshotUpdate::Reload();
      });
  if (!s.ok()) return PluginError(name, "disabling", s);
  core::log::Info("plugin disabled", {{"plugin", name}});
  return Get(name);
}

Status PluginManager::Remove(const std::string& name, bool purge) {
  std::lock_guard op(op_mu_);
  ASSIGN_OR_RETURN(PluginRow row, FindRow(name));
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
  if (purge && !rt.ok()) {
    return rt.status().WithContext("--purge needs the plugin's package to know its tables");
  }
  Status s = services_.ApplyChange(
      PluginChange("pm:remove " + name),
      [&](db::Connection& c, const api::Snapshot&) -> Result<api::SnapshotUpdate> {
        if (rt.ok()) {
          RETURN_IF_ERROR(GuardPlugin(name, "Remove", [&] { return (*rt)->plugin().Remove(c); }));
        }
        if (purge) {
          for (const data::Collection& col : (*rt)->collections()) {
            std::string drop = "DROP TABLE IF EXISTS " + db::QuoteIdent(col.table);
            if (c.dialect() == db::Dialect::kPostgres) drop += " CASCADE";
            RETURN_IF_ERROR(c.ExecScript(drop));
            RETURN_IF_ERROR(c.Exec(
                "DELETE FROM " + std::string(db::kFieldsTable) + " WHERE collection_name = $1",
                {col.name}));
          }
          RETURN_IF_ERROR(c.Exec(
              "DELETE FROM " + std::string(db::kMigrationsTable) + " WHERE owner = $1", {name}));
        }
        RETURN_IF_ERROR(c.Exec("DELETE FROM " + kPluginTable + " WHERE name = $1", {name}));
        return api::SnapshotUpdate::Reload();
      });
  if (!s.ok()) return PluginError(name, "removing", s);
  std::error_code ec;
  fs::remove_all(config_.storage_path / "plugins" / name, ec);
  core::log::Info("plugin removed", {{"plugin", name}, {"purge", purge}});
  return Status::Ok();
}

Result<json::object> PluginManager::UpdateSettings(const std::string& name,
                                                   const json::object& options) {
  std::lock_guard op(op_mu_);
  ASSIGN_OR_RETURN(PluginRow row, FindRow(name));
  ASSIGN_OR_RETURN(auto rt, RuntimeFor(row, row.version));
  for (const auto& kv : options) {
    if (!rt->setting_defaults().contains(kv.key())) {
      return InvalidArgument("plugin '" + name + "' has no setting '" + std::string(kv.key()) +
                             "'");
    }
  }
  RETURN_IF_ERROR(services_.ApplyChange(
      PluginChange("pm:update " + name),
      [&](db::Connection& c, const api::Snapshot&) -> Result<api::SnapshotUpdate> {
        // Merged with what is stored now (inside the change), not with what was read before.
        ASSIGN_OR_RETURN(PluginRow current, FindRow(c, name));
        json::object merged = current.options;
        for (const auto& kv : options) merged[kv.key()] = kv.value();
        RETURN_IF_ERROR(c.Exec("UPDATE " + kPluginTable + " SET options = $2, updated_at = " +
                                   db::SqlNow(c.dialect()) + " WHERE name = $1",
                               {name, json::serialize(merged)}));
        return api::SnapshotUpdate::Reload();
      }));
  return Get(name);
}

Result<json::object> PluginManager::AddFromPath(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path, 256u << 20));
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
  ASSIGN_OR_RETURN(fs::path dir, UnpackPackage(archive_bytes, staging_root));
  // Removes the unpacked files unless they were moved into place.
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      if (!path.empty()) fs::remove_all(path, ignored);
    }
  } cleanup{dir};

  ASSIGN_OR_RETURN(PackageInfo info, InspectPackage(dir));
  const Manifest& m = info.manifest;
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
  std::vector<PluginRow> rows;
  {
    ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
    ASSIGN_OR_RETURN(rows, ReadRows(*conn));
  }
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
  ASSIGN_OR_RETURN(auto library, PluginLibrary::Open(info.library));
  ASSIGN_OR_RETURN(auto plugin, library->Create());
  if (plugin->name() != m.name || plugin->version() != m.version_text) {
    return InvalidArgument("the library of " + label + " says it is '" +
                           std::string(plugin->name()) + "' " + std::string(plugin->version()));
  }
  {
    PluginRuntime probe(std::move(plugin), std::shared_ptr<PluginLibrary>(std::move(library)),
                        false, app_version_, services_);
    RETURN_IF_ERROR(probe.LoadRegistrations());
  }
  fs::path target = PackageDir(m.name, m.version_text);
  fs::remove_all(target, ec);
  fs::create_directories(target.parent_path(), ec);
  fs::rename(dir, target, ec);
  if (ec) return Unavailable("cannot move the package to " + target.string() + ": " + ec.message());
  cleanup.path = target;  // until the row is written
  std::string rel = fs::relative(target, config_.storage_path).string();
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
  RETURN_IF_ERROR(services_.ApplyChange(
      PluginChange("pm:add " + m.name),
      [&](db::Connection& c, const api::Snapshot&) -> Result<api::SnapshotUpdate> {
        if (existing != nullptr) {
          RETURN_IF_ERROR(c.Exec("UPDATE " + kPluginTable +
                                     " SET package_version = $2, package_path = $3, error = NULL, "
                                     "updated_at = " +
                                     db::SqlNow(c.dialect()) + " WHERE name = $1",
                                 {m.name, m.version_text, rel}));
        } else {
          RETURN_IF_ERROR(c.Exec("INSERT INTO " + kPluginTable +
                                     " (name, version, package_version, package_path, enabled, "
                                     "installed, built_in, created_at, updated_at) VALUES ($1, $2, "
                                     "$2, $3, $4, $4, $4, " +
                                     db::SqlNow(c.dialect()) + ", " + db::SqlNow(c.dialect()) + ")",
                                 {m.name, m.version_text, rel, false}));
        }
        RETURN_IF_ERROR(GuardPlugin(m.name, "AfterAdd", [&] { return rt->plugin().AfterAdd(c); }));
        return api::SnapshotUpdate::Reload();
      }));
  cleanup.path.clear();
  core::log::Info("plugin added", {{"plugin", m.name}, {"version", m.version_text}});
  return Get(m.name);
}

}  // namespace slipway::plugins
