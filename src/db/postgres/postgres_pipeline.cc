#include "db/postgres/postgres_pipeline.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cancel.h"
#include "core/fiber.h"
#include "db/postgres/postgres_session.h"

namespace slipway::db {
namespace {

using postgres::PgConnPtr;
using postgres::PgResultPtr;

constexpr size_t kMaxStatements = 512;
// A read skipped because an earlier statement of its batch failed, or cancelled in passing by
// a cancel meant for another request, is sent again this often. Cancels are bounded (three per
// cancelled request), and several requests cancelled at once (clients closing together) can
// send a handful that land on the same later statements.
constexpr int kMaxAttempts = 10;

class PostgresPipeline final : public Connection {
 public:
  explicit PostgresPipeline(PostgresOptions options)
      : options_(std::move(options)), where_(options_.Describe()) {
    options_.statement_timeout_ms = 0;  // until the pool says (SetStatementTimeout)
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  bool healthy() const override { return true; }  // it reconnects by itself
  bool in_transaction() const override { return false; }
  Status ExecScript(std::string_view) override { return Refuse("scripts"); }
  Status Begin() override { return Refuse("transactions"); }
  Status Commit() override { return Refuse("transactions"); }
  Status Rollback() override { return Refuse("transactions"); }

  Result<std::unique_ptr<ResultSet>> Query(std::string_view sql,
                                           std::span<const Value> params) override {
    if (!fiber::InFiber()) return Internal("the PostgreSQL read pipeline serves fibers only");
    core::CancelToken* token = core::CurrentCancel();
    if (token != nullptr && token->cancelled()) {
      return Aborted("the request was cancelled before its statement ran", db::kCancelled);
    }
    RETURN_IF_ERROR(Connected());
    Request q{std::string(sql), params};
    // A cancel comes from this thread (the request's connection, core/cancel.h), while this
    // fiber waits: it never races with the pipeline's own work.
    const uint64_t subscription =
        token != nullptr ? token->Subscribe([this, &q] { Cancel(q); }) : 0;
    Send(q);
    while (!q.done) q.waiter.Wait(std::chrono::hours(1));
    if (token != nullptr) token->Unsubscribe(subscription);
    if (!q.status.ok()) return q.status;
    return postgres::WrapResult(std::move(q.result));
  }

  // The limit applies from the next connection on (it is a connection option): the pipeline
  // serves API reads only, whose limit is the node's DB_STATEMENT_TIMEOUT.
  Status SetStatementTimeout(std::chrono::milliseconds limit) override {
    options_.statement_timeout_ms = limit.count();
    return Status::Ok();
  }

 private:
  struct Statement {
    std::string sql;
    std::string name;
    int params = 0;
    bool failed = false;
    Status error;  // why its preparation failed
    // Its preparation was skipped (an earlier statement of the batch failed) or cancelled in
    // passing: the statements that use it are sent again, with a new preparation.
    bool skipped = false;
  };

  // One fiber's statement; lives on that fiber's stack until `done`.
  struct Request {
    std::string sql;
    std::span<const Value> params;
    std::shared_ptr<Statement> statement;  // null: sent unnamed
    int attempts = 0;
    bool cancel_wanted = false;  // Cancel()
    int cancels = 0;             // cancel requests sent for it
    bool done = false;
    Status status;
    PgResultPtr result;
    fiber::Waiter waiter;
  };

  // What the server will answer, in order.
  struct Slot {
    enum Kind { kPrepare, kQuery, kSync } kind;
    Request* request = nullptr;            // kQuery
    std::shared_ptr<Statement> statement;  // kPrepare
    PgResultPtr result;                    // its first result
    bool got = false;
  };

  static Status Refuse(const char* what) {
    return Internal(std::string("the PostgreSQL read pipeline runs no ") + what);
  }

  Status Connected() {
    while (connecting_) {  // another fiber of this thread is connecting: wait for it
      fiber::Waiter w;
      connect_waiters_.push_back(&w);
      w.Wait(std::chrono::seconds(options_.connect_timeout_s + 1));
      std::erase(connect_waiters_, &w);
    }
    if (conn_) return Status::Ok();
    connecting_ = true;
    auto opened = postgres::Connect(options_, options_.application_name + " (reads)");
    connecting_ = false;
    for (fiber::Waiter* w : connect_waiters_) w->Wake();
    if (!opened.ok()) return opened.status();
    PgConnPtr conn = std::move(opened).value();
    if (PQsetnonblocking(conn.get(), 1) != 0 || PQenterPipelineMode(conn.get()) != 1) {
      return Unavailable("cannot enter pipeline mode on " + where_ + ": " +
                             postgres::OneLine(PQerrorMessage(conn.get())),
                         db::kDatabaseUnavailable);
    }
    cancel_.reset(PQgetCancel(conn.get()), PQfreeCancel);
    conn_ = std::move(conn);
    return Status::Ok();
  }

  // The request's client went away: the server is asked to cancel what it runs. That is this
  // request's statement or one sent before it in the same batch (the server answers a batch at
  // its Sync, so which one runs cannot be seen from here). A statement of another request
  // cancelled that way is sent again (Finish), and the cancel follows (CancelAgainIfWanted).
  void Cancel(Request& q) {
    if (q.done || q.cancel_wanted) return;
    q.cancel_wanted = true;
    ++q.cancels;
    postgres::SendCancel(cancel_);
  }

  // After a statement was answered, or cancelled in passing: the first statement still awaited
  // may be one whose cancel reached the server before it ran (several requests cancelled at
  // once, a shutdown): it is cancelled again, at most three times in all.
  void CancelAgainIfWanted() {
    for (Slot& s : slots_) {
      if (s.kind != Slot::kQuery || s.request->done) continue;
      if (!s.request->cancel_wanted || s.request->cancels >= 3) return;
      ++s.request->cancels;
      postgres::SendCancel(cancel_);
      return;
    }
  }

  std::shared_ptr<Statement> StatementFor(const std::string& sql) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    if (statements_.size() >= kMaxStatements) return nullptr;
    auto s = std::make_shared<Statement>();
    s->sql = sql;
    s->name = "r" + std::to_string(++statement_counter_);
    s->params = CountPlaceholders(sql);
    if (!PQsendPrepare(conn_.get(), s->name.c_str(), sql.c_str(), 0, nullptr)) return nullptr;
    slots_.push_back(Slot{Slot::kPrepare, nullptr, s});
    statements_.emplace(sql, s);
    return s;
  }

