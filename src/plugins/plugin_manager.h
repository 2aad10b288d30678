// PluginManager: which plugins exist (built in, or added as packages), their state in
// slipway_plugins, and the lifecycle: add -> enable -> disable -> remove, and upgrade.
//
// Every change is a cluster-wide change (api/services.h) under the schema lock: one transaction
// that also bumps the cluster epoch, published as a new snapshot only after it committed and
// confirmed on every live node. A failing migration or hook rolls the whole change back (enabling
// a plugin with its dependencies is one change: all of them or none), the plugin is marked with
// the error (pm:list shows it) and the application keeps serving what it served before. A package
// is checked completely (archive safety, manifest, API version, app version, dependencies, entry
// symbols, its registrations) before anything is written, so a refused package leaves no trace.
//
// Thread-safe: operations are serialized; RuntimeFor() may be called from snapshot builds.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/services.h"
#include "core/semver.h"
#include "db/database.h"
#include "db/migration.h"
#include "db/system_tables.h"
#include "plugins/builtin_plugin.h"
#include "plugins/plugin_runtime.h"

namespace slipway::plugins {

// slipway_plugins, as a string to build statements with.
inline const std::string kPluginTable(db::kPluginsTable);

struct PluginRow {
  std::string name;
  std::string version;          // the version installed (migrated to)
  std::string package_version;  // the newest version added
  std::string package_path;     // relative to STORAGE_PATH; empty for built-ins
  bool enabled = false, installed = false, built_in = false;
  boost::json::object options;
  std::string error;
};

class PluginManager {
 public:
  PluginManager(const core::Config& config, std::string app_version,
                std::vector<BuiltinPlugin> builtins, api::Services& services, db::Pool& pool);

  // Creates and loads the built-in plugins (their registrations, not their state).
  Status LoadBuiltins();

  // For install: the preset plugins' migrations, and a hook that records every built-in in
  // slipway_plugins and runs the preset plugins' Install/AfterEnable.
  std::vector<db::Migration> InstallMigrations() const;
  db::InstallHook MakeInstallHook() const;
  // For an upgrade of the binary: the enabled built-ins' migrations (read from `conn`, a
  // database at any earlier version), and a hook that records new built-ins and their version.
  Result<std::vector<db::Migration>> UpgradeMigrations(db::Connection& conn) const;
  db::InstallHook MakeUpgradeHook() const;

  Result<std::vector<PluginRow>> ReadRows(db::Connection& conn) const;
  // Enabled rows in load order (a plugin after what it depends on).
  Result<std::vector<PluginRow>> EnabledInOrder(db::Connection& conn) const;
  // The loaded runtime of a plugin at a version: a built-in, or a package under STORAGE_PATH.
  Result<std::shared_ptr<PluginRuntime>> RuntimeFor(const PluginRow& row,
                                                    const std::string& version);

  // The lifecycle. Each returns the plugin as pm:get shows it.
  Result<boost::json::object> Add(std::string_view archive_bytes);
  // A package file on this machine (the CLI: any file its user can read).
  Result<boost::json::object> AddFromPath(const std::filesystem::path& path);
  // A package named by an API caller: a regular file inside <STORAGE_PATH>/plugins only
  // (relative paths are taken from there), so that a request can neither read other files of the
  // server nor hold a thread on a FIFO.
  Result<boost::json::object> AddFromStorage(const std::string& path);
  Result<boost::json::object> Enable(const std::string& name);
  Result<boost::json::object> Disable(const std::string& name);
  Status Remove(const std::string& name, bool purge);
  Result<boost::json::object> Upgrade(const std::string& name);
  Result<boost::json::object> UpdateSettings(const std::string& name,
                                             const boost::json::object& options);

  // The newest version of `name` this node can load (built in, or an added package), if any.
  std::optional<std::string> LoadableVersion(const std::string& name) const;
  // A restore's part (ops/restore.h), inside its transaction: each plugin of a backup's
  // schema.json ({name, version, enabled, installed, options}) that this node has is brought to
  // the backup's state: migrated and installed when the backup had it installed (its tables
  // exist before its rows come), enabled or disabled as there, with the backup's settings.
  // Plugins in `disabled` stay disabled; plugins the backup does not name are left as they are.
  Status RestoreStates(db::Connection& conn, const boost::json::array& plugins,
                       const std::set<std::string>& disabled);

  Result<boost::json::array> List();
  Result<boost::json::object> Get(const std::string& name);

  const BuiltinPlugin* FindBuiltin(std::string_view name) const;

 private:
  struct Dependency {
    std::string name;
    core::SemVerRange range;
  };
  Result<std::vector<Dependency>> DependenciesOf(const PluginRow& row,
                                                 const std::string& version) const;
  Result<boost::json::object> Describe(const PluginRow& row);
  Result<PluginRow> FindRow(db::Connection& conn, const std::string& name) const;
  Result<PluginRow> FindRow(const std::string& name) const;
  // The plugins to activate for enabling `name`, dependencies first, checked for versions.
  Status PlanEnable(db::Connection& conn, const std::string& name, std::set<std::string>* visiting,
                    std::vector<PluginRow>* plan);
  // Migrates the plugins of `plan` to their package versions and enables them (or only migrates,
  // `enable` false), in one cluster-wide change. Records the error on the failing plugin's row.
  Status Activate(const std::vector<PluginRow>& plan, bool enable, const std::string& what);
  // One plugin's part of Activate, inside the change's transaction.
  Status ActivateIn(db::Connection& conn, const PluginRow& row, PluginRuntime& rt, bool enable);
  Status RecordError(const std::string& name, const std::string& error);
  std::filesystem::path PackageDir(const std::string& name, const std::string& version) const;

  const core::Config& config_;
  const std::string app_version_;
  const std::vector<BuiltinPlugin> builtins_;
  api::Services& services_;
  db::Pool& pool_;
  std::mutex op_mu_;       // one lifecycle operation at a time on this node
  std::mutex runtime_mu_;  // guards runtimes_
  // name@version -> runtime. Shared with the snapshots that enable it.
  std::map<std::string, std::shared_ptr<PluginRuntime>> runtimes_;
};

}  // namespace slipway::plugins
