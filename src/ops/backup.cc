#include "ops/backup.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "core/clock.h"
#include "core/ids.h"
#include "db/catalog.h"
#include "db/system_tables.h"
#include "ops/archive.h"
#include "ops/row_io.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kEstimateAbove = 100000;

json::value ParseOr(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

class Snapshot {
 public:
  explicit Snapshot(db::Connection& conn) : conn_(conn) {}
  ~Snapshot() {
    if (open_) conn_.ExecScript("ROLLBACK").IgnoreError();
  }
  Status Begin() {
    if (conn_.dialect() == db::Dialect::kPostgres) {
      RETURN_IF_ERROR(conn_.ExecScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    } else {
      RETURN_IF_ERROR(conn_.ExecScript("BEGIN DEFERRED"));
    }
    open_ = true;
    // The snapshot starts with the first read.
    return conn_.Query("SELECT 1 FROM " + std::string(db::kClusterTable)).status();
  }

 private:
  db::Connection& conn_;
  bool open_ = false;
};

class Dumper {
 public:
  Dumper(db::Connection& conn, ArchiveWriter& out, const BackupOptions& options)
      : conn_(conn), out_(out), options_(options) {}

  Result<json::object> Schema(const data::SchemaStore& store) {
    ASSIGN_OR_RETURN(json::object schema, store.Definitions(conn_));
    json::array code;
    for (const data::Collection& c : store.code_collections()) code.push_back(json::value(c.name));
    ASSIGN_OR_RETURN(auto ps, conn_.Query("SELECT name, version, enabled, installed, built_in, "
                                          "options, package_version FROM " +
                                          std::string(db::kPluginsTable) + " ORDER BY name"));
    json::array plugins;
    for (int r = 0; r < ps->row_count(); ++r) {
      plugins.push_back(json::object{
          {"name", ps->Text(r, 0)},
          {"version", ps->Text(r, 1)},
          {"enabled", ps->Bool(r, 2)},
          {"installed", ps->Bool(r, 3)},
          {"builtIn", ps->Bool(r, 4)},
          {"options", ps->IsNull(r, 5) ? json::value(nullptr) : ParseOr(ps->Text(r, 5))},
          {"packageVersion",
           ps->IsNull(r, 6) ? json::value(nullptr) : json::value(ps->Text(r, 6))}});
    }
    schema["codeCollections"] = std::move(code);
    schema["plugins"] = std::move(plugins);
    RETURN_IF_ERROR(out_.AddBytes("dump/schema.json", json::serialize(schema)));
    return schema;
  }

  Result<int64_t> Rows(const data::Collection& c) {
    const RowJson render(c.ColumnFields());
    std::string chunk;
    int part = 0;
    int64_t count = 0;
    auto flush = [&]() -> Status {
      if (chunk.empty()) return Status::Ok();
      char name[32];
      std::snprintf(name, sizeof(name), "%06d", ++part);
      RETURN_IF_ERROR(out_.AddBytes("dump/rows/" + c.name + "/" + name + ".ndjson", chunk));
      chunk.clear();
      return Status::Ok();
    };
    RETURN_IF_ERROR(ScanCollection(conn_, c, [&](const db::ResultSet& rs) -> Status {
      for (int r = 0; r < rs.row_count(); ++r) {
        render.Append(&chunk, rs, r);
        chunk.push_back('\n');
        if (chunk.size() >= options_.chunk_bytes) RETURN_IF_ERROR(flush());
      }
      count += rs.row_count();
      done_ += rs.row_count();
      total_ = std::max(total_, done_);  // an estimate may fall short
      if (options_.progress) RETURN_IF_ERROR(options_.progress(done_, total_, c.name));
      return Status::Ok();
    }));
    RETURN_IF_ERROR(flush());
    return count;
  }

  // A plugin's own table outside the collections (role grants, token blacklists): read whole
  // (they hold configuration, not bulk data), each cell by what the database says it is.
  Result<int64_t> Table(const std::string& table) {
    ASSIGN_OR_RETURN(auto rs, conn_.Query("SELECT * FROM " + db::QuoteIdent(table)));
    std::string chunk;
    for (int r = 0; r < rs->row_count(); ++r) {
      AppendTableRowJson(&chunk, *rs, r);
      chunk.push_back('\n');
    }
    if (!chunk.empty())
      RETURN_IF_ERROR(out_.AddBytes("dump/tables/" + table + "/000001.ndjson", chunk));
    done_ += rs->row_count();
    total_ = std::max(total_, done_);
    if (options_.progress) RETURN_IF_ERROR(options_.progress(done_, total_, table));
    return static_cast<int64_t>(rs->row_count());
  }

  Status Files(uint64_t* files, uint64_t* bytes) {
    std::error_code ec;
    if (!fs::exists(options_.uploads_dir, ec)) return Status::Ok();
    std::vector<fs::path> names;
    for (const auto& e : fs::directory_iterator(options_.uploads_dir, ec)) {
      std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.' || !e.is_regular_file()) continue;  // uploads underway
      names.push_back(e.path());
    }
    std::sort(names.begin(), names.end());
    for (const fs::path& p : names) {
      RETURN_IF_ERROR(out_.AddFile("files/uploads/" + p.filename().string(), p));
      ++*files;
      *bytes += fs::file_size(p, ec);
      if (options_.progress) RETURN_IF_ERROR(options_.progress(done_, total_, "files"));
    }
    return Status::Ok();
  }

  void set_total(int64_t total) { total_ = total; }

 private:
  db::Connection& conn_;
  ArchiveWriter& out_;
  const BackupOptions& options_;
  int64_t done_ = 0, total_ = 0;
};

}  // namespace

Result<std::vector<std::string>> PluginTables(db::Connection& conn, const data::Schema& schema) {
  std::set<std::string> skip = {
      std::string(db::kNodesTable),          std::string(db::kLocksTable),
      std::string(db::kWorkerIdsTable),      std::string(db::kTasksTable),
      std::string(db::kPendingDropsTable),   std::string(db::kClusterTable),
      std::string(db::kMigrationsTable),     std::string(db::kCollectionsTable),
      std::string(db::kFieldsTable),         std::string(db::kPluginsTable),
      std::string(db::kBackupSettingsTable), std::string(db::kMigrationRulesTable),
      std::string(db::kMigrationLogsTable)};
  for (const auto& [name, c] : schema.collections()) skip.insert(c->table);
  ASSIGN_OR_RETURN(auto pending,
                   conn.Query("SELECT table_name FROM " + std::string(db::kPendingDropsTable) +
                              " WHERE column_name = ''"));
  for (int r = 0; r < pending->row_count(); ++r) skip.insert(std::string(pending->Text(r, 0)));
  ASSIGN_OR_RETURN(std::vector<std::string> tables, db::ListTables(conn));
  std::vector<std::string> out;
  for (const std::string& t : tables) {
    if (!skip.count(t)) out.push_back(t);
  }
  return db::ParentsFirst(conn, std::move(out));
}

Result<std::vector<const data::Collection*>> CollectionsParentsFirst(db::Connection& conn,
                                                                     const data::Schema& schema) {
  std::map<std::string, const data::Collection*> by_table;
  std::vector<std::string> tables;
  for (const auto& [name, c] : schema.collections()) {
    by_table[c->table] = c.get();
    tables.push_back(c->table);
  }
  ASSIGN_OR_RETURN(tables, db::ParentsFirst(conn, std::move(tables)));
  std::vector<const data::Collection*> out;
  for (const std::string& t : tables) out.push_back(by_table.at(t));
  return out;
}

std::string TimestampedFileName(std::string_view prefix, std::string_view extension) {
  const std::string stamp = core::UtcNowText("%Y%m%d_%H%M%S");
  std::string random = core::NewUuidV4();
  int n = 0;
  for (char c : random) {
    if (c >= '0' && c <= '9') n = (n * 10 + (c - '0')) % 10000;
  }
  char tail[16];
  std::snprintf(tail, sizeof(tail), "_%04d", n);
  return std::string(prefix) + "_" + stamp + tail + std::string(extension);
}

std::string BackupFileName() { return TimestampedFileName("backup", ".slwbak"); }

Result<DumpContents> ReadDump(const fs::path& path, const std::string& password,
                              std::string_view kind, std::string_view noun,
                              std::string_view wrong_kind_code, std::string_view bad_code,
                              const std::function<void(uint64_t, uint64_t)>& progress) {
  std::string schema_text;
  auto keep_schema = [&](const ArchiveEntry& e, std::string_view data) -> Status {
    if (e.name != "dump/schema.json") return Status::Ok();
    return AppendDumpSchema(&schema_text, data, noun, bad_code);
  };
  ASSIGN_OR_RETURN(ArchiveContents contents, ReadArchive(path, password, keep_schema, progress));
  DumpContents out;
  out.manifest = std::move(contents.manifest);
  out.archive_bytes = contents.file_bytes;
  RETURN_IF_ERROR(CheckDumpKind(out.manifest, kind, noun, wrong_kind_code));
  ASSIGN_OR_RETURN(out.schema, ParseDumpSchema(schema_text, noun, bad_code));
  return out;
}

Status AppendDumpSchema(std::string* text, std::string_view data, std::string_view noun,
                        std::string_view bad_code) {
  constexpr size_t kMaxSchemaBytes = 64 << 20;
  if (text->size() + data.size() > kMaxSchemaBytes) {
    return InvalidArgument("the " + std::string(noun) + "'s schema.json is too large",
                           std::string(bad_code));
  }
  text->append(data);
  return Status::Ok();
}

Status CheckDumpKind(const json::object& manifest, std::string_view kind, std::string_view noun,
                     std::string_view wrong_kind_code) {
  const json::value* k = manifest.if_contains("kind");
  const std::string found = k != nullptr && k->is_string() ? std::string(k->as_string()) : "";
  if (found != kind) {
    return InvalidArgument("the archive is " + (found.empty() ? "of no kind" : "a " + found) +
                               ", not a " + std::string(noun),
                           std::string(wrong_kind_code));
  }
  return Status::Ok();
}

Result<json::object> ParseDumpSchema(std::string_view text, std::string_view noun,
                                     std::string_view bad_code) {
  boost::system::error_code ec;
  json::value schema = json::parse(text, ec);
  if (text.empty() || ec || !schema.is_object()) {
    return InvalidArgument("the " + std::string(noun) + " has no readable dump/schema.json",
                           std::string(bad_code));
  }
  return std::move(schema.as_object());
}

json::object BackupSummaryJson(const BackupSummary& summary) {
  return json::object{{"path", summary.path.string()},
                      {"rows", summary.rows},
                      {"files", summary.files},
                      {"bytes", summary.archive_bytes},
                      {"manifest", summary.manifest}};
}

std::optional<BackupSummary> ParseBackupSummary(std::string_view line) {
  if (!line.starts_with("{")) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.as_object();
  const json::value* path = o.if_contains("path");
  const json::value* manifest = o.if_contains("manifest");
  if (path == nullptr || !path->is_string() || manifest == nullptr || !manifest->is_object()) {
    return std::nullopt;
  }
  auto count = [&](std::string_view key) -> int64_t {  // 0 for what is not a count
    const json::value* n = o.if_contains(key);
    if (n == nullptr || !n->is_number()) return 0;
    boost::system::error_code number_ec;
    const auto value = n->to_number<int64_t>(number_ec);
    return number_ec || value < 0 ? 0 : value;
  };
  BackupSummary summary;
  summary.path = std::string(path->as_string());
  summary.manifest = manifest->as_object();
  summary.rows = count("rows");
  summary.files = static_cast<uint64_t>(count("files"));
  summary.archive_bytes = static_cast<uint64_t>(count("bytes"));
  return summary;
}

Result<BackupSummary> CreateBackup(db::Connection& conn, const data::SchemaStore& store,
                                   const BackupOptions& options) {
  Snapshot snapshot(conn);
  RETURN_IF_ERROR(snapshot.Begin());
  // The schema as this snapshot sees it: rows and definitions agree.
  ASSIGN_OR_RETURN(std::shared_ptr<const data::Schema> schema, store.Load(conn));
  ASSIGN_OR_RETURN(std::unique_ptr<ArchiveWriter> out,
                   ArchiveWriter::Create(options.output, {.password = options.password}));
  Dumper dump(conn, *out, options);
  ASSIGN_OR_RETURN(json::object stored, dump.Schema(store));
  ASSIGN_OR_RETURN(std::vector<std::string> plugin_tables, PluginTables(conn, *schema));
  json::object selected_fields;
  std::optional<std::set<std::string>> selected;
  if (options.select) {
    ASSIGN_OR_RETURN(selected, options.select(conn, *schema, &selected_fields));
    std::erase_if(plugin_tables, [&](const std::string& t) { return !selected->count(t); });
  }
  auto chosen = [&](const data::Collection& c) { return !selected || selected->count(c.name); };
  int64_t total = 0;
  std::vector<std::string> counted;
  for (const auto& [name, c] : schema->collections()) {
    if (chosen(*c)) counted.push_back(c->table);
  }
  counted.insert(counted.end(), plugin_tables.begin(), plugin_tables.end());
  // The progress bar's total: the database's estimate for a large table (counting one reads
  // all of it, a tenth of the dump's time), an exact count for a small one. The manifest's
  // counts are those of the rows dumped.
  for (const std::string& t : counted) {
    ASSIGN_OR_RETURN(std::optional<int64_t> estimate, db::EstimatedRows(conn, t));
    if (estimate && *estimate >= kEstimateAbove) {
      total += *estimate;
      continue;
    }
    ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT count(*) FROM " + db::QuoteIdent(t)));
    total += rs->Int(0, 0);
  }
  dump.set_total(total);
  json::object counts;
  int64_t rows = 0;
  // Parents first, so that a restore inserts rows after those they point at.
  ASSIGN_OR_RETURN(auto ordered, CollectionsParentsFirst(conn, *schema));
  for (const data::Collection* c : ordered) {
    if (!chosen(*c)) continue;
    ASSIGN_OR_RETURN(int64_t n, dump.Rows(*c));
    counts[c->name] = n;
    rows += n;
  }
  json::object table_counts;
  for (const std::string& t : plugin_tables) {
    ASSIGN_OR_RETURN(int64_t n, dump.Table(t));
    table_counts[t] = n;
    rows += n;
  }
  uint64_t files = 0, file_bytes = 0;
  if (options.files) RETURN_IF_ERROR(dump.Files(&files, &file_bytes));
  json::array plugins;
  for (const json::value& p : stored.at("plugins").as_array()) {
    plugins.push_back(json::object{
        {"name", p.at("name")}, {"version", p.at("version")}, {"enabled", p.at("enabled")}});
  }
  json::object fields{{"kind", options.kind},
                      {"appVersion", options.app_version},
                      {"dialect", conn.dialect() == db::Dialect::kPostgres ? "postgres" : "sqlite"},
                      {"createdAt", core::UtcNowText()},
                      {"note", options.note},
                      {"plugins", std::move(plugins)},
                      {"rowCounts", std::move(counts)},
                      {"tableRowCounts", std::move(table_counts)},
                      {"files", files},
                      {"fileBytes", file_bytes},
                      {"includesFiles", options.files}};
  for (auto& [key, value] : selected_fields) fields[key] = std::move(value);
  ASSIGN_OR_RETURN(json::object manifest, out->Finish(std::move(fields)));
  BackupSummary summary;
  summary.path = options.output;
  summary.manifest = std::move(manifest);
  std::error_code ec;
  summary.archive_bytes = fs::file_size(options.output, ec);
  summary.rows = rows;
  summary.files = files;
  return summary;
}

}  // namespace slipway::ops
