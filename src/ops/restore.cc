#include "ops/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/guard.h"
#include "core/ids.h"
#include "core/logging.h"
#include "core/semver.h"
#include "data/values.h"
#include "db/bulk.h"
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

// The binary form of each of `columns` of `table`, in their order; none when one has no
// binary form (db::BinaryTypeOf): the table loads as text.
Result<std::vector<db::BinaryType>> BinaryColumns(db::Connection& conn, const std::string& table,
                                                  const std::vector<std::string>& columns) {
  ASSIGN_OR_RETURN(auto types, db::ColumnTypes(conn, table));
  const std::map<std::string, std::string> type_of(types.begin(), types.end());
  std::vector<db::BinaryType> out;
  for (const std::string& column : columns) {
    auto it = type_of.find(column);
    std::optional<db::BinaryType> b;
    if (it != type_of.end()) b = db::BinaryTypeOf(it->second);
    if (!b) return std::vector<db::BinaryType>();
    out.push_back(*b);
  }
  return out;
}

// What one reading of the archive loads: everything (the restore's change on SQLite), or a part
// (on PostgreSQL, each staging connection some collections' rows, the change the rest).
struct LoadScope {
  // The collections whose rows this reading inserts and counts; all when null.
  std::function<bool(const std::string& collection)> collections;
  bool tables = true;  // the plugins' own tables
  bool files = true;   // the uploaded files
  // The connection a collection's rows go into (the loader's own when null), and what follows
  // once its last row is in (its COPY ended).
  std::function<Result<db::Connection*>(const std::string& table)> table_begin;
  std::function<Status(const std::string& table)> table_done;
  int64_t rows_before = 0;  // rows loaded elsewhere, for the progress
  // A collection's rows go by COPY's binary format when every column's type has one
  // (db::BinaryTypeOf): the server then parses no text.
  bool binary = false;
};

