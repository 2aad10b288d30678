#include "db/sqlite/sqlite_connection.h"

#include <sqlite3.h>

#include <charconv>
#include <chrono>
#include <deque>
#include <unordered_map>

namespace slipway::db {
namespace {

Status ErrorFrom(sqlite3* db, int rc, std::string_view what) {
  int extended = db ? sqlite3_extended_errcode(db) : rc;
  std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (extended) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return AlreadyExists(message, "UNIQUE_VIOLATION");
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_CHECK:
      return InvalidArgument(message);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return FailedPrecondition(message, "FOREIGN_KEY_VIOLATION");
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable("database is busy: " + message);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Unavailable(std::string(what) + ": " + message);
    case SQLITE_CONSTRAINT:
      return InvalidArgument(message);
    default:
      return Internal(std::string(what) + ": " + message);
  }
}

struct Cell {
  CellKind kind = CellKind::kNull;
  int64_t i = 0;
  double d = 0;
  std::string text;  // text and blob bytes; numbers are formatted here lazily
  bool text_ready = false;
};

class SqliteResultSet final : public ResultSet {
 public:
  int row_count() const override { return rows_; }
  int column_count() const override { return static_cast<int>(names_.size()); }
  std::string_view column_name(int col) const override { return names_[col]; }
  int64_t affected_rows() const override { return affected_; }

