// How the acl plugin reads and writes role definitions: NocoBase's JSON for a role's strategy,
// snippets and per-collection actions, parsed strictly (anything unexpected is InvalidArgument
// naming it, before anything is written), and the policy built from the tables.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/acl_policy.h"
#include "db/database.h"

namespace slipway::plugins::acl {

// Action lists as NocoBase stores them: ["view", "update:own"] or
// [{"name": "view", "fields": ["title"]}, {"name": "update", "scope": "own"}, ...].
// `allow_fields`: whether per-field lists are accepted (per-collection actions) or not
// (a strategy applies to every collection).
Result<std::map<std::string, api::ActionGrant>> ParseActions(const boost::json::value& v,
                                                             std::string_view what,
                                                             bool allow_fields);
boost::json::array ActionsJson(const std::map<std::string, api::ActionGrant>& actions);

// A role as roles:create / roles:update give it. Every key is checked; unknown keys are refused.
struct RoleDefinition {
  std::string name;
  std::optional<std::string> title, description;
  std::optional<std::map<std::string, api::ActionGrant>> strategy;
  std::optional<std::vector<std::string>> snippets;
  std::optional<bool> allow_configure, allow_new_menu, hidden, is_default;
};
Result<RoleDefinition> ParseRoleDefinition(const boost::json::object& body, bool creating);

// Role names: letters, digits, '_', '-' and '.', starting with a letter or '_', at most 64.
Status ValidateRoleName(const boost::json::value& name);

// The stored form of a strategy, {"actions": [...]}, and of snippets, ["pm.*", ...].
std::string StrategyJson(const std::map<std::string, api::ActionGrant>& strategy);
std::string SnippetsJson(const std::vector<std::string>& snippets);

// The snippets of the built-in roles (NocoBase's), and what a role without stored snippets had
// before snippets existed: everything when it could configure, nothing otherwise.
std::vector<std::string> AdminSnippets();
std::vector<std::string> MemberSnippets();

// FailedPrecondition (LAST_ROOT_USER) when no user would have the root role any more: nobody could
// then administer the application.
Status CheckSomeRootRemains(db::Connection& conn);

// Every role with its strategy, snippets and per-collection actions.
Result<std::map<std::string, api::RolePolicy>> LoadRoles(db::Connection& conn);
Result<std::shared_ptr<const api::AclPolicy>> LoadPolicy(db::Connection& conn);

}  // namespace slipway::plugins::acl
