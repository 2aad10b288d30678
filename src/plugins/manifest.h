// A plugin package's manifest.json: what the package is, which plugin API it targets, where its
// library is, and what it needs (other plugins, a range of Slipway versions).
//
//   {
//     "name": "hello",                       lower-case letters, digits and '-', starting with a
//                                            letter, at most 64 characters (npm-like)
//     "version": "1.0.0",                    a semantic version
//     "api_version": 1,                      the plugin API (slipway/plugin.h) it was built for
//     "main": "lib/libslipway_hello.so",     the shared library, relative to the package
//     "description": "...",                  optional
//     "dependencies": {"users": ">=0.1.0"},  optional: plugin name -> version range (npm syntax)
//     "app_versions": ">=0.1.0 <1.0.0"       optional, default "*"; also spelled "appVersions"
//   }
//
// Unknown fields are ignored, so a manifest may carry npm package.json fields too. Parsing only
// checks the manifest itself; whether api_version, app_versions and the dependencies suit this
// Slipway is for the plugin manager to decide.
//
// Failures: every refusal is InvalidArgument, its message starting "manifest.json: " and naming
// the field. Thread-safety: pure functions over values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/semver.h"
#include "slipway/status.h"

namespace slipway::plugins {

inline constexpr size_t kMaxPluginNameLength = 64;

// True for a valid plugin name: [a-z][a-z0-9-]*, at most kMaxPluginNameLength characters.
bool IsValidPluginName(std::string_view name);

struct Dependency {
  std::string name;
  core::SemVerRange range;
};

struct Manifest {
  std::string name;
  core::SemVer version;
  std::string version_text;  // as written
  int api_version = 0;
  std::string description;
  std::string main;  // relative path of the shared library in the package, without ".."
  std::vector<Dependency> dependencies;  // in the order written
  core::SemVerRange app_versions;        // "*" when the manifest names none

  static Result<Manifest> Parse(std::string_view json_text);
};

}  // namespace slipway::plugins
