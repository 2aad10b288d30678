// `slipway backup create|list|verify|restore`: backups from the command line, with or without a
// running node (the upgrade procedure makes one while every node is stopped). `create` reads one
// consistent snapshot, so nodes may go on serving; `verify` checks every byte of an archive;
// `restore` runs the restore task in this process (ops/backup_manager.h), gating running nodes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "cli/command.h"
#include "cli/exit_code.h"
#include "cli/progress.h"
#include "ops/archive.h"
#include "ops/backup_manager.h"

namespace slipway::cli {
namespace json = boost::json;

Command AddBackup(CLI::App& root, const app::Distribution& dist) {
  auto* cmd = root.add_subcommand(
      "backup", "Back up and restore the application: create, list, verify, restore");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<ConfigFlags>();
  flags->AddTo(cmd, /*server_flags=*/false);
  auto output = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto password_file = std::make_shared<std::string>();
  auto note = std::make_shared<std::string>();
  auto no_files = std::make_shared<bool>(false);
  auto* create = cmd->add_subcommand("create", "Write a backup archive of the database and files");
  create->add_option("--output", *output, "The archive to write (default: storage/backups/...)");
  create->add_flag("--no-files", *no_files, "Leave the uploaded files out");
  create->add_option("--note", *note, "A note kept in the manifest");
  auto as_json = std::make_shared<bool>(false);
  create->add_flag("--json", *as_json,
                   "Print the archive's path, size, row and file counts and manifest as JSON");
  // For a node that runs its backup tasks in a process of their own (ops/backup_manager.h):
  // "progress <done> <total> <what>" lines on stdout instead of a bar.
  auto report_progress = std::make_shared<bool>(false);
  create->add_flag("--report-progress", *report_progress)->group("");
  auto* list =
      cmd->add_subcommand("list", "List the backups in <STORAGE_PATH>/backups, newest first");
  list->fallthrough();
  auto* verify = cmd->add_subcommand("verify", "Check every entry and checksum of an archive");
  verify->add_option("file", *file, "The archive")->required();
  auto disable_missing = std::make_shared<bool>(false);
  auto no_safety = std::make_shared<bool>(false);
  auto* restore = cmd->add_subcommand(
      "restore",
      "Restore an archive: checked first, a safety backup, every node gated, all or nothing");
  restore->add_option("file", *file, "The archive")->required();
  restore->add_flag("--disable-missing-plugins", *disable_missing,
                    "Restore with the plugins this node cannot load disabled, instead of refusing");
  restore->add_flag("--no-safety-backup", *no_safety,
                    "Skip the backup of the current data taken first (the way back)");
  for (auto* sub : {create, verify, restore}) {
    sub->add_option("--password-file", *password_file, "A file whose first line is the password");
    sub->fallthrough();
  }
  return {
      cmd, [=, &dist]() -> int {
        auto config = flags->Load();
        if (!config.ok()) return Report(config.status());
        InitLogging(*config, dist, /*one_shot=*/true);
        if (list->parsed()) {
          // Names, sizes and times from the folder (what backups:list shows); `verify` checks an
          // archive's contents.
          PrintArchives(ops::BackupFolder(config->storage_path / "backups").List(), "backups",
                        config->storage_path / "backups");
          return kExitOk;
        }
        auto password = ReadPasswordFile(*password_file);
        if (!password.ok()) return Report(password.status());
        if (verify->parsed()) {
          Result<ops::ArchiveContents> read = Internal("unread");
          {
            Progress progress("verify", "MiB");
            read = ops::ReadArchive(*file, *password, {}, [&](uint64_t done, uint64_t total) {
              progress.Update(static_cast<int64_t>(done >> 20), static_cast<int64_t>(total >> 20),
                              "read");
            });
          }
          if (!read.ok()) return Report(read.status());
          const json::object& m = read->manifest;
          std::printf(
              "%s: verified, %zu entries, %s; format %lld, %s %s, %s\n", file->c_str(),
              read->entries.size(), Mib(read->file_bytes).c_str(),
              static_cast<long long>(m.at("format").as_int64()),
              m.contains("dialect") ? std::string(m.at("dialect").as_string()).c_str() : "?",
              m.contains("appVersion") ? std::string(m.at("appVersion").as_string()).c_str() : "?",
              m.contains("createdAt") ? std::string(m.at("createdAt").as_string()).c_str() : "");
          return kExitOk;
        }
        app::Application application(*config, dist);
        if (restore->parsed()) {
          std::error_code ec;
          std::filesystem::path path = std::filesystem::absolute(*file, ec);
          json::object params{{"path", path.string()},
                              {"disableMissingPlugins", *disable_missing},
                              {"safetyBackup", !*no_safety}};
          if (!password->empty()) params["password"] = *password;
          Result<ops::TaskRecord> ran = Internal("not run");
          {
            Progress progress("restore");
            ran = application.RestoreBackup(std::move(params), [&](const ops::TaskProgress& p) {
              progress.set_unit(p.unit);
              progress.Update(p.done, p.total, p.message);
            });
          }
          if (!ran.ok()) return Report(ran.status());
          if (ran->state != ops::TaskState::kSucceeded) {
            return Report(
                FailedPrecondition(ran->error.empty() ? "the restore did not finish" : ran->error));
          }
          const json::object& r = ran->result.as_object();
          std::printf("%s: restored %lld rows, %lld files in %.1f s; safety backup %s\n",
                      path.c_str(), static_cast<long long>(r.at("rows").as_int64()),
                      static_cast<long long>(r.at("files").to_number<int64_t>()),
                      static_cast<double>(r.at("ms").as_int64()) / 1000.0,
                      r.at("safetyBackup").is_string()
                          ? std::string(r.at("safetyBackup").as_string()).c_str()
                          : "(none)");
          return kExitOk;
        }
        ops::BackupOptions options;
        options.output = *output;
        options.password = *password;
        options.files = !*no_files;
        options.note = *note;
        Result<ops::BackupSummary> made = Internal("not made");
        if (*report_progress) {
          auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
          options.progress = [&](int64_t done, int64_t total, std::string_view what) {
            auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100) && done < total) return Status::Ok();
            last = now;
            std::printf("progress %lld %lld %.*s\n", static_cast<long long>(done),
                        static_cast<long long>(total), static_cast<int>(what.size()), what.data());
            std::fflush(stdout);
            return Status::Ok();
          };
          made = application.CreateBackup(options);
        } else {
          Progress progress("backup", "rows");
          options.progress = [&](int64_t done, int64_t total, std::string_view what) {
            progress.Update(done, total, what);
            return Status::Ok();
          };
          made = application.CreateBackup(options);
        }
        if (!made.ok()) return Report(made.status());
        if (*as_json) {
          std::printf("%s\n", json::serialize(ops::BackupSummaryJson(*made)).c_str());
          return kExitOk;
        }
        std::printf("%s: %lld rows, %llu files, %s\n", made->path.c_str(),
                    static_cast<long long>(made->rows),
                    static_cast<unsigned long long>(made->files), Mib(made->archive_bytes).c_str());
        return kExitOk;
      }};
}

}  // namespace slipway::cli
