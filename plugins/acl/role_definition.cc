#include "acl/role_definition.h"

namespace slipway::plugins::acl {
namespace json = boost::json;

namespace {

bool IsRecordAction(std::string_view name) {
  for (const char* a : api::kRecordActions) {
    if (name == a) return true;
  }
  return false;
}

Result<std::set<std::string>> FieldList(const json::value& v, std::string_view what) {
  if (!v.is_array()) return InvalidArgument(std::string(what) + ": 'fields' must be a list");
  std::set<std::string> out;
  for (const json::value& f : v.as_array()) {
    if (!f.is_string() || f.as_string().empty()) {
      return InvalidArgument(std::string(what) + ": 'fields' must list field names");
    }
    out.emplace(f.as_string());
  }
  return out;
}

Result<std::vector<std::string>> ParseSnippets(const json::value& v) {
  if (!v.is_array()) return InvalidArgument("role: 'snippets' must be a list of names");
  std::vector<std::string> out;
  for (const json::value& s : v.as_array()) {
    if (!s.is_string() || s.as_string().empty() || s.as_string().size() > 128) {
      return InvalidArgument("role: 'snippets' must be a list of names such as \"pm.*\"");
    }
    for (char c : s.as_string()) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || c == '_' || c == '*' || c == '!';
      if (!ok) {
        return InvalidArgument("role: snippet '" + std::string(s.as_string()) +
                               "' has a character other than letters, digits, . - _ * !");
      }
    }
    out.emplace_back(s.as_string());
  }
  return out;
}

Result<std::optional<std::string>> OptionalText(const json::object& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_string())
    return InvalidArgument(std::string("role: '") + key + "' must be a string");
  return std::optional<std::string>(std::string(it->value().as_string()));
}

Result<std::optional<bool>> OptionalBool(const json::object& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->value().is_null()) return std::optional<bool>();
  if (!it->value().is_bool()) {
    return InvalidArgument(std::string("role: '") + key + "' must be true or false");
  }
  return std::optional<bool>(it->value().as_bool());
}

}  // namespace

Result<std::map<std::string, api::ActionGrant>> ParseActions(const json::value& v,
                                                             std::string_view what,
                                                             bool allow_fields) {
  std::map<std::string, api::ActionGrant> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return InvalidArgument(std::string(what) + ": 'actions' must be a list");
  for (const json::value& item : v.as_array()) {
    std::string name;
    api::ActionGrant grant;
    if (item.is_string()) {
      name = std::string(item.as_string());
    } else if (item.is_object() && item.as_object().contains("name") &&
               item.at("name").is_string()) {
      const json::object& o = item.as_object();
      name = std::string(o.at("name").as_string());
      for (const auto& kv : o) {
        if (kv.key() == "name") continue;
        if (kv.key() == "scope") {
          if (kv.value().is_string() && kv.value().as_string() == "own") {
            grant.own = true;
          } else if (!kv.value().is_null() &&
                     !(kv.value().is_string() && kv.value().as_string() == "all")) {
            return InvalidArgument(std::string(what) + ": 'scope' must be \"own\" or \"all\"");
          }
        } else if (kv.key() == "fields" && allow_fields) {
          if (!kv.value().is_null()) {
            ASSIGN_OR_RETURN(std::set<std::string> fields, FieldList(kv.value(), what));
            grant.fields = std::move(fields);
          }
        } else {
          return InvalidArgument(std::string(what) + ": unknown key '" + std::string(kv.key()) +
                                 "' in an action");
        }
      }
    } else {
      return InvalidArgument(std::string(what) + ": each action must be a name or {\"name\": ...}");
    }
    if (name.size() > 4 && name.substr(name.size() - 4) == ":own") {
      name.resize(name.size() - 4);
      grant.own = true;
    }
    if (!IsRecordAction(name)) {
      return InvalidArgument(std::string(what) + ": unknown action '" + name +
                             "' (view, create, update, destroy, optionally with ':own')");
    }
    if (grant.own && name == "create") {
      return InvalidArgument(std::string(what) + ": 'create' cannot be limited to own records");
    }
    out[name] = std::move(grant);
  }
  return out;
}

json::array ActionsJson(const std::map<std::string, api::ActionGrant>& actions) {
  json::array out;
  for (const auto& [name, grant] : actions) {
    json::object o{{"name", name}};
    if (grant.own) o["scope"] = "own";
    if (grant.fields) {
      json::array fields;
      for (const auto& f : *grant.fields) fields.push_back(json::value(f));
      o["fields"] = std::move(fields);
    }
    out.push_back(std::move(o));
  }
  return out;
}

