#include "app/acl_policy.h"

namespace slipway::app {

const RolePolicy* AclPolicy::Find(std::string_view role) const {
  auto it = roles_.find(std::string(role));
  return it == roles_.end() ? nullptr : &it->second;
}

bool AclPolicy::CanConfigure(std::string_view role) const {
  if (role == "root") return true;
  const RolePolicy* p = Find(role);
  return p != nullptr && p->allow_configure;
}

Grant AclPolicy::Check(std::string_view role, std::string_view collection,
                       std::string_view action) const {
  if (role == "root") return Grant::kAll;
  const RolePolicy* p = Find(role);
  if (p == nullptr) return Grant::kDenied;
  const std::set<std::string>* actions = &p->strategy;
  if (auto it = p->resources.find(std::string(collection)); it != p->resources.end()) {
    actions = &it->second;
  }
  if (actions->count(std::string(action))) return Grant::kAll;
  if (actions->count(std::string(action) + ":own")) return Grant::kOwn;
  return Grant::kDenied;
}

std::vector<std::string> PermissionsFor(std::string_view action) {
  if (action == "list" || action == "get") return {"view"};
  if (action == "create") return {"create"};
  if (action == "update") return {"update"};
  if (action == "destroy") return {"destroy"};
  if (action == "firstOrCreate") return {"view", "create"};
  if (action == "updateOrCreate") return {"update", "create"};
  return {};
}

}  // namespace slipway::app
