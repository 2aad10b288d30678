// Services: what actions and built-in plugins may use of the running application, and the one
// path every cluster-wide change takes (ApplyChange).
//
// A cluster-wide change (a collection or field, a role or grant, a plugin enabled, disabled,
// upgraded or removed, plugin settings, the cluster's gate) is applied in this order, always:
//   1. the schema lock, when the change asks for it (ChangeOptions::schema_lock: plugin
//      lifecycle, which runs migrations);
//   2. one connection, one transaction; on SQLite with foreign keys off for the transaction;
//   3. the epoch is bumped first, which takes the cluster row's lock: concurrent changes from
//      any node queue here, and each computes from the current state;
//   4. the current snapshot is read again inside that transaction (or, when the epoch shows
//      that nothing changed since this node published its snapshot, that one is taken) and
//      handed to the change;
//   5. the change writes (DDL, rows) and says what of the snapshot it replaced;
//   6. on SQLite, PRAGMA foreign_key_check must find nothing;
//   7. commit; the next snapshot is published on this node;
//   8. outside every lock, the other nodes are told, and the call waits until every live node
//      applied the epoch (DeadlineExceeded CLUSTER_UNCONFIRMED names those that did not; the
//      change stays committed);
//   9. indexes the change left out of its transaction (on PostgreSQL, those on a table that
//      already existed: data/ddl.h) are built with CREATE INDEX CONCURRENTLY, writes going on,
//      and the call returns once they are valid; one the data does not allow (a unique index
//      over duplicates) is given up by a second change through steps 2 to 8, and the call
//      answers why (the rest of the change stands). A node that stops before building them
//      leaves them to the next node's start (ServicesImpl::BuildUnbuiltIndexes);
//  10. a removal (SnapshotUpdate::removals: a field or collection left the schema, its column or
//      table is still there, data/schema_store.h) then waits until no node holds a snapshot
//      older than the change (every request that might still name the column has ended), and
//      drops what it removed in a second change through steps 2 to 7. When a node does not
//      drain within CLUSTER_CONFIRM_TIMEOUT the drop is left to the next heartbeat that finds
//      the whole cluster drained (FinishPendingRemovals); the removal itself stands.
// Additions need no such wait: the column exists when the change commits, before any snapshot
// names it.
// A change that fails at any step before the commit leaves nothing behind.
//
// Thread-safe; changes on one node are serialised.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/acl_policy.h"
#include "api/snapshot.h"
#include "core/config.h"
#include "db/database.h"
#include "slipway/status.h"

namespace slipway::api {

// What a change replaced in the snapshot. Null parts are kept; `reload` rebuilds the whole
// snapshot from the database after the commit (plugins enabled or disabled: actions, hooks).
struct SnapshotUpdate {
  std::shared_ptr<const data::Schema> schema;
  std::shared_ptr<const AclPolicy> acl;
  bool reload = false;
  // The change removed a column or table from the schema and left it to be dropped (step 10).
  bool removals = false;

  // Neither given: the snapshot is reloaded from the database.
  static SnapshotUpdate Reload() {
    SnapshotUpdate u;
    u.reload = true;
    return u;
  }
};
using ChangeFn = std::function<Result<SnapshotUpdate>(db::Connection&, const Snapshot& now)>;

struct ChangeOptions {
  std::string what;          // for the log line: "collections:create", "pm:enable hello"
  bool schema_lock = false;  // take the schema lock first (changes that run migrations)
  // How long to wait for the schema lock (0: a minute); past it, Unavailable names the lock.
  std::chrono::milliseconds lock_timeout{0};
};

class Services {
 public:
  virtual ~Services() = default;
  virtual const core::Config& config() const = 0;
  virtual db::Pool& pool() = 0;
  virtual Result<int64_t> NextSnowflake() = 0;
  virtual std::shared_ptr<const Snapshot> snapshot() const = 0;
  // Marks the caller as using the snapshot of `epoch` until the token is destroyed (every API
  // request holds one): a removal drops its column or table only once no hold is older (step 10).
  virtual std::shared_ptr<void> HoldEpoch(int64_t epoch) = 0;
  // The one path of every cluster-wide change (see the header comment).
  virtual Status ApplyChange(const ChangeOptions& options, const ChangeFn& change) = 0;
  Status ApplyChange(const ChangeFn& change) { return ApplyChange(ChangeOptions{}, change); }
  // Tells the plugins that records of `collection` changed (after commit).
  virtual void CollectionChanged(std::string_view collection) = 0;
  // Re-reads everything from the database and publishes it, without a change (start-up, an
  // epoch changed elsewhere).
  virtual Status ReloadSnapshot() = 0;
  // Sends a plugin's message to the same plugin on the other nodes (OnSyncMessage).
  virtual Status PublishSync(std::string_view plugin, const boost::json::value& message) = 0;
};

}  // namespace slipway::api
