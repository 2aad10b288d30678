// Actions: what runs for "resource:action", and the request it receives.
//
// An action receives an ActionRequest and the Services it may use; neither gives access to the
// Application object itself. Built-in plugins register actions through BuiltinRegistrar;
// external plugins through the public API (include/slipway/plugin.h), which is adapted to this.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/auth_types.h"
#include "api/services.h"
#include "api/snapshot.h"
#include "data/access.h"
#include "http/message.h"
#include "http/router.h"

namespace slipway::api {

struct ActionRequest {
  const http::Request& http;
  const http::Route& route;
  std::shared_ptr<const Snapshot> snapshot;
  boost::json::object params;  // query string parameters, plus filterByTk from the path
  boost::json::value body;     // the JSON body, null when there is none
  std::optional<CurrentUser> user;
  // Record actions: the permission scope ANDed with every filter (e.g. only the user's own
  // records for an ":own" permission); null when unrestricted.
  boost::json::value scope;
  Services& services;
  // What the caller may read and write on every path into a collection (data/access.h); null
  // when unrestricted (root, a configuration permission that governs the collection).
  std::shared_ptr<const data::RecordAccess> access;
  // This request's hold on the snapshot's epoch (Services::HoldEpoch). An action that removes a
  // field or collection resets it before the change: it names nothing of the old schema after
  // that, and the removal's second phase waits for every hold older than the removal.
  std::shared_ptr<void> hold;
};

using ActionFn = std::function<Result<http::Response>(ActionRequest&)>;

enum class RunsOn {
  kIoThread,  // cheap and never blocking: answered on the HTTP thread
  kWorker,    // the database worker pool (DB_POOL_MAX threads)
  // Password hashing (sign-in, password changes: tens of milliseconds of CPU and MiBs each): a
  // small pool of its own with a short queue, so that a flood of sign-ins can neither hold every
  // database worker nor grow memory; past the queue the answer is 503 with Retry-After.
  kHashing,
};

enum class Access {
  kOpen,       // anyone: the health check, app:getInfo, auth:signIn
  kSignedIn,   // any signed-in user
  kConfigure,  // a role whose snippets allow Action::snippet (acl_policy.h)
  kRecords,    // record actions: the role's permission on the collection decides
};

struct Action {
  ActionFn fn;
  RunsOn runs_on = RunsOn::kWorker;
  Access access = Access::kSignedIn;
  // kConfigure: the configuration permission it needs ("pm", "pm.acl.roles", "app", ...).
  std::string snippet;
  // Changes nothing: answered for GET and HEAD as well as POST. Other actions take POST (and the
  // REST method of their name: PUT/PATCH for update, DELETE for destroy); see AllowedMethods.
  bool safe = false;
  // Set for actions that take uploads: decides from the request's head, before any of the body
  // is read, where the body goes (http::BodyPlan: a sink that streams it to disk, or a refusal).
  // Called on the I/O thread: quick, no database. Null: the body is buffered as usual.
  std::function<http::BodyPlan(const http::Request& head, const Snapshot& snapshot)> plan_body;
};

// The HTTP methods an action runs for, NocoBase's: reads take GET, HEAD and POST (its client sends
// some reads as POST); writes take POST, and update also PUT and PATCH, destroy and remove also
// DELETE. OPTIONS is a CORS preflight and runs nothing; anything else is 405.
std::vector<http::Method> AllowedMethods(const Action& action, std::string_view name);

}  // namespace slipway::api
