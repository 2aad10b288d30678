#include "ops/row_io.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

#include "core/json_writer.h"
#include "core/read_ahead.h"
#include "data/values.h"
#include "db/bulk.h"
#include "db/catalog.h"

namespace slipway::ops {
namespace json = boost::json;

namespace {

constexpr int64_t kPage = 5000;

db::Value KeyOf(const data::Field& f, const db::ResultSet& rs, int r, int col) {
  if (data::IsIntegral(f.type)) return rs.Int(r, col);
  return std::string(rs.Text(r, col));
}

// Reads a started COPY on a thread of its own while `visit` works on the rows before, so that
// the server never waits for the rows to be rendered: a few batches ahead at most. The thread
// is the only one to use the connection until it ends.
Status PipelinedCopy(db::BulkReader& stream,
                     const std::function<Status(const db::ResultSet& rows)>& visit) {
  using Rows = std::unique_ptr<db::ResultSet>;
  return core::ReadAhead<Rows>(
      /*limit=*/3, [](const Rows&) -> size_t { return 1; },
      [&](const std::function<Status(Rows)>& push) -> Status {
        for (;;) {
          ASSIGN_OR_RETURN(Rows rows, stream.NextCopyRows(1 << 20));
          if (rows->row_count() == 0) return Status::Ok();
          RETURN_IF_ERROR(push(std::move(rows)));
        }
      },
      [&](Rows& rows) { return visit(*rows); });
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void SkipSpace(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

// JSON's grammar for a string at s[i] == '"' (left past it), or false.
bool ScanString(std::string_view s, size_t& i, bool* escaped, bool* unicode) {
  for (++i;; ++i) {
    while (i + 8 <= s.size() && core::QuietJsonWord(s.data() + i, /*ascii=*/false)) i += 8;
    if (i >= s.size()) return false;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      ++i;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (++i == s.size()) return false;
      *escaped = true;
      if (s[i] == 'u') *unicode = true;
    }
  }
}

// JSON's grammar for a number at s[i], or false.
bool ScanNumber(std::string_view s, size_t& i, bool* integral, bool* exponent = nullptr) {
  const size_t start = i;
  if (i < s.size() && s[i] == '-') ++i;
  if (i == s.size() || !IsDigit(s[i])) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  *integral = true;
  if (i < s.size() && s[i] == '.') {
    *integral = false;
    if (++i == s.size() || !IsDigit(s[i])) return false;
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    *integral = false;
    if (exponent != nullptr) *exponent = true;
    if (++i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i == s.size() || !IsDigit(s[i])) return false;
    while (i < s.size() && IsDigit(s[i])) ++i;
  }
  return i > start;
}

bool ScanWord(std::string_view s, size_t& i, std::string_view word) {
  if (s.substr(i, word.size()) != word) return false;
  i += word.size();
  return true;
}

// An object or array at s[i] (brackets matched, strings and numbers scanned); `plain` as
// DumpCell's.
bool ScanNested(std::string_view s, size_t& i, bool* plain) {
  int depth = 0;
  do {
    const char c = s[i];
    if (c == '{' || c == '[') {
      if (++depth > 64) *plain = false;
      ++i;
    } else if (c == '}' || c == ']') {
      --depth;
      ++i;
    } else if (c == '"') {
      bool escaped = false, unicode = false;
      if (!ScanString(s, i, &escaped, &unicode)) return false;
      if (unicode) *plain = false;
    } else if (c == '-' || IsDigit(c)) {
      bool integral, exponent = false;
      if (!ScanNumber(s, i, &integral, &exponent)) return false;
      if (exponent) *plain = false;
    } else if (c == 't' || c == 'f' || c == 'n') {
      if (!ScanWord(s, i, "true") && !ScanWord(s, i, "false") && !ScanWord(s, i, "null")) {
        return false;
      }
    } else if (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else {
      return false;
    }
  } while (depth > 0 && i < s.size());
  return depth == 0;
}

// A string cell's characters, its escapes (other than \u) undone; false for \u.
bool Unescape(std::string_view quoted, std::string* out) {
  out->clear();
  const std::string_view s = quoted.substr(1, quoted.size() - 2);
  for (size_t i = 0; i < s.size(); ++i) {
    const size_t run = s.find('\\', i);
    out->append(s.substr(i, run - i));
    if (run == std::string_view::npos) break;
    i = run;
    switch (s[++i]) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

std::vector<const data::Field*> KeyFields(const data::Collection& c) {
  std::vector<const data::Field*> keys;
  if (const data::Field* pk = c.PrimaryKey()) {
    keys.push_back(pk);
    return keys;
  }
  for (const data::Field* f : c.ColumnFields()) {
    if (!f->foreign_key_of.empty() && keys.size() < 2) keys.push_back(f);
  }
  return keys;
}

Status ScanCollection(db::Connection& conn, const data::Collection& c,
                      const std::function<Status(const db::ResultSet& rows)>& visit) {
  std::vector<const data::Field*> columns = c.ColumnFields();
  std::vector<const data::Field*> keys = KeyFields(c);
  if (keys.empty()) return Internal("collection '" + c.name + "' has no key to page by");
  std::vector<int> key_cols;
  for (const data::Field* k : keys) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i] == k) key_cols.push_back(static_cast<int>(i));
    }
  }
  std::string select;
  for (const data::Field* f : columns) {
    select += (select.empty() ? "" : ", ") + db::QuoteIdent(f->column);
  }
  std::string order, params;
  for (size_t i = 0; i < keys.size(); ++i) {
    order += (i ? ", " : "") + db::QuoteIdent(keys[i]->column);
    params += (i ? ", $" : "$") + std::to_string(i + 1);
  }
  if (auto* stream = dynamic_cast<db::BulkReader*>(&conn)) {
    // PostgreSQL streams the whole table while the rows before are handled, in the order it
    // reads them: sorting by key cost the server more than the rest of the dump (a restore
    // checks references once every row is in, so it needs no order).
    RETURN_IF_ERROR(stream->BeginCopyOut("SELECT " + select + " FROM " + db::QuoteIdent(c.table)));
    return PipelinedCopy(*stream, visit);
  }
  const std::string tuple = keys.size() == 1 ? order : "(" + order + ")";
  const std::string first = "SELECT " + select + " FROM " + db::QuoteIdent(c.table) + " ORDER BY " +
                            order + " LIMIT " + std::to_string(kPage);
  const std::string next = "SELECT " + select + " FROM " + db::QuoteIdent(c.table) + " WHERE " +
                           tuple + " > " + (keys.size() == 1 ? params : "(" + params + ")") +
                           " ORDER BY " + order + " LIMIT " + std::to_string(kPage);
  std::vector<db::Value> last;
  for (;;) {
    ASSIGN_OR_RETURN(auto rs, last.empty() ? conn.Query(first) : conn.Query(next, last));
    RETURN_IF_ERROR(visit(*rs));
    if (rs->row_count() < kPage) break;
    last.clear();
    int r = rs->row_count() - 1;
    for (size_t k = 0; k < keys.size(); ++k) last.push_back(KeyOf(*keys[k], *rs, r, key_cols[k]));
  }
  return Status::Ok();
}

RowJson::RowJson(std::vector<const data::Field*> columns) : columns_(std::move(columns)) {
  for (const data::Field* f : columns_) {
    std::string key = keys_.empty() ? "" : ",";
    core::AppendJsonString(&key, f->name);
    key.push_back(':');
    keys_.push_back(std::move(key));
  }
}

void RowJson::Append(std::string* out, const db::ResultSet& rows, int r) const {
  out->push_back('{');
  for (size_t i = 0; i < columns_.size(); ++i) {
    out->append(keys_[i]);
    data::AppendCellJson(out, *columns_[i], rows, r, static_cast<int>(i));
  }
  out->push_back('}');
}

void AppendTableRowJson(std::string* out, const db::ResultSet& rs, int r) {
  out->push_back('{');
  for (int c = 0; c < rs.column_count(); ++c) {
    if (c > 0) out->push_back(',');
    core::AppendJsonString(out, rs.column_name(c));
    out->push_back(':');
    switch (rs.Kind(r, c)) {
      case db::CellKind::kNull:
        out->append("null");
        break;
      case db::CellKind::kInteger:
        out->append(std::to_string(rs.Int(r, c)));
        break;
      case db::CellKind::kReal:
        core::AppendJsonDouble(out, rs.Double(r, c));
        break;
      case db::CellKind::kBool:
        out->append(rs.Bool(r, c) ? "true" : "false");
        break;
      case db::CellKind::kJson:
        out->append(rs.Text(r, c).empty() ? std::string_view("null") : rs.Text(r, c));
        break;
      default:
        core::AppendJsonString(out, rs.Text(r, c));
    }
  }
  out->push_back('}');
}

Result<db::Value> TableCell(const json::value& v, const std::string& type, db::Dialect dialect,
                            const std::string& what) {
  if (v.is_null()) return db::Null();
  const bool is_bool = type == "boolean" || type == "bool";
  const bool is_json = type == "json" || type == "jsonb";
  if (is_bool) {
    if (v.is_bool())
      return dialect == db::Dialect::kSqlite ? db::Value(int64_t{v.as_bool()})
                                             : db::Value(v.as_bool());
    if (v.is_int64())
      return dialect == db::Dialect::kSqlite ? db::Value(v.as_int64())
                                             : db::Value(v.as_int64() != 0);
    return InvalidArgument(what + ": expected a boolean");
  }
  if (is_json) {
    // From SQLite a JSON column comes as its text; from PostgreSQL as the JSON itself.
    if (v.is_string()) {
      boost::system::error_code ec;
      json::parse(v.as_string(), ec);
      if (!ec) return db::Value(std::string(v.as_string()));
    }
    return db::Value(json::serialize(v));
  }
  switch (v.kind()) {
    case json::kind::bool_:
      return dialect == db::Dialect::kSqlite ? db::Value(int64_t{v.as_bool()})
                                             : db::Value(v.as_bool());
    case json::kind::int64:
      return db::Value(v.as_int64());
    case json::kind::uint64:
      return db::Value(static_cast<int64_t>(v.as_uint64()));
    case json::kind::double_:
      return db::Value(v.as_double());
    case json::kind::string:
      return db::Value(std::string(v.as_string()));
    default:
      return db::Value(json::serialize(v));
  }
}

Status ResetSequences(db::Connection& conn, const std::string& table) {
  const std::string quoted = db::QuoteIdent(table);
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT a.attname FROM pg_attribute a JOIN pg_class c ON "
                                       "c.oid = a.attrelid JOIN pg_namespace n ON n.oid = "
                                       "c.relnamespace WHERE c.relname = $1 AND n.nspname = "
                                       "current_schema() AND a.attnum > 0 AND NOT a.attisdropped "
                                       "AND pg_get_serial_sequence($2, a.attname) IS NOT NULL",
                                       {table, quoted}));
  for (int r = 0; r < rs->row_count(); ++r) {
    std::string column(rs->Text(r, 0));
    RETURN_IF_ERROR(conn.Exec("SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT "
                              "MAX(" +
                                  db::QuoteIdent(column) + ") FROM " + quoted + "), 0) + 1, false)",
                              {quoted, column})
                        .WithContext("moving the sequence of " + table + "." + column));
  }
  return Status::Ok();
}

