// One connection to a Redis server over hiredis, and the replies it returns.
//
// RedisConnection owns a blocking hiredis context: Open() connects, sends AUTH and SELECT as the
// URL asks, and sets the socket timeout; Command() sends one binary-safe command and waits for
// its reply. For subscriber connections, Send() / ReadSome() / TakeReply() split a command from
// its replies so that a caller can poll() the socket with other descriptors.
//
// How it fails: every I/O failure (refused, reset, closed, timed out) is Unavailable with
// "redis at host:port is unreachable: ..." and leaves the connection broken(); it is then only
// good for destruction. A server error reply is not a failure here: it comes back as a Reply of
// type kError. Bad credentials are Unauthenticated, a database index the server refuses is
// InvalidArgument.
//
// Writes never raise SIGPIPE (blocked in the writing thread for the duration): a reset
// connection is an Unavailable like any other I/O failure, not the end of the process.
//
// Not thread-safe: one thread at a time (RedisClient adds the lock and the reconnection).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/backoff.h"
#include "cluster/redis/redis_url.h"
#include "slipway/status.h"

struct redisContext;

namespace slipway::cluster::redis {

// An owned copy of a RESP2 reply.
struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };

  Type type = Type::kNil;
  int64_t integer = 0;          // kInteger
  std::string str;              // kString, kStatus ("OK"), kError ("WRONGTYPE ...")
  std::vector<Reply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  bool is_integer() const { return type == Type::kInteger; }
  bool is_string() const { return type == Type::kString; }
  bool is_status(std::string_view s) const { return type == Type::kStatus && str == s; }
  bool is_array() const { return type == Type::kArray; }
  // A short rendering for messages and test failures.
  std::string ToString() const;
};

class RedisConnection {
 public:
  // Connects within `timeout`, which also bounds every later read and write.
  static Result<std::unique_ptr<RedisConnection>> Open(const RedisUrl& url,
                                                       std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends `argv` (each argument binary-safe) and returns the reply.
  Result<Reply> Command(const std::vector<std::string>& argv);

  // Subscriber side. Send() writes a command without reading its reply. TakeReply() returns a
  // reply already read into the buffer, or nullopt when a ReadSome() is needed first; ReadSome()
  // does one read() and must be called only when fd() is readable (it would block otherwise).
  Status Send(const std::vector<std::string>& argv);
  Result<std::optional<Reply>> TakeReply();
  Status ReadSome();

  // True when the server closed the connection (or sent something unasked) while idle: checked
  // without blocking, so that a command is never sent on a connection known to be dead.
  bool PeerClosed() const;

  bool broken() const { return broken_; }
  int fd() const;
  const RedisUrl& url() const { return url_; }

 private:
  RedisConnection(redisContext* context, RedisUrl url);
  Status IoError(std::string_view what);

  redisContext* context_;  // owned; redisFree() in the destructor
  RedisUrl url_;
  bool broken_ = false;
};

// "redis at host:port is unreachable: <detail>" (Unavailable).
Status Unreachable(const RedisUrl& url, std::string_view detail);

}  // namespace slipway::cluster::redis
