// The write half of Repository: create, update, destroy, firstOrCreate, updateOrCreate.
#include <algorithm>
#include <optional>

#include "auth/password.h"
#include "core/ids.h"
#include "data/repository.h"
#include "data/repository_internal.h"
#include "data/values.h"
#include "db/sql.h"

namespace slipway::data {
namespace json = boost::json;
using db::QuoteIdent;
using namespace repository_internal;

namespace {

// The checked, converted form of a request's `values` for one record.
struct PreparedValues {
  std::vector<std::pair<const Field*, db::Value>> columns;
  // hasMany relations to (re)link: the relation and the target primary keys.
  std::vector<std::pair<const Field*, std::vector<db::Value>>> links;

  bool Has(const Field* f) const {
    for (const auto& [field, v] : columns) {
      if (field == f) return true;
    }
    return false;
  }
  void Set(const Field* f, db::Value v) {
    for (auto& [field, value] : columns) {
      if (field == f) {
        value = std::move(v);
        return;
      }
    }
    columns.emplace_back(f, std::move(v));
  }
};

Result<db::Value> RelationKey(const Schema& schema, const Collection& c, const Field& rel,
                              const json::value& v, db::Dialect dialect, const Field** key_field) {
  const Collection* target = schema.Find(rel.target);
  std::string key_name =
      !KeyOnTarget(rel.type) ? rel.target_key : (target ? target->primary_key : "id");
  const Field* key = target ? target->FindField(key_name) : nullptr;
  if (key == nullptr)
    return Internal("relation '" + c.name + "." + rel.name + "' has no target key");
  *key_field = key;
  const json::value* k = &v;
  if (v.is_object()) {
    auto it = v.as_object().find(key_name);
    if (it == v.as_object().end()) {
      return InvalidArgument("field '" + c.name + "." + rel.name +
                             "' expects a key or an object with '" + key_name + "'");
    }
    k = &it->value();
  }
  return ToDbValue(*key, *k, dialect, c.name + "." + rel.name);
}

// Checks the values a client gave against what it may write (access.h): the fields of its create
// or update permission, and the collections a relation write reaches. Values that hooks or the
// server add are not the client's and are not checked.
Status CheckWritable(const RecordAccess* access, const Schema& schema, const Collection& c,
                     std::string_view action, const json::object& given) {
  if (access == nullptr) return Status::Ok();
  Permission permission = access->Check(c, action);
  for (const auto& kv : given) {
    const Field* f = c.FindField(kv.key());
    if (f == nullptr || IsManaged(*f)) continue;  // refused or ignored by PrepareValues
    if (!permission.AllowsField(f->name)) {
      return NoPermission(*access, "set '" + c.name + "." + f->name + "'");
    }
    const Collection* target = IsRelation(f->type) ? schema.Find(f->target) : nullptr;
    if (target == nullptr) continue;
    // A belongsTo names a target record: the caller must be able to view the target. A hasMany
    // rewrites the target records' foreign keys: the caller must be able to update all of them.
    std::string through = " (through '" + c.name + "." + f->name + "')";
    // A belongsToMany links rows of its join table: the caller must be able to view the targets.
    if (f->type == FieldType::kBelongsTo || f->type == FieldType::kBelongsToMany) {
      if (!access->Check(*target, "view").allowed) {
        return NoPermission(*access, "view '" + target->name + "'" + through);
      }
      continue;
    }
    Permission update = access->Check(*target, "update");
    if (!update.allowed || !update.scope.is_null() || !update.AllowsField(f->foreign_key)) {
      return NoPermission(*access, "update every '" + target->name + "' record" + through);
    }
  }
  return Status::Ok();
}

Result<PreparedValues> PrepareValues(const Schema& schema, const Collection& c,
                                     const json::object& values, const json::object& fixed,
                                     db::Dialect dialect) {
  PreparedValues out;
  auto take = [&](std::string_view name, const json::value& v) -> Status {
    const Field* f = c.FindField(name);
    std::string what = c.name + "." + std::string(name);
    if (f == nullptr) return InvalidArgument("field '" + what + "' does not exist");
    if (IsManaged(*f)) return Status::Ok();  // maintained by the server
    if (f->type == FieldType::kBelongsTo) {
      const Field* fk = c.FindField(f->foreign_key);
      if (fk == nullptr) return Internal("relation '" + what + "' lacks its foreign key");
      if (v.is_null()) {
        out.Set(fk, db::Null());
        return Status::Ok();
      }
      const Field* key = nullptr;
      ASSIGN_OR_RETURN(db::Value k, RelationKey(schema, c, *f, v, dialect, &key));
      out.Set(fk, std::move(k));
      return Status::Ok();
    }
    if (IsRelation(f->type)) {  // hasMany, hasOne, belongsToMany: the related records, set
      std::vector<db::Value> keys;
      auto add = [&](const json::value& item) -> Status {
        const Field* key = nullptr;
        ASSIGN_OR_RETURN(db::Value k, RelationKey(schema, c, *f, item, dialect, &key));
        keys.push_back(std::move(k));
        return Status::Ok();
      };
      if (IsToMany(f->type) && !v.is_null()) {
        if (!v.is_array())
          return InvalidArgument("field '" + what + "' expects a list of keys or objects");
        for (const json::value& item : v.as_array()) RETURN_IF_ERROR(add(item));
      } else if (!v.is_null()) {
        if (v.is_array()) return InvalidArgument("field '" + what + "' expects one key or object");
        RETURN_IF_ERROR(add(v));
      }
      out.links.emplace_back(f, std::move(keys));
      return Status::Ok();
    }
    if (f->type == FieldType::kPassword) {
      if (v.is_null()) {
        out.Set(f, db::Null());
        return Status::Ok();
      }
      if (!v.is_string()) return InvalidArgument("field '" + what + "' expects a string");
      auto hash = auth::HashPassword(v.as_string());
      if (!hash.ok()) return InvalidArgument("field '" + what + "': " + hash.status().message());
      out.Set(f, std::move(hash).value());
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(db::Value converted, ToDbValue(*f, v, dialect, what));
    if (!f->allow_null && std::holds_alternative<std::monostate>(converted)) {
      return InvalidArgument("field '" + what + "' may not be null");
    }
    out.Set(f, std::move(converted));
    return Status::Ok();
  };
  for (const auto& kv : values) {
    if (fixed.contains(kv.key())) continue;
    RETURN_IF_ERROR(take(kv.key(), kv.value()));
  }
  for (const auto& kv : fixed) RETURN_IF_ERROR(take(kv.key(), kv.value()));
  return out;
}

// The RETURNING/selected columns of a write: what the client asked for, plus the primary key
// (and a hasMany relation's source key) needed after the statement.
std::vector<const Field*> WriteColumns(const Collection& c, const ReadSpec& out,
                                       const PreparedValues& prepared) {
  std::vector<const Field*> cols = out.columns;
  auto ensure = [&](const Field* f) {
    if (f == nullptr) return;
    for (const Field* have : cols) {
      if (have == f) return;
    }
    cols.push_back(f);
  };
  ensure(c.PrimaryKey());
  for (const auto& [rel, keys] : prepared.links) ensure(c.FindField(rel->source_key));
  return cols;
}

int IndexOf(const std::vector<const Field*>& cols, const Field* f) {
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i] == f) return static_cast<int>(i);
  }
  return -1;
}

