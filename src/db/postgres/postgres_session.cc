#include "db/postgres/postgres_session.h"

#include <charconv>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/fiber.h"

namespace slipway::db::postgres {
namespace {

void IgnoreNotice(void*, const char*) {}

// Type OIDs from pg_type.dat; stable across server versions.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kJsonOid = 114;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kJsonbOid = 3802;

CellKind KindOfType(Oid type) {
  switch (type) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
      return CellKind::kInteger;
    case kFloat4Oid:
    case kFloat8Oid:
      return CellKind::kReal;
    case kBoolOid:
      return CellKind::kBool;
    case kJsonOid:
    case kJsonbOid:
      return CellKind::kJson;
    case kByteaOid:
      return CellKind::kBlob;
    default:
      return CellKind::kText;  // numeric included: its text keeps every digit
  }
}

// Cells in PostgreSQL's text output, read by column kind: a query's result (PGresult) and a
// batch of COPY rows share every conversion, so that a value reads the same either way.
class TextCellResultSet : public ResultSet {
 public:
  int column_count() const override { return static_cast<int>(kinds_.size()); }

  CellKind Kind(int row, int col) const override {
    return IsNull(row, col) ? CellKind::kNull : kinds_[col];
  }

  std::string_view Text(int row, int col) const override {
    if (kinds_[col] == CellKind::kBlob && !IsNull(row, col)) return Bytes(row, col);
    return Raw(row, col);
  }

  int64_t Int(int row, int col) const override {
    switch (kinds_[col]) {
      case CellKind::kBool:
        return Bool(row, col) ? 1 : 0;
      case CellKind::kReal:
        return static_cast<int64_t>(Double(row, col));
      default: {
        std::string_view t = Raw(row, col);
        int64_t v = 0;
        std::from_chars(t.data(), t.data() + t.size(), v);
        return v;
      }
    }
  }

  double Double(int row, int col) const override {
    if (kinds_[col] == CellKind::kBool) return Bool(row, col) ? 1 : 0;
    std::string_view t = Raw(row, col);
    double v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);  // also reads NaN and [-]Infinity
    return v;
  }

  bool Bool(int row, int col) const override {
    std::string_view t = Raw(row, col);
    switch (kinds_[col]) {
      case CellKind::kBool:
        return t == "t";
      case CellKind::kInteger:
      case CellKind::kReal:
        return Double(row, col) != 0;
      default:
        return t == "t" || t == "true" || t == "1";
    }
  }

 protected:
  explicit TextCellResultSet(std::vector<CellKind> kinds) : kinds_(std::move(kinds)) {}
  virtual std::string_view Raw(int row, int col) const = 0;
  virtual bool IsNull(int row, int col) const = 0;

 private:
  // bytea arrives hex-escaped ("\x0aff"); Text() hands out the bytes, decoded on first use.
  std::string_view Bytes(int row, int col) const {
    int64_t key = static_cast<int64_t>(row) * column_count() + col;
    auto it = bytes_.find(key);
    if (it == bytes_.end()) {
      std::string raw(Raw(row, col));
      size_t length = 0;
      unsigned char* decoded_raw =
          PQunescapeBytea(reinterpret_cast<const unsigned char*>(raw.c_str()), &length);
      std::string decoded;
      if (decoded_raw != nullptr)
        decoded.assign(reinterpret_cast<const char*>(decoded_raw), length);
      PQfreemem(decoded_raw);
      // unordered_map nodes never move, so the views handed out stay valid.
      it = bytes_.emplace(key, std::move(decoded)).first;
    }
    return it->second;
  }

  std::vector<CellKind> kinds_;
  mutable std::unordered_map<int64_t, std::string> bytes_;
};

std::vector<CellKind> KindsOf(const PGresult* r) {
  std::vector<CellKind> kinds;
  kinds.reserve(PQnfields(r));
  for (int c = 0; c < PQnfields(r); ++c) kinds.push_back(KindOfType(PQftype(r, c)));
  return kinds;
}

class PostgresResultSet final : public TextCellResultSet {
 public:
  explicit PostgresResultSet(PgResultPtr result)
      : TextCellResultSet(KindsOf(result.get())), result_(std::move(result)) {
    PGresult* r = result_.get();
    rows_ = PQntuples(r);
    // PQcmdTuples also counts the rows a SELECT returned; the interface wants 0 for those.
    if (std::strncmp(PQcmdStatus(r), "SELECT", 6) != 0) {
      std::string_view n = PQcmdTuples(r);
      std::from_chars(n.data(), n.data() + n.size(), affected_);
    }
  }

