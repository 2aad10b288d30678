#include "ops/ops_util.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "core/clock.h"
#include "http/error_response.h"
#include "http/upload_sink.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kMaxUploadBytes = uint64_t{1} << 40;  // an archive of a whole application
constexpr uint64_t kMultipartOverhead = 64 << 10;

}  // namespace

ArchiveFolder::ArchiveFolder(fs::path dir, std::string extension, std::string noun,
                             std::string code)
    : dir_(std::move(dir)),
      extension_(std::move(extension)),
      noun_(std::move(noun)),
      code_(std::move(code)) {}

Status ArchiveFolder::CheckName(const std::string& name) const {
  bool ok = name.size() > extension_.size() && name.size() <= 200 && name[0] != '.' &&
            name.ends_with(extension_);
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  return ok ? Status::Ok()
            : InvalidArgument("'" + name + "' is not the name of a " + noun_ +
                                  " (a file name ending in " + extension_ +
                                  ", without a directory)",
                              "BAD_" + code_ + "_NAME");
}

Result<fs::path> ArchiveFolder::Path(const std::string& name) const {
  RETURN_IF_ERROR(CheckName(name));
  fs::path path = dir_ / name;
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(path, ec))) {
    return NotFound(noun_ + " '" + name + "' not found", code_ + "_NOT_FOUND");
  }
  return path;
}

std::vector<ArchiveFile> ArchiveFolder::List() const {
  std::vector<ArchiveFile> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    ArchiveFile f{e.path().filename().string()};
    struct stat st {};
    if (!CheckName(f.name).ok() || ::lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    f.size = static_cast<uint64_t>(st.st_size);
    f.modified_s = static_cast<int64_t>(st.st_mtime);
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const ArchiveFile& a, const ArchiveFile& b) {
    return a.modified_s != b.modified_s ? a.modified_s > b.modified_s : a.name > b.name;
  });
  return out;
}

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Param(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool Flag(const json::object& o, std::string_view key, bool otherwise) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return otherwise;
  if (v->is_bool()) return v->as_bool();
  if (v->is_string()) return v->as_string() == "true" || v->as_string() == "1";
  return otherwise;
}

Status Reporter::operator()(int64_t done, int64_t total, std::string_view what, bool force) {
  if (!status_.ok()) return status_;
  TaskProgress progress{done, total, unit_, std::string(what)};
  auto now = Clock::now();
  const bool due = force || now - last_ >= std::chrono::milliseconds(500);
  if (!due || (!to_row_ && !force)) {
    ctx_.Note(progress);  // a terminal's bar; the row is not written
    return Status::Ok();
  }
  last_ = now;
  status_ = ctx_.Report(progress);
  return status_;
}

api::Action ConfigureAction(api::ActionFn fn, bool safe) {
  return api::Action{std::move(fn), api::RunsOn::kWorker, api::Access::kConfigure, "app", safe};
}

std::string Str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : std::string();
}

const json::value* Arg(const api::ActionRequest& req, std::string_view key) {
  if (req.body.is_object()) {
    if (const json::value* v = req.body.as_object().if_contains(key)) return v;
    if (const json::value* values = req.body.as_object().if_contains("values");
        values != nullptr && values->is_object()) {
      if (const json::value* v = values->as_object().if_contains(key)) return v;
    }
  }
  return req.params.if_contains(key);
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

json::object TaskStatusJson(const TaskRecord& t) {
  json::object o{{"inProgress", !t.finished()},
                 {"state", TaskStateName(t.state)},
                 {"taskId", t.id},
                 {"nodeId", t.node_id},
                 {"progress", json::object{{"done", t.progress.done},
                                           {"total", t.progress.total},
                                           {"unit", t.progress.unit},
                                           {"message", t.progress.message}}}};
  if (!t.error.empty()) o["message"] = t.error;
  if (!t.result.is_null()) o["result"] = t.result;
  return o;
}

Result<json::array> ArchiveListing(TaskStore& tasks, std::string_view kind,
                                   const ArchiveFolder& folder) {
  json::array out;
  std::set<std::string> running;
  ASSIGN_OR_RETURN(auto made, tasks.List(std::string(kind), 100));
  for (const TaskRecord& t : made) {
    if (t.finished()) continue;
    const std::string name = Param(t.params, "name");
    running.insert(name);
    json::object o = TaskStatusJson(t);
    o["name"] = name;
    out.push_back(std::move(o));
  }
  for (const ArchiveFile& f : folder.List()) {
    if (running.count(f.name)) continue;
    out.push_back(json::object{{"name", f.name},
                               {"inProgress", false},
                               {"size", f.size},
                               {"fileSize", HumanSize(f.size)},
                               {"createdAt", core::UtcText(f.modified_s)}});
  }
  return out;
}

Result<http::Response> QueueArchiveTask(TaskStore& tasks, std::string_view kind,
                                        const json::object& params, const api::ActionRequest& req,
                                        const std::function<void()>& wake) {
  ASSIGN_OR_RETURN(TaskRecord t,
                   tasks.Enqueue(std::string(kind), params,
                                 req.user ? std::optional(req.user->id) : std::nullopt));
  if (wake) wake();
  http::Response resp = http::DataResponse(
      json::object{{"name", params.at("name")}, {"inProgress", true}, {"taskId", t.id}});
  resp.status = 202;
  return resp;
}

Result<http::Response> FileDownload(const fs::path& path) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) return NotFound(path.filename().string() + " not found");
  http::Response resp;
  resp.content_type = "application/octet-stream";
  resp.file = http::FileBody{path.string(), 0, size};
  resp.headers.push_back(
      {"content-disposition", "attachment; filename=\"" + path.filename().string() + "\""});
  return resp;
}

std::function<http::BodyPlan(const http::Request&, const api::Snapshot&)> ArchiveUploadPlan(
    fs::path dir) {
  return [dir = std::move(dir)](const http::Request& head, const api::Snapshot&) {
    http::BodyPlan plan;
    std::string_view type = head.header("content-type");
    if (type.find("multipart/form-data") == std::string_view::npos) return plan;
    if (head.header("authorization").empty() && head.query.find("token=") == std::string::npos) {
      plan.reject = http::ErrorResponse(
          Unauthenticated("Unauthenticated. Please sign in to continue.", "EMPTY_TOKEN"));
      return plan;
    }
    auto sink = http::UploadSink::Create(
        type, http::UploadOptions{.temp_dir = dir, .max_file_bytes = kMaxUploadBytes});
    if (!sink.ok()) {
      plan.reject = http::ErrorResponse(sink.status());
      return plan;
    }
    plan.sink = std::move(sink).value();
    plan.limit = kMaxUploadBytes + kMultipartOverhead;
    return plan;
  };
}

}  // namespace slipway::ops
