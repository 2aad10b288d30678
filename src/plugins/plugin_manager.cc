#include "plugins/plugin_manager.h"

#include <chrono>
#include <system_error>

#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/migration.h"
#include "db/system_tables.h"
#include "plugins/library.h"
#include "plugins/package.h"

namespace slipway::plugins {
namespace json = boost::json;
namespace fs = std::filesystem;

PluginManager::PluginManager(const core::Config& config, std::string app_version,
                             std::vector<BuiltinPlugin> builtins, api::Services& services,
                             db::Pool& pool)
    : config_(config),
      app_version_(std::move(app_version)),
      builtins_(std::move(builtins)),
      services_(services),
      pool_(pool) {}

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

db::InstallHook PluginManager::MakeInstallHook() const {
  return [this](db::Connection& conn) -> Status {
    for (const BuiltinPlugin& b : builtins_) {
      RETURN_IF_ERROR(conn.Exec("INSERT INTO " + kPluginTable +
                                    " (name, version, package_version, enabled, installed, "
                                    "built_in) VALUES ($1, $2, $2, $3, $3, $4)",
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
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT name FROM " + kPluginTable +
                                           " WHERE built_in = $1 AND enabled = $1",
                                       {true}));
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

db::InstallHook PluginManager::MakeUpgradeHook() const {
  return [this](db::Connection& conn) -> Status {
    for (const BuiltinPlugin& b : builtins_) {
      ASSIGN_OR_RETURN(auto rs,
                       conn.Query("SELECT 1 FROM " + kPluginTable + " WHERE name = $1", {b.name}));
      if (rs->row_count() == 0) {  // a built-in new in this version: added, enabled if required
        RETURN_IF_ERROR(
            conn.Exec("INSERT INTO " + kPluginTable +
                          " (name, version, package_version, enabled, installed, built_in) "
                          "VALUES ($1, $2, $2, $3, $3, $4)",
                      {b.name, app_version_, b.required, true}));
      } else {
        RETURN_IF_ERROR(conn.Exec("UPDATE " + kPluginTable +
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
                              kPluginTable + " ORDER BY name"));
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

Result<PluginRow> PluginManager::FindRow(const std::string& name) const {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire());
  return FindRow(*conn, name);
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
    if (snap->schema && snap->loaded_plugins.count(row.name) == 0) {
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
  ASSIGN_OR_RETURN(PluginRow row, FindRow(name));
  return Describe(row);
}

}  // namespace slipway::plugins
