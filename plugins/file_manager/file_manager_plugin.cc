#include "file_manager_plugin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "api/builtin_registrar.h"
#include "core/ids.h"
#include "core/logging.h"
#include "data/read_spec.h"
#include "data/repository.h"
#include "data/schema.h"
#include "db/sql.h"
#include "http/error_response.h"
#include "http/static_files.h"
#include "http/upload_sink.h"

namespace slipway::plugins {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr const char* kPlugin = "file-manager";
constexpr const char* kAttachments = "attachments";
constexpr uint64_t kDefaultMaxFileSize = 20ull << 20;  // NocoBase's default rule: 20 MB
constexpr uint64_t kMultipartOverhead = 64 << 10;      // boundaries, part headers, text fields
// A temporary upload file untouched for this long belongs to an upload that will never finish
// (its node died): an upload in progress writes to its file continuously.
constexpr auto kAbandonedUpload = std::chrono::hours(1);

constexpr const char* kStoragesDefinition = R"({
  "name": "storages", "title": "Storages", "createdBy": false, "updatedBy": false,
  "migrationRules": ["overwrite", "schema-only"],
  "fields": [
    {"name": "title", "type": "string", "interface": "input"},
    {"name": "name", "type": "string", "unique": true, "interface": "input"},
    {"name": "type", "type": "string", "interface": "select"},
    {"name": "baseUrl", "type": "string", "interface": "input"},
    {"name": "options", "type": "json"},
    {"name": "rules", "type": "json"},
    {"name": "path", "type": "string"},
    {"name": "default", "type": "boolean", "defaultValue": false}
  ]})";

constexpr const char* kAttachmentsDefinition = R"({
  "name": "attachments", "title": "Attachments",
  "fields": [
    {"name": "title", "type": "string", "interface": "input"},
    {"name": "filename", "type": "string", "interface": "input"},
    {"name": "extname", "type": "string", "interface": "input"},
    {"name": "size", "type": "bigInt", "interface": "integer"},
    {"name": "mimetype", "type": "string", "interface": "input"},
    {"name": "path", "type": "text", "interface": "textarea"},
    {"name": "meta", "type": "json"},
    {"name": "url", "type": "text", "interface": "url"},
    {"name": "storage", "type": "belongsTo", "target": "storages", "foreignKey": "storageId"}
  ]})";

struct Settings {
  uint64_t max_file_size = kDefaultMaxFileSize;
  std::string allowed = "*";
};

Settings ReadSettings(const api::Snapshot& snap) {
  Settings s;
  auto it = snap.settings.find(kPlugin);
  if (it == snap.settings.end()) return s;
  if (const json::value* v = it->second.if_contains("maxFileSize")) {
    if (v->is_int64() && v->as_int64() > 0) s.max_file_size = static_cast<uint64_t>(v->as_int64());
    if (v->is_uint64()) s.max_file_size = v->as_uint64();
  }
  if (const json::value* v = it->second.if_contains("allowedMimeTypes"); v && v->is_string()) {
    s.allowed = std::string(v->as_string());
  }
  return s;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// "*" or "" allows any type; otherwise a comma-separated list of types ("application/pdf") and
// families ("image/*"), compared without regard to case and parameters.
bool MimeTypeAllowed(std::string_view allowed, std::string_view type) {
  std::string list = Trim(allowed);
  if (list.empty() || list == "*" || list == "*/*") return true;
  std::string t = data::Folded(type.substr(0, type.find(';')));
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string pattern = data::Folded(Trim(std::string_view(list).substr(start, comma - start)));
    if (!pattern.empty()) {
      if (pattern.size() > 2 && pattern.compare(pattern.size() - 2, 2, "/*") == 0) {
        if (t.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0) return true;
      } else if (t == pattern) {
        return true;
      }
    }
    start = comma + 1;
  }
  return false;
}

// A file's name as a browser sends it: a name, never a path. Refused: empty, longer than 255
// bytes, '/', '\', NUL or another control character, "." and "..".
Status CheckFilename(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("the file name '" + std::string(name.substr(0, 255)) + "' " + why,
                           "INVALID_FILENAME");
  };
  if (name.empty()) return InvalidArgument("the file has no name", "INVALID_FILENAME");
  if (name.size() > 255) return bad("is longer than 255 bytes");
  if (name == "." || name == "..") return bad("is not a file name");
  for (char c : name) {
    if (c == '/' || c == '\\') return bad("contains a path; send the file's name only");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return bad("contains a control character");
    }
  }
  return Status::Ok();
}

// The extension kept on the stored file: ".png" (lower case, letters and digits, at most 16),
// or "" when the name has none that qualifies.
std::string Extension(std::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return "";
  std::string ext = data::Folded(name.substr(dot));
  if (ext.size() > 17) return "";
  for (size_t i = 1; i < ext.size(); ++i) {
    char c = ext[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return "";
  }
  return ext;
}

Status SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open " + dir.string() + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Internal("cannot sync " + dir.string());
}

