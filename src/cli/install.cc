// `slipway install [--force]`: create the schema in an empty database.
#include <cstdio>

#include "cli/command.h"
#include "cli/exit_code.h"
#include "cli/progress.h"

namespace slipway::cli {

Command AddInstall(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand("install", "Install the schema into an empty database");
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto force = std::make_shared<bool>(false);
  cmd->add_flag("-f,--force", *force, "Drop every table first and install from scratch");
  return {cmd, [flags, force, &dist] {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/true);
            app::Application application(*config, dist);
            Status status;
            {
              Progress progress("install");
              status = application.Install(*force, [&](int done, int total, std::string_view what) {
                progress.Update(done, total, what);
              });
            }
            if (status.ok()) {
              std::printf("installed slipway %s into %s\n",
                          application.version().ToString().c_str(),
                          config->db.dialect == "sqlite" ? config->db.storage.c_str()
                                                         : config->db.database.c_str());
            }
            return Report(status);
          }};
}

}  // namespace slipway::cli
