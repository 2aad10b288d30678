#include "db/database.h"

namespace slipway::db {

std::string_view DialectName(Dialect dialect) {
  return dialect == Dialect::kSqlite ? "sqlite" : "postgres";
}

int ResultSet::ColumnIndex(std::string_view name) const {
  for (int i = 0; i < column_count(); ++i) {
    if (column_name(i) == name) return i;
  }
  return -1;
}

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    other.pool_ = nullptr;
  }
  return *this;
}

PooledConnection::~PooledConnection() { Release(); }

void PooledConnection::Release() {
  if (pool_ != nullptr && conn_) pool_->Return(std::move(conn_));
  pool_ = nullptr;
}

Pool::Pool(Dialect dialect, ConnectionFactory factory, int max_size)
    : dialect_(dialect), factory_(std::move(factory)), max_size_(max_size) {}

Pool::~Pool() = default;

Result<PooledConnection> Pool::Acquire(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (idle_.empty() && open_ >= max_size_) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= max_size_) {
      return Unavailable("no database connection free after " + std::to_string(timeout.count()) +
                         " ms (DB_POOL_MAX=" + std::to_string(max_size_) + ")");
    }
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return PooledConnection(this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  auto conn = factory_();
  if (!conn.ok()) {
    std::lock_guard relock(mu_);
    --open_;
    cv_.notify_one();
    return std::move(conn).TakeStatus();
  }
  return PooledConnection(this, std::move(conn).value());
}

void Pool::Return(std::unique_ptr<Connection> conn) {
  if (conn->healthy() && conn->in_transaction()) conn->Rollback().IgnoreError();
  bool keep = conn->healthy() && !conn->in_transaction();
  if (!keep) conn.reset();  // close outside the lock would be nicer; closing is quick
  std::lock_guard lock(mu_);
  if (keep) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

Result<Transaction> Transaction::Begin(Connection& conn) {
  RETURN_IF_ERROR(conn.Begin());
  return Transaction(&conn);
}

Transaction::~Transaction() {
  if (conn_ != nullptr && conn_->in_transaction()) conn_->Rollback().IgnoreError();
}

Status Transaction::Commit() {
  if (conn_ == nullptr) return Internal("transaction already finished");
  Connection* conn = conn_;
  conn_ = nullptr;
  Status status = conn->Commit();
  if (!status.ok() && conn->in_transaction()) conn->Rollback().IgnoreError();
  return status;
}

std::string QuoteIdent(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('"');
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace slipway::db
