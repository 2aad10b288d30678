// A plugin's shared library, loaded with dlopen(RTLD_NOW | RTLD_LOCAL), and the factory it
// exports (slipway/plugin.h: slipway_plugin_api_version, slipway_plugin_create).
//
// Lifetime: a PluginLibrary owns its handle and dlcloses it when destroyed, so every Plugin it
// created must be destroyed first: the Plugin's code, vtable and destructor live in the library.
// The plugin manager never destroys a PluginLibrary; libraries stay loaded until the process
// ends (a disabled or upgraded plugin's old library included), because a handler, hook or
// std::function the plugin registered may still be referenced by a request in flight.
//
// Symbols: a plugin library links no Slipway library. The out-of-line symbols of the public
// headers it uses (e.g. slipway::Status::WithContext) are resolved from the executable, which is
// linked with ENABLE_EXPORTS (-rdynamic) for that reason. RTLD_LOCAL keeps one plugin's symbols
// from satisfying another's, so two versions of a plugin can be loaded side by side.
//
// Failures: Open returns InvalidArgument naming the file, with dlerror()'s text, when dlopen
// fails (not a library, a missing symbol), when an entry symbol is missing ("missing entry
// symbol slipway_plugin_create"), and when the library targets another plugin API ("plugin
// library targets plugin API 2; this Slipway provides 1"). Create returns Internal when the
// factory throws or returns null: a plugin must not take the server down.
//
// Threads: Open and Create may be called from any thread; dlopen serializes internally.
#pragma once

#include <filesystem>
#include <memory>

#include "slipway/plugin.h"
#include "slipway/status.h"

namespace slipway::plugins {

class PluginLibrary {
  struct Key {
    explicit Key() = default;
  };

 public:
  static Result<std::unique_ptr<PluginLibrary>> Open(const std::filesystem::path& path);

  PluginLibrary(Key, void* handle, std::filesystem::path path, Plugin* (*create)());
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  // A new Plugin object from the library's factory. It must die before this PluginLibrary.
  Result<std::unique_ptr<Plugin>> Create();

  const std::filesystem::path& path() const { return path_; }

 private:
  void* handle_;
  std::filesystem::path path_;
  Plugin* (*create_)();
};

}  // namespace slipway::plugins
