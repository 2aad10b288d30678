// The Redis SyncBus (sync_bus.h): PUBLISH and SUBSCRIBE on channels "slipway:<channel>".
//
// Publish() goes through a RedisClient (redis_client.h): while Redis is unreachable it fails
// fast with Unavailable. Receiving uses a dedicated connection on the bus's own thread, which
// subscribes to every channel that has a handler (channels added later are subscribed on the
// fly), sends a PING when the connection has been quiet for `ping_interval`, and treats a
// connection that stays silent past `ping_interval + timeout` as lost. A lost subscriber
// reconnects with exponential backoff (100 ms doubling to 5 s) and subscribes again; each loss
// and recovery is logged once, and status() reports it. Messages published while the subscriber
// is disconnected are not received (Redis pub/sub keeps nothing).
//
// Handlers run on the subscriber thread (see sync_bus.h). Stop() returns within a poll interval,
// except while a connection attempt is in flight, which it waits for (at most `timeout`).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "cluster/redis/redis_client.h"
#include "cluster/sync_bus.h"
#include "cluster/sync_envelope.h"

namespace slipway::cluster::redis {

struct RedisSyncBusOptions {
  std::chrono::milliseconds timeout{2000};  // connect, and each read or write
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds ping_interval{5000};
};

class RedisSyncBus final : public SyncBus {
 public:
  static constexpr std::string_view kChannelPrefix = "slipway:";

  RedisSyncBus(RedisUrl url, std::string node_id, RedisSyncBusOptions options = {});
  ~RedisSyncBus() override;

  Status Publish(const std::string& channel, const boost::json::value& message) override;
  void Subscribe(const std::string& channel, Handler handler) override;
  void Start() override;
  void Stop() override;
  BusStatus status() const override;

  RedisClient& publisher() { return publisher_; }

 private:
  using Clock = std::chrono::steady_clock;
  class Session;  // one subscriber connection's life (redis_sync_bus.cc)

  void Run();
  void Wake();
  // Sleeps up to `d`; false when Stop() was called meanwhile.
  bool SleepUnlessStopped(std::chrono::milliseconds d);
  void SetConnected(bool connected, const std::string& error);

  const RedisUrl url_;
  const RedisSyncBusOptions options_;
  RedisClient publisher_;
  SyncHandlers handlers_;
  int wake_fd_ = -1;  // eventfd: Subscribe() and Stop() wake the subscriber's poll()
  std::atomic<bool> stopping_{false};
  std::mutex lifecycle_mu_;  // serializes Start() and Stop(); guards thread_
  std::thread thread_;
  mutable std::mutex status_mu_;
  BusStatus status_;                // guarded by status_mu_
  bool ever_connected_ = false;     // guarded by status_mu_
  Clock::time_point down_since_{};  // guarded by status_mu_
  bool down_logged_ = false;        // guarded by status_mu_
};

}  // namespace slipway::cluster::redis
