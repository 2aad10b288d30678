// The acl plugin's actions: roles:create|update|destroy, roles/<name>/resources:*,
// roles/<name>/users:* and users/<id>/roles:list. Every one that changes a role or who has it is a
// cluster-wide change (Services::ApplyChange) and checks that the caller holds what it gives
// (AclPolicy::Covers), against the policy as it was before the change.
#pragma once

#include "api/builtin_registrar.h"

namespace slipway::plugins::acl {

// NocoBase's configuration permission for roles.
inline constexpr const char* kRolesSnippet = "pm.acl.roles";

void RegisterRoleActions(slipway::BuiltinRegistrar& registrar);

}  // namespace slipway::plugins::acl
