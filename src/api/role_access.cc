#include "api/role_access.h"

namespace slipway::api {

data::Permission RoleAccess::Check(const data::Collection& c, std::string_view action) const {
  data::Permission p;
  std::optional<ActionGrant> grant = acl_ ? acl_->Check(role_, c.name, action) : std::nullopt;
  if (!grant) return p;
  if (grant->own) {
    if (c.FindField("createdById") == nullptr) return p;
    p.scope = boost::json::object{{"createdById", boost::json::object{{"$eq", user_id_}}}};
  }
  p.allowed = true;
  p.fields = grant->fields;
  if (p.fields && action == "view") {
    p.fields->insert(c.primary_key);
    p.fields->insert("createdAt");
    p.fields->insert("updatedAt");
  }
  return p;
}

}  // namespace slipway::api
