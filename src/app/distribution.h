// Distribution: what differs between the product binary and the test-only binaries built for
// upgrade tests. Light on purpose: main() builds one without including the application.
#pragma once

#include <functional>
#include <vector>

#include "core/build_info.h"
#include "db/migration.h"
#include "plugins/builtin_plugin.h"

namespace slipway::app {

struct Distribution {
  core::BuildInfo build;
  std::vector<db::Migration> extra_migrations;  // appended to the core's
  // The built-in plugins, in load order (a plugin after those it depends on), with the preset.
  std::function<std::vector<plugins::BuiltinPlugin>()> builtins;
};

}  // namespace slipway::app
