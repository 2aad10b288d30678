// Reading and writing the rows of a dump (backup.h) or a migration package (migration.h): the
// one way a table is scanned, a row rendered as a dump line, a line's values converted for this
// database, and rows inserted, so that backups, restores and migrations agree on every value.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/schema.h"
#include "db/bulk.h"
#include "db/database.h"
#include "slipway/status.h"

namespace slipway::ops {

// The key columns a collection's rows are ordered and matched by: its primary key, or a join
// table's pair of foreign keys.
std::vector<const data::Field*> KeyFields(const data::Collection& c);

// Every row of collection `c` (its column fields, in definition order), handed to `visit` in
// batches: PostgreSQL streams the table with one COPY in the order it stores the rows, SQLite
// reads pages in key order.
// `visit` must not use the connection.
Status ScanCollection(db::Connection& conn, const data::Collection& c,
                      const std::function<Status(const db::ResultSet& rows)>& visit);

// Rows whose columns are a collection's column fields, in order, as dump lines' objects:
// {"field": value, ...} with values as the API renders them by field type. Each key is escaped
// once, not once a row.
class RowJson {
 public:
  explicit RowJson(std::vector<const data::Field*> columns);
  // Row `r` of `rows`, without a newline.
  void Append(std::string* out, const db::ResultSet& rows, int r) const;

 private:
  std::vector<const data::Field*> columns_;
  std::vector<std::string> keys_;  // `"name":`, after the first with the comma before it
};
// A plugin's own table's row `r`, each cell as the database types it.
void AppendTableRowJson(std::string* out, const db::ResultSet& rows, int r);

// A plugin table's cell, from the JSON a dump wrote for it (typed by the database it came from)
// to a value for this database's column type (`type` as db::ColumnTypes gives it).
Result<db::Value> TableCell(const boost::json::value& v, const std::string& type,
                            db::Dialect dialect, const std::string& what);

// PostgreSQL: every identity or serial column of `table` continues after its largest value.
Status ResetSequences(db::Connection& conn, const std::string& table);

// A dump line read without a JSON document (a restore's rows are most of a backup's bytes):
// each member of its object, the value as its text. False for anything this reading does not
// take (an escaped key, bad grammar), which then goes through the full JSON parser (and its
// messages).
struct DumpCell {
  std::string_view text;
  char kind = 0;  // '"' string, '0' number, 't' true, 'f' false, 'n' null, '{' object, '[' array
  // A string without escapes; a number without fraction or exponent; an object or array whose
  // numbers have no exponent, whose strings have no \u escape, nested at most 64 deep.
  bool plain = true;
};
bool ReadDumpLine(std::string_view line,
                  std::vector<std::pair<std::string_view, DumpCell>>* members);
// The value of field `f` read straight from a cell's text, for the kinds of cells a dump holds
// most (text, integers, booleans, decimals and instants as text, JSON objects and arrays on
// PostgreSQL, where jsonb reads the text itself); nullopt for any other, which
// data::ToDbValue then converts (with its messages). What it yields, ToDbValue would.
std::optional<db::Value> QuickDbValue(const data::Field& f, const DumpCell& cell,
                                      db::Dialect dialect);
// The same value for PostgreSQL, appended to `out` as db::AppendCopyValue writes it, without
// making a db::Value; false (and nothing appended) where QuickDbValue gives nullopt.
bool AppendQuickCopy(const data::Field& f, const DumpCell& cell, std::string* out);
// And in COPY's binary format for a column of `type`, as db::AppendBinaryValue of that value
// writes it; false (and nothing appended) where QuickDbValue gives nullopt or the value is not
// one of `type`.
bool AppendQuickBinary(const data::Field& f, const DumpCell& cell, db::BinaryType type,
                       std::string* out);

// Which rows a dump entry holds: "dump/rows/<collection>/..." (a collection's, `collection`
// true) or "dump/tables/<table>/..." (a plugin table's). Nullopt for other entries (schema.json,
// files, what a later format adds); InvalidArgument (`code`) for a rows entry naming no table.
struct RowsEntry {
  bool collection = true;
  std::string table;
};
Result<std::optional<RowsEntry>> ParseRowsEntry(const std::string& name, const std::string& code);

// Splits a dump's entries into lines (rows) as their slices stream past: a line may span slices.
class LineSplitter {
 public:
  // Hands each complete line of `data` to `line` (empty lines too); keeps an unfinished one.
  Status Feed(std::string_view data, const std::function<Status(std::string_view line)>& line);
  // At the end of `entry`: InvalidArgument (`code`) when it ended within a line.
  Status EndEntry(const std::string& entry, const std::string& code);

