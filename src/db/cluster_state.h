// The one-row cluster state in slipway_cluster (DESIGN section 2): schema version, state and
// the epoch that every cluster-wide change bumps in its own transaction.
#pragma once

#include <cstdint>
#include <string>

#include "db/database.h"

namespace slipway::db {

struct ClusterRow {
  std::string schema_version;
  std::string state;  // running | maintenance | upgrading | restoring | importing
  std::string message;
  int64_t epoch = 0;
};

Result<ClusterRow> ReadClusterRow(Connection& conn);
// Increments the epoch inside the caller's transaction and returns the new value.
Result<int64_t> BumpEpoch(Connection& conn);

// Sets the cluster's gate ("running", "maintenance", ...) and its message, with the epoch bump,
// in one transaction of its own. Returns the new epoch.
Result<int64_t> SetClusterState(Connection& conn, const std::string& state,
                                const std::string& message);

}  // namespace slipway::db
