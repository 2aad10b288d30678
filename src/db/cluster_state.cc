#include "db/cluster_state.h"

#include "db/system_tables.h"

namespace slipway::db {

Result<ClusterRow> ReadClusterRow(Connection& conn) {
  ASSIGN_OR_RETURN(auto rs, conn.Query("SELECT schema_version, state, message, epoch FROM " +
                                       std::string(kClusterTable) + " WHERE id = 1"));
  if (rs->row_count() == 0)
    return FailedPrecondition("the database is not installed", "APP_NOT_INSTALLED");
  return ClusterRow{std::string(rs->Text(0, 0)), std::string(rs->Text(0, 1)),
                    std::string(rs->Text(0, 2)), rs->Int(0, 3)};
}

Result<int64_t> BumpEpoch(Connection& conn) {
  if (!conn.in_transaction())
    return Internal("the epoch must be bumped inside the change's transaction");
  std::string now = conn.dialect() == Dialect::kPostgres ? "now()" : "CURRENT_TIMESTAMP";
  ASSIGN_OR_RETURN(auto rs, conn.Query("UPDATE " + std::string(kClusterTable) +
                                       " SET epoch = epoch + 1, updated_at = " + now +
                                       " WHERE id = 1 RETURNING epoch"));
  if (rs->row_count() == 0)
    return FailedPrecondition("the database is not installed", "APP_NOT_INSTALLED");
  return rs->Int(0, 0);
}

Result<int64_t> SetClusterState(Connection& conn, const std::string& state,
                                const std::string& message) {
  ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(conn));
  std::string now = conn.dialect() == Dialect::kPostgres ? "now()" : "CURRENT_TIMESTAMP";
  ASSIGN_OR_RETURN(auto rs, conn.Query("UPDATE " + std::string(kClusterTable) +
                                           " SET state = $1, message = $2, updated_at = " + now +
                                           " WHERE id = 1",
                                       {state, message.empty() ? Value(Null()) : Value(message)}));
  ASSIGN_OR_RETURN(int64_t epoch, BumpEpoch(conn));
  RETURN_IF_ERROR(tx.Commit());
  return epoch;
}

}  // namespace slipway::db
