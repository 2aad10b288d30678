// `slipway upgrade`: migrate an older schema to this binary's version.
#include <cstdio>

#include "cli/command.h"
#include "cli/exit_code.h"
#include "cli/progress.h"

namespace slipway::cli {

Command AddUpgrade(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand("upgrade", "Upgrade the database schema to this version");
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  return {cmd, [flags, &dist] {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/true);
            app::Application application(*config, dist);
            Status status;
            {
              Progress progress("upgrade");
              status = application.Upgrade([&](int done, int total, std::string_view what) {
                progress.Update(done, total, what);
              });
            }
            if (status.ok()) {
              std::printf("database is at slipway %s\n", application.version().ToString().c_str());
            }
            return Report(status);
          }};
}

}  // namespace slipway::cli
