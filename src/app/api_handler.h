// ApiHandler: the http::Handler for everything under API_BASE_PATH.
//
// Order of checks for each request: the health check (answered inline, never gated); the
// lifecycle gate (503 maintenance body unless running); the route; the action, run inline or on
// a database worker. Every failure is a Status turned into NocoBase's error body by one function.
#pragma once

#include <string>

#include "app/actions.h"
#include "app/lifecycle.h"
#include "core/thread_pool.h"
#include "http/message.h"

namespace slipway::app {

class ApiHandler final : public http::Handler {
 public:
  ApiHandler(std::string base_path, const Lifecycle& lifecycle, const ActionRegistry& actions,
             core::ThreadPool& workers)
      : base_path_(std::move(base_path)),
        lifecycle_(lifecycle),
        actions_(actions),
        workers_(workers) {}

  void Handle(http::Request&& request, http::Responder respond) override;

 private:
  const std::string base_path_;
  const Lifecycle& lifecycle_;
  const ActionRegistry& actions_;
  core::ThreadPool& workers_;
};

}  // namespace slipway::app