Result<std::optional<RowsEntry>> ParseRowsEntry(const std::string& name, const std::string& code) {
  constexpr std::string_view kRows = "dump/rows/", kTables = "dump/tables/";
  std::string_view n(name);
  const bool rows = n.starts_with(kRows);
  if (!rows && !n.starts_with(kTables)) return std::optional<RowsEntry>();
  std::string_view rest = n.substr(rows ? kRows.size() : kTables.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    return InvalidArgument("archive entry '" + name + "' names no table", code);
  }
  return std::optional<RowsEntry>(RowsEntry{rows, std::string(rest.substr(0, slash))});
}

Status LineSplitter::Feed(std::string_view data,
                          const std::function<Status(std::string_view line)>& line) {
  size_t start = 0;
  for (;;) {
    size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) {
      pending_.append(data.substr(start));
      return Status::Ok();
    }
    if (pending_.empty()) {
      RETURN_IF_ERROR(line(data.substr(start, nl - start)));
    } else {
      pending_.append(data.substr(start, nl - start));
      std::string whole = std::move(pending_);
      pending_.clear();
      RETURN_IF_ERROR(line(whole));
    }
    start = nl + 1;
  }
}

Status LineSplitter::EndEntry(const std::string& entry, const std::string& code) {
  if (pending_.empty()) return Status::Ok();
  pending_.clear();
  return InvalidArgument("archive entry '" + entry + "' ends within a row", code);
}

