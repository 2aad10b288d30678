// The in-process Cache (cache.h): this process only, bounded.
//
// Holds at most `max_entries` entries. When a Set() finds it full, expired entries are dropped
// first; if that frees less than a tenth of the room, the oldest entries (least recently Set) go
// until a tenth is free, so the full scan runs at most once per max_entries/10 inserts.
// Expired entries are also dropped when read. Thread-safe (one mutex).
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cluster/cache.h"
#include "core/clock.h"

namespace slipway::cluster::memory {

class MemoryCache final : public Cache {
 public:
  static constexpr size_t kDefaultMaxEntries = 10'000;

  // `clock` tells the time for TTLs (tests pass a ManualClock); it must outlive the cache.
  explicit MemoryCache(size_t max_entries = kDefaultMaxEntries,
                       const core::Clock& clock = core::Clock::Steady());

  Result<std::optional<std::string>> Get(const std::string& key) override;
  Status Set(const std::string& key, const std::string& value,
             std::chrono::milliseconds ttl) override;
  Status Del(const std::string& key) override;
  std::string_view backend() const override { return "memory"; }

  size_t size() const;

 private:
  struct Entry {
    std::string value;
    core::Clock::TimePoint expires;  // max(): never
    std::list<std::string>::iterator order;
  };
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it);
  void MakeRoomLocked();

  const size_t max_entries_;
  const core::Clock& clock_;
  mutable std::mutex mu_;
  // Guarded by mu_. `order_` lists keys from the oldest Set to the newest.
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;
};

}  // namespace slipway::cluster::memory
