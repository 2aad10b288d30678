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
#include <chrono>
#include <functional>
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
  using SteadyTime = std::chrono::steady_clock::time_point;

  AppState state() const { return state_.load(std::memory_order_acquire); }
  // Running, current in the cluster, and not leaving.
  bool serving() const {
    return state() == AppState::kRunning && current() && !leaving_.load(std::memory_order_relaxed);
  }
  // Whether requests other than the health check are served (a leaving node still serves them
  // while the load balancer notices that its health check fails).
  bool serving_requests() const { return state() == AppState::kRunning && current(); }

  // A node of a cluster serves only until the deadline its last good heartbeat set
  // (cluster/cluster_node.h, "Currency"); without one (a command, a test) it always may.
  void SetCurrentUntil(SteadyTime deadline) {
    current_until_.store(deadline.time_since_epoch().count(), std::memory_order_release);
  }
  bool current() const;
  // Called (quick, any thread) when a request finds the node not current: heartbeat now.
  void OnStale(std::function<void()> fn) { on_stale_ = std::move(fn); }
  // SIGTERM: the health check fails from now on while requests are still served (the load
  // balancer takes the node out before it stops accepting).
  void SetLeaving() { leaving_.store(true, std::memory_order_relaxed); }
  bool leaving() const { return leaving_.load(std::memory_order_relaxed); }

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
  std::atomic<SteadyTime::rep> current_until_{0};  // 0: no deadline
  std::atomic<bool> leaving_{false};
  std::function<void()> on_stale_;
  mutable std::mutex mu_;
  std::string message_;
};

}  // namespace slipway::api
