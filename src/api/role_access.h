// RoleAccess: the data layer's RecordAccess (data/access.h) for one request: the permissions of
// the role it acts as, read from the snapshot's AclPolicy, with ":own" turned into a scope on the
// records the user created.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/acl_policy.h"
#include "data/access.h"

namespace slipway::api {

class RoleAccess final : public data::RecordAccess {
 public:
  // `acl` must outlive this object (the request's snapshot holds both).
  RoleAccess(std::shared_ptr<const AclPolicy> acl, std::string role, int64_t user_id)
      : acl_(std::move(acl)), role_(std::move(role)), user_id_(user_id) {}

  // Refused when the role does not grant `action`, and when it grants only the user's own
  // records of a collection that does not record who created them. A `view` limited to fields
  // also covers the primary key and the timestamps, as in NocoBase.
  data::Permission Check(const data::Collection& c, std::string_view action) const override;
  std::string Who() const override { return "role '" + role_ + "'"; }

 private:
  std::shared_ptr<const AclPolicy> acl_;  // shared with the snapshot
  std::string role_;
  int64_t user_id_;
};

}  // namespace slipway::api
