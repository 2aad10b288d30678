#include "db/postgres/postgres_schema_lock.h"

#include <poll.h>

#include <string>

#include "db/postgres/postgres_session.h"

namespace slipway::db {
namespace {

using postgres::OneLine;
using postgres::PgConnPtr;
using postgres::PgResultPtr;

class PostgresSchemaLock final : public SchemaLock {
 public:
  PostgresSchemaLock(PostgresOptions options, int64_t key)
      : options_(std::move(options)), key_text_(std::to_string(key)) {}
  ~PostgresSchemaLock() override { Release(); }

  std::string Describe() const override {
    return "the schema lock (advisory lock " + key_text_ + " on " + options_.Describe() +
           ", held per session)";
  }

  Result<bool> TryAcquire() override {
    if (held()) return true;
    held_ = false;
    if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
      conn_.reset();
      ASSIGN_OR_RETURN(conn_,
                       postgres::Connect(options_, options_.application_name + "-schema-lock"));
    }
    ASSIGN_OR_RETURN(PgResultPtr result, Call("pg_try_advisory_lock"));
    held_ = PQntuples(result.get()) == 1 && PQgetvalue(result.get(), 0, 0)[0] == 't';
    return held_;
  }

  void Release() override {
    if (!held_) return;
    held_ = false;
    // If unlocking fails the session is in trouble; closing it releases the lock for sure.
    if (!Call("pg_advisory_unlock").ok()) conn_.reset();
  }

  bool held() const override { return held_ && ConnectionAlive(); }

 private:
  Result<PgResultPtr> Call(const char* function) {
    std::string sql = std::string("SELECT ") + function + "($1::bigint)";
    const char* values[] = {key_text_.c_str()};
    PgResultPtr result(
        PQexecParams(conn_.get(), sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0));
    if (result == nullptr || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      std::string message =
          OneLine(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_.get()));
      if (PQstatus(conn_.get()) != CONNECTION_OK) conn_.reset();
      return Unavailable(std::string(function) + " on " + options_.Describe() + ": " + message);
    }
    return result;
  }

  // Notices without blocking that the server closed the session: it sends a message (e.g.
  // "terminating connection") or EOF, which makes the socket readable while idle.
  bool ConnectionAlive() const {
    if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) return false;
    // The goodbye message and the EOF may need two reads.
    for (int i = 0; i < 8; ++i) {
      pollfd p{PQsocket(conn_.get()), POLLIN, 0};
      if (p.fd < 0 || ::poll(&p, 1, 0) <= 0) break;
      if (PQconsumeInput(conn_.get()) == 0) break;
    }
    return PQstatus(conn_.get()) == CONNECTION_OK;
  }

  const PostgresOptions options_;
  const std::string key_text_;
  PgConnPtr conn_;  // the dedicated session that holds the lock
  bool held_ = false;
};

}  // namespace

std::unique_ptr<SchemaLock> MakePostgresSchemaLock(PostgresOptions options, int64_t key) {
  return std::make_unique<PostgresSchemaLock>(std::move(options), key);
}

}  // namespace slipway::db
