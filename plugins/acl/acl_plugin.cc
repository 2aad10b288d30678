#include "acl_plugin.h"

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "acl/role_actions.h"
#include "acl/role_definition.h"
#include "api/builtin_registrar.h"

namespace slipway::plugins {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr auto kRoleCacheTtl = std::chrono::seconds(5);
constexpr const char* kRolesDefinition = R"({
  "name": "roles", "title": "Roles", "autoGenId": false,
  "migrationRules": ["overwrite", "schema-only"], "createdBy": false, "updatedBy": false,
  "fields": [
    {"name": "name", "type": "string", "primaryKey": true, "interface": "input"},
    {"name": "title", "type": "string", "interface": "input"},
    {"name": "description", "type": "text", "interface": "textarea"},
    {"name": "strategy", "type": "json"},
    {"name": "allowConfigure", "type": "boolean", "defaultValue": false},
    {"name": "allowNewMenu", "type": "boolean", "defaultValue": false},
    {"name": "hidden", "type": "boolean", "defaultValue": false},
    {"name": "default", "type": "boolean", "defaultValue": false},
    {"name": "snippets", "type": "json"}
  ]})";

// Each user's roles, remembered for a few seconds and forgotten on any change to roles.
class RoleCache {
 public:
  struct Entry {
    std::vector<std::string> roles;  // default role first
    Clock::time_point loaded;
  };

  Result<std::vector<std::string>> RolesOf(int64_t user, db::Connection& conn) {
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(user);
      if (it != entries_.end() && Clock::now() - it->second.loaded < kRoleCacheTtl)
        return it->second.roles;
    }
    ASSIGN_OR_RETURN(auto rs,
                     conn.Query("SELECT \"roleName\" FROM \"rolesUsers\" WHERE \"userId\" = $1 "
                                "ORDER BY \"default\" DESC, \"roleName\"",
                                {user}));
    Entry e{{}, Clock::now()};
    for (int r = 0; r < rs->row_count(); ++r) e.roles.emplace_back(rs->Text(r, 0));
    std::lock_guard lock(mu_);
    entries_[user] = e;
    return e.roles;
  }
  void Clear() {
    std::lock_guard lock(mu_);
    entries_.clear();
  }

 private:
  std::mutex mu_;
  std::unordered_map<int64_t, Entry> entries_;
};

