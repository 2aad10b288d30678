// The one-row cluster state in slipway_cluster (DESIGN section 2): schema version, state and
// the epoch that every cluster-wide change bumps in its own transaction.
#pragma once

#include <cstdint>
#include <string>

#include "core/semver.h"
#include "db/database.h"

namespace slipway::db {

struct ClusterRow {
  std::string schema_version;
  std::string state;  // running | maintenance | upgrading | restoring | importing
  std::string message;
  int64_t epoch = 0;
};

Result<ClusterRow> ReadClusterRow(Connection& conn);

// FailedPrecondition (APP_OUTDATED) naming both versions, for a database newer than the binary
// that read it (version fencing: such a binary never writes to it).
Status NewerSchemaError(const std::string& schema_version, const core::SemVer& binary);
// Increments the epoch inside the caller's transaction and returns the new value.
Result<int64_t> BumpEpoch(Connection& conn);

// Sets the cluster's gate ("running", "maintenance", ...) and its message, inside the caller's
// transaction (a cluster-wide change: api/services.h).
Status SetClusterState(Connection& conn, const std::string& state, const std::string& message);

}  // namespace slipway::db
