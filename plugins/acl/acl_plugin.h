// The acl plugin: roles (root, admin, member and custom ones), which users have them, and what
// each may do per collection (roles/<name>/resources). It resolves the role a request acts as
// (X-Role, else the user's default) and builds the permission policy of the snapshot.
#pragma once

#include <memory>

#include "app/plugin_api.h"

namespace slipway::plugins {

std::unique_ptr<app::Plugin> MakeAclPlugin();

}  // namespace slipway::plugins
