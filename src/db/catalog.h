// Catalog queries that differ between dialects: does a table exist, which tables are there.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/database.h"

namespace slipway::db {

Result<bool> TableExists(Connection& conn, std::string_view table);
// The columns of `table`, in order.
Result<std::vector<std::string>> ListColumns(Connection& conn, std::string_view table);
// The table whose name equals `table` without regard to ASCII case, if any (one lookup, at any
// number of tables).
Result<std::optional<std::string>> FindTableIgnoringCase(Connection& conn, std::string_view table);
// The valid indexes of `table` beside its primary key, by name.
Result<std::vector<std::string>> ListIndexes(Connection& conn, std::string_view table);
// Every table in the database (SQLite) or in the current schema (PostgreSQL).
Result<std::vector<std::string>> ListTables(Connection& conn);
// The tables `table`'s foreign keys point at (itself included when it refers to itself).
Result<std::vector<std::string>> ForeignKeyTargets(Connection& conn, std::string_view table);
// The columns of `table`'s primary key, in key order (none: it has no primary key).
Result<std::vector<std::string>> PrimaryKeyColumns(Connection& conn, std::string_view table);
// The declared type of every column of `table`, lower case ("integer", "boolean",
// "timestamp with time zone", "jsonb", ...), in order, as {column, type}.
Result<std::vector<std::pair<std::string, std::string>>> ColumnTypes(Connection& conn,
                                                                     std::string_view table);
// `tables` ordered so that a table comes after those its foreign keys point at (a cycle or a
// reference to itself is kept in the given order). For dumps and restores: parents first.
Result<std::vector<std::string>> ParentsFirst(Connection& conn, std::vector<std::string> tables);
// What the database believes `table` holds without counting it: PostgreSQL's planner estimate
// (pg_class.reltuples; none before the table was first analyzed or vacuumed), SQLite's largest
// rowid (one read of the b-tree; an upper bound, deleted rows still count; none for a table
// without rowid).
Result<std::optional<int64_t>> EstimatedRows(Connection& conn, std::string_view table);
// Checks every foreign key at the commit of the open transaction instead of row by row, so
// that rows may be loaded in any order (a restore, an import). PostgreSQL: SET CONSTRAINTS ALL
// DEFERRED (the keys Slipway makes are deferrable); SQLite: PRAGMA defer_foreign_keys, which
// ends with the transaction.
Status DeferForeignKeyChecks(Connection& conn);
// Runs the checks DeferForeignKeyChecks put off, now, for `tables` (PostgreSQL: every deferred
// check), so that a failure names the table and the row rather than failing the commit.
Status CheckForeignKeys(Connection& conn, const std::vector<std::string>& tables);
// Drops every table ListTables returns. Used by `install --force`.
Status DropAllTables(Connection& conn);

}  // namespace slipway::db