  int row_count() const override { return rows_; }
  std::string_view column_name(int col) const override { return PQfname(result_.get(), col); }
  int64_t affected_rows() const override { return affected_; }

 private:
  std::string_view Raw(int row, int col) const override {
    return {PQgetvalue(result_.get(), row, col),
            static_cast<size_t>(PQgetlength(result_.get(), row, col))};
  }
  bool IsNull(int row, int col) const override { return PQgetisnull(result_.get(), row, col); }

  PgResultPtr result_;
  int rows_ = 0;
  int64_t affected_ = 0;
};

// Rows of COPY's text format, unescaped into one buffer; column names and kinds from the
// statement's description.
class CopyRowsResultSet final : public TextCellResultSet {
 public:
  CopyRowsResultSet(std::vector<CellKind> kinds, std::vector<std::string> names)
      : TextCellResultSet(std::move(kinds)), names_(std::move(names)) {}

  // Adds one row (without its newline); InvalidArgument when it has the wrong number of cells.
  Status AddRow(std::string_view line) {
    const size_t columns = names_.size();
    size_t col = 0;
    size_t i = 0;
    while (true) {
      if (col >= columns) return Internal("a COPY row has more cells than columns");
      const char* tab =
          static_cast<const char*>(std::memchr(line.data() + i, '\t', line.size() - i));
      const size_t end = tab != nullptr ? static_cast<size_t>(tab - line.data()) : line.size();
      std::string_view cell = line.substr(i, end - i);
      if (cell == "\\N") {
        cells_.push_back({0, 0, true});
      } else if (cell.find('\\') == std::string_view::npos) {
        cells_.push_back({data_.size(), cell.size(), false});
        data_.append(cell);
      } else {
        const size_t start = data_.size();
        for (size_t k = 0; k < cell.size(); ++k) {
          char c = cell[k];
          if (c == '\\' && k + 1 < cell.size()) {
            switch (cell[++k]) {
              case 'n':
                c = '\n';
                break;
              case 't':
                c = '\t';
                break;
              case 'r':
                c = '\r';
                break;
              case 'b':
                c = '\b';
                break;
              case 'f':
                c = '\f';
                break;
              case 'v':
                c = '\v';
                break;
              default:
                c = cell[k];
            }
          }
          data_.push_back(c);
        }
        cells_.push_back({start, data_.size() - start, false});
      }
      ++col;
      if (tab == nullptr) break;
      i = end + 1;
    }
    if (col != columns) return Internal("a COPY row has fewer cells than columns");
    ++rows_;
    return Status::Ok();
  }
  size_t bytes() const { return data_.size(); }
  void Reserve(size_t bytes) {
    data_.reserve(bytes + (64 << 10));
    cells_.reserve(bytes / 16);
  }

  int row_count() const override { return rows_; }
  std::string_view column_name(int col) const override { return names_[col]; }
  int64_t affected_rows() const override { return 0; }

 private:
  struct Cell {
    size_t offset, length;
    bool null;
  };
  const Cell& At(int row, int col) const {
    return cells_[static_cast<size_t>(row) * names_.size() + static_cast<size_t>(col)];
  }
  std::string_view Raw(int row, int col) const override {
    const Cell& c = At(row, col);
    return std::string_view(data_).substr(c.offset, c.length);
  }
  bool IsNull(int row, int col) const override { return At(row, col).null; }

  std::vector<std::string> names_;
  std::string data_;
  std::vector<Cell> cells_;
  int rows_ = 0;
};

// PQconnectdbParams, but a fiber waits for the server without blocking its thread.
PGconn* ConnectInFiber(const char* const* keys, const char* const* values,
                       std::chrono::milliseconds timeout) {
  PGconn* conn = PQconnectStartParams(keys, values, /*expand_dbname=*/0);
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) return conn;
  PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
  while (poll != PGRES_POLLING_OK && poll != PGRES_POLLING_FAILED) {
    Status ready = poll == PGRES_POLLING_READING ? fiber::WaitReadable(PQsocket(conn), timeout)
                                                 : fiber::WaitWritable(PQsocket(conn), timeout);
    if (!ready.ok()) return conn;  // still not CONNECTION_OK: the caller reports it
    poll = PQconnectPoll(conn);
  }
  return conn;
}

}  // namespace

