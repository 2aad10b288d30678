// ApiHandler: the http::Handler for everything under API_BASE_PATH.
//
// For each request, in order: the health check (inline, never gated); the lifecycle gate (503
// maintenance body unless running); the route; the action (a registered one, else a record
// action on a collection of the current snapshot); then, on a database worker (or, for record
// actions on PostgreSQL, in a fiber on the I/O thread: RunsInFiber), the parameters
// and body are parsed, the caller authenticated and authorized, and the action run. Every
// failure is a Status turned into NocoBase's error body by one function.
#pragma once

#include <string>

#include "app/actions.h"
#include "app/lifecycle.h"
#include "app/plugin_api.h"
#include "core/thread_pool.h"
#include "http/message.h"

namespace slipway::app {

class ApiHandler final : public http::Handler {
 public:
  ApiHandler(std::string base_path, const Lifecycle& lifecycle, core::ThreadPool& workers,
             Services& services)
      : base_path_(std::move(base_path)),
        lifecycle_(lifecycle),
        workers_(workers),
        services_(services) {}

  void Handle(http::Request&& request, http::Responder respond) override;

 private:
  bool RunsInFiber(const data::Collection& collection) const;
  http::Response Run(const Action& action, std::shared_ptr<const Snapshot> snapshot,
                     const http::Request& request, const http::Route& route);

  const std::string base_path_;
  const Lifecycle& lifecycle_;
  core::ThreadPool& workers_;
  Services& services_;
};

// The record action for collection routes (list, get, create, ...), used when no plugin
// registered the exact resource:action.
extern const Action kRecordAction;

}  // namespace slipway::app
