#include "builtin.h"

#include "acl/acl_plugin.h"
#include "audit_log/audit_log_plugin.h"
#include "file_manager/file_manager_plugin.h"
#include "users/users_plugin.h"

namespace slipway::plugins {

std::vector<plugins::BuiltinPlugin> BuiltinPlugins() {
  return {
      // name, factory, dependencies, enabled on install, required
      {"users", MakeUsersPlugin, {}, true, true},
      {"acl", MakeAclPlugin, {"users"}, true, true},  // its tables reference users
      {"audit-log", MakeAuditLogPlugin, {}, false, false},
      {"file-manager", MakeFileManagerPlugin, {"users"}, true, false},
  };
}

}  // namespace slipway::plugins
