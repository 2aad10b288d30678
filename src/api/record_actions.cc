#include "api/record_actions.h"

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

// What an association route adds to a record action: the target collection, the condition that
// keeps it to the source record's relatives, and the key a created record gets.
struct Association {
  const data::Collection* target = nullptr;
  json::value scope;           // e.g. {"postId": {"$eq": 1}}
  json::object fixed;          // e.g. {"postId": 1}
  json::value belongs_to_key;  // belongsTo: the one target key (null when unset)
  bool belongs_to = false;
};

Result<Association> ResolveAssociation(const data::Schema& schema, const http::Route& route,
                                       db::Connection& conn, const data::RecordAccess* access) {
  Association a;
  const data::Collection* source = schema.Find(route.source);
  if (source == nullptr) return NotFound("collection '" + route.source + "' not found");
  const data::Field* rel = source->FindField(route.association);
  if (rel == nullptr || !data::IsRelation(rel->type)) {
    return NotFound("association '" + route.resource + "' not found");
  }
  a.target = schema.Find(rel->target);
  const data::Field* pk = source->PrimaryKey();
  std::string key_column =
      rel->type == data::FieldType::kHasMany ? rel->source_key : rel->foreign_key;
  const data::Field* key_field = source->FindField(key_column);
  if (a.target == nullptr || pk == nullptr || key_field == nullptr) {
    return Internal("association '" + route.resource + "' is incomplete");
  }
  // The source record's key that links it (its source key, or its foreign key for belongsTo).
  // The source record must be one the caller may view (its own only, for an ":own" view).
  json::value source_scope = access ? access->Check(*source, "view").scope : json::value();
  json::value link;
  if (rel->type == data::FieldType::kHasMany && key_field == pk && source_scope.is_null()) {
    link = json::value(route.source_index);
  } else {
    data::SqlParams params;
    ASSIGN_OR_RETURN(db::Value source_pk,
                     data::ToDbValue(*pk, json::value(route.source_index), conn.dialect(),
                                     source->name + "." + pk->name));
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
  }
  if (rel->type == data::FieldType::kBelongsTo) {
    a.belongs_to = true;
    a.belongs_to_key = link;
    return a;
  }
  a.scope = json::object{{rel->foreign_key, json::object{{"$eq", link}}}};
  a.fixed[rel->foreign_key] = link;
  return a;
}

}  // namespace

bool IsRecordAction(std::string_view action) {
  return action == "list" || action == "get" || action == "create" || action == "update" ||
         action == "destroy" || action == "firstOrCreate" || action == "updateOrCreate";
}

namespace {

// The record action itself, on `conn` (a request's own connection, or a cluster-wide change's).
Result<std::string> Perform(ActionRequest& req, db::Connection& conn) {
  const data::Schema& schema = *req.snapshot->schema;
  const std::string& action = req.route.action;
  Association assoc;
  const data::Collection* c = nullptr;
  if (req.route.is_association()) {
    ASSIGN_OR_RETURN(assoc, ResolveAssociation(schema, req.route, conn, req.access.get()));
    c = assoc.target;
    if (assoc.belongs_to && action != "get") {
      return InvalidArgument("a belongsTo association supports only get; use '" + c->name + ":" +
                             action + "' instead");
    }
  } else {
    c = schema.Find(req.route.resource);
    if (c == nullptr) return NotFound("collection '" + req.route.resource + "' not found");
  }
  ASSIGN_OR_RETURN(data::ReadSpec spec,
                   data::BuildReadSpec(schema, *c, req.params, req.access.get()));
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

  auto values_object = [&]() -> Result<json::object> {
    if (req.body.is_null()) return json::object();
    if (!req.body.is_object())
      return InvalidArgument(action + " expects the values as a JSON object");
    return req.body.as_object();
  };
  std::string body;
  if (action == "list") {
    RETURN_IF_ERROR(repo.List(spec, scope, &body));
  } else if (action == "get") {
    if (assoc.belongs_to) {
      if (assoc.belongs_to_key.is_null()) {
        body = "{\"data\":null}";
      } else {
        RETURN_IF_ERROR(repo.Get(spec, assoc.belongs_to_key, scope, &body));
      }
    } else {
      RETURN_IF_ERROR(repo.Get(spec, tk, scope, &body));
    }
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
