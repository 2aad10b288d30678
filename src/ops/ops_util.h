// What the backup manager and the migration manager share, so that each is written once: a folder
// of archives (names, lookup, listing), a task's throttled progress, task parameters, and the
// plumbing of their actions (arguments, a task's status, a file download, an upload's body plan).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/action.h"
#include "http/message.h"
#include "ops/task_runner.h"
#include "ops/task_store.h"
#include "slipway/status.h"

namespace slipway::ops {

// An archive of a folder: a plain file name with the folder's extension.
struct ArchiveFile {
  std::string name;
  uint64_t size = 0;
  int64_t modified_s = 0;  // Unix seconds
};

// The archives of one kind in one folder: backups (.slwbak in storage/backups), migration
// packages (.slwmig in storage/migrations). Names are plain file names (letters, digits, '_',
// '-', '.'; no directory part, no leading dot) ending in the extension.
class ArchiveFolder {
 public:
  // `noun` names an archive in messages ("backup"); `code` prefixes error codes ("BACKUP":
  // BAD_BACKUP_NAME, BACKUP_NOT_FOUND).
  ArchiveFolder(std::filesystem::path dir, std::string extension, std::string noun,
                std::string code);
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& extension() const { return extension_; }
  Status CheckName(const std::string& name) const;
  // The archive `name`: a valid name of a regular file that exists.
  Result<std::filesystem::path> Path(const std::string& name) const;
  // Newest first; uploads and archives being written (dot-named) are not listed.
  std::vector<ArchiveFile> List() const;

 private:
  std::filesystem::path dir_;
  std::string extension_, noun_, code_;
};

int64_t MillisSince(std::chrono::steady_clock::time_point start);
int64_t NowMillis();  // wall clock, Unix milliseconds

// A task parameter: a string (empty otherwise), a flag (true/false or "true"/"1").
std::string Param(const boost::json::object& o, std::string_view key);
bool Flag(const boost::json::object& o, std::string_view key, bool otherwise);

// Throttles progress reports into the task row to about two a second (every call reaches a
// terminal through TaskContext::Note); the last error (a cancellation) is returned every time
// after it.
class Reporter {
 public:
  Reporter(TaskContext& ctx, std::string unit, bool to_row)
      : ctx_(ctx), unit_(std::move(unit)), to_row_(to_row) {}
  Status operator()(int64_t done, int64_t total, std::string_view what, bool force = false);
  void set_to_row(bool to_row) { to_row_ = to_row; }

 private:
  TaskContext& ctx_;
  std::string unit_;
  bool to_row_;
  Status status_;
  std::chrono::steady_clock::time_point last_{};
};

// ---- actions

// An action that needs the "app" configuration permission (admins), on a worker.
api::Action ConfigureAction(api::ActionFn fn, bool safe);
std::string Str(const boost::json::value& v);
// A value from the body (JSON, or its "values") or the query string.
const boost::json::value* Arg(const api::ActionRequest& req, std::string_view key);
std::string HumanSize(uint64_t bytes);
// {inProgress, state, taskId, nodeId, progress, message?, result?}
boost::json::object TaskStatusJson(const TaskRecord& t);
// A folder's listing as NocoBase's backups:list gives it: the archives being made by tasks of
// `kind` (inProgress, with their status), then the folder's archives, newest first ({name,
// inProgress: false, size, fileSize, createdAt}).
Result<boost::json::array> ArchiveListing(TaskStore& tasks, std::string_view kind,
                                          const ArchiveFolder& folder);
// Queues a task of `kind` asked for by `req`'s user, tells this node's runner (`wake`, may be
// null), and answers 202 {name: params.name, inProgress: true, taskId}: how backups:create and
// migrations:create answer at once.
Result<http::Response> QueueArchiveTask(TaskStore& tasks, std::string_view kind,
                                        const boost::json::object& params,
                                        const api::ActionRequest& req,
                                        const std::function<void()>& wake);
// The file as an attachment download.
Result<http::Response> FileDownload(const std::filesystem::path& path);
// The body plan of an action taking one archive as a multipart upload into `dir`: refused
// before any byte is read when unauthenticated or not multipart.
std::function<http::BodyPlan(const http::Request& head, const api::Snapshot&)> ArchiveUploadPlan(
    std::filesystem::path dir);

}  // namespace slipway::ops