Status DeferredIndexes::Begin(db::Connection& conn, const std::vector<std::string>& tables) {
  if (conn.dialect() == db::Dialect::kPostgres) RETURN_IF_ERROR(Drop(conn, tables));
  return db::DeferForeignKeyChecks(conn);
}

Status DeferredIndexes::Finish(db::Connection& conn, const std::vector<std::string>& checked,
                               const std::vector<std::string>& sequenced, std::string_view what) {
  RETURN_IF_ERROR(db::CheckForeignKeys(conn, checked)
                      .WithContext("checking " + std::string(what) + "' references"));
  if (conn.dialect() != db::Dialect::kPostgres) return Status::Ok();
  RETURN_IF_ERROR(Restore(conn));
  for (const std::string& t : sequenced) RETURN_IF_ERROR(ResetSequences(conn, t));
  return Status::Ok();
}

Status DeferredIndexes::Drop(db::Connection& conn, const std::vector<std::string>& tables) {
  const std::string where =
      " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE t.relname = $1 AND n.nspname = "
      "current_schema()";
  // Drops the constraints of the tables that `which` selects, keeping how to add each back.
  auto set_aside = [&](const std::string& which, std::vector<SetAside>* add) -> Status {
    for (const std::string& t : tables) {
      ASSIGN_OR_RETURN(auto found,
                       conn.Query("SELECT k.conname, pg_get_constraintdef(k.oid), COALESCE((SELECT "
                                  "r.relnamespace <> t.relnamespace FROM pg_class r WHERE r.oid = "
                                  "k.confrelid), false), COALESCE((SELECT r.relname FROM pg_class "
                                  "r WHERE r.oid = k.confrelid), '') FROM pg_constraint k JOIN "
                                  "pg_class t ON t.oid = k.conrelid" +
                                      where + " AND " + which,
                                  {t}));
      for (int r = 0; r < found->row_count(); ++r) {
        const std::string name = db::QuoteIdent(found->Text(r, 0));
        add->push_back({t,
                        "ALTER TABLE " + db::QuoteIdent(t) + " ADD CONSTRAINT " + name + " " +
                            std::string(found->Text(r, 1)),
                        found->Bool(r, 2), std::string(found->Text(r, 0)),
                        std::string(found->Text(r, 3))});
        RETURN_IF_ERROR(conn.Exec("ALTER TABLE " + db::QuoteIdent(t) + " DROP CONSTRAINT " + name));
      }
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(set_aside("k.contype = 'f'", &foreign_keys_));
  // Primary keys and unique constraints nothing else depends on any more (their foreign keys
  // went above): a key built by one sort of the loaded rows, rather than a row at a time.
  RETURN_IF_ERROR(set_aside(
      "k.contype IN ('p', 'u') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'n' "
      "AND ((d.refclassid = 'pg_constraint'::regclass AND d.refobjid = k.oid) OR (d.refclassid "
      "= 'pg_class'::regclass AND d.refobjid = k.conindid)))",
      &keys_));
  for (const std::string& t : tables) {
    ASSIGN_OR_RETURN(auto indexes,
                     conn.Query("SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN "
                                "pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = "
                                "x.indrelid" +
                                    where +
                                    " AND NOT x.indisprimary AND NOT EXISTS (SELECT 1 FROM "
                                    "pg_constraint c WHERE c.conindid = i.oid)",
                                {t}));
    for (int r = 0; r < indexes->row_count(); ++r) {
      indexes_.push_back({t, std::string(indexes->Text(r, 1))});
      RETURN_IF_ERROR(conn.Exec("DROP INDEX " + db::QuoteIdent(indexes->Text(r, 0))));
    }
  }
  return Status::Ok();
}

Status DeferredIndexes::Restore(db::Connection& conn) {
  RETURN_IF_ERROR(conn.Exec("SET LOCAL maintenance_work_mem = '256MB'"));
  for (const SetAside& k : keys_) {
    RETURN_IF_ERROR(conn.Exec(k.sql).WithContext("building a key again"));
  }
  for (const SetAside& i : indexes_) {
    RETURN_IF_ERROR(conn.Exec(i.sql).WithContext("building an index again"));
  }
  for (const SetAside& f : foreign_keys_) {
    RETURN_IF_ERROR(conn.Exec(f.sql).WithContext("checking the restored rows' references"));
  }
  return Status::Ok();
}

DeferredIndexes::Builds DeferredIndexes::TakeBuilds(const std::string& table) {
  Builds out;
  auto take = [&](std::vector<SetAside>& from, std::vector<std::string>& to) {
    std::erase_if(from, [&](SetAside& s) {
      if (s.table != table) return false;
      to.push_back(std::move(s.sql));
      return true;
    });
  };
  take(keys_, out.keys);
  take(indexes_, out.indexes);
  return out;
}

std::vector<DeferredIndexes::ForeignKey> DeferredIndexes::TakeForeignKeys() {
  std::vector<ForeignKey> out;
  for (SetAside& f : foreign_keys_) {
    out.push_back({std::move(f.table), std::move(f.name), std::move(f.sql), std::move(f.references),
                   f.outside});
  }
  foreign_keys_.clear();
  return out;
}

void DeferredIndexes::Forget(const std::vector<std::string>& tables) {
  const std::set<std::string> gone(tables.begin(), tables.end());
  for (std::vector<SetAside>* list : {&keys_, &indexes_, &foreign_keys_}) {
    std::erase_if(*list, [&](const SetAside& s) { return gone.count(s.table) > 0; });
  }
}

void DeferredIndexes::AddForeignKeys(const std::vector<std::string>& statements) {
  for (const std::string& sql : statements) foreign_keys_.push_back({"", sql, false, "", ""});
}

Inserter::Inserter(db::Connection& conn, std::string table, std::vector<std::string> columns)
    : conn_(conn),
      bulk_(dynamic_cast<db::BulkLoader*>(&conn)),
      table_(std::move(table)),
      columns_(std::move(columns)) {
  per_statement_ =
      std::max<size_t>(1, std::min<size_t>(500, 30000 / std::max<size_t>(1, columns_.size())));
  if (bulk_ != nullptr) {
    copy_sql_ = "COPY " + db::QuoteIdent(table_) + " (";
    for (size_t c = 0; c < columns_.size(); ++c) {
      copy_sql_ += (c ? ", " : "") + db::QuoteIdent(columns_[c]);
    }
    copy_sql_ += ") FROM STDIN";
  }
}

Inserter::~Inserter() {
  if (copying_) bulk_->AbortCopy();
}

void Inserter::UseBinary(std::vector<db::BinaryType> types) {
  binary_ = std::move(types);
  copy_sql_ += " (FORMAT binary)";
  db::AppendBinaryHeader(&copy_);
}

Status Inserter::Add(std::vector<db::Value>& row) {
  if (bulk_ != nullptr && !binary_.empty()) {
    const size_t mark = copy_.size();
    db::AppendBinaryFieldCount(&copy_, row.size());
    for (size_t c = 0; c < row.size(); ++c) {
      if (!db::AppendBinaryValue(&copy_, binary_[c], row[c])) {
        copy_.resize(mark);
        return InvalidArgument("loading " + table_ + ": column '" + columns_[c] +
                               "' cannot hold the value given");
      }
    }
    return RowWritten();
  }
  if (bulk_ != nullptr) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) copy_.push_back('\t');
      db::AppendCopyValue(&copy_, row[c]);
    }
    copy_.push_back('\n');
    return RowWritten();
  }
  for (db::Value& v : row) values_.push_back(std::move(v));
  if (++rows_ == per_statement_) return Run(per_statement_);
  return Status::Ok();
}

