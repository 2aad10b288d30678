#include "api/lifecycle.h"

#include "core/json_writer.h"

namespace slipway::api {

std::string_view AppStateName(AppState state) {
  switch (state) {
    case AppState::kInitializing:
      return "initializing";
    case AppState::kInstalling:
      return "installing";
    case AppState::kUpgrading:
      return "upgrading";
    case AppState::kRunning:
      return "running";
    case AppState::kStopping:
      return "stopping";
    case AppState::kError:
      return "error";
    case AppState::kOutdated:
      return "outdated";
    case AppState::kOutOfService:
      return "out_of_service";
  }
  return "unknown";
}

namespace {

bool Allowed(AppState from, AppState to) {
  if (to == AppState::kStopping) return from != AppState::kStopping;
  switch (from) {
    case AppState::kInitializing:
      return to == AppState::kInstalling || to == AppState::kUpgrading ||
             to == AppState::kRunning || to == AppState::kError;
    case AppState::kInstalling:
    case AppState::kUpgrading:
      return to == AppState::kRunning || to == AppState::kError;
    case AppState::kRunning:
      return to == AppState::kUpgrading || to == AppState::kError || to == AppState::kOutdated ||
             to == AppState::kOutOfService;
    case AppState::kOutOfService:
      return to == AppState::kRunning || to == AppState::kOutdated;
    case AppState::kOutdated:
      return false;
    case AppState::kError:
      return to == AppState::kInstalling || to == AppState::kUpgrading;
    case AppState::kStopping:
      return false;
  }
  return false;
}

// NocoBase's gateway codes for each state.
const char* CodeFor(AppState state) {
  switch (state) {
    case AppState::kInitializing:
      return "APP_INITIALIZING";
    case AppState::kInstalling:
    case AppState::kUpgrading:
      return "APP_COMMANDING";
    case AppState::kError:
      return "APP_ERROR";
    case AppState::kOutOfService:
      return "APP_ERROR";
    case AppState::kOutdated:
      return "APP_OUTDATED";
    case AppState::kStopping:
      return "APP_STOPPED";
    case AppState::kRunning:
      return "APP_RUNNING";
  }
  return "APP_ERROR";
}

const char* CommandFor(AppState state) {
  switch (state) {
    case AppState::kInstalling:
      return "install";
    case AppState::kUpgrading:
      return "upgrade";
    default:
      return nullptr;
  }
}

std::string DefaultMessage(AppState state) {
  switch (state) {
    case AppState::kInitializing:
      return "application main is initializing";
    case AppState::kInstalling:
      return "installing";
    case AppState::kUpgrading:
      return "upgrading";
    case AppState::kStopping:
      return "application main is stopping";
    case AppState::kError:
      return "application main failed to start";
    case AppState::kOutdated:
      return "the database was upgraded past this node's version";
    case AppState::kOutOfService:
      return "this node could not apply a cluster change";
    case AppState::kRunning:
      return "application main is running";
  }
  return "";
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Status Lifecycle::TransitionTo(AppState next, std::string message) {
  std::lock_guard lock(mu_);
  AppState current = state_.load();
  if (!Allowed(current, next)) {
    return Internal("lifecycle cannot go from " + std::string(AppStateName(current)) + " to " +
                    std::string(AppStateName(next)));
  }
  message_ = message.empty() ? DefaultMessage(next) : std::move(message);
  state_.store(next, std::memory_order_release);
  return Status::Ok();
}

void Lifecycle::SetMessage(std::string message) {
  std::lock_guard lock(mu_);
  message_ = std::move(message);
}

std::string Lifecycle::message() const {
  std::lock_guard lock(mu_);
  return message_.empty() ? DefaultMessage(state()) : message_;
}

http::Response MaintenanceBody(std::string_view code, std::string_view message,
                               std::string_view command, bool wants_html,
                               std::string_view retry_after) {
  http::Response r;
  r.status = 503;
  r.headers.push_back({"retry-after", std::string(retry_after)});
  if (wants_html) {
    r.content_type = "text/html; charset=utf-8";
    r.body =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Maintenance</title>"
        "<meta http-equiv=\"refresh\" content=\"5\"></head><body><h1>Under maintenance</h1>"
        "<p>" +
        HtmlEscape(message) + "</p><p>This page reloads by itself.</p></body></html>";
    return r;
  }
  core::JsonWriter w(&r.body);
  w.BeginObject().Key("error").BeginObject();
  w.Key("status").Int(503);
  w.Key("maintaining").Bool(true);
  w.Key("code").String(code);
  w.Key("message").String(message);
  if (!command.empty()) w.Key("command").BeginObject().Key("name").String(command).EndObject();
  w.EndObject().EndObject();
  return r;
}

bool Lifecycle::current() const {
  auto until = current_until_.load(std::memory_order_acquire);
  if (until == 0 || std::chrono::steady_clock::now().time_since_epoch().count() < until) {
    return true;
  }
  if (on_stale_) on_stale_();
  return false;
}

http::Response Lifecycle::MaintenanceResponse(bool wants_html) const {
  AppState s = state();
  if (s == AppState::kRunning && !current()) {
    return MaintenanceBody("NODE_REJOINING",
                           "this node lost touch with the cluster for a while and is catching up; "
                           "try again in a moment",
                           "", wants_html, "1");
  }
  const char* command = CommandFor(s);
  return MaintenanceBody(CodeFor(s), message(), command ? command : "", wants_html,
                         s == AppState::kError || s == AppState::kOutdated ? "30" : "5");
}

}  // namespace slipway::api