Status ValidateRoleName(const json::value& name) {
  if (!name.is_string()) return InvalidArgument("role: 'name' must be a string");
  std::string_view n = name.as_string();
  bool ok = !n.empty() && n.size() <= 64 &&
            ((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z') || n[0] == '_');
  for (char c : n) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return InvalidArgument("role: '" + std::string(n.substr(0, 64)) +
                           "' is not a role name (a letter or '_', then letters, digits, _ - ., "
                           "at most 64)");
  }
  return Status::Ok();
}

Result<RoleDefinition> ParseRoleDefinition(const json::object& body, bool creating) {
  static const std::set<std::string> kKeys = {
      "name",   "title",   "description", "strategy", "snippets",  "allowConfigure", "allowNewMenu",
      "hidden", "default", "color",       "sort",     "createdAt", "updatedAt"};
  for (const auto& kv : body) {
    if (!kKeys.count(std::string(kv.key()))) {
      return InvalidArgument("role: unknown key '" + std::string(kv.key()) + "'");
    }
  }
  RoleDefinition d;
  if (auto it = body.find("name"); it != body.end()) {
    RETURN_IF_ERROR(ValidateRoleName(it->value()));
    d.name = std::string(it->value().as_string());
  } else if (creating) {
    return InvalidArgument("role: 'name' is required");
  }
  ASSIGN_OR_RETURN(d.title, OptionalText(body, "title"));
  ASSIGN_OR_RETURN(d.description, OptionalText(body, "description"));
  ASSIGN_OR_RETURN(d.allow_configure, OptionalBool(body, "allowConfigure"));
  ASSIGN_OR_RETURN(d.allow_new_menu, OptionalBool(body, "allowNewMenu"));
  ASSIGN_OR_RETURN(d.hidden, OptionalBool(body, "hidden"));
  ASSIGN_OR_RETURN(d.is_default, OptionalBool(body, "default"));
  if (auto it = body.find("strategy"); it != body.end() && !it->value().is_null()) {
    if (!it->value().is_object())
      return InvalidArgument("role: 'strategy' must be {\"actions\": [...]}");
    const json::object& strategy = it->value().as_object();
    for (const auto& kv : strategy) {
      if (kv.key() != "actions") {
        return InvalidArgument("role: unknown key '" + std::string(kv.key()) + "' in 'strategy'");
      }
    }
    auto actions = strategy.find("actions");
    ASSIGN_OR_RETURN(auto parsed, ParseActions(actions == strategy.end() ? json::value(nullptr)
                                                                         : actions->value(),
                                               "role strategy", /*allow_fields=*/false));
    d.strategy = std::move(parsed);
  }
  if (auto it = body.find("snippets"); it != body.end() && !it->value().is_null()) {
    ASSIGN_OR_RETURN(auto snippets, ParseSnippets(it->value()));
    d.snippets = std::move(snippets);
  }
  return d;
}

std::string StrategyJson(const std::map<std::string, api::ActionGrant>& strategy) {
  json::array actions;
  for (const auto& [name, grant] : strategy) {
    actions.push_back(json::value(grant.own ? name + ":own" : name));
  }
  return json::serialize(json::object{{"actions", actions}});
}

std::string SnippetsJson(const std::vector<std::string>& snippets) {
  json::array out;
  for (const auto& s : snippets) out.push_back(json::value(s));
  return json::serialize(out);
}

std::vector<std::string> AdminSnippets() { return {"ui.*", "pm", "pm.*", "app"}; }
std::vector<std::string> MemberSnippets() { return {"!ui.*", "!pm", "!pm.*", "!app"}; }

Status CheckSomeRootRemains(db::Connection& conn) {
  ASSIGN_OR_RETURN(auto rs,
                   conn.Query("SELECT count(*) FROM \"rolesUsers\" WHERE \"roleName\" = $1",
                              {std::string("root")}));
  if (rs->Int(0, 0) > 0) return Status::Ok();
  return FailedPrecondition("the last user with the root role cannot lose it or be removed",
                            "LAST_ROOT_USER");
}

Result<std::map<std::string, api::RolePolicy>> LoadRoles(db::Connection& conn) {
  std::map<std::string, api::RolePolicy> roles;
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT \"name\", \"strategy\", \"allowConfigure\", "
                                       "\"snippets\" FROM \"roles\""));
  for (int r = 0; r < rs->row_count(); ++r) {
    api::RolePolicy p;
    p.name = std::string(rs->Text(r, 0));
    boost::system::error_code ec;
    if (!rs->IsNull(r, 1)) {
      json::value strategy = json::parse(rs->Text(r, 1), ec);
      if (!ec && strategy.is_object() && strategy.as_object().contains("actions")) {
        auto actions = ParseActions(strategy.at("actions"), "role '" + p.name + "' strategy",
                                    /*allow_fields=*/false);
        if (actions.ok()) p.strategy = std::move(actions).value();
      }
    }
    bool parsed_snippets = false;
    if (!rs->IsNull(r, 3)) {
      json::value snippets = json::parse(rs->Text(r, 3), ec);
      if (!ec) {
        auto list = ParseSnippets(snippets);
        if (list.ok()) {
          p.snippets = std::move(list).value();
          parsed_snippets = true;
        }
      }
    }
    if (!parsed_snippets && !rs->IsNull(r, 2) && rs->Bool(r, 2)) {
      p.snippets = AdminSnippets();  // a role from before snippets that could configure
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
    auto parsed = ec ? Result<std::map<std::string, api::ActionGrant>>(
                           std::map<std::string, api::ActionGrant>{})
                     : ParseActions(actions, "resource", /*allow_fields=*/true);
    // A stored action list that no longer parses grants nothing rather than everything.
    it->second.resources[std::string(res->Text(r, 1))] =
        parsed.ok() ? std::move(parsed).value() : std::map<std::string, api::ActionGrant>{};
  }
  return roles;
}

Result<std::shared_ptr<const api::AclPolicy>> LoadPolicy(db::Connection& conn) {
  ASSIGN_OR_RETURN(auto roles, LoadRoles(conn));
  return std::make_shared<const api::AclPolicy>(std::move(roles));
}

}  // namespace slipway::plugins::acl
