// BuiltinPlugin: a plugin compiled into the binary, as the distribution lists it. Light on
// purpose (no Slipway internals): main() and the CLI name the built-ins through it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace slipway {
class Plugin;
}

namespace slipway::plugins {

struct BuiltinPlugin {
  std::string name;
  std::function<std::unique_ptr<slipway::Plugin>()> create;
  std::vector<std::string> dependencies;
  bool enabled_on_install = false;  // the preset
  bool required = false;            // may not be disabled or removed
};

}  // namespace slipway::plugins