// Points `rel`'s targets at `source_key_value`: exactly `keys` afterwards (others unlinked).
Status Relink(db::Connection& conn, const Schema& schema, const Field& rel,
              const db::Value& source_key_value, const std::vector<db::Value>& keys) {
  const Collection* target = schema.Find(rel.target);
  const Field* fk = target ? target->FindField(rel.foreign_key) : nullptr;
  const Field* tpk = target ? target->PrimaryKey() : nullptr;
  if (fk == nullptr || tpk == nullptr) return Internal("relation '" + rel.name + "' is incomplete");
  SqlParams params;
  std::string source = params.Add(source_key_value);
  std::string list;
  for (const db::Value& k : keys) list += (list.empty() ? "" : ", ") + params.Add(k);
  std::string unlink = "UPDATE " + QuoteIdent(target->table) + " SET " + QuoteIdent(fk->column) +
                       " = NULL WHERE " + QuoteIdent(fk->column) + " = " + source;
  if (!list.empty()) unlink += " AND " + QuoteIdent(tpk->column) + " NOT IN (" + list + ")";
  std::vector<db::Value> values = params.Take();
  ASSIGN_OR_RETURN(auto r1, conn.Query(unlink, values));
  if (list.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(
      auto r2, conn.Query("UPDATE " + QuoteIdent(target->table) + " SET " + QuoteIdent(fk->column) +
                              " = $1 WHERE " + QuoteIdent(tpk->column) + " IN (" + list + ")",
                          values));
  if (static_cast<size_t>(r2->affected_rows()) != keys.size()) {
    return InvalidArgument("relation '" + rel.name + "': some of the given '" + rel.target +
                           "' records do not exist");
  }
  return Status::Ok();
}

// Keys given in `keys` without repeats, in their first order.
std::vector<db::Value> Distinct(const std::vector<db::Value>& keys) {
  std::vector<db::Value> out;
  for (const db::Value& k : keys) {
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

// Checks that every key names a record of `target` (by `key`).
Status TargetsExist(db::Connection& conn, const Field& rel, const Collection& target,
                    const Field& key, const std::vector<db::Value>& keys) {
  if (keys.empty()) return Status::Ok();
  SqlParams params;
  std::string list;
  for (const db::Value& k : keys) list += (list.empty() ? "" : ", ") + params.Add(k);
  std::vector<db::Value> values = params.Take();
  ASSIGN_OR_RETURN(auto rs,
                   conn.Query("SELECT count(*) FROM " + QuoteIdent(target.table) + " WHERE " +
                                  QuoteIdent(key.column) + " IN (" + list + ")",
                              values));
  if (rs->Int(0, 0) != static_cast<int64_t>(keys.size())) {
    return InvalidArgument("relation '" + rel.name + "': some of the given '" + target.name +
                           "' records do not exist");
  }
  return Status::Ok();
}

// Adds, removes, sets or toggles rows of a belongsToMany's join table for one source record.
Status ChangeJoinRows(db::Connection& conn, const Schema& schema, const Field& rel,
                      const db::Value& source_link, const std::vector<db::Value>& given,
                      LinkChange change) {
  const Collection* through = schema.Find(rel.through);
  const Collection* target = schema.Find(rel.target);
  const Field* fk = through ? through->FindField(rel.foreign_key) : nullptr;
  const Field* ok = through ? through->FindField(rel.other_key) : nullptr;
  const Field* tk = target ? target->FindField(rel.target_key) : nullptr;
  if (fk == nullptr || ok == nullptr || tk == nullptr) {
    return Internal("relation '" + rel.name + "' is incomplete");
  }
  if (change == LinkChange::kToggle && given.size() != 1) {
    return InvalidArgument("toggle takes exactly one key");
  }
  std::vector<db::Value> keys = Distinct(given);
  const std::string table = QuoteIdent(through->table);
  const std::string fkc = QuoteIdent(fk->column), okc = QuoteIdent(ok->column);
  if (change != LinkChange::kRemove) RETURN_IF_ERROR(TargetsExist(conn, rel, *target, *tk, keys));
  if (change == LinkChange::kToggle) {
    ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT 1 FROM " + table + " WHERE " + fkc + " = $1 AND " +
                                             okc + " = $2",
                                         {source_link, keys[0]}));
    change = rs->row_count() > 0 ? LinkChange::kRemove : LinkChange::kAdd;
  }
  auto key_list = [&](SqlParams* params) {
    std::string list;
    for (const db::Value& k : keys) list += (list.empty() ? "" : ", ") + params->Add(k);
    return list;
  };
  if (change == LinkChange::kSet || change == LinkChange::kRemove) {
    if (change == LinkChange::kRemove && keys.empty()) return Status::Ok();
    SqlParams params;
    std::string sql = "DELETE FROM " + table + " WHERE " + fkc + " = " + params.Add(source_link);
    std::string list = key_list(&params);
    if (!list.empty())
      sql += std::string(" AND ") + okc + (change == LinkChange::kSet ? " NOT" : "") + " IN (" +
             list + ")";
    std::vector<db::Value> values = params.Take();
    ASSIGN_OR_RETURN(auto deleted, conn.Query(sql, values));
    if (change == LinkChange::kRemove) return Status::Ok();
  }
  if (keys.empty()) return Status::Ok();
  // kAdd, or the rest of kSet: a row for each key not linked yet.
  const std::string now = db::SqlNow(conn.dialect());
  for (size_t start = 0; start < keys.size(); start += kInChunk) {
    SqlParams params;
    std::string source = params.Add(source_link);
    std::string rows;
    for (size_t i = start; i < std::min(keys.size(), start + kInChunk); ++i) {
      rows += (rows.empty() ? "(" : ", (") + source + ", " + params.Add(keys[i]) + ", " + now +
              ", " + now + ")";
    }
    std::vector<db::Value> values = params.Take();
    ASSIGN_OR_RETURN(auto inserted,
                     conn.Query("INSERT INTO " + table + " (" + fkc + ", " + okc +
                                    ", \"createdAt\", \"updatedAt\") VALUES " + rows +
                                    " ON CONFLICT (" + fkc + ", " + okc + ") DO NOTHING",
                                values));
  }
  return Status::Ok();
}

// Adds, removes or sets the targets of a hasMany or hasOne (their foreign key column).
Status ChangeForeignKeys(db::Connection& conn, const Schema& schema, const Field& rel,
                         const db::Value& source_link, const std::vector<db::Value>& given,
                         LinkChange change) {
  std::vector<db::Value> keys = Distinct(given);
  if (change == LinkChange::kToggle) {
    return InvalidArgument("toggle applies to a belongsToMany, not to the " +
                           std::string(FieldTypeName(rel.type)) + " '" + rel.name + "'");
  }
  if (rel.type == FieldType::kHasOne) {
    if (keys.size() > 1) return InvalidArgument("'" + rel.name + "' is a hasOne: give one key");
    if (change == LinkChange::kAdd) change = LinkChange::kSet;
    if (change == LinkChange::kRemove) keys.clear();  // unlinks the one there is
  }
  if (change == LinkChange::kSet ||
      (rel.type == FieldType::kHasOne && change == LinkChange::kRemove)) {
    return Relink(conn, schema, rel, source_link, keys);
  }
  const Collection* target = schema.Find(rel.target);
  const Field* fk = target ? target->FindField(rel.foreign_key) : nullptr;
  const Field* tpk = target ? target->PrimaryKey() : nullptr;
  if (fk == nullptr || tpk == nullptr) return Internal("relation '" + rel.name + "' is incomplete");
  if (keys.empty()) return Status::Ok();
  if (change == LinkChange::kAdd) RETURN_IF_ERROR(TargetsExist(conn, rel, *target, *tpk, keys));
  SqlParams params;
  std::string source = params.Add(source_link);
  std::string list;
  for (const db::Value& k : keys) list += (list.empty() ? "" : ", ") + params.Add(k);
  std::string sql = "UPDATE " + QuoteIdent(target->table) + " SET " + QuoteIdent(fk->column) +
                    (change == LinkChange::kAdd ? " = " + source : " = NULL") + " WHERE " +
                    QuoteIdent(tpk->column) + " IN (" + list + ")";
  if (change == LinkChange::kRemove) sql += " AND " + QuoteIdent(fk->column) + " = " + source;
  std::vector<db::Value> values = params.Take();
  ASSIGN_OR_RETURN(auto updated, conn.Query(sql, values));
  return Status::Ok();
}

Status SetLinks(db::Connection& conn, const Schema& schema, const Field& rel,
                const db::Value& source_link, const std::vector<db::Value>& keys) {
  if (rel.type == FieldType::kBelongsToMany) {
    return ChangeJoinRows(conn, schema, rel, source_link, keys, LinkChange::kSet);
  }
  return Relink(conn, schema, rel, source_link, keys);
}

bool NeedsTransaction(const Collection& c, const json::value& values, bool hooks) {
  if (hooks) return true;
  if (values.is_array()) return values.as_array().size() > 1;
  if (!values.is_object()) return false;
  for (const auto& kv : values.as_object()) {
    const Field* f = c.FindField(kv.key());
    if (f != nullptr && f->has_column() == false && f->type != FieldType::kBelongsTo) return true;
  }
  return false;
}

}  // namespace

