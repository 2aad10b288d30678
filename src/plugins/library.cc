#include "plugins/library.h"

#include <dlfcn.h>

#include <exception>
#include <string>

namespace slipway::plugins {
namespace {

using ApiVersionFn = int (*)();
using CreateFn = Plugin* (*)();

std::string DlError() {
  const char* e = dlerror();
  return e != nullptr ? e : "no detail from dlerror";
}

// Closes a handle that Open refuses.
struct HandleCloser {
  void operator()(void* handle) const { dlclose(handle); }
};

}  // namespace

PluginLibrary::PluginLibrary(Key, void* handle, std::filesystem::path path, CreateFn create)
    : handle_(handle), path_(std::move(path)), create_(create) {}

PluginLibrary::~PluginLibrary() { dlclose(handle_); }

Result<std::unique_ptr<PluginLibrary>> PluginLibrary::Open(const std::filesystem::path& path) {
  auto refuse = [&](const std::string& why) {
    return InvalidArgument("plugin library " + path.string() + ": " + why);
  };
  dlerror();  // clear a stale error
  std::unique_ptr<void, HandleCloser> handle(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (handle == nullptr) return refuse("cannot load: " + DlError());

  // dlsym may legitimately return null for a symbol whose value is null; dlerror() tells.
  auto symbol = [&](const char* name) -> Result<void*> {
    dlerror();
    void* sym = dlsym(handle.get(), name);
    if (sym == nullptr)
      return refuse("missing entry symbol " + std::string(name) + " (" + DlError() + ")");
    return sym;
  };
  ASSIGN_OR_RETURN(void* api_version_sym, symbol("slipway_plugin_api_version"));
  ASSIGN_OR_RETURN(void* create_sym, symbol("slipway_plugin_create"));
  auto api_version = reinterpret_cast<ApiVersionFn>(api_version_sym);
  int version = 0;
  try {
    version = api_version();
  } catch (...) {
    return refuse("slipway_plugin_api_version threw an exception");
  }
  if (version != kPluginApiVersion) {
    return refuse("plugin library targets plugin API " + std::to_string(version) +
                  "; this Slipway provides " + std::to_string(kPluginApiVersion));
  }
  return std::make_unique<PluginLibrary>(Key{}, handle.release(), path,
                                         reinterpret_cast<CreateFn>(create_sym));
}

Result<std::unique_ptr<Plugin>> PluginLibrary::Create() {
  Plugin* plugin = nullptr;
  try {
    plugin = create_();
  } catch (const std::exception& e) {
    return Internal("plugin library " + path_.string() +
                    ": slipway_plugin_create threw: " + e.what());
  } catch (...) {
    return Internal("plugin library " + path_.string() +
                    ": slipway_plugin_create threw a non-standard exception");
  }
  if (plugin == nullptr) {
    return Internal("plugin library " + path_.string() + ": slipway_plugin_create returned null");
  }
  return std::unique_ptr<Plugin>(plugin);
}

}  // namespace slipway::plugins
