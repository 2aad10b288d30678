#include "ops/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>

#include "core/ids.h"
#include "core/semver.h"
#include "data/values.h"
#include "db/catalog.h"
#include "db/system_tables.h"
#include "ops/backup.h"
#include "ops/ops_util.h"
#include "ops/row_io.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSchemaEntry = "dump/schema.json";
constexpr std::string_view kUploadsPrefix = "files/uploads/";

int64_t SumCounts(const json::object& manifest, std::string_view key) {
  int64_t sum = 0;
  if (const json::value* v = manifest.if_contains(key); v != nullptr && v->is_object()) {
    for (const auto& [name, n] : v->as_object()) sum += n.is_int64() ? n.as_int64() : 0;
  }
  return sum;
}

Status SyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return Internal("fsync " + what + ": " + std::strerror(errno));
  return Status::Ok();
}

Status SyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("opening " + dir.string() + ": " + std::strerror(errno));
  Status s = SyncFd(fd, dir.string());
  ::close(fd);
  return s;
}

bool SameContent(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::file_size(a, ec) != fs::file_size(b, ec) || ec) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::vector<char> ba(1 << 16), bb(1 << 16);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() ||
        std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0) {
      return false;
    }
  }
  return fa.eof() && fb.eof();
}

class Loader {
 public:
  Loader(db::Connection& conn, const data::Schema& schema, const BackupCheck& check,
         const RestoreOptions& options, RestoredFiles& files)
      : conn_(conn), schema_(schema), check_(check), options_(options), files_(files) {
    total_ = check.rows;
  }

  Status Visit(const ArchiveEntry& entry, std::string_view data) {
    if (entry.name != entry_) RETURN_IF_ERROR(StartEntry(entry.name));
    switch (mode_) {
      case Mode::kRows:
      case Mode::kTable:
        return Lines(data);
      case Mode::kFile:
        return files_.Write(file_, data);
      case Mode::kSkip:
        return Status::Ok();
    }
    return Status::Ok();
  }

  Status Finish() {
    RETURN_IF_ERROR(StartEntry(""));
    if (inserter_) RETURN_IF_ERROR(inserter_->Flush());
    // Every collection holds what the manifest says it had.
    if (const json::value* counts = check_.manifest.if_contains("rowCounts");
        counts != nullptr && counts->is_object()) {
      for (const auto& [name, n] : counts->as_object()) {
        int64_t got = inserted_.count(std::string(name)) ? inserted_[std::string(name)] : 0;
        if (!n.is_int64() || n.as_int64() != got) {
          return InvalidArgument("collection '" + std::string(name) + "': the manifest counts " +
                                     json::serialize(n) + " rows, the dump holds " +
                                     std::to_string(got),
                                 "BAD_DUMP");
        }
      }
    }
    return Report("done");
  }

  int64_t rows() const { return done_; }

 private:
  enum class Mode { kSkip, kRows, kTable, kFile };

  Status StartEntry(const std::string& name) {
    RETURN_IF_ERROR(lines_.EndEntry(entry_, "BAD_DUMP"));
    entry_ = name;
    mode_ = Mode::kSkip;
    if (name.empty() || name == kSchemaEntry) return Status::Ok();
    std::string_view n(name);
    if (n.starts_with(kUploadsPrefix)) {
      file_ = std::string(n.substr(kUploadsPrefix.size()));
      if (file_.find('/') != std::string::npos || file_.starts_with(".")) {
        return InvalidArgument("archive entry '" + name + "' is not a file of the uploads",
                               "BAD_ENTRY");
      }
      mode_ = Mode::kFile;
      ++files_seen_;
      if (files_seen_ % 100 == 0) return Report("files");
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::optional<RowsEntry> parsed, ParseRowsEntry(name, "BAD_ENTRY"));
    if (!parsed) return Status::Ok();  // what a later format adds, this one ignores
    const bool rows = parsed->collection;
    std::string target = std::move(parsed->table);
    mode_ = rows ? Mode::kRows : Mode::kTable;
    if (target == current_ && inserter_) return Status::Ok();
    if (inserter_) RETURN_IF_ERROR(inserter_->Flush());
    inserter_.reset();
    current_ = target;
    collection_ = nullptr;
    if (rows) {
      collection_ = schema_.Find(target);
      if (collection_ == nullptr) {
        return InvalidArgument(
            "the backup has rows of collection '" + target + "', which its schema does not define",
            "BAD_DUMP");
      }
      columns_.clear();
      whats_.clear();
      std::vector<std::string> names;
      for (const data::Field* f : collection_->ColumnFields()) {
        columns_.push_back(f);
        whats_.push_back(collection_->name + "." + f->name);
        names.push_back(f->column);
      }
      inserter_ = std::make_unique<Inserter>(conn_, collection_->table, std::move(names));
    } else {
      ASSIGN_OR_RETURN(bool exists, db::TableExists(conn_, target));
      if (!exists) {
        if (check_.disabled_plugins.empty()) {
          return FailedPrecondition("the backup has rows of table '" + target +
                                    "', which this application does not have");
        }
        mode_ = Mode::kSkip;  // a table of a plugin restored disabled
        current_.clear();
        return Status::Ok();
      }
      ASSIGN_OR_RETURN(table_columns_, db::ColumnTypes(conn_, target));
      std::vector<std::string> names;
      for (const auto& [column, type] : table_columns_) names.push_back(column);
      inserter_ = std::make_unique<Inserter>(conn_, target, std::move(names));
    }
    return Status::Ok();
  }

