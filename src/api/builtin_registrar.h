// BuiltinRegistrar: registrations only plugins compiled into the binary may make, because they
// decide who a caller is and what a role may do (authentication, role resolution, the
// permission policy) or need the internal request types. A plugin loaded from a package gets
// null from PluginContext::builtin().
#pragma once

#include <memory>
#include <string>

#include "api/action.h"

namespace slipway {

class BuiltinRegistrar {
 public:
  virtual ~BuiltinRegistrar() = default;
  virtual void SetAuthenticator(std::shared_ptr<api::Authenticator> authenticator) = 0;
  virtual void SetRoleResolver(api::RoleResolver resolver) = 0;
  virtual void SetAclLoader(api::AclLoader loader) = 0;
  // An action with the full internal request (http::Request, snapshot, services).
  virtual void AddInternalAction(const std::string& resource, const std::string& action,
                                 api::Action a) = 0;
  // Called after records of any collection changed (after commit).
  virtual void OnCollectionChanged(api::CollectionChangedFn fn) = 0;
  // Writes to this collection's records bump the cluster epoch (they configure the cluster).
  virtual void MarkClusterConfig(const std::string& collection) = 0;
  // The records of this collection are configuration (users, roles): a request reaches them only
  // with a role whose snippets allow `snippet`, never through a role's record strategy. Reading
  // them through a relation (a post's createdBy) still follows the record permissions.
  virtual void GovernCollection(const std::string& collection, const std::string& snippet) = 0;
  // What actions may use (pool, config, snapshot), for plugins that keep a reference.
  virtual api::Services& services() = 0;
};

}  // namespace slipway
