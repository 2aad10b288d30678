// Facts about this binary fixed at build time (generated from build_info.cc.in).
#pragma once

#include <string_view>

namespace slipway::core {

struct BuildInfo {
  std::string_view version;     // semantic version of the product, e.g. "0.1.0"
  std::string_view git_commit;  // short commit the build came from, or "unknown"
  std::string_view build_type;  // CMake build type
};

// The build facts of the product itself. Test-only binaries pass their own BuildInfo to the CLI.
const BuildInfo& ProductBuildInfo();

}  // namespace slipway::core
