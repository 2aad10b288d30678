#include "app/api_handler.h"

#include <memory>

#include "core/logging.h"
#include "http/error_response.h"
#include "http/router.h"

namespace slipway::app {
namespace {

bool WantsHtml(const http::Request& r) {
  std::string_view accept = r.header("accept");
  return accept.find("text/html") != std::string_view::npos;
}

http::Response Run(const Action& action, const http::Request& request, const http::Route& route) {
  ActionRequest ar{request, route};
  Result<http::Response> result = action.fn(ar);
  if (!result.ok()) {
    const Status& s = result.status();
    if (s.code() == StatusCode::kInternal) {
      core::log::Error("action failed", {{"action", route.Key()}, {"error", s.message()}});
    }
    return http::ErrorResponse(s);
  }
  return std::move(result).value();
}

}  // namespace

void ApiHandler::Handle(http::Request&& request, http::Responder respond) {
  std::string_view path = request.path;
  if (path.size() + 1 == base_path_.size() && base_path_.compare(0, path.size(), path) == 0) {
    path = "";  // "/api" itself
  } else if (path.compare(0, base_path_.size(), base_path_) == 0) {
    path.remove_prefix(base_path_.size());
  } else {
    respond(http::ErrorResponse(NotFound("no route for '" + request.path + "'; the API is under " +
                                         base_path_)));
    return;
  }

  if (path == "__health_check") {
    if (lifecycle_.serving()) {
      respond(http::Response::Text(200, "ok"));
    } else {
      http::Response r = http::Response::Text(
          503, std::string(AppStateName(lifecycle_.state())) + ": " + lifecycle_.message());
      r.headers.push_back({"retry-after", "5"});
      respond(std::move(r));
    }
    return;
  }

  if (!lifecycle_.serving()) {
    respond(lifecycle_.MaintenanceResponse(WantsHtml(request)));
    return;
  }

  auto route = http::ParseRoute(request.method, path);
  if (!route.ok()) {
    respond(http::ErrorResponse(route.status()));
    return;
  }
  const Action* action = actions_.Find(route->Key());
  if (action == nullptr) {
    Status missing = actions_.HasResource(route->resource)
                         ? NotFound("action '" + route->action + "' not found on resource '" +
                                    route->resource + "'")
                         : NotFound("resource '" + route->resource + "' not found");
    respond(http::ErrorResponse(missing));
    return;
  }

  if (action->runs_on == RunsOn::kIoThread) {
    respond(Run(*action, request, *route));
    return;
  }
  // The request moves into the task; `respond` is copied so a refused Post can still answer.
  auto task = [action, req = std::move(request), rt = std::move(route).value(), respond]() {
    respond(Run(*action, req, rt));
  };
  Status queued = workers_.Post(std::move(task));
  if (!queued.ok()) respond(http::ErrorResponse(queued));
}

}  // namespace slipway::app