  CellKind Kind(int row, int col) const override { return At(row, col).kind; }
  std::string_view Text(int row, int col) const override {
    Cell& c = At(row, col);
    if (!c.text_ready) {
      if (c.kind == CellKind::kInteger) {
        c.text = std::to_string(c.i);
      } else if (c.kind == CellKind::kReal) {
        char buf[32];
        auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), c.d);
        c.text.assign(buf, p);
      }
      c.text_ready = true;
    }
    return c.text;
  }
  int64_t Int(int row, int col) const override {
    const Cell& c = At(row, col);
    if (c.kind == CellKind::kInteger) return c.i;
    if (c.kind == CellKind::kReal) return static_cast<int64_t>(c.d);
    int64_t v = 0;
    std::from_chars(c.text.data(), c.text.data() + c.text.size(), v);
    return v;
  }
  double Double(int row, int col) const override {
    const Cell& c = At(row, col);
    if (c.kind == CellKind::kReal) return c.d;
    if (c.kind == CellKind::kInteger) return static_cast<double>(c.i);
    double v = 0;
    std::from_chars(c.text.data(), c.text.data() + c.text.size(), v);
    return v;
  }
  bool Bool(int row, int col) const override {
    const Cell& c = At(row, col);
    if (c.kind == CellKind::kInteger) return c.i != 0;
    if (c.kind == CellKind::kReal) return c.d != 0;
    return c.text == "1" || c.text == "true" || c.text == "t";
  }

  void SetColumns(sqlite3_stmt* stmt) {
    int n = sqlite3_column_count(stmt);
    names_.reserve(n);
    for (int i = 0; i < n; ++i) names_.emplace_back(sqlite3_column_name(stmt, i));
  }
  void AppendRow(sqlite3_stmt* stmt) {
    int n = column_count();
    for (int i = 0; i < n; ++i) {
      Cell& c = cells_.emplace_back();
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_INTEGER:
          c.kind = CellKind::kInteger;
          c.i = sqlite3_column_int64(stmt, i);
          break;
        case SQLITE_FLOAT:
          c.kind = CellKind::kReal;
          c.d = sqlite3_column_double(stmt, i);
          break;
        case SQLITE_TEXT:
          c.kind = CellKind::kText;
          c.text.assign(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                        sqlite3_column_bytes(stmt, i));
          c.text_ready = true;
          break;
        case SQLITE_BLOB:
          c.kind = CellKind::kBlob;
          c.text.assign(static_cast<const char*>(sqlite3_column_blob(stmt, i)),
                        sqlite3_column_bytes(stmt, i));
          c.text_ready = true;
          break;
        default:
          c.text_ready = true;
          break;
      }
    }
    ++rows_;
  }
  void set_affected(int64_t n) { affected_ = n; }

 private:
  Cell& At(int row, int col) const {
    return cells_[static_cast<size_t>(row) * names_.size() + col];
  }

  std::vector<std::string> names_;
  mutable std::deque<Cell> cells_;  // deque: stable addresses for string_views handed out
  int rows_ = 0;
  int64_t affected_ = 0;
};

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(sqlite3* db, std::shared_ptr<std::mutex> write_lock)
      : db_(db), write_lock_(std::move(write_lock)) {}
  ~SqliteConnection() override {
    if (held_) write_lock_->unlock();
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  bool healthy() const override { return healthy_; }

  // sqlite3_interrupt may be called from any thread while the connection is open.
  void Interrupt() override { sqlite3_interrupt(db_); }
  // SQLite has no statement timeout: a progress handler (Configure) interrupts a statement
  // that runs past the deadline its start set.
  Status SetStatementTimeout(std::chrono::milliseconds limit) override {
    limit_ = limit;
    return Status::Ok();
  }
  bool in_transaction() const override { return sqlite3_get_autocommit(db_) == 0; }

  Result<std::unique_ptr<ResultSet>> Query(std::string_view sql,
                                           std::span<const Value> params) override {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    int expected = sqlite3_bind_parameter_count(stmt);
    if (static_cast<int>(params.size()) < expected) {
      return Internal("statement expects " + std::to_string(expected) + " parameters, got " +
                      std::to_string(params.size()));
    }
    for (size_t i = 0; i < params.size() && static_cast<int>(i) < expected; ++i) {
      int idx = static_cast<int>(i) + 1;
      int rc = std::visit(
          [&](const auto& v) -> int {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
              return sqlite3_bind_null(stmt, idx);
            } else if constexpr (std::is_same_v<T, bool>) {
              return sqlite3_bind_int(stmt, idx, v ? 1 : 0);
            } else if constexpr (std::is_same_v<T, int64_t>) {
              return sqlite3_bind_int64(stmt, idx, v);
            } else if constexpr (std::is_same_v<T, double>) {
              return sqlite3_bind_double(stmt, idx, v);
            } else {
              return sqlite3_bind_text(stmt, idx, v.data(), static_cast<int>(v.size()),
                                       SQLITE_TRANSIENT);
            }
          },
          params[i]);
      if (rc != SQLITE_OK) return ErrorFrom(db_, rc, "bind");
    }
    auto result = std::make_unique<SqliteResultSet>();
    result->SetColumns(stmt);
    // A write outside a transaction holds the writer lock for its one statement.
    std::unique_lock<std::mutex> writing;
    if (write_lock_ && !held_ && sqlite3_stmt_readonly(stmt) == 0)
      writing = std::unique_lock(*write_lock_);
    Limit limited(*this);
    while (true) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        result->AppendRow(stmt);
      } else if (rc == SQLITE_DONE) {
        break;
      } else {
        Status status = StepError(rc, "query");
        sqlite3_reset(stmt);
        return status;
      }
    }
    result->set_affected(sqlite3_column_count(stmt) == 0 || sqlite3_stmt_readonly(stmt) == 0
                             ? sqlite3_changes64(db_)
                             : 0);
    sqlite3_reset(stmt);
    return std::unique_ptr<ResultSet>(std::move(result));
  }

  Status ExecScript(std::string_view sql) override {
    std::unique_lock<std::mutex> writing;
    if (write_lock_ && !held_) writing = std::unique_lock(*write_lock_);
    return Exec(sql);
  }

  Status Begin() override {
    if (write_lock_ && !held_) {
      write_lock_->lock();
      held_ = true;
    }
    Status s = Exec("BEGIN IMMEDIATE");
    if (!s.ok()) ReleaseIfIdle();
    return s;
  }
  Status Commit() override {
    Status s = Exec("COMMIT");
    ReleaseIfIdle();
    return s;
  }
  Status Rollback() override {
    Status s = Exec("ROLLBACK");
    ReleaseIfIdle();
    return s;
  }

  Status Configure(const SqliteOptions& options) {
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    sqlite3_progress_handler(db_, 1000, &SqliteConnection::Progress, this);
    sqlite3_extended_result_codes(db_, 1);
    // A double-quoted name that is not a column must be an error, not a string literal (SQLite's
    // legacy fallback): a statement racing a column's removal would otherwise read the column's
    // name as its value.
    for (int option : {SQLITE_DBCONFIG_DQS_DML, SQLITE_DBCONFIG_DQS_DDL}) {
      int rc = sqlite3_db_config(db_, option, 0, nullptr);
      if (rc != SQLITE_OK) return ErrorFrom(db_, rc, "turn off double-quoted string literals");
    }
    std::string pragmas = "PRAGMA foreign_keys=ON; PRAGMA synchronous=" + options.synchronous + ";";
    if (options.path != ":memory:") pragmas += "PRAGMA journal_mode=WAL;";
    return Exec(pragmas);
  }

 private:
  void ReleaseIfIdle() {
    if (held_ && sqlite3_get_autocommit(db_) != 0) {
      held_ = false;
      write_lock_->unlock();
    }
  }

  // The statement limit for the statement (or script) it spans.
  class Limit {
   public:
    explicit Limit(SqliteConnection& c) : c_(c) {
      c_.timed_out_ = false;
      c_.deadline_ = c_.limit_.count() > 0 ? Clock::now() + c_.limit_ : Clock::time_point::max();
    }
    ~Limit() { c_.deadline_ = Clock::time_point::max(); }

   private:
    SqliteConnection& c_;
  };
  using Clock = std::chrono::steady_clock;

  static int Progress(void* self) {
    auto* c = static_cast<SqliteConnection*>(self);
    if (Clock::now() <= c->deadline_) return 0;
    c->timed_out_ = true;
    return 1;  // SQLITE_INTERRUPT
  }

  Status StepError(int rc, std::string_view what) {
    if ((rc & 0xff) == SQLITE_INTERRUPT) {
      if (timed_out_) {
        return DeadlineExceeded(
            "the statement ran past its limit of " + std::to_string(limit_.count()) + " ms",
            db::kStatementTimeout);
      }
      return Aborted("the statement was interrupted", db::kCancelled);
    }
    return ErrorFrom(db_, rc, what);
  }

  Status Exec(std::string_view sql) {
    std::string text(sql);
    char* err = nullptr;
    Limit limited(*this);
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      Status status = StepError(rc, "script");
      sqlite3_free(err);
      return status;
    }
    // DDL may have changed what cached statements refer to; SQLite re-prepares them itself.
    return Status::Ok();
  }

  static constexpr size_t kMaxCachedStatements = 512;

  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    auto it = statements_.find(std::string(sql));
    if (it != statements_.end()) return it->second;
    if (statements_.size() >= kMaxCachedStatements) {
      for (auto& [text, stmt] : statements_) sqlite3_finalize(stmt);
      statements_.clear();
    }
    std::string translated = TranslatePlaceholdersForSqlite(sql);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, translated.c_str(), static_cast<int>(translated.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return ErrorFrom(db_, rc, "prepare");
    if (stmt == nullptr) return Internal("prepare: empty statement");
    statements_.emplace(std::string(sql), stmt);
    return stmt;
  }

  sqlite3* db_;
  std::shared_ptr<std::mutex> write_lock_;  // shared with the pool's other connections
  bool held_ = false;                       // this connection holds write_lock_ (a transaction)
  bool healthy_ = true;
  std::chrono::milliseconds limit_{0};                     // SetStatementTimeout
  Clock::time_point deadline_ = Clock::time_point::max();  // of the statement running
  bool timed_out_ = false;                                 // Progress interrupted it
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

std::string TranslatePlaceholdersForSqlite(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;  // a doubled quote re-enters on the next char: same result
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      c = '?';
    }
    out.push_back(c);
  }
  return out;
}

Result<std::unique_ptr<Connection>> OpenSqlite(const SqliteOptions& options) {
  if (options.path != ":memory:") {
    std::error_code ec;
    std::filesystem::create_directories(options.path.parent_path().empty()
                                            ? std::filesystem::path(".")
                                            : options.path.parent_path(),
                                        ec);
    if (ec) {
      return Unavailable("cannot create directory for " + options.path.string() + ": " +
                         ec.message());
    }
  }
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = Unavailable("cannot open SQLite database " + options.path.string() + ": " +
                                    (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)),
                                db::kDatabaseUnavailable);
    sqlite3_close_v2(db);
    return status;
  }
  auto conn = std::make_unique<SqliteConnection>(db, options.write_lock);
  RETURN_IF_ERROR(conn->Configure(options).WithContext("configure " + options.path.string()));
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace slipway::db
