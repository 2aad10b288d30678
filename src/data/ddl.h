// DDL for collections and fields: the SQL that turns a definition into tables, columns,
// indexes and foreign keys, per dialect.
//
// Every function returns statements to run in order inside the caller's transaction (both
// dialects have transactional DDL), except an index on a table that already holds rows on
// PostgreSQL: IndexChangesSql leaves those out (`defer_creates`) and the change's caller builds
// them with CREATE INDEX CONCURRENTLY after the commit (api/services.h, step 9), so that writes
// go on while a large table is indexed. Identifiers come from validated definitions and are quoted;
// the only literals are default values, rendered from JSON scalars with quotes escaped.
// Unique constraints are separate named indexes so that a field can lose or gain uniqueness and
// be dropped on SQLite without rebuilding its table.
#pragma once

#include <string>
#include <vector>

#include "data/schema.h"
#include "db/database.h"

namespace slipway::data {

using Statements = std::vector<std::string>;

std::string ColumnTypeSql(const Field& field, db::Dialect dialect);

// An index a collection's definition asks for, beside its primary key: a field's `unique`, a
// field's `index`, the index on a column that holds a foreign key, an entry of the collection's
// `indexes` option ({fields: [...], unique, name}, composite), a join table's pair of keys.
struct IndexSpec {
  std::string name;
  std::string table;
  std::vector<std::string> columns;
  bool unique = false;
  // Who asks for it: the collection, and the field whose `unique` or `index` it is (empty for
  // an `indexes` entry or a join table's pair).
  std::string collection;
  std::string field;
  bool operator==(const IndexSpec& o) const {
    return name == o.name && table == o.table && columns == o.columns && unique == o.unique;
  }
};
// For messages: "field 'posts.title'", "index 'posts_status_idx' of collection 'posts'".
std::string IndexOrigin(const IndexSpec& index);
// Every index `c` asks for; InvalidArgument naming a bad `indexes` entry (not a list of known
// scalar fields, a bad name, the same name twice).
Result<std::vector<IndexSpec>> IndexesOf(const Collection& c);
std::string CreateIndexSql(const IndexSpec& index, bool concurrently);
// Drops of the indexes `before` has and `after` lacks, then creates of those `after` adds
// (left out with `defer_creates`). Both are the same collection, before and after a change.
Result<Statements> IndexChangesSql(const Collection& before, const Collection& after,
                                   bool defer_creates);

// CREATE TABLE with every column field, foreign keys (for belongsTo relations and for columns
// that carry another collection's hasMany), and the unique and foreign-key indexes.
Result<Statements> CreateTableSql(const Collection& c, const Schema& schema, db::Dialect dialect);
Statements DropTableSql(const Collection& c, db::Dialect dialect);
// The tables the foreign keys of `c`'s columns point at (its own included), for ordering.
std::vector<std::string> ReferencedTables(const Collection& c, const Schema& schema);

// ADD COLUMN for one scalar (with its foreign key; its indexes are IndexChangesSql's). A NOT NULL
// field added to an existing table needs a default value.
Result<Statements> AddColumnSql(const Collection& c, const Field& field, const Schema& schema,
                                db::Dialect dialect);
// DROP COLUMN (after dropping its indexes). SQLite cannot drop a column that carries a foreign
// key in place; for those the caller rebuilds the table (RebuildTableSql).
Statements DropColumnSql(const Collection& c, const Field& field, db::Dialect dialect);
bool NeedsRebuildToDrop(const Collection& c, const Field& field, db::Dialect dialect);

// SQLite: recreate `after`'s table and copy the columns both definitions share. The caller runs
// it with foreign key enforcement off (PRAGMA foreign_keys cannot change inside a transaction)
// and checks PRAGMA foreign_key_check before commit.
Result<Statements> RebuildTableSql(const Collection& before, const Collection& after,
                                   const Schema& schema);

// The index names used for a field, so every path agrees on them.
std::string UniqueIndexName(const Collection& c, const Field& field);
std::string ForeignKeyIndexName(const Collection& c, const Field& field);

}  // namespace slipway::data
