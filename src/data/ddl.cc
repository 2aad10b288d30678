#include "data/ddl.h"

#include <sodium.h>

#include <charconv>

namespace slipway::data {
namespace json = boost::json;
using db::Dialect;
using db::QuoteIdent;

namespace {

// PostgreSQL truncates identifiers at 63 bytes; long names get a hash suffix instead.
std::string IndexName(std::string_view table, std::string_view column, std::string_view suffix) {
  std::string name = std::string(table) + "_" + std::string(column) + "_" + std::string(suffix);
  if (name.size() <= 63) return name;
  unsigned char hash[8];
  crypto_generichash(hash, sizeof(hash), reinterpret_cast<const unsigned char*>(name.data()),
                     name.size(), nullptr, 0);
  char hex[17];
  sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
  return name.substr(0, 46) + "_" + hex;
}

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// The DEFAULT clause for a field, or "". Values are checked against the field's type first.
Result<std::string> DefaultClause(const Field& f, Dialect dialect) {
  if (!f.default_value || f.default_value->is_null()) return std::string();
  const json::value& v = *f.default_value;
  if (f.type == FieldType::kJson) return " DEFAULT " + QuoteLiteral(json::serialize(v));
  if (!(v.is_string() || v.is_number() || v.is_bool())) {
    return InvalidArgument("field '" + f.name +
                           "': defaultValue must be a string, number or boolean");
  }
  if (f.type == FieldType::kBoolean) {
    if (!v.is_bool())
      return InvalidArgument("field '" + f.name + "': defaultValue must be true or false");
    return std::string(" DEFAULT ") + (v.as_bool() ? (dialect == Dialect::kSqlite ? "1" : "TRUE")
                                                   : (dialect == Dialect::kSqlite ? "0" : "FALSE"));
  }
  if (IsIntegral(f.type)) {
    if (!v.is_int64())
      return InvalidArgument("field '" + f.name + "': defaultValue must be an integer");
    return " DEFAULT " + std::to_string(v.as_int64());
  }
  if (IsNumeric(f.type)) {
    if (!v.is_number())
      return InvalidArgument("field '" + f.name + "': defaultValue must be a number");
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v.to_number<double>());
    return " DEFAULT " + std::string(buf, p);
  }
  if (!v.is_string())
    return InvalidArgument("field '" + f.name + "': defaultValue must be a string");
  return " DEFAULT " + QuoteLiteral(v.as_string());
}

// The relation a column's foreign key belongs to, resolved to (referenced table, column,
// on delete), or nothing when the column is not a foreign key.
struct Reference {
  std::string table, column, on_delete;
};

std::optional<Reference> ReferenceFor(const Collection& c, const Field& column,
                                      const Schema& schema) {
  if (column.foreign_key_of.empty()) return std::nullopt;
  size_t dot = column.foreign_key_of.find('.');
  if (dot == std::string::npos) {  // a belongsTo of this collection
    const Field* rel = c.FindField(column.foreign_key_of);
    if (rel == nullptr || rel->type != FieldType::kBelongsTo) return std::nullopt;
    const Collection* target = rel->target == c.name ? &c : schema.Find(rel->target);
    // A table is named like its collection, so a target outside `schema` (a plugin's migration
    // that knows only its own collection) is still referenced correctly.
    return Reference{target ? target->table : rel->target, rel->target_key, rel->on_delete};
  }
  // "<source>.<relation>": a hasMany or hasOne of another collection keeps its key here, or this
  // is the join table of a belongsToMany (whose rows go with the records on either side).
  std::string source_name = column.foreign_key_of.substr(0, dot);
  const Collection* source = source_name == c.name ? &c : schema.Find(source_name);
  if (source == nullptr) return std::nullopt;
  const Field* rel = source->FindField(column.foreign_key_of.substr(dot + 1));
  if (rel == nullptr) return std::nullopt;
  if (rel->type == FieldType::kBelongsToMany) {
    if (column.name == rel->foreign_key)
      return Reference{source->table, rel->source_key, "CASCADE"};
    const Collection* target = rel->target == c.name ? &c : schema.Find(rel->target);
    if (column.name == rel->other_key && target != nullptr) {
      return Reference{target->table, rel->target_key, "CASCADE"};
    }
    return std::nullopt;
  }
  if (!KeyOnTarget(rel->type)) return std::nullopt;
  return Reference{source->table, rel->source_key, rel->on_delete};
}

Result<std::string> ColumnDefinition(const Collection& c, const Field& f, const Schema& schema,
                                     Dialect dialect) {
  std::string sql = QuoteIdent(f.column) + " ";
  if (f.primary_key && f.auto_increment) {
    sql += dialect == Dialect::kSqlite
               ? "INTEGER PRIMARY KEY AUTOINCREMENT"
               : ColumnTypeSql(f, dialect) + " GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
    return sql;
  }
  sql += ColumnTypeSql(f, dialect);
  if (f.primary_key) {
    sql += " PRIMARY KEY";
  } else if (!f.allow_null) {
    sql += " NOT NULL";
  }
  ASSIGN_OR_RETURN(std::string def, DefaultClause(f, dialect));
  sql += def;
  if (auto ref = ReferenceFor(c, f, schema)) {
    sql += " REFERENCES " + QuoteIdent(ref->table) + " (" + QuoteIdent(ref->column) +
           ") ON DELETE " + ref->on_delete;
    // A restore inserts a table's rows before those they point at may be in (a tree's parent
    // with a higher key): it defers the check to its commit (SET CONSTRAINTS ALL DEFERRED).
    if (dialect == Dialect::kPostgres) sql += " DEFERRABLE INITIALLY IMMEDIATE";
  }
  return sql;
}

Statements IndexesFor(const Collection& c, const Field& f) {
  Statements out;
  if (f.unique && !f.primary_key) {
    out.push_back("CREATE UNIQUE INDEX " + QuoteIdent(UniqueIndexName(c, f)) + " ON " +
                  QuoteIdent(c.table) + " (" + QuoteIdent(f.column) + ")");
  }
  if (!f.foreign_key_of.empty() && !f.unique && !f.primary_key) {
    out.push_back("CREATE INDEX " + QuoteIdent(ForeignKeyIndexName(c, f)) + " ON " +
                  QuoteIdent(c.table) + " (" + QuoteIdent(f.column) + ")");
  }
  return out;
}

Statements DropIndexesFor(const Collection& c, const Field& f) {
  Statements out;
  if (f.unique && !f.primary_key) {
    out.push_back("DROP INDEX IF EXISTS " + QuoteIdent(UniqueIndexName(c, f)));
  }
  if (!f.foreign_key_of.empty()) {
    out.push_back("DROP INDEX IF EXISTS " + QuoteIdent(ForeignKeyIndexName(c, f)));
  }
  return out;
}

}  // namespace

