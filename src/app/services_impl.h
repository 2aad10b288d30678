// ServicesImpl: the Services actions use, backed by the application's pool, the plugin manager
// and the snapshot holder. Builds snapshots: the enabled plugins (in load order) contribute
// collections, actions, record hooks, authentication and the permission policy. Thread-safe;
// changes and reloads are serialized.
#pragma once

#include <memory>
#include <mutex>

#include "app/actions.h"
#include "app/plugin_api.h"

namespace slipway::app {

class PluginManager;

class ServicesImpl final : public Services {
 public:
  ServicesImpl(const core::Config& config, db::Pool& pool,
               std::unique_ptr<core::SnowflakeGenerator> snowflake)
      : config_(config), pool_(pool), snowflake_(std::move(snowflake)) {}

  // Set once, before the first snapshot is built.
  void Attach(PluginManager* plugins, const ActionRegistry* core_actions,
              const core::SemVer* binary_version) {
    plugins_ = plugins;
    core_actions_ = core_actions;
    binary_version_ = binary_version;
  }
  // Called after every published snapshot (from the thread that published it).
  void OnPublish(std::function<void(const Snapshot&)> fn) { on_publish_ = std::move(fn); }
  // What AfterCommit and PublishSync use to reach the other nodes; null on a single node.
  void SetCluster(class ClusterNode* cluster) { cluster_ = cluster; }

  const core::Config& config() const override { return config_; }
  db::Pool& pool() override { return pool_; }
  Result<int64_t> NextSnowflake() override { return snowflake_->Next(); }
  // The leased worker id, once the cluster gave one (ids from different nodes never collide).
  Status SetWorkerId(int id) { return snowflake_->set_worker_id(id); }
  std::shared_ptr<const Snapshot> snapshot() const override { return snapshots_.Get(); }
  Status ApplyChange(const ChangeFn& change) override;
  void CollectionChanged(std::string_view collection) override;
  Status ReloadSnapshot() override;
  Status AfterCommit() override;
  Status PublishSync(std::string_view plugin, const boost::json::value& message) override;

 private:
  Result<std::shared_ptr<const Snapshot>> Load(db::Connection& conn) const;
  void Publish(std::shared_ptr<const Snapshot> next);

  const core::Config& config_;
  db::Pool& pool_;
  std::unique_ptr<core::SnowflakeGenerator> snowflake_;
  PluginManager* plugins_ = nullptr;
  const ActionRegistry* core_actions_ = nullptr;
  const core::SemVer* binary_version_ = nullptr;
  std::function<void(const Snapshot&)> on_publish_;
  ClusterNode* cluster_ = nullptr;
  SnapshotHolder snapshots_;
  std::mutex change_mu_;  // one change (or reload) at a time on this node
};

}  // namespace slipway::app
