#include "cluster/database/database_lock.h"

#include "core/ids.h"
#include "db/sql.h"
#include "db/system_tables.h"

namespace slipway::cluster::database {
namespace {

const std::string kLocks(db::kLocksTable);

Status CheckArgs(const std::string& name, std::chrono::milliseconds ttl) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  if (ttl.count() <= 0) return InvalidArgument("lock ttl must be positive");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<db::ResultSet>> DatabaseLeaseLock::Run(
    const std::string& what, const std::string& sql, std::initializer_list<db::Value> params) {
  auto conn = pool_.Acquire(std::chrono::seconds(2));
  if (!conn.ok()) return conn.status().WithContext(what);
  auto rs = (*conn)->Query(sql, params);
  if (!rs.ok()) return rs.status().WithContext(what);
  return rs;
}

Result<std::optional<std::string>> DatabaseLeaseLock::TryAcquire(const std::string& name,
                                                                 std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  const std::string now = db::SqlNowMillis(pool_.dialect());
  std::string token = core::NewUuidV4();
  ASSIGN_OR_RETURN(
      auto rs,
      Run("lock '" + name + "'",
          "INSERT INTO " + kLocks + " (name, owner, expires_ms) VALUES ($1, $2, " + now +
              " + CAST($3 AS BIGINT)) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
              "expires_ms = excluded.expires_ms WHERE " +
              kLocks + ".expires_ms <= " + now + " RETURNING owner",
          {name, token, static_cast<int64_t>(ttl.count())}));
  if (rs->row_count() == 0) return std::optional<std::string>();
  return std::optional<std::string>(std::move(token));
}

Result<bool> DatabaseLeaseLock::Extend(const std::string& name, const std::string& token,
                                       std::chrono::milliseconds ttl) {
  RETURN_IF_ERROR(CheckArgs(name, ttl));
  const std::string now = db::SqlNowMillis(pool_.dialect());
  ASSIGN_OR_RETURN(auto rs, Run("extend lock '" + name + "'",
                                "UPDATE " + kLocks + " SET expires_ms = " + now +
                                    " + CAST($3 AS BIGINT) WHERE name = $1 AND owner = $2 AND "
                                    "expires_ms > " +
                                    now,
                                {name, token, static_cast<int64_t>(ttl.count())}));
  return rs->affected_rows() == 1;
}

Result<bool> DatabaseLeaseLock::Release(const std::string& name, const std::string& token) {
  if (name.empty()) return InvalidArgument("lock name is empty");
  const std::string now = db::SqlNowMillis(pool_.dialect());
  ASSIGN_OR_RETURN(auto rs, Run("release lock '" + name + "'",
                                "DELETE FROM " + kLocks +
                                    " WHERE name = $1 AND owner = $2 AND expires_ms > " + now,
                                {name, token}));
  return rs->affected_rows() == 1;
}

}  // namespace slipway::cluster::database