std::string UniqueIndexName(const Collection& c, const Field& f) {
  return IndexName(c.table, f.column, "uniq");
}

std::string ForeignKeyIndexName(const Collection& c, const Field& f) {
  return IndexName(c.table, f.column, "fk");
}

std::string ColumnTypeSql(const Field& f, Dialect dialect) {
  const bool pg = dialect == Dialect::kPostgres;
  switch (f.type) {
    case FieldType::kString:
      return pg ? "VARCHAR(" + std::to_string(f.length) + ")" : "TEXT";
    case FieldType::kText:
    case FieldType::kPassword:
      return "TEXT";
    case FieldType::kInteger:
      return "INTEGER";
    case FieldType::kBigInt:
    case FieldType::kSnowflakeId:
      return pg ? "BIGINT" : "INTEGER";
    case FieldType::kFloat:
      return "REAL";
    case FieldType::kDouble:
      return pg ? "DOUBLE PRECISION" : "REAL";
    case FieldType::kDecimal:
      return pg ? "NUMERIC(" + std::to_string(f.precision) + "," + std::to_string(f.scale) + ")"
                : "NUMERIC";
    case FieldType::kBoolean:
      return pg ? "BOOLEAN" : "INTEGER";
    case FieldType::kDate:
      return pg ? "TIMESTAMPTZ" : "TEXT";
    case FieldType::kDatetimeNoTz:
      return pg ? "TIMESTAMP" : "TEXT";
    case FieldType::kDateOnly:
      return pg ? "DATE" : "TEXT";
    case FieldType::kTime:
      return pg ? "TIME" : "TEXT";
    case FieldType::kJson:
      return pg ? "JSONB" : "TEXT";
    case FieldType::kUuid:
      return pg ? "UUID" : "TEXT";
    case FieldType::kBelongsTo:
    case FieldType::kHasMany:
    case FieldType::kHasOne:
    case FieldType::kBelongsToMany:
      return "";
  }
  return "TEXT";
}

