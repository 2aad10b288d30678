// Where a Redis server is and how to log in: NocoBase's REDIS_URL form,
//
//   redis://[[user]:password@]host[:port][/db]
//
// `redis://:secret@cache:6379/2` logs in with AUTH secret and selects database 2;
// `redis://alice:secret@cache` uses ACL AUTH alice secret. User and password may be
// percent-encoded. TLS (`rediss://`) and Unix sockets are not supported: hiredis 0.14 has no TLS.
//
// A plain value; parsing fails with InvalidArgument saying what was wrong (never echoing the
// password).
#pragma once

#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::cluster::redis {

struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;

  // "host:port", for messages and logs (no credentials).
  std::string Address() const;
};

Result<RedisUrl> ParseRedisUrl(std::string_view url);

}  // namespace slipway::cluster::redis
