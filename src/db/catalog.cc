#include "db/catalog.h"

namespace slipway::db {

Result<bool> TableExists(Connection& conn, std::string_view table) {
  std::string name(table);
  if (conn.dialect() == Dialect::kSqlite) {
    ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                         "name = $1",
                                         {name}));
    return rs->row_count() > 0;
  }
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT 1 FROM information_schema.tables WHERE "
                                       "table_schema = current_schema() AND table_name = $1",
                                       {name}));
  return rs->row_count() > 0;
}

Result<std::vector<std::string>> ListColumns(Connection& conn, std::string_view table) {
  std::string name(table);
  const char* sql = conn.dialect() == Dialect::kSqlite
                        ? "SELECT name FROM pragma_table_info($1) ORDER BY cid"
                        : "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                          "current_schema() AND table_name = $1 ORDER BY ordinal_position";
  ASSIGN_OR_RETURN(auto rs, conn.Query(sql, {name}));
  std::vector<std::string> columns;
  for (int r = 0; r < rs->row_count(); ++r) columns.emplace_back(rs->Text(r, 0));
  return columns;
}

Result<std::vector<std::string>> ListTables(Connection& conn) {
  const char* sql = conn.dialect() == Dialect::kSqlite
                        ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                          "LIKE 'sqlite_%' ORDER BY name"
                        : "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                          "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name";
  ASSIGN_OR_RETURN(auto rs, conn.Query(sql));
  std::vector<std::string> tables;
  for (int r = 0; r < rs->row_count(); ++r) tables.emplace_back(rs->Text(r, 0));
  return tables;
}

Status DropAllTables(Connection& conn) {
  ASSIGN_OR_RETURN(auto tables, ListTables(conn));
  if (conn.dialect() == Dialect::kSqlite)
    RETURN_IF_ERROR(conn.ExecScript("PRAGMA foreign_keys=OFF"));
  for (const std::string& t : tables) {
    std::string sql = "DROP TABLE IF EXISTS " + QuoteIdent(t);
    if (conn.dialect() == Dialect::kPostgres) sql += " CASCADE";
    RETURN_IF_ERROR(conn.ExecScript(sql));
  }
  if (conn.dialect() == Dialect::kSqlite)
    RETURN_IF_ERROR(conn.ExecScript("PRAGMA foreign_keys=ON"));
  return Status::Ok();
}

}  // namespace slipway::db
