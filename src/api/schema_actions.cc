#include "api/schema_actions.h"

#include "data/read_spec.h"
#include "http/error_response.h"

namespace slipway::api {
namespace json = boost::json;

namespace {

// NocoBase's paginated envelope over an in-memory list.
Result<http::Response> Page(json::array items, const json::object& params) {
  ASSIGN_OR_RETURN(data::Pagination pages, data::PaginationParams(params));
  if (!pages.paginate) return http::DataResponse(items);
  const int64_t page = pages.page, page_size = pages.page_size;
  int64_t count = static_cast<int64_t>(items.size());
  json::array slice;
  for (int64_t i = (page - 1) * page_size; i < std::min(count, page * page_size); ++i)
    slice.push_back(items[i]);
  json::object meta{{"count", count},
                    {"page", page},
                    {"pageSize", page_size},
                    {"totalPage", (count + page_size - 1) / page_size}};
  return http::DataResponse(slice, meta);
}

Result<std::string> NameParam(const ActionRequest& req, std::string_view what) {
  auto it = req.params.find("filterByTk");
  if (it == req.params.end() || !it->value().is_string() || it->value().as_string().empty()) {
    return InvalidArgument(std::string(what) + " needs filterByTk (the name)");
  }
  return std::string(it->value().as_string());
}

Result<json::object> BodyObject(const ActionRequest& req) {
  if (!req.body.is_object())
    return InvalidArgument(req.route.Key() + " expects a JSON object body");
  return req.body.as_object();
}

bool WantsFields(const ActionRequest& req) {
  auto appends = data::ListParam(req.params, "appends");
  if (!appends.ok()) return false;
  for (const auto& a : *appends) {
    if (a == "fields") return true;
  }
  return false;
}

// A schema without a field or collection whose column or table is dropped later (services.h).
SnapshotUpdate Removal(std::shared_ptr<const data::Schema> next) {
  SnapshotUpdate u;
  u.schema = std::move(next);
  u.removals = true;
  return u;
}

const data::Collection* FindCollection(const ActionRequest& req, std::string_view name) {
  return req.snapshot->schema ? req.snapshot->schema->Find(name) : nullptr;
}

}  // namespace

void RegisterSchemaActions(ActionRegistry& r, std::function<bool(std::string_view)> reserved) {
  auto read = [](ActionFn fn) {
    return Action{std::move(fn), RunsOn::kWorker, Access::kSignedIn, "", /*safe=*/true};
  };
  // NocoBase's collection manager permission.
  auto change = [](ActionFn fn) {
    return Action{std::move(fn), RunsOn::kWorker, Access::kConfigure, "pm.data-source-manager"};
  };

  r.Add("collections", "list", read([](ActionRequest& req) -> Result<http::Response> {
          json::array items;
          bool fields = WantsFields(req);
          for (const auto& [name, c] : req.snapshot->schema->collections()) {
            items.push_back(data::CollectionToJson(*c, fields));
          }
          return Page(std::move(items), req.params);
        }));
  r.Add("collections", "get", read([](ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, NameParam(req, "collections:get"));
          const data::Collection* c = FindCollection(req, name);
          if (c == nullptr) return NotFound("collection '" + name + "' not found");
          return http::DataResponse(data::CollectionToJson(*c, WantsFields(req)));
        }));
  r.Add("collections", "create", change([reserved](ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(json::object def, BodyObject(req));
          if (auto it = def.find("name");
              it != def.end() && it->value().is_string() && reserved(it->value().as_string())) {
            return InvalidArgument("collection name '" + std::string(it->value().as_string()) +
                                   "' is reserved for a built-in resource");
          }
          std::shared_ptr<const data::Schema> created;
          RETURN_IF_ERROR(req.services.ApplyChange(
              [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
                ASSIGN_OR_RETURN(created,
                                 now.schema_store->CreateCollection(conn, *now.schema, def));
                return SnapshotUpdate{created, nullptr};
              }));
          std::string name(def.at("name").as_string());
          return http::DataResponse(data::CollectionToJson(*created->Find(name), true));
        }));
  r.Add("collections", "update", change([](ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, NameParam(req, "collections:update"));
          ASSIGN_OR_RETURN(json::object values, BodyObject(req));
          std::shared_ptr<const data::Schema> next;
          RETURN_IF_ERROR(req.services.ApplyChange(
              [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
                ASSIGN_OR_RETURN(
                    next, now.schema_store->UpdateCollection(conn, *now.schema, name, values));
                return SnapshotUpdate{next, nullptr};
              }));
          return http::DataResponse(json::array{data::CollectionToJson(*next->Find(name), false)});
        }));
  r.Add("collections", "destroy", change([](ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(std::string name, NameParam(req, "collections:destroy"));
          req.hold.reset();  // see ActionRequest::hold
          RETURN_IF_ERROR(req.services.ApplyChange(
              [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
                ASSIGN_OR_RETURN(auto next,
                                 now.schema_store->DestroyCollection(conn, *now.schema, name));
                return Removal(std::move(next));
              }));
          return http::DataResponse(1);
        }));

  auto collection_of = [](const ActionRequest& req) -> Result<const data::Collection*> {
    const data::Collection* c = FindCollection(req, req.route.source_index);
    if (c == nullptr) return NotFound("collection '" + req.route.source_index + "' not found");
    return c;
  };
  r.Add("collections.fields", "list",
        read([collection_of](ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(const data::Collection* c, collection_of(req));
          json::array items;
          for (const data::Field& f : c->fields) items.push_back(data::FieldToJson(f, c->name));
          return Page(std::move(items), req.params);
        }));
  r.Add("collections.fields", "get",
        read([collection_of](ActionRequest& req) -> Result<http::Response> {
          ASSIGN_OR_RETURN(const data::Collection* c, collection_of(req));
          ASSIGN_OR_RETURN(std::string name, NameParam(req, "fields:get"));
          const data::Field* f = c->FindField(name);
          if (f == nullptr) return NotFound("field '" + c->name + "." + name + "' not found");
          return http::DataResponse(data::FieldToJson(*f, c->name));
        }));
  r.Add("collections.fields", "create", change([](ActionRequest& req) -> Result<http::Response> {
          std::string collection = req.route.source_index;
          ASSIGN_OR_RETURN(json::object def, BodyObject(req));
          std::shared_ptr<const data::Schema> next;
          RETURN_IF_ERROR(req.services.ApplyChange(
              [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
                ASSIGN_OR_RETURN(next,
                                 now.schema_store->CreateField(conn, *now.schema, collection, def));
                return SnapshotUpdate{next, nullptr};
              }));
          std::string name = def.contains("name") && def.at("name").is_string()
                                 ? std::string(def.at("name").as_string())
                                 : "";
          const data::Field* f = next->Find(collection)->FindField(name);
          return http::DataResponse(f ? json::value(data::FieldToJson(*f, collection))
                                      : json::value(nullptr));
        }));
  r.Add("collections.fields", "update", change([](ActionRequest& req) -> Result<http::Response> {
          std::string collection = req.route.source_index;
          ASSIGN_OR_RETURN(std::string name, NameParam(req, "fields:update"));
          ASSIGN_OR_RETURN(json::object values, BodyObject(req));
          std::shared_ptr<const data::Schema> next;
          RETURN_IF_ERROR(req.services.ApplyChange(
              [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
                ASSIGN_OR_RETURN(next, now.schema_store->UpdateField(conn, *now.schema, collection,
                                                                     name, values));
                return SnapshotUpdate{next, nullptr};
              }));
          std::string final_name = values.contains("name") && values.at("name").is_string()
                                       ? std::string(values.at("name").as_string())
                                       : name;
          const data::Field* f = next->Find(collection)->FindField(final_name);
          return http::DataResponse(json::array{f ? json::value(data::FieldToJson(*f, collection))
                                                  : json::value(nullptr)});
        }));
  r.Add("collections.fields", "destroy", change([](ActionRequest& req) -> Result<http::Response> {
          std::string collection = req.route.source_index;
          ASSIGN_OR_RETURN(std::string name, NameParam(req, "fields:destroy"));
          req.hold.reset();  // see ActionRequest::hold
          RETURN_IF_ERROR(req.services.ApplyChange(
              [&](db::Connection& conn, const Snapshot& now) -> Result<SnapshotUpdate> {
                ASSIGN_OR_RETURN(
                    auto next, now.schema_store->DestroyField(conn, *now.schema, collection, name));
                return Removal(std::move(next));
              }));
          return http::DataResponse(1);
        }));
}

}  // namespace slipway::api
