#include "acl_plugin.h"

#include <chrono>
#include <mutex>
#include <set>
#include <unordered_map>

#include "app/builtin_registrar.h"
#include "core/parse.h"
#include "data/read_spec.h"
#include "data/repository.h"
#include "db/cluster_state.h"

namespace slipway::plugins {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr auto kCacheTtl = std::chrono::seconds(5);
const std::set<std::string> kActions = {"view", "create", "update", "destroy"};

constexpr const char* kRolesDefinition = R"({
  "name": "roles", "title": "Roles", "autoGenId": false, "createdBy": false, "updatedBy": false,
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

// Action lists as NocoBase stores them: ["view", "update:own"] or [{"name": "view"}, ...],
// where {"name": "update", "scope": "own"} is the same as "update:own".
Result<std::set<std::string>> ParseActions(const json::value& v, std::string_view what) {
  std::set<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return InvalidArgument(std::string(what) + ": 'actions' must be a list");
  for (const json::value& item : v.as_array()) {
    std::string name;
    if (item.is_string()) {
      name = std::string(item.as_string());
    } else if (item.is_object() && item.as_object().contains("name") &&
               item.at("name").is_string()) {
      name = std::string(item.at("name").as_string());
      auto scope = item.as_object().find("scope");
      if (scope != item.as_object().end() && scope->value().is_string() &&
          scope->value().as_string() == "own") {
        name += ":own";
      }
    } else {
      return InvalidArgument(std::string(what) + ": each action must be a name or {\"name\": ...}");
    }
    std::string base = name.substr(0, name.find(':'));
    bool own = name.size() > base.size();
    if (!kActions.count(base) || (own && name != base + ":own")) {
      return InvalidArgument(std::string(what) + ": unknown action '" + name +
                             "' (view, create, update, destroy, optionally with ':own')");
    }
    out.insert(name);
  }
  return out;
}

json::array ActionsJson(const std::set<std::string>& actions) {
  json::array out;
  for (const auto& a : actions) {
    size_t colon = a.find(':');
    json::object o{{"name", a.substr(0, colon)}};
    if (colon != std::string::npos) o["scope"] = "own";
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::shared_ptr<const app::AclPolicy>> LoadPolicy(db::Connection& conn) {
  std::map<std::string, app::RolePolicy> roles;
  ASSIGN_OR_RETURN(auto rs,
                   conn.Query("SELECT \"name\", \"strategy\", \"allowConfigure\" FROM \"roles\""));
  for (int r = 0; r < rs->row_count(); ++r) {
    app::RolePolicy p;
    p.name = std::string(rs->Text(r, 0));
    p.allow_configure = !rs->IsNull(r, 2) && rs->Bool(r, 2);
    if (!rs->IsNull(r, 1)) {
      boost::system::error_code ec;
      json::value strategy = json::parse(rs->Text(r, 1), ec);
      if (!ec && strategy.is_object() && strategy.as_object().contains("actions")) {
        auto actions = ParseActions(strategy.at("actions"), "role '" + p.name + "' strategy");
        if (actions.ok()) p.strategy = std::move(actions).value();
      }
    }
    roles[p.name] = std::move(p);
  }
  ASSIGN_OR_RETURN(auto res,
                   conn.Query("SELECT \"roleName\", \"name\", \"actions\" FROM \"rolesResources\" "
                              "WHERE \"usingActionsConfig\" = $1",
                              {true}));
  for (int r = 0; r < res->row_count(); ++r) {
    auto it = roles.find(std::string(res->Text(r, 0)));
    if (it == roles.end()) continue;
    boost::system::error_code ec;
    json::value actions = json::parse(res->Text(r, 2), ec);
    auto parsed = ec ? Result<std::set<std::string>>(std::set<std::string>{})
                     : ParseActions(actions, "resource");
    it->second.resources[std::string(res->Text(r, 1))] =
        parsed.ok() ? *parsed : std::set<std::string>{};
  }
  return std::make_shared<const app::AclPolicy>(std::move(roles));
}

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
      if (it != entries_.end() && Clock::now() - it->second.loaded < kCacheTtl)
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

Result<std::string> RoleParam(const app::ActionRequest& req) {
  const std::string& role = req.route.source_index;
  if (req.snapshot->acl == nullptr || req.snapshot->acl->Find(role) == nullptr) {
    return NotFound("role '" + role + "' not found", "ROLE_NOT_FOUND");
  }
  return role;
}

http::Response Data(const json::value& v) {
  return http::Response::Json(200, json::serialize(json::object{{"data", v}}));
}

// Runs `fn` in a transaction that bumps the epoch, then reloads the snapshot everywhere here.
Status ChangeRoles(app::ActionRequest& req, const std::function<Status(db::Connection&)>& fn) {
  {
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    ASSIGN_OR_RETURN(db::Transaction tx, db::Transaction::Begin(*conn));
    RETURN_IF_ERROR(fn(*conn));
    RETURN_IF_ERROR(db::BumpEpoch(*conn).status());
    RETURN_IF_ERROR(tx.Commit());
  }
  req.services.CollectionChanged("roles");
  return req.services.AfterCommit();
}

Result<std::vector<int64_t>> UserIds(const app::ActionRequest& req) {
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

class AclPlugin final : public slipway::Plugin {
 public:
  std::string_view name() const override { return "acl"; }
  std::string_view version() const override { return "builtin"; }

  Status Load(slipway::PluginContext& ctx) override {
    slipway::BuiltinRegistrar* builtin = ctx.builtin();
    if (builtin == nullptr) return Internal("the acl plugin must be built in");
    RETURN_IF_ERROR(ctx.AddCollection(json::parse(kRolesDefinition).as_object()));
    builtin->MarkClusterConfig("roles");
    ctx.AddMigration(LinkTablesMigration());
    builtin->SetAclLoader(LoadPolicy);
    builtin->SetRoleResolver([cache = cache_](app::CurrentUser& user, const http::Request& request,
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
    // New users get the roles marked default (member, out of the box), as in NocoBase.
    ctx.OnRecord("users", RecordEvent::kAfterCreate, [](RecordChange& change) -> Status {
      if (change.after == nullptr || !change.after->contains("id") ||
          !change.after->at("id").is_int64()) {
        return Status::Ok();
      }
      ASSIGN_OR_RETURN(auto rs,
                       change.connection->Query(
                           "INSERT INTO \"rolesUsers\" (\"userId\", \"roleName\", \"default\") "
                           "SELECT $1, \"name\", $2 FROM \"roles\" WHERE \"default\" = $2",
                           {change.after->at("id").as_int64(), true}));
      return Status::Ok();
    });
    RegisterResourceActions(*builtin);
    RegisterUserActions(*builtin);
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

  static Status InstallRoles(db::Connection& conn) {
    struct Seed {
      const char* name;
      const char* title;
      const char* strategy;
      bool configure, hidden, is_default;
    } seeds[] = {
        {"root", "Root", "{\"actions\":[]}", true, true, false},
        {"admin", "Admin", "{\"actions\":[\"create\",\"view\",\"update\",\"destroy\"]}", true,
         false, false},
        {"member", "Member", "{\"actions\":[\"view\",\"update:own\",\"destroy:own\",\"create\"]}",
         false, false, true},
    };
    for (const Seed& s : seeds) {
      ASSIGN_OR_RETURN(
          auto rs,
          conn.Query(
              "INSERT INTO \"roles\" (\"name\", \"title\", \"strategy\", \"allowConfigure\", "
              "\"allowNewMenu\", \"hidden\", \"default\") VALUES ($1, $2, $3, $4, $4, $5, $6)",
              {std::string(s.name), std::string(s.title), std::string(s.strategy), s.configure,
               s.hidden, s.is_default}));
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

  void RegisterResourceActions(slipway::BuiltinRegistrar& ctx) {
    auto configure = [](app::ActionFn fn) {
      return app::Action{std::move(fn), app::RunsOn::kWorker, app::Access::kConfigure};
    };
    auto row_json = [](const db::ResultSet& rs, int r) {
      boost::system::error_code ec;
      json::value actions = json::parse(rs.Text(r, 2), ec);
      auto parsed = ec ? std::set<std::string>{} : ParseActions(actions, "resource").value();
      return json::object{{"roleName", std::string(rs.Text(r, 0))},
                          {"name", std::string(rs.Text(r, 1))},
                          {"usingActionsConfig", rs.Bool(r, 3)},
                          {"actions", ActionsJson(parsed)}};
    };
    ctx.AddInternalAction(
        "roles.resources", "list",
        configure([row_json](app::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string role, RoleParam(req));
          ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
          ASSIGN_OR_RETURN(
              auto rs,
              conn->Query("SELECT \"roleName\", \"name\", \"actions\", \"usingActionsConfig\" "
                          "FROM \"rolesResources\" WHERE \"roleName\" = $1 ORDER BY \"name\"",
                          {role}));
          json::array items;
          for (int r = 0; r < rs->row_count(); ++r) items.push_back(row_json(*rs, r));
          return Data(items);
        }));
    ctx.AddInternalAction(
        "roles.resources", "get",
        configure([row_json](app::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string role, RoleParam(req));
          auto tk = req.params.find("filterByTk");
          if (tk == req.params.end() || !tk->value().is_string())
            return InvalidArgument("give the collection as filterByTk");
          ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
          ASSIGN_OR_RETURN(
              auto rs,
              conn->Query("SELECT \"roleName\", \"name\", \"actions\", \"usingActionsConfig\" "
                          "FROM \"rolesResources\" WHERE \"roleName\" = $1 AND \"name\" = $2",
                          {role, std::string(tk->value().as_string())}));
          return Data(rs->row_count() ? json::value(row_json(*rs, 0)) : json::value(nullptr));
        }));
    auto upsert = [](app::ActionRequest& req, bool create) -> Result<http::Response> {
      ASSIGN_OR_RETURN(std::string role, RoleParam(req));
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
      if (req.snapshot->schema->Find(collection) == nullptr) {
        return NotFound("collection '" + collection + "' not found");
      }
      bool using_config = true;
      if (auto it = body.find("usingActionsConfig"); it != body.end()) {
        if (!it->value().is_bool())
          return InvalidArgument("'usingActionsConfig' must be true or false");
        using_config = it->value().as_bool();
      }
      ASSIGN_OR_RETURN(auto actions, ParseActions(body.contains("actions") ? body.at("actions")
                                                                           : json::value(nullptr),
                                                  "resource '" + collection + "'"));
      std::string actions_json = json::serialize(ActionsJson(actions));
      RETURN_IF_ERROR(ChangeRoles(req, [&](db::Connection& conn) -> Status {
        ASSIGN_OR_RETURN(
            auto d,
            conn.Query("DELETE FROM \"rolesResources\" WHERE \"roleName\" = $1 AND \"name\" = $2",
                       {role, collection}));
        ASSIGN_OR_RETURN(auto i,
                         conn.Query("INSERT INTO \"rolesResources\" (\"roleName\", \"name\", "
                                    "\"usingActionsConfig\", \"actions\") VALUES ($1, $2, $3, $4)",
                                    {role, collection, using_config, actions_json}));
        return Status::Ok();
      }));
      json::object out{{"roleName", role},
                       {"name", collection},
                       {"usingActionsConfig", using_config},
                       {"actions", ActionsJson(actions)}};
      return Data(create ? json::value(out) : json::value(json::array{out}));
    };
    ctx.AddInternalAction("roles.resources", "create",
                          configure([upsert](app::ActionRequest& r) { return upsert(r, true); }));
    ctx.AddInternalAction("roles.resources", "update",
                          configure([upsert](app::ActionRequest& r) { return upsert(r, false); }));
    ctx.AddInternalAction(
        "roles.resources", "destroy",
        configure([](app::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string role, RoleParam(req));
          auto tk = req.params.find("filterByTk");
          if (tk == req.params.end() || !tk->value().is_string())
            return InvalidArgument("give the collection as filterByTk");
          std::string collection(tk->value().as_string());
          int64_t removed = 0;
          RETURN_IF_ERROR(ChangeRoles(req, [&](db::Connection& conn) -> Status {
            ASSIGN_OR_RETURN(
                auto d,
                conn.Query(
                    "DELETE FROM \"rolesResources\" WHERE \"roleName\" = $1 AND \"name\" = $2",
                    {role, collection}));
            removed = d->affected_rows();
            return Status::Ok();
          }));
          return Data(removed);
        }));
  }

  void RegisterUserActions(slipway::BuiltinRegistrar& ctx) {
    auto configure = [](app::ActionFn fn) {
      return app::Action{std::move(fn), app::RunsOn::kWorker, app::Access::kConfigure};
    };
    // Users of a role, rendered as the users collection shows them.
    ctx.AddInternalAction(
        "roles.users", "list", configure([](app::ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string role, RoleParam(req));
          const data::Schema& schema = *req.snapshot->schema;
          const data::Collection* users = schema.Find("users");
          ASSIGN_OR_RETURN(data::ReadSpec spec, data::BuildReadSpec(schema, *users, req.params));
          ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
          ASSIGN_OR_RETURN(
              auto rs,
              conn->Query("SELECT \"userId\" FROM \"rolesUsers\" WHERE \"roleName\" = $1", {role}));
          json::array ids;
          for (int r = 0; r < rs->row_count(); ++r) ids.push_back(rs->Int(r, 0));
          json::value scope = json::object{{"id", json::object{{"$in", ids}}}};
          data::Repository repo(schema, *users, *conn);
          std::string body;
          RETURN_IF_ERROR(repo.List(spec, scope, &body));
          return http::Response::Json(200, std::move(body));
        }));
    auto membership = [](bool add) {
      return [add](app::ActionRequest& req) -> Result<http::Response> {
        ASSIGN_OR_RETURN(std::string role, RoleParam(req));
        ASSIGN_OR_RETURN(std::vector<int64_t> ids, UserIds(req));
        int64_t changed = 0;
        RETURN_IF_ERROR(ChangeRoles(req, [&](db::Connection& conn) -> Status {
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
          return Status::Ok();
        }));
        return Data(changed);
      };
    };
    ctx.AddInternalAction("roles.users", "add", configure(membership(true)));
    ctx.AddInternalAction("roles.users", "remove", configure(membership(false)));
    // A user's own roles are visible to the user; anyone else's need configure rights.
    ctx.AddInternalAction(
        "users.roles", "list",
        {[](app::ActionRequest& req) -> Result<http::Response> {
           std::string me = std::to_string(req.user->id);
           if (req.route.source_index != me && !req.snapshot->acl->CanConfigure(req.user->role)) {
             return PermissionDenied("No permissions: only your own roles are visible",
                                     "NO_PERMISSION");
           }
           ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
           int64_t uid = 0;
           if (!core::ParseInt64(req.route.source_index, &uid)) {
             return InvalidArgument("'" + req.route.source_index + "' is not a user id");
           }
           ASSIGN_OR_RETURN(
               auto rs,
               conn->Query(
                   "SELECT r.\"name\", r.\"title\", ru.\"default\" FROM \"rolesUsers\" ru "
                   "JOIN \"roles\" r ON r.\"name\" = ru.\"roleName\" WHERE ru.\"userId\" = $1 "
                   "ORDER BY r.\"name\"",
                   {uid}));
           json::array items;
           for (int r = 0; r < rs->row_count(); ++r) {
             items.push_back(json::object{
                 {"name", std::string(rs->Text(r, 0))},
                 {"title", rs->IsNull(r, 1) ? json::value(nullptr)
                                            : json::value(std::string(rs->Text(r, 1)))},
                 {"default", rs->Bool(r, 2)}});
           }
           return Data(items);
         },
         app::RunsOn::kWorker, app::Access::kSignedIn});
  }

  std::shared_ptr<RoleCache> cache_ = std::make_shared<RoleCache>();
};

}  // namespace

std::unique_ptr<slipway::Plugin> MakeAclPlugin() { return std::make_unique<AclPlugin>(); }

}  // namespace slipway::plugins
