#include "db/catalog.h"

#include <map>
#include <optional>
#include <set>

namespace slipway::db {
namespace {

// The first column of every row `sql` returns, as text.
Result<std::vector<std::string>> FirstColumn(Connection& conn, const char* sql,
                                             std::initializer_list<Value> params) {
  ASSIGN_OR_RETURN(auto rs, conn.Query(sql, params));
  std::vector<std::string> out;
  for (int r = 0; r < rs->row_count(); ++r) out.emplace_back(rs->Text(r, 0));
  return out;
}

}  // namespace

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
  return FirstColumn(conn, sql, {name});
}

Result<std::optional<std::string>> FindTableIgnoringCase(Connection& conn, std::string_view table) {
  std::string name(table);
  const char* sql = conn.dialect() == Dialect::kSqlite
                        ? "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = "
                          "lower($1) LIMIT 1"
                        : "SELECT relname FROM pg_class WHERE relnamespace = "
                          "current_schema()::regnamespace AND relkind IN ('r', 'p') AND "
                          "lower(relname) = lower($1) LIMIT 1";
  ASSIGN_OR_RETURN(auto rs, conn.Query(sql, {name}));
  if (rs->row_count() == 0) return std::optional<std::string>();
  return std::optional<std::string>(std::string(rs->Text(0, 0)));
}

Result<std::vector<std::string>> ListIndexes(Connection& conn, std::string_view table) {
  std::string name(table);
  const char* sql = conn.dialect() == Dialect::kSqlite
                        ? "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 "
                          "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                        : "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = "
                          "i.indexrelid JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = $1 "
                          "AND t.relnamespace = current_schema()::regnamespace AND i.indisvalid "
                          "AND NOT i.indisprimary ORDER BY 1";
  return FirstColumn(conn, sql, {name});
}

Result<std::vector<std::string>> ListTables(Connection& conn) {
  const char* sql = conn.dialect() == Dialect::kSqlite
                        ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                          "LIKE 'sqlite_%' ORDER BY name"
                        : "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                          "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name";
  return FirstColumn(conn, sql, {});
}

Result<std::vector<std::string>> ForeignKeyTargets(Connection& conn, std::string_view table) {
  std::string name(table);
  const char* sql =
      conn.dialect() == Dialect::kSqlite
          ? "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)"
          : "SELECT DISTINCT ct.relname FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
            "JOIN pg_class ct ON ct.oid = k.confrelid JOIN pg_namespace n ON n.oid = "
            "t.relnamespace "
            "WHERE k.contype = 'f' AND t.relname = $1 AND n.nspname = current_schema()";
  return FirstColumn(conn, sql, {name});
}

Result<std::vector<std::string>> PrimaryKeyColumns(Connection& conn, std::string_view table) {
  std::string name(table);
  const char* sql =
      conn.dialect() == Dialect::kSqlite
          ? "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk"
          : "SELECT a.attname FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN "
            "pg_namespace n ON n.oid = t.relnamespace CROSS JOIN LATERAL "
            "unnest(x.indkey) WITH ORDINALITY AS k(attnum, i) JOIN pg_attribute a ON a.attrelid = "
            "t.oid AND a.attnum = k.attnum WHERE x.indisprimary AND t.relname = $1 AND n.nspname "
            "= current_schema() ORDER BY k.i";
  return FirstColumn(conn, sql, {name});
}

Result<std::vector<std::pair<std::string, std::string>>> ColumnTypes(Connection& conn,
                                                                     std::string_view table) {
  std::string name(table);
  const char* sql = conn.dialect() == Dialect::kSqlite
                        ? "SELECT name, lower(type) FROM pragma_table_info($1) ORDER BY cid"
                        : "SELECT column_name, lower(data_type) FROM information_schema.columns "
                          "WHERE table_schema = current_schema() AND table_name = $1 "
                          "ORDER BY ordinal_position";
  ASSIGN_OR_RETURN(auto rs, conn.Query(sql, {name}));
  std::vector<std::pair<std::string, std::string>> out;
  for (int r = 0; r < rs->row_count(); ++r) {
    out.emplace_back(std::string(rs->Text(r, 0)), std::string(rs->Text(r, 1)));
  }
  return out;
}

Result<std::vector<std::string>> ParentsFirst(Connection& conn, std::vector<std::string> tables) {
  std::map<std::string, std::set<std::string>> parents;
  std::set<std::string> listed(tables.begin(), tables.end());
  for (const std::string& t : tables) {
    ASSIGN_OR_RETURN(auto targets, ForeignKeyTargets(conn, t));
    for (std::string& p : targets) {
      if (p != t && listed.count(p)) parents[t].insert(std::move(p));
    }
  }
  std::vector<std::string> out;
  std::set<std::string> placed;
  // Repeatedly place the first table whose parents are placed; a cycle places its first member.
  while (out.size() < tables.size()) {
    const std::string* next = nullptr;
    for (const std::string& t : tables) {
      if (placed.count(t)) continue;
      bool ready = true;
      for (const std::string& p : parents[t]) ready = ready && placed.count(p);
      if (ready) {
        next = &t;
        break;
      }
      if (next == nullptr) next = &t;  // a cycle: its first member, unless one is ready later
    }
    out.push_back(*next);
    placed.insert(*next);
  }
  return out;
}

Result<std::optional<int64_t>> EstimatedRows(Connection& conn, std::string_view table) {
  if (conn.dialect() == Dialect::kPostgres) {
    ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT reltuples::bigint FROM pg_class WHERE oid = "
                                         "to_regclass($1)",
                                         {Value(QuoteIdent(table))}));
    // -1: never analyzed or vacuumed, no estimate yet.
    if (rs->row_count() == 0 || rs->Kind(0, 0) == CellKind::kNull || rs->Int(0, 0) < 0) {
      return std::optional<int64_t>();
    }
    return std::optional<int64_t>(rs->Int(0, 0));
  }
  auto rs = conn.Query("SELECT max(rowid) FROM " + QuoteIdent(table));
  if (!rs.ok()) return std::optional<int64_t>();  // a table without rowid
  if ((*rs)->row_count() == 0 || (*rs)->Kind(0, 0) == CellKind::kNull) {
    return std::optional<int64_t>(0);
  }
  return std::optional<int64_t>((*rs)->Int(0, 0));
}

Status DeferForeignKeyChecks(Connection& conn) {
  return conn.ExecScript(conn.dialect() == Dialect::kPostgres ? "SET CONSTRAINTS ALL DEFERRED"
                                                              : "PRAGMA defer_foreign_keys = ON");
}

Status CheckForeignKeys(Connection& conn, const std::vector<std::string>& tables) {
  if (conn.dialect() == Dialect::kPostgres) return conn.ExecScript("SET CONSTRAINTS ALL IMMEDIATE");
  for (const std::string& t : tables) {
    ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT \"table\", rowid, parent FROM "
                                         "pragma_foreign_key_check($1) LIMIT 1",
                                         {t}));
    if (rs->row_count() > 0) {
      return FailedPrecondition("a row of '" + std::string(rs->Text(0, 0)) + "' (rowid " +
                                    std::string(rs->Text(0, 1)) + ") points at a row of '" +
                                    std::string(rs->Text(0, 2)) + "' that does not exist",
                                "FOREIGN_KEY_VIOLATION");
    }
  }
  return Status::Ok();
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