// Managing a user (changing or removing it) is taking over what its roles grant: the caller's
// role must hold all of them (AclPolicy::Covers). The system itself (no caller) and a user acting
// on its own record are not checked.
Status CheckManagesUser(slipway::BuiltinRegistrar& builtin, const RecordChange& change,
                        int64_t user_id) {
  const Caller& caller = change.caller;
  if (caller.user_id == 0 || caller.role.empty() || caller.role == "root" ||
      caller.user_id == user_id) {
    return Status::Ok();
  }
  auto snap = builtin.services().snapshot();
  if (snap->acl == nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(auto rs,
                   change.connection->Query(
                       "SELECT \"roleName\" FROM \"rolesUsers\" WHERE \"userId\" = $1", {user_id}));
  for (int r = 0; r < rs->row_count(); ++r) {
    std::string role(rs->Text(r, 0));
    if (!snap->acl->Covers(caller.role, role, snap->snippets)) {
      return PermissionDenied("No permissions: role '" + caller.role + "' may not manage user " +
                                  std::to_string(user_id) + ", who has the role '" + role + "'",
                              "NO_PERMISSION");
    }
  }
  return Status::Ok();
}

int64_t RecordId(const boost::json::object* record) {
  if (record == nullptr) return 0;
  auto it = record->find("id");
  return it != record->end() && it->value().is_int64() ? it->value().as_int64() : 0;
}

class AclPlugin final : public slipway::Plugin {
 public:
  std::string_view name() const override { return "acl"; }
  std::string_view version() const override { return "builtin"; }

  Status Load(slipway::PluginContext& ctx) override {
    slipway::BuiltinRegistrar* builtin = ctx.builtin();
    if (builtin == nullptr) return Internal("the acl plugin must be built in");
    RETURN_IF_ERROR(ctx.AddCollection(json::parse(kRolesDefinition).as_object()));
    builtin->MarkClusterConfig("roles");
    // Roles are configuration (NocoBase's "pm.acl.roles"), never reached by a record strategy.
    builtin->GovernCollection("roles", acl::kRolesSnippet);
    ctx.AddMigration(LinkTablesMigration());
    ctx.AddMigration(SnippetsMigration());
    builtin->SetAclLoader(acl::LoadPolicy);
    builtin->SetRoleResolver([cache = cache_](api::CurrentUser& user, const http::Request& request,
                                              db::Connection& conn) -> Status {
      ASSIGN_OR_RETURN(user.roles, cache->RolesOf(user.id, conn));
      if (user.roles.empty()) {
        return Unauthenticated("The current user has no roles. Please try another account.",
                               "USER_HAS_NO_ROLES_ERR");
      }
      std::string_view wanted = request.header("x-role");
      if (wanted.empty()) {
        user.role = user.roles.front();
        return Status::Ok();
      }
      for (const auto& r : user.roles) {
        if (r == wanted) {
          user.role = r;
          return Status::Ok();
        }
      }
      return Unauthenticated("The user does not have the role '" + std::string(wanted) + "'",
                             "ROLE_NOT_FOUND_FOR_USER");
    });
    builtin->OnCollectionChanged([cache = cache_](std::string_view c) {
      if (c == "roles" || c == "users") cache->Clear();
    });
    // New users get the roles marked default (member, out of the box), as in NocoBase; whoever
    // creates a user must hold those roles, or it would be giving them.
    ctx.OnRecord("users", RecordEvent::kAfterCreate, [builtin](RecordChange& change) -> Status {
      int64_t id = RecordId(change.after);
      if (id == 0) return Status::Ok();
      RETURN_IF_ERROR(change.connection->Exec(
          "INSERT INTO \"rolesUsers\" (\"userId\", \"roleName\", \"default\") "
          "SELECT $1, \"name\", $2 FROM \"roles\" WHERE \"default\" = $2",
          {id, true}));
      return CheckManagesUser(*builtin, change, id);
    });
    for (RecordEvent event : {RecordEvent::kBeforeUpdate, RecordEvent::kBeforeDestroy}) {
      ctx.OnRecord("users", event, [builtin](RecordChange& change) -> Status {
        return CheckManagesUser(*builtin, change, RecordId(change.before));
      });
    }
    // Its rolesUsers rows go with a destroyed user (ON DELETE CASCADE): after that, some user must
    // still hold root.
    ctx.OnRecord("users", RecordEvent::kAfterDestroy, [](RecordChange& change) -> Status {
      return acl::CheckSomeRootRemains(*change.connection);
    });
    acl::RegisterRoleActions(*builtin);
    return Status::Ok();
  }

  Status Install(db::Connection& conn) override { return InstallRoles(conn); }

 private:
  // rolesUsers (which user has which role) and rolesResources (per-collection actions).
  static slipway::PluginMigration LinkTablesMigration() {
    slipway::PluginMigration m;
    m.version = "0.1.0";
    m.name = "0002-roles-users-and-resources";
    m.revision = "1";
    m.run = [](db::Connection& conn) -> Status {
      bool pg = conn.dialect() == db::Dialect::kPostgres;
      std::string boolean = pg ? "BOOLEAN" : "INTEGER";
      std::string json_type = pg ? "JSONB" : "TEXT";
      std::string name_type = pg ? "VARCHAR(255)" : "TEXT";
      RETURN_IF_ERROR(conn.ExecScript(
          "CREATE TABLE \"rolesUsers\" (\"userId\" BIGINT NOT NULL REFERENCES \"users\" (\"id\") "
          "ON DELETE CASCADE, "
          "\"roleName\" " +
          name_type + " NOT NULL REFERENCES \"roles\" (\"name\") ON DELETE CASCADE, \"default\" " +
          boolean + " NOT NULL DEFAULT " + (pg ? "FALSE" : "0") +
          ", PRIMARY KEY (\"userId\", \"roleName\"))"));
      return conn.ExecScript(
          "CREATE TABLE \"rolesResources\" (\"roleName\" " + name_type +
          " NOT NULL REFERENCES \"roles\" (\"name\") ON DELETE CASCADE, \"name\" TEXT NOT NULL, "
          "\"usingActionsConfig\" " +
          boolean + " NOT NULL, \"actions\" " + json_type +
          " NOT NULL, PRIMARY KEY (\"roleName\", \"name\"))");
    };
    return m;
  }

  // Roles from before snippets existed get NocoBase's: admin and any role that could configure
  // everything, the others nothing (which is what they had).
  static slipway::PluginMigration SnippetsMigration() {
    slipway::PluginMigration m;
    m.version = "0.1.0";
    m.name = "0003-role-snippets";
    m.revision = "1";
    m.run = [](db::Connection& conn) -> Status {
      RETURN_IF_ERROR(
          conn.Exec("UPDATE \"roles\" SET \"snippets\" = $1 WHERE \"snippets\" IS NULL AND "
                    "\"allowConfigure\" = $2",
                    {acl::SnippetsJson(acl::AdminSnippets()), true}));
      return conn.Exec("UPDATE \"roles\" SET \"snippets\" = $1 WHERE \"snippets\" IS NULL",
                       {acl::SnippetsJson(acl::MemberSnippets())});
    };
    return m;
  }

  static Status InstallRoles(db::Connection& conn) {
    struct Seed {
      const char* name;
      const char* title;
      const char* strategy;
      std::vector<std::string> snippets;
      bool configure, hidden, is_default;
    } seeds[] = {
        {"root", "Root", "{\"actions\":[]}", {}, true, true, false},
        {"admin", "Admin", "{\"actions\":[\"create\",\"view\",\"update\",\"destroy\"]}",
         acl::AdminSnippets(), true, false, false},
        {"member", "Member", "{\"actions\":[\"view\",\"update:own\",\"destroy:own\",\"create\"]}",
         acl::MemberSnippets(), false, false, true},
    };
    for (const Seed& s : seeds) {
      RETURN_IF_ERROR(
          conn.Exec("INSERT INTO \"roles\" (\"name\", \"title\", \"strategy\", \"snippets\", "
                    "\"allowConfigure\", \"allowNewMenu\", \"hidden\", \"default\") "
                    "VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
                    {std::string(s.name), std::string(s.title), std::string(s.strategy),
                     acl::SnippetsJson(s.snippets), s.configure, s.hidden, s.is_default}));
    }
    // The first administrator (created by the users plugin) gets every built-in role.
    ASSIGN_OR_RETURN(auto first,
                     conn.Query("SELECT \"id\" FROM \"users\" ORDER BY \"id\" LIMIT 1"));
    if (first->row_count() == 1) {
      int64_t id = first->Int(0, 0);
      for (const char* role : {"root", "admin", "member"}) {
        ASSIGN_OR_RETURN(
            auto rs,
            conn.Query("INSERT INTO \"rolesUsers\" (\"userId\", \"roleName\", \"default\") "
                       "VALUES ($1, $2, $3)",
                       {id, std::string(role), std::string_view(role) == "root"}));
      }
    }
    return Status::Ok();
  }

  std::shared_ptr<RoleCache> cache_ = std::make_shared<RoleCache>();
};

}  // namespace

std::unique_ptr<slipway::Plugin> MakeAclPlugin() { return std::make_unique<AclPlugin>(); }

}  // namespace slipway::plugins
