#include "builtin.h"

#include "acl/acl_plugin.h"
#include "users/users_plugin.h"

namespace slipway::plugins {

std::vector<std::unique_ptr<app::Plugin>> BuiltinPlugins() {
  std::vector<std::unique_ptr<app::Plugin>> all;
  all.push_back(MakeUsersPlugin());
  all.push_back(MakeAclPlugin());  // its tables reference users
  return all;
}

}  // namespace slipway::plugins
