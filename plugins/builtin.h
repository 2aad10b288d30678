// The built-in plugins, in one place and in load order (a plugin after what it depends on), with
// the preset: which are enabled on install, and which are required.
#pragma once

#include <vector>

#include "plugins/builtin_plugin.h"

namespace slipway::plugins {

std::vector<plugins::BuiltinPlugin> BuiltinPlugins();

}  // namespace slipway::plugins
