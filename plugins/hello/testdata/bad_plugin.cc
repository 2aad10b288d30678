// Broken plugin libraries for PluginLibrary's tests, one per BAD_PLUGIN_KIND:
//   1: exports no entry symbol at all
//   2: exports slipway_plugin_api_version only
//   3: targets plugin API kPluginApiVersion + 1
//   4: slipway_plugin_create returns null
//   5: slipway_plugin_create throws
// Built with -fvisibility=hidden, so only what is marked `default` below is exported.
#include <stdexcept>

#include "slipway/plugin.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

#if BAD_PLUGIN_KIND == 1
// Hidden like everything not marked: the library exports nothing.
int NotAPlugin() { return 42; }
#else
EXPORT int slipway_plugin_api_version() {
#if BAD_PLUGIN_KIND == 3
  return slipway::kPluginApiVersion + 1;
#else
  return slipway::kPluginApiVersion;
#endif
}
#endif

#if BAD_PLUGIN_KIND >= 3
EXPORT slipway::Plugin* slipway_plugin_create() {
#if BAD_PLUGIN_KIND == 5
  throw std::runtime_error("hello from a throwing factory");
#else
  return nullptr;
#endif
}
#endif