Result<Statements> CreateTableSql(const Collection& c, const Schema& schema, Dialect dialect) {
  std::string sql = "CREATE TABLE " + QuoteIdent(c.table) + " (";
  bool first = true;
  Statements indexes;
  for (const Field* f : c.ColumnFields()) {
    ASSIGN_OR_RETURN(std::string column, ColumnDefinition(c, *f, schema, dialect));
    if (!first) sql += ", ";
    sql += column;
    first = false;
    for (auto& s : IndexesFor(c, *f)) indexes.push_back(std::move(s));
  }
  sql += ")";
  Statements out = {std::move(sql)};
  for (auto& s : indexes) out.push_back(std::move(s));
  if (c.is_through) {
    // A pair of records is linked once. The two key columns are the first with a reference.
    std::vector<const Field*> keys;
    for (const Field* f : c.ColumnFields()) {
      if (!f->foreign_key_of.empty() && keys.size() < 2) keys.push_back(f);
    }
    if (keys.size() == 2) {
      out.push_back("CREATE UNIQUE INDEX " + QuoteIdent(IndexName(c.table, "pair", "uniq")) +
                    " ON " + QuoteIdent(c.table) + " (" + QuoteIdent(keys[0]->column) + ", " +
                    QuoteIdent(keys[1]->column) + ")");
    }
  }
  return out;
}

std::vector<std::string> ReferencedTables(const Collection& c, const Schema& schema) {
  std::vector<std::string> out;
  for (const Field* f : c.ColumnFields()) {
    if (auto ref = ReferenceFor(c, *f, schema)) out.push_back(ref->table);
  }
  return out;
}

Statements DropTableSql(const Collection& c, Dialect dialect) {
  return {"DROP TABLE " + QuoteIdent(c.table) + (dialect == Dialect::kPostgres ? " CASCADE" : "")};
}

Result<Statements> AddColumnSql(const Collection& c, const Field& f, const Schema& schema,
                                Dialect dialect) {
  if (!f.has_column()) return Statements{};
  if (f.primary_key) {
    return InvalidArgument("field '" + c.name + "." + f.name +
                           "': a primary key can only be defined when the collection is created");
  }
  if (!f.allow_null && !f.default_value) {
    return InvalidArgument("field '" + c.name + "." + f.name +
                           "': a field with allowNull false needs a defaultValue when it is added "
                           "to an existing collection");
  }
  ASSIGN_OR_RETURN(std::string column, ColumnDefinition(c, f, schema, dialect));
  Statements out = {"ALTER TABLE " + QuoteIdent(c.table) + " ADD COLUMN " + column};
  for (auto& s : IndexesFor(c, f)) out.push_back(std::move(s));
  return out;
}

bool NeedsRebuildToDrop(const Collection& c, const Field& f, Dialect dialect) {
  return dialect == Dialect::kSqlite && (!f.foreign_key_of.empty() || f.primary_key);
}

Statements DropColumnSql(const Collection& c, const Field& f, Dialect dialect) {
  Statements out = DropIndexesFor(c, f);
  out.push_back("ALTER TABLE " + QuoteIdent(c.table) + " DROP COLUMN " + QuoteIdent(f.column));
  return out;
}

Statements SetUniqueSql(const Collection& c, const Field& f, bool unique, Dialect dialect) {
  if (unique) {
    return {"CREATE UNIQUE INDEX " + QuoteIdent(UniqueIndexName(c, f)) + " ON " +
            QuoteIdent(c.table) + " (" + QuoteIdent(f.column) + ")"};
  }
  return {"DROP INDEX IF EXISTS " + QuoteIdent(UniqueIndexName(c, f))};
}

Result<Statements> RebuildTableSql(const Collection& before, const Collection& after,
                                   const Schema& schema) {
  Collection temp = after;
  temp.table = "slipway_rebuild_" + after.table;
  ASSIGN_OR_RETURN(Statements create, CreateTableSql(temp, schema, Dialect::kSqlite));
  Statements out;
  out.push_back(create.front());  // the table only; indexes are made under the real name below
  std::string columns;
  for (const Field* f : after.ColumnFields()) {
    const Field* old = before.FindField(f->name);
    if (old == nullptr || !old->has_column()) continue;
    if (!columns.empty()) columns += ", ";
    columns += QuoteIdent(f->column);
  }
  out.push_back("INSERT INTO " + QuoteIdent(temp.table) + " (" + columns + ") SELECT " + columns +
                " FROM " + QuoteIdent(before.table));
  out.push_back("DROP TABLE " + QuoteIdent(before.table));
  out.push_back("ALTER TABLE " + QuoteIdent(temp.table) + " RENAME TO " + QuoteIdent(after.table));
  for (const Field* f : after.ColumnFields()) {
    for (auto& s : IndexesFor(after, *f)) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace slipway::data