class Loader {
 public:
  Loader(db::Connection& conn, const data::Schema& schema, const BackupCheck& check,
         const RestoreOptions& options, RestoredFiles& files, LoadScope scope = {})
      : conn_(conn),
        schema_(schema),
        check_(check),
        options_(options),
        files_(files),
        scope_(std::move(scope)) {
    total_ = check.rows;
    done_ = scope_.rows_before;
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

  // `manifest`: the archive's, as its reading checked it.
  Status Finish(const json::object& manifest) {
    RETURN_IF_ERROR(StartEntry(""));
    RETURN_IF_ERROR(EndTable());
    // Every collection holds what the manifest says it had.
    if (const json::value* counts = manifest.if_contains("rowCounts");
        counts != nullptr && counts->is_object()) {
      for (const auto& [name, n] : counts->as_object()) {
        if (scope_.collections && !scope_.collections(std::string(name))) continue;
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
  const std::map<std::string, int64_t>& inserted() const { return inserted_; }

 private:
  enum class Mode { kSkip, kRows, kTable, kFile };

  // The rows of the table being loaded are all in.
  Status EndTable() {
    if (!inserter_) return Status::Ok();
    Status flushed = inserter_->Flush();
    inserter_.reset();
    const data::Collection* done = std::exchange(collection_, nullptr);
    current_.clear();
    RETURN_IF_ERROR(flushed);
    if (done != nullptr && scope_.table_done) return scope_.table_done(done->table);
    return Status::Ok();
  }

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
      if (!scope_.files) return Status::Ok();
      mode_ = Mode::kFile;
      ++files_seen_;
      if (files_seen_ % 100 == 0) return Report("files");
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::optional<RowsEntry> parsed, ParseRowsEntry(name, "BAD_ENTRY"));
    if (!parsed) return Status::Ok();  // what a later format adds, this one ignores
    const bool rows = parsed->collection;
    std::string target = std::move(parsed->table);
    const bool elsewhere =
        rows ? scope_.collections && !scope_.collections(target) : !scope_.tables;
    if (!elsewhere && target == current_ && inserter_) {
      mode_ = rows ? Mode::kRows : Mode::kTable;
      return Status::Ok();
    }
    RETURN_IF_ERROR(EndTable());
    if (elsewhere) return Status::Ok();
    mode_ = rows ? Mode::kRows : Mode::kTable;
    current_ = target;
    if (rows) {
      collection_ = schema_.Find(target);
      inserted_here_ = &inserted_[target];
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
      db::Connection* into = &conn_;
      if (scope_.table_begin) {
        ASSIGN_OR_RETURN(into, scope_.table_begin(collection_->table));
      }
      std::vector<db::BinaryType> binary;
      if (scope_.binary && into->dialect() == db::Dialect::kPostgres) {
        ASSIGN_OR_RETURN(binary, BinaryColumns(*into, collection_->table, names));
      }
      inserter_ = std::make_unique<Inserter>(*into, collection_->table, std::move(names));
      if (!binary.empty() && inserter_->copies()) inserter_->UseBinary(std::move(binary));
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

  // A collection's row, read by ReadDumpLine into members_, written straight into COPY's text
  // when its cells are the columns in order and each is one AppendQuickCopy takes.
  bool CopyRow() {
    if (!inserter_->copies() || members_.size() != columns_.size()) return false;
    std::string& out = inserter_->row_text();
    const size_t mark = out.size();
    const std::vector<db::BinaryType>& binary = inserter_->binary();  // empty: text
    if (!binary.empty()) db::AppendBinaryFieldCount(&out, columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (binary.empty() && c > 0) out.push_back('\t');
      const DumpCell& cell = members_[c].second;
      if (members_[c].first != columns_[c]->name ||
          !(binary.empty() ? AppendQuickCopy(*columns_[c], cell, &out)
                           : AppendQuickBinary(*columns_[c], cell, binary[c], &out))) {
        out.resize(mark);
        return false;
      }
    }
    if (binary.empty()) out.push_back('\n');
    return true;
  }

  // Else its values read without a JSON document (QuickDbValue), where it can.
  Result<bool> QuickRow() {
    row_.assign(columns_.size(), db::Null());
    seen_.assign(columns_.size(), false);
    size_t at = 0;
    for (const auto& [name, cell] : members_) {
      if (at >= columns_.size() || columns_[at]->name != name) {
        at = 0;
        while (at < columns_.size() && columns_[at]->name != name) ++at;
        if (at == columns_.size()) return false;  // the full reading names it
      }
      if (seen_[at]) return false;
      seen_[at] = true;
      const data::Field& f = *columns_[at];
      if (std::optional<db::Value> quick = QuickDbValue(f, cell, conn_.dialect())) {
        row_[at] = std::move(*quick);
      } else {
        boost::system::error_code ec;
        row_memory_.release();
        json::value v = json::parse(cell.text, ec, json::storage_ptr(&row_memory_));
        if (ec) return false;
        auto value = data::ToDbValue(f, v, conn_.dialect(), whats_[at]);
        if (!value.ok()) {
          return value.status().WithContext("restoring a row of '" + collection_->name + "'");
        }
        row_[at] = std::move(*value);
      }
      ++at;
    }
    return true;
  }

  Status Row(std::string_view line) {
    if (line.empty()) return Status::Ok();
    if (mode_ == Mode::kRows && ReadDumpLine(line, &members_)) {
      bool quick = CopyRow();
      if (quick) {
        RETURN_IF_ERROR(inserter_->RowWritten());
      } else {
        ASSIGN_OR_RETURN(quick, QuickRow());
        if (quick) RETURN_IF_ERROR(inserter_->Add(row_));
      }
      if (quick) {
        ++*inserted_here_;
        if (++done_ % 5000 == 0) return Report(current_);
        return Status::Ok();
      }
    }
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
      ++*inserted_here_;
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
  const LoadScope scope_;
  Mode mode_ = Mode::kSkip;
  std::string entry_, current_, file_;
  LineSplitter lines_;
  const data::Collection* collection_ = nullptr;
  std::vector<const data::Field*> columns_;
  std::vector<std::string> whats_;  // "collection.field" of each column, for messages
  std::vector<std::pair<std::string, std::string>> table_columns_;
  std::unique_ptr<Inserter> inserter_;
  std::vector<db::Value> row_;
  std::vector<std::pair<std::string_view, DumpCell>> members_;
  std::vector<bool> seen_;
  int64_t* inserted_here_ = nullptr;  // the count of the collection being loaded
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
  return JudgeBackup(std::move(dump.manifest), std::move(dump.schema), dump.archive_bytes, request,
                     app_version, plugin_version);
}

Result<BackupCheck> JudgeBackup(json::object manifest, json::object schema, uint64_t archive_bytes,
                                const RestoreRequest& request, const std::string& app_version,
                                const PluginVersionFn& plugin_version) {
  RETURN_IF_ERROR(CheckDumpKind(manifest, "backup", "backup", "NOT_A_BACKUP"));
  BackupCheck check;
  check.manifest = std::move(manifest);
  check.archive_bytes = archive_bytes;
  check.schema = std::move(schema);

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
  ASSIGN_OR_RETURN(check.disabled_plugins, CheckPlugins(check.schema, request, plugin_version));
  check.rows = SumCounts(check.manifest, "rowCounts") + SumCounts(check.manifest, "tableRowCounts");
  if (const json::value* f = check.manifest.if_contains("files"); f && f->is_int64()) {
    check.files = static_cast<uint64_t>(f->as_int64());
  }
  return check;
}

Result<std::set<std::string>> CheckPlugins(const json::object& schema,
                                           const RestoreRequest& request,
                                           const PluginVersionFn& plugin_version) {
  std::vector<std::string> missing;
  std::set<std::string> names;
  if (const json::value* plugins = schema.if_contains("plugins");
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
        names.insert(name);
        continue;
      }
      auto need = core::SemVer::Parse(version);
      auto have = core::SemVer::Parse(*here);
      if (need.ok() && have.ok() && *have < *need) {
        missing.push_back(name + "@" + version + " (" + *here + " here)");
        names.insert(name);
      }
    }
  }
  if (!missing.empty() && !request.disable_missing_plugins) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    return FailedPrecondition("the backup needs plugins this node cannot load: " + list +
                                  "; add them first, or restore with them disabled",
                              "PLUGINS_MISSING");
  }
  return names;
}

Result<json::object> PeekBackupSchema(const RestoreRequest& request) {
  std::string text;
  bool past = false;  // an entry after it was reached
  auto read = ReadArchive(request.path, request.password,
                          [&](const ArchiveEntry& e, std::string_view data) -> Status {
                            if (e.name != kSchemaEntry) {
                              past = true;
                              return Aborted("read as far as the schema");
                            }
                            return AppendDumpSchema(&text, data, "backup", "BAD_DUMP");
                          });
  if (!read.ok() && !past) return read.status();
  return ParseDumpSchema(text, "backup", "BAD_DUMP");
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

namespace {

constexpr std::string_view kStagingPrefix = "slipway_restore_";

// The table locks a staging's statements take (PostgreSQL's modes: "Explicit Locking").
enum class Lock {
  kRowShare,              // VALIDATE CONSTRAINT, on the table a foreign key points at
  kShareUpdateExclusive,  // VALIDATE CONSTRAINT, on its own table
  kShare,                 // CREATE INDEX
  kShareRowExclusive,     // ADD FOREIGN KEY, on both tables
  kAccessExclusive,       // ADD PRIMARY KEY
};

bool LocksConflict(Lock a, Lock b) {
  if (a == Lock::kAccessExclusive || b == Lock::kAccessExclusive) return true;
  if (a == Lock::kRowShare || b == Lock::kRowShare) return false;
  // Of SHARE UPDATE EXCLUSIVE, SHARE and SHARE ROW EXCLUSIVE, only two SHAREs go together.
  return !(a == Lock::kShare && b == Lock::kShare);
}

Result<std::string> CurrentSchema(db::Connection& conn) {
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT current_schema()"));
  if (rs->row_count() != 1 || rs->IsNull(0, 0)) {
    return FailedPrecondition("the connection's search_path names no schema that exists");
  }
  return std::string(rs->Text(0, 0));
}

// In the caller's transaction: new tables go into the staging schema; names the staging does
// not have resolve to the application's schema (`home`).
Status UseStaging(db::Connection& conn, const std::string& staging, const std::string& home) {
  return conn.Exec("SET LOCAL search_path TO " + db::QuoteIdent(staging) + ", " +
                   db::QuoteIdent(home));
}

// The empty tables ReplaceAll made give way to the staged ones, moved into this schema.
Status MoveStaged(db::Connection& conn, const StagedRestore& staged) {
  ASSIGN_OR_RETURN(std::string home, CurrentSchema(conn));
  if (!staged.tables.empty()) {
    std::string list;
    for (const std::string& t : staged.tables)
      list += (list.empty() ? "" : ", ") + db::QuoteIdent(t);
    RETURN_IF_ERROR(conn.Exec("DROP TABLE " + list));
  }
  for (const std::string& t : staged.tables) {
    RETURN_IF_ERROR(conn.Exec("ALTER TABLE " + db::QuoteIdent(staged.schema) + "." +
                              db::QuoteIdent(t) + " SET SCHEMA " + db::QuoteIdent(home)));
    RETURN_IF_ERROR(conn.Exec("ALTER TABLE " + db::QuoteIdent(home) + "." + db::QuoteIdent(t) +
                              " RESET (autovacuum_enabled)"));
  }
  return conn.Exec("DROP SCHEMA " + db::QuoteIdent(staged.schema));
}

}  // namespace

Status DropStaging(db::Connection& conn) {
  if (conn.dialect() != db::Dialect::kPostgres) return Status::Ok();
  ASSIGN_OR_RETURN(auto rs,
                   conn.Query("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
                              {std::string(kStagingPrefix)}));
  for (int r = 0; r < rs->row_count(); ++r) {
    RETURN_IF_ERROR(conn.Exec("DROP SCHEMA " + db::QuoteIdent(rs->Text(r, 0)) + " CASCADE")
                        .WithContext("dropping a restore's staging schema"));
  }
  return Status::Ok();
}

Result<StagedRestore> StageRestore(db::Pool& pool, const data::SchemaStore& store,
                                   const RestoreRequest& request, const json::object& definitions,
                                   const RestoreOptions& options, RestoredFiles& files, int jobs) {
  const auto started = std::chrono::steady_clock::now();
  StagedRestore staged;
  ASSIGN_OR_RETURN(std::shared_ptr<const data::Schema> schema, store.FromDefinitions(definitions));
  // What the loaders know before the manifest is read: the schema (no plugin is restored
  // disabled here: the plugins' tables are the change's).
  BackupCheck check;
  check.schema = definitions;
  // As many connections as the pool spares, up to `jobs` (one will do, more share the work).
  std::vector<db::PooledConnection> conns;
  for (int i = 0; i < std::max(1, jobs); ++i) {
    auto conn = pool.Acquire(i == 0 ? std::chrono::seconds(10) : std::chrono::seconds(1));
    if (!conn.ok() && i > 0) break;
    if (!conn.ok()) return conn.status();
    conns.push_back(std::move(*conn));
  }
  db::Connection& first = *conns.front();
  RETURN_IF_ERROR(DropStaging(first));
  ASSIGN_OR_RETURN(const std::string home, CurrentSchema(first));
  std::string id = core::NewUuidV4();
  std::erase(id, '-');
  staged.schema = std::string(kStagingPrefix) + id.substr(0, 12);
  DeferredIndexes deferred;
  {
    ASSIGN_OR_RETURN(auto tx, db::Transaction::Begin(first));
    RETURN_IF_ERROR(first.Exec("CREATE SCHEMA " + db::QuoteIdent(staged.schema))
                        .WithContext("creating a staging schema for the restore"));
    RETURN_IF_ERROR(UseStaging(first, staged.schema, home));
    ASSIGN_OR_RETURN(staged.tables, store.CreateUserTables(first, *schema));
    // No autovacuum while they fill and are built: its lock would hold a build back (until
    // PostgreSQL's deadlock check cancels it), and it would take a core. The change turns it
    // back on.
    for (const std::string& t : staged.tables) {
      RETURN_IF_ERROR(
          first.Exec("ALTER TABLE " + db::QuoteIdent(t) + " SET (autovacuum_enabled = false)"));
    }
    RETURN_IF_ERROR(deferred.Begin(first, staged.tables));
    RETURN_IF_ERROR(tx.Commit());
  }
  for (const auto& [name, c] : schema->collections()) {
    if (std::find(staged.tables.begin(), staged.tables.end(), c->table) != staged.tables.end()) {
      staged.collections.insert(name);
    }
  }

  // What follows the rows, as pg_restore -j schedules it: each table's keys once its rows are
  // in (with its sequences), then each of its indexes; each foreign key between staged tables
  // once its table's keys and everything of the table it points at are built, added unchecked,
  // then checked (a check takes a lock that lets the table it points at be read and be pointed
  // at by another). Any free connection takes the first piece of work that is ready and whose
  // locks do not conflict with those of the work running (which would only wait), while the
  // archive is read and the next table's rows load on another. Foreign keys to the
  // application's own tables are the change's to add.
  enum class Kind { kKeys, kIndex, kForeignKey, kValidate };
  struct Work {
    Kind kind;
    std::string table, other, name;  // other, name: a foreign key's
    std::string sql;
    std::vector<std::pair<std::string, Lock>> locks;
    bool started = false;
  };
  std::vector<Work> work;
  std::map<std::string, int> unbuilt;  // table -> its rows (until loaded) and builds left
  std::set<std::string> loaded, keyed, added;
  for (const std::string& t : staged.tables) {
    DeferredIndexes::Builds b = deferred.TakeBuilds(t);
    unbuilt[t] = 2 + static_cast<int>(b.indexes.size());
    std::string keys;
    for (const std::string& sql : b.keys) keys += sql + ";\n";
    work.push_back({Kind::kKeys, t, "", "", std::move(keys), {{t, Lock::kAccessExclusive}}});
    for (std::string& sql : b.indexes) {
      work.push_back({Kind::kIndex, t, "", "", std::move(sql), {{t, Lock::kShare}}});
    }
  }
  for (DeferredIndexes::ForeignKey& f : deferred.TakeForeignKeys()) {
    if (f.outside || !unbuilt.count(f.references) || f.sql.ends_with(" NOT VALID")) {
      staged.foreign_keys.push_back(std::move(f.sql));
      continue;
    }
    work.push_back(
        {Kind::kForeignKey,
         f.table,
         f.references,
         f.name,
         f.sql + " NOT VALID",
         {{f.table, Lock::kShareRowExclusive}, {f.references, Lock::kShareRowExclusive}}});
    work.push_back({Kind::kValidate,
                    f.table,
                    f.references,
                    f.name,
                    "ALTER TABLE " + db::QuoteIdent(f.table) + " VALIDATE CONSTRAINT " +
                        db::QuoteIdent(f.name),
                    {{f.table, Lock::kShareUpdateExclusive}, {f.references, Lock::kRowShare}}});
  }
  std::vector<const Work*> running;
  auto ready = [&](const Work& w) {
    bool met = false;
    switch (w.kind) {
      case Kind::kKeys:
        met = loaded.count(w.table) > 0;
        break;
      case Kind::kIndex:
        met = keyed.count(w.table) > 0;
        break;
      case Kind::kForeignKey:
        met = keyed.count(w.table) > 0 && unbuilt.at(w.other) == 0;
        break;
      case Kind::kValidate:
        met = added.count(w.table + "." + w.name) > 0;
        break;
    }
    if (!met) return false;
    for (const Work* r : running) {
      for (const auto& [table, lock] : w.locks) {
        for (const auto& [their_table, theirs] : r->locks) {
          if (table == their_table && LocksConflict(lock, theirs)) return false;
        }
      }
    }
    return true;
  };

  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> busy(conns.size(), false);
  size_t finished = 0;
  int loaders_wait = 0;  // readings whose next table's rows wait for a connection: they come first
  Status failed;
  auto fail = [&](Status s) {  // under mu
    if (failed.ok()) failed = std::move(s);
    cv.notify_all();
  };
  auto free_slot = [&]() -> std::optional<size_t> {  // under mu
    for (size_t i = 0; i < busy.size(); ++i) {
      if (!busy[i]) return i;
    }
    return std::nullopt;
  };
  // Each statement commits on its own: a check sees the keys other connections built. After a
  // table's keys its sequences move on (reading the keys just built).
  auto commit = [&](db::Connection& conn, const std::function<Status()>& what) -> Status {
    ASSIGN_OR_RETURN(auto tx, db::Transaction::Begin(conn));
    RETURN_IF_ERROR(UseStaging(conn, staged.schema, home));
    RETURN_IF_ERROR(what());
    return tx.Commit();
  };
  auto run = [&](db::Connection& conn, const Work& w) -> Status {
    if (w.kind != Kind::kKeys) return commit(conn, [&] { return conn.Exec(w.sql); });
    return commit(conn, [&] {
      if (!w.sql.empty()) RETURN_IF_ERROR(conn.ExecScript(w.sql));
      return ResetSequences(conn, w.table);
    });
  };
  std::vector<std::thread> workers;
  for (size_t n = 0; n < conns.size(); ++n) {
    workers.emplace_back([&] {
      std::unique_lock lock(mu);
      for (;;) {
        Work* next = nullptr;
        std::optional<size_t> slot;
        cv.wait(lock, [&] {
          if (!failed.ok() || finished == work.size()) return true;
          slot = loaders_wait > 0 ? std::nullopt : free_slot();
          if (!slot) return false;
          for (Work& w : work) {
            if (!w.started && ready(w)) {
              next = &w;
              return true;
            }
          }
          return false;
        });
        if (next == nullptr) return;
        next->started = true;
        busy[*slot] = true;
        running.push_back(next);
        lock.unlock();
        Status s = core::Guard("building the restored tables' keys", "",
                               [&] { return run(*conns[*slot], *next); });
        lock.lock();
        busy[*slot] = false;
        std::erase(running, next);
        ++finished;
        if (!s.ok()) fail(std::move(s));
        if (next->kind == Kind::kKeys) keyed.insert(next->table);
        if (next->kind == Kind::kForeignKey) added.insert(next->table + "." + next->name);
        if (next->kind == Kind::kKeys || next->kind == Kind::kIndex) --unbuilt.at(next->table);
        cv.notify_all();
      }
    });
  }
  auto mark_loaded = [&](const std::string& table) {  // under mu
    if (loaded.insert(table).second) --unbuilt.at(table);
    cv.notify_all();
  };

  // The rows: `readers` readings of the archive at once, each loading the collections it
  // reaches first (the others' rows it reads past), so that two tables' rows load at once, as
  // pg_restore -j does. The first reading also writes the uploaded files and keeps the rows the
  // change loads (the plugins' tables and collections: configuration, users, roles, not bulk
  // data), up to a limit past which the change reads the archive again.
  const size_t readers = std::min<size_t>(conns.size(), 2);
  std::map<std::string, size_t> owner;  // collection -> the reading that loads it
  std::atomic<int64_t> rows_done{0};
  std::vector<std::atomic<uint64_t>> bytes_read(readers);  // of the archive, by each reading
  std::atomic<uint64_t> archive_bytes{0};
  std::string schema_text;  // dump/schema.json as the first reading found it
  std::string loading_what;
  size_t reading = readers;
  constexpr size_t kKeepAtMost = 256 << 20;
  size_t kept = 0;
  staged.plugin_rows_kept = true;
  auto read = [&](size_t me) -> Status {
    std::optional<size_t> copying;  // the connection its rows go into now
    int64_t reported = 0;
    RestoreOptions counted;
    counted.progress = [&](int64_t done, int64_t, std::string_view what) -> Status {
      rows_done += done - std::exchange(reported, done);
      std::lock_guard lock(mu);
      loading_what = std::string(what);
      return failed;
    };
    LoadScope scope;
    scope.binary = true;
    auto claim = [&](const std::string& c) {
      if (!staged.collections.count(c)) return false;
      std::lock_guard lock(mu);
      return owner.emplace(c, me).first->second == me;
    };
    scope.collections = claim;
    scope.tables = false;
    scope.files = me == 0;
    scope.table_begin = [&](const std::string& table) -> Result<db::Connection*> {
      {
        std::unique_lock lock(mu);
        ++loaders_wait;
        cv.wait(lock, [&] { return !failed.ok() || free_slot(); });
        --loaders_wait;
        cv.notify_all();
        RETURN_IF_ERROR(failed);
        copying = free_slot();
        busy[*copying] = true;
      }
      db::Connection& conn = *conns[*copying];
      RETURN_IF_ERROR(conn.Begin());
      RETURN_IF_ERROR(UseStaging(conn, staged.schema, home));
      return &conn;
    };
    scope.table_done = [&](const std::string& table) -> Status {
      Status committed = conns[*copying]->Commit();
      std::lock_guard lock(mu);
      busy[*copying] = false;
      copying.reset();
      if (!committed.ok()) fail(committed);
      mark_loaded(table);
      return failed;
    };
    Loader loader(*conns[me], *schema, check, counted, files, std::move(scope));
    std::string entry;  // the entry being read (the first reading's)
    ArchiveContents contents;
    bool keep = false;  // it is kept for the change
    Status s = core::Guard("restoring", request.path.filename().string(), [&]() -> Status {
      auto read = ReadArchiveAhead(
          request.path, request.password,
          [&](const ArchiveEntry& e, std::string_view data) -> Status {
            if (me == 0 && e.name == kSchemaEntry) {
              RETURN_IF_ERROR(AppendDumpSchema(&schema_text, data, "backup", "BAD_DUMP"));
            }
            if (me == 0 && e.name != entry) {  // a new entry: is it kept for the change?
              entry = e.name;
              auto rows = ParseRowsEntry(e.name, "BAD_ENTRY");
              keep = rows.ok() && *rows &&
                     (!(*rows)->collection || !staged.collections.count((*rows)->table));
              if (keep && staged.plugin_rows_kept) staged.plugin_rows.emplace_back(e, "");
            }
            if (keep && staged.plugin_rows_kept) {
              kept += data.size();
              if (kept > kKeepAtMost) {
                staged.plugin_rows_kept = false;
                staged.plugin_rows.clear();
              } else {
                staged.plugin_rows.back().second.append(data);
              }
            }
            return loader.Visit(e, data);
          },
          [&](const std::string& name) {
            // Its collections' rows; the first reading also the rest (the schema, the
            // plugins' rows, the files). A bad name is the loader's to report.
            auto rows = ParseRowsEntry(name, "BAD_ENTRY");
            if (!rows.ok()) return true;
            if (*rows && (*rows)->collection && staged.collections.count((*rows)->table)) {
              return claim((*rows)->table);
            }
            return me == 0;
          },
          [&](uint64_t done, uint64_t total) {
            bytes_read[me] = done;
            archive_bytes = total;
          });
      RETURN_IF_ERROR(read.status());
      contents = std::move(*read);
      return loader.Finish(contents.manifest);
    });
    if (s.ok() && me == 0) {
      // The schema the tables were made from is the one the checked archive holds.
      auto found = ParseDumpSchema(schema_text, "backup", "BAD_DUMP");
      if (!found.ok()) {
        s = found.status();
      } else if (*found != definitions) {
        s = InvalidArgument("the backup's schema.json changed while it was being restored",
                            "BAD_DUMP");
      }
      staged.manifest = std::move(contents.manifest);
      staged.archive_bytes = contents.file_bytes;
    }
    std::lock_guard lock(mu);
    if (!s.ok()) {
      fail(s);
      // Its transaction ends when the connection goes back to the pool.
      if (copying) busy[*copying] = false;
    }
    --reading;
    cv.notify_all();
    return s;
  };
  std::vector<std::thread> loaders;
  for (size_t me = 0; me < readers; ++me) loaders.emplace_back([&, me] { (void)read(me); });
  {
    std::unique_lock lock(mu);
    for (;;) {
      if (reading == 0) {
        for (const std::string& t : staged.tables) mark_loaded(t);  // a table without rows
      }
      if (!failed.ok() || (reading == 0 && finished == work.size())) break;
      cv.wait_for(lock, std::chrono::milliseconds(500));
      if (!options.progress || !failed.ok()) continue;
      const std::string what = reading > 0 ? loading_what : "building keys and indexes";
      uint64_t done = 0;
      for (const auto& b : bytes_read) done += b.load();
      lock.unlock();
      Status s = options.progress(static_cast<int64_t>(done / readers),
                                  static_cast<int64_t>(archive_bytes.load()), what);
      lock.lock();
      if (!s.ok()) fail(std::move(s));
    }
  }
  for (std::thread& t : loaders) t.join();
  for (std::thread& t : workers) t.join();
  RETURN_IF_ERROR(failed);
  staged.rows = rows_done.load();
  core::log::Info("restore staged", {{"schema", staged.schema},
                                     {"tables", static_cast<int64_t>(staged.tables.size())},
                                     {"rows", staged.rows},
                                     {"connections", static_cast<int64_t>(conns.size())},
                                     {"ms", MillisSince(started)}});
  return staged;
}

Result<RestoreSummary> RestoreDatabase(db::Connection& conn, const data::SchemaStore& store,
                                       const RestoreRequest& request, const BackupCheck& check,
                                       const RestoreOptions& options, RestoredFiles& files,
                                       const StagedRestore* staged) {
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

  LoadScope scope;
  if (staged != nullptr) {
    // The staged tables take the place of the empty ones just made, with their keys and
    // indexes; their foreign keys (set aside in staging) are added and checked with the rest.
    RETURN_IF_ERROR(MoveStaged(conn, *staged).WithContext("moving the restored tables in"));
    deferred.Forget(staged->tables);
    deferred.AddForeignKeys(staged->foreign_keys);
    const std::set<std::string> moved(staged->tables.begin(), staged->tables.end());
    std::erase_if(loaded, [&](const std::string& t) { return moved.count(t) > 0; });
    scope.collections = [staged](const std::string& c) { return !staged->collections.count(c); };
    scope.files = false;  // placed by the staging
    scope.rows_before = staged->rows;
  }
  Loader loader(conn, *next, check, options, files, std::move(scope));
  if (staged != nullptr && staged->plugin_rows_kept) {
    for (const auto& [entry, data] : staged->plugin_rows)
      RETURN_IF_ERROR(loader.Visit(entry, data));
  } else {
    auto read = ReadArchiveAhead(
        request.path, request.password,
        [&](const ArchiveEntry& e, std::string_view data) { return loader.Visit(e, data); });
    if (!read.ok()) {
      return read.status().WithContext("restoring " + request.path.filename().string());
    }
  }
  RETURN_IF_ERROR(loader.Finish(check.manifest));

  RETURN_IF_ERROR(deferred.Finish(conn, loaded, loaded, "the restored rows"));
  RETURN_IF_ERROR(files.Place());
  RestoreSummary summary;
  summary.schema = std::move(next);
  summary.rows = loader.rows();
  summary.files = files.count();
  return summary;
}

}  // namespace slipway::ops
