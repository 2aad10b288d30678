// app:getInfo, NocoBase's: what the application is (version, dialect, state, node), answered to
// anyone on the I/O thread.
#pragma once

#include <string>

#include "api/action_registry.h"
#include "api/lifecycle.h"

namespace slipway::api {

struct AppInfo {
  std::string version;
  std::string dialect;
  std::string node_id;
  const Lifecycle* lifecycle = nullptr;  // outlives the registry
};

void RegisterAppActions(ActionRegistry& registry, AppInfo info);

}  // namespace slipway::api
