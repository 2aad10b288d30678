// ServicesImpl: the Services actions use, backed by the application's pool, schema store,
// snapshot holder and the plugins' registrations. Thread-safe; changes are serialized.
#pragma once

#include <memory>
#include <mutex>

#include "app/plugin_api.h"
#include "app/plugin_registry.h"

namespace slipway::app {

class ServicesImpl final : public Services {
 public:
  ServicesImpl(const core::Config& config, db::Pool& pool, const PluginRegistry& plugins,
               std::unique_ptr<core::SnowflakeGenerator> snowflake)
      : config_(config), pool_(pool), plugins_(plugins), snowflake_(std::move(snowflake)) {}

  // Call once every plugin has loaded: the schema store needs their collections.
  void SealPlugins() { schema_store_ = std::make_unique<data::SchemaStore>(plugins_.collections()); }

  const core::Config& config() const override { return config_; }
  db::Pool& pool() override { return pool_; }
  const data::SchemaStore& schema_store() const override { return *schema_store_; }
  Result<int64_t> NextSnowflake() override { return snowflake_->Next(); }
  std::shared_ptr<const Snapshot> snapshot() const override { return snapshots_.Get(); }
  Status ApplyChange(const ChangeFn& change) override;
  void CollectionChanged(std::string_view collection) override;
  Status ReloadSnapshot() override;
  const std::vector<RecordHook>& AfterCreateHooks(std::string_view collection) const override {
    return plugins_.after_create(collection);
  }

 private:
  Result<std::shared_ptr<const Snapshot>> Load(db::Connection& conn) const;
  void Publish(std::shared_ptr<const Snapshot> next);

  const core::Config& config_;
  db::Pool& pool_;
  const PluginRegistry& plugins_;
  std::unique_ptr<data::SchemaStore> schema_store_;
  std::unique_ptr<core::SnowflakeGenerator> snowflake_;
  SnapshotHolder snapshots_;
  std::mutex change_mu_;  // one change (or reload) at a time on this node
};

}  // namespace slipway::app
