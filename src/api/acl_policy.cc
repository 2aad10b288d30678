#include "api/acl_policy.h"

namespace slipway::api {

namespace {

bool Glob(std::string_view pattern, std::string_view text) {
  // Iterative '*' matching with one backtrack point: linear in practice for snippet names.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Whether `held` is at least as wide as `given`.
bool GrantCovers(const std::optional<ActionGrant>& held, const std::optional<ActionGrant>& given) {
  if (!given) return true;
  if (!held) return false;
  if (held->own && !given->own) return false;
  if (!held->fields) return true;
  if (!given->fields) return false;
  for (const std::string& f : *given->fields) {
    if (!held->fields->count(f)) return false;
  }
  return true;
}

std::optional<ActionGrant> GrantOf(const RolePolicy& role, std::string_view collection,
                                   std::string_view action) {
  const std::map<std::string, ActionGrant>* actions = &role.strategy;
  if (auto it = role.resources.find(std::string(collection)); it != role.resources.end()) {
    actions = &it->second;
  }
  auto it = actions->find(std::string(action));
  if (it == actions->end()) return std::nullopt;
  return it->second;
}

}  // namespace

bool SnippetPatternsAllow(const std::vector<std::string>& patterns, std::string_view snippet) {
  bool allowed = false;
  for (const std::string& p : patterns) {
    if (!p.empty() && p[0] == '!') {
      if (Glob(std::string_view(p).substr(1), snippet)) return false;
    } else if (Glob(p, snippet)) {
      allowed = true;
    }
  }
  return allowed;
}

const RolePolicy* AclPolicy::Find(std::string_view role) const {
  auto it = roles_.find(std::string(role));
  return it == roles_.end() ? nullptr : &it->second;
}

bool AclPolicy::SnippetAllowed(std::string_view role, std::string_view snippet) const {
  if (role == "root") return true;
  const RolePolicy* p = Find(role);
  return p != nullptr && SnippetPatternsAllow(p->snippets, snippet);
}

std::optional<ActionGrant> AclPolicy::Check(std::string_view role, std::string_view collection,
                                            std::string_view action) const {
  if (role == "root") return ActionGrant{};
  const RolePolicy* p = Find(role);
  if (p == nullptr) return std::nullopt;
  return GrantOf(*p, collection, action);
}

bool AclPolicy::Covers(std::string_view caller, const RolePolicy& role,
                       const std::vector<std::string>& snippets) const {
  if (caller == "root") return true;
  if (role.name == "root") return false;  // only root gives root
  const RolePolicy* held = Find(caller);
  if (held == nullptr) return false;
  for (const std::string& s : snippets) {
    if (SnippetPatternsAllow(role.snippets, s) && !SnippetPatternsAllow(held->snippets, s)) {
      return false;
    }
  }
  // Every collection either side configures, and "any other collection" (the strategies).
  std::set<std::string> collections;
  for (const auto& [c, unused] : role.resources) collections.insert(c);
  for (const auto& [c, unused] : held->resources) collections.insert(c);
  const std::string kAnyOther = "\x01";  // a name no collection has: both use their strategy
  collections.insert(kAnyOther);
  for (const std::string& c : collections) {
    for (const char* action : kRecordActions) {
      if (!GrantCovers(GrantOf(*held, c, action), GrantOf(role, c, action))) return false;
    }
  }
  return true;
}

bool AclPolicy::Covers(std::string_view caller, std::string_view role,
                       const std::vector<std::string>& snippets) const {
  if (caller == "root") return true;
  const RolePolicy* p = Find(role);
  if (p == nullptr) return role != "root";  // an unknown role grants nothing
  return Covers(caller, *p, snippets);
}

std::vector<std::string> PermissionsFor(std::string_view action) {
  if (action == "list" || action == "get") return {"view"};
  if (action == "create") return {"create"};
  if (action == "update") return {"update"};
  if (action == "destroy") return {"destroy"};
  if (action == "firstOrCreate") return {"view", "create"};
  if (action == "updateOrCreate") return {"update", "create"};
  // Links of an association: the source's update (checked on the source record) and the
  // targets' view.
  if (action == "add" || action == "remove" || action == "set" || action == "toggle") {
    return {"view"};
  }
  return {};
}

}  // namespace slipway::api