// Files whose records were destroyed, removed once their transaction has committed: a thread of
// its own checks that no record names the file any more (a destroy that rolled back leaves its
// record, and so its file) and unlinks it.
class FileRemover {
 public:
  FileRemover() = default;
  ~FileRemover() { Stop(); }

  void Start(api::Services* services, fs::path dir) {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    services_ = services;
    dir_ = std::move(dir);
    stop_ = false;
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // Called inside the destroy's transaction.
  void Destroyed(std::string filename) {
    std::lock_guard lock(mu_);
    destroyed_.push_back(std::move(filename));
  }
  // Called after a write to attachments committed.
  void Committed() {
    std::lock_guard lock(mu_);
    if (destroyed_.empty()) return;
    for (auto& f : destroyed_) ready_.push_back(std::move(f));
    destroyed_.clear();
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
      while (!ready_.empty() && !stop_) {
        std::string name = std::move(ready_.front());
        ready_.pop_front();
        lock.unlock();
        RemoveIfUnused(name);
        lock.lock();
      }
    }
  }
  void RemoveIfUnused(const std::string& name) {
    auto conn = services_->pool().Acquire();
    if (!conn.ok()) return;  // the file stays: an orphan costs disk, never data
    auto rs = (*conn)->Query("SELECT 1 FROM \"attachments\" WHERE \"filename\" = $1", {name});
    if (!rs.ok() || (*rs)->row_count() > 0) return;
    std::error_code ec;
    fs::remove(dir_ / name, ec);
    if (ec) {
      core::log::Warn("attachment file not removed", {{"file", name}, {"error", ec.message()}});
    } else {
      core::log::Info("attachment file removed", {{"file", name}});
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> destroyed_;
  std::deque<std::string> ready_;
  api::Services* services_ = nullptr;
  fs::path dir_;
  bool stop_ = false;
  std::thread thread_;
};

// Removes temporary upload files that no upload will finish (their node died mid-body).
void SweepAbandonedUploads(const fs::path& dir) {
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(".upload-", 0) != 0) continue;
    std::error_code e;
    auto written = fs::last_write_time(entry.path(), e);
    if (!e && now - written > kAbandonedUpload) fs::remove(entry.path(), e);
  }
}

class FileManagerPlugin final : public slipway::Plugin {
 public:
  std::string_view name() const override { return kPlugin; }
  std::string_view version() const override { return "builtin"; }

  Status Load(PluginContext& ctx) override {
    RETURN_IF_ERROR(ctx.AddCollection(json::parse(kStoragesDefinition).as_object()));
    RETURN_IF_ERROR(ctx.AddCollection(json::parse(kAttachmentsDefinition).as_object()));
    ctx.DeclareSetting("maxFileSize", static_cast<int64_t>(kDefaultMaxFileSize));
    ctx.DeclareSetting("allowedMimeTypes", "*");
    BuiltinRegistrar* builtin = ctx.builtin();
    if (builtin == nullptr) return FailedPrecondition("file-manager must be built in");
    api::Services& services = builtin->services();
    uploads_ = services.config().storage_path / "uploads";
    std::error_code ec;
    fs::create_directories(uploads_, ec);
    SweepAbandonedUploads(uploads_);
    remover_.Start(&services, uploads_);

    api::Action create;
    create.access = api::Access::kRecords;
    create.runs_on = api::RunsOn::kWorker;
    create.plan_body = [dir = uploads_](const http::Request& head, const api::Snapshot& snap) {
      return PlanUpload(head, snap, dir);
    };
    create.fn = [this](api::ActionRequest& req) { return Create(req); };
    builtin->AddInternalAction(kAttachments, "create", std::move(create));
    ctx.OnRecord(kAttachments, RecordEvent::kAfterDestroy, [this](RecordChange& change) {
      if (change.before == nullptr) return Status::Ok();
      const json::value* f = change.before->if_contains("filename");
      if (f != nullptr && f->is_string()) remover_.Destroyed(std::string(f->as_string()));
      return Status::Ok();
    });
    builtin->OnCollectionChanged([this](std::string_view collection) {
      if (collection == kAttachments) remover_.Committed();
    });
    return Status::Ok();
  }

  Status Install(db::Connection& conn) override {
    // NocoBase's default storage: local files under storage/uploads, served at /storage/uploads.
    const std::string now = db::SqlNow(conn.dialect());
    return conn.Exec(
        "INSERT INTO \"storages\" (\"title\", \"name\", \"type\", \"baseUrl\", \"options\", "
        "\"rules\", \"path\", \"default\", \"createdAt\", \"updatedAt\") SELECT 'Local storage', "
        "'local', 'local', '/storage/uploads', '{\"documentRoot\":\"storage/uploads\"}', '{}', "
        "'', " +
        std::string(conn.dialect() == db::Dialect::kPostgres ? "TRUE" : "1") + ", " + now + ", " +
        now + " WHERE NOT EXISTS (SELECT 1 FROM \"storages\" WHERE \"name\" = 'local')");
  }

