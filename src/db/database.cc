#include "db/database.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <utility>

#include "core/cancel.h"
#include "core/fiber.h"

namespace slipway::db {

// One I/O thread's connections for its fibers. Touched only by that thread.
struct FiberSet {
  std::vector<std::unique_ptr<Connection>> idle;
  int open = 0;
  std::deque<fiber::Waiter*> waiters;
  std::unique_ptr<Connection> reader;
};

namespace {
std::atomic<uint64_t> next_pool_id{1};
thread_local std::unordered_map<uint64_t, FiberSet*> t_sets;
}  // namespace

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
    set_ = other.set_;
    conn_ = std::move(other.conn_);
    shared_ = other.shared_;
    token_ = std::exchange(other.token_, nullptr);
    subscription_ = other.subscription_;
    other.pool_ = nullptr;
  }
  return *this;
}

void PooledConnection::Watch(core::CancelToken* token) {
  Connection* conn = get();
  token_ = token;
  subscription_ = token->Subscribe([conn] { conn->Interrupt(); });
}

PooledConnection::~PooledConnection() { Release(); }

void PooledConnection::Release() {
  // First: once the connection is back in the pool, nothing interrupts it.
  if (token_ != nullptr) std::exchange(token_, nullptr)->Unsubscribe(subscription_);
  if (pool_ != nullptr && conn_) {
    if (set_ != nullptr) {
      pool_->ReturnToSet(*set_, std::move(conn_));
    } else {
      pool_->Return(std::move(conn_));
    }
  }
  pool_ = nullptr;
  set_ = nullptr;
}

Pool::Pool(Dialect dialect, ConnectionFactory factory, int max_size, int per_thread)
    : dialect_(dialect),
      factory_(std::move(factory)),
      max_size_(max_size),
      per_thread_(per_thread),
      id_(next_pool_id.fetch_add(1)) {}

Pool::~Pool() = default;

FiberSet& Pool::ThisThreadSet() {
  auto it = t_sets.find(id_);
  if (it != t_sets.end()) return *it->second;
  std::lock_guard lock(mu_);
  sets_.push_back(std::make_unique<FiberSet>());
  t_sets[id_] = sets_.back().get();
  return *sets_.back();
}

Result<PooledConnection> Pool::AcquireInFiber(std::chrono::milliseconds timeout) {
  FiberSet& set = ThisThreadSet();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (set.idle.empty() && set.open >= per_thread_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    fiber::Waiter waiter;
    set.waiters.push_back(&waiter);
    if (left.count() <= 0 || !waiter.Wait(left)) {
      set.waiters.erase(std::find(set.waiters.begin(), set.waiters.end(), &waiter));
      if (set.idle.empty() && set.open >= per_thread_) {
        return Unavailable("no database connection free after " + std::to_string(timeout.count()) +
                           " ms (" + std::to_string(per_thread_) + " per I/O thread)");
      }
    }
  }
  if (!set.idle.empty()) {
    std::unique_ptr<Connection> conn = std::move(set.idle.back());
    set.idle.pop_back();
    return PooledConnection(this, std::move(conn), &set);
  }
  ++set.open;
  auto conn = factory_();  // suspends this fiber while it connects
  if (!conn.ok()) {
    --set.open;
    if (!set.waiters.empty()) set.waiters.front()->Wake();
    return std::move(conn).TakeStatus();
  }
  return PooledConnection(this, std::move(conn).value(), &set);
}

void Pool::ReturnToSet(FiberSet& set, std::unique_ptr<Connection> conn) {
  if (conn->healthy() && conn->in_transaction()) conn->Rollback().IgnoreError();
  if (conn->healthy() && !conn->in_transaction()) {
    set.idle.push_back(std::move(conn));
  } else {
    --set.open;
  }
  if (!set.waiters.empty()) {
    fiber::Waiter* next = set.waiters.front();
    set.waiters.pop_front();
    next->Wake();
  }
}

Result<PooledConnection> Pool::ForCurrentRequest(PooledConnection c) {
  core::CancelToken* token = core::CurrentCancel();
  if (token != nullptr && token->cancelled()) {
    return Aborted("the request was cancelled before its statement ran", kCancelled);
  }
  RETURN_IF_ERROR(c->SetStatementTimeout(token != nullptr ? token->statement_limit()
                                                          : std::chrono::milliseconds(0)));
  // A shared connection (the read pipeline) cancels its statements itself, one by one.
  if (token != nullptr && c.shared_ == nullptr) c.Watch(token);
  return c;
}

Result<PooledConnection> Pool::AcquireReader(std::chrono::milliseconds timeout) {
  if (!reader_factory_ || !fiber::InFiber()) return Acquire(timeout);
  FiberSet& set = ThisThreadSet();
  if (!set.reader) {
    ASSIGN_OR_RETURN(set.reader, reader_factory_());
  }
  return ForCurrentRequest(PooledConnection::Shared(set.reader.get()));
}

Result<PooledConnection> Pool::Acquire(std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(PooledConnection c, per_thread_ > 0 && fiber::InFiber()
                                           ? AcquireInFiber(timeout)
                                           : AcquireShared(timeout));
  return ForCurrentRequest(std::move(c));
}

Result<PooledConnection> Pool::AcquireShared(std::chrono::milliseconds timeout) {
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