bool Repository::HasHook(RecordEvent event) const {
  return ctx_.hooks != nullptr && ctx_.hooks->Has(c_.name, event);
}

Status Repository::RunHook(RecordEvent event, json::object* values, const json::object* before,
                           const json::object* after) {
  if (!HasHook(event)) return Status::Ok();
  RecordChange change;
  change.collection = c_.name;
  change.primary_key = c_.primary_key;
  change.event = event;
  change.values = values;
  change.before = before;
  change.after = after;
  change.caller = Caller{ctx_.user_id.value_or(0), ctx_.role};
  change.connection = &conn_;
  return ctx_.hooks->Run(change);
}

std::vector<const Field*> Repository::AllColumns(const std::vector<const Field*>& first) const {
  std::vector<const Field*> all = first;
  for (const Field* f : c_.ColumnFields()) {
    if (f->hidden() || IndexOf(all, f) >= 0) continue;
    all.push_back(f);
  }
  return all;
}

Result<std::map<std::string, json::object>> Repository::RecordsByKey(
    const std::string& matching_sql, std::vector<db::Value> params, bool for_update) {
  std::vector<const Field*> all = AllColumns({c_.PrimaryKey()});
  std::string sql = "SELECT " + ColumnList(all, false) + " FROM " + QuoteIdent(c_.table) +
                    " WHERE " + QuoteIdent(c_.PrimaryKey()->column) + " IN (" + matching_sql + ")";
  if (for_update && conn_.dialect() == db::Dialect::kPostgres) sql += " FOR UPDATE";
  ASSIGN_OR_RETURN(auto rs, conn_.Query(sql, params));
  std::map<std::string, json::object> out;
  for (int r = 0; r < rs->row_count(); ++r) {
    std::string text;
    WriteRecord(&text, all, *rs, r);
    out.emplace(std::string(rs->Text(r, 0)), json::parse(text).as_object());
  }
  return out;
}