Status Inserter::RowWritten() {
  any_row_ = true;
  if (copy_.size() < (1 << 20)) return Status::Ok();
  if (!copying_) {
    RETURN_IF_ERROR(bulk_->BeginCopy(copy_sql_).WithContext("loading " + table_));
    copying_ = true;
  }
  Status s = bulk_->PutCopy(copy_);
  copy_.clear();
  return s.WithContext("loading " + table_);
}

Status Inserter::Flush() {
  if (bulk_ != nullptr) {
    if (!any_row_) return Status::Ok();
    any_row_ = false;
    if (!binary_.empty()) db::AppendBinaryTrailer(&copy_);
    if (!copying_) {
      RETURN_IF_ERROR(bulk_->BeginCopy(copy_sql_).WithContext("loading " + table_));
    }
    copying_ = false;
    Status put = bulk_->PutCopy(copy_);
    copy_.clear();
    if (!binary_.empty()) db::AppendBinaryHeader(&copy_);  // for a next COPY
    Status end = bulk_->EndCopy();
    return (put.ok() ? end : put).WithContext("loading " + table_);
  }
  if (rows_ == 0) return Status::Ok();
  // The rest one by one, so that only two statements are ever prepared for a table.
  std::vector<db::Value> all = std::move(values_);
  size_t n = rows_;
  values_.clear();
  rows_ = 0;
  for (size_t r = 0; r < n; ++r) {
    values_.assign(
        std::make_move_iterator(all.begin() + static_cast<long>(r * columns_.size())),
        std::make_move_iterator(all.begin() + static_cast<long>((r + 1) * columns_.size())));
    rows_ = 1;
    RETURN_IF_ERROR(Run(1));
  }
  return Status::Ok();
}

