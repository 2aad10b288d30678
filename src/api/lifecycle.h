// Lifecycle: the application's state machine and what a client is told in each state.
//
//   initializing   -> installing | upgrading | running | error | stopping
//   installing     -> running | error | stopping
//   upgrading      -> running | error | stopping
//   running        -> upgrading | error | outdated | out_of_service | stopping
//   out_of_service -> running | outdated | stopping   (it could not apply a cluster change)
//   outdated       -> stopping   (another node upgraded the schema past this binary)
//   error          -> installing | upgrading | stopping
//   stopping       (final)
//
// Only `running` serves the API. In every other state API calls get NocoBase's maintenance
// body (503, Retry-After), and the health check fails; `out_of_service` still lets admins reach
// the endpoints that repair it (see ApiHandler). Thread-safe: the state is read on every
// request without locking (an atomic); the message and command are read under a mutex only when
// a 503 is built.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "http/message.h"
#include "slipway/status.h"

namespace slipway::api {

// NocoBase's maintenance answer: 503, Retry-After, and
// {"error":{"status":503,"maintaining":true,"code":...,"message":...,"command":{"name":...}}}
// (no command when `command` is empty), or an HTML page when the client prefers text/html.
http::Response MaintenanceBody(std::string_view code, std::string_view message,
                               std::string_view command, bool wants_html,
                               std::string_view retry_after = "5");

enum class AppState {
  kInitializing,
  kInstalling,
  kUpgrading,
  kRunning,
  kStopping,
  kError,
  kOutdated,
  kOutOfService,
};
std::string_view AppStateName(AppState state);

class Lifecycle {
 public:
  AppState state() const { return state_.load(std::memory_order_acquire); }
  bool serving() const { return state() == AppState::kRunning; }

  // Moves to `next` with a message shown in the 503 body; Internal if the move is not allowed.
  Status TransitionTo(AppState next, std::string message = {});
  // Updates the message of the current state (progress of a long step).
  void SetMessage(std::string message);
  std::string message() const;

  // NocoBase's maintenance answer for the current state: 503, Retry-After, and
  // {"error":{"status":503,"maintaining":true,"code":...,"message":...,"command":{...}}}
  // or an HTML page when the client prefers text/html.
  http::Response MaintenanceResponse(bool wants_html) const;

 private:
  std::atomic<AppState> state_{AppState::kInitializing};
  mutable std::mutex mu_;
  std::string message_;
};

}  // namespace slipway::api
