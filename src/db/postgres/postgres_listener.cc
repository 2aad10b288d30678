#include "db/postgres/postgres_listener.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "db/postgres/postgres_session.h"

namespace slipway::db {

using postgres::OneLine;
using postgres::PgConnPtr;
using postgres::PgResultPtr;
using Clock = std::chrono::steady_clock;

struct PostgresListener::Impl {
  PostgresOptions options;
  PgConnPtr conn;
  std::vector<PostgresNotification> pending;  // arrived during a round trip

  Status Lost(std::string_view what) const {
    std::string why = OneLine(PQerrorMessage(conn.get()));
    if (why.empty()) why = "the server closed the session";
    return Unavailable("LISTEN session on " + options.Describe() + " lost (" + std::string(what) +
                       "): " + why);
  }

  // Moves what libpq has parsed into `pending`.
  void TakeNotifications() {
    while (PGnotify* n = PQnotifies(conn.get())) {
      pending.push_back({n->relname, n->extra != nullptr ? n->extra : "", n->be_pid});
      PQfreemem(n);
    }
  }

  // Reads what the socket has. A session the server ended shows up here.
  Status ReadInput(std::string_view what) {
    if (PQconsumeInput(conn.get()) == 0 || PQstatus(conn.get()) != CONNECTION_OK) {
      return Lost(what);
    }
    TakeNotifications();
    return Status::Ok();
  }

  // Polls the session's socket (and `wake_fd`) until readable or `deadline`; true when the
  // session's socket is readable.
  Result<bool> PollUntil(Clock::time_point deadline, int wake_fd, std::string_view what) {
    int fd = PQsocket(conn.get());
    if (fd < 0) return Lost(what);
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      int n =
          ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return Unavailable("LISTEN session on " + options.Describe() +
                           ": poll failed: " + std::strerror(errno));
      }
      if (fds[0].revents != 0) return true;
      return false;  // woken, or the time is up
    }
  }

  // Sends `sql` and waits for its completion within `timeout`.
  Status RoundTrip(const std::string& sql, std::chrono::milliseconds timeout, ExecStatusType ok) {
    auto deadline = Clock::now() + timeout;
    if (PQsendQuery(conn.get(), sql.c_str()) == 0) return Lost(sql);
    while (true) {
      int flushed = PQflush(conn.get());
      if (flushed < 0) return Lost(sql);
      if (flushed == 0) break;
      pollfd p{PQsocket(conn.get()), POLLOUT, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
        return Unavailable("LISTEN session on " + options.Describe() + ": could not send '" + sql +
                           "' within " + std::to_string(timeout.count()) + " ms");
      }
    }
    Status failure;
    while (true) {
      RETURN_IF_ERROR(ReadInput(sql));
      while (PQisBusy(conn.get()) == 0) {
        PgResultPtr r(PQgetResult(conn.get()));
        if (r == nullptr) return failure;
        if (PQresultStatus(r.get()) != ok && failure.ok()) {
          failure = Unavailable("'" + sql + "' on " + options.Describe() +
                                " failed: " + OneLine(PQresultErrorMessage(r.get())));
        }
      }
      ASSIGN_OR_RETURN(bool readable, PollUntil(deadline, -1, sql));
      if (!readable) {
        return Unavailable("LISTEN session on " + options.Describe() + ": no answer to '" + sql +
                           "' within " + std::to_string(timeout.count()) + " ms");
      }
    }
  }
};

PostgresListener::PostgresListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresListener::~PostgresListener() = default;

Result<std::unique_ptr<PostgresListener>> PostgresListener::Open(
    const PostgresOptions& options, std::string_view application_name) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ASSIGN_OR_RETURN(impl->conn, postgres::Connect(options, application_name));
  if (PQsetnonblocking(impl->conn.get(), 1) != 0) return impl->Lost("set non-blocking");
  return std::unique_ptr<PostgresListener>(new PostgresListener(std::move(impl)));
}

Status PostgresListener::Listen(std::string_view channel, std::chrono::milliseconds timeout) {
  char* quoted = PQescapeIdentifier(impl_->conn.get(), channel.data(), channel.size());
  if (quoted == nullptr) return impl_->Lost("quote a channel name");
  std::string sql = std::string("LISTEN ") + quoted;
  PQfreemem(quoted);
  return impl_->RoundTrip(sql, timeout, PGRES_COMMAND_OK);
}

Status PostgresListener::Ping(std::chrono::milliseconds timeout) {
  return impl_->RoundTrip("SELECT 1", timeout, PGRES_TUPLES_OK);
}

Result<std::vector<PostgresNotification>> PostgresListener::Wait(std::chrono::milliseconds timeout,
                                                                 int wake_fd) {
  if (impl_->pending.empty()) {
    ASSIGN_OR_RETURN(bool readable, impl_->PollUntil(Clock::now() + timeout, wake_fd,
                                                     "waiting for notifications"));
    if (readable) RETURN_IF_ERROR(impl_->ReadInput("waiting for notifications"));
  }
  std::vector<PostgresNotification> out;
  out.swap(impl_->pending);
  return out;
}

int PostgresListener::backend_pid() const { return PQbackendPID(impl_->conn.get()); }

}  // namespace slipway::db
