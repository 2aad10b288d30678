#include "data/schema_store.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <set>

#include "core/ids.h"
#include "data/ddl.h"
#include "db/catalog.h"
#include "db/cluster_state.h"
#include "db/system_tables.h"

namespace slipway::data {
namespace json = boost::json;

namespace {

constexpr const char* kStoredSystem = "x-slipway-system";
constexpr const char* kStoredForeignKeyOf = "x-slipway-foreign-key-of";
// The column of a field renamed after it was made (a rename keeps the column: a request still
// holding the previous schema names the column, which must go on existing).
constexpr const char* kStoredColumn = "x-slipway-column";

Result<json::object> ParseObject(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object())
    return Internal("stored definition of " + std::string(what) + " is not a JSON object");
  return std::move(v.as_object());
}

Status Run(db::Connection& conn, const Statements& statements) {
  for (const std::string& sql : statements) RETURN_IF_ERROR(conn.ExecScript(sql));
  return Status::Ok();
}

const std::string kPendingDrops(db::kPendingDropsTable);

// Phase one of a removal: the column (or, with `column` null, the table) of `before` is recorded
// to be dropped once no node uses the Schema that still has it (FinishRemovals).
Status DeferDrop(db::Connection& conn, const Collection& before, const Field* column) {
  const bool pg = conn.dialect() == db::Dialect::kPostgres;
  Statements statements = column != nullptr ? DropColumnSql(before, *column, conn.dialect())
                                            : DropTableSql(before, conn.dialect());
  bool rebuild = column != nullptr && NeedsRebuildToDrop(before, *column, conn.dialect());
  if (pg && column != nullptr && !column->allow_null) {
    RETURN_IF_ERROR(conn.Exec("ALTER TABLE " + QuoteIdent(before.table) + " ALTER COLUMN " +
                              QuoteIdent(column->column) + " DROP NOT NULL"));
  }
  json::array list;
  for (const std::string& sql : statements) list.emplace_back(sql);
  ASSIGN_OR_RETURN(db::ClusterRow cluster, db::ReadClusterRow(conn));
  return conn.Exec("INSERT INTO " + kPendingDrops +
                       " (table_name, column_name, epoch, statements, rebuild) VALUES ($1, $2, $3, "
                       "$4, $5)",
                   {before.table, column != nullptr ? column->column : std::string(), cluster.epoch,
                    json::serialize(list), rebuild});
}

// A column (or with `column` empty, a table) that a removal has not dropped yet cannot be made
// again until it is gone.
Status NotBeingRemoved(db::Connection& conn, const std::string& table, const std::string& column,
                       const std::string& what) {
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT 1 FROM " + kPendingDrops +
                                           " WHERE table_name = $1 AND (column_name = $2 OR "
                                           "column_name = '')",
                                       {table, column}));
  if (rs->row_count() == 0) return Status::Ok();
  return FailedPrecondition(what + " is still being removed (its " +
                                (column.empty() ? "table" : "column") +
                                " is dropped once every node has stopped using it); try again in "
                                "a moment",
                            "BEING_REMOVED");
}