Status Inserter::Run(size_t rows) {
  std::string& sql = rows == 1 ? one_ : many_;
  if (sql.empty()) {
    sql = "INSERT INTO " + db::QuoteIdent(table_) + " (";
    for (size_t c = 0; c < columns_.size(); ++c) {
      sql += (c ? ", " : "") + db::QuoteIdent(columns_[c]);
    }
    sql += ") VALUES ";
    int p = 0;
    for (size_t r = 0; r < rows; ++r) {
      sql += r ? ", (" : "(";
      for (size_t c = 0; c < columns_.size(); ++c) {
        sql += (c ? ", $" : "$") + std::to_string(++p);
      }
      sql += ")";
    }
  }
  Status s = conn_.Exec(sql, values_);
  values_.clear();
  rows_ = 0;
  return s.WithContext("inserting into " + table_);
}

bool ReadDumpLine(std::string_view s, std::vector<std::pair<std::string_view, DumpCell>>* members) {
  auto& out = *members;
  out.clear();
  size_t i = 0;
  SkipSpace(s, i);
  if (i == s.size() || s[i] != '{') return false;
  ++i;
  SkipSpace(s, i);
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      SkipSpace(s, i);
      if (i == s.size() || s[i] != '"') return false;
      const size_t key = i;
      bool escaped = false, unicode = false;
      if (!ScanString(s, i, &escaped, &unicode) || escaped) return false;
      const std::string_view name = s.substr(key + 1, i - key - 2);
      SkipSpace(s, i);
      if (i == s.size() || s[i] != ':') return false;
      ++i;
      SkipSpace(s, i);
      if (i == s.size()) return false;
      DumpCell cell;
      const size_t start = i;
      const char c = s[i];
      if (c == '"') {
        cell.kind = '"';
        if (!ScanString(s, i, &escaped, &unicode)) return false;
        cell.plain = !escaped;
      } else if (c == '-' || IsDigit(c)) {
        cell.kind = '0';
        if (!ScanNumber(s, i, &cell.plain)) return false;
      } else if (c == '{' || c == '[') {
        cell.kind = c;
        if (!ScanNested(s, i, &cell.plain)) return false;
      } else if (ScanWord(s, i, "true")) {
        cell.kind = 't';
      } else if (ScanWord(s, i, "false")) {
        cell.kind = 'f';
      } else if (ScanWord(s, i, "null")) {
        cell.kind = 'n';
      } else {
        return false;
      }
      cell.text = s.substr(start, i - start);
      out.emplace_back(name, cell);
      SkipSpace(s, i);
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        break;
      }
      return false;
    }
  }
  SkipSpace(s, i);
  return i == s.size();
}

