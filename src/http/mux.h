// Mux: the server's one handler when a node serves more than its API: requests under a static
// files prefix (StaticFiles, e.g. /storage/uploads) are answered from disk on the I/O thread;
// every other request, and every body plan, goes to the fallback (the API handler).
//
// Thread-safety: configured before the server starts, then read-only.
#pragma once

#include <optional>

#include "http/message.h"
#include "http/static_files.h"

namespace slipway::http {

class Mux final : public Handler {
 public:
  explicit Mux(Handler& fallback) : fallback_(fallback) {}
  void ServeFiles(StaticFiles files) { files_.emplace(std::move(files)); }

  void Handle(Request&& request, Responder respond) override {
    if (files_ && files_->Matches(request.path)) {
      respond(files_->Serve(request));
      return;
    }
    fallback_.Handle(std::move(request), std::move(respond));
  }
  BodyPlan PlanBody(const Request& head) override {
    if (files_ && files_->Matches(head.path)) return {};  // GET and HEAD only; others get 405
    return fallback_.PlanBody(head);
  }

 private:
  Handler& fallback_;
  std::optional<StaticFiles> files_;
};

}  // namespace slipway::http