PgResultPtr Await(PGconn* conn, int sent) {
  if (!sent) return nullptr;
  PgResultPtr kept;
  while (true) {
    while (PQisBusy(conn)) {
      if (!fiber::WaitReadable(PQsocket(conn)).ok() || !PQconsumeInput(conn)) return nullptr;
    }
    PGresult* r = PQgetResult(conn);
    if (r == nullptr) return kept;
    ExecStatusType s = PQresultStatus(r);
    const bool kept_failed = kept != nullptr && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR;
    if (kept_failed) {
      PQclear(r);
    } else {
      kept.reset(r);
    }
    if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) return kept;
  }
}

TextParams::TextParams(std::span<const Value> params)
    : values_(params.size()), lengths_(params.size()), numbers_(params.size()) {
  for (size_t i = 0; i < params.size(); ++i) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            values_[i] = nullptr;
          } else if constexpr (std::is_same_v<T, bool>) {
            values_[i] = v ? "true" : "false";
            lengths_[i] = v ? 4 : 5;
          } else if constexpr (std::is_same_v<T, std::string>) {
            values_[i] = v.c_str();
            lengths_[i] = static_cast<int>(v.size());
          } else {  // int64_t, double: shortest text that reads back exactly
            auto [end, ec] = std::to_chars(numbers_[i].data(), numbers_[i].data() + 31, v);
            *end = '\0';
            values_[i] = numbers_[i].data();
            lengths_[i] = static_cast<int>(end - numbers_[i].data());
          }
        },
        params[i]);
  }
}

bool Succeeded(const PGresult* r) {
  if (r == nullptr) return false;
  ExecStatusType s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

namespace {
std::string_view SqlState(const PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}
}  // namespace

bool ServerForgotStatement(PGconn* conn, const PGresult* r) {
  return PQtransactionStatus(conn) == PQTRANS_IDLE && StatementInvalidated(r);
}

bool StatementInvalidated(const PGresult* r) {
  std::string_view state = SqlState(r);
  if (state == "26000") return true;  // invalid_sql_statement_name
  const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  return state == "0A000" && primary != nullptr &&
         std::strstr(primary, "cached plan must not change result type") != nullptr;
}

Status ErrorFrom(PGconn* conn, const PGresult* r, std::string_view where, bool* lost) {
  std::string_view state = SqlState(r);
  std::string message;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary != nullptr) {
    message = primary;
    if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) {
      message += ": ";
      message += detail;
    }
  } else {
    message = OneLine(r ? PQresultErrorMessage(r) : "");
    if (message.empty()) message = OneLine(PQerrorMessage(conn));
  }
  if (PQstatus(conn) == CONNECTION_BAD || state.starts_with("08") || state == "57P01" ||
      state == "57P02" || state == "57P03") {
    *lost = true;
    return Unavailable("connection to PostgreSQL at " + std::string(where) + " lost: " + message,
                       db::kDatabaseUnavailable);
  }
  if (r != nullptr) {
    switch (PQresultStatus(r)) {
      case PGRES_EMPTY_QUERY:
        return Internal("empty statement");
      case PGRES_COPY_IN:
      case PGRES_COPY_OUT:
      case PGRES_COPY_BOTH:
        *lost = true;  // the session is stuck in COPY mode
        return Internal("COPY is not supported through this interface");
      default:
        break;
    }
  }
  if (state == "23505") return AlreadyExists(message, "UNIQUE_VIOLATION");
  if (state == "23503") return FailedPrecondition(message, "FOREIGN_KEY_VIOLATION");
  if (state == "23502" || state == "23514" || state.starts_with("22")) {
    return InvalidArgument(message);
  }
  if (state == "40001" || state == "40P01") return Aborted(message);
  if (state == "57014") {  // query_canceled: by statement_timeout, or by a cancel request
    if (message.find("statement timeout") != std::string::npos) {
      return DeadlineExceeded(message, db::kStatementTimeout);
    }
    return Aborted(message, db::kCancelled);
  }
  return Internal(message);
}

