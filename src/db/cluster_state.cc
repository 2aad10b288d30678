#include "db/cluster_state.h"

#include "db/sql.h"
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
  ASSIGN_OR_RETURN(auto rs, conn.Query("UPDATE " + std::string(kClusterTable) +
                                       " SET epoch = epoch + 1, updated_at = " +
                                       SqlNow(conn.dialect()) + " WHERE id = 1 RETURNING epoch"));
  if (rs->row_count() == 0)
    return FailedPrecondition("the database is not installed", "APP_NOT_INSTALLED");
  return rs->Int(0, 0);
}

Status NewerSchemaError(const std::string& schema_version, const core::SemVer& binary) {
  return FailedPrecondition("the database schema is at version " + schema_version +
                                ", newer than this binary (" + binary.ToString() +
                                "); run slipway " + schema_version +
                                " or newer (downgrades are refused: restore a backup instead)",
                            "APP_OUTDATED");
}

Status SetClusterState(Connection& conn, const std::string& state, const std::string& message) {
  if (!conn.in_transaction())
    return Internal("the cluster's state must change inside a change's transaction");
  return conn.Exec("UPDATE " + std::string(kClusterTable) +
                       " SET state = $1, message = $2, updated_at = " + SqlNow(conn.dialect()) +
                       " WHERE id = 1",
                   {state, message.empty() ? Value(Null()) : Value(message)});
}

}  // namespace slipway::db
