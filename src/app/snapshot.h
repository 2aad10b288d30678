// Snapshot: everything a request reads that can change at run time (DESIGN section 6): the
// schema, the permission policy, and the epoch they reflect. Immutable; a request takes the
// current one once and keeps it to the end. A change builds the next snapshot and swaps it in,
// so readers never wait for a writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "app/acl_policy.h"
#include "data/schema.h"

namespace slipway::app {

struct Snapshot {
  std::shared_ptr<const data::Schema> schema;
  std::shared_ptr<const AclPolicy> acl;
  int64_t epoch = 0;
  std::string schema_version;
};

// Holds the current snapshot. Thread-safe; Get() is lock-free for readers in practice.
class SnapshotHolder {
 public:
  std::shared_ptr<const Snapshot> Get() const { return current_.load(std::memory_order_acquire); }
  void Set(std::shared_ptr<const Snapshot> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  // Shared: every in-flight request holds the snapshot it started with.
  std::atomic<std::shared_ptr<const Snapshot>> current_{std::make_shared<const Snapshot>()};
};

}  // namespace slipway::app
