// The PostgreSQL SyncBus (sync_bus.h): LISTEN/NOTIFY on the cluster's own database, for nodes
// that share a PostgreSQL database and no Redis. Channels are "slipway:<channel>".
//
// Publish() runs SELECT pg_notify(...) on a pooled connection: PostgreSQL delivers the
// notification to every session listening on that database when the statement commits (at once,
// outside a transaction). A payload (the envelope, sync_envelope.h) is limited to 7999 bytes by
// PostgreSQL, and a channel name (with the prefix) to 63 bytes; larger ones are refused with
// InvalidArgument.
//
// Receiving uses a session of its own (db::PostgresListener) on the bus's thread, which LISTENs on
// every channel that has a handler (channels added later are listened to on the fly), checks a
// quiet session with a round trip every `ping_interval`, and notices at once a session the server
// ended (pg_terminate_backend, a restart). A lost session is opened again with backoff (100 ms
// doubling to 2 s); each loss and recovery is logged once, and status() reports it. Notifications
// sent while no session listens are lost (NOTIFY keeps nothing): the nodes' epoch polling finds
// the change.
//
// Handlers run on the bus's thread (see sync_bus.h). Stop() returns within a poll, except while a
// connection attempt is in flight, which it waits for (at most the connect timeout). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/subscriber_loop.h"
#include "cluster/sync_bus.h"
#include "cluster/sync_envelope.h"
#include "db/database.h"
#include "db/postgres/postgres_connection.h"

namespace slipway::cluster::database {

struct PostgresSyncBusOptions {
  std::chrono::milliseconds timeout{2000};  // LISTEN and ping round trips
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
  std::chrono::milliseconds ping_interval{5000};
};

class PostgresSyncBus final : public SyncBus {
 public:
  static constexpr std::string_view kChannelPrefix = "slipway:";
  static constexpr size_t kMaxPayload = 7999;  // PostgreSQL's NOTIFY limit, in bytes
  static constexpr size_t kMaxChannel = 63;    // a channel is an identifier: 63 bytes

  // `pool` publishes; `listen` opens the receiving session (the pool's server and database).
  PostgresSyncBus(db::PostgresOptions listen, db::Pool& pool, std::string node_id,
                  PostgresSyncBusOptions options = {});
  ~PostgresSyncBus() override;

  Status Publish(const std::string& channel, const boost::json::value& message) override;
  void Subscribe(const std::string& channel, Handler handler) override;
  void Start() override;
  void Stop() override;
  BusStatus status() const override;

  // The application_name of the receiving session (tests find it in pg_stat_activity).
  std::string session_name() const;

 private:
  using Clock = std::chrono::steady_clock;
  class Session;  // one receiving session's life (postgres_sync_bus.cc)

  void Run();

  const db::PostgresOptions listen_;
  db::Pool& pool_;
  const PostgresSyncBusOptions options_;
  SyncHandlers handlers_;
  SubscriberLoop loop_;  // the receiving thread, its wake-ups and the status
};

}  // namespace slipway::cluster::database
