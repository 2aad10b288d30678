#include "app/api_handler.h"

#include <boost/json.hpp>
#include <memory>

#include "app/record_actions.h"
#include "core/fiber.h"
#include "core/logging.h"
#include "data/schema.h"
#include "http/error_response.h"
#include "http/query_string.h"
#include "http/router.h"

namespace slipway::app {
namespace json = boost::json;

namespace {

constexpr size_t kMaxJsonDepth = 64;

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

Status Authorize(ActionRequest& req, const Action& action, const data::Collection* records) {
  if (action.access == Access::kOpen || action.access == Access::kSignedIn) return Status::Ok();
  const AclPolicy* acl = req.snapshot->acl.get();
  const std::string& role = req.user->role;
  if (action.access == Access::kConfigure) {
    if (acl != nullptr && acl->CanConfigure(role)) return Status::Ok();
    return PermissionDenied("No permissions: role '" + role + "' may not configure the application",
                            "NO_PERMISSION");
  }
  std::vector<std::string> needed = PermissionsFor(req.route.action);
  if (needed.empty()) {
    return NotFound("action '" + req.route.action + "' not found on resource '" +
                    req.route.resource + "'");
  }
  bool own_only = false;
  for (const std::string& perm : needed) {
    Grant g = acl ? acl->Check(role, records->name, perm) : Grant::kDenied;
    if (g == Grant::kDenied) {
      return PermissionDenied(
          "No permissions: role '" + role + "' may not " + perm + " '" + records->name + "'",
          "NO_PERMISSION");
    }
    if (g == Grant::kOwn) own_only = true;
  }
  if (own_only) {
    if (records->FindField("createdById") == nullptr) {
      return PermissionDenied("No permissions: role '" + role + "' may act only on its own '" +
                                  records->name + "' records, which do not record their creator",
                              "NO_PERMISSION");
    }
    req.scope = json::object{{"createdById", json::object{{"$eq", req.user->id}}}};
  }
  return Status::Ok();
}

}  // namespace

const Action kRecordAction{RunRecordAction, RunsOn::kWorker, Access::kRecords};

http::Response ApiHandler::Run(const Action& action, std::shared_ptr<const Snapshot> snapshot,
                               const http::Request& request, const http::Route& route) {
  auto result = [&]() -> Result<http::Response> {
    ActionRequest req{request, route,    std::move(snapshot), {}, nullptr, std::nullopt,
                      nullptr, services_};
    const data::Collection* records = nullptr;
    if (action.access == Access::kRecords) {
      records = RecordCollection(*req.snapshot, route);
      if (records == nullptr) return NotFound("collection '" + route.resource + "' not found");
    }
    ASSIGN_OR_RETURN(req.params, http::ParseQueryString(request.query));
    if (!route.index.empty() && !req.params.contains("filterByTk")) {
      req.params["filterByTk"] = route.index;
    }
    ASSIGN_OR_RETURN(req.body, ParseBody(request));
    if (action.access != Access::kOpen) {
      const Snapshot& snap = *req.snapshot;
      if (!snap.authenticator) return Unauthenticated("no authenticator is enabled", "EMPTY_TOKEN");
      ASSIGN_OR_RETURN(auto conn, services_.pool().AcquireReader());  // single reads only
      ASSIGN_OR_RETURN(req.user, snap.authenticator->Authenticate(request, *conn));
      if (snap.role_resolver) RETURN_IF_ERROR(snap.role_resolver(*req.user, request, *conn));
    }
    RETURN_IF_ERROR(Authorize(req, action, records));
    return action.fn(req);
  }();
  if (!result.ok()) {
    const Status& s = result.status();
    if (s.code() == StatusCode::kInternal) {
      core::log::Error("action failed", {{"action", route.Key()}, {"error", s.message()}});
    }
    return http::ErrorResponse(s);
  }
  return std::move(result).value();
}

// Record actions on PostgreSQL run in a fiber on the I/O thread that read the request
// (src/core/fiber.h): their waits for the database suspend the fiber, not the thread, which saves
// the two thread switches of a trip through the worker pool. Not on SQLite (its calls block); not
// on a collection with a password field, whose writes hash with Argon2id (tens of milliseconds
// of CPU that must not stall the other connections of the thread); not on cluster configuration
// (roles), whose writes reload the snapshot under a mutex held across queries.
bool ApiHandler::RunsInFiber(const data::Collection& collection) const {
  if (services_.pool().per_thread() == 0 || !fiber::CanSpawn()) return false;
  if (collection.cluster_config) return false;
  for (const data::Field& f : collection.fields) {
    if (f.type == data::FieldType::kPassword) return false;
  }
  return true;
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

  if (path == "__health_check") {
    if (lifecycle_.serving()) {
      http::Response ok = http::Response::Text(200, "ok");
      ok.routine = true;
      respond(std::move(ok));
    } else {
      http::Response r = http::Response::Text(
          503, std::string(AppStateName(lifecycle_.state())) + ": " + lifecycle_.message());
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
  if (!lifecycle_.serving() && !(operating && lifecycle_.state() == AppState::kOutOfService)) {
    respond(lifecycle_.MaintenanceResponse(WantsHtml(request)));
    return;
  }
  if (!route.ok()) {
    respond(http::ErrorResponse(route.status()));
    return;
  }
  // The snapshot (with its actions) is taken once; the action runs against that same one.
  std::shared_ptr<const Snapshot> snap = services_.snapshot();
  if (snap->cluster_state != "running" && !operating) {
    // The cluster's gate (slipway maintenance on): every node answers alike.
    std::string message = snap->cluster_message.empty()
                              ? "the application is under maintenance (" + snap->cluster_state + ")"
                              : snap->cluster_message;
    respond(MaintenanceBody("APP_COMMANDING", message, snap->cluster_state, WantsHtml(request)));
    return;
  }
  const Action* action = snap->actions ? snap->actions->Find(route->Key()) : nullptr;
  if (action == nullptr) {
    if (RecordCollection(*snap, *route) != nullptr && IsRecordAction(route->action)) {
      action = &kRecordAction;
    } else if (RecordCollection(*snap, *route) != nullptr ||
               (snap->actions && snap->actions->HasResource(route->resource))) {
      respond(http::ErrorResponse(NotFound("action '" + route->action +
                                           "' not found on resource '" + route->resource + "'")));
      return;
    } else {
      respond(http::ErrorResponse(NotFound(route->is_association()
                                               ? "association '" + route->resource + "' not found"
                                               : "resource '" + route->resource + "' not found")));
      return;
    }
  }

  if (action->runs_on == RunsOn::kIoThread) {
    respond(Run(*action, std::move(snap), request, *route));
    return;
  }
  // The request moves into the task; `respond` is copied so a refused Post can still answer. The
  // snapshot travels with it, which keeps `action` (owned by the snapshot) alive.
  const bool in_fiber = action == &kRecordAction && RunsInFiber(*RecordCollection(*snap, *route));
  auto task = [this, action, snap, req = std::move(request), rt = std::move(route).value(),
               respond]() { respond(Run(*action, snap, req, rt)); };
  if (in_fiber) {
    fiber::Spawn(std::move(task));
    return;
  }
  Status queued = workers_.Post(std::move(task));
  if (!queued.ok()) respond(http::ErrorResponse(queued));
}

}  // namespace slipway::app
