#include "cluster/sync_envelope.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <exception>

#include "core/logging.h"

namespace slipway::cluster {

std::string EncodeEnvelope(const std::string& from, const boost::json::value& body) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  return boost::json::serialize(boost::json::object{{"from", from}, {"ts", now}, {"body", body}});
}

Result<Envelope> DecodeEnvelope(std::string_view payload) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(payload, ec);
  if (ec) return InvalidArgument("sync message is not JSON: " + ec.message());
  const boost::json::object* o = v.if_object();
  if (o == nullptr) return InvalidArgument("sync message is not a JSON object");
  const boost::json::value* from = o->if_contains("from");
  const boost::json::value* ts = o->if_contains("ts");
  const boost::json::value* body = o->if_contains("body");
  if (from == nullptr || !from->is_string()) {
    return InvalidArgument("sync message has no \"from\" string");
  }
  if (ts == nullptr || !(ts->is_int64() || ts->is_uint64())) {
    return InvalidArgument("sync message has no integer \"ts\"");
  }
  if (body == nullptr) return InvalidArgument("sync message has no \"body\"");
  Envelope e;
  e.from = std::string(from->get_string());
  e.ts = ts->is_int64() ? ts->get_int64() : static_cast<int64_t>(ts->get_uint64());
  e.body = *body;
  return e;
}

void SyncHandlers::Add(const std::string& channel, SyncBus::Handler handler) {
  std::lock_guard lock(mu_);
  handlers_[channel].push_back(std::move(handler));
}

std::vector<std::string> SyncHandlers::Channels() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [channel, _] : handlers_) out.push_back(channel);
  return out;
}

int SyncHandlers::Dispatch(const std::string& channel, std::string_view payload) const {
  Result<Envelope> e = DecodeEnvelope(payload);
  if (!e.ok()) {
    core::log::Warn("sync message dropped", {{"channel", channel},
                                             {"error", e.status().message()},
                                             {"bytes", static_cast<int64_t>(payload.size())}});
    return 0;
  }
  if (e->from == node_id_) return 0;
  std::vector<SyncBus::Handler> handlers;
  {
    std::lock_guard lock(mu_);
    auto it = handlers_.find(channel);
    if (it == handlers_.end()) return 0;
    handlers = it->second;
  }
  for (const auto& handler : handlers) {
    // Handlers are application code on the bus's thread: one that throws must not end delivery.
    try {
      handler(e->body);
    } catch (const std::exception& ex) {
      core::log::Error("sync handler failed", {{"channel", channel}, {"error", ex.what()}});
    } catch (...) {
      core::log::Error("sync handler failed", {{"channel", channel}, {"error", "unknown"}});
    }
  }
  return static_cast<int>(handlers.size());
}

}  // namespace slipway::cluster