// The relations (in any collection) that use column `field` of collection `c`: as their foreign
// key, or as the key they point at.
std::vector<std::string> RelationsUsing(const Schema& schema, const Collection& c,
                                        const Field& field) {
  std::vector<std::string> users;
  for (const auto& [name, other] : schema.collections()) {
    for (const Field& rel : other->fields) {
      if (!IsRelation(rel.type)) continue;
      std::string id = name + "." + rel.name;
      if (rel.type == FieldType::kBelongsTo) {
        if (name == c.name && rel.foreign_key == field.name) users.push_back(id);
        if (rel.target == c.name && rel.target_key == field.name) users.push_back(id);
      } else if (rel.type == FieldType::kBelongsToMany) {
        if (name == c.name && rel.source_key == field.name) users.push_back(id);
        if (rel.target == c.name && rel.target_key == field.name) users.push_back(id);
        if (rel.through == c.name && (rel.foreign_key == field.name || rel.other_key == field.name))
          users.push_back(id);
      } else {
        if (rel.target == c.name && rel.foreign_key == field.name) users.push_back(id);
        if (name == c.name && rel.source_key == field.name) users.push_back(id);
      }
    }
  }
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  return users;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

// A foreign key column takes the type of the key it points at.
Field ForeignKeyColumn(const std::string& name, const Field& key, std::string foreign_key_of) {
  Field fk;
  fk.name = name;
  fk.column = name;
  fk.type = key.type == FieldType::kSnowflakeId ? FieldType::kBigInt : key.type;
  fk.length = key.length;
  fk.foreign_key_of = std::move(foreign_key_of);
  return fk;
}

// Field names are compared without regard to case: SQLite's column names are, and the same
// schema must work on both dialects. The indexes the collection asks for must name its fields.
Status CheckCollection(const Collection& c) {
  std::map<std::string, const Field*> seen;
  for (const Field& f : c.fields) {
    auto [it, fresh] = seen.emplace(Folded(f.name), &f);
    if (!fresh) {
      return AlreadyExists("field '" + c.name + "." + f.name + "' clashes with '" + c.name + "." +
                               it->second->name +
                               "' (field names are compared without regard to case)",
                           "FIELD_EXISTS");
    }
  }
  return IndexesOf(c).status();
}

// The next schema, edited in place. Build() checks the collections that were changed.
class Draft {
 public:
  explicit Draft(const Schema& now) : base_(now.collections()) {}
  // The collection to edit: copied from the schema the first time, so that a change costs what
  // it touches, not the size of the schema.
  Collection* Find(std::string_view name) {
    auto it = edited_.find(name);
    if (it != edited_.end()) return &it->second;
    auto in = base_.find(std::string(name));
    if (in == base_.end()) return nullptr;
    return &edited_.emplace(in->first, *in->second).first->second;
  }
  void Put(Collection c) {
    std::string name = c.name;
    edited_.insert_or_assign(std::move(name), std::move(c));
  }
  void Erase(std::string_view name) {
    if (auto it = edited_.find(name); it != edited_.end()) edited_.erase(it);
    base_.erase(std::string(name));
  }
  // The next schema: the collections not edited are the same objects as before (a change's
  // index statements compare by identity, RunIndexChanges).
  Result<std::shared_ptr<const Schema>> Build() const {
    for (const auto& [name, c] : edited_) RETURN_IF_ERROR(CheckCollection(c));
    auto out = base_;
    for (const auto& [name, c] : edited_) out[name] = std::make_shared<const Collection>(c);
    auto schema = std::make_shared<const Schema>(std::move(out));
    RETURN_IF_ERROR(schema->Validate());
    return schema;
  }

 private:
  std::map<std::string, std::shared_ptr<const Collection>> base_;
  std::map<std::string, Collection, std::less<>> edited_;
};

// The index statements of a change for every collection `next` changed that `now` has too:
// drops, and on SQLite the creates; on PostgreSQL a create is left to the change's caller
// (ApplyChange), which builds it without blocking writes (BuildIndexes).
Status RunIndexChanges(db::Connection& conn, const Schema& now, const Schema& next) {
  const bool defer = conn.dialect() == db::Dialect::kPostgres;
  for (const auto& [name, after] : next.collections()) {
    const Collection* before = now.Find(name);
    if (before == nullptr || before == after.get() || before->table != after->table) continue;
    ASSIGN_OR_RETURN(Statements statements, IndexChangesSql(*before, *after, defer));
    RETURN_IF_ERROR(Run(conn, statements).WithContext("collection '" + name + "'"));
  }
  return Status::Ok();
}

// A new collection's name must not be one the server, the database or another collection
// already uses, in any case: each would be a 500 (or an unreachable collection) later.
Status CheckCollectionName(db::Connection& conn, const Schema& now, std::string_view name) {
  std::string folded = Folded(name);
  if (folded.rfind("__", 0) == 0) {
    return InvalidArgument("collection name '" + std::string(name) +
                           "' is reserved: names starting with '__' are the server's own routes");
  }
  for (const char* prefix : {"pg_", "sqlite_", "slipway_"}) {
    if (folded.rfind(prefix, 0) == 0) {
      return InvalidArgument("collection name '" + std::string(name) +
                             "' is reserved: names "
                             "starting with '" +
                             prefix +
                             "' belong to the database or to "
                             "Slipway itself");
    }
  }
  for (const auto& [existing, c] : now.collections()) {
    if (Folded(existing) == folded) {
      return AlreadyExists("collection '" + std::string(name) + "' clashes with the collection '" +
                               existing + "' (names are compared without regard to case)",
                           "COLLECTION_EXISTS");
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> table, db::FindTableIgnoringCase(conn, name));
  if (table) {
    return AlreadyExists("the database already has a table named '" + *table +
                             "'; choose another name for the collection",
                         "TABLE_EXISTS");
  }
  return Status::Ok();
}

// Whether a column of type `column` can hold keys of type `key` (an existing field used as a
// relation's foreign key).
bool HoldsKeysOf(FieldType column, FieldType key) {
  if (IsIntegral(key)) return IsIntegral(column);
  if (key == FieldType::kUuid) return column == FieldType::kUuid || column == FieldType::kString;
  if (key == FieldType::kString) return column == FieldType::kString;
  return column == key;
}

std::set<std::string> CodeFieldNames(const CodeCollections& code, std::string_view collection) {
  std::set<std::string> names;
  for (const Collection& c : code) {
    if (c.name != collection) continue;
    for (const Field& f : c.fields) names.insert(f.name);
  }
  return names;
}

Field* FindMutable(Collection& c, std::string_view name) {
  for (Field& f : c.fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void RemoveField(Collection& c, std::string_view name) {
  c.fields.erase(std::remove_if(c.fields.begin(), c.fields.end(),
                                [&](const Field& f) { return f.name == name; }),
                 c.fields.end());
}

}  // namespace

json::object StoredField(const Field& f, std::string_view collection) {
  json::object o = FieldToJson(f, collection);
  o.erase("collectionName");
  o.erase("isForeignKey");
  if (f.system) o[kStoredSystem] = true;
  if (!f.foreign_key_of.empty()) o[kStoredForeignKeyOf] = f.foreign_key_of;
  if (f.has_column() && f.column != f.name) o[kStoredColumn] = f.column;
  if (f.default_value) o["defaultValue"] = *f.default_value;
  if (f.type == FieldType::kString) o["length"] = f.length;
  if (f.type == FieldType::kDecimal) {
    o["precision"] = f.precision;
    o["scale"] = f.scale;
  }
  return o;
}

Result<Field> FieldFromStored(const json::object& stored, std::string_view collection) {
  json::object def = stored;
  bool system = false;
  std::string foreign_key_of;
  if (auto it = def.find(kStoredSystem); it != def.end())
    system = it->value().is_bool() && it->value().as_bool();
  if (auto it = def.find(kStoredForeignKeyOf); it != def.end() && it->value().is_string()) {
    foreign_key_of = std::string(it->value().as_string());
  }
  def.erase(kStoredSystem);
  def.erase(kStoredForeignKeyOf);
  std::string column;
  if (auto it = def.find(kStoredColumn); it != def.end() && it->value().is_string()) {
    column = std::string(it->value().as_string());
  }
  def.erase(kStoredColumn);
  ASSIGN_OR_RETURN(Field f, ParseFieldDefinition(def, collection));
  f.system = system;
  f.foreign_key_of = std::move(foreign_key_of);
  if (!column.empty() && f.has_column()) f.column = std::move(column);
  return f;
}

Status SyncTable(db::Connection& conn, const Collection& c, const Schema& schema) {
  ASSIGN_OR_RETURN(bool exists, db::TableExists(conn, c.table));
  if (!exists) {
    ASSIGN_OR_RETURN(Statements create, CreateTableSql(c, schema, conn.dialect()));
    return Run(conn, create);
  }
  ASSIGN_OR_RETURN(auto columns, db::ListColumns(conn, c.table));
  std::set<std::string> added;
  for (const Field* f : c.ColumnFields()) {
    if (std::find(columns.begin(), columns.end(), f->column) != columns.end()) continue;
    ASSIGN_OR_RETURN(Statements add, AddColumnSql(c, *f, schema, conn.dialect()));
    RETURN_IF_ERROR(Run(conn, add).WithContext("collection '" + c.name + "'"));
    added.insert(f->column);
  }
  // The indexes of the columns added (a plugin's table, small: built in the transaction).
  ASSIGN_OR_RETURN(std::vector<IndexSpec> indexes, IndexesOf(c));
  for (const IndexSpec& index : indexes) {
    for (const std::string& column : index.columns) {
      if (!added.count(column)) continue;
      RETURN_IF_ERROR(conn.ExecScript(CreateIndexSql(index, /*concurrently=*/false)));
      break;
    }
  }
  return Status::Ok();
}

bool SchemaStore::IsCodeCollection(std::string_view name) const {
  for (const Collection& c : code_) {
    if (c.name == name) return true;
  }
  return false;
}

namespace {

Status SaveCollectionRow(db::Connection& conn, const Collection& c, bool insert) {
  json::object o = c.options;
  o["name"] = c.name;
  o["title"] = c.title;
  o["primaryKey"] = c.primary_key;
  o["timestamps"] = c.timestamps;
  o["createdBy"] = c.created_by;
  std::string options = json::serialize(o);
  std::string table(db::kCollectionsTable);
  if (insert) {
    return conn.Exec("INSERT INTO " + table +
                         " (name, options, sort) VALUES ($1, $2, "
                         "(SELECT COALESCE(MAX(sort), 0) + 1 FROM " +
                         table + "))",
                     {c.name, options});
  }
  return conn.Exec("UPDATE " + table + " SET options = $2 WHERE name = $1", {c.name, options});
}

// Rewrites the stored fields of `c` except those a plugin defines in code (`code_fields`).
Status SaveFieldRows(db::Connection& conn, const Collection& c,
                     const std::set<std::string>& code_fields) {
  std::string table(db::kFieldsTable);
  RETURN_IF_ERROR(conn.Exec("DELETE FROM " + table + " WHERE collection_name = $1", {c.name}));
  int sort = 0;
  for (const Field& f : c.fields) {
    ++sort;
    if (code_fields.count(f.name)) continue;
    RETURN_IF_ERROR(conn.Exec(
        "INSERT INTO " + table + " (collection_name, name, options, sort) VALUES ($1, $2, $3, $4)",
        {c.name, f.name, json::serialize(StoredField(f, c.name)), static_cast<int64_t>(sort)}));
  }
  return Status::Ok();
}

// Deletes the stored definition of a collection and its fields.
Status ForgetCollection(db::Connection& conn, std::string_view name) {
  RETURN_IF_ERROR(
      conn.Exec("DELETE FROM " + std::string(db::kFieldsTable) + " WHERE collection_name = $1",
                {std::string(name)}));
  return conn.Exec("DELETE FROM " + std::string(db::kCollectionsTable) + " WHERE name = $1",
                   {std::string(name)});
}

}  // namespace

namespace {

// Creates the tables of `pending`, each after the tables its foreign keys point at (a reference
// to itself is fine); `made` are the tables that exist already among those of `schema`.
Status CreateTablesParentsFirst(db::Connection& conn, const Schema& schema,
                                std::vector<const Collection*> pending,
                                std::set<std::string> made) {
  for (const Collection* c : pending) made.erase(c->table);
  while (!pending.empty()) {
    auto ready = std::find_if(pending.begin(), pending.end(), [&](const Collection* c) {
      for (const std::string& t : ReferencedTables(*c, schema)) {
        if (t != c->table && !made.count(t) &&
            std::any_of(pending.begin(), pending.end(),
                        [&](const Collection* p) { return p->table == t; })) {
          return false;
        }
      }
      return true;
    });
    if (ready == pending.end()) {
      std::string names;
      for (const Collection* c : pending) names += (names.empty() ? "" : ", ") + c->name;
      return FailedPrecondition("the collections " + names +
                                " refer to each other in a cycle that cannot be created");
    }
    ASSIGN_OR_RETURN(Statements create, CreateTableSql(**ready, schema, conn.dialect()));
    RETURN_IF_ERROR(Run(conn, create).WithContext("collection '" + (*ready)->name + "'"));
    made.insert((*ready)->table);
    pending.erase(ready);
  }
  return Status::Ok();
}

}  // namespace

Result<json::object> SchemaStore::Definitions(db::Connection& conn) const {
  ASSIGN_OR_RETURN(auto cs,
                   conn.Query("SELECT name, options FROM " + std::string(db::kCollectionsTable) +
                              " ORDER BY sort, name"));
  ASSIGN_OR_RETURN(
      auto fs, conn.Query("SELECT collection_name, name, options, sort FROM " +
                          std::string(db::kFieldsTable) + " ORDER BY collection_name, sort, name"));
  std::map<std::string, json::array> fields;
  for (int r = 0; r < fs->row_count(); ++r) {
    std::string collection(fs->Text(r, 0));
    ASSIGN_OR_RETURN(json::object o,
                     ParseObject(fs->Text(r, 2), "a field of '" + collection + "'"));
    fields[collection].push_back(
        json::object{{"name", fs->Text(r, 1)}, {"options", std::move(o)}, {"sort", fs->Int(r, 3)}});
  }
  json::array collections;
  std::set<std::string> listed;
  for (int r = 0; r < cs->row_count(); ++r) {
    std::string name(cs->Text(r, 0));
    ASSIGN_OR_RETURN(json::object o, ParseObject(cs->Text(r, 1), "collection '" + name + "'"));
    listed.insert(name);
    collections.push_back(json::object{
        {"name", name}, {"options", std::move(o)}, {"fields", std::move(fields[name])}});
  }
  json::array extra;
  for (auto& [name, list] : fields) {
    if (!listed.count(name) && !list.empty()) {
      extra.push_back(json::object{{"collection", name}, {"fields", std::move(list)}});
    }
  }
  return json::object{{"collections", std::move(collections)}, {"pluginFields", std::move(extra)}};
}

Result<std::shared_ptr<const Schema>> SchemaStore::FromDefinitions(const json::object& defs) const {
  std::map<std::string, Collection> all;
  for (const Collection& c : code_) all[c.name] = c;
  auto list = [&](std::string_view key) -> Result<const json::array*> {
    static const json::array kNone;
    const json::value* v = defs.if_contains(key);
    if (v == nullptr) return &kNone;
    if (!v->is_array())
      return InvalidArgument("definitions: '" + std::string(key) + "' is not a list");
    return &v->as_array();
  };
  auto string_of = [](const json::object& o, std::string_view key) -> Result<std::string> {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string() || v->as_string().empty()) {
      return InvalidArgument("definitions: an entry lacks its '" + std::string(key) + "'");
    }
    return std::string(v->as_string());
  };
  // Fields in their stored order (by sort, as Load reads them).
  auto add_fields = [&](Collection& c, const json::value* fields) -> Status {
    if (fields == nullptr) return Status::Ok();
    if (!fields->is_array())
      return InvalidArgument("definitions: the fields of '" + c.name + "' are not a list");
    std::vector<std::pair<int64_t, const json::object*>> ordered;
    for (const json::value& v : fields->as_array()) {
      const json::value* options = v.is_object() ? v.as_object().if_contains("options") : nullptr;
      if (options == nullptr || !options->is_object()) {
        return InvalidArgument("definitions: a field of '" + c.name + "' has no options");
      }
      const json::value* sort = v.as_object().if_contains("sort");
      ordered.emplace_back(sort != nullptr && sort->is_int64() ? sort->as_int64() : 0,
                           &options->as_object());
    }
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [sort, options] : ordered) {
      ASSIGN_OR_RETURN(Field f, FieldFromStored(*options, c.name));
      if (c.FindField(f.name) == nullptr) c.fields.push_back(std::move(f));
    }
    return Status::Ok();
  };
  ASSIGN_OR_RETURN(const json::array* collections, list("collections"));
  for (const json::value& v : *collections) {
    if (!v.is_object()) return InvalidArgument("definitions: a collection is not an object");
    ASSIGN_OR_RETURN(std::string name, string_of(v.as_object(), "name"));
    if (IsCodeCollection(name)) {
      return InvalidArgument("definitions: collection '" + name + "' is a plugin's here");
    }
    const json::value* options = v.as_object().if_contains("options");
    if (options == nullptr || !options->is_object()) {
      return InvalidArgument("definitions: collection '" + name + "' has no options");
    }
    json::object o = options->as_object();
    Collection c;
    c.name = name;
    c.table = name;
    c.origin = "user";
    if (auto it = o.find("title"); it != o.end() && it->value().is_string())
      c.title = std::string(it->value().as_string());
    if (auto it = o.find("primaryKey"); it != o.end() && it->value().is_string())
      c.primary_key = std::string(it->value().as_string());
    if (auto it = o.find("timestamps"); it != o.end() && it->value().is_bool())
      c.timestamps = it->value().as_bool();
    if (auto it = o.find("createdBy"); it != o.end() && it->value().is_bool())
      c.created_by = it->value().as_bool();
    if (auto it = o.find("isThrough"); it != o.end() && it->value().is_bool())
      c.is_through = it->value().as_bool();
    o.erase("primaryKey");
    c.options = std::move(o);
    RETURN_IF_ERROR(add_fields(c, v.as_object().if_contains("fields")));
    all[name] = std::move(c);
  }
  ASSIGN_OR_RETURN(const json::array* plugin_fields, list("pluginFields"));
  for (const json::value& v : *plugin_fields) {
    if (!v.is_object())
      return InvalidArgument("definitions: a 'pluginFields' entry is not an object");
    ASSIGN_OR_RETURN(std::string name, string_of(v.as_object(), "collection"));
    auto it = all.find(name);
    if (it == all.end()) continue;  // a plugin's collection whose plugin is not loaded
    RETURN_IF_ERROR(add_fields(it->second, v.as_object().if_contains("fields")));
  }
  std::map<std::string, std::shared_ptr<const Collection>> out;
  for (auto& [name, c] : all) out[name] = std::make_shared<const Collection>(std::move(c));
  auto schema = std::make_shared<const Schema>(std::move(out));
  RETURN_IF_ERROR(schema->Validate().WithContext("stored schema"));
  return schema;
}

Result<std::shared_ptr<const Schema>> SchemaStore::Load(db::Connection& conn) const {
  ASSIGN_OR_RETURN(json::object defs, Definitions(conn));
  return FromDefinitions(defs);
}

namespace {

// Fields of a new collection's definition that are added after the collection exists, through
// CreateField, the one path that makes join tables and reverse fields.
bool AddedAfterCreation(const json::value& field) {
  if (!field.is_object()) return false;
  const json::object& o = field.as_object();
  if (auto it = o.find("reverseField"); it != o.end() && !it->value().is_null()) return true;
  auto type = o.find("type");
  if (type == o.end() || !type->value().is_string()) return false;
  std::string_view t = type->value().as_string();
  return t == "belongsToMany" || t == "hasOne" || t == "attachment";
}

}  // namespace

Result<std::shared_ptr<const Schema>> SchemaStore::CreateCollection(db::Connection& conn,
                                                                    const Schema& now,
                                                                    const json::object& def) const {
  std::vector<json::object> later;
  if (auto it = def.find("fields"); it != def.end() && it->value().is_array()) {
    bool any = false;
    for (const json::value& f : it->value().as_array()) any = any || AddedAfterCreation(f);
    if (any) {
      json::object first = def;
      json::array now_fields;
      for (const json::value& f : it->value().as_array()) {
        if (AddedAfterCreation(f)) {
          later.push_back(f.as_object());
        } else {
          now_fields.push_back(f);
        }
      }
      first["fields"] = std::move(now_fields);
      ASSIGN_OR_RETURN(std::shared_ptr<const Schema> next, CreateCollection(conn, now, first));
      std::string name(def.at("name").as_string());
      for (const json::object& f : later) {
        ASSIGN_OR_RETURN(next, CreateField(conn, *next, name, f));
      }
      return next;
    }
  }
  ASSIGN_OR_RETURN(Collection c, ParseCollectionDefinition(def, now.Find("users") != nullptr));
  if (now.Find(c.name) != nullptr) {
    return AlreadyExists("collection '" + c.name + "' already exists", "COLLECTION_EXISTS");
  }
  RETURN_IF_ERROR(CheckCollectionName(conn, now, c.name));
  Draft draft(now);
  // Foreign keys of belongsTo relations take their target key's type.
  for (Field& f : c.fields) {
    if (f.foreign_key_of.empty() || f.system) continue;
    const Field* rel = c.FindField(f.foreign_key_of);
    if (rel == nullptr) continue;
    const Collection* target = rel->target == c.name ? &c : now.Find(rel->target);
    if (target == nullptr) {
      return InvalidArgument("relation '" + c.name + "." + rel->name + "': target collection '" +
                             rel->target + "' does not exist");
    }
    if (const Field* key = target->FindField(rel->target_key)) {
      f = ForeignKeyColumn(f.name, *key, f.foreign_key_of);
    }
  }
  // hasMany relations keep their foreign key on the target.
  std::vector<std::pair<std::string, Field>> target_columns;
  for (const Field& rel : c.fields) {
    if (rel.type != FieldType::kHasMany) continue;
    std::string what = "relation '" + c.name + "." + rel.name + "'";
    const Field* source_key = c.FindField(rel.source_key);
    if (source_key == nullptr)
      return InvalidArgument(what + ": source key '" + rel.source_key + "' does not exist");
    Collection* target = rel.target == c.name ? &c : draft.Find(rel.target);
    if (target == nullptr)
      return InvalidArgument(what + ": target collection '" + rel.target + "' does not exist");
    if (const Field* existing = target->FindField(rel.foreign_key)) {
      if (!existing->has_column())
        return InvalidArgument(what + ": foreign key '" + rel.foreign_key + "' is a relation");
      continue;
    }
    Field fk = ForeignKeyColumn(rel.foreign_key, *source_key, c.name + "." + rel.name);
    if (target == &c) {
      c.fields.push_back(fk);
    } else {
      target->fields.push_back(fk);
      target_columns.emplace_back(target->name, fk);
    }
  }
  draft.Put(c);
  ASSIGN_OR_RETURN(auto next, draft.Build());
  RETURN_IF_ERROR(NotBeingRemoved(conn, c.table, "", "collection '" + c.name + "'"));
  for (const auto& [target_name, fk] : target_columns) {
    RETURN_IF_ERROR(NotBeingRemoved(conn, next->Find(target_name)->table, fk.column,
                                    "field '" + target_name + "." + fk.name + "'"));
  }
  ASSIGN_OR_RETURN(Statements create, CreateTableSql(c, *next, conn.dialect()));
  RETURN_IF_ERROR(Run(conn, create));
  RETURN_IF_ERROR(SaveCollectionRow(conn, c, /*insert=*/true));
  RETURN_IF_ERROR(SaveFieldRows(conn, c, CodeFieldNames(code_, c.name)));
  for (const auto& [target_name, fk] : target_columns) {
    const Collection* target = next->Find(target_name);
    ASSIGN_OR_RETURN(Statements add, AddColumnSql(*target, fk, *next, conn.dialect()));
    RETURN_IF_ERROR(Run(conn, add));
    RETURN_IF_ERROR(SaveFieldRows(conn, *target, CodeFieldNames(code_, target_name)));
  }
  RETURN_IF_ERROR(RunIndexChanges(conn, now, *next));
  return next;
}

Result<std::shared_ptr<const Schema>> SchemaStore::UpdateCollection(
    db::Connection& conn, const Schema& now, std::string_view name,
    const json::object& values) const {
  const Collection* c = now.Find(name);
  if (c == nullptr) return NotFound("collection '" + std::string(name) + "' not found");
  if (IsCodeCollection(name)) {
    return FailedPrecondition("collection '" + std::string(name) +
                              "' is defined by a plugin and cannot be changed");
  }
  for (const char* structural :
       {"fields", "autoGenId", "timestamps", "createdAt", "updatedAt", "createdBy", "updatedBy"}) {
    if (values.contains(structural)) {
      return InvalidArgument("collection '" + std::string(name) + "': '" + structural +
                             "' cannot be changed after creation; use the fields API");
    }
  }
  if (auto it = values.find("name");
      it != values.end() && !(it->value().is_string() && it->value().as_string() == name)) {
    return InvalidArgument("collection '" + std::string(name) +
                           "': renaming a collection is not supported");
  }
  Collection next_c = *c;
  for (const auto& kv : values) next_c.options[kv.key()] = kv.value();
  if (auto it = values.find("title"); it != values.end()) {
    if (!it->value().is_string())
      return InvalidArgument("collection '" + std::string(name) + "': 'title' must be a string");
    next_c.title = std::string(it->value().as_string());
  }
  Draft draft(now);
  draft.Put(next_c);
  ASSIGN_OR_RETURN(auto next, draft.Build());
  RETURN_IF_ERROR(RunIndexChanges(conn, now, *next));
  RETURN_IF_ERROR(SaveCollectionRow(conn, next_c, /*insert=*/false));
  return next;
}

Result<std::shared_ptr<const Schema>> SchemaStore::DestroyCollection(db::Connection& conn,
                                                                     const Schema& now,
                                                                     std::string_view name) const {
  const Collection* c = now.Find(name);
  if (c == nullptr) return NotFound("collection '" + std::string(name) + "' not found");
  if (IsCodeCollection(name)) {
    return FailedPrecondition("collection '" + std::string(name) +
                              "' is defined by a plugin and cannot be destroyed");
  }
  if (c->is_through) {
    return FailedPrecondition("collection '" + std::string(name) +
                                  "' is the join table of a many-to-many relation; it goes with "
                                  "the relation's field",
                              "JOIN_TABLE");
  }
  // As NocoBase does, the relation fields of other collections that point at this one go with
  // it, in the same change: a belongsTo with its foreign key column (when the relation made it),
  // a hasMany by its definition only (its key column is on the table dropped below).
  std::shared_ptr<const Schema> without_relations;
  const Schema* current = &now;
  std::vector<std::pair<std::string, std::string>> relations;
  for (const auto& [other, rel] : now.RelationsInvolving(name)) {
    relations.emplace_back(other->name, rel->name);
  }
  // Its own many-to-many relations take their join tables (unless a relation that stays uses
  // them, which cannot be: a relation that uses it points here too and goes first).
  for (const Field& rel : c->fields) {
    if (rel.type == FieldType::kBelongsToMany) relations.emplace_back(c->name, rel.name);
  }
  for (const auto& [other_name, rel_name] : relations) {
    const Field* rel = current->Find(other_name)->FindField(rel_name);
    if (rel == nullptr) continue;
    if (rel->type == FieldType::kBelongsTo || rel->type == FieldType::kBelongsToMany) {
      ASSIGN_OR_RETURN(without_relations, DestroyField(conn, *current, other_name, rel_name));
    } else {
      RETURN_IF_ERROR(EditableField(*current, other_name, rel_name, "removed").status());
      Draft draft(*current);
      RemoveField(*draft.Find(other_name), rel_name);
      ASSIGN_OR_RETURN(without_relations, draft.Build());
      RETURN_IF_ERROR(SaveFieldRows(conn, *without_relations->Find(other_name),
                                    CodeFieldNames(code_, other_name)));
    }
    current = without_relations.get();
  }
  c = current->Find(name);
  Draft draft(*current);
  draft.Erase(name);
  // Foreign key columns this collection's hasMany relations placed on other collections go too.
  std::vector<std::pair<Collection, std::string>> drop_columns;  // (target before, column)
  for (const Field& rel : c->fields) {
    if (!KeyOnTarget(rel.type) || rel.target == name) continue;
    Collection* target = draft.Find(rel.target);
    if (target == nullptr) continue;
    const Field* fk = target->FindField(rel.foreign_key);
    if (fk == nullptr || fk->foreign_key_of != std::string(name) + "." + rel.name) continue;
    drop_columns.emplace_back(*target, rel.foreign_key);
    RemoveField(*target, rel.foreign_key);
  }
  ASSIGN_OR_RETURN(auto next, draft.Build());
  for (const auto& [before, column] : drop_columns) {
    RETURN_IF_ERROR(DeferDrop(conn, before, before.FindField(column)));
    const Collection* after = next->Find(before.name);
    RETURN_IF_ERROR(SaveFieldRows(conn, *after, CodeFieldNames(code_, after->name)));
  }
  RETURN_IF_ERROR(DeferDrop(conn, *c, nullptr));
  RETURN_IF_ERROR(ForgetCollection(conn, name));
  return next;
}

namespace {

// The field a `reverseField` option describes, on the target of `f` (a field of `collection`):
// the same keys seen from the other side, as NocoBase's clients create a relation from both.
Result<json::object> ReverseDefinition(const Field& f, std::string_view collection,
                                       const json::object& given, std::string name) {
  json::object def = given;
  def["name"] = name;
  def["target"] = collection;
  def["onDelete"] = f.on_delete;
  def.erase("reverseField");
  std::string type;
  if (auto it = given.find("type"); it != given.end() && it->value().is_string()) {
    type = std::string(it->value().as_string());
  }
  std::string what = "field '" + std::string(collection) + "." + f.name + "': reverseField";
  switch (f.type) {
    case FieldType::kBelongsTo:
      if (type.empty()) type = "hasMany";
      if (type != "hasMany" && type != "hasOne")
        return InvalidArgument(what + " of a belongsTo is a hasMany or a hasOne, not '" + type +
                               "'");
      def["foreignKey"] = f.foreign_key;
      def["sourceKey"] = f.target_key;
      break;
    case FieldType::kHasMany:
    case FieldType::kHasOne:
      if (type.empty()) type = "belongsTo";
      if (type != "belongsTo")
        return InvalidArgument(what + " of a " + std::string(FieldTypeName(f.type)) +
                               " is a belongsTo, not '" + type + "'");
      def["foreignKey"] = f.foreign_key;
      def["targetKey"] = f.source_key;
      def.erase("onDelete");
      break;
    case FieldType::kBelongsToMany:
      if (type.empty()) type = "belongsToMany";
      if (type != "belongsToMany")
        return InvalidArgument(what + " of a belongsToMany is a belongsToMany, not '" + type + "'");
      def["through"] = f.through;
      def["foreignKey"] = f.other_key;
      def["otherKey"] = f.foreign_key;
      def["sourceKey"] = f.target_key;
      def["targetKey"] = f.source_key;
      break;
    default:
      return InvalidArgument(what + ": the field is not a relation");
  }
  def["type"] = type;
  def["reverseKey"] = std::string(collection) + "." + f.name;
  return def;
}

// Whether `column` of `c` carries the foreign key of a hasMany or hasOne (of `target`) that a
// belongsTo from `c` to `target` with this key and target key would mirror.
bool MirrorsRelation(const Schema& schema, const Field& column, std::string_view target,
                     std::string_view target_key) {
  size_t dot = column.foreign_key_of.find('.');
  if (dot == std::string::npos || column.foreign_key_of.substr(0, dot) != target) return false;
  const Collection* owner = schema.Find(target);
  const Field* rel = owner ? owner->FindField(column.foreign_key_of.substr(dot + 1)) : nullptr;
  return rel != nullptr && KeyOnTarget(rel->type) && rel->foreign_key == column.name &&
         rel->source_key == target_key;
}

// A new join table for belongsToMany `f` of `source`.
Collection JoinCollection(const Field& f, const Collection& source, const Field& source_key,
                          const Field& target_key) {
  Collection through;
  through.name = f.through;
  through.table = f.through;
  through.title = f.through;
  through.is_through = true;
  through.timestamps = true;
  through.created_by = false;
  through.primary_key = "";
  // As NocoBase marks the join collections it makes: hidden from its collection manager.
  through.options = json::object{
      {"isThrough", true}, {"autoCreate", true}, {"hidden", true}, {"autoGenId", false}};
  std::string mark = source.name + "." + f.name;
  Field fk = ForeignKeyColumn(f.foreign_key, source_key, mark);
  fk.allow_null = false;
  Field ok = ForeignKeyColumn(f.other_key, target_key, mark);
  ok.allow_null = false;
  through.fields.push_back(std::move(fk));
  through.fields.push_back(std::move(ok));
  for (const char* name : {"createdAt", "updatedAt"}) {
    Field t;
    t.name = name;
    t.column = name;
    t.type = FieldType::kDate;
    t.system = true;
    t.interface = name;
    through.fields.push_back(std::move(t));
  }
  return through;
}

}  // namespace

Result<std::shared_ptr<const Schema>> SchemaStore::CreateField(db::Connection& conn,
                                                               const Schema& now,
                                                               std::string_view collection,
                                                               const json::object& given) const {
  const Collection* c = now.Find(collection);
  if (c == nullptr) return NotFound("collection '" + std::string(collection) + "' not found");
  // reverseField: the relation's mirror on its target, made in the same change.
  json::object def = given;
  std::optional<json::object> reverse_given;
  std::string reverse_name;
  if (auto it = given.find("reverseField"); it != given.end() && !it->value().is_null()) {
    if (!it->value().is_object()) {
      return InvalidArgument("field '" + std::string(collection) +
                             "': 'reverseField' must be an object");
    }
    reverse_given = it->value().as_object();
    if (auto n = reverse_given->find("name"); n != reverse_given->end() && n->value().is_string()) {
      reverse_name = std::string(n->value().as_string());
    } else {
      // NocoBase names a field its client did not name "f_" and a random suffix.
      reverse_name = "f_" + core::NewUuidV4().substr(0, 8);
    }
    def.erase("reverseField");
  }
  ASSIGN_OR_RETURN(Field f, ParseFieldDefinition(def, collection));
  std::string what = "field '" + std::string(collection) + "." + f.name + "'";
  if (reverse_given) {
    if (!IsRelation(f.type)) return InvalidArgument(what + ": only a relation has a reverseField");
    f.options["reverseKey"] = f.target + "." + reverse_name;
  }
  if (c->FindField(f.name)) return AlreadyExists(what + " already exists", "FIELD_EXISTS");
  if (f.primary_key)
    return InvalidArgument(what +
                           ": a primary key can only be defined when the collection is created");

  Draft draft(now);
  Collection* self = draft.Find(collection);
  std::vector<std::pair<std::string, Field>> new_columns;  // (collection, column field)
  std::optional<Collection> new_through;
  if (IsRelation(f.type) && f.target != c->name && now.Find(f.target) == nullptr) {
    return InvalidArgument(what + ": target collection '" + f.target + "' does not exist");
  }
  if (f.type == FieldType::kBelongsTo) {
    const Collection* target = f.target == c->name ? c : now.Find(f.target);
    const Field* key = target->FindField(f.target_key);
    if (key == nullptr || !key->has_column()) {
      return InvalidArgument(what + ": target key '" + f.target + "." + f.target_key +
                             "' does not exist");
    }
    if (Field* existing = FindMutable(*self, f.foreign_key)) {
      if (!existing->has_column())
        return InvalidArgument(what + ": foreign key '" + f.foreign_key + "' is a relation");
      if (!existing->foreign_key_of.empty() &&
          !MirrorsRelation(now, *existing, f.target, f.target_key)) {
        return InvalidArgument(what + ": column '" + f.foreign_key +
                               "' is already the foreign key of '" + existing->foreign_key_of +
                               "'");
      }
      if (!HoldsKeysOf(existing->type, key->type)) {
        return InvalidArgument(what + ": the existing field '" + std::string(collection) + "." +
                               existing->name + "' is of type " +
                               std::string(FieldTypeName(existing->type)) +
                               " and cannot hold the keys of '" + f.target + "." + key->name +
                               "' (" + std::string(FieldTypeName(key->type)) + ")");
      }
      // The field was there before the relation and stays after it: it is not marked as the
      // relation's own column, which the relation's removal would drop with its data.
    } else {
      Field fk = ForeignKeyColumn(f.foreign_key, *key, f.name);
      new_columns.emplace_back(self->name, fk);
    }
  } else if (KeyOnTarget(f.type)) {
    const Field* source_key = c->FindField(f.source_key);
    if (source_key == nullptr || !source_key->has_column()) {
      return InvalidArgument(what + ": source key '" + std::string(collection) + "." +
                             f.source_key + "' does not exist");
    }
    Collection* target = draft.Find(f.target);
    if (const Field* existing = target->FindField(f.foreign_key)) {
      if (!existing->has_column())
        return InvalidArgument(what + ": foreign key '" + f.foreign_key + "' is a relation");
    } else {
      new_columns.emplace_back(
          target->name,
          ForeignKeyColumn(f.foreign_key, *source_key, std::string(collection) + "." + f.name));
    }
  } else if (f.type == FieldType::kBelongsToMany) {
    const Field* source_key = c->FindField(f.source_key);
    if (source_key == nullptr || !source_key->has_column()) {
      return InvalidArgument(what + ": source key '" + std::string(collection) + "." +
                             f.source_key + "' does not exist");
    }
    const Collection* target = f.target == c->name ? c : now.Find(f.target);
    const Field* target_key = target->FindField(f.target_key);
    if (target_key == nullptr || !target_key->has_column()) {
      return InvalidArgument(what + ": target key '" + f.target + "." + f.target_key +
                             "' does not exist");
    }
    if (const Collection* existing = now.Find(f.through)) {
      // Only the reverse of a relation may share its join table: the same keys, swapped.
      bool mirrors = false;
      for (const auto& [owner, other] : now.collections()) {
        for (const Field& r : other->fields) {
          mirrors = mirrors || (r.type == FieldType::kBelongsToMany && r.through == f.through &&
                                owner == f.target && r.target == collection &&
                                r.foreign_key == f.other_key && r.other_key == f.foreign_key &&
                                r.source_key == f.target_key && r.target_key == f.source_key);
        }
      }
      if (!existing->is_through) {
        return AlreadyExists(what + ": its join collection '" + f.through +
                                 "' clashes with the existing collection '" + existing->name +
                                 "'; name another one with 'through'",
                             "COLLECTION_EXISTS");
      }
      if (!mirrors) {
        return AlreadyExists(what + ": the join collection '" + f.through +
                                 "' belongs to another relation; name another one with 'through'",
                             "COLLECTION_EXISTS");
      }
    } else {
      RETURN_IF_ERROR(
          CheckCollectionName(conn, now, f.through).WithContext(what + ": join collection"));
      new_through = JoinCollection(f, *c, *source_key, *target_key);
    }
  } else {
    new_columns.emplace_back(self->name, f);
  }
  // A renamed field keeps its column: a new field named like its old name gets another column.
  for (auto& [owner, column] : new_columns) {
    const Collection* in = draft.Find(owner);
    auto taken = [&](const std::string& name) {
      for (const Field& other : in->fields) {
        if (other.has_column() && EqualsIgnoringCase(other.column, name)) return true;
      }
      return false;
    };
    for (int n = 2; taken(column.column); ++n)
      column.column = column.name + "_" + std::to_string(n);
  }
  // Add the relation (or scalar) itself, and the new columns to their collections.
  if (IsRelation(f.type)) self->fields.push_back(f);
  for (const auto& [owner, column] : new_columns) draft.Find(owner)->fields.push_back(column);
  if (new_through) draft.Put(*new_through);
  ASSIGN_OR_RETURN(auto next, draft.Build());
  std::set<std::string> touched = {std::string(collection)};
  if (new_through) {
    const Collection& through = *next->Find(f.through);
    RETURN_IF_ERROR(
        NotBeingRemoved(conn, through.table, "", "join collection '" + f.through + "'"));
    ASSIGN_OR_RETURN(Statements create, CreateTableSql(through, *next, conn.dialect()));
    RETURN_IF_ERROR(Run(conn, create).WithContext(what));
    RETURN_IF_ERROR(SaveCollectionRow(conn, through, /*insert=*/true));
    touched.insert(through.name);
  }
  for (const auto& [owner, column] : new_columns) {
    RETURN_IF_ERROR(NotBeingRemoved(conn, next->Find(owner)->table, column.column,
                                    "field '" + owner + "." + column.name + "'"));
    ASSIGN_OR_RETURN(Statements add,
                     AddColumnSql(*next->Find(owner), column, *next, conn.dialect()));
    RETURN_IF_ERROR(Run(conn, add).WithContext(what));
    touched.insert(owner);
  }
  RETURN_IF_ERROR(RunIndexChanges(conn, now, *next));
  for (const std::string& name : touched) {
    RETURN_IF_ERROR(SaveFieldRows(conn, *next->Find(name), CodeFieldNames(code_, name)));
  }
  if (!reverse_given) return next;
  ASSIGN_OR_RETURN(json::object reverse,
                   ReverseDefinition(f, collection, *reverse_given, reverse_name));
  return CreateField(conn, *next, f.target, reverse);
}

Result<SchemaStore::FieldTarget> SchemaStore::EditableField(const Schema& now,
                                                            std::string_view collection,
                                                            std::string_view field,
                                                            std::string_view verb) const {
  const Collection* c = now.Find(collection);
  if (c == nullptr) return NotFound("collection '" + std::string(collection) + "' not found");
  const Field* f = c->FindField(field);
  std::string what = "field '" + std::string(collection) + "." + std::string(field) + "'";
  if (f == nullptr) return NotFound(what + " not found");
  if (CodeFieldNames(code_, collection).count(f->name)) {
    return FailedPrecondition(what + " is defined by a plugin and cannot be " + std::string(verb));
  }
  return FieldTarget{c, f, std::move(what)};
}

Result<std::shared_ptr<const Schema>> SchemaStore::UpdateField(db::Connection& conn,
                                                               const Schema& now,
                                                               std::string_view collection,
                                                               std::string_view field,
                                                               const json::object& values) const {
  ASSIGN_OR_RETURN(FieldTarget found, EditableField(now, collection, field, "changed"));
  const Collection* c = found.collection;
  const Field* f = found.field;
  const std::string& what = found.what;
  for (const char* structural :
       {"type", "primaryKey", "autoIncrement", "allowNull", "target", "foreignKey", "targetKey",
        "sourceKey", "otherKey", "through", "length", "precision", "scale"}) {
    auto it = values.find(structural);
    if (it == values.end()) continue;
    auto current = FieldToJson(*f, collection);
    auto cur = current.find(structural);
    if (cur != current.end() && cur->value() == it->value()) continue;  // unchanged
    return InvalidArgument(what + ": changing '" + structural +
                           "' is not supported; create a new field and copy the data");
  }
  Draft draft(now);
  Collection* self = draft.Find(collection);
  Field* target = FindMutable(*self, field);
  std::string new_name = target->name;
  if (auto it = values.find("name"); it != values.end()) {
    if (!it->value().is_string()) return InvalidArgument(what + ": 'name' must be a string");
    new_name = std::string(it->value().as_string());
  }
  if (new_name != target->name) {
    RETURN_IF_ERROR(ValidateIdentifier("field", new_name));
    if (c->FindField(new_name))
      return AlreadyExists("field '" + std::string(collection) + "." + new_name +
                           "' already exists");
    std::vector<std::string> users = RelationsUsing(now, *c, *f);
    if (!users.empty()) {
      return FailedPrecondition(
          what + " is used by relation " + JoinNames(users) + "; it cannot be renamed",
          "FIELD_IN_USE");
    }
    if (IsRelation(f->type) || f->primary_key || f->system) {
      return FailedPrecondition(what + ": renaming " +
                                std::string(IsRelation(f->type) ? "a relation"
                                            : f->primary_key    ? "the primary key"
                                                                : "a system field") +
                                " is not supported");
    }
    // Only the name changes: the column keeps its name, so requests still holding the previous
    // schema (which name the column) go on working on every node.
    target->name = new_name;
  }
  // An index gained or lost (RunIndexChanges makes the difference).
  for (auto [key, flag] : {std::pair<const char*, bool*>{"unique", &target->unique},
                           std::pair<const char*, bool*>{"index", &target->index}}) {
    auto it = values.find(key);
    if (it == values.end()) continue;
    if (!it->value().is_bool())
      return InvalidArgument(what + ": '" + key + "' must be true or false");
    if (it->value().as_bool() == *flag) continue;
    if (!f->has_column()) return InvalidArgument(what + ": a relation takes no '" + key + "'");
    if (f->primary_key) return InvalidArgument(what + ": the primary key is indexed already");
    *flag = it->value().as_bool();
    target->options.erase(key);  // the definition as given at creation no longer says it
  }
  if (auto it = values.find("defaultValue"); it != values.end()) {
    if (it->value().is_null()) {
      target->default_value.reset();
    } else {
      target->default_value = it->value();
    }
  }
  if (auto it = values.find("interface"); it != values.end() && it->value().is_string()) {
    target->interface = std::string(it->value().as_string());
  }
  for (const auto& kv : values) {
    if (kv.key() == "name" || kv.key() == "unique" || kv.key() == "index" ||
        kv.key() == "collectionName") {
      continue;
    }
    target->options[kv.key()] = kv.value();
  }
  target->options["name"] = target->name;
  ASSIGN_OR_RETURN(auto next, draft.Build());
  RETURN_IF_ERROR(RunIndexChanges(conn, now, *next).WithContext(what));
  RETURN_IF_ERROR(SaveFieldRows(conn, *next->Find(collection), CodeFieldNames(code_, collection)));
  return next;
}

Result<std::shared_ptr<const Schema>> SchemaStore::DestroyField(db::Connection& conn,
                                                                const Schema& now,
                                                                std::string_view collection,
                                                                std::string_view field) const {
  ASSIGN_OR_RETURN(FieldTarget found, EditableField(now, collection, field, "removed"));
  const Collection* c = found.collection;
  const Field* f = found.field;
  const std::string& what = found.what;
  if (f->primary_key) return FailedPrecondition(what + " is the primary key and cannot be removed");
  if (f->has_column()) {
    std::vector<std::string> users = RelationsUsing(now, *c, *f);
    if (!users.empty()) {
      return FailedPrecondition(what + " is used by relation " + JoinNames(users) + "; remove " +
                                    (users.size() > 1 ? "those relations" : "that relation") +
                                    " first",
                                "FIELD_IN_USE");
    }
  }
  Draft draft(now);
  // (collection before the change, the column to drop)
  std::vector<std::pair<Collection, std::string>> drops;
  Collection* self = draft.Find(collection);
  std::optional<Collection> drop_through;  // a join table no relation uses any more
  std::set<std::string> touched = {std::string(collection)};
  if (f->has_column()) {
    drops.emplace_back(*c, f->name);
    RemoveField(*self, f->name);
  } else if (f->type == FieldType::kBelongsToMany) {
    RemoveField(*self, f->name);
    // The join table goes with the last relation that uses it (the reverse may remain).
    std::string other_user;
    for (const auto& [owner, other] : now.collections()) {
      for (const Field& r : other->fields) {
        if (r.type == FieldType::kBelongsToMany && r.through == f->through &&
            !(owner == collection && r.name == f->name)) {
          other_user = owner + "." + r.name;
        }
      }
    }
    if (other_user.empty()) {
      if (const Collection* through = now.Find(f->through)) drop_through = *through;
      draft.Erase(f->through);
    } else if (Collection* through = draft.Find(f->through)) {
      for (Field& k : through->fields) {
        if (k.foreign_key_of == std::string(collection) + "." + f->name)
          k.foreign_key_of = other_user;
      }
      touched.insert(f->through);
    }
  } else {
    RemoveField(*self, f->name);
    // The relation's foreign key column goes with it unless another relation still uses it.
    std::string owner_name = f->type == FieldType::kBelongsTo ? std::string(collection) : f->target;
    Collection* owner = draft.Find(owner_name);
    const Field* fk = owner ? owner->FindField(f->foreign_key) : nullptr;
    std::string mark =
        f->type == FieldType::kBelongsTo ? f->name : std::string(collection) + "." + f->name;
    if (fk != nullptr && fk->foreign_key_of == mark) {
      std::vector<std::string> users = RelationsUsing(now, *now.Find(owner_name), *fk);
      users.erase(std::remove(users.begin(), users.end(), std::string(collection) + "." + f->name),
                  users.end());
      if (users.empty()) {
        drops.emplace_back(*now.Find(owner_name), fk->name);
        RemoveField(*owner, fk->name);
      } else {
        FindMutable(*owner, fk->name)->foreign_key_of.clear();
      }
    }
  }
  ASSIGN_OR_RETURN(auto next, draft.Build());
  for (const auto& [before, column] : drops) {
    RETURN_IF_ERROR(DeferDrop(conn, before, before.FindField(column)).WithContext(what));
    touched.insert(before.name);
  }
  if (drop_through) {
    RETURN_IF_ERROR(DeferDrop(conn, *drop_through, nullptr).WithContext(what));
    RETURN_IF_ERROR(ForgetCollection(conn, drop_through->name));
  }
  for (const std::string& name : touched) {
    RETURN_IF_ERROR(SaveFieldRows(conn, *next->Find(name), CodeFieldNames(code_, name)));
  }
  return next;
}

Result<int> SchemaStore::FinishRemovals(db::Connection& conn, const Schema& now,
                                        int64_t up_to_epoch) const {
  // A drop waits for the requests using the table, and on PostgreSQL every new request would
  // queue behind the waiting drop: give up soon instead (the drop is tried again later).
  if (conn.dialect() == db::Dialect::kPostgres) {
    RETURN_IF_ERROR(conn.Exec("SET LOCAL lock_timeout = '2s'"));
  }
  // Columns first: on SQLite a foreign key column must go before the table it points at.
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT table_name, column_name, statements, rebuild FROM " +
                                           kPendingDrops +
                                           " WHERE epoch <= $1 ORDER BY CASE WHEN column_name = "
                                           "'' THEN 1 ELSE 0 END, epoch",
                                       {up_to_epoch}));
  int done = 0;
  for (int r = 0; r < rs->row_count(); ++r) {
    std::string table(rs->Text(r, 0)), column(rs->Text(r, 1));
    const Collection* user = nullptr;  // the collection that has this table now, if any
    for (const auto& [name, c] : now.collections()) {
      if (c->table == table) user = c.get();
    }
    ASSIGN_OR_RETURN(bool exists, db::TableExists(conn, table));
    bool drop = exists;
    if (column.empty()) {
      drop = drop && user == nullptr;
    } else if (drop) {
      ASSIGN_OR_RETURN(auto columns, db::ListColumns(conn, table));
      drop = std::find(columns.begin(), columns.end(), column) != columns.end();
      if (user != nullptr) {
        for (const Field* f : user->ColumnFields()) drop = drop && f->column != column;
      }
    }
    if (drop && !column.empty() && rs->Bool(r, 3)) {
      // SQLite drops a foreign key column by rebuilding the table from what the Schema says now.
      if (user == nullptr) {
        drop = false;  // its table is being removed too
      } else {
        ASSIGN_OR_RETURN(Statements rebuild, RebuildTableSql(*user, *user, now));
        RETURN_IF_ERROR(Run(conn, rebuild).WithContext("dropping " + table + "." + column));
        drop = false;
      }
    }
    if (drop) {
      ASSIGN_OR_RETURN(
          json::object wrapper,
          ParseObject("{\"s\":" + std::string(rs->Text(r, 2)) + "}", "a pending drop"));
      const json::value& list = wrapper.at("s");
      if (!list.is_array()) return Internal("pending drop of " + table + " has no statements");
      for (const json::value& sql : list.as_array()) {
        if (!sql.is_string()) return Internal("pending drop of " + table + " is malformed");
        RETURN_IF_ERROR(
            conn.ExecScript(std::string(sql.as_string()))
                .WithContext("dropping " + table + (column.empty() ? "" : "." + column)));
      }
    }
    RETURN_IF_ERROR(
        conn.Exec("DELETE FROM " + kPendingDrops + " WHERE table_name = $1 AND column_name = $2",
                  {table, column}));
    ++done;
  }
  return done;
}

