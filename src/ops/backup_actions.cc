// The backups API (backup_manager.h): NocoBase's backups and backupSettings resources.
#include <algorithm>
#include <set>

#include "api/action_registry.h"
#include "core/clock.h"
#include "core/cron.h"
#include "db/system_tables.h"
#include "http/error_response.h"
#include "http/upload_sink.h"
#include "ops/backup_manager.h"
#include "ops/ops_util.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

Result<bool> BoolArg(const json::value& v, std::string_view name) {
  if (v.is_bool()) return v.as_bool();
  return InvalidArgument("backupSettings: '" + std::string(name) + "' must be true or false");
}

}  // namespace

void BackupManager::RegisterActions(api::ActionRegistry& r) {
  r.Add("backups", "list",
        ConfigureAction(
            [this](api::ActionRequest&) -> Result<http::Response> {
              ASSIGN_OR_RETURN(json::array out,
                               ArchiveListing(tasks_, kBackupTask, BackupFolder(backups_dir())));
              return http::DataResponse(out);
            },
            true));

  r.Add("backups", "create",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              json::object params{{"name", BackupFileName()}};
              if (const json::value* f = Arg(req, "enableFilesBackup")) params["files"] = *f;
              if (const json::value* f = Arg(req, "files")) params["files"] = *f;
              if (const json::value* n = Arg(req, "note"); n && n->is_string()) params["note"] = *n;
              if (const json::value* p = Arg(req, "password"); p && p->is_string()) {
                params["password"] = *p;
              }
              return QueueArchiveTask(tasks_, kBackupTask, params, req, wake_);
            },
            false));

  r.Add("backups", "taskStatus",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              std::vector<std::string> names;
              for (std::string_view key : {"names", "names[]", "name", "filterByTk"}) {
                const json::value* v = Arg(req, key);
                if (v == nullptr) continue;
                if (v->is_array()) {
                  for (const json::value& n : v->as_array()) names.push_back(Str(n));
                } else {
                  std::string list = Str(*v);
                  size_t start = 0;
                  while (start <= list.size()) {
                    size_t comma = list.find(',', start);
                    if (comma == std::string::npos) comma = list.size();
                    if (comma > start) names.push_back(list.substr(start, comma - start));
                    start = comma + 1;
                  }
                }
              }
              if (names.empty()) return InvalidArgument("names: the backups to ask about");
              ASSIGN_OR_RETURN(auto tasks, tasks_.List(std::string(kBackupTask), 500));
              json::object out;
              for (const std::string& name : names) {
                json::value status = nullptr;
                for (const TaskRecord& t : tasks) {  // newest first
                  if (t.params.contains("name") && Str(t.params.at("name")) == name) {
                    status = TaskStatusJson(t);
                    break;
                  }
                }
                if (status.is_null() && BackupPath(name).ok()) {
                  status = json::object{{"inProgress", false}};
                }
                out[name] = std::move(status);
              }
              return http::DataResponse(out);
            },
            true));

  r.Add("backups", "download",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              const json::value* tk = Arg(req, "filterByTk");
              ASSIGN_OR_RETURN(fs::path path, BackupPath(tk ? Str(*tk) : std::string()));
              return FileDownload(path);
            },
            true));

  r.Add(
      "backups", "destroy",
      ConfigureAction(
          [this](api::ActionRequest& req) -> Result<http::Response> {
            const json::value* tk = Arg(req, "filterByTk");
            ASSIGN_OR_RETURN(fs::path path, BackupPath(tk ? Str(*tk) : std::string()));
            const std::string name = path.filename().string();
            ASSIGN_OR_RETURN(auto restores, tasks_.List(std::string(kRestoreTask), 50));
            for (const TaskRecord& t : restores) {
              if (!t.finished() && t.params.contains("name") && Str(t.params.at("name")) == name) {
                return FailedPrecondition("backup '" + name + "' is being restored (task " + t.id +
                                              "); it can be removed once that ends",
                                          "BACKUP_IN_USE");
              }
            }
            std::error_code ec;
            if (!fs::remove(path, ec) || ec) {
              return Internal("removing backup '" + name + "': " + ec.message());
            }
            return http::DataResponse(json::object{{"status", "ok"}});
          },
          false));

  auto queue_restore = [this](api::ActionRequest& req,
                              const std::string& name) -> Result<http::Response> {
    // One restore at a time: a second would replace what the first restores.
    ASSIGN_OR_RETURN(auto restores, tasks_.List(std::string(kRestoreTask), 20));
    for (const TaskRecord& t : restores) {
      if (!t.finished()) {
        return FailedPrecondition("a restore is already under way (task " + t.id + ", " +
                                      std::string(TaskStateName(t.state)) +
                                      "); ask again once it ends",
                                  "RESTORE_IN_PROGRESS");
      }
    }
    json::object params{{"name", name}};
    if (const json::value* p = Arg(req, "password");
        p && p->is_string() && !p->as_string().empty()) {
      params["password"] = *p;
    }
    if (const json::value* d = Arg(req, "disableMissingPlugins")) {
      params["disableMissingPlugins"] = *d;
    }
    ASSIGN_OR_RETURN(TaskRecord t,
                     tasks_.Enqueue(std::string(kRestoreTask), params,
                                    req.user ? std::optional(req.user->id) : std::nullopt));
    if (wake_) wake_();
    http::Response resp =
        http::DataResponse(json::object{{"status", "ok"}, {"task", t.id}, {"name", name}});
    resp.status = 202;
    return resp;
  };

  r.Add("backups", "restore",
        ConfigureAction(
            [this, queue_restore](api::ActionRequest& req) -> Result<http::Response> {
              const json::value* n = Arg(req, "name");
              if (n == nullptr) n = Arg(req, "filterByTk");
              ASSIGN_OR_RETURN(fs::path path, BackupPath(n ? Str(*n) : std::string()));
              return queue_restore(req, path.filename().string());
            },
            false));

  api::Action upload = ConfigureAction(
      [this, queue_restore](api::ActionRequest& req) -> Result<http::Response> {
        ASSIGN_OR_RETURN(http::UploadedPart part,
                         http::FindUploadedPart(req.http, "backups:upload", "file"));
        const std::string name = BackupFileName();
        RETURN_IF_ERROR(part.sink->Claim(part.index, backups_dir() / name));
        // The uploaded archive is a backup of the folder from now on (listed, restorable again).
        json::object body;
        for (const auto& [k, v] : part.sink->fields()) body[k] = v;
        if (body.contains("disableMissingPlugins")) {
          body["disableMissingPlugins"] = Str(body.at("disableMissingPlugins")) == "true";
        }
        req.body = std::move(body);
        return queue_restore(req, name);
      },
      false);
  upload.plan_body = ArchiveUploadPlan(backups_dir());
  r.Add("backups", "upload", std::move(upload));

  r.Add("backups", "restoreStatus",
        ConfigureAction(
            [this](api::ActionRequest& req) -> Result<http::Response> {
              const json::value* id = Arg(req, "task");
              if (id == nullptr) id = Arg(req, "filterByTk");
              if (id == nullptr || Str(*id).empty()) {
                return InvalidArgument("task: the id backups:restore answered with");
              }
              ASSIGN_OR_RETURN(TaskRecord t, tasks_.Get(Str(*id)));
              if (t.kind != kRestoreTask) return NotFound("restore task " + t.id + " not found");
              return http::DataResponse(TaskStatusJson(t));
            },
            true));

  auto settings_json = [](const BackupSettings& s) {
    return json::object{{"scheduled", s.scheduled},
                        {"cron", s.cron},
                        {"keep", s.keep},
                        {"enableFilesBackup", s.files},
                        {"hasPassword", !s.password.empty()},
                        {"nextRunAt", s.scheduled && s.next_run_ms > 0
                                          ? json::value(core::UtcText(s.next_run_ms / 1000))
                                          : json::value(nullptr)}};
  };
  r.Add("backupSettings", "get",
        ConfigureAction(
            [this, settings_json](api::ActionRequest&) -> Result<http::Response> {
              ASSIGN_OR_RETURN(BackupSettings s, ReadSettings());
              return http::DataResponse(settings_json(s));
            },
            true));
  r.Add("backupSettings", "update",
        ConfigureAction(
            [this, settings_json](api::ActionRequest& req) -> Result<http::Response> {
              ASSIGN_OR_RETURN(BackupSettings s, ReadSettings());
              const json::object* values = nullptr;
              if (req.body.is_object()) {
                values = &req.body.as_object();
                if (const json::value* v = values->if_contains("values"); v && v->is_object()) {
                  values = &v->as_object();
                }
              }
              if (values == nullptr) return InvalidArgument("backupSettings:update takes values");
              bool replan = false;
              for (const auto& [key, v] : *values) {
                if (key == "scheduled") {
                  ASSIGN_OR_RETURN(s.scheduled, BoolArg(v, key));
                  replan = true;
                } else if (key == "enableFilesBackup") {
                  ASSIGN_OR_RETURN(s.files, BoolArg(v, key));
                } else if (key == "cron") {
                  if (!v.is_string())
                    return InvalidArgument("backupSettings: 'cron' must be a string");
                  RETURN_IF_ERROR(core::CronSchedule::Parse(v.as_string())
                                      .status()
                                      .WithContext("backupSettings: 'cron'"));
                  s.cron = std::string(v.as_string());
                  replan = true;
                } else if (key == "keep") {
                  if (!v.is_int64() || v.as_int64() < 1 || v.as_int64() > 1000) {
                    return InvalidArgument(
                        "backupSettings: 'keep' must be an integer from 1 to 1000");
                  }
                  s.keep = static_cast<int>(v.as_int64());
                } else if (key == "password" || key == "encryptionPassword") {
                  if (!v.is_string() && !v.is_null()) {
                    return InvalidArgument("backupSettings: 'password' must be a string");
                  }
                  s.password = v.is_string() ? std::string(v.as_string()) : std::string();
                } else {
                  return InvalidArgument("backupSettings: unknown setting '" + std::string(key) +
                                         "'");
                }
              }
              if (replan) s.next_run_ms = 0;
              ASSIGN_OR_RETURN(auto conn, services_.pool().Acquire());
              RETURN_IF_ERROR(conn->Exec(
                  "UPDATE " + std::string(db::kBackupSettingsTable) +
                      " SET scheduled = $1, cron = $2, keep = $3, files = $4, password = $5, "
                      "next_run_ms = $6 WHERE id = 1",
                  {s.scheduled, s.cron, static_cast<int64_t>(s.keep), s.files, s.password,
                   s.next_run_ms}));
              return http::DataResponse(settings_json(s));
            },
            false));
}

}  // namespace slipway::ops
