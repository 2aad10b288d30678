#include "acl/role_actions.h"

#include "acl/role_definition.h"
#include "core/parse.h"
#include "data/read_spec.h"
#include "data/repository.h"
#include "http/error_response.h"

namespace slipway::plugins::acl {
namespace {

namespace json = boost::json;

api::Action Configure(api::ActionFn fn, bool safe = false) {
  return api::Action{std::move(fn), api::RunsOn::kWorker, api::Access::kConfigure, kRolesSnippet,
                     safe};
}

Status NotCovered(const std::string& caller, const std::string& role, std::string_view doing) {
  return PermissionDenied("No permissions: role '" + caller + "' may not " + std::string(doing) +
                              " role '" + role + "', which grants more than '" + caller + "' holds",
                          "NO_PERMISSION");
}

// A change to roles, in one cluster-wide change: `fn` writes; then every role in `touched`
// must be held by the caller as it is after the change (and, if it existed, as it was before:
// nobody reshapes a role stronger than their own).
Status ChangeRoles(api::ActionRequest& req, const std::vector<std::string>& touched,
                   std::string_view doing, const std::function<Status(db::Connection&)>& fn) {
  const std::string& caller = req.user->role;
  RETURN_IF_ERROR(req.services.ApplyChange(
      [&](db::Connection& conn, const api::Snapshot& now) -> Result<api::SnapshotUpdate> {
        const api::AclPolicy& before = *now.acl;
        for (const std::string& role : touched) {
          if (before.Find(role) && !before.Covers(caller, role, now.snippets)) {
            return NotCovered(caller, role, doing);
          }
        }
        RETURN_IF_ERROR(fn(conn));
        ASSIGN_OR_RETURN(auto after, LoadPolicy(conn));
        for (const std::string& role : touched) {
          const api::RolePolicy* p = after->Find(role);
          if (p != nullptr && !before.Covers(caller, *p, now.snippets)) {
            return NotCovered(caller, role, doing);
          }
        }
        return api::SnapshotUpdate{nullptr, after};
      }));
  req.services.CollectionChanged("roles");
  return Status::Ok();
}

Result<json::value> RoleRecord(api::ActionRequest& req, const std::string& name) {
  const data::Schema& schema = *req.services.snapshot()->schema;
  const data::Collection* roles = schema.Find("roles");
  if (roles == nullptr) return Internal("the roles collection is missing");
  ASSIGN_OR_RETURN(data::ReadSpec spec, data::BuildReadSpec(schema, *roles, {}));
  ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
  data::Repository repo(schema, *roles, *conn);
  std::string body;
  RETURN_IF_ERROR(repo.Get(spec, json::value(name), nullptr, &body));
  return json::parse(body).at("data");
}

Result<std::string> NameParam(const api::ActionRequest& req, std::string_view what) {
  auto it = req.params.find("filterByTk");
  if (it == req.params.end() || !it->value().is_string() || it->value().as_string().empty()) {
    return InvalidArgument(std::string(what) + " needs filterByTk (the role's name)");
  }
  return std::string(it->value().as_string());
}

// The role named by the route (roles/<name>/...).
Result<std::string> RouteRole(const api::ActionRequest& req) {
  const std::string& role = req.route.source_index;
  if (req.snapshot->acl == nullptr || req.snapshot->acl->Find(role) == nullptr) {
    return NotFound("role '" + role + "' not found", "ROLE_NOT_FOUND");
  }
  return role;
}

// The role's columns as roles:create / roles:update set them.
Status WriteRole(db::Connection& conn, const RoleDefinition& d, bool insert) {
  std::vector<std::pair<std::string, db::Value>> columns;
  if (d.title) columns.emplace_back("title", *d.title);
  if (d.description) columns.emplace_back("description", *d.description);
  if (d.strategy) columns.emplace_back("strategy", StrategyJson(*d.strategy));
  if (d.snippets) columns.emplace_back("snippets", SnippetsJson(*d.snippets));
  if (d.allow_configure) columns.emplace_back("allowConfigure", *d.allow_configure);
  if (d.allow_new_menu) columns.emplace_back("allowNewMenu", *d.allow_new_menu);
  if (d.hidden) columns.emplace_back("hidden", *d.hidden);
  if (d.is_default) columns.emplace_back("default", *d.is_default);
  std::vector<db::Value> params = {d.name};
  std::string sql;
  if (insert) {
    // A new role grants nothing unless told: no record actions, no configuration.
    if (!d.strategy) columns.emplace_back("strategy", StrategyJson({}));
    if (!d.snippets) columns.emplace_back("snippets", SnippetsJson(MemberSnippets()));
    std::string names = "\"name\"", values = "$1";
    for (auto& [column, value] : columns) {
      params.push_back(std::move(value));
      names += ", " + db::QuoteIdent(column);
      values += ", $" + std::to_string(params.size());
    }
    sql = "INSERT INTO \"roles\" (" + names + ") VALUES (" + values + ")";
  } else {
    if (columns.empty()) return Status::Ok();
    std::string sets;
    for (auto& [column, value] : columns) {
      params.push_back(std::move(value));
      sets += (sets.empty() ? "" : ", ") + db::QuoteIdent(column) + " = $" +
              std::to_string(params.size());
    }
    sql = "UPDATE \"roles\" SET " + sets + " WHERE \"name\" = $1";
  }
  return conn.Exec(sql, params);
}

void RegisterRoles(slipway::BuiltinRegistrar& r) {
  r.AddInternalAction(
      "roles", "create", Configure([](api::ActionRequest& req) -> Result<http::Response> {
        if (!req.body.is_object()) return InvalidArgument("roles:create expects a JSON object");
        ASSIGN_OR_RETURN(RoleDefinition d,
                         ParseRoleDefinition(req.body.as_object(), /*creating=*/true));
        if (req.snapshot->acl && req.snapshot->acl->Find(d.name)) {
          return AlreadyExists("role '" + d.name + "' already exists", "ROLE_EXISTS");
        }
        RETURN_IF_ERROR(ChangeRoles(req, {d.name}, "create", [&](db::Connection& conn) {
          return WriteRole(conn, d, true);
        }));
        ASSIGN_OR_RETURN(json::value role, RoleRecord(req, d.name));
        return http::DataResponse(role);
      }));
  r.AddInternalAction(
      "roles", "update", Configure([](api::ActionRequest& req) -> Result<http::Response> {
        ASSIGN_OR_RETURN(std::string name, NameParam(req, "roles:update"));
        if (req.snapshot->acl == nullptr || req.snapshot->acl->Find(name) == nullptr) {
          return NotFound("role '" + name + "' not found", "ROLE_NOT_FOUND");
        }
        if (name == "root")
          return PermissionDenied("the root role cannot be changed", "NO_PERMISSION");
        if (!req.body.is_object()) return InvalidArgument("roles:update expects a JSON object");
        ASSIGN_OR_RETURN(RoleDefinition d,
                         ParseRoleDefinition(req.body.as_object(), /*creating=*/false));
        if (!d.name.empty() && d.name != name) {
          return InvalidArgument("role '" + name + "': renaming a role is not supported");
        }
        d.name = name;
        RETURN_IF_ERROR(ChangeRoles(req, {name}, "change", [&](db::Connection& conn) {
          return WriteRole(conn, d, false);
        }));
        ASSIGN_OR_RETURN(json::value role, RoleRecord(req, name));
        return http::DataResponse(json::array{role});
      }));
  r.AddInternalAction(
      "roles", "destroy", Configure([](api::ActionRequest& req) -> Result<http::Response> {
        ASSIGN_OR_RETURN(std::string name, NameParam(req, "roles:destroy"));
        if (name == "root" || name == "admin" || name == "member") {
          return FailedPrecondition("the built-in role '" + name + "' cannot be destroyed",
                                    "ROLE_BUILT_IN");
        }
        if (req.snapshot->acl == nullptr || req.snapshot->acl->Find(name) == nullptr) {
          return NotFound("role '" + name + "' not found", "ROLE_NOT_FOUND");
        }
        RETURN_IF_ERROR(ChangeRoles(req, {name}, "destroy", [&](db::Connection& conn) {
          return conn.Exec("DELETE FROM \"roles\" WHERE \"name\" = $1", {name});
        }));
        return http::DataResponse(1);
      }));
  // Writes that would go around the checks above.
  for (const char* action : {"firstOrCreate", "updateOrCreate"}) {
    r.AddInternalAction("roles", action,
                        Configure([action](api::ActionRequest&) -> Result<http::Response> {
                          return InvalidArgument(std::string("roles:") + action +
                                                 " is not supported; use roles:create or "
                                                 "roles:update");
                        }));
  }
}

void RegisterResources(slipway::BuiltinRegistrar& r) {
  auto row_json = [](const db::ResultSet& rs, int row) {
    boost::system::error_code ec;
    json::value actions = json::parse(rs.Text(row, 2), ec);
    auto parsed = ec ? Result<std::map<std::string, api::ActionGrant>>(
                           std::map<std::string, api::ActionGrant>{})
                     : ParseActions(actions, "resource", /*allow_fields=*/true);
    return json::object{
        {"roleName", std::string(rs.Text(row, 0))},
        {"name", std::string(rs.Text(row, 1))},
        {"usingActionsConfig", rs.Bool(row, 3)},
        {"actions",
         ActionsJson(parsed.ok() ? *parsed : std::map<std::string, api::ActionGrant>{})}};
  };
  r.AddInternalAction(
      "roles.resources", "list",
      Configure(
          [row_json](api::ActionRequest& req) -> Result<http::Response> {
            ASSIGN_OR_RETURN(std::string role, RouteRole(req));
            ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
            ASSIGN_OR_RETURN(
                auto rs,
                conn->Query("SELECT \"roleName\", \"name\", \"actions\", \"usingActionsConfig\" "
                            "FROM \"rolesResources\" WHERE \"roleName\" = $1 ORDER BY \"name\"",
                            {role}));
            json::array items;
            for (int row = 0; row < rs->row_count(); ++row) items.push_back(row_json(*rs, row));
            return http::DataResponse(items);
          },
          /*safe=*/true));
  r.AddInternalAction(
      "roles.resources", "get",
      Configure(
          [row_json](api::ActionRequest& req) -> Result<http::Response> {
            ASSIGN_OR_RETURN(std::string role, RouteRole(req));
            auto tk = req.params.find("filterByTk");
            if (tk == req.params.end() || !tk->value().is_string())
              return InvalidArgument("give the collection as filterByTk");
            ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
            ASSIGN_OR_RETURN(
                auto rs,
                conn->Query("SELECT \"roleName\", \"name\", \"actions\", \"usingActionsConfig\" "
                            "FROM \"rolesResources\" WHERE \"roleName\" = $1 AND \"name\" = $2",
                            {role, std::string(tk->value().as_string())}));
            return http::DataResponse(rs->row_count() ? json::value(row_json(*rs, 0))
                                                      : json::value(nullptr));
          },
          /*safe=*/true));
  auto upsert = [](api::ActionRequest& req, bool create) -> Result<http::Response> {
    ASSIGN_OR_RETURN(std::string role, RouteRole(req));
    if (role == "root") return PermissionDenied("the root role cannot be changed", "NO_PERMISSION");
    if (!req.body.is_object())
      return InvalidArgument("expects {\"name\", \"usingActionsConfig\", \"actions\"}");
    const json::object& body = req.body.as_object();
    std::string collection;
    if (auto tk = req.params.find("filterByTk");
        !create && tk != req.params.end() && tk->value().is_string()) {
      collection = std::string(tk->value().as_string());
    } else if (body.contains("name") && body.at("name").is_string()) {
      collection = std::string(body.at("name").as_string());
    }
    if (collection.empty()) return InvalidArgument("name the collection in 'name'");
    const data::Collection* c = req.snapshot->schema->Find(collection);
    if (c == nullptr) return NotFound("collection '" + collection + "' not found");
    bool using_config = true;
    if (auto it = body.find("usingActionsConfig"); it != body.end()) {
      if (!it->value().is_bool())
        return InvalidArgument("'usingActionsConfig' must be true or false");
      using_config = it->value().as_bool();
    }
    ASSIGN_OR_RETURN(
        auto actions,
        ParseActions(body.contains("actions") ? body.at("actions") : json::value(nullptr),
                     "resource '" + collection + "'", /*allow_fields=*/true));
    for (const auto& [name, grant] : actions) {
      if (!grant.fields) continue;
      for (const std::string& f : *grant.fields) {
        if (c->FindField(f) == nullptr) {
          return InvalidArgument("resource '" + collection + "': unknown field '" + f + "'");
        }
      }
    }
    std::string actions_json = json::serialize(ActionsJson(actions));
    RETURN_IF_ERROR(ChangeRoles(req, {role}, "change", [&](db::Connection& conn) -> Status {
      RETURN_IF_ERROR(
          conn.Exec("DELETE FROM \"rolesResources\" WHERE \"roleName\" = $1 AND \"name\" = $2",
                    {role, collection}));
      return conn.Exec(
          "INSERT INTO \"rolesResources\" (\"roleName\", \"name\", \"usingActionsConfig\", "
          "\"actions\") VALUES ($1, $2, $3, $4)",
          {role, collection, using_config, actions_json});
    }));
    json::object out{{"roleName", role},
                     {"name", collection},
                     {"usingActionsConfig", using_config},
                     {"actions", ActionsJson(actions)}};
    return http::DataResponse(create ? json::value(out) : json::value(json::array{out}));
  };
  r.AddInternalAction("roles.resources", "create",
                      Configure([upsert](api::ActionRequest& req) { return upsert(req, true); }));
  r.AddInternalAction("roles.resources", "update",
                      Configure([upsert](api::ActionRequest& req) { return upsert(req, false); }));
  r.AddInternalAction(
      "roles.resources", "destroy",
      Configure([](api::ActionRequest& req) -> Result<http::Response> {
        ASSIGN_OR_RETURN(std::string role, RouteRole(req));
        auto tk = req.params.find("filterByTk");
        if (tk == req.params.end() || !tk->value().is_string())
          return InvalidArgument("give the collection as filterByTk");
        std::string collection(tk->value().as_string());
        int64_t removed = 0;
        RETURN_IF_ERROR(ChangeRoles(req, {role}, "change", [&](db::Connection& conn) -> Status {
          ASSIGN_OR_RETURN(
              auto d,
              conn.Query("DELETE FROM \"rolesResources\" WHERE \"roleName\" = $1 AND \"name\" = $2",
                         {role, collection}));
          removed = d->affected_rows();
          return Status::Ok();
        }));
        return http::DataResponse(removed);
      }));
}

Result<std::vector<int64_t>> UserIds(const api::ActionRequest& req) {
  std::vector<int64_t> ids;
  auto add = [&](const json::value& v) -> Status {
    if (v.is_int64()) {
      ids.push_back(v.as_int64());
    } else if (v.is_string()) {
      int64_t id = 0;
      if (!core::ParseInt64(v.as_string(), &id))
        return InvalidArgument("user ids must be integers");
      ids.push_back(id);
    } else if (v.is_object() && v.as_object().contains("id") && v.at("id").is_int64()) {
      ids.push_back(v.at("id").as_int64());
    } else {
      return InvalidArgument("user ids must be integers");
    }
    return Status::Ok();
  };
  auto tk = req.params.find("filterByTk");
  if (tk != req.params.end()) {
    if (tk->value().is_array()) {
      for (const auto& v : tk->value().as_array()) RETURN_IF_ERROR(add(v));
    } else {
      RETURN_IF_ERROR(add(tk->value()));
    }
  }
  if (req.body.is_array()) {
    for (const auto& v : req.body.as_array()) RETURN_IF_ERROR(add(v));
  } else if (req.body.is_object() && req.body.as_object().contains("values") &&
             req.body.at("values").is_array()) {
    for (const auto& v : req.body.at("values").as_array()) RETURN_IF_ERROR(add(v));
  }
  if (ids.empty())
    return InvalidArgument("give the user ids as filterByTk or as a JSON array body");
  return ids;
}

void RegisterMembers(slipway::BuiltinRegistrar& r) {
  // Users of a role, rendered as the users collection shows them.
  r.AddInternalAction(
      "roles.users", "list",
      Configure(
          [](api::ActionRequest& req) -> Result<http::Response> {
            ASSIGN_OR_RETURN(std::string role, RouteRole(req));
            const data::Schema& schema = *req.snapshot->schema;
            const data::Collection* users = schema.Find("users");
            ASSIGN_OR_RETURN(data::ReadSpec spec, data::BuildReadSpec(schema, *users, req.params));
            ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
            ASSIGN_OR_RETURN(
                auto rs,
                conn->Query("SELECT \"userId\" FROM \"rolesUsers\" WHERE \"roleName\" = $1",
                            {role}));
            json::array ids;
            for (int row = 0; row < rs->row_count(); ++row) ids.push_back(rs->Int(row, 0));
            json::value scope = json::object{{"id", json::object{{"$in", ids}}}};
            data::Repository repo(schema, *users, *conn);
            std::string body;
            RETURN_IF_ERROR(repo.List(spec, scope, &body));
            return http::Response::Json(200, std::move(body));
          },
          /*safe=*/true));
  auto membership = [](bool add) {
    return [add](api::ActionRequest& req) -> Result<http::Response> {
      ASSIGN_OR_RETURN(std::string role, RouteRole(req));
      ASSIGN_OR_RETURN(std::vector<int64_t> ids, UserIds(req));
      int64_t changed = 0;
      RETURN_IF_ERROR(
          ChangeRoles(req, {role}, add ? "give" : "take away", [&](db::Connection& conn) -> Status {
            for (int64_t id : ids) {
              if (add) {
                ASSIGN_OR_RETURN(auto exists,
                                 conn.Query("SELECT 1 FROM \"users\" WHERE \"id\" = $1", {id}));
                if (exists->row_count() == 0)
                  return NotFound("user " + std::to_string(id) + " not found");
                ASSIGN_OR_RETURN(
                    auto rs,
                    conn.Query("INSERT INTO \"rolesUsers\" (\"userId\", \"roleName\", \"default\") "
                               "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                               {id, role, false}));
                changed += rs->affected_rows();
              } else {
                ASSIGN_OR_RETURN(
                    auto rs,
                    conn.Query(
                        "DELETE FROM \"rolesUsers\" WHERE \"userId\" = $1 AND \"roleName\" = $2",
                        {id, role}));
                changed += rs->affected_rows();
              }
            }
            return role == "root" ? CheckSomeRootRemains(conn) : Status::Ok();
          }));
      return http::DataResponse(changed);
    };
  };
  r.AddInternalAction("roles.users", "add", Configure(membership(true)));
  r.AddInternalAction("roles.users", "remove", Configure(membership(false)));
  // A user's own roles are visible to the user; anyone else's need roles or users management.
  r.AddInternalAction(
      "users.roles", "list",
      {[](api::ActionRequest& req) -> Result<http::Response> {
         int64_t uid = 0;
         if (!core::ParseInt64(req.route.source_index, &uid)) {
           return InvalidArgument("'" + req.route.source_index + "' is not a user id");
         }
         const api::AclPolicy* acl = req.snapshot->acl.get();
         const std::string& role = req.user->role;
         if (uid != req.user->id && !(acl && (acl->SnippetAllowed(role, kRolesSnippet) ||
                                              acl->SnippetAllowed(role, "pm.users")))) {
           return PermissionDenied("No permissions: only your own roles are visible",
                                   "NO_PERMISSION");
         }
         ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
         ASSIGN_OR_RETURN(
             auto rs,
             conn->Query(
                 "SELECT r.\"name\", r.\"title\", ru.\"default\" FROM \"rolesUsers\" ru "
                 "JOIN \"roles\" r ON r.\"name\" = ru.\"roleName\" WHERE ru.\"userId\" = $1 "
                 "ORDER BY r.\"name\"",
                 {uid}));
         json::array items;
         for (int row = 0; row < rs->row_count(); ++row) {
           items.push_back(json::object{
               {"name", std::string(rs->Text(row, 0))},
               {"title", rs->IsNull(row, 1) ? json::value(nullptr)
                                            : json::value(std::string(rs->Text(row, 1)))},
               {"default", rs->Bool(row, 2)}});
         }
         return http::DataResponse(items);
       },
       api::RunsOn::kWorker, api::Access::kSignedIn, "", /*safe=*/true});
}

}  // namespace

void RegisterRoleActions(slipway::BuiltinRegistrar& registrar) {
  RegisterRoles(registrar);
  RegisterResources(registrar);
  RegisterMembers(registrar);
}

}  // namespace slipway::plugins::acl