Status Repository::InsertOne(const json::object& given, const json::object& fixed,
                             const ReadSpec& out, std::string* rendered) {
  RETURN_IF_ERROR(CheckWritable(ctx_.access, schema_, c_, "create", given));
  json::object values = given;
  RETURN_IF_ERROR(RunHook(RecordEvent::kBeforeCreate, &values, nullptr, nullptr));
  ASSIGN_OR_RETURN(PreparedValues prepared,
                   PrepareValues(schema_, c_, values, fixed, conn_.dialect()));
  // What the server fills in: generated keys, defaults, timestamps, the author.
  std::string now;
  for (const Field* f : c_.ColumnFields()) {
    if (prepared.Has(f) || f->auto_increment) continue;
    std::string what = c_.name + "." + f->name;
    if (f->type == FieldType::kUuid) {
      prepared.Set(f, core::NewUuidV4());
    } else if (f->type == FieldType::kSnowflakeId) {
      if (!ctx_.next_snowflake) return Internal("no snowflake id generator for '" + what + "'");
      ASSIGN_OR_RETURN(int64_t id, ctx_.next_snowflake());
      prepared.Set(f, id);
    } else if (IsManaged(*f) && f->type == FieldType::kDate) {
      if (now.empty()) now = NowInstant();
      prepared.Set(f, now);
    } else if (IsManaged(*f)) {
      if (ctx_.user_id) prepared.Set(f, *ctx_.user_id);
    } else if (f->default_value) {
      ASSIGN_OR_RETURN(db::Value v, ToDbValue(*f, *f->default_value, conn_.dialect(), what));
      prepared.Set(f, std::move(v));
    } else if (!f->allow_null) {
      return InvalidArgument("field '" + what + "' is required");
    }
  }
  const bool after_hook = HasHook(RecordEvent::kAfterCreate);
  std::vector<const Field*> returning = WriteColumns(c_, out, prepared);
  if (after_hook) returning = AllColumns(returning);  // hooks see the whole record
  // Created through a belongsToMany association: linked to its source record too.
  const Field* linked_key = linked_rel_ ? c_.FindField(linked_rel_->target_key) : nullptr;
  if (linked_rel_ != nullptr && linked_key == nullptr) {
    return Internal("relation '" + linked_rel_->name + "' lacks its target key");
  }
  if (linked_key != nullptr && IndexOf(returning, linked_key) < 0) returning.push_back(linked_key);
  SqlParams params;
  std::string columns, placeholders;
  for (auto& [f, v] : prepared.columns) {
    columns += (columns.empty() ? "" : ", ") + QuoteIdent(f->column);
    placeholders += (placeholders.empty() ? "" : ", ") + params.Add(std::move(v));
  }
  std::string sql = "INSERT INTO " + QuoteIdent(c_.table) +
                    (columns.empty() ? std::string(" DEFAULT VALUES")
                                     : " (" + columns + ") VALUES (" + placeholders + ")") +
                    " RETURNING " + ColumnList(returning, false);
  std::vector<db::Value> bound = params.Take();
  ASSIGN_OR_RETURN(auto rs, conn_.Query(sql, bound));
  if (rs->row_count() != 1) return Internal("insert returned no row");
  for (const auto& [rel, keys] : prepared.links) {
    const Field* source_key = c_.FindField(rel->source_key);
    int col = IndexOf(returning, source_key);
    RETURN_IF_ERROR(SetLinks(conn_, schema_, *rel, KeyValue(*source_key, rs->Text(0, col)), keys));
  }
  if (linked_key != nullptr) {
    db::Value key = KeyValue(*linked_key, rs->Text(0, IndexOf(returning, linked_key)));
    RETURN_IF_ERROR(
        ChangeJoinRows(conn_, schema_, *linked_rel_, linked_source_, {key}, LinkChange::kAdd));
  }
  if (after_hook) {
    std::string full;
    WriteRecord(&full, returning, *rs, 0);
    json::object record = json::parse(full).as_object();
    RETURN_IF_ERROR(RunHook(RecordEvent::kAfterCreate, nullptr, nullptr, &record));
  }
  return RenderRows(out.columns, {}, *rs, rendered, false);
}

