// `slipway migration export|import|list`: environment migration from the command line, with or
// without running nodes (ops/migration_manager.h). `export` writes a package from one consistent
// snapshot; `import --dry-run` prints the diff and changes nothing; `import` runs the import task
// in this process: the dry run's checks, an automatic backup, then one cluster-wide change.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "cli/exit_code.h"
#include "cli/progress.h"
#include "ops/migration_manager.h"

namespace slipway::cli {
namespace json = boost::json;

namespace {

// Rules from a JSON file: {"userDefined": "...", "tables": {...}}.
Result<ops::MigrationRules> ReadRulesFile(const std::string& path) {
  if (path.empty()) return ops::MigrationRules{};
  std::ifstream in(path);
  if (!in) return InvalidArgument("cannot read the rules file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec) return InvalidArgument("the rules file '" + path + "' is not JSON: " + ec.message());
  auto rules = ops::ParseRules(v);
  if (!rules.ok()) return rules.status().WithContext(path);
  return rules;
}

}  // namespace

Command AddMigration(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand(
      "migration", "Move structure and chosen data between environments: export, import, list");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto output = std::make_shared<std::string>();
  auto rules_file = std::make_shared<std::string>();
  auto title = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto password_file = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  auto skip_backup = std::make_shared<bool>(false);
  auto allow_loss = std::make_shared<bool>(false);
  auto as_json = std::make_shared<bool>(false);

  auto* exp = cmd->add_subcommand("export", "Write a package of this environment");
  exp->add_option("--rules", *rules_file,
                  "A JSON file of rules: {\"userDefined\": RULE, \"tables\": {NAME: RULE}}");
  exp->add_option("--output", *output, "The package to write (default: storage/migrations/...)");
  exp->add_option("--title", *title, "A title kept in the package");
  auto* list = cmd->add_subcommand("list", "List the packages in <STORAGE_PATH>/migrations");
  list->fallthrough();
  auto* imp = cmd->add_subcommand(
      "import", "Apply a package: checked, backed up, then one change every node applies");
  imp->add_option("package", *file, "The package")->required();
  imp->add_flag("--dry-run", *dry_run, "Print what the import would change, and change nothing");
  imp->add_flag("--skip-backup", *skip_backup, "Skip the automatic backup taken first");
  imp->add_flag("--allow-data-loss", *allow_loss,
                "Drop fields and collections the package lacks even where they hold data");
  imp->add_flag("--json", *as_json, "Print the diff as JSON");
  for (auto* sub : {exp, imp}) {
    sub->add_option("--password-file", *password_file, "A file whose first line is the password");
    sub->fallthrough();
  }
  return {cmd, [=, &dist]() -> int {
            auto config = flags->Load();
            if (!config.ok()) return Report(config.status());
            InitLogging(*config, dist, /*one_shot=*/true);
            if (list->parsed()) {
              PrintArchives(ops::PackageFolder(config->storage_path / "migrations").List(),
                            "packages", config->storage_path / "migrations");
              return kExitOk;
            }
            auto password = ReadPasswordFile(*password_file);
            if (!password.ok()) return Report(password.status());
            app::Application application(*config, dist);
            if (exp->parsed()) {
              auto rules = ReadRulesFile(*rules_file);
              if (!rules.ok()) return Report(rules.status());
              ops::ExportOptions options;
              options.output = *output;
              options.rules = *rules;
              options.title = *title;
              options.password = *password;
              Result<ops::BackupSummary> made = Internal("not made");
              {
                Progress progress("export", "rows");
                options.progress = [&](int64_t done, int64_t total, std::string_view what) {
                  progress.Update(done, total, what);
                  return Status::Ok();
                };
                made = application.ExportMigration(options);
              }
              if (!made.ok()) return Report(made.status());
              std::printf("%s: %lld rows, %s\n", made->path.c_str(),
                          static_cast<long long>(made->rows), Mib(made->archive_bytes).c_str());
              const json::value* r = made->manifest.if_contains("rules");
              if (r != nullptr && r->is_object()) {
                for (const auto& [table, rule] : r->as_object()) {
                  std::printf("  %-28s %s\n", std::string(table).c_str(),
                              std::string(rule.as_string()).c_str());
                }
              }
              return kExitOk;
            }
            std::error_code ec;
            const std::filesystem::path path = std::filesystem::absolute(*file, ec);
            if (*dry_run) {
              ops::ImportRequest request{path, *password, *allow_loss};
              auto diff = application.CheckMigration(request);
              if (!diff.ok()) return Report(diff.status());
              if (*as_json) {
                std::printf("%s\n", json::serialize(diff->ToJson()).c_str());
              } else {
                std::fputs(diff->ToText().c_str(), stdout);
              }
              return diff->ok() ? kExitOk
                                : Report(FailedPrecondition("the import would be refused",
                                                            diff->refusals.front().code));
            }
            json::object params{{"path", path.string()},
                                {"skipBackup", *skip_backup},
                                {"allowDataLoss", *allow_loss}};
            if (!password->empty()) params["password"] = *password;
            Result<ops::TaskRecord> ran = Internal("not run");
            {
              Progress progress("import");
              ran = application.ImportMigration(std::move(params), [&](const ops::TaskProgress& p) {
                progress.set_unit(p.unit);
                progress.Update(p.done, p.total, p.message);
              });
            }
            if (!ran.ok()) return Report(ran.status());
            if (ran->state != ops::TaskState::kSucceeded) {
              return Report(FailedPrecondition(ran->error.empty() ? "the import did not finish"
                                                                  : ran->error));
            }
            const json::object& r = ran->result.as_object();
            std::printf("%s: imported in %.1f s (the change itself %.1f s); backup %s\n",
                        path.c_str(), static_cast<double>(r.at("ms").as_int64()) / 1000.0,
                        static_cast<double>(r.at("changeMs").as_int64()) / 1000.0,
                        r.at("backup").is_string() ? std::string(r.at("backup").as_string()).c_str()
                                                   : "(skipped)");
            return kExitOk;
          }};
}

}  // namespace slipway::cli
