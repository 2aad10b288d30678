// `slipway version`: what this binary is.
#include <cstdio>

#include "cli/command.h"

namespace slipway::cli {

Command AddVersion(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand("version", "Print the version of this binary");
  return {cmd, [&dist] {
            std::printf(
                "slipway %.*s (commit %.*s, %.*s build)\n",
                static_cast<int>(dist.build.version.size()), dist.build.version.data(),
                static_cast<int>(dist.build.git_commit.size()), dist.build.git_commit.data(),
                static_cast<int>(dist.build.build_type.size()), dist.build.build_type.data());
            return 0;
          }};
}

}  // namespace slipway::cli