Status Repository::Create(const json::value& values, const json::object& fixed, const ReadSpec& out,
                          std::string* body) {
  if (!values.is_object() && !values.is_array()) {
    return InvalidArgument(
        "create expects the record's values as a JSON object (or an array of them)");
  }
  std::optional<db::Transaction> tx;
  bool hooks = HasHook(RecordEvent::kBeforeCreate) || HasHook(RecordEvent::kAfterCreate);
  if (NeedsTransaction(c_, values, hooks) || linked_rel_ != nullptr) {
    RETURN_IF_ERROR(BeginUnlessOpen(&tx));
  }
  body->append("{\"data\":");
  if (values.is_object()) {
    RETURN_IF_ERROR(InsertOne(values.as_object(), fixed, out, body));
  } else {
    body->push_back('[');
    bool first = true;
    for (const json::value& v : values.as_array()) {
      if (!v.is_object()) return InvalidArgument("create: every record must be a JSON object");
      if (!first) body->push_back(',');
      first = false;
      RETURN_IF_ERROR(InsertOne(v.as_object(), fixed, out, body));
    }
    body->push_back(']');
  }
  body->push_back('}');
  if (tx) RETURN_IF_ERROR(tx->Commit());
  return Status::Ok();
}

Status Repository::Update(const json::value& filter_by_tk, const json::value& filter,
                          const json::value& scope, const json::object& given, const ReadSpec& out,
                          std::string* body) {
  RETURN_IF_ERROR(CheckWritable(ctx_.access, schema_, c_, "update", given));
  const bool hooks = HasHook(RecordEvent::kBeforeUpdate) || HasHook(RecordEvent::kAfterUpdate);
  SqlParams params;
  ASSIGN_OR_RETURN(Where where, BuildWhere(filter_by_tk, filter, scope, &params));
  if (!where.selective) {
    return InvalidArgument(
        "update needs filterByTk or a filter that selects records (refusing to update every "
        "record)");
  }
  const Field* pk = c_.PrimaryKey();
  std::string matching = "SELECT " + Qualified(*pk) + " FROM " + QuoteIdent(c_.table) +
                         " AS \"t\"" + where.joins + WithWhere(where.condition);
  std::optional<db::Transaction> tx;
  json::object values = given;
  std::map<std::string, json::object> before;
  if (hooks) {
    RETURN_IF_ERROR(BeginUnlessOpen(&tx));
    ASSIGN_OR_RETURN(before, RecordsByKey(matching, params.values(), /*for_update=*/true));
    for (auto& [key, record] : before) {
      RETURN_IF_ERROR(RunHook(RecordEvent::kBeforeUpdate, &values, &record, nullptr));
    }
  }
  ASSIGN_OR_RETURN(PreparedValues prepared,
                   PrepareValues(schema_, c_, values, {}, conn_.dialect()));
  for (const Field* f : c_.ColumnFields()) {
    if (!IsManaged(*f) || prepared.Has(f)) continue;
    if (f->name == "updatedAt") prepared.Set(f, NowInstant());
    if (f->name == "updatedById" && ctx_.user_id) prepared.Set(f, *ctx_.user_id);
  }
  std::vector<const Field*> returning = WriteColumns(c_, out, prepared);
  if (hooks) returning = AllColumns(returning);
  std::string sets;
  for (auto& [f, v] : prepared.columns) {
    sets += (sets.empty() ? "" : ", ") + QuoteIdent(f->column) + " = " + params.Add(std::move(v));
  }
  std::string sql =
      sets.empty()
          ? "SELECT " + ColumnList(returning, false) + " FROM " + QuoteIdent(c_.table) + " WHERE " +
                QuoteIdent(pk->column) + " IN (" + matching + ")"
          : "UPDATE " + QuoteIdent(c_.table) + " SET " + sets + " WHERE " + QuoteIdent(pk->column) +
                " IN (" + matching + ") RETURNING " + ColumnList(returning, false);
  if (!prepared.links.empty()) RETURN_IF_ERROR(BeginUnlessOpen(&tx));
  std::vector<db::Value> bound = params.Take();
  ASSIGN_OR_RETURN(auto rs, conn_.Query(sql, bound));
  for (const auto& [rel, keys] : prepared.links) {
    const Field* source_key = c_.FindField(rel->source_key);
    int col = IndexOf(returning, source_key);
    for (int r = 0; r < rs->row_count(); ++r) {
      RETURN_IF_ERROR(
          SetLinks(conn_, schema_, *rel, KeyValue(*source_key, rs->Text(r, col)), keys));
    }
  }
  if (HasHook(RecordEvent::kAfterUpdate)) {
    int pk_col = IndexOf(returning, pk);
    for (int r = 0; r < rs->row_count(); ++r) {
      std::string text;
      WriteRecord(&text, returning, *rs, r);
      json::object after = json::parse(text).as_object();
      auto it = before.find(std::string(rs->Text(r, pk_col)));
      RETURN_IF_ERROR(RunHook(RecordEvent::kAfterUpdate, nullptr,
                              it == before.end() ? nullptr : &it->second, &after));
    }
  }
  body->append("{\"data\":");
  RETURN_IF_ERROR(RenderRows(out.columns, {}, *rs, body, true));
  body->push_back('}');
  if (tx) RETURN_IF_ERROR(tx->Commit());
  return Status::Ok();
}