namespace {

// What QuickDbValue takes, in its parts: the value's kind, and for text whether COPY would
// escape any of it (a string without escapes has neither a backslash nor a control character).
struct QuickValue {
  enum Kind { kNull, kBool, kInt, kText } kind = kNull;
  bool flag = false;
  int64_t number = 0;
  std::string_view text;  // into the cell, or into `owned`
  std::string owned;
  bool escapes = false;
};

bool ReadQuick(const data::Field& f, const DumpCell& cell, db::Dialect dialect, QuickValue* v) {
  using data::FieldType;
  if (cell.kind == 'n') {
    v->kind = QuickValue::kNull;
    return true;
  }
  v->kind = QuickValue::kText;
  v->escapes = false;
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kText:
      if (cell.kind != '"') return false;
      if (cell.plain) {
        v->text = cell.text.substr(1, cell.text.size() - 2);
        return true;
      }
      v->owned.clear();
      if (!Unescape(cell.text, &v->owned)) return false;
      v->text = v->owned;
      v->escapes = true;
      return true;
    case FieldType::kInteger:
    case FieldType::kBigInt:
    case FieldType::kSnowflakeId: {
      if (cell.kind != '0' || !cell.plain) return false;
      auto [end, ec] =
          std::from_chars(cell.text.data(), cell.text.data() + cell.text.size(), v->number);
      if (ec != std::errc() || end != cell.text.data() + cell.text.size()) return false;
      if (f.type == FieldType::kInteger && (v->number < INT32_MIN || v->number > INT32_MAX)) {
        return false;
      }
      v->kind = QuickValue::kInt;
      return true;
    }
    case FieldType::kBoolean:
      if (cell.kind != 't' && cell.kind != 'f') return false;
      v->kind = QuickValue::kBool;
      v->flag = cell.kind == 't';
      return true;
    case FieldType::kDecimal: {
      // Digits as they are (a SQLite database stores a decimal written as text as a double).
      if (dialect != db::Dialect::kPostgres || !cell.plain) return false;
      std::string_view digits = cell.text;
      if (cell.kind == '"') {
        digits = digits.substr(1, digits.size() - 2);
      } else if (cell.kind != '0') {
        return false;
      }
      double d = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
      if (ec != std::errc() || end != digits.data() + digits.size() || !std::isfinite(d) ||
          digits.empty() || !data::FitsDecimal(digits, f.precision, f.scale)) {
        return false;
      }
      v->text = digits;
      return true;
    }
    case FieldType::kDate: {
      if (cell.kind != '"' || !cell.plain) return false;
      std::string_view text = cell.text.substr(1, cell.text.size() - 2);
      if (data::IsStoredInstant(text)) {
        v->text = text;
        return true;
      }
      auto instant = data::NormalizeInstant(text);
      if (!instant.ok()) return false;
      v->owned = std::move(instant).value();
      v->text = v->owned;
      return true;
    }
    case FieldType::kJson:
      // PostgreSQL's jsonb reads the text itself (and keeps no spacing or key order of it).
      if (dialect != db::Dialect::kPostgres || (cell.kind != '{' && cell.kind != '[') ||
          !cell.plain) {
        return false;
      }
      v->text = cell.text;
      v->escapes = true;
      return true;
    default:
      return false;
  }
}

}  // namespace

