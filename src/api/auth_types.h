// Who a request comes from, and the interfaces that decide it (implemented by the built-in users
// and acl plugins through BuiltinRegistrar).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/acl_policy.h"
#include "http/message.h"
#include "slipway/database.h"

namespace slipway::api {

struct CurrentUser {
  int64_t id = 0;
  std::string role;                // the role this request acts as
  std::vector<std::string> roles;  // every role the user has
};

// Resolves a request's credentials. The connection both interfaces get may be a fiber's shared
// read pipeline (db/database.h, Pool::AcquireReader): single-statement reads only, no
// transactions, and no mutex held across a query.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Unauthenticated with NocoBase's codes: EMPTY_TOKEN, INVALID_TOKEN, EXPIRED_TOKEN,
  // BLOCKED_TOKEN, NOT_EXIST_USER.
  virtual Result<CurrentUser> Authenticate(const http::Request& request, db::Connection& conn) = 0;
};

// Fills in the roles of an authenticated user and picks the one this request acts as (the
// X-Role header, else the user's default role).
using RoleResolver =
    std::function<Status(CurrentUser& user, const http::Request& request, db::Connection& conn)>;

// Builds the permission policy from the database.
using AclLoader = std::function<Result<std::shared_ptr<const AclPolicy>>(db::Connection&)>;

}  // namespace slipway::api
