#include "api/record_actions.h"

#include <optional>

#include "data/filter.h"
#include "data/read_spec.h"
#include "data/repository.h"
#include "data/values.h"
#include "db/cluster_state.h"

namespace slipway::api {
namespace json = boost::json;

namespace {

json::value Param(const json::object& params, std::string_view key) {
  auto it = params.find(key);
  return it == params.end() ? json::value(nullptr) : it->value();
}

json::value AndScopes(const json::value& a, const json::value& b) {
  if (a.is_null()) return b;
  if (b.is_null()) return a;
  return json::object{{"$and", json::array{a, b}}};
}

// What an association route adds to a record action: the relation, the target collection, the
// condition that keeps it to the source record's relatives, and the key a created record gets.
struct Association {
  const data::Field* rel = nullptr;
  const data::Collection* target = nullptr;
  json::value scope;           // e.g. {"postId": {"$eq": 1}} (hasMany, hasOne)
  json::object fixed;          // e.g. {"postId": 1}
  json::value belongs_to_key;  // belongsTo: the one target key (null when unset)
  data::LinkSource source;     // the source record (its key and the value it links by)
};

// A transaction for a write of several statements, unless the caller's (a cluster-wide change)
// is open already: then the work joins it and the caller commits.
Result<std::optional<db::Transaction>> BeginUnlessOpen(db::Connection& conn) {
  std::optional<db::Transaction> tx;
  if (conn.in_transaction()) return tx;
  ASSIGN_OR_RETURN(db::Transaction t, db::Transaction::Begin(conn));
  tx.emplace(std::move(t));
  return tx;
}

bool IsLinkAction(std::string_view action) {
  return action == "add" || action == "remove" || action == "set" || action == "toggle";
}

// `source_action`: what the caller must be allowed on the source record ("view" to read or
// write through it, "update" to change its links).
Result<Association> ResolveAssociation(const data::Schema& schema, const http::Route& route,
                                       db::Connection& conn, const data::RecordAccess* access,
                                       const std::string& source_action) {
  Association a;
  const data::Collection* source = schema.Find(route.source);
  if (source == nullptr) return NotFound("collection '" + route.source + "' not found");
  const data::Field* rel = source->FindField(route.association);
  if (rel == nullptr || !data::IsRelation(rel->type)) {
    return NotFound("association '" + route.resource + "' not found");
  }
  a.rel = rel;
  a.target = schema.Find(rel->target);
  const data::Field* pk = source->PrimaryKey();
  const data::Field* key_field = source->FindField(rel->local_key());
  if (a.target == nullptr || pk == nullptr || key_field == nullptr) {
    return Internal("association '" + route.resource + "' is incomplete");
  }
  // The source record: its primary key and the key that links it (its source key, or its
  // foreign key for belongsTo). It must be one the caller may view (or update, to change its
  // links): its own only, for an ":own" permission.
  json::value source_scope = access ? access->Check(*source, source_action).scope : json::value();
  data::SqlParams params;
  ASSIGN_OR_RETURN(db::Value source_pk,
                   data::ToDbValue(*pk, json::value(route.source_index), conn.dialect(),
                                   source->name + "." + pk->name));
  a.source.collection = source;
  a.source.primary_key = source_pk;
  json::value link;
  if (rel->type != data::FieldType::kBelongsTo && key_field == pk && source_scope.is_null() &&
      !IsLinkAction(route.action)) {
    link = json::value(route.source_index);
    a.source.link = source_pk;
  } else {
    std::string sql = "SELECT \"t\"." + db::QuoteIdent(key_field->column) + " FROM " +
                      db::QuoteIdent(source->table) + " AS \"t\" WHERE \"t\"." +
                      db::QuoteIdent(pk->column) + " = " + params.Add(std::move(source_pk));
    if (!source_scope.is_null()) {
      ASSIGN_OR_RETURN(data::CompiledFilter visible,
                       data::CompileFilter(source_scope, schema, *source, conn.dialect(), &params));
      if (!visible.where.empty()) sql += " AND (" + visible.where + ")";
    }
    std::vector<db::Value> values = params.Take();
    ASSIGN_OR_RETURN(auto rs, conn.Query(sql, values));
    if (rs->row_count() == 0) {
      return NotFound("'" + source->name + "' record " + route.source_index + " not found");
    }
    link = rs->IsNull(0, 0) ? json::value(nullptr) : data::CellToJson(*key_field, *rs, 0, 0);
    if (!rs->IsNull(0, 0)) {
      ASSIGN_OR_RETURN(a.source.link, data::ToDbValue(*key_field, link, conn.dialect(),
                                                      source->name + "." + key_field->name));
    }
  }
  if (rel->type == data::FieldType::kBelongsTo) {
    a.belongs_to_key = link;
    return a;
  }
  if (link.is_null() && !IsLinkAction(route.action)) {
    a.scope = json::object{{"$or", json::array{}}};  // no source key: no relatives
    return a;
  }
  if (link.is_null()) {
    return FailedPrecondition("'" + source->name + "' record " + route.source_index + " has no '" +
                              key_field->name + "' to link by");
  }
  if (data::KeyOnTarget(rel->type)) {
    a.scope = json::object{{rel->foreign_key, json::object{{"$eq", link}}}};
    a.fixed[rel->foreign_key] = link;
  }
  return a;
}

}  // namespace

bool IsRecordAction(std::string_view action) {
  return action == "list" || action == "get" || action == "create" || action == "update" ||
         action == "destroy" || action == "firstOrCreate" || action == "updateOrCreate" ||
         IsLinkAction(action);
}

namespace {

// The record action itself, on `conn` (a request's own connection, or a cluster-wide change's).
Result<std::string> Perform(ActionRequest& req, db::Connection& conn) {
  const data::Schema& schema = *req.snapshot->schema;
  const std::string& action = req.route.action;
  Association assoc;
  const data::Collection* c = nullptr;
  if (req.route.is_association()) {
    ASSIGN_OR_RETURN(assoc, ResolveAssociation(schema, req.route, conn, req.access.get(),
                                               IsLinkAction(action) ? "update" : "view"));
    c = assoc.target;
    const bool to_one = !data::IsToMany(assoc.rel->type);
    if (to_one && action != "get" && action != "set" && action != "remove" &&
        !(assoc.rel->type == data::FieldType::kHasOne && action == "create")) {
      return InvalidArgument(
          "'" + req.route.resource + "' is a " + std::string(data::FieldTypeName(assoc.rel->type)) +
          ": it supports get, set and remove; use '" + c->name + ":" + action + "' instead");
    }
  } else {
    c = schema.Find(req.route.resource);
    if (c == nullptr) return NotFound("collection '" + req.route.resource + "' not found");
    if (IsLinkAction(action)) {
      return NotFound("action '" + action + "' applies to associations ('" + c->name +
                      "/<id>/<relation>:" + action + "'), not to '" + c->name + "'");
    }
  }
  ASSIGN_OR_RETURN(data::ReadSpec spec,
                   data::BuildReadSpec(schema, *c, req.params, req.access.get()));
  spec.exact_count_limit = req.services.config().list_exact_count_limit;
  json::value scope = AndScopes(req.scope, assoc.scope);
  json::value tk = Param(req.params, "filterByTk");

  data::WriteContext ctx;
  if (req.user) {
    ctx.user_id = req.user->id;
    ctx.role = req.user->role;
  }
  ctx.hooks = req.snapshot->hooks.get();
  ctx.access = req.access.get();
  ctx.next_snowflake = [&services = req.services] { return services.NextSnowflake(); };
  data::Repository repo(schema, *c, conn, std::move(ctx));
  const bool many_to_many =
      assoc.rel != nullptr && assoc.rel->type == data::FieldType::kBelongsToMany;
  if (many_to_many) repo.RestrictToLinked(*assoc.rel, assoc.source.link);

  auto values_object = [&]() -> Result<json::object> {
    if (req.body.is_null()) return json::object();
    if (!req.body.is_object())
      return InvalidArgument(action + " expects the values as a JSON object");
    return req.body.as_object();
  };
  std::string body;
  const bool belongs_to = assoc.rel != nullptr && assoc.rel->type == data::FieldType::kBelongsTo;
  const bool has_one = assoc.rel != nullptr && assoc.rel->type == data::FieldType::kHasOne;
  if (IsLinkAction(action)) {
    // NocoBase's add/remove/set/toggle: the keys as filterByTk (one or a list), or the body.
    json::value given = tk;
    if (given.is_null()) given = Param(req.params, "filterByTks");
    if (given.is_null()) given = req.body;
    if (given.is_object() && action == "toggle") given = Param(given.as_object(), "tk");
    if (given.is_null() && action != "remove" && action != "set") {
      return InvalidArgument(action + " needs the target keys: filterByTk, or a list in the body");
    }
    ASSIGN_OR_RETURN(
        std::vector<db::Value> keys,
        data::LinkKeys(schema, *assoc.source.collection, *assoc.rel, given, conn.dialect()));
    data::LinkChange change = action == "add"      ? data::LinkChange::kAdd
                              : action == "remove" ? data::LinkChange::kRemove
                              : action == "set"    ? data::LinkChange::kSet
                                                   : data::LinkChange::kToggle;
    ASSIGN_OR_RETURN(std::optional<db::Transaction> tx, BeginUnlessOpen(conn));
    RETURN_IF_ERROR(data::ChangeLinks(conn, schema, assoc.source, *assoc.rel, keys, change));
    if (tx) RETURN_IF_ERROR(tx->Commit());
    body = "{\"data\":null}";
  } else if (action == "list") {
    RETURN_IF_ERROR(repo.List(spec, scope, &body));
  } else if (action == "get") {
    if (belongs_to) {
      if (assoc.belongs_to_key.is_null()) {
        body = "{\"data\":null}";
      } else {
        RETURN_IF_ERROR(repo.Get(spec, assoc.belongs_to_key, scope, &body));
      }
    } else if (has_one && tk.is_null()) {
      // The one related record, or null.
      RETURN_IF_ERROR(repo.Get(spec, nullptr, scope, &body, /*first_of_scope=*/true));
    } else {
      RETURN_IF_ERROR(repo.Get(spec, tk, scope, &body));
    }
  } else if (action == "create" && has_one) {
    // The new record becomes the one: the one there was is unlinked in the same transaction.
    if (!req.body.is_object()) return InvalidArgument("create on a hasOne takes one record");
    ASSIGN_OR_RETURN(std::optional<db::Transaction> tx, BeginUnlessOpen(conn));
    RETURN_IF_ERROR(
        data::ChangeLinks(conn, schema, assoc.source, *assoc.rel, {}, data::LinkChange::kRemove));
    RETURN_IF_ERROR(repo.Create(req.body, assoc.fixed, spec, &body));
    if (tx) RETURN_IF_ERROR(tx->Commit());
  } else if (action == "create") {
    RETURN_IF_ERROR(repo.Create(req.body, assoc.fixed, spec, &body));
  } else if (action == "update") {
    ASSIGN_OR_RETURN(json::object values, values_object());
    RETURN_IF_ERROR(repo.Update(tk, spec.filter, scope, values, spec, &body));
  } else if (action == "destroy") {
    RETURN_IF_ERROR(repo.Destroy(tk, spec.filter, scope, &body));
  } else if (action == "firstOrCreate" || action == "updateOrCreate") {
    ASSIGN_OR_RETURN(json::object values, values_object());
    for (const auto& kv : assoc.fixed) values[kv.key()] = kv.value();
    ASSIGN_OR_RETURN(auto keys, data::ListParam(req.params, "filterKeys"));
    if (action == "firstOrCreate") {
      RETURN_IF_ERROR(repo.FirstOrCreate(keys, values, spec, &body));
    } else {
      RETURN_IF_ERROR(repo.UpdateOrCreate(keys, values, spec, &body));
    }
  } else {
    return NotFound("action '" + action + "' not found on resource '" + req.route.resource + "'");
  }
  return body;
}

}  // namespace

Result<http::Response> RunRecordAction(ActionRequest& req) {
  const std::string& action = req.route.action;
  const bool writes = action != "list" && action != "get";
  const data::Collection* target = req.snapshot->schema->Find(req.route.resource);
  std::string body;
  if (writes && target != nullptr && target->cluster_config) {
    // Records that configure the cluster (a plugin's MarkClusterConfig): a cluster-wide change,
    // in force on every node when this returns.
    RETURN_IF_ERROR(req.services.ApplyChange(
        {req.route.Key()}, [&](db::Connection& conn, const Snapshot&) -> Result<SnapshotUpdate> {
          ASSIGN_OR_RETURN(body, Perform(req, conn));
          return SnapshotUpdate::Reload();
        }));
  } else {
    // Reads take the shared read pipeline when this runs in a fiber (db/database.h).
    ASSIGN_OR_RETURN(auto conn,
                     writes ? req.services.pool().Acquire() : req.services.pool().AcquireReader());
    ASSIGN_OR_RETURN(body, Perform(req, *conn));
  }
  if (writes) {
    // The records written are those of the route's collection, or an association's target.
    std::string written = req.route.resource;
    if (req.route.is_association()) {
      const data::Collection* source = req.snapshot->schema->Find(req.route.source);
      const data::Field* rel = source ? source->FindField(req.route.association) : nullptr;
      if (rel != nullptr) written = rel->target;
    }
    req.services.CollectionChanged(written);
  }
  return http::Response::Json(200, std::move(body));
}

}  // namespace slipway::api