 private:
  // Decided from the head: multipart bodies stream into a temporary file next to their final
  // place; a body over the size setting is refused before it is read.
  static http::BodyPlan PlanUpload(const http::Request& head, const api::Snapshot& snap,
                                   const fs::path& dir) {
    http::BodyPlan plan;
    std::string_view type = head.header("content-type");
    if (type.find("multipart/form-data") == std::string_view::npos) return plan;  // JSON: 400
    if (head.header("authorization").empty() && head.query.find("token=") == std::string::npos) {
      // Nobody fills the disk anonymously: the same answer the action would give, unread.
      plan.reject = http::ErrorResponse(
          Unauthenticated("Unauthenticated. Please sign in to continue.", "EMPTY_TOKEN"));
      return plan;
    }
    Settings settings = ReadSettings(snap);
    auto sink = http::UploadSink::Create(
        type, http::UploadOptions{.temp_dir = dir, .max_file_bytes = settings.max_file_size});
    if (!sink.ok()) {
      plan.reject = http::ErrorResponse(sink.status());
      return plan;
    }
    plan.sink = std::move(sink).value();
    plan.limit = settings.max_file_size + kMultipartOverhead;
    return plan;
  }

  Result<http::Response> Create(api::ActionRequest& req) {
    ASSIGN_OR_RETURN(http::UploadedPart part,
                     http::FindUploadedPart(req.http, "attachments:create", "file"));
    http::UploadSink* sink = part.sink;
    const size_t index = part.index;
    const http::UploadedFile& file = sink->files()[index];
    RETURN_IF_ERROR(CheckFilename(file.filename));
    std::string ext = Extension(file.filename);
    std::string mimetype =
        data::Folded(Trim(file.content_type.substr(0, file.content_type.find(';'))));
    if (mimetype.empty() || mimetype == "application/octet-stream" || mimetype == "text/plain") {
      // What browsers send for types they do not know; the extension says more.
      std::string_view by_ext = http::MimeTypeForExtension(ext);
      std::string guessed(by_ext.substr(0, by_ext.find(';')));
      if (guessed != "application/octet-stream" || mimetype.empty()) mimetype = guessed;
    }
    Settings settings = ReadSettings(*req.snapshot);
    if (!MimeTypeAllowed(settings.allowed, mimetype)) {
      return InvalidArgument("files of type '" + mimetype +
                                 "' are not allowed here (allowed: " + settings.allowed + ")",
                             "FILE_TYPE_NOT_ALLOWED");
    }
    std::string id = core::NewUuidV4();
    std::string stored;
    for (char c : id) {
      if (c != '-') stored.push_back(c);
    }
    stored += ext;
    const std::string title = file.filename.substr(0, file.filename.size() - ext.size());
    const fs::path final_path = uploads_ / stored;
    RETURN_IF_ERROR(sink->Claim(index, final_path));
    Status synced = SyncDirectory(uploads_);
    auto created = synced.ok() ? Record(req, file, stored, title, ext, mimetype) : synced;
    if (!created.ok()) {
      std::error_code ec;
      fs::remove(final_path, ec);  // no record: no file
      return created.status();
    }
    core::log::Info(
        "file uploaded",
        {{"file", stored}, {"bytes", static_cast<long long>(file.size)}, {"type", mimetype}});
    req.services.CollectionChanged(kAttachments);
    return http::Response::Json(200, std::move(created).value());
  }

  Result<std::string> Record(api::ActionRequest& req, const http::UploadedFile& file,
                             const std::string& stored, const std::string& title,
                             const std::string& ext, const std::string& mimetype) {
    const data::Schema& schema = *req.snapshot->schema;
    const data::Collection* c = schema.Find(kAttachments);
    if (c == nullptr) return Internal("the attachments collection is missing");
    ASSIGN_OR_RETURN(data::ReadSpec spec,
                     data::BuildReadSpec(schema, *c, req.params, req.access.get()));
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    std::optional<int64_t> storage;
    ASSIGN_OR_RETURN(auto rs, conn->Query("SELECT \"id\" FROM \"storages\" WHERE \"name\" = $1",
                                          {std::string("local")}));
    if (rs->row_count() > 0) storage = rs->Int(0, 0);
    json::object values{
        {"title", title},
        {"filename", stored},
        {"extname", ext},
        {"size", static_cast<int64_t>(file.size)},
        {"mimetype", mimetype},
        {"path", ""},
        {"url", "/storage/uploads/" + stored},
        {"meta", json::object{{"sha256", file.sha256_hex}}},
    };
    if (storage) values["storage"] = *storage;
    data::WriteContext ctx;
    if (req.user) {
      ctx.user_id = req.user->id;
      ctx.role = req.user->role;
    }
    ctx.hooks = req.snapshot->hooks.get();
    // The server's own values: the caller's create permission was checked (Access::kRecords).
    data::Repository repo(schema, *c, *conn, std::move(ctx));
    std::string body;
    RETURN_IF_ERROR(repo.Create(values, {}, spec, &body));
    return body;
  }

  fs::path uploads_;
  FileRemover remover_;
};

}  // namespace

std::unique_ptr<slipway::Plugin> MakeFileManagerPlugin() {
  return std::make_unique<FileManagerPlugin>();
}

}  // namespace slipway::plugins
