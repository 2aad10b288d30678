// The in-process SyncBus (sync_bus.h): for a single node, and for tests that make several
// "nodes" in one process.
//
// MemorySyncHub connects the buses attached to it: a message published on one is delivered to
// every started bus on the hub (each skips its own node's messages, as over Redis). Default() is
// the process-wide hub that MakeAdapters uses, so two applications in one process see each
// other's messages. Each MemorySyncBus has its own delivery thread and an unbounded queue.
//
// Thread-safe. Buses hold their hub by shared_ptr: it lives as long as the last bus using it.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cluster/sync_bus.h"
#include "cluster/sync_envelope.h"

namespace slipway::cluster::memory {

class MemorySyncBus;

class MemorySyncHub {
 public:
  // The process-wide hub (never destroyed).
  static std::shared_ptr<MemorySyncHub> Default();

  // Queues `payload` (an envelope, sync_envelope.h) on every started bus. Buses call it; tests
  // use it to inject raw bytes.
  void Deliver(const std::string& channel, const std::string& payload);

 private:
  friend class MemorySyncBus;
  void Attach(MemorySyncBus* bus);
  void Detach(MemorySyncBus* bus);

  std::mutex mu_;
  std::vector<MemorySyncBus*> buses_;  // guarded by mu_; started buses
};

class MemorySyncBus final : public SyncBus {
 public:
  // `hub` is shared with the other buses that act as nodes (and outlives none of them).
  MemorySyncBus(std::string node_id, std::shared_ptr<MemorySyncHub> hub = MemorySyncHub::Default());
  ~MemorySyncBus() override;

  Status Publish(const std::string& channel, const boost::json::value& message) override;
  void Subscribe(const std::string& channel, Handler handler) override;
  void Start() override;
  void Stop() override;
  BusStatus status() const override;

 private:
  friend class MemorySyncHub;
  void Enqueue(const std::string& channel, const std::string& payload);
  void Run();

  const std::shared_ptr<MemorySyncHub> hub_;
  SyncHandlers handlers_;
  std::mutex lifecycle_mu_;  // serializes Start() and Stop()
  std::thread thread_;       // guarded by lifecycle_mu_
  mutable std::mutex mu_;
  std::condition_variable wake_;
  // Guarded by mu_.
  std::deque<std::pair<std::string, std::string>> queue_;
  bool running_ = false;
  std::chrono::system_clock::time_point since_{};
};

}  // namespace slipway::cluster::memory
