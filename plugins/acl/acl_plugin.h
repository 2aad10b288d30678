// The acl plugin: roles (root, admin, member and custom ones), which users have them, and what
// each may do per collection (roles/<name>/resources). It resolves the role a request acts as
// (X-Role, else the user's default) and builds the permission policy of the snapshot.
#pragma once

#include <memory>

#include "slipway/plugin.h"

namespace slipway::plugins {

std::unique_ptr<slipway::Plugin> MakeAclPlugin();

}  // namespace slipway::plugins
