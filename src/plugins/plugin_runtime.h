// PluginRuntime: one plugin instance (built in, or from a package) and everything it registered
// when its Load() ran against this context. Registrations become part of a snapshot only while
// the plugin is enabled; the runtime itself is immutable after LoadRegistrations() and is shared
// by every snapshot that names it.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/action.h"
#include "api/action_registry.h"
#include "api/builtin_registrar.h"
#include "data/schema.h"
#include "db/migration.h"
#include "slipway/plugin.h"

namespace slipway::plugins {

// Runs plugin code, turning an escaping exception into Internal naming the plugin.
Status GuardPlugin(std::string_view plugin, std::string_view what,
                   const std::function<Status()>& fn);

class PluginRuntime final : public slipway::PluginContext, public slipway::BuiltinRegistrar {
 public:
  struct ActionReg {
    std::string resource, action;
    api::Action fn;
  };
  struct HookReg {
    std::string collection;
    RecordEvent event;
    RecordHook hook;
  };

  // `library` keeps a package's shared library loaded for as long as the runtime lives (null for
  // built-ins); `app_version` is the application's version.
  PluginRuntime(std::unique_ptr<slipway::Plugin> plugin, std::shared_ptr<void> library,
                bool built_in, std::string app_version, api::Services& services);
  ~PluginRuntime() override;

  // Runs BeforeLoad and Load, keeping what they register. Fails, naming the plugin, when they
  // fail or throw, or registered something invalid: a malformed collection, a migration without
  // a name, a valid version or a body, an empty name or a missing handler, and any duplicate
  // (collection, migration name, action, setting key). Record hooks and sync handlers add up.
  Status LoadRegistrations();

  slipway::Plugin& plugin() { return *plugin_; }
  std::string_view name() const { return name_; }
  std::string_view version() const { return version_; }
  bool built_in() const { return built_in_; }

  const std::vector<data::Collection>& collections() const { return collections_; }
  // The collection sync (repeatable, first) and the plugin's own migrations.
  std::vector<db::Migration> migrations() const;
  const std::vector<ActionReg>& actions() const { return actions_; }
  const std::vector<HookReg>& hooks() const { return hooks_; }
  const boost::json::object& setting_defaults() const { return settings_; }
  const std::vector<std::function<void(const boost::json::value&)>>& sync_handlers() const {
    return sync_handlers_;
  }
  const std::shared_ptr<api::Authenticator>& authenticator() const { return authenticator_; }
  const api::RoleResolver& role_resolver() const { return role_resolver_; }
  const api::AclLoader& acl_loader() const { return acl_loader_; }
  const std::vector<api::CollectionChangedFn>& collection_changed() const { return changed_; }

  // slipway::PluginContext
  std::string_view plugin_name() const override { return name_; }
  std::string_view app_version() const override { return app_version_; }
  Status AddCollection(const boost::json::object& definition) override;
  void AddMigration(PluginMigration migration) override;
  void AddAction(std::string resource, std::string action, ActionHandler handler,
                 slipway::Access access) override;
  void OnRecord(std::string collection, RecordEvent event, RecordHook hook) override;
  void DeclareSetting(std::string key, boost::json::value default_value) override;
  void OnSyncMessage(std::function<void(const boost::json::value&)> handler) override;
  slipway::BuiltinRegistrar* builtin() override { return built_in_ ? this : nullptr; }

  // slipway::BuiltinRegistrar
  void SetAuthenticator(std::shared_ptr<api::Authenticator> authenticator) override;
  void SetRoleResolver(api::RoleResolver resolver) override {
    role_resolver_ = std::move(resolver);
  }
  void SetAclLoader(api::AclLoader loader) override { acl_loader_ = std::move(loader); }
  void AddInternalAction(const std::string& resource, const std::string& action,
                         api::Action a) override;
  void OnCollectionChanged(api::CollectionChangedFn fn) override {
    changed_.push_back(std::move(fn));
  }
  void MarkClusterConfig(const std::string& collection) override;
  void GovernCollection(const std::string& collection, const std::string& snippet) override;
  api::Services& services() override { return services_; }
  const std::map<std::string, std::string>& governed() const { return governed_; }

 private:
  std::unique_ptr<slipway::Plugin> plugin_;
  std::shared_ptr<void> library_;  // shared: every runtime of one package keeps it loaded
  const bool built_in_;
  const std::string app_version_;
  api::Services& services_;
  std::string name_, version_;
  bool loaded_ = false;

  std::vector<data::Collection> collections_;
  std::vector<db::Migration> migrations_;
  std::vector<ActionReg> actions_;
  std::vector<HookReg> hooks_;
  boost::json::object settings_;
  std::vector<std::function<void(const boost::json::value&)>> sync_handlers_;
  std::shared_ptr<api::Authenticator> authenticator_;  // shared with every snapshot using it
  api::RoleResolver role_resolver_;
  api::AclLoader acl_loader_;
  std::vector<api::CollectionChangedFn> changed_;
  std::map<std::string, std::string> governed_;  // collection -> snippet
  // Keeps the first invalid registration, which LoadRegistrations reports.
  void Refuse(Status why);
  Status registration_error_;
};

}  // namespace slipway::plugins
