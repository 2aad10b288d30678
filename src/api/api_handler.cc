#include "api/api_handler.h"

#include <algorithm>
#include <boost/json.hpp>
#include <exception>
#include <memory>

#include "api/record_actions.h"
#include "api/role_access.h"
#include "core/cancel.h"
#include "core/fiber.h"
#include "core/guard.h"
#include "core/logging.h"
#include "data/schema.h"
#include "http/error_response.h"
#include "http/query_string.h"
#include "http/router.h"

namespace slipway::api {
namespace json = boost::json;

namespace {

constexpr size_t kMaxJsonDepth = 64;
// What a preflight and a method outside the usual set are told: every method some action takes.
constexpr const char* kAnyApiMethod = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

bool WantsHtml(const http::Request& r) {
  return r.header("accept").find("text/html") != std::string_view::npos;
}

Result<json::value> ParseBody(const http::Request& r) {
  if (r.body.empty()) return json::value(nullptr);
  std::string_view type = r.header("content-type");
  if (type.find("multipart/form-data") != std::string_view::npos) {
    return json::value(nullptr);  // uploads: the action reads the raw body (pm:add)
  }
  if (type.find("application/x-www-form-urlencoded") != std::string_view::npos) {
    ASSIGN_OR_RETURN(json::object form, http::ParseQueryString(r.body));
    return json::value(std::move(form));
  }
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  size_t used = parser.write(r.body.data(), r.body.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return InvalidArgument("malformed JSON body at position " + std::to_string(used) + ": " +
                           ec.message());
  }
  return parser.release();
}

// The collection a record route reads or writes: the resource itself, or an association's
// target. Null when the route names no collection of the snapshot.
const data::Collection* RecordCollection(const Snapshot& snap, const http::Route& route) {
  if (!snap.schema) return nullptr;
  if (!route.is_association()) return snap.schema->Find(route.resource);
  const data::Collection* source = snap.schema->Find(route.source);
  if (source == nullptr) return nullptr;
  const data::Field* rel = source->FindField(route.association);
  if (rel == nullptr || !data::IsRelation(rel->type)) return nullptr;
  return snap.schema->Find(rel->target);
}

std::string MethodList(const std::vector<http::Method>& methods) {
  std::string out;
  for (http::Method m : methods) out += (out.empty() ? "" : ", ") + std::string(MethodName(m));
  return out;
}

http::Response MethodNotAllowed(std::string_view method, std::string_view what,
                                const std::string& allow) {
  http::Response r = http::ErrorResponse(405,
                                         "method " + std::string(method) + " is not allowed for " +
                                             std::string(what) + " (allowed: " + allow + ")",
                                         "METHOD_NOT_ALLOWED");
  r.headers.push_back({"allow", allow});
  return r;
}

// A CORS preflight: says what a browser may send; runs nothing and reveals nothing about the
// route (preflights carry no credentials).
http::Response Preflight(const http::Request& request) {
  http::Response r;
  r.status = 204;
  r.content_type.clear();
  r.headers.push_back({"allow", kAnyApiMethod});
  r.headers.push_back({"access-control-allow-origin", "*"});
  r.headers.push_back({"access-control-allow-methods", kAnyApiMethod});
  std::string_view asked = request.header("access-control-request-headers");
  r.headers.push_back({"access-control-allow-headers",
                       asked.empty() ? "Authorization, Content-Type, X-Role, X-Authenticator, "
                                       "X-Locale, X-Timezone, X-Hostname, X-Request-Id"
                                     : std::string(asked)});
  r.headers.push_back({"access-control-max-age", "600"});
  return r;
}

Status NoConfigurePermission(const std::string& role, const std::string& snippet,
                             const http::Route& route) {
  return PermissionDenied(
      "No permissions: role '" + role + "' may not use '" + snippet + "' (" + route.Key() + ")",
      "NO_PERMISSION");
}

// Decides whether the caller may run `action` (acl_policy.h), and for record actions what it may
// touch: req.scope (its own records) and req.access (every path into a collection).
Status Authorize(ActionRequest& req, const Action& action, const data::Collection* records) {
  if (action.access == Access::kOpen || action.access == Access::kSignedIn) return Status::Ok();
  const Snapshot& snap = *req.snapshot;
  const std::string& role = req.user->role;
  auto snippet_allowed = [&](const std::string& snippet) {
    return role == "root" || (snap.acl != nullptr && snap.acl->SnippetAllowed(role, snippet));
  };
  if (action.access == Access::kConfigure) {
    if (snippet_allowed(action.snippet)) return Status::Ok();
    return NoConfigurePermission(role, action.snippet, req.route);
  }
  // System collections (users, roles) are configuration: their snippet decides, all or nothing.
  const data::Collection* source =
      req.route.is_association() ? snap.schema->Find(req.route.source) : nullptr;
  bool governed_target = false;
  for (const data::Collection* c : {source, records}) {
    if (c == nullptr) continue;
    auto governed = snap.governed.find(c->name);
    if (governed == snap.governed.end()) continue;
    if (!snippet_allowed(governed->second)) {
      return NoConfigurePermission(role, governed->second, req.route);
    }
    if (c == records) governed_target = true;
  }
  if (role == "root" || governed_target) return Status::Ok();  // unrestricted
  std::vector<std::string> needed = PermissionsFor(req.route.action);
  if (needed.empty()) {
    return NotFound("action '" + req.route.action + "' not found on resource '" +
                    req.route.resource + "'");
  }
  auto access = std::make_shared<RoleAccess>(snap.acl, role, req.user->id);
  if (source != nullptr && snap.governed.count(source->name) == 0 &&
      !access->Check(*source, "view").allowed) {
    return data::NoPermission(*access, "view '" + source->name + "'");
  }
  const std::string& name = req.route.action;
  if (source != nullptr &&
      (name == "add" || name == "remove" || name == "set" || name == "toggle")) {
    // Changing links changes the source record's relation field.
    data::Permission update = access->Check(*source, "update");
    if (!update.allowed || !update.AllowsField(req.route.association)) {
      return data::NoPermission(*access,
                                "update '" + source->name + "." + req.route.association + "'");
    }
    // A hasMany's or hasOne's links are the targets' foreign keys: as for a write that sets the
    // relation, the caller must be able to update every target record.
    const data::Field* rel = source->FindField(req.route.association);
    if (rel != nullptr && data::KeyOnTarget(rel->type)) {
      data::Permission targets = access->Check(*records, "update");
      if (!targets.allowed || !targets.scope.is_null() || !targets.AllowsField(rel->foreign_key)) {
        return data::NoPermission(*access, "update every '" + records->name +
                                               "' record (through '" + source->name + "." +
                                               rel->name + "')");
      }
    }
  }
  if (records->is_through) {
    // A join table says which records of two collections are linked: reading it needs view on
    // both, writing it (links made around the association endpoints) update on every record of
    // both.
    const bool reads = req.route.action == "list" || req.route.action == "get";
    for (const auto& [name, c] : snap.schema->collections()) {
      for (const data::Field& f : c->fields) {
        if (f.type != data::FieldType::kBelongsToMany || f.through != records->name) continue;
        for (const data::Collection* side : {c.get(), snap.schema->Find(f.target)}) {
          if (side == nullptr) continue;
          data::Permission p = access->Check(*side, reads ? "view" : "update");
          if (!p.allowed || (!reads && !p.scope.is_null())) {
            return data::NoPermission(*access, std::string(reads ? "view" : "update every") + " '" +
                                                   side->name + "' (joined by '" + records->name +
                                                   "')");
          }
        }
      }
    }
  }
  for (const std::string& perm : needed) {
    data::Permission p = access->Check(*records, perm);
    if (!p.allowed) return data::NoPermission(*access, perm + " '" + records->name + "'");
    if (!p.scope.is_null()) req.scope = p.scope;  // only the user's own records
  }
  req.access = std::move(access);
  return Status::Ok();
}

// Answers routes that name no action: 404 for a signed-in caller, 401 for anyone else (so that
// the names of collections and actions cannot be probed anonymously).
const Action kNotFoundAction{
    [](ActionRequest& req) -> Result<http::Response> {
      const Snapshot& snap = *req.snapshot;
      if (RecordCollection(snap, req.route) != nullptr ||
          (snap.actions && snap.actions->HasResource(req.route.resource))) {
        return NotFound("action '" + req.route.action + "' not found on resource '" +
                        req.route.resource + "'");
      }
      return NotFound(req.route.is_association()
                          ? "association '" + req.route.resource + "' not found"
                          : "resource '" + req.route.resource + "' not found");
    },
    RunsOn::kWorker, Access::kSignedIn, "", /*safe=*/true};

// A request refused because too many wait for the database (DB_QUEUE_LIMIT).
http::Response Busy() {
  http::Response r = http::ErrorResponse(
      503, "the node has too many requests waiting for the database; try again in a moment",
      "TOO_MANY_REQUESTS_WAITING");
  r.headers.push_back({"retry-after", "1"});
  return r;
}

// The answer to a request whose client went away (nobody reads it) or that the node stopped.
http::Response Gone() {
  return http::ErrorResponse(503,
                             "the request was cancelled: its client went away or the node "
                             "is stopping",
                             db::kCancelled);
}

}  // namespace

std::vector<http::Method> AllowedMethods(const Action& action, std::string_view name) {
  using http::Method;
  if (action.safe || name == "list" || name == "get") {
    return {Method::kGet, Method::kHead, Method::kPost};
  }
  std::vector<Method> out = {Method::kPost};
  if (name == "update") {
    out.push_back(Method::kPut);
    out.push_back(Method::kPatch);
  }
  if (name == "destroy" || name == "remove") out.push_back(Method::kDelete);
  return out;
}

const Action kRecordAction{RunRecordAction, RunsOn::kWorker, Access::kRecords, "", false};

http::Response ApiHandler::Run(const Action& action, std::shared_ptr<const Snapshot> snapshot,
                               std::shared_ptr<void> hold, const http::Request& request,
                               const http::Route& route) {
  // The request's statements get the node's limit, and stop when its client goes away.
  core::CancelToken* token = request.cancel.get();
  if (token != nullptr) {
    if (token->cancelled()) return Gone();
    token->set_statement_limit(services_.config().db.statement_timeout);
  }
  core::CancelScope scope(token);
  auto run = [&]() -> Result<http::Response> {
    ActionRequest req{request,      route,   std::move(snapshot), {},      nullptr,
                      std::nullopt, nullptr, services_,           nullptr, std::move(hold)};
    const data::Collection* records = nullptr;
    if (action.access == Access::kRecords) {
      records = RecordCollection(*req.snapshot, route);
      if (records == nullptr) return NotFound("collection '" + route.resource + "' not found");
    }
    // Who is asking, first: an anonymous caller learns nothing from the answers below.
    if (action.access != Access::kOpen) {
      const Snapshot& snap = *req.snapshot;
      if (!snap.authenticator) return Unauthenticated("no authenticator is enabled", "EMPTY_TOKEN");
      ASSIGN_OR_RETURN(auto conn, services_.pool().AcquireReader());  // single reads only
      ASSIGN_OR_RETURN(req.user, snap.authenticator->Authenticate(request, *conn));
      if (snap.role_resolver) RETURN_IF_ERROR(snap.role_resolver(*req.user, request, *conn));
    }
    std::vector<http::Method> allowed = AllowedMethods(action, route.action);
    if (std::find(allowed.begin(), allowed.end(), request.method) == allowed.end()) {
      return MethodNotAllowed(MethodName(request.method), "'" + route.Key() + "'",
                              MethodList(allowed) + ", OPTIONS");
    }
    ASSIGN_OR_RETURN(req.params, http::ParseQueryString(request.query));
    if (!route.index.empty() && !req.params.contains("filterByTk")) {
      req.params["filterByTk"] = route.index;
    }
    ASSIGN_OR_RETURN(req.body, ParseBody(request));
    RETURN_IF_ERROR(Authorize(req, action, records));
    return action.fn(req);
  };
  // Plugin code runs in here (the action, the authenticator, the role resolver, hooks): an
  // exception that escapes it is a 500 for this request, never the end of the process.
  Result<http::Response> result = Internal("unset");
  Status guarded = core::Guard("action '" + route.Key() + "'", "", [&] {
    result = run();
    return Status::Ok();
  });
  if (!guarded.ok()) result = guarded;
  if (!result.ok()) {
    const Status& s = result.status();
    if (s.code() == StatusCode::kInternal) {
      core::log::Error("action failed", {{"action", route.Key()}, {"error", s.message()}});
    }
    if (s.tag() == db::kStatementTimeout) {
      core::log::Warn("statement past its limit",
                      {{"action", route.Key()}, {"path", request.path}, {"error", s.message()}});
      http::Response r = http::ErrorResponse(Unavailable(
          "the request took longer than DB_STATEMENT_TIMEOUT (" +
              std::to_string(services_.config().db.statement_timeout.count()) +
              " ms) allows; narrow the filter, sort or filter on an indexed field, or page by "
              "cursor",
          db::kStatementTimeout));
      r.headers.push_back({"retry-after", "1"});
      return r;
    }
    if (s.tag() == db::kCancelled) return Gone();
    if (s.tag() == db::kDatabaseUnavailable) {
      // Where the database is and what libpq said are for the operator, not for clients.
      core::log::Warn("database unavailable", {{"action", route.Key()}, {"error", s.message()}});
      return http::ErrorResponse(Unavailable("the database is unavailable; try again in a moment",
                                             db::kDatabaseUnavailable));
    }
    return http::ErrorResponse(s);
  }
  return std::move(result).value();
}

// Record actions on PostgreSQL run in a fiber on the I/O thread that read the request
// (src/core/fiber.h): their waits for the database suspend the fiber, not the thread, which saves
// the two thread switches of a trip through the worker pool. Not on SQLite (its calls block); not
// on a collection with a password field, whose writes hash with Argon2id (milliseconds of CPU
// that must not stall the other connections of the thread); not on cluster configuration
// (roles), whose writes reload the snapshot under a mutex held across queries.
bool ApiHandler::RunsInFiber(const data::Collection& collection) const {
  if (services_.pool().per_thread() == 0 || !fiber::CanSpawn()) return false;
  if (collection.cluster_config) return false;
  for (const data::Field& f : collection.fields) {
    if (f.type == data::FieldType::kPassword) return false;
  }
  return true;
}

http::BodyPlan ApiHandler::PlanBody(const http::Request& head) {
  // Only uploads stream: every other body is buffered, and costs nothing more here.
  if (head.method != http::Method::kPost ||
      head.header("content-type").find("multipart/form-data") == std::string_view::npos ||
      !lifecycle_.serving_requests()) {
    return {};
  }
  std::string_view path = head.path;
  if (path.compare(0, base_path_.size(), base_path_) != 0) return {};
  path.remove_prefix(base_path_.size());
  auto route = http::ParseRoute(head.method, path);
  if (!route.ok()) return {};
  std::shared_ptr<const Snapshot> snap = services_.snapshot();
  const Action* action = snap->actions ? snap->actions->Find(route->Key()) : nullptr;
  if (action == nullptr || !action->plan_body) return {};
  http::BodyPlan plan;
  Status guarded = core::Guard("body plan of '" + route->Key() + "'", "", [&] {
    plan = action->plan_body(head, *snap);
    return Status::Ok();
  });
  if (!guarded.ok()) plan.reject = http::ErrorResponse(guarded);
  return plan;
}

void ApiHandler::Handle(http::Request&& request, http::Responder respond) {
  std::string_view path = request.path;
  if (path.size() + 1 == base_path_.size() && base_path_.compare(0, path.size(), path) == 0) {
    path = "";  // "/api" itself
  } else if (path.compare(0, base_path_.size(), base_path_) == 0) {
    path.remove_prefix(base_path_.size());
  } else {
    respond(http::ErrorResponse(
        NotFound("no route for '" + request.path + "'; the API is under " + base_path_)));
    return;
  }
  if (request.method == http::Method::kOther) {
    respond(MethodNotAllowed("'" + request.method_text + "'", "the API", kAnyApiMethod));
    return;
  }
  if (request.method == http::Method::kOptions) {
    respond(Preflight(request));
    return;
  }
  // A browser's cross-origin request (after its preflight) may read the answer.
  if (!request.header("origin").empty()) {
    respond = [inner = std::move(respond)](http::Response r) {
      r.headers.push_back({"access-control-allow-origin", "*"});
      inner(std::move(r));
    };
  }

  const core::WorkerMode& mode = services_.config().worker_mode;
  if (path == "__health_check") {
    if (!mode.serves_requests && lifecycle_.serving()) {
      // A node that takes no requests (WORKER_MODE) is never healthy to a load balancer; once
      // it runs, it says so (what a cluster driver waits for), and before that why it does not.
      http::Response r = http::Response::Text(
          503, "takes no requests: WORKER_MODE=" + mode.text + " (tasks only, or neither)");
      r.routine = true;
      respond(std::move(r));
    } else if (lifecycle_.serving()) {
      http::Response ok = http::Response::Text(200, "ok");
      ok.routine = true;
      respond(std::move(ok));
    } else {
      std::string why =
          lifecycle_.leaving() ? "leaving: the node is shutting down"
          : lifecycle_.state() == AppState::kRunning && !lifecycle_.current()
              ? "rejoining: the node is catching up with the cluster"
              : std::string(AppStateName(lifecycle_.state())) + ": " + lifecycle_.message();
      http::Response r = http::Response::Text(503, why);
      r.headers.push_back({"retry-after", "5"});
      respond(std::move(r));
    }
    return;
  }

  auto route = http::ParseRoute(request.method, path);
  // What repairs a node or the cluster stays reachable when the rest is gated.
  const bool operating =
      route.ok() && (route->resource == "maintenance" || route->resource == "cluster" ||
                     route->resource == "pm" || route->resource == "auth");
  // What reports on a restore under way stays reachable through its gate.
  const bool watching =
      route.ok() &&
      ((route->resource == "backups" &&
        (route->action == "restoreStatus" || route->action == "taskStatus")) ||
       (route->resource == "asyncTasks" && (route->action == "get" || route->action == "list")));
  if (!lifecycle_.serving_requests() &&
      !(operating && lifecycle_.state() == AppState::kOutOfService)) {
    respond(lifecycle_.MaintenanceResponse(WantsHtml(request)));
    return;
  }
  if (!mode.serves_requests && !operating) {
    respond(http::ErrorResponse(Unavailable(
        "this node takes no requests (WORKER_MODE=" + mode.text + "); send them to another node",
        "WORKER_NODE")));
    return;
  }
  if (!route.ok()) {
    respond(http::ErrorResponse(route.status()));
    return;
  }
  // The snapshot (with its actions) is taken once; the action runs against that same one. Its
  // epoch is held from here, while the request waits for a thread too, so that a removal does
  // not drop a column a queued request will name; the hold is checked against the current
  // snapshot after it is taken (a removal that published in between may not have seen it).
  std::shared_ptr<const Snapshot> snap = services_.snapshot();
  std::shared_ptr<void> hold = services_.HoldEpoch(snap->epoch);
  for (std::shared_ptr<const Snapshot> now = services_.snapshot(); now->epoch != snap->epoch;
       now = services_.snapshot()) {
    snap = std::move(now);
    hold = services_.HoldEpoch(snap->epoch);
  }
  if (snap->cluster_state != "running" && !operating && !watching) {
    // The cluster's gate (slipway maintenance on): every node answers alike.
    std::string message = snap->cluster_message.empty()
                              ? "the application is under maintenance (" + snap->cluster_state + ")"
                              : snap->cluster_message;
    respond(MaintenanceBody("APP_COMMANDING", message, snap->cluster_state, WantsHtml(request)));
    return;
  }
  const Action* action = snap->actions ? snap->actions->Find(route->Key()) : nullptr;
  if (action == nullptr) {
    action = RecordCollection(*snap, *route) != nullptr && IsRecordAction(route->action)
                 ? &kRecordAction
                 : &kNotFoundAction;
  }
  Dispatch(*action, std::move(snap), std::move(hold), std::move(request), std::move(route).value(),
           respond);
}

void ApiHandler::Dispatch(const Action& action, std::shared_ptr<const Snapshot> snap,
                          std::shared_ptr<void> hold, http::Request&& request, http::Route&& route,
                          const http::Responder& respond) {
  if (action.runs_on == RunsOn::kIoThread) {
    respond(Run(action, std::move(snap), std::move(hold), request, route));
    return;
  }
  const data::Collection* records =
      &action == &kRecordAction ? RecordCollection(*snap, route) : nullptr;
  bool hashes = action.runs_on == RunsOn::kHashing;
  if (records != nullptr && route.action != "list" && route.action != "get") {
    for (const data::Field& f : records->fields) {
      if (f.type == data::FieldType::kPassword) hashes = true;  // a write may hash a password
    }
  }
  const bool in_fiber = records != nullptr && !hashes && RunsInFiber(*records);
  // Past DB_QUEUE_LIMIT requests waiting for the database, one more is refused rather than
  // waiting behind them.
  const int limit = services_.config().db.queue_limit;
  if (waiting_.fetch_add(1) >= limit + workers_.size()) {
    waiting_.fetch_sub(1);
    respond(Busy());
    return;
  }
  // The request moves into the task; `respond` is copied so a refused Post can still answer. The
  // snapshot travels with it, which keeps `action` (owned by the snapshot) alive. A request whose
  // client left while it waited is not run (Run answers Gone() first).
  auto task = [this, &action, snap, hold = std::move(hold), req = std::move(request),
               rt = std::move(route), respond]() mutable {
    http::Response response = Run(action, snap, std::move(hold), req, rt);
    waiting_.fetch_sub(1);
    // An upload's sink removes the files the action did not keep before the client hears the
    // answer: whoever sees the answer sees the disk as it is left.
    req.sink.reset();
    respond(std::move(response));
  };
  if (in_fiber) {
    fiber::Spawn(std::move(task));
    return;
  }
  if (hashes) {
    if (!hashing_.Post(std::move(task)).ok()) {
      waiting_.fetch_sub(1);
      http::Response busy = http::ErrorResponse(
          503, "too many sign-ins and password changes in progress; try again in a moment",
          "TOO_MANY_HASHES");
      busy.headers.push_back({"retry-after", "1"});
      respond(std::move(busy));
    }
    return;
  }
  if (!workers_.Post(std::move(task)).ok()) {
    waiting_.fetch_sub(1);
    respond(Busy());
  }
}

}  // namespace slipway::api
