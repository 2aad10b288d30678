#include "cluster/database/database_worker_ids.h"

#include "db/sql.h"
#include "db/system_tables.h"

namespace slipway::cluster::database {
namespace {

const std::string kWorkerIds(db::kWorkerIdsTable);

// How many times Acquire tries again after another node took the id it chose in the meantime.
constexpr int kRaces = 16;

// The node part of "<node id>/<random>".
std::string NodeOf(const std::string& owner) { return owner.substr(0, owner.rfind('/')); }

}  // namespace

Result<std::unique_ptr<db::ResultSet>> DatabaseWorkerIdStore::RunLocked(
    const std::string& what, const std::string& sql, std::initializer_list<db::Value> params) {
  if (conn_ != nullptr && !conn_->healthy()) conn_.reset();
  if (conn_ == nullptr) {
    auto opened = connect_();
    if (!opened.ok()) return opened.status().WithContext(what);
    conn_ = std::move(opened).value();
  }
  auto rs = conn_->Query(sql, params);
  if (!rs.ok()) {
    if (!conn_->healthy()) conn_.reset();
    return rs.status().WithContext(what);
  }
  return rs;
}

Result<int> DatabaseWorkerIdStore::Acquire(const std::string& owner, int preferred,
                                           std::chrono::milliseconds ttl) {
  const std::string now = db::SqlNowMillis(dialect_);
  const int64_t ttl_ms = ttl.count();
  const std::string node = NodeOf(owner);
  // Takes the chosen row when it is free (or, with `own`, already the owner's).
  auto take = [&](bool own) {
    return " ON CONFLICT (worker_id) DO UPDATE SET owner = excluded.owner, node_id = "
           "excluded.node_id, acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms"
           " WHERE " +
           kWorkerIds + ".expires_ms <= " + now +
           (own ? " OR " + kWorkerIds + ".owner = excluded.owner" : std::string()) +
           " RETURNING worker_id";
  };
  std::lock_guard lock(mu_);
  if (preferred >= 0 && preferred <= kMaxWorkerId) {
    ASSIGN_OR_RETURN(auto rs,
                     RunLocked("lease worker id " + std::to_string(preferred),
                               "INSERT INTO " + kWorkerIds +
                                   " (worker_id, owner, node_id, acquired_ms, expires_ms)"
                                   " VALUES ($1, $2, $3, " +
                                   now + ", " + now + " + CAST($4 AS BIGINT))" + take(/*own=*/true),
                               {int64_t{preferred}, owner, node, ttl_ms}));
    if (rs->row_count() == 1) return preferred;
  }
  for (int race = 0; race < kRaces; ++race) {
    ASSIGN_OR_RETURN(
        auto rs,
        RunLocked(
            "lease a worker id",
            "WITH RECURSIVE ids(id) AS (SELECT 0 UNION ALL SELECT id + 1 FROM ids WHERE id < " +
                std::to_string(kMaxWorkerId) + ") INSERT INTO " + kWorkerIds +
                " (worker_id, owner, node_id, acquired_ms, expires_ms)"
                " SELECT ids.id, CAST($1 AS TEXT), CAST($2 AS TEXT), " +
                now + ", " + now + " + CAST($3 AS BIGINT) FROM ids LEFT JOIN " + kWorkerIds +
                " w ON w.worker_id = ids.id WHERE w.worker_id IS NULL OR w.expires_ms <= " + now +
                " ORDER BY COALESCE(w.expires_ms, -1), random() LIMIT 1" + take(/*own=*/false),
            {owner, node, ttl_ms}));
    if (rs->row_count() == 1) return static_cast<int>(rs->Int(0, 0));
    ASSIGN_OR_RETURN(
        auto live,
        RunLocked("count worker-id leases",
                  "SELECT count(*) FROM " + kWorkerIds + " WHERE expires_ms > " + now, {}));
    if (live->Int(0, 0) > kMaxWorkerId) {
      return ResourceExhausted("all " + std::to_string(kMaxWorkerId + 1) +
                               " worker ids are leased in " + kWorkerIds);
    }
    // Another node took the id chosen in the meantime: choose again.
  }
  return Unavailable("no worker id leased after " + std::to_string(kRaces) +
                     " tries: other nodes took each one chosen first");
}

Result<bool> DatabaseWorkerIdStore::Renew(int id, const std::string& owner,
                                          std::chrono::milliseconds ttl) {
  const std::string now = db::SqlNowMillis(dialect_);
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto rs, RunLocked("renew worker id " + std::to_string(id),
                                      "UPDATE " + kWorkerIds + " SET expires_ms = " + now +
                                          " + CAST($3 AS BIGINT) WHERE worker_id = $1 AND owner "
                                          "= $2 AND expires_ms > " +
                                          now,
                                      {int64_t{id}, owner, static_cast<int64_t>(ttl.count())}));
  return rs->affected_rows() == 1;
}

Status DatabaseWorkerIdStore::Release(int id, const std::string& owner) {
  const std::string now = db::SqlNowMillis(dialect_);
  std::lock_guard lock(mu_);
  return RunLocked("release worker id " + std::to_string(id),
                   "UPDATE " + kWorkerIds + " SET expires_ms = " + now +
                       " WHERE worker_id = $1 AND owner = $2 AND expires_ms > " + now,
                   {int64_t{id}, owner})
      .status();
}

}  // namespace slipway::cluster::database