  // Queues the request's statement; it goes out with the next Sync.
  void Send(Request& q) {
    if (!conn_) {
      Complete(
          q,
          Unavailable("connection to PostgreSQL at " + where_ + " lost", db::kDatabaseUnavailable),
          nullptr);
      return;
    }
    q.statement = StatementFor(q.sql);
    const size_t n = q.statement ? static_cast<size_t>(q.statement->params)
                                 : static_cast<size_t>(CountPlaceholders(q.sql));
    if (q.params.size() < n) {
      Complete(q,
               Internal("statement expects " + std::to_string(n) + " parameters, got " +
                        std::to_string(q.params.size())),
               nullptr);
      return;
    }
    postgres::TextParams text(q.params.first(n));
    int sent = q.statement
                   ? PQsendQueryPrepared(conn_.get(), q.statement->name.c_str(), text.size(),
                                         text.values(), text.lengths(), nullptr, 0)
                   : PQsendQueryParams(conn_.get(), q.sql.c_str(), text.size(), nullptr,
                                       text.values(), text.lengths(), nullptr, 0);
    if (!sent) {
      Lost(postgres::OneLine(PQerrorMessage(conn_.get())));
      if (!q.done)
        Complete(q,
                 Unavailable("connection to PostgreSQL at " + where_ + " lost",
                             db::kDatabaseUnavailable),
                 nullptr);
      return;
    }
    slots_.push_back(Slot{Slot::kQuery, &q, nullptr});
    if (!sync_scheduled_) {
      sync_scheduled_ = true;
      fiber::Defer([this] { Sync(); });
    }
  }

  // Closes the batch: one Sync for every statement queued in this turn of the loop.
  void Sync() {
    sync_scheduled_ = false;
    if (!conn_) return;
    if (PQpipelineSync(conn_.get()) != 1) {
      Lost(postgres::OneLine(PQerrorMessage(conn_.get())));
      return;
    }
    slots_.push_back(Slot{Slot::kSync});
    if (!reading_) {
      reading_ = true;
      fiber::Spawn([this] {
        Read();
        retired_.reset();
        reading_ = false;
      });
    }
  }

  // Sends what libpq still holds and hands out answers until none is awaited.
  void Read() {
    while (conn_ && !slots_.empty()) {
      int flushed = PQflush(conn_.get());
      if (flushed < 0) {
        Lost(postgres::OneLine(PQerrorMessage(conn_.get())));
        return;
      }
      int fd = PQsocket(conn_.get());
      Status ready = flushed == 1 ? fiber::WaitWritable(fd) : fiber::WaitReadable(fd);
      if (retired_) {  // lost (and perhaps replaced) while this fiber waited on its socket
        retired_.reset();
        continue;
      }
      if (!ready.ok()) {
        Lost(ready.message());
        return;
      }
      if (!PQconsumeInput(conn_.get())) {
        Lost(postgres::OneLine(PQerrorMessage(conn_.get())));
        return;
      }
      Drain();
    }
  }