Result<std::shared_ptr<const Schema>> SchemaStore::ReplaceAll(db::Connection& conn,
                                                              const Schema& now,
                                                              const json::object& dump) const {
  const std::string collections(db::kCollectionsTable), fields(db::kFieldsTable);
  // What goes: API collections' tables, and the columns of fields added to plugins' collections,
  // through the same pending drops as any removal (skipping what is already waiting there).
  ASSIGN_OR_RETURN(auto extra, conn.Query("SELECT collection_name, name FROM " + fields));
  for (const auto& [name, c] : now.collections()) {
    if (IsCodeCollection(name)) {
      for (int r = 0; r < extra->row_count(); ++r) {
        if (extra->Text(r, 0) != name) continue;
        const Field* f = c->FindField(extra->Text(r, 1));
        if (f == nullptr || !f->has_column()) continue;
        if (!NotBeingRemoved(conn, c->table, f->column, "").ok()) continue;
        RETURN_IF_ERROR(DeferDrop(conn, *c, f));
      }
    } else if (NotBeingRemoved(conn, c->table, "", "").ok()) {
      RETURN_IF_ERROR(DeferDrop(conn, *c, nullptr));
    }
  }
  RETURN_IF_ERROR(conn.Exec("DELETE FROM " + fields));
  RETURN_IF_ERROR(conn.Exec("DELETE FROM " + collections));
  ASSIGN_OR_RETURN(std::shared_ptr<const Schema> base, Load(conn));
  RETURN_IF_ERROR(FinishRemovals(conn, *base, std::numeric_limits<int64_t>::max())
                      .status()
                      .WithContext("dropping the tables the restore replaces"));
  if (conn.dialect() == db::Dialect::kPostgres) {
    RETURN_IF_ERROR(conn.Exec("SET LOCAL lock_timeout = 0"));
  }

  // What comes: the dump's definitions, verbatim.
  auto objects = [&](std::string_view key) -> Result<std::vector<const json::object*>> {
    std::vector<const json::object*> out;
    const json::value* list = dump.if_contains(key);
    if (list == nullptr) return out;
    if (!list->is_array())
      return InvalidArgument("schema.json: '" + std::string(key) + "' is not a list");
    for (const json::value& v : list->as_array()) {
      if (!v.is_object())
        return InvalidArgument("schema.json: an entry of '" + std::string(key) +
                               "' is not an object");
      out.push_back(&v.as_object());
    }
    return out;
  };
  auto text = [](const json::object& o, std::string_view key) -> Result<std::string> {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string() || v->as_string().empty()) {
      return InvalidArgument("schema.json: an entry lacks its '" + std::string(key) + "'");
    }
    return std::string(v->as_string());
  };
  auto insert_fields = [&](const std::string& collection, const json::value* list) -> Status {
    if (list == nullptr) return Status::Ok();
    if (!list->is_array())
      return InvalidArgument("schema.json: the fields of '" + collection + "' are not a list");
    int64_t sort = 0;
    for (const json::value& v : list->as_array()) {
      if (!v.is_object())
        return InvalidArgument("schema.json: a field of '" + collection + "' is not an object");
      const json::object& f = v.as_object();
      ASSIGN_OR_RETURN(std::string name, text(f, "name"));
      const json::value* options = f.if_contains("options");
      if (options == nullptr || !options->is_object()) {
        return InvalidArgument("schema.json: field '" + collection + "." + name +
                               "' has no options");
      }
      ++sort;
      const json::value* s = f.if_contains("sort");
      RETURN_IF_ERROR(
          conn.Exec("INSERT INTO " + fields +
                        " (collection_name, name, options, sort) VALUES ($1, $2, $3, $4)",
                    {collection, name, json::serialize(*options),
                     s != nullptr && s->is_int64() ? s->as_int64() : sort}));
    }
    return Status::Ok();
  };
  ASSIGN_OR_RETURN(auto defs, objects("collections"));
  int64_t sort = 0;
  for (const json::object* c : defs) {
    ASSIGN_OR_RETURN(std::string name, text(*c, "name"));
    if (IsCodeCollection(name)) {
      return InvalidArgument("schema.json: collection '" + name + "' is a plugin's here");
    }
    const json::value* options = c->if_contains("options");
    if (options == nullptr || !options->is_object()) {
      return InvalidArgument("schema.json: collection '" + name + "' has no options");
    }
    RETURN_IF_ERROR(
        conn.Exec("INSERT INTO " + collections + " (name, options, sort) VALUES ($1, $2, $3)",
                  {name, json::serialize(*options), ++sort}));
    RETURN_IF_ERROR(insert_fields(name, c->if_contains("fields")));
  }
  ASSIGN_OR_RETURN(auto plugin_fields, objects("pluginFields"));
  for (const json::object* p : plugin_fields) {
    ASSIGN_OR_RETURN(std::string name, text(*p, "collection"));
    if (!IsCodeCollection(name)) {
      return InvalidArgument("schema.json: fields are added to '" + name +
                             "', which no plugin of this application defines");
    }
    RETURN_IF_ERROR(insert_fields(name, p->if_contains("fields")));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Schema> next, Load(conn));

  // Their tables, each after the tables it points at (a reference to itself is fine).
  for (const auto& [name, c] : next->collections()) {
    if (IsCodeCollection(name)) {
      RETURN_IF_ERROR(SyncTable(conn, *c, *next).WithContext("collection '" + name + "'"));
    }
  }
  RETURN_IF_ERROR(CreateUserTables(conn, *next).status());
  return next;
}