  Status Lines(std::string_view data) {
    if (mode_ == Mode::kSkip) return Status::Ok();
    return lines_.Feed(data, [this](std::string_view line) { return Row(line); });
  }

  Status Row(std::string_view line) {
    if (line.empty()) return Status::Ok();
    // Each row's values live in one block reused from row to row (no allocation per value).
    json::value v;
    row_memory_.release();
    parser_.reset(json::storage_ptr(&row_memory_));
    boost::system::error_code ec;
    parser_.write(line.data(), line.size(), ec);
    if (ec) return InvalidArgument("archive entry '" + entry_ + "': a row is not JSON", "BAD_DUMP");
    v = parser_.release();
    if (!v.is_object()) {
      return InvalidArgument("archive entry '" + entry_ + "': a row is not an object", "BAD_DUMP");
    }
    const json::object& o = v.as_object();
    row_.clear();
    const db::Dialect dialect = conn_.dialect();
    if (mode_ == Mode::kRows) {
      size_t known = 0;
      for (size_t c = 0; c < columns_.size(); ++c) {
        const data::Field* f = columns_[c];
        const json::value* cell = o.if_contains(f->name);
        if (cell == nullptr || cell->is_null()) {
          row_.push_back(db::Null());
          known += cell != nullptr;
          continue;
        }
        ++known;
        auto value = data::ToDbValue(*f, *cell, dialect, whats_[c]);
        if (!value.ok()) {
          return value.status().WithContext("restoring a row of '" + collection_->name + "'");
        }
        row_.push_back(std::move(*value));
      }
      if (known != o.size()) {
        for (const auto& [key, cell] : o) {
          if (collection_->FindField(key) == nullptr) {
            return InvalidArgument("the backup's rows of '" + collection_->name +
                                       "' have a field '" + std::string(key) +
                                       "' that its schema does not define",
                                   "BAD_DUMP");
          }
        }
      }
      ++inserted_[collection_->name];
    } else {
      size_t known = 0;
      for (const auto& [column, type] : table_columns_) {
        const json::value* cell = o.if_contains(column);
        known += cell != nullptr;
        if (cell == nullptr) {
          row_.push_back(db::Null());
          continue;
        }
        ASSIGN_OR_RETURN(db::Value value, TableCell(*cell, type, dialect,
                                                    "table '" + current_ + "." + column + "'"));
        row_.push_back(std::move(value));
      }
      if (known != o.size()) {
        return InvalidArgument("the backup's rows of table '" + current_ +
                                   "' have a column this application's table lacks",
                               "BAD_DUMP");
      }
    }
    RETURN_IF_ERROR(inserter_->Add(row_));
    if (++done_ % 5000 == 0) return Report(current_);
    return Status::Ok();
  }

  Status Report(std::string_view what) {
    if (!options_.progress) return Status::Ok();
    return options_.progress(done_, total_, what);
  }

  db::Connection& conn_;
  const data::Schema& schema_;
  const BackupCheck& check_;
  const RestoreOptions& options_;
  RestoredFiles& files_;
  Mode mode_ = Mode::kSkip;
  std::string entry_, current_, file_;
  LineSplitter lines_;
  const data::Collection* collection_ = nullptr;
  std::vector<const data::Field*> columns_;
  std::vector<std::string> whats_;  // "collection.field" of each column, for messages
  std::vector<std::pair<std::string, std::string>> table_columns_;
  std::unique_ptr<Inserter> inserter_;
  std::vector<db::Value> row_;
  json::parser parser_;
  alignas(16) unsigned char row_buffer_[16 << 10];
  json::monotonic_resource row_memory_{row_buffer_, sizeof(row_buffer_)};
  std::map<std::string, int64_t> inserted_;
  int64_t done_ = 0, total_ = 0;
  uint64_t files_seen_ = 0;
};

}  // namespace

