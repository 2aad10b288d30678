// Actions: what `resource:action` URLs run. A registry maps "resource:action" to a handler and
// says where it runs: inline on the HTTP thread (cheap, no I/O) or on a database worker.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "http/message.h"
#include "http/router.h"
#include "slipway/status.h"

namespace slipway::app {

struct ActionRequest {
  const http::Request& http;
  const http::Route& route;
};

using ActionFn = std::function<Result<http::Response>(ActionRequest&)>;

enum class RunsOn { kIoThread, kWorker };

struct Action {
  ActionFn fn;
  RunsOn runs_on = RunsOn::kWorker;
};

class ActionRegistry {
 public:
  void Add(const std::string& resource, const std::string& action, Action a) {
    actions_[resource + ":" + action] = std::move(a);
  }
  const Action* Find(const std::string& key) const {
    auto it = actions_.find(key);
    return it == actions_.end() ? nullptr : &it->second;
  }
  bool HasResource(const std::string& resource) const {
    auto it = actions_.lower_bound(resource + ":");
    return it != actions_.end() && it->first.compare(0, resource.size() + 1, resource + ":") == 0;
  }

 private:
  std::map<std::string, Action> actions_;
};

}  // namespace slipway::app
