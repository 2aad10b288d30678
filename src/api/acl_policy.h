// AclPolicy: roles and what they may do, evaluated per request from the snapshot.
//
// Model (NocoBase's):
//   - Record permissions. A role has a strategy, a list of actions allowed on every collection
//     ("view", "create", "update", "destroy", with ":own" meaning only records the user
//     created), and per-collection settings that replace the strategy for that collection when
//     `usingActionsConfig` is true; a per-collection action may also limit the fields it covers.
//   - Configuration permissions ("snippets"). Managing users, roles and their grants, plugins,
//     collections and the cluster is never governed by the strategy: each such action, and each
//     system collection (users, roles), names a snippet ("pm.users", "pm.acl.roles", "pm",
//     "pm.data-source-manager", "app", "pm.<plugin>"), and a role may use it only when its
//     `snippets` patterns allow that name ("pm.*" allows every name under "pm.", "!pm.users"
//     takes one away).
//   - The role "root" may do everything, and only root may give root.
// A role's `allowConfigure` flag is NocoBase's "may configure the interface"; it grants nothing on
// the server by itself.
//
// Granting: nobody gives what they do not hold. Covers(caller, role) is true when every snippet,
// strategy action and per-collection action of `role` is held by `caller` at least as widely;
// creating or changing a role, giving it to a user, and managing a user who has it all need it.
//
// Immutable once built; shared by the snapshots and safe to read from any thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "slipway/status.h"

namespace slipway::api {

inline constexpr const char* kRecordActions[] = {"view", "create", "update", "destroy"};

// One allowed action: on every record or only the user's own, on every field or a list.
struct ActionGrant {
  bool own = false;
  std::optional<std::set<std::string>> fields;  // nullopt: every field
};

struct RolePolicy {
  std::string name;
  std::vector<std::string> snippets;            // patterns, e.g. "pm.*", "!pm.users"
  std::map<std::string, ActionGrant> strategy;  // action -> grant (no field lists)
  // collection -> action -> grant, for collections with usingActionsConfig
  std::map<std::string, std::map<std::string, ActionGrant>> resources;
};

class AclPolicy {
 public:
  AclPolicy() = default;
  explicit AclPolicy(std::map<std::string, RolePolicy> roles) : roles_(std::move(roles)) {}

  const RolePolicy* Find(std::string_view role) const;
  // Whether `role` may use the configuration permission `snippet`.
  bool SnippetAllowed(std::string_view role, std::string_view snippet) const;
  // `action` is one of view, create, update, destroy. Nullopt: refused.
  std::optional<ActionGrant> Check(std::string_view role, std::string_view collection,
                                   std::string_view action) const;
  // Whether `caller` holds everything `role` grants (see the header comment). `snippets` are the
  // configuration permissions that exist (the snapshot's list).
  bool Covers(std::string_view caller, const RolePolicy& role,
              const std::vector<std::string>& snippets) const;
  bool Covers(std::string_view caller, std::string_view role,
              const std::vector<std::string>& snippets) const;

 private:
  std::map<std::string, RolePolicy> roles_;
};

// Whether a role's snippet patterns allow `snippet` (glob: '*' matches any run of characters;
// a pattern starting with '!' takes names away).
bool SnippetPatternsAllow(const std::vector<std::string>& patterns, std::string_view snippet);

// Maps a record action to the permission it needs ("list" -> "view", "updateOrCreate" -> both
// "update" and "create", ...). Empty for actions that are not record actions.
std::vector<std::string> PermissionsFor(std::string_view action);

}  // namespace slipway::api