Status Repository::Destroy(const json::value& filter_by_tk, const json::value& filter,
                           const json::value& scope, std::string* body) {
  SqlParams params;
  ASSIGN_OR_RETURN(Where where, BuildWhere(filter_by_tk, filter, scope, &params));
  if (!where.selective) {
    return InvalidArgument(
        "destroy needs filterByTk or a filter that selects records (refusing to destroy every "
        "record)");
  }
  const Field* pk = c_.PrimaryKey();
  std::string matching = "SELECT " + Qualified(*pk) + " FROM " + QuoteIdent(c_.table) +
                         " AS \"t\"" + where.joins + WithWhere(where.condition);
  std::string sql = "DELETE FROM " + QuoteIdent(c_.table) + " WHERE " + QuoteIdent(pk->column) +
                    " IN (" + matching + ")";
  const bool hooks = HasHook(RecordEvent::kBeforeDestroy) || HasHook(RecordEvent::kAfterDestroy);
  // References no constraint clears (Field::enforced: every createdBy/updatedBy onto users).
  const auto unenforced = schema_.UnenforcedReferencesTo(c_.name);
  std::optional<db::Transaction> tx;
  if (hooks || !unenforced.empty()) RETURN_IF_ERROR(BeginUnlessOpen(&tx));
  std::map<std::string, json::object> before;
  if (hooks) {
    ASSIGN_OR_RETURN(before, RecordsByKey(matching, params.values(), /*for_update=*/true));
    for (auto& [key, record] : before) {
      RETURN_IF_ERROR(RunHook(RecordEvent::kBeforeDestroy, nullptr, &record, nullptr));
    }
  }
  // Set to NULL in the destroy's transaction, as ON DELETE SET NULL would.
  for (const auto& [other, rel] : unenforced) {
    const Field* key = other->FindField(rel->foreign_key);
    if (key == nullptr || !key->has_column()) continue;
    const std::string column = QuoteIdent(key->column);
    RETURN_IF_ERROR(conn_
                        .Query("UPDATE " + QuoteIdent(other->table) + " SET " + column +
                                   " = NULL WHERE " + column + " IN (" + matching + ")",
                               params.values())
                        .status());
  }
  std::vector<db::Value> bound = params.Take();
  auto rs = conn_.Query(sql, bound);
  if (!rs.ok()) {
    if (rs.status().tag() == "FOREIGN_KEY_VIOLATION") {
      return FailedPrecondition(
          "records of '" + c_.name + "' are still referenced: " + rs.status().message(),
          "FOREIGN_KEY_VIOLATION");
    }
    return rs.status();
  }
  for (auto& [key, record] : before) {
    RETURN_IF_ERROR(RunHook(RecordEvent::kAfterDestroy, nullptr, &record, nullptr));
  }
  body->append("{\"data\":" + std::to_string((*rs)->affected_rows()) + "}");
  if (tx) RETURN_IF_ERROR(tx->Commit());
  return Status::Ok();
}

