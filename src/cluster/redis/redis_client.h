// RedisClient: a thread-safe Redis client that survives the server going away.
//
// It owns one connection (RedisConnection), opened on the first command and reopened when lost;
// callers on many threads take turns on it (a mutex). A lost connection is noticed either when a
// command fails on it, or before a command is sent, when the server closed it while idle (a
// restart): in that case the client reconnects at once and the command goes through.
//
// How it fails: while Redis cannot be reached every command fails with Unavailable ("redis at
// host:port is unreachable: ...") and reconnection attempts are spaced by exponential backoff
// (100 ms doubling to 5 s); a command in the backoff window fails at once without touching the
// network, so a down Redis costs a cheap failure, not a hang. Connecting, reading and writing are
// each bounded by `timeout` (2 s). A command that failed with an I/O error may or may not have run
// on the server. Each change between reachable and unreachable is logged once.
//
// Command() returns server error replies as a Reply of type kError; Call() turns them into a
// Status (Unauthenticated for NOAUTH/WRONGPASS, Unavailable for LOADING/BUSY/MASTERDOWN,
// Internal otherwise).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/redis/redis_connection.h"
#include "cluster/redis/redis_url.h"
#include "slipway/status.h"

namespace slipway::cluster::redis {

struct RedisClientOptions {
  std::string name = "redis";  // who uses the client, in log lines ("cache", "lock", ...)
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
};

class RedisClient {
 public:
  // Does not connect: the first command does.
  explicit RedisClient(RedisUrl url, RedisClientOptions options = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  Result<Reply> Command(std::vector<std::string> argv);
  // Command(), with an error reply returned as a Status naming the command.
  Result<Reply> Call(std::vector<std::string> argv);

  // For a status page. connected(): the last attempt left an open connection.
  bool connected() const;
  // Why the last command or connection attempt failed ("" when none has).
  std::string last_error() const;
  // How many times a lost connection was re-established.
  int64_t reconnects() const;
  const RedisUrl& url() const { return url_; }
  const RedisClientOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  // Returns an open connection, reconnecting when due. Called with mu_ held.
  Result<RedisConnection*> ConnectionLocked();
  void MarkLostLocked(const Status& why);

  const RedisUrl url_;
  const RedisClientOptions options_;
  mutable std::mutex mu_;
  // Guarded by mu_.
  std::unique_ptr<RedisConnection> conn_;
  Backoff backoff_;
  Clock::time_point next_attempt_{};  // no connection attempt before this
  Clock::time_point down_since_{};    // when the connection was lost (valid while down_)
  bool down_ = false;                 // unreachable, and that was logged
  bool ever_connected_ = false;
  std::string last_error_;
  int64_t reconnects_ = 0;
};

// Scripts for keys that hold an owner token (lock and worker-id leases): act only when the key
// still holds ARGV[1]; 1 when they acted, 0 when the key is gone or someone else's.
// ARGV[2] of the first is the new TTL in milliseconds.
inline constexpr std::string_view kExtendIfOwnerScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
inline constexpr std::string_view kDeleteIfOwnerScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end";

// The argv of EVAL with one key: {"EVAL", script, "1", key, args...}.
std::vector<std::string> EvalArgs(std::string_view script, std::string key,
                                  std::vector<std::string> args);

}  // namespace slipway::cluster::redis