Result<std::vector<std::string>> SchemaStore::CreateUserTables(db::Connection& conn,
                                                               const Schema& schema) const {
  std::vector<const Collection*> pending;
  std::set<std::string> made;
  std::vector<std::string> tables;
  for (const auto& [name, c] : schema.collections()) {
    if (IsCodeCollection(name)) {
      made.insert(c->table);
    } else {
      pending.push_back(c.get());
      tables.push_back(c->table);
    }
  }
  RETURN_IF_ERROR(CreateTablesParentsFirst(conn, schema, std::move(pending), std::move(made)));
  return tables;
}

std::string_view SchemaChangeKindName(SchemaChange::Kind kind) {
  switch (kind) {
    case SchemaChange::Kind::kAddCollection:
      return "addCollection";
    case SchemaChange::Kind::kDropCollection:
      return "dropCollection";
    case SchemaChange::Kind::kAlterCollection:
      return "alterCollection";
    case SchemaChange::Kind::kAddField:
      return "addField";
    case SchemaChange::Kind::kDropField:
      return "dropField";
    case SchemaChange::Kind::kAlterField:
      return "alterField";
  }
  return "";
}

namespace {

// What a field's definition says about its column or its relation's keys: a difference here is
// not a change of definitions but of data, which a migration does not make.
constexpr const char* kStructuralKeys[] = {
    "type",      "primaryKey", "autoIncrement", "allowNull",  "length",
    "precision", "scale",      "target",        "foreignKey", "targetKey",
    "sourceKey", "otherKey",   "through",       "onDelete",   kStoredForeignKeyOf};

// The keys in which two stored definitions differ (either side's), sorted.
std::vector<std::string> DifferingKeys(const json::object& a, const json::object& b) {
  std::set<std::string> keys;
  for (const auto& kv : a) {
    const json::value* other = b.if_contains(kv.key());
    if (other == nullptr || *other != kv.value()) keys.insert(std::string(kv.key()));
  }
  for (const auto& kv : b) {
    if (!a.contains(kv.key())) keys.insert(std::string(kv.key()));
  }
  return {keys.begin(), keys.end()};
}

std::string ValueText(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return "(none)";
  return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
}

// The fields of `c` a migration compares: all of a collection made through the API, only those
// added through the API to a plugin's.
std::vector<const Field*> SyncedFields(const Collection& c, const std::set<std::string>& code) {
  std::vector<const Field*> out;
  for (const Field& f : c.fields) {
    if (!code.count(f.name)) out.push_back(&f);
  }
  return out;
}

void CompareFields(const Collection* now, const Collection& next, const std::set<std::string>& code,
                   SchemaSyncPlan* plan) {
  using Kind = SchemaChange::Kind;
  std::vector<const Field*> before = now ? SyncedFields(*now, code) : std::vector<const Field*>{};
  std::set<const Field*> matched;
  for (const Field* f : SyncedFields(next, code)) {
    SchemaChange change;
    change.collection = next.name;
    change.field = f->name;
    change.type = std::string(FieldTypeName(f->type));
    if (IsRelation(f->type)) change.target = f->target;
    const Field* old = nullptr;
    for (const Field* b : before) {
      if (matched.count(b)) continue;
      if (f->has_column() ? (b->has_column() && EqualsIgnoringCase(b->column, f->column))
                          : (!b->has_column() && b->name == f->name)) {
        old = b;
        break;
      }
    }
    if (old == nullptr) {
      change.kind = Kind::kAddField;
      if (now != nullptr) plan->changes.push_back(std::move(change));
      continue;
    }
    matched.insert(old);
    json::object a = StoredField(*old, next.name), b = StoredField(*f, next.name);
    std::vector<std::string> differ = DifferingKeys(a, b);
    if (differ.empty()) continue;
    // One refusal per field: its type when that changes, else every structural key that does.
    std::string changes;
    for (const char* key : kStructuralKeys) {
      if (!std::binary_search(differ.begin(), differ.end(), std::string(key))) continue;
      if (std::string_view(key) != "type" && a.if_contains("type") != nullptr &&
          b.if_contains("type") != nullptr && a.at("type") != b.at("type")) {
        continue;
      }
      changes += std::string(changes.empty() ? "" : ", ") + "its '" + key + "' from " +
                 ValueText(a, key) + " to " + ValueText(b, key);
    }
    if (!changes.empty()) {
      plan->refusals.push_back("field '" + next.name + "." + f->name + "' would change " + changes +
                               ": a migration changes definitions, not the data in a column; "
                               "add a new field and move the values instead");
      continue;
    }
    change.kind = Kind::kAlterField;
    if (old->name != f->name) change.previous_name = old->name;
    change.index_changed = old->unique != f->unique || old->index != f->index;
    change.changed = std::move(differ);
    plan->changes.push_back(std::move(change));
  }
  for (const Field* b : before) {
    if (matched.count(b)) continue;
    SchemaChange change;
    change.kind = Kind::kDropField;
    change.collection = now->name;
    change.field = b->name;
    change.type = std::string(FieldTypeName(b->type));
    if (IsRelation(b->type)) change.target = b->target;
    if (b->has_column()) change.column = b->column;
    if (b->primary_key) {
      plan->refusals.push_back("field '" + now->name + "." + b->name +
                               "' is the primary key and cannot be removed");
      continue;
    }
    plan->changes.push_back(std::move(change));
  }
}

}  // namespace