Result<BackupCheck> CheckBackup(const RestoreRequest& request, const std::string& app_version,
                                const PluginVersionFn& plugin_version,
                                const ReadProgress& progress) {
  ASSIGN_OR_RETURN(DumpContents dump, ReadDump(request.path, request.password, "backup", "backup",
                                               "NOT_A_BACKUP", "BAD_DUMP", progress));
  BackupCheck check;
  check.manifest = std::move(dump.manifest);
  check.archive_bytes = dump.archive_bytes;
  check.schema = std::move(dump.schema);

  const std::string made_by = Param(check.manifest, "appVersion");
  auto theirs = core::SemVer::Parse(made_by);
  ASSIGN_OR_RETURN(core::SemVer ours, core::SemVer::Parse(app_version));
  if (!theirs.ok()) {
    return InvalidArgument("the backup names no valid app version ('" + made_by + "')",
                           "BAD_MANIFEST");
  }
  if (*theirs > ours) {
    return FailedPrecondition("the backup was made by Slipway " + made_by + ", newer than this " +
                                  app_version + ": restore it with Slipway " + made_by +
                                  " or later",
                              "APP_VERSION_NEWER");
  }

  std::vector<std::string> missing;
  std::vector<std::string> names;
  if (const json::value* plugins = check.schema.if_contains("plugins");
      plugins != nullptr && plugins->is_array()) {
    for (const json::value& p : plugins->as_array()) {
      if (!p.is_object()) continue;
      const json::object& o = p.as_object();
      const json::value* enabled = o.if_contains("enabled");
      if (enabled == nullptr || !enabled->is_bool() || !enabled->as_bool()) continue;
      const std::string name = Param(o, "name"), version = Param(o, "version");
      std::optional<std::string> here = plugin_version ? plugin_version(name) : std::nullopt;
      if (!here) {
        missing.push_back(name + "@" + version + " (not added here)");
        names.push_back(name);
        continue;
      }
      auto need = core::SemVer::Parse(version);
      auto have = core::SemVer::Parse(*here);
      if (need.ok() && have.ok() && *have < *need) {
        missing.push_back(name + "@" + version + " (" + *here + " here)");
        names.push_back(name);
      }
    }
  }
  if (!missing.empty()) {
    if (!request.disable_missing_plugins) {
      std::string list;
      for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
      return FailedPrecondition("the backup needs plugins this node cannot load: " + list +
                                    "; add them first, or restore with them disabled",
                                "PLUGINS_MISSING");
    }
    check.disabled_plugins.insert(names.begin(), names.end());
  }
  check.rows = SumCounts(check.manifest, "rowCounts") + SumCounts(check.manifest, "tableRowCounts");
  if (const json::value* f = check.manifest.if_contains("files"); f && f->is_int64()) {
    check.files = static_cast<uint64_t>(f->as_int64());
  }
  return check;
}

RestoredFiles::RestoredFiles(fs::path uploads_dir, bool backup_has_files)
    : uploads_(std::move(uploads_dir)), has_files_(backup_has_files) {}

RestoredFiles::~RestoredFiles() {
  if (!finished_) Abort();
}

Status RestoredFiles::CloseCurrent() {
  if (fd_ < 0) return Status::Ok();
  Status s = SyncFd(fd_, current_);
  ::close(fd_);
  fd_ = -1;
  written_.push_back(current_);
  current_.clear();
  return s;
}