Result<std::vector<std::string>> Repository::FindKeysByValues(const std::vector<std::string>& keys,
                                                              const json::object& values) {
  if (keys.empty()) return InvalidArgument("filterKeys: at least one field is required");
  json::object filter;
  for (const std::string& k : keys) {
    const Field* f = c_.FindField(k);
    if (f == nullptr || !f->has_column())
      return InvalidArgument("filterKeys: unknown field '" + c_.name + "." + k + "'");
    auto it = values.find(k);
    if (it == values.end())
      return InvalidArgument("filterKeys: '" + k + "' has no value in values");
    filter[k] = json::object{{"$eq", it->value()}};
  }
  SqlParams params;
  ASSIGN_OR_RETURN(Where where, BuildWhere(nullptr, filter, nullptr, &params));
  const Field* pk = c_.PrimaryKey();
  std::vector<db::Value> bound = params.Take();
  ASSIGN_OR_RETURN(auto rs,
                   conn_.Query("SELECT " + Qualified(*pk) + " FROM " + QuoteIdent(c_.table) +
                                   " AS \"t\"" + where.joins + WithWhere(where.condition) +
                                   " ORDER BY " + Qualified(*pk) + " LIMIT 1",
                               bound));
  std::vector<std::string> found;
  for (int r = 0; r < rs->row_count(); ++r) found.emplace_back(rs->Text(r, 0));
  return found;
}

Status Repository::BeginUnlessOpen(std::optional<db::Transaction>* tx) {
  if (*tx || conn_.in_transaction()) return Status::Ok();
  ASSIGN_OR_RETURN(db::Transaction t, db::Transaction::Begin(conn_));
  tx->emplace(std::move(t));
  return Status::Ok();
}

