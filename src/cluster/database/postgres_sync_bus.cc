#include "cluster/database/postgres_sync_bus.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "cluster/backoff.h"
#include "core/clock.h"
#include "core/logging.h"
#include "db/postgres/postgres_listener.h"

namespace slipway::cluster::database {

// One receiving session, from the first LISTEN until it is lost or the bus stops.
class PostgresSyncBus::Session {
 public:
  Session(PostgresSyncBus& bus, db::PostgresListener& listener, Backoff& backoff)
      : bus_(bus), listener_(listener), backoff_(backoff) {}

  // Returns OK when the bus stops, else why the session was lost.
  Status Serve() {
    auto last_rx = Clock::now();
    while (!bus_.loop_.stopping()) {
      RETURN_IF_ERROR(ListenToNewChannels());
      auto quiet = Clock::now() - last_rx;
      if (quiet >= bus_.options_.ping_interval) {
        RETURN_IF_ERROR(listener_.Ping(bus_.options_.timeout));
        last_rx = Clock::now();
        continue;
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          bus_.options_.ping_interval - quiet);
      ASSIGN_OR_RETURN(auto notes, listener_.Wait(std::min(wait, std::chrono::milliseconds(1000)) +
                                                      std::chrono::milliseconds(1),
                                                  bus_.loop_.wake_fd()));
      bus_.loop_.ClearWake();
      if (!notes.empty()) last_rx = Clock::now();
      for (const db::PostgresNotification& n : notes) {
        if (n.channel.rfind(kChannelPrefix, 0) != 0) continue;
        bus_.handlers_.Dispatch(n.channel.substr(kChannelPrefix.size()), n.payload);
        if (bus_.loop_.stopping()) return Status::Ok();
      }
    }
    return Status::Ok();
  }

 private:
  Status ListenToNewChannels() {
    bool added = false;
    for (const std::string& channel : bus_.handlers_.Channels()) {
      if (listening_.count(channel) != 0) continue;
      RETURN_IF_ERROR(
          listener_.Listen(std::string(kChannelPrefix) + channel, bus_.options_.timeout));
      listening_.insert(channel);
      added = true;
    }
    if (added || !connected_) {
      connected_ = true;
      backoff_.Reset();
      bus_.loop_.SetConnected(true, "");
    }
    return Status::Ok();
  }

  PostgresSyncBus& bus_;
  db::PostgresListener& listener_;
  Backoff& backoff_;
  std::set<std::string> listening_;
  bool connected_ = false;
};

PostgresSyncBus::PostgresSyncBus(db::PostgresOptions listen, db::Pool& pool, std::string node_id,
                                 PostgresSyncBusOptions options)
    : listen_(std::move(listen)),
      pool_(pool),
      options_(options),
      handlers_(std::move(node_id)),
      loop_("postgres", SubscriberLogLines{"LISTEN session connected", "LISTEN session reconnected",
                                           "LISTEN session lost; reconnecting",
                                           "LISTEN session cannot connect yet", "database",
                                           listen_.Describe()}) {}

PostgresSyncBus::~PostgresSyncBus() { Stop(); }

std::string PostgresSyncBus::session_name() const {
  return ("slipway-sync " + handlers_.node_id()).substr(0, 63);  // PostgreSQL keeps 63 bytes
}

Status PostgresSyncBus::Publish(const std::string& channel, const boost::json::value& message) {
  if (kChannelPrefix.size() + channel.size() > kMaxChannel) {
    return InvalidArgument("sync channel '" + channel + "' is too long for PostgreSQL (at most " +
                           std::to_string(kMaxChannel - kChannelPrefix.size()) + " bytes)");
  }
  std::string payload = EncodeEnvelope(handlers_.node_id(), message);
  if (payload.size() > kMaxPayload) {
    return InvalidArgument("a sync message of " + std::to_string(payload.size()) +
                           " bytes exceeds PostgreSQL's NOTIFY limit of " +
                           std::to_string(kMaxPayload) + " bytes (a Redis bus has no such limit)");
  }
  auto conn = pool_.Acquire(std::chrono::seconds(2));
  if (!conn.ok()) return conn.status().WithContext("publish on the sync bus");
  return (*conn)
      ->Query("SELECT pg_notify($1, $2)", {std::string(kChannelPrefix) + channel, payload})
      .status()
      .WithContext("publish on the sync bus");
}

void PostgresSyncBus::Subscribe(const std::string& channel, Handler handler) {
  if (kChannelPrefix.size() + channel.size() > kMaxChannel) {
    core::log::Error("sync channel too long for PostgreSQL; its messages will not arrive",
                     {{"channel", channel}});
  }
  handlers_.Add(channel, std::move(handler));
  loop_.Wake();
}

void PostgresSyncBus::Start() {
  loop_.Start([this] { Run(); });
}

void PostgresSyncBus::Stop() { loop_.Stop(); }

BusStatus PostgresSyncBus::status() const { return loop_.status(); }

void PostgresSyncBus::Run() {
  Backoff backoff(options_.backoff_initial, options_.backoff_max);
  while (!loop_.stopping()) {
    auto opened = db::PostgresListener::Open(listen_, session_name());
    if (!opened.ok()) {
      loop_.SetConnected(false, opened.status().message());
      if (!loop_.SleepUnlessStopped(backoff.Next())) return;
      continue;
    }
    Session session(*this, **opened, backoff);
    Status ended = session.Serve();
    if (loop_.stopping()) return;
    // Open a new session at once; failures from here on back off.
    loop_.SetConnected(false, ended.message());
  }
}

}  // namespace slipway::cluster::database
