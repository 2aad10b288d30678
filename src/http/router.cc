#include "http/router.h"

#include <vector>

namespace slipway::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string DefaultAction(Method method, bool has_index) {
  switch (method) {
    case Method::kGet:
    case Method::kHead:
      return has_index ? "get" : "list";
    case Method::kPost:
      return "create";
    case Method::kPut:
    case Method::kPatch:
      return "update";
    case Method::kDelete:
      return "destroy";
    default:
      return "";
  }
}

// Splits "name:action" into its parts; action is empty when there is no colon.
Status SplitAction(std::string_view segment, std::string_view* name, std::string_view* action) {
  size_t colon = segment.find(':');
  if (colon == std::string_view::npos) {
    *name = segment;
    *action = {};
    return Status::Ok();
  }
  *name = segment.substr(0, colon);
  *action = segment.substr(colon + 1);
  if (!IsValidName(*action)) {
    return InvalidArgument("'" + std::string(*action) + "' is not a valid action name");
  }
  return Status::Ok();
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  char first = name[0];
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_')) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<Route> ParseRoute(Method method, std::string_view path) {
  std::vector<std::string_view> parts = SplitPath(path);
  if (parts.empty() || parts.size() > 4) {
    return NotFound("no resource at '/" + std::string(path) + "'");
  }
  Route route;
  std::string_view action;
  // The action may sit on any segment that names a resource; an index may follow it.
  std::string_view first_name;
  RETURN_IF_ERROR(SplitAction(parts[0], &first_name, &action));
  if (!IsValidName(first_name)) {
    return InvalidArgument("'" + std::string(first_name) + "' is not a valid resource name");
  }
  if (parts.size() <= 2) {
    route.resource = std::string(first_name);
    if (parts.size() == 2) route.index = std::string(parts[1]);
  } else {
    if (!action.empty()) {
      return InvalidArgument("unexpected action on '" + std::string(parts[0]) + "'");
    }
    route.source = std::string(first_name);
    route.source_index = std::string(parts[1]);
    std::string_view assoc;
    RETURN_IF_ERROR(SplitAction(parts[2], &assoc, &action));
    if (!IsValidName(assoc)) {
      return InvalidArgument("'" + std::string(assoc) + "' is not a valid association name");
    }
    route.association = std::string(assoc);
    route.resource = route.source + "." + route.association;
    if (parts.size() == 4) route.index = std::string(parts[3]);
  }
  if (route.index.find(':') != std::string::npos) {
    return InvalidArgument("unexpected ':' in '" + route.index + "'");
  }
  route.action = action.empty() ? DefaultAction(method, !route.index.empty()) : std::string(action);
  if (route.action.empty()) {
    return InvalidArgument("method " + std::string(MethodName(method)) +
                           " needs an explicit action (e.g. '" + route.resource + ":list')");
  }
  return route;
}

}  // namespace slipway::http
