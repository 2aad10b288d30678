// The wire form of a sync message and the subscriber-side dispatch shared by the SyncBus
// implementations (sync_bus.h).
//
// An envelope is the JSON text {"from": "<node id>", "ts": <Unix ms>, "body": <message>}.
// SyncHandlers keeps the handlers per channel and delivers an envelope to them: it drops (and
// logs) envelopes that do not parse and the node's own messages. Thread-safe: Add() may run while
// Dispatch() runs on the delivery thread; handlers are called without the lock held.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/sync_bus.h"
#include "slipway/status.h"

namespace slipway::cluster {

struct Envelope {
  std::string from;
  int64_t ts = 0;
  boost::json::value body;
};

std::string EncodeEnvelope(const std::string& from, const boost::json::value& body);
// InvalidArgument saying what is wrong with `payload`.
Result<Envelope> DecodeEnvelope(std::string_view payload);

class SyncHandlers {
 public:
  explicit SyncHandlers(std::string node_id) : node_id_(std::move(node_id)) {}

  void Add(const std::string& channel, SyncBus::Handler handler);
  std::vector<std::string> Channels() const;
  // Decodes `payload` and calls `channel`'s handlers unless it is malformed or from this node.
  // Returns how many handlers were called (tests).
  int Dispatch(const std::string& channel, std::string_view payload) const;
  const std::string& node_id() const { return node_id_; }

 private:
  const std::string node_id_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<SyncBus::Handler>> handlers_;  // guarded by mu_
};

}  // namespace slipway::cluster
