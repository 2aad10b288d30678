#include "data/read_spec.h"

#include "core/parse.h"

namespace slipway::data {
namespace json = boost::json;

Result<std::vector<std::string>> ListParam(const json::object& params, std::string_view key) {
  std::vector<std::string> out;
  auto it = params.find(key);
  if (it == params.end() || it->value().is_null()) return out;
  auto add_csv = [&](std::string_view s) {
    size_t start = 0;
    while (start <= s.size()) {
      size_t comma = s.find(',', start);
      if (comma == std::string_view::npos) comma = s.size();
      std::string_view item = s.substr(start, comma - start);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (!item.empty()) out.emplace_back(item);
      start = comma + 1;
    }
  };
  const json::value& v = it->value();
  if (v.is_string()) {
    add_csv(v.as_string());
  } else if (v.is_array()) {
    for (const json::value& item : v.as_array()) {
      if (!item.is_string()) {
        return InvalidArgument("'" + std::string(key) + "' must be a list of names");
      }
      add_csv(item.as_string());
    }
  } else {
    return InvalidArgument("'" + std::string(key) + "' must be a list of names");
  }
  return out;
}

Result<json::value> FilterParam(const json::object& params) {
  auto it = params.find("filter");
  if (it == params.end() || it->value().is_null()) return json::value(nullptr);
  const json::value& v = it->value();
  if (v.is_string()) {
    if (v.as_string().empty()) return json::value(nullptr);
    return ParseFilterJson(v.as_string());
  }
  if (!v.is_object()) return InvalidArgument("filter: must be a JSON object");
  return v;
}

namespace {

Result<int64_t> IntParam(const json::object& params, std::string_view key, int64_t fallback,
                         int64_t min, int64_t max) {
  auto it = params.find(key);
  if (it == params.end() || it->value().is_null()) return fallback;
  const json::value& v = it->value();
  int64_t n = 0;
  bool ok = false;
  if (v.is_int64()) {
    n = v.as_int64();
    ok = true;
  } else if (v.is_string()) {
    std::string_view s = v.as_string();
    if (s.empty()) return fallback;
    ok = core::ParseInt64(s, &n);
  }
  if (!ok || n < min || n > max) {
    return InvalidArgument("'" + std::string(key) + "' must be a whole number from " +
                           std::to_string(min) + " to " + std::to_string(max) + ", got " +
                           json::serialize(v));
  }
  return n;
}

// The view permission of `c` for `access` (everything without one).
Permission ViewPermission(const RecordAccess* access, const Collection& c) {
  return access == nullptr ? Permission::All() : access->Check(c, "view");
}

// The visible, permitted columns of a collection, in definition order.
std::vector<const Field*> VisibleColumns(const Collection& c, const Permission& view) {
  std::vector<const Field*> out;
  for (const Field* f : c.ColumnFields()) {
    if (!f->hidden() && view.AllowsField(f->name)) out.push_back(f);
  }
  return out;
}

// Adds `path` under `nodes`. A relation the caller may not follow (not in the parent's permitted
// fields, or a target it may not view) is left out with everything below it, as NocoBase does.
Status AddAppend(const Schema& schema, const Collection& root, const Permission& root_view,
                 std::string_view path, std::vector<AppendNode>* nodes, int depth,
                 const RecordAccess* access) {
  if (depth > 4)
    return InvalidArgument("appends: '" + std::string(path) + "' is nested deeper than 4");
  size_t dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  const Field* rel = root.FindField(head);
  if (rel == nullptr) {
    return InvalidArgument("appends: unknown relation '" + root.name + "." + std::string(head) +
                           "'");
  }
  if (!IsRelation(rel->type)) {
    return InvalidArgument("appends: '" + root.name + "." + std::string(head) +
                           "' is not a relation");
  }
  const Collection* target = schema.Find(rel->target);
  if (target == nullptr)
    return Internal("relation target '" + rel->target + "' missing from the schema");
  if (!root_view.AllowsField(rel->name)) return Status::Ok();
  Permission target_view = ViewPermission(access, *target);
  if (!target_view.allowed) return Status::Ok();
  AppendNode* node = nullptr;
  for (AppendNode& n : *nodes) {
    if (n.relation == rel) node = &n;
  }
  if (node == nullptr) {
    nodes->push_back({rel, target, VisibleColumns(*target, target_view), target_view.scope, {}});
    node = &nodes->back();
  }
  if (dot == std::string_view::npos) return Status::Ok();
  return AddAppend(schema, *target, target_view, path.substr(dot + 1), &node->children, depth + 1,
                   access);
}

}  // namespace

Result<ReadSpec> BuildReadSpec(const Schema& schema, const Collection& c,
                               const json::object& params, const RecordAccess* access) {
  ReadSpec spec;
  spec.collection = &c;
  Permission view = ViewPermission(access, c);
  if (!view.allowed) {
    // May act on the collection without viewing it: the answer names the record, nothing more.
    view.allowed = true;
    view.fields = std::set<std::string>{c.primary_key};
  }

  ASSIGN_OR_RETURN(auto fields, ListParam(params, "fields"));
  ASSIGN_OR_RETURN(auto except, ListParam(params, "except"));
  ASSIGN_OR_RETURN(auto appends, ListParam(params, "appends"));
  for (const std::string& name : fields) {  // a relation named in `fields` is appended
    const Field* f = c.FindField(name);
    if (f != nullptr && IsRelation(f->type)) appends.push_back(name);
  }
  for (const std::string& path : appends) {
    RETURN_IF_ERROR(AddAppend(schema, c, view, path, &spec.appends, 1, access));
  }

  auto wanted = [&](const Field& f) {
    if (f.hidden() || !view.AllowsField(f.name)) return false;
    for (const auto& e : except) {
      if (e == f.name) return false;
    }
    if (fields.empty()) return true;
    for (const auto& n : fields) {
      if (n == f.name) return true;
    }
    return false;
  };
  for (const std::string& name : fields) {
    const Field* f = c.FindField(name);
    if (f == nullptr) return InvalidArgument("fields: unknown field '" + c.name + "." + name + "'");
    if (f->hidden()) return InvalidArgument("fields: '" + c.name + "." + name + "' cannot be read");
  }
  for (const std::string& name : except) {
    if (c.FindField(name) == nullptr)
      return InvalidArgument("except: unknown field '" + c.name + "." + name + "'");
  }
  for (const Field* f : c.ColumnFields()) {
    if (wanted(*f)) spec.columns.push_back(f);
  }
  // Appends need their keys even when `fields` left them out.
  auto ensure = [&](const std::string& column) {
    const Field* f = c.FindField(column);
    if (f == nullptr) return;
    for (const Field* have : spec.columns) {
      if (have == f) return;
    }
    spec.columns.push_back(f);
  };
  for (const AppendNode& n : spec.appends) {
    ensure(n.relation->local_key());
  }
  // Every field asked for may be one the caller cannot see: a record is still its key.
  if (spec.columns.empty()) ensure(c.primary_key);

  ASSIGN_OR_RETURN(auto sort, ListParam(params, "sort"));
  const Field* pk = c.PrimaryKey();
  bool has_pk = false;
  for (std::string name : sort) {
    bool desc = false;
    if (!name.empty() && (name[0] == '-' || name[0] == '+')) {
      desc = name[0] == '-';
      name.erase(0, 1);
    }
    const Field* f = c.FindField(name);
    if (f == nullptr) {
      if (name.find('.') != std::string::npos) {
        return InvalidArgument("sort: sorting by a related collection's field ('" + name +
                               "') is not supported");
      }
      return InvalidArgument("sort: unknown field '" + c.name + "." + name + "'");
    }
    if (!f->has_column() || f->hidden())
      return InvalidArgument("sort: cannot sort by '" + c.name + "." + name + "'");
    if (!view.AllowsField(f->name))
      return NoPermission(*access, "sort by '" + c.name + "." + name + "'");
    spec.sort.push_back({f, desc});
    if (f == pk) has_pk = true;
  }
  if (pk != nullptr && !has_pk) spec.sort.push_back({pk, false});  // stable pages

  ASSIGN_OR_RETURN(Pagination pages, PaginationParams(params));
  spec.page = pages.page;
  spec.page_size = pages.page_size;
  spec.paginate = pages.paginate;
  spec.count = pages.count;
  spec.cursor = pages.cursor;
  if (spec.cursor && pk == nullptr) {
    return InvalidArgument("cursor: collection '" + c.name +
                           "' has no primary key to page by; use page");
  }
  ASSIGN_OR_RETURN(spec.filter, FilterParam(params));
  return spec;
}

Result<Pagination> PaginationParams(const json::object& params) {
  Pagination out;
  ASSIGN_OR_RETURN(out.page, IntParam(params, "page", 1, 1, 1'000'000'000));
  ASSIGN_OR_RETURN(out.page_size, IntParam(params, "pageSize", 20, 1, kMaxPageSize));
  if (auto it = params.find("paginate"); it != params.end()) {
    const json::value& v = it->value();
    if ((v.is_bool() && !v.as_bool()) || (v.is_string() && v.as_string() == "false")) {
      out.paginate = false;
    }
  }
  if (auto it = params.find("count"); it != params.end()) {
    const json::value& v = it->value();
    if (v.is_string() && v.as_string() == "exact") {
      out.count = CountMode::kExact;
    } else if (v.is_string() && v.as_string() == "none") {
      out.count = CountMode::kNone;
    } else {
      return InvalidArgument("count: '" +
                             (v.is_string() ? std::string(v.as_string()) : json::serialize(v)) +
                             "' is not exact or none");
    }
  }
  if (auto it = params.find("cursor"); it != params.end()) {
    if (!it->value().is_string()) return InvalidArgument("cursor: must be text");
    out.cursor = std::string(it->value().as_string());
    if (params.contains("page") && out.page != 1) {
      return InvalidArgument("cursor: a list pages by cursor or by page, not both");
    }
    if (!out.paginate) return InvalidArgument("cursor: paginate=false has no pages");
  }
  return out;
}

}  // namespace slipway::data
