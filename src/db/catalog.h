// Catalog queries that differ between dialects: does a table exist, which tables are there.
#pragma once

#include <string>
#include <vector>

#include "db/database.h"

namespace slipway::db {

Result<bool> TableExists(Connection& conn, std::string_view table);
// The columns of `table`, in order.
Result<std::vector<std::string>> ListColumns(Connection& conn, std::string_view table);
// Every table in the database (SQLite) or in the current schema (PostgreSQL).
Result<std::vector<std::string>> ListTables(Connection& conn);
// Drops every table ListTables returns. Used by `install --force`.
Status DropAllTables(Connection& conn);

}  // namespace slipway::db