Status Repository::FirstOrCreate(const std::vector<std::string>& filter_keys,
                                 const json::object& values, const ReadSpec& out,
                                 std::string* body) {
  std::optional<db::Transaction> tx;
  RETURN_IF_ERROR(BeginUnlessOpen(&tx));
  ASSIGN_OR_RETURN(auto found, FindKeysByValues(filter_keys, values));
  if (!found.empty()) {
    ReadSpec spec = out;
    spec.filter = nullptr;
    RETURN_IF_ERROR(Get(spec, json::value(found[0]), nullptr, body));
  } else {
    RETURN_IF_ERROR(Create(values, {}, out, body));
  }
  if (tx) RETURN_IF_ERROR(tx->Commit());
  return Status::Ok();
}

Status Repository::UpdateOrCreate(const std::vector<std::string>& filter_keys,
                                  const json::object& values, const ReadSpec& out,
                                  std::string* body) {
  std::optional<db::Transaction> tx;
  RETURN_IF_ERROR(BeginUnlessOpen(&tx));
  ASSIGN_OR_RETURN(auto found, FindKeysByValues(filter_keys, values));
  if (!found.empty()) {
    std::string updated;
    RETURN_IF_ERROR(Update(json::value(found[0]), nullptr, nullptr, values, out, &updated));
    // NocoBase answers updateOrCreate with the one record, not a list.
    auto doc = json::parse(updated);
    const json::array& rows = doc.at("data").as_array();
    body->append("{\"data\":" + (rows.empty() ? std::string("null") : json::serialize(rows[0])) +
                 "}");
  } else {
    RETURN_IF_ERROR(Create(values, {}, out, body));
  }
  if (tx) RETURN_IF_ERROR(tx->Commit());
  return Status::Ok();
}

Result<std::vector<db::Value>> LinkKeys(const Schema& schema, const Collection& source,
                                        const Field& rel, const json::value& given,
                                        db::Dialect dialect) {
  std::vector<db::Value> keys;
  auto add = [&](const json::value& item) -> Status {
    const Field* key = nullptr;
    ASSIGN_OR_RETURN(db::Value k, RelationKey(schema, source, rel, item, dialect, &key));
    keys.push_back(std::move(k));
    return Status::Ok();
  };
  if (given.is_array()) {
    if (given.as_array().size() > 1000) return InvalidArgument("more than 1000 keys");
    for (const json::value& item : given.as_array()) RETURN_IF_ERROR(add(item));
  } else if (!given.is_null()) {
    RETURN_IF_ERROR(add(given));
  }
  return keys;
}

Status ChangeLinks(db::Connection& conn, const Schema& schema, const LinkSource& source,
                   const Field& rel, const std::vector<db::Value>& keys, LinkChange change) {
  if (rel.type == FieldType::kBelongsToMany) {
    return ChangeJoinRows(conn, schema, rel, source.link, keys, change);
  }
  if (KeyOnTarget(rel.type)) {
    return ChangeForeignKeys(conn, schema, rel, source.link, keys, change);
  }
  // belongsTo: the source record's own foreign key.
  const Collection* target = schema.Find(rel.target);
  const Field* fk = source.collection->FindField(rel.foreign_key);
  const Field* tk = target ? target->FindField(rel.target_key) : nullptr;
  const Field* pk = source.collection->PrimaryKey();
  if (fk == nullptr || tk == nullptr || pk == nullptr) {
    return Internal("relation '" + rel.name + "' is incomplete");
  }
  if (change == LinkChange::kAdd || change == LinkChange::kToggle) {
    return InvalidArgument("'" + rel.name + "' is a belongsTo: use set or remove");
  }
  if (keys.size() > 1) return InvalidArgument("'" + rel.name + "' is a belongsTo: give one key");
  db::Value value = db::Null();
  if (change == LinkChange::kSet && !keys.empty()) {
    RETURN_IF_ERROR(TargetsExist(conn, rel, *target, *tk, keys));
    value = keys[0];
  }
  std::string sql = "UPDATE " + QuoteIdent(source.collection->table) + " SET " +
                    QuoteIdent(fk->column) + " = $1 WHERE " + QuoteIdent(pk->column) + " = $2";
  if (change == LinkChange::kRemove && !keys.empty())
    sql += " AND " + QuoteIdent(fk->column) + " = $3";
  std::vector<db::Value> values = {value, source.primary_key};
  if (change == LinkChange::kRemove && !keys.empty()) values.push_back(keys[0]);
  ASSIGN_OR_RETURN(auto updated, conn.Query(sql, values));
  return Status::Ok();
}

}  // namespace slipway::data
