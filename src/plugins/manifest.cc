#include "plugins/manifest.h"

#include <boost/json.hpp>

namespace slipway::plugins {
namespace {

namespace json = boost::json;

// Larger numbers are typos, not API versions.
constexpr int64_t kMaxApiVersion = 1000000;

Status Refuse(std::string_view what) {
  return InvalidArgument("manifest.json: " + std::string(what));
}

// A string field; `required` decides whether absence is an error (absent optional: "").
Result<std::string> StringField(const json::object& obj, std::string_view key, bool required) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || v->is_null()) {
    if (required) return Refuse("\"" + std::string(key) + "\" is required");
    return std::string();
  }
  if (!v->is_string()) return Refuse("\"" + std::string(key) + "\" must be a string");
  return std::string(v->as_string());
}

// A path inside the package: relative, '/'-separated, no empty, "." or ".." parts.
bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos ||
      path.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

Result<int> ApiVersionField(const json::object& obj) {
  const json::value* v = obj.if_contains("api_version");
  if (v == nullptr) return Refuse("\"api_version\" is required");
  // Boost.JSON keeps every integer that fits in int64 as int64; uint64 means a larger one.
  if (!v->is_int64() && !v->is_uint64()) return Refuse("\"api_version\" must be an integer");
  if (v->is_uint64() || v->as_int64() < 1 || v->as_int64() > kMaxApiVersion) {
    return Refuse("\"api_version\" " + json::serialize(*v) + " is out of range");
  }
  return static_cast<int>(v->as_int64());
}

Result<std::vector<Dependency>> DependenciesField(const json::object& obj) {
  std::vector<Dependency> deps;
  const json::value* v = obj.if_contains("dependencies");
  if (v == nullptr || v->is_null()) return deps;
  if (!v->is_object()) {
    return Refuse("\"dependencies\" must be an object of plugin name to version range");
  }
  for (const auto& [key, range_value] : v->as_object()) {
    std::string name(key);
    if (!IsValidPluginName(name)) {
      return Refuse("dependencies: '" + name + "' is not a valid plugin name");
    }
    if (!range_value.is_string()) {
      return Refuse("dependencies: the version range of '" + name + "' must be a string");
    }
    auto range = core::SemVerRange::Parse(range_value.as_string());
    if (!range.ok()) return Refuse("dependencies: '" + name + "': " + range.status().message());
    deps.push_back({std::move(name), std::move(range).value()});
  }
  return deps;
}

Result<core::SemVerRange> AppVersionsField(const json::object& obj) {
  const json::value* snake = obj.if_contains("app_versions");
  const json::value* camel = obj.if_contains("appVersions");
  if (snake != nullptr && camel != nullptr) {
    return Refuse("give \"app_versions\" or \"appVersions\", not both");
  }
  const json::value* v = snake != nullptr ? snake : camel;
  const char* key = snake != nullptr ? "app_versions" : "appVersions";
  if (v == nullptr || v->is_null()) return core::SemVerRange();
  if (!v->is_string()) return Refuse("\"" + std::string(key) + "\" must be a string");
  auto range = core::SemVerRange::Parse(v->as_string());
  if (!range.ok()) return Refuse("\"" + std::string(key) + "\": " + range.status().message());
  return std::move(range).value();
}

}  // namespace

bool IsValidPluginName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPluginNameLength) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<Manifest> Manifest::Parse(std::string_view json_text) {
  boost::system::error_code ec;
  json::value root = json::parse(json_text, ec);
  if (ec) return Refuse("not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) return Refuse("must be a JSON object");
  const json::object& obj = root.as_object();

  Manifest m;
  ASSIGN_OR_RETURN(m.name, StringField(obj, "name", true));
  if (!IsValidPluginName(m.name)) {
    return Refuse("\"name\" '" + m.name +
                  "' must be lower-case letters, digits and '-', start with a letter and have at "
                  "most " +
                  std::to_string(kMaxPluginNameLength) + " characters");
  }
  ASSIGN_OR_RETURN(m.version_text, StringField(obj, "version", true));
  auto version = core::SemVer::Parse(m.version_text);
  if (!version.ok()) return Refuse("\"version\": " + version.status().message());
  m.version = *version;
  ASSIGN_OR_RETURN(m.api_version, ApiVersionField(obj));
  ASSIGN_OR_RETURN(m.description, StringField(obj, "description", false));
  ASSIGN_OR_RETURN(m.main, StringField(obj, "main", true));
  if (!IsSafeRelativePath(m.main)) {
    return Refuse("\"main\" '" + m.main +
                  "' must be a relative path inside the package (no leading '/', no '.' or '..' "
                  "parts)");
  }
  ASSIGN_OR_RETURN(m.dependencies, DependenciesField(obj));
  ASSIGN_OR_RETURN(m.app_versions, AppVersionsField(obj));
  return m;
}

}  // namespace slipway::plugins
