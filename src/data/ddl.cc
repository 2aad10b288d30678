#include "data/ddl.h"

#include <sodium.h>

#include <algorithm>
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
    if (rel == nullptr || rel->type != FieldType::kBelongsTo || !rel->enforced()) {
      return std::nullopt;
    }
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

// The names of a field's own indexes (DropColumnSql drops them before its column).
Statements DropIndexesFor(const Collection& c, const Field& f) {
  Statements out;
  for (const char* suffix : {"uniq", "fk", "idx"}) {
    out.push_back("DROP INDEX IF EXISTS " + QuoteIdent(IndexName(c.table, f.column, suffix)));
  }
  return out;
}

std::string Joined(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// The collection option `indexes`, as Sequelize's model option that NocoBase passes through:
// [{fields: ["status", "createdAt"], unique: false, name: "..."}].
Result<std::vector<IndexSpec>> CompositeIndexes(const Collection& c) {
  std::vector<IndexSpec> out;
  const json::value* given = c.options.if_contains("indexes");
  if (given == nullptr || given->is_null()) return out;
  const std::string what = "collection '" + c.name + "': 'indexes'";
  if (!given->is_array()) return InvalidArgument(what + " must be a list");
  for (const json::value& v : given->as_array()) {
    if (!v.is_object()) return InvalidArgument(what + ": every entry must be an object");
    const json::object& o = v.as_object();
    for (const auto& kv : o) {
      if (kv.key() != "fields" && kv.key() != "unique" && kv.key() != "name") {
        return InvalidArgument(what + ": unknown key '" + std::string(kv.key()) +
                               "' (fields, unique, name)");
      }
    }
    IndexSpec index;
    index.table = c.table;
    const json::value* fields = o.if_contains("fields");
    if (fields == nullptr || !fields->is_array() || fields->as_array().empty() ||
        fields->as_array().size() > 16) {
      return InvalidArgument(what + ": every entry needs 'fields', a list of 1 to 16 field names");
    }
    for (const json::value& name : fields->as_array()) {
      const Field* f = name.is_string() ? c.FindField(name.as_string()) : nullptr;
      if (f == nullptr || !f->has_column()) {
        return InvalidArgument(
            what + ": '" +
            (name.is_string() ? std::string(name.as_string()) : json::serialize(name)) +
            "' is not a field of the collection with a column");
      }
      if (std::find(index.columns.begin(), index.columns.end(), f->column) != index.columns.end()) {
        return InvalidArgument(what + ": field '" + f->name + "' is named twice in one index");
      }
      index.columns.push_back(f->column);
    }
    if (const json::value* u = o.if_contains("unique"); u != nullptr) {
      if (!u->is_bool()) return InvalidArgument(what + ": 'unique' must be true or false");
      index.unique = u->as_bool();
    }
    if (const json::value* n = o.if_contains("name"); n != nullptr) {
      if (!n->is_string()) return InvalidArgument(what + ": 'name' must be a string");
      RETURN_IF_ERROR(ValidateIdentifier("index", n->as_string()).WithContext(what));
      index.name = std::string(n->as_string());
    } else {
      index.name = IndexName(c.table, Joined(index.columns, "_"), index.unique ? "uniq" : "idx");
    }
    index.collection = c.name;
    out.push_back(std::move(index));
  }
  return out;
}

}  // namespace