SchemaSyncPlan SchemaStore::PlanSync(const Schema& now, const Schema& next) const {
  using Kind = SchemaChange::Kind;
  SchemaSyncPlan plan;
  for (const auto& [name, c] : now.collections()) {
    if (IsCodeCollection(name) || next.Find(name) != nullptr) continue;
    SchemaChange change;
    change.kind = Kind::kDropCollection;
    change.collection = name;
    change.column = c->table;
    plan.changes.push_back(std::move(change));
  }
  for (const auto& [name, c] : next.collections()) {
    const Collection* old = now.Find(name);
    const std::set<std::string> code = CodeFieldNames(code_, name);
    if (IsCodeCollection(name)) {
      if (old != nullptr) CompareFields(old, *c, code, &plan);
      continue;
    }
    if (old == nullptr) {
      SchemaChange change;
      change.kind = Kind::kAddCollection;
      change.collection = name;
      for (const Field& f : c->fields) change.changed.push_back(f.name);
      plan.changes.push_back(std::move(change));
      continue;
    }
    if (old->origin != "user") {
      plan.refusals.push_back("collection '" + name + "' is a plugin's here");
      continue;
    }
    json::object a = old->options, b = c->options;
    a["title"] = old->title;
    b["title"] = c->title;
    a["primaryKey"] = old->primary_key;
    b["primaryKey"] = c->primary_key;
    std::vector<std::string> differ = DifferingKeys(a, b);
    if (old->primary_key != c->primary_key || old->is_through != c->is_through) {
      plan.refusals.push_back("collection '" + name +
                              "' would change its primary key or kind; a migration does not "
                              "rebuild a table");
      continue;
    }
    if (!differ.empty()) {
      SchemaChange change;
      change.kind = Kind::kAlterCollection;
      change.collection = name;
      change.changed = std::move(differ);
      plan.changes.push_back(std::move(change));
    }
    CompareFields(old, *c, code, &plan);
  }
  return plan;
}

