// Snapshot: everything a request reads that can change at run time (DESIGN section 6): the
// schema, the permission policy, the enabled plugins with their actions and record hooks, and
// the epoch they reflect. Immutable; a request takes the current one once and keeps it to the
// end. A change (a collection, a role, a plugin enabled or disabled) builds the next snapshot
// and swaps it in, so readers never wait for a writer and never see a half-applied change.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/acl_policy.h"
#include "api/auth_types.h"
#include "data/repository.h"
#include "data/schema.h"
#include "data/schema_store.h"

namespace slipway::api {

using CollectionChangedFn = std::function<void(std::string_view collection)>;

class ActionRegistry;

// A plugin's handler of the messages other nodes published for it.
using SyncHandler = std::function<void(const boost::json::value& message)>;

// The record hooks of the enabled plugins, by collection ("*" for all) and event.
class RecordHookSet final : public data::RecordHooks {
 public:
  void Add(std::string collection, RecordEvent event, RecordHook hook, std::string plugin);
  bool Has(std::string_view collection, RecordEvent event) const override;
  Status Run(RecordChange& change) const override;

 private:
  struct Entry {
    std::string collection;
    RecordEvent event;
    RecordHook hook;
    std::string plugin;
  };
  std::vector<Entry> entries_;
};

struct Snapshot {
  // Keeps the enabled plugins' runtimes (and so their shared libraries) alive while a snapshot
  // names them (shared with the plugin manager). Declared first so that it is destroyed last: the
  // actions and hooks below may hold code of a plugin's library.
  std::vector<std::shared_ptr<const void>> plugin_keepalive;
  std::set<std::string> loaded_plugins;  // the enabled plugins loaded on this node
  std::map<std::string, std::vector<SyncHandler>> sync_handlers;  // by plugin
  std::shared_ptr<const data::Schema> schema;
  std::shared_ptr<const data::SchemaStore> schema_store;
  std::shared_ptr<const AclPolicy> acl;
  std::shared_ptr<const ActionRegistry> actions;
  std::shared_ptr<const RecordHookSet> hooks;
  std::map<std::string, boost::json::object> settings;  // stored plugin settings by plugin
  std::shared_ptr<Authenticator> authenticator;         // from the users plugin, when enabled
  RoleResolver role_resolver;                           // from the acl plugin, when enabled
  std::vector<CollectionChangedFn> collection_changed;  // the enabled plugins' callbacks
  // Enabled plugins this node could not load (e.g. a package missing from its disk).
  std::vector<std::string> load_errors;
  // Configuration permissions (acl_policy.h): the collections they govern (collection ->
  // snippet), and every snippet an action or a collection names, sorted.
  std::map<std::string, std::string> governed;
  std::vector<std::string> snippets;
  int64_t epoch = 0;
  std::string schema_version;
  // The cluster's gate (slipway_cluster.state/message): "running", or e.g. "maintenance".
  std::string cluster_state = "running";
  std::string cluster_message;
};

// Holds the current snapshot. Thread-safe; Get() is lock-free for readers in practice.
class SnapshotHolder {
 public:
  std::shared_ptr<const Snapshot> Get() const { return current_.load(std::memory_order_acquire); }
  void Set(std::shared_ptr<const Snapshot> next) {
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  // Shared: every in-flight request holds the snapshot it started with.
  std::atomic<std::shared_ptr<const Snapshot>> current_{std::make_shared<const Snapshot>()};
};

// Which snapshots the requests in flight on this node use, by epoch. A request holds the epoch of
// the snapshot it took until it ends; the second phase of a removal (services.h) waits until no
// request holds an epoch older than the removal, so no statement names a dropped column. A
// request that makes a removal lets go of its own hold first (it names nothing afterwards).
// Thread-safe; a hold costs a mutex on take and release.
class EpochHolds {
 public:
  EpochHolds();
  // Marks the caller as using the snapshot of `epoch` until the token is destroyed.
  std::shared_ptr<void> Hold(int64_t epoch);
  // The oldest epoch held, or INT64_MAX when no request is in flight.
  int64_t Oldest() const;
  // Waits until no hold is older than `epoch`; false when `timeout` passed first.
  bool WaitUntilDrained(int64_t epoch, std::chrono::milliseconds timeout) const;
  // Called on the releasing thread each time a hold ends; quick, no locks of the caller's.
  // Set once, before the first Hold().
  void OnReleased(std::function<void(int64_t oldest)> fn);

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the tokens, which may outlive this object
};

}  // namespace slipway::api