 private:
  std::string pending_;
};

// PostgreSQL: tables about to be loaded in bulk lose their foreign keys, primary keys, unique
// constraints and secondary indexes first, and get them back, each built once from the loaded
// rows, at the end (as pg_restore does): loading into a table with indexes updates each index
// row by row, and a deferred foreign key checks each row with a query of its own. What is
// dropped is recreated from the catalog's own definitions; a key something outside the loaded
// tables depends on (a foreign key of another table, a view) stays. Finish() builds the keys,
// then the indexes, then validates every reference the loaded rows make. In the caller's
// transaction. Begin() and Finish() bracket every bulk load (a restore, an import), on both
// dialects.
class DeferredIndexes {
 public:
  // On PostgreSQL the keys, indexes and foreign keys of `tables` set aside; on both dialects the
  // foreign-key checks deferred.
  Status Begin(db::Connection& conn, const std::vector<std::string>& tables);
  // The deferred checks of `checked` run now, naming what fails (`what`: "the restored rows"),
  // rather than at the commit; on PostgreSQL what Begin() set aside is built again, then the
  // sequences of `sequenced` move past their columns' highest values (read from the keys just
  // built, not by a scan).
  Status Finish(db::Connection& conn, const std::vector<std::string>& checked,
                const std::vector<std::string>& sequenced, std::string_view what);

  // For a load split across connections (a restore's staging, restore.h): the statements that
  // build the keys, then the indexes, of `table` again, taken out (Finish will not run them);
  // the foreign keys of every table, taken out; what was set aside of `tables` forgotten (they
  // are replaced by tables built elsewhere); and foreign keys that Finish adds with the others.
  struct Builds {
    std::vector<std::string> keys, indexes;
  };
  Builds TakeBuilds(const std::string& table);
  struct ForeignKey {
    std::string table, name, sql, references;
    bool outside = false;  // it points at a table of another schema
  };
  std::vector<ForeignKey> TakeForeignKeys();
  void Forget(const std::vector<std::string>& tables);
  void AddForeignKeys(const std::vector<std::string>& statements);

 private:
  // A statement that puts back what was set aside of `table`.
  struct SetAside {
    std::string table, sql;
    bool outside = false;  // a foreign key to a table of another schema
    std::string name, references;
  };

  Status Drop(db::Connection& conn, const std::vector<std::string>& tables);
  Status Restore(db::Connection& conn);

  std::vector<SetAside> keys_, indexes_, foreign_keys_;
};

// Inserts rows into one table: through one COPY per table where the connection can (PostgreSQL),
// sent in slices of about 1 MiB while the next rows are read; otherwise in multi-row INSERTs (one
// prepared statement per table).
class Inserter {
 public:
  Inserter(db::Connection& conn, std::string table, std::vector<std::string> columns);
  ~Inserter();
  Inserter(const Inserter&) = delete;
  Inserter& operator=(const Inserter&) = delete;

  // Takes the row's values (left empty).
  Status Add(std::vector<db::Value>& row);
  // On a connection that loads by COPY: a row written by the caller straight into the text
  // that goes to the server (columns in order, tab-separated, each as db::AppendCopyValue
  // writes it, then a newline), then RowWritten().
  bool copies() const { return bulk_ != nullptr; }
  std::string& row_text() { return copy_; }
  Status RowWritten();
  // Before the first row, on a connection that loads by COPY: the rows go in COPY's binary
  // format, each column as its type (db::BinaryType) says (a row written into row_text() then
  // starts with its field count, db::AppendBinaryFieldCount).
  void UseBinary(std::vector<db::BinaryType> types);
  const std::vector<db::BinaryType>& binary() const { return binary_; }
  Status Flush();

 private:
  Status Run(size_t rows);

  db::Connection& conn_;
  db::BulkLoader* bulk_;
  const std::string table_;
  const std::vector<std::string> columns_;
  size_t per_statement_ = 1;
  std::vector<db::Value> values_;
  size_t rows_ = 0;
  std::string one_, many_, copy_sql_, copy_;
  bool copying_ = false;                // a COPY is open on the connection
  std::vector<db::BinaryType> binary_;  // empty: COPY's text format
  bool any_row_ = false;
};

}  // namespace slipway::ops
