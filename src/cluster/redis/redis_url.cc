#include "cluster/redis/redis_url.h"

#include <boost/url/parse.hpp>
#include <charconv>

namespace slipway::cluster::redis {
namespace {

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string RedisUrl::Address() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<RedisUrl> ParseRedisUrl(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (parsed.has_error()) {
    return InvalidArgument("not a URL (expected redis://[[user]:password@]host[:port][/db])");
  }
  const boost::urls::url_view& u = *parsed;
  if (u.scheme() == "rediss") {
    return InvalidArgument("rediss:// (TLS) is not supported; use redis://");
  }
  if (u.scheme() != "redis") {
    return InvalidArgument("scheme must be redis://, not " + std::string(u.scheme()) + "://");
  }
  if (u.has_query() || u.has_fragment()) {
    return InvalidArgument("a redis:// URL takes no query or fragment");
  }
  RedisUrl url;
  url.host = u.host_address();
  if (url.host.empty()) return InvalidArgument("redis:// URL has no host");
  if (u.has_port()) {
    if (!ParseInt(u.port(), url.port) || url.port < 1 || url.port > 65535) {
      return InvalidArgument("port must be 1..65535, not '" + std::string(u.port()) + "'");
    }
  }
  if (u.has_userinfo()) {
    url.user = u.user();
    url.password = u.password();
    // redis://secret@host is how some tools write a password alone; treat it as one.
    if (!u.has_password()) std::swap(url.user, url.password);
  }
  std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/") {
    std::string_view db = path.substr(1);
    if (path[0] != '/' || !ParseInt(db, url.db) || url.db < 0) {
      return InvalidArgument("database must be a number (/0, /1, ...), not '" + std::string(path) +
                             "'");
    }
  }
  return url;
}

}  // namespace slipway::cluster::redis
