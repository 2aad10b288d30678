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
#include "cluster/subscriber_loop.h"
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

  const RedisUrl url_;
  const RedisSyncBusOptions options_;
  RedisClient publisher_;
  SyncHandlers handlers_;
  SubscriberLoop loop_;  // the receiving thread, its wake-ups and the status
};

}  // namespace slipway::cluster::redis
