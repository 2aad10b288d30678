// The built-in plugins, in one place and in load order (a plugin after what it depends on).
#pragma once

#include <memory>
#include <vector>

#include "app/plugin_api.h"

namespace slipway::plugins {

std::vector<std::unique_ptr<app::Plugin>> BuiltinPlugins();

}  // namespace slipway::plugins
