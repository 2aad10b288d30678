// PluginRegistry: what the plugins registered while loading (the PluginContext they were given).
// Filled once at start, read-only afterwards.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/actions.h"
#include "app/plugin_api.h"

namespace slipway::app {

class PluginRegistry final : public PluginContext {
 public:
  void AddCollection(data::Collection collection) override { collections_.push_back(std::move(collection)); }
  void AddMigration(db::Migration migration) override { migrations_.push_back(std::move(migration)); }
  void AddInstallHook(InstallHook hook) override { install_hooks_.push_back(std::move(hook)); }
  void AddAction(const std::string& resource, const std::string& action, Action a) override {
    actions_.Add(resource, action, std::move(a));
  }
  void OnCollectionChanged(CollectionChangedFn fn) override { changed_.push_back(std::move(fn)); }
  void SetAuthenticator(std::shared_ptr<Authenticator> a) override { authenticator_ = std::move(a); }
  void SetAclLoader(AclLoader loader) override { acl_loader_ = std::move(loader); }
  void SetRoleResolver(RoleResolver resolver) override { role_resolver_ = std::move(resolver); }
  void AddAfterCreateHook(const std::string& collection, RecordHook hook) override {
    after_create_[collection].push_back(std::move(hook));
  }

  const std::vector<data::Collection>& collections() const { return collections_; }
  const std::vector<db::Migration>& migrations() const { return migrations_; }
  const std::vector<InstallHook>& install_hooks() const { return install_hooks_; }
  ActionRegistry& actions() { return actions_; }
  const std::vector<CollectionChangedFn>& collection_changed() const { return changed_; }
  Authenticator* authenticator() const { return authenticator_.get(); }
  const AclLoader& acl_loader() const { return acl_loader_; }
  const RoleResolver& role_resolver() const { return role_resolver_; }
  const std::vector<RecordHook>& after_create(std::string_view collection) const {
    static const std::vector<RecordHook> kNone;
    auto it = after_create_.find(std::string(collection));
    return it == after_create_.end() ? kNone : it->second;
  }

 private:
  std::vector<data::Collection> collections_;
  std::vector<db::Migration> migrations_;
  std::vector<InstallHook> install_hooks_;
  ActionRegistry actions_;
  std::vector<CollectionChangedFn> changed_;
  std::shared_ptr<Authenticator> authenticator_;  // shared: the plugin keeps one to revoke tokens
  AclLoader acl_loader_;
  RoleResolver role_resolver_;
  std::map<std::string, std::vector<RecordHook>> after_create_;
};

}  // namespace slipway::app