std::unique_ptr<ResultSet> WrapResult(PgResultPtr result) {
  return std::make_unique<PostgresResultSet>(std::move(result));
}

Result<std::unique_ptr<ResultSet>> ReadCopyRows(PGconn* conn, const std::vector<CellKind>& kinds,
                                                const std::vector<std::string>& names,
                                                size_t max_bytes, bool* ended) {
  auto rows = std::make_unique<CopyRowsResultSet>(kinds, names);
  rows->Reserve(max_bytes);
  *ended = false;
  while (rows->bytes() < max_bytes) {
    char* line = nullptr;
    int n = PQgetCopyData(conn, &line, /*async=*/0);
    if (n == -1) {
      *ended = true;
      break;
    }
    if (n < 0) return Unavailable(std::string("reading COPY rows: ") + PQerrorMessage(conn));
    std::string_view row(line, static_cast<size_t>(n));
    if (!row.empty() && row.back() == '\n') row.remove_suffix(1);
    Status added = rows->AddRow(row);
    PQfreemem(line);
    RETURN_IF_ERROR(added);
  }
  return std::unique_ptr<ResultSet>(std::move(rows));
}

std::vector<CellKind> ColumnKinds(const PGresult* described) { return KindsOf(described); }

std::string OneLine(std::string_view message) {
  std::string out;
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      if (!out.empty()) out += ' ';
      out += line;
    }
    start = end + 1;
  }
  return out;
}

Result<PgConnPtr> Connect(const PostgresOptions& options, std::string_view application_name) {
  const std::string port = std::to_string(options.port);
  const std::string timeout = std::to_string(options.connect_timeout_s);
  const std::string app(application_name.empty() ? std::string_view(options.application_name)
                                                 : application_name);
  std::vector<const char*> keys = {
      "host", "port", "dbname", "user", "connect_timeout", "application_name", "client_encoding",
      // Notice a dead server (not only a restarted one) within a
      // minute instead of the kernel's two hours.
      "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"};
  std::vector<const char*> values = {options.host.c_str(),
                                     port.c_str(),
                                     options.database.c_str(),
                                     options.user.c_str(),
                                     timeout.c_str(),
                                     app.c_str(),
                                     "UTF8",
                                     "1",
                                     "30",
                                     "10",
                                     "3"};
  if (!options.password.empty()) {
    keys.push_back("password");
    values.push_back(options.password.c_str());
  }
  const std::string server_options =
      "-c statement_timeout=" + std::to_string(options.statement_timeout_ms);
  if (options.statement_timeout_ms > 0) {
    keys.push_back("options");
    values.push_back(server_options.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConnPtr conn(fiber::InFiber()
                     ? ConnectInFiber(keys.data(), values.data(),
                                      std::chrono::seconds(options.connect_timeout_s))
                     : PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0));
  if (conn == nullptr) {
    return Unavailable("cannot connect to PostgreSQL at " + options.Describe() + ": out of memory",
                       db::kDatabaseUnavailable);
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string why = OneLine(PQerrorMessage(conn.get()));
    if (why.empty()) why = "no answer within " + timeout + " s";
    return Unavailable("cannot connect to PostgreSQL at " + options.Describe() + ": " + why,
                       db::kDatabaseUnavailable);
  }
  PQsetNoticeProcessor(conn.get(), IgnoreNotice, nullptr);
  const char* setup =
      "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, MDY'";
  PgResultPtr set = Await(conn.get(), PQsendQuery(conn.get(), setup));
  if (set == nullptr || PQresultStatus(set.get()) != PGRES_COMMAND_OK) {
    return Unavailable("cannot configure the session on " + options.Describe() + ": " +
                           OneLine(PQerrorMessage(conn.get())),
                       db::kDatabaseUnavailable);
  }
  return conn;
}

bool CancelledByRequest(const PGresult* r) {
  if (r == nullptr) return false;
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  const char* message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  return state != nullptr && std::strcmp(state, "57014") == 0 &&
         !(message != nullptr && std::strstr(message, "statement timeout") != nullptr);
}

void SendCancel(std::shared_ptr<PGcancel> cancel) {
  if (!cancel) return;
  std::thread([cancel = std::move(cancel)] {
    char error[256];
    PQcancel(cancel.get(), error, sizeof(error));
  }).detach();
}

}  // namespace slipway::db::postgres
