// AclPolicy: roles and what they may do, evaluated per request from the snapshot.
//
// Model (NocoBase's): a role has a strategy, a list of actions allowed on every collection
// ("view", "create", "update", "destroy", with ":own" meaning only records the user created), and
// per-collection settings that replace the strategy for that collection when
// `usingActionsConfig` is true. `allowConfigure` lets a role change the schema, roles and
// plugins. The role "root" may do everything.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "slipway/status.h"

namespace slipway::app {

struct RolePolicy {
  std::string name;
  bool allow_configure = false;
  std::set<std::string> strategy;  // e.g. {"view", "create", "update:own"}
  // collection -> allowed actions, for collections with usingActionsConfig
  std::map<std::string, std::set<std::string>> resources;
};

// The outcome of a check: refused, allowed, or allowed only on the user's own records.
enum class Grant { kDenied, kAll, kOwn };

class AclPolicy {
 public:
  AclPolicy() = default;
  explicit AclPolicy(std::map<std::string, RolePolicy> roles) : roles_(std::move(roles)) {}

  const RolePolicy* Find(std::string_view role) const;
  bool CanConfigure(std::string_view role) const;
  // `action` is one of view, create, update, destroy.
  Grant Check(std::string_view role, std::string_view collection, std::string_view action) const;

 private:
  std::map<std::string, RolePolicy> roles_;
};

// Maps a record action to the permission it needs ("list" -> "view", "updateOrCreate" -> both
// "update" and "create", ...). Empty for actions that are not record actions.
std::vector<std::string> PermissionsFor(std::string_view action);

}  // namespace slipway::app