Status RestoredFiles::Write(const std::string& name, std::string_view data) {
  if (name != current_ || fd_ < 0) {
    RETURN_IF_ERROR(CloseCurrent());
    if (staging_.empty()) {
      std::error_code ec;
      fs::create_directories(uploads_, ec);
      staging_ = uploads_ / (".restore-" + core::NewUuidV4());
      if (!fs::create_directory(staging_, ec) || ec) {
        staging_.clear();
        return Internal("creating a staging directory in " + uploads_.string() + ": " +
                        ec.message());
      }
    }
    fd_ = ::open((staging_ / name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0)
      return Internal("creating " + (staging_ / name).string() + ": " + std::strerror(errno));
    current_ = name;
  }
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("writing " + (staging_ / name).string() + ": " + std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status RestoredFiles::Place() {
  RETURN_IF_ERROR(CloseCurrent());
  if (written_.empty()) return Status::Ok();
  std::error_code ec;
  for (const std::string& name : written_) {
    const fs::path staged = staging_ / name, target = uploads_ / name;
    if (fs::exists(target, ec)) {
      if (SameContent(staged, target)) {
        fs::remove(staged, ec);
        continue;
      }
      fs::rename(target, staging_ / (name + ".previous"), ec);
      if (ec) return Internal("setting aside " + target.string() + ": " + ec.message());
      replaced_.push_back(name);
    } else {
      added_.push_back(name);
    }
    fs::rename(staged, target, ec);
    if (ec) return Internal("placing " + target.string() + ": " + ec.message());
  }
  return SyncDir(uploads_);
}

void RestoredFiles::Abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  std::error_code ec;
  for (const std::string& name : added_) fs::remove(uploads_ / name, ec);
  for (const std::string& name : replaced_) {
    fs::rename(staging_ / (name + ".previous"), uploads_ / name, ec);
  }
  added_.clear();
  replaced_.clear();
  if (!staging_.empty()) fs::remove_all(staging_, ec);
  finished_ = true;
}

void RestoredFiles::Finish() {
  std::error_code ec;
  if (has_files_) {
    std::set<std::string> keep(written_.begin(), written_.end());
    for (const auto& e : fs::directory_iterator(uploads_, ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.' || keep.count(name) || !e.is_regular_file()) continue;
      fs::remove(e.path(), ec);
    }
  }
  if (!staging_.empty()) fs::remove_all(staging_, ec);
  finished_ = true;
}

Result<RestoreSummary> RestoreDatabase(db::Connection& conn, const data::SchemaStore& store,
                                       const RestoreRequest& request, const BackupCheck& check,
                                       const RestoreOptions& options, RestoredFiles& files) {
  static const json::array kNone;
  const json::value* plugins = check.schema.if_contains("plugins");
  const json::array& list = plugins != nullptr && plugins->is_array() ? plugins->as_array() : kNone;
  if (options.restore_plugins) {
    RETURN_IF_ERROR(options.restore_plugins(conn, list, check.disabled_plugins)
                        .WithContext("restoring the plugins' states"));
  }
  // The schema as the plugins now define it, replaced by the backup's.
  ASSIGN_OR_RETURN(std::shared_ptr<const data::Schema> before, store.Load(conn));
  ASSIGN_OR_RETURN(std::shared_ptr<const data::Schema> next,
                   store.ReplaceAll(conn, *before, check.schema));

  // What the backup covers is emptied (children first): the plugins' collections it has rows
  // for and the plugins' own tables it has. What it does not know (a plugin newer than it) stays.
  std::vector<std::string> clear;
  auto covered = [&](std::string_view key, const std::string& name) {
    const json::value* v = check.manifest.if_contains(key);
    return v != nullptr && v->is_object() && v->as_object().contains(name);
  };
  for (const auto& [name, c] : next->collections()) {
    if (c->origin != "user" && covered("rowCounts", name)) clear.push_back(c->table);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> tables, PluginTables(conn, *next));
  for (const std::string& t : tables) {
    if (covered("tableRowCounts", t)) clear.push_back(t);
  }
  ASSIGN_OR_RETURN(clear, db::ParentsFirst(conn, std::move(clear)));
  for (auto it = clear.rbegin(); it != clear.rend(); ++it) {
    RETURN_IF_ERROR(conn.Exec("DELETE FROM " + db::QuoteIdent(*it)));
  }
  // Rows come in any order (a tree's child before its parent; a PostgreSQL dump is not
  // sorted): every reference is checked once all are in.
  std::vector<std::string> loaded = tables;
  for (const auto& [name, c] : next->collections()) loaded.push_back(c->table);
  DeferredIndexes deferred;
  RETURN_IF_ERROR(deferred.Begin(conn, loaded));

  Loader loader(conn, *next, check, options, files);
  auto read = ReadArchiveAhead(
      request.path, request.password,
      [&](const ArchiveEntry& e, std::string_view data) { return loader.Visit(e, data); });
  if (!read.ok()) return read.status().WithContext("restoring " + request.path.filename().string());
  RETURN_IF_ERROR(loader.Finish());

  RETURN_IF_ERROR(deferred.Finish(conn, loaded, loaded, "the restored rows"));
  RETURN_IF_ERROR(files.Place());
  RestoreSummary summary;
  summary.schema = std::move(next);
  summary.rows = loader.rows();
  summary.files = files.count();
  return summary;
}

}  // namespace slipway::ops
