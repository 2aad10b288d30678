// SyncBus: cluster-wide broadcast of small JSON messages ("sync signals", DESIGN section 2 rule 4).
//
// A node publishes on a named channel; every other node subscribed to that channel receives the
// message. Delivery is best effort: a node that is disconnected when a message goes out never
// sees it (callers pair the bus with polling, so a lost message only delays a change). Each
// message travels as an envelope {"from": node id, "ts": Unix ms, "body": message}; a node never
// receives its own messages (skip-self, by node id), and envelopes that do not parse are logged
// and dropped.
//
// Implementations: memory::MemorySyncBus (in-process; buses sharing a hub act as nodes) and
// redis::RedisSyncBus (Redis PUBLISH/SUBSCRIBE on channels "slipway:<channel>").
//
// Threads: every method may be called from any thread. Handlers run on the bus's own delivery
// thread, one message at a time, in the order received: a handler must not block for long and
// must not call Stop() (which waits for that thread).
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::cluster {

struct BusStatus {
  std::string backend;                            // "memory" | "redis"
  bool connected = false;                         // receiving messages now (memory: started)
  std::chrono::system_clock::time_point since{};  // when `connected` last changed
  int64_t reconnects = 0;  // subscriber connections re-established after a loss
  std::string last_error;  // why it last lost or failed to get a connection ("" if never)
};

class SyncBus {
 public:
  using Handler = std::function<void(const boost::json::value& body)>;

  virtual ~SyncBus() = default;
  // Sends `message` (the envelope's body) to the other nodes. Works whether or not Start() was
  // called. Unavailable when the transport is down (Redis unreachable); nothing is queued.
  virtual Status Publish(const std::string& channel, const boost::json::value& message) = 0;
  // Adds a handler for `channel`'s messages from other nodes; before or after Start().
  virtual void Subscribe(const std::string& channel, Handler handler) = 0;
  // Starts receiving (the delivery thread). Never fails: a bus that cannot reach its transport
  // keeps trying in the background and says so in status(). Idempotent.
  virtual void Start() = 0;
  // Stops receiving and joins the delivery thread; handlers are not called after it returns.
  // Idempotent; the destructor calls it.
  virtual void Stop() = 0;
  virtual BusStatus status() const = 0;
};

}  // namespace slipway::cluster
