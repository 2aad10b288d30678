// PostgresListener: one libpq session of its own that LISTENs on channels and hands over the
// notifications the server sends it (PostgreSQL's LISTEN/NOTIFY), for the cluster's sync bus
// (src/cluster/database/postgres_sync_bus.h).
//
// Every call is bounded by the timeout it is given; none retries. A session the server ended
// (pg_terminate_backend, a restart, a network error) makes the call that notices it fail with
// Unavailable naming host:port/database and libpq's reason; the object is then useless and the
// caller opens a new one (and LISTENs again: the server forgot the old session's channels).
// Notifications sent while no session listened are lost: NOTIFY keeps nothing for absent
// listeners.
//
// Not thread-safe: one thread owns a listener. Never use one in a fiber (its waits block).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "db/postgres/postgres_connection.h"
#include "slipway/status.h"

namespace slipway::db {

struct PostgresNotification {
  std::string channel;
  std::string payload;
  int sender_pid = 0;  // the backend that sent it
};

class PostgresListener {
 public:
  // Connects with `application_name` (shown in pg_stat_activity). Unavailable when it cannot.
  static Result<std::unique_ptr<PostgresListener>> Open(const PostgresOptions& options,
                                                        std::string_view application_name);
  ~PostgresListener();
  PostgresListener(const PostgresListener&) = delete;
  PostgresListener& operator=(const PostgresListener&) = delete;

  // LISTEN on `channel` (any text: it is quoted as an identifier, case kept).
  Status Listen(std::string_view channel, std::chrono::milliseconds timeout);
  // Waits up to `timeout` for notifications, or until `wake_fd` (-1: none) is readable; returns
  // what arrived, maybe nothing. It does not read `wake_fd`.
  Result<std::vector<PostgresNotification>> Wait(std::chrono::milliseconds timeout, int wake_fd);
  // A round trip (SELECT 1): Unavailable when the server does not answer within `timeout`.
  // Notifications that arrive meanwhile are kept for the next Wait().
  Status Ping(std::chrono::milliseconds timeout);
  // The server process of this session (pg_stat_activity.pid).
  int backend_pid() const;

 private:
  struct Impl;
  explicit PostgresListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slipway::db
