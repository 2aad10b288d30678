#include "ops/http_probe.h"

#include <fstream>

#include "ops/net_client.h"

namespace slipway::ops {
namespace json = boost::json;

namespace {

// Percent-encodes a collection name for a URL path.
std::string PathSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

Result<json::value> Data(const HttpReply& reply, const std::string& what) {
  if (reply.status != 200) {
    return FailedPrecondition(
        what + " answered " + std::to_string(reply.status) + ": " + reply.body.substr(0, 300),
        "VERIFY_REQUEST");
  }
  boost::system::error_code ec;
  json::value v = json::parse(reply.body, ec);
  if (ec || !v.is_object())
    return FailedPrecondition(what + " did not answer JSON", "VERIFY_REQUEST");
  return v;
}

}  // namespace

Result<std::string> FirstLineOf(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return NotFound("cannot read " + file.string());
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

Result<int> HttpProbe::PortOf(const std::string& node) const {
  std::optional<ClusterNode> n = spec_.NodeById(node);
  if (!n) return NotFound("no node '" + node + "' in the spec");
  return n->port;
}

Result<std::string> HttpProbe::SignIn(int port) {
  std::string password;
  if (!spec_.verify_password_file.empty()) {
    ASSIGN_OR_RETURN(password, FirstLineOf(spec_.verify_password_file));
  } else {
    auto it = spec_.env.find("INIT_ROOT_PASSWORD");
    password = it != spec_.env.end() ? it->second : "admin123";
  }
  HttpCall call{.port = port, .method = "POST", .target = "/api/auth:signIn"};
  call.body =
      json::serialize(json::object{{"account", spec_.verify_account}, {"password", password}});
  call.headers = {{"X-Authenticator", "basic"}};
  ASSIGN_OR_RETURN(HttpReply reply, SendHttp(call));
  ASSIGN_OR_RETURN(json::value v, Data(reply, "signing in as " + spec_.verify_account));
  const json::value* token = v.as_object().if_contains("data");
  if (token == nullptr || !token->is_object() || !token->as_object().contains("token")) {
    return FailedPrecondition("signing in answered no token", "VERIFY_REQUEST");
  }
  return std::string(token->as_object().at("token").as_string());
}

Result<json::object> HttpProbe::Observe(const std::string& node, bool with_counts) {
  ASSIGN_OR_RETURN(int port, PortOf(node));
  ASSIGN_OR_RETURN(std::string token, SignIn(port));
  auto get = [&](const std::string& target) -> Result<json::value> {
    HttpCall call{.port = port, .target = target};
    call.headers = {{"Authorization", "Bearer " + token}};
    call.timeout = std::chrono::seconds(30);
    ASSIGN_OR_RETURN(HttpReply reply, SendHttp(call));
    return Data(reply, "GET " + target + " on " + node);
  };
  json::object out;
  ASSIGN_OR_RETURN(json::value info, get("/api/app:getInfo"));
  const json::value* version = info.as_object().at("data").as_object().if_contains("version");
  out["version"] = version != nullptr ? *version : json::value("");

  ASSIGN_OR_RETURN(json::value pm, get("/api/pm:list"));
  json::object plugins;
  for (const json::value& p : pm.as_object().at("data").as_array()) {
    const json::object& o = p.as_object();
    const json::value* enabled = o.if_contains("enabled");
    if (enabled == nullptr || !enabled->is_bool() || !enabled->as_bool()) continue;
    plugins[o.at("name").as_string()] = o.contains("version") ? o.at("version") : json::value("");
  }
  out["plugins"] = std::move(plugins);

  if (!with_counts) return out;
  ASSIGN_OR_RETURN(json::value collections, get("/api/collections:list?paginate=false"));
  json::object counts;
  for (const json::value& c : collections.as_object().at("data").as_array()) {
    const std::string name(c.as_object().at("name").as_string());
    ASSIGN_OR_RETURN(json::value page, get("/api/" + PathSegment(name) + ":list?count=exact"));
    const json::value* meta = page.as_object().if_contains("meta");
    const json::value* count =
        meta != nullptr && meta->is_object() ? meta->as_object().if_contains("count") : nullptr;
    counts[name] = count != nullptr ? *count : json::value(nullptr);
  }
  out["counts"] = std::move(counts);
  return out;
}

Status HttpProbe::Smoke(const std::string& node, const std::vector<SmokeRequest>& requests) {
  if (requests.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(int port, PortOf(node));
  ASSIGN_OR_RETURN(std::string token, SignIn(port));
  for (const SmokeRequest& r : requests) {
    HttpCall call{.port = port, .method = r.method, .target = r.path};
    call.headers = {{"Authorization", "Bearer " + token}};
    call.timeout = std::chrono::seconds(30);
    ASSIGN_OR_RETURN(HttpReply reply, SendHttp(call));
    if (reply.status != r.status) {
      return FailedPrecondition("smoke request " + r.method + " " + r.path + " on " + node +
                                    " answered " + std::to_string(reply.status) + ", not " +
                                    std::to_string(r.status) + ": " + reply.body.substr(0, 200),
                                "VERIFY_SMOKE");
    }
  }
  return Status::Ok();
}

}  // namespace slipway::ops