Result<SchemaStore::SyncResult> SchemaStore::Sync(db::Connection& conn, const Schema& now,
                                                  const Schema& next) const {
  using Kind = SchemaChange::Kind;
  SchemaSyncPlan plan = PlanSync(now, next);
  if (!plan.refusals.empty()) {
    return FailedPrecondition(plan.refusals.front(), "SCHEMA_CHANGE_REFUSED");
  }
  SyncResult result;
  std::set<std::string> rewritten;  // collections whose stored definitions change
  // Removals first, through the pending drops: requests holding `now` keep their columns.
  for (const SchemaChange& c : plan.changes) {
    if (c.kind == Kind::kDropCollection) {
      const Collection* old = now.Find(c.collection);
      if (NotBeingRemoved(conn, old->table, "", "").ok()) {
        RETURN_IF_ERROR(DeferDrop(conn, *old, nullptr));
      }
      RETURN_IF_ERROR(ForgetCollection(conn, c.collection));
      result.removals = true;
    } else if (c.kind == Kind::kDropField) {
      const Collection* old = now.Find(c.collection);
      const Field* f = old->FindField(c.field);
      if (f->has_column() && next.Find(c.collection) != nullptr) {
        RETURN_IF_ERROR(DeferDrop(conn, *old, f));
        result.removals = true;
      }
      rewritten.insert(c.collection);
    }
  }
  // New tables, parents first; then new columns, and unique indexes gained or lost.
  std::vector<const Collection*> tables;
  std::set<std::string> existing;
  for (const SchemaChange& c : plan.changes) {
    if (c.kind == Kind::kAddCollection) {
      const Collection* made = next.Find(c.collection);
      RETURN_IF_ERROR(NotBeingRemoved(conn, made->table, "", "collection '" + c.collection + "'"));
      tables.push_back(made);
      rewritten.insert(c.collection);
    }
  }
  for (const auto& [name, c] : now.collections()) existing.insert(c->table);
  RETURN_IF_ERROR(CreateTablesParentsFirst(conn, next, tables, existing));
  for (const SchemaChange& c : plan.changes) {
    const Collection* in = next.Find(c.collection);
    if (c.kind == Kind::kAddField) {
      const Field* f = in->FindField(c.field);
      rewritten.insert(c.collection);
      if (!f->has_column()) continue;
      RETURN_IF_ERROR(NotBeingRemoved(conn, in->table, f->column,
                                      "field '" + c.collection + "." + c.field + "'"));
      ASSIGN_OR_RETURN(Statements add, AddColumnSql(*in, *f, next, conn.dialect()));
      RETURN_IF_ERROR(Run(conn, add).WithContext("field '" + c.collection + "." + c.field + "'"));
    } else if (c.kind == Kind::kAlterField) {
      rewritten.insert(c.collection);
    } else if (c.kind == Kind::kAlterCollection) {
      RETURN_IF_ERROR(SaveCollectionRow(conn, *in, /*insert=*/false));
    }
  }
  RETURN_IF_ERROR(RunIndexChanges(conn, now, next));
  // The stored definitions of what changed, as `next` has them.
  for (const std::string& name : rewritten) {
    const Collection* c = next.Find(name);
    if (c == nullptr) continue;
    if (!IsCodeCollection(name) && now.Find(name) == nullptr) {
      RETURN_IF_ERROR(SaveCollectionRow(conn, *c, /*insert=*/true));
    }
    RETURN_IF_ERROR(SaveFieldRows(conn, *c, CodeFieldNames(code_, name)));
  }
  ASSIGN_OR_RETURN(result.schema, Load(conn));
  return result;
}

}  // namespace slipway::data
