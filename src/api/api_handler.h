// ApiHandler: the http::Handler for everything under API_BASE_PATH.
//
// For each request, in order: a method outside HTTP's usual set (TRACE, invented ones) is 405
// and OPTIONS is answered as a CORS preflight, both running nothing; the health check (inline,
// never gated); the lifecycle gate (503 maintenance body unless running); the route; the action
// (a registered one, else a record action on a collection of the current snapshot, else one that
// answers 404); then, on a database worker (or, for record actions on PostgreSQL, in a fiber on
// the I/O thread: RunsInFiber; or, for password hashing, on the hashing pool), the caller is
// authenticated first (so that an anonymous caller learns nothing about names, methods or
// input: it gets 401), the method checked against the action's (405 with Allow), the parameters
// and body parsed, the caller authorized (acl_policy.h), and the action run with every exception
// turned into a 500. Every failure is a Status turned into NocoBase's error body by one function.
#pragma once

#include <atomic>
#include <string>

#include "api/action.h"
#include "api/action_registry.h"
#include "api/lifecycle.h"
#include "core/thread_pool.h"
#include "http/message.h"

namespace slipway::api {

class ApiHandler final : public http::Handler {
 public:
  // `hashing` runs RunsOn::kHashing actions (plugin_api.h).
  ApiHandler(std::string base_path, const Lifecycle& lifecycle, core::ThreadPool& workers,
             core::ThreadPool& hashing, Services& services)
      : base_path_(std::move(base_path)),
        lifecycle_(lifecycle),
        workers_(workers),
        hashing_(hashing),
        services_(services) {}

  void Handle(http::Request&& request, http::Responder respond) override;
  // An action's own plan for its body (Action::plan_body), when the node serves requests.
  http::BodyPlan PlanBody(const http::Request& head) override;

 private:
  bool RunsInFiber(const data::Collection& collection) const;
  // `hold` marks the request as using the snapshot's epoch (Services::HoldEpoch) until it ends.
  void Dispatch(const Action& action, std::shared_ptr<const Snapshot> snap,
                std::shared_ptr<void> hold, http::Request&& request, http::Route&& route,
                const http::Responder& respond);
  http::Response Run(const Action& action, std::shared_ptr<const Snapshot> snapshot,
                     std::shared_ptr<void> hold, const http::Request& request,
                     const http::Route& route);

  // Requests handed to a worker, a fiber or the hashing pool and not yet answered.
  std::atomic<int> waiting_{0};
  const std::string base_path_;
  const Lifecycle& lifecycle_;
  core::ThreadPool& workers_;
  core::ThreadPool& hashing_;
  Services& services_;
};

// The record action for collection routes (list, get, create, ...), used when no plugin
// registered the exact resource:action.
extern const Action kRecordAction;

}  // namespace slipway::api