std::optional<db::Value> QuickDbValue(const data::Field& f, const DumpCell& cell,
                                      db::Dialect dialect) {
  QuickValue v;
  if (!ReadQuick(f, cell, dialect, &v)) return std::nullopt;
  switch (v.kind) {
    case QuickValue::kNull:
      return db::Null();
    case QuickValue::kBool:
      return db::Value(v.flag);
    case QuickValue::kInt:
      return db::Value(v.number);
    case QuickValue::kText:
      break;
  }
  return db::Value(std::string(v.text));
}

bool AppendQuickBinary(const data::Field& f, const DumpCell& cell, db::BinaryType type,
                       std::string* out) {
  thread_local QuickValue v;
  if (!ReadQuick(f, cell, db::Dialect::kPostgres, &v)) return false;
  switch (v.kind) {
    case QuickValue::kNull:
      db::AppendBinaryNull(out);
      return true;
    case QuickValue::kBool:
      return db::AppendBinaryValue(out, type, db::Value(v.flag));
    case QuickValue::kInt:
      return db::AppendBinaryInt(out, type, v.number);
    case QuickValue::kText:
      return db::AppendBinaryText(out, type, v.text);
  }
  return false;
}

bool AppendQuickCopy(const data::Field& f, const DumpCell& cell, std::string* out) {
  thread_local QuickValue v;
  if (!ReadQuick(f, cell, db::Dialect::kPostgres, &v)) return false;
  switch (v.kind) {
    case QuickValue::kNull:
      out->append("\\N");
      break;
    case QuickValue::kBool:
      out->append(v.flag ? "true" : "false");
      break;
    case QuickValue::kInt: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v.number);
      out->append(buf, end);
      break;
    }
    case QuickValue::kText:
      if (v.escapes) {
        db::AppendCopyText(out, v.text);
      } else {
        out->append(v.text);
      }
      break;
  }
  return true;
}

}  // namespace slipway::ops