  void Drain() {
    while (conn_ && !slots_.empty() && !PQisBusy(conn_.get())) {
      Slot& s = slots_.front();
      PGresult* r = PQgetResult(conn_.get());
      if (s.kind == Slot::kSync) {
        if (r == nullptr) return;
        const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync) slots_.pop_front();
        continue;
      }
      if (r != nullptr) {  // a statement's result; a NULL follows it
        if (!s.got) {
          s.result.reset(r);
          s.got = true;
        } else {
          PQclear(r);
        }
        continue;
      }
      if (!s.got) return;
      Slot done = std::move(s);
      slots_.pop_front();
      Finish(done);
      CancelAgainIfWanted();
    }
  }

  void Finish(Slot& s) {
    const PGresult* r = s.result.get();
    if (s.kind == Slot::kPrepare) {
      if (!postgres::Succeeded(r) && r != nullptr &&
          (PQresultStatus(r) == PGRES_PIPELINE_ABORTED || postgres::CancelledByRequest(r))) {
        s.statement->skipped = true;
        Forget(s.statement);
        return;
      }
      if (!postgres::Succeeded(r)) {
        bool lost = false;
        s.statement->failed = true;
        s.statement->error = postgres::ErrorFrom(conn_.get(), r, where_, &lost);
        Forget(s.statement);
        if (lost) Lost(s.statement->error.message());
      }
      return;
    }
    Request& q = *s.request;
    if (q.statement && q.statement->failed) {
      Complete(q, q.statement->error, nullptr);
      return;
    }
    if (q.statement && q.statement->skipped && !postgres::Succeeded(r)) {
      if (q.cancel_wanted) {
        Complete(q, Aborted("the request was cancelled", db::kCancelled), nullptr);
      } else if (++q.attempts < kMaxAttempts) {
        Send(q);
      } else {
        Complete(q, Aborted("the read was skipped " + std::to_string(q.attempts) + " times"),
                 nullptr);
      }
      return;
    }
    if (postgres::Succeeded(r)) {
      Complete(q, Status::Ok(), std::move(s.result));
      return;
    }
    // A cancel meant for the statement before it that arrived late: not this one's failure.
    const bool cancelled_in_passing = !q.cancel_wanted && postgres::CancelledByRequest(r);
    const bool skipped =
        r != nullptr && (PQresultStatus(r) == PGRES_PIPELINE_ABORTED || cancelled_in_passing);
    const bool forgotten = r != nullptr && postgres::StatementInvalidated(r);
    if ((skipped || forgotten) && ++q.attempts < kMaxAttempts) {
      if (forgotten && q.statement) Forget(q.statement);
      Send(q);
      return;
    }
    bool lost = false;
    Status error = skipped ? Aborted("the read was skipped " + std::to_string(q.attempts) +
                                     " times after other statements failed")
                           : postgres::ErrorFrom(conn_.get(), r, where_, &lost);
    Complete(q, error, nullptr);
    if (lost) Lost(error.message());
  }

  void Forget(const std::shared_ptr<Statement>& s) {
    auto it = statements_.find(s->sql);
    if (it != statements_.end() && it->second == s) statements_.erase(it);
  }

  static void Complete(Request& q, Status status, PgResultPtr result) {
    q.status = std::move(status);
    q.result = std::move(result);
    q.done = true;
    q.waiter.Wake();
  }

  // Fails every statement in flight; the next Query connects again.
  void Lost(const std::string& why) {
    Status error = Unavailable("connection to PostgreSQL at " + where_ + " lost: " + why,
                               db::kDatabaseUnavailable);
    if (reading_) {
      // The reader waits on this socket: shutting it down wakes it, and it closes it after.
      ::shutdown(PQsocket(conn_.get()), SHUT_RDWR);
      retired_ = std::move(conn_);
    }
    conn_.reset();
    statements_.clear();
    std::deque<Slot> slots = std::move(slots_);
    slots_.clear();
    for (Slot& s : slots) {
      if (s.kind == Slot::kQuery && !s.request->done) Complete(*s.request, error, nullptr);
    }
  }

  PostgresOptions options_;
  const std::string where_;
  PgConnPtr conn_;
  std::shared_ptr<PGcancel> cancel_;  // of conn_
  PgConnPtr retired_;                 // lost while the reader waited on it; the reader closes it
  bool connecting_ = false;
  std::vector<fiber::Waiter*> connect_waiters_;
  std::unordered_map<std::string, std::shared_ptr<Statement>> statements_;
  uint64_t statement_counter_ = 0;
  std::deque<Slot> slots_;
  bool sync_scheduled_ = false;
  bool reading_ = false;
};

}  // namespace

std::unique_ptr<Connection> MakePostgresPipeline(const PostgresOptions& options) {
  return std::make_unique<PostgresPipeline>(options);
}

int CountPlaceholders(std::string_view sql) {
  int highest = 0;
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: same result
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      int n = 0;
      while (i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
        n = n * 10 + (sql[++i] - '0');
        if (n > 65535) break;
      }
      highest = std::max(highest, n);
    }
  }
  return highest;
}

}  // namespace slipway::db