Result<std::vector<IndexSpec>> IndexesOf(const Collection& c) {
  std::vector<IndexSpec> out;
  for (const Field* f : c.ColumnFields()) {
    if (f->primary_key) continue;
    if (f->unique) {
      out.push_back({UniqueIndexName(c, *f), c.table, {f->column}, true, c.name, f->name});
    } else if (!f->foreign_key_of.empty()) {
      out.push_back({ForeignKeyIndexName(c, *f), c.table, {f->column}, false, c.name, f->name});
    } else if (f->index) {
      out.push_back(
          {IndexName(c.table, f->column, "idx"), c.table, {f->column}, false, c.name, f->name});
    }
  }
  if (c.is_through) {
    // A pair of records is linked once. The two key columns are the first with a reference.
    std::vector<std::string> keys;
    for (const Field* f : c.ColumnFields()) {
      if (!f->foreign_key_of.empty() && keys.size() < 2) keys.push_back(f->column);
    }
    if (keys.size() == 2) {
      out.push_back({IndexName(c.table, "pair", "uniq"), c.table, keys, true, c.name, ""});
    }
  }
  ASSIGN_OR_RETURN(std::vector<IndexSpec> composite, CompositeIndexes(c));
  for (IndexSpec& index : composite) {
    for (const IndexSpec& other : out) {
      if (other.name == index.name) {
        return InvalidArgument("collection '" + c.name + "': index name '" + index.name +
                               "' is used twice");
      }
    }
    out.push_back(std::move(index));
  }
  return out;
}

std::string IndexOrigin(const IndexSpec& index) {
  if (!index.field.empty()) return "field '" + index.collection + "." + index.field + "'";
  return "index '" + index.name + "' of collection '" + index.collection + "'";
}

std::string CreateIndexSql(const IndexSpec& index, bool concurrently) {
  std::string columns;
  for (const auto& column : index.columns) {
    if (!columns.empty()) columns += ", ";
    columns += QuoteIdent(column);
  }
  return std::string("CREATE ") + (index.unique ? "UNIQUE " : "") + "INDEX " +
         (concurrently ? "CONCURRENTLY " : "") + "IF NOT EXISTS " + QuoteIdent(index.name) +
         " ON " + QuoteIdent(index.table) + " (" + columns + ")";
}

Result<Statements> IndexChangesSql(const Collection& before, const Collection& after,
                                   bool defer_creates) {
  ASSIGN_OR_RETURN(std::vector<IndexSpec> had, IndexesOf(before));
  ASSIGN_OR_RETURN(std::vector<IndexSpec> wants, IndexesOf(after));
  auto in = [](const std::vector<IndexSpec>& list, const IndexSpec& index) {
    return std::find(list.begin(), list.end(), index) != list.end();
  };
  Statements out;
  for (const IndexSpec& index : had) {
    if (!in(wants, index)) out.push_back("DROP INDEX IF EXISTS " + QuoteIdent(index.name));
  }
  if (defer_creates) return out;
  for (const IndexSpec& index : wants) {
    if (!in(had, index)) out.push_back(CreateIndexSql(index, /*concurrently=*/false));
  }
  return out;
}

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
  for (const Field* f : c.ColumnFields()) {
    ASSIGN_OR_RETURN(std::string column, ColumnDefinition(c, *f, schema, dialect));
    if (!first) sql += ", ";
    sql += column;
    first = false;
  }
  sql += ")";
  Statements out = {std::move(sql)};
  ASSIGN_OR_RETURN(std::vector<IndexSpec> indexes, IndexesOf(c));
  for (const IndexSpec& index : indexes) out.push_back(CreateIndexSql(index, false));
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
  return Statements{"ALTER TABLE " + QuoteIdent(c.table) + " ADD COLUMN " + column};
}

bool NeedsRebuildToDrop(const Collection& c, const Field& f, Dialect dialect) {
  return dialect == Dialect::kSqlite && (!f.foreign_key_of.empty() || f.primary_key);
}

Statements DropColumnSql(const Collection& c, const Field& f, Dialect dialect) {
  Statements out = DropIndexesFor(c, f);
  out.push_back("ALTER TABLE " + QuoteIdent(c.table) + " DROP COLUMN " + QuoteIdent(f.column));
  return out;
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
  ASSIGN_OR_RETURN(std::vector<IndexSpec> indexes, IndexesOf(after));
  for (const IndexSpec& index : indexes) out.push_back(CreateIndexSql(index, false));
  return out;
}

}  // namespace slipway::data
