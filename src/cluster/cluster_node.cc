#include "cluster/cluster_node.h"

#include <unistd.h>

#include "core/logging.h"
#include "db/cluster_state.h"
#include "db/database.h"
#include "db/sql.h"
#include "db/system_tables.h"

namespace slipway::cluster {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSyncChannel = "sync";
const std::string kNodes(db::kNodesTable);

// Where other machines reach this node: the listen address, or the host name when it listens
// on every interface.
std::string Address(const core::Config& config) {
  std::string host = config.host;
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char name[256] = {};
    host = gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0' ? name : "localhost";
  }
  return host + ":" + std::to_string(config.port);
}

std::string AgeSeconds(db::Dialect d) {
  return d == db::Dialect::kPostgres ? "EXTRACT(EPOCH FROM (now() - heartbeat_at))::float8"
                                     : "(julianday('now') - julianday(heartbeat_at)) * 86400.0";
}

}  // namespace

ClusterNode::ClusterNode(const core::Config& config, std::string version, db::Pool& pool,
                         Adapters adapters, Hooks hooks)
    : config_(config),
      version_(std::move(version)),
      address_(Address(config)),
      pool_(pool),
      adapters_(std::move(adapters)),
      hooks_(std::move(hooks)) {}

ClusterNode::~ClusterNode() { Stop(); }

Status ClusterNode::Start() {
  // Unavailable while the store cannot be reached (the caller retries); with every id taken the
  // node still joins, and its creates get 503 until the lease keeper gets one.
  RETURN_IF_ERROR(adapters_.worker_ids->Start());
  int id = adapters_.worker_ids->id();
  worker_id_ = id;
  RETURN_IF_ERROR(WriteRow(/*starting=*/true));
  adapters_.bus->Subscribe(kSyncChannel, [this](const json::value& m) { OnSync(m); });
  adapters_.bus->Start();
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  poller_ = std::thread([this] { PollLoop(); });
  started_ = true;
  core::log::Info("joined the cluster",
                  {{"worker_id", id}, {"sync", std::string(adapters_.bus->status().backend)}});
  return Status::Ok();
}

void ClusterNode::Stop() {
  if (!started_ || stopping_.exchange(true)) return;
  wake_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (poller_.joinable()) poller_.join();
  adapters_.bus->Stop();
  auto conn = pool_.Acquire(std::chrono::seconds(2));
  if (conn.ok()) {
    (*conn)
        ->Query("DELETE FROM " + kNodes + " WHERE node_id = $1", {config_.node_id})
        .status()
        .IgnoreError();
  }
  adapters_.worker_ids->Stop();
  core::log::Info("left the cluster");
}

// Serialised, so that a heartbeat that read an older applied epoch never lands after the write
// of a newer one (a node waiting for confirmation would then wait a heartbeat longer).
Status ClusterNode::WriteRow(bool starting) {
  std::lock_guard write(write_mu_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire(std::chrono::seconds(2)));
  std::string now = db::SqlNow(conn->dialect());
  ASSIGN_OR_RETURN(
      auto rs,
      conn->Query("INSERT INTO " + kNodes +
                      " (node_id, address, version, worker_id, state, applied_epoch, "
                      "started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, " +
                      now + ", " + now +
                      ") "
                      "ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, version = "
                      "excluded.version, "
                      "worker_id = excluded.worker_id, state = excluded.state, applied_epoch = "
                      "excluded.applied_epoch, "
                      "heartbeat_at = excluded.heartbeat_at" +
                      std::string(starting ? ", started_at = excluded.started_at" : ""),
                  {config_.node_id, address_, version_, static_cast<int64_t>(worker_id_.load()),
                   hooks_.state(), applied_.load()}));
  return Status::Ok();
}

void ClusterNode::Applied(int64_t epoch) {
  int64_t before = applied_.load();
  while (epoch > before && !applied_.compare_exchange_weak(before, epoch)) {
  }
  if (!started_ || epoch <= before) return;
  // At once, not at the next heartbeat: a change waiting for confirmation is waiting for this.
  Status s = WriteRow(/*starting=*/false);
  if (!s.ok())
    core::log::Warn("could not record the applied epoch",
                    {{"epoch", epoch}, {"error", s.message()}});
}

void ClusterNode::StateChanged() {
  if (!started_) return;
  Status s = WriteRow(/*starting=*/false);
  if (!s.ok()) core::log::Warn("could not record the node's state", {{"error", s.message()}});
}

void ClusterNode::HeartbeatLoop() {
  bool failing = false;
  while (!stopping_.load()) {
    KeepWorkerId();
    Status s = WriteRow(/*starting=*/false);
    if (!s.ok() && !failing) {
      core::log::Warn("heartbeat failed", {{"error", s.message()}});
    } else if (s.ok() && failing) {
      core::log::Info("heartbeat recovered");
    }
    failing = !s.ok();
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, config_.heartbeat_interval, [this] { return stopping_.load(); });
  }
}

// A change whose sync signal this node missed (Redis down, a message lost) is found here within
// SYNC_POLL_INTERVAL: the database, not the bus, is the truth.
void ClusterNode::PollLoop() {
  while (!stopping_.load()) {
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, config_.sync_poll_interval, [this] { return stopping_.load(); });
    }
    if (stopping_.load()) return;
    std::string state = hooks_.state ? hooks_.state() : "running";
    if (state != "running" && state != "out_of_service") continue;
    int64_t epoch = 0;
    {
      auto conn = pool_.Acquire(std::chrono::seconds(1));
      if (!conn.ok()) continue;
      auto row = db::ReadClusterRow(**conn);
      if (!row.ok()) continue;
      epoch = row->epoch;
    }
    if (epoch <= applied_.load()) continue;
    core::log::Info("epoch changed elsewhere; reloading",
                    {{"from", applied_.load()}, {"to", epoch}});
    hooks_.reload().status().IgnoreError();
  }
}

// The lease keeper (worker_id_lease.h) renews and re-leases on its own thread; the registry row
// shows the id it holds now.
void ClusterNode::KeepWorkerId() { worker_id_ = adapters_.worker_ids->id(); }

void ClusterNode::OnSync(const json::value& message) {
  if (!message.is_object()) return;
  const json::object& m = message.as_object();
  const json::value* type = m.if_contains("type");
  if (type == nullptr || !type->is_string()) return;
  if (type->as_string() == "epoch") {
    const json::value* epoch = m.if_contains("epoch");
    if (epoch == nullptr || !epoch->is_int64() || epoch->as_int64() <= applied_.load()) return;
    auto reloaded = hooks_.reload();
    if (!reloaded.ok()) {
      core::log::Warn("reload after a sync signal failed",
                      {{"error", reloaded.status().message()}});
    }
  } else if (type->as_string() == "plugin") {
    const json::value* plugin = m.if_contains("plugin");
    const json::value* body = m.if_contains("body");
    if (plugin != nullptr && plugin->is_string() && body != nullptr && hooks_.plugin_message) {
      hooks_.plugin_message(plugin->as_string(), *body);
    }
  }
}

Status ClusterNode::AnnounceAndConfirm(int64_t epoch) {
  Applied(epoch);
  Status published =
      adapters_.bus->Publish(kSyncChannel, json::object{{"type", "epoch"}, {"epoch", epoch}});
  if (!published.ok()) {
    // The others still see it when they poll the epoch; confirmation below tells.
    core::log::Warn("sync signal not sent; nodes will find the change by polling",
                    {{"epoch", epoch}, {"error", published.message()}});
  }
  return WaitUntilApplied(pool_, epoch, config_.node_live_timeout, config_.cluster_confirm_timeout);
}

Status WaitUntilApplied(db::Pool& pool, int64_t epoch, std::chrono::milliseconds live_timeout,
                        std::chrono::milliseconds timeout) {
  auto started = Clock::now();
  auto deadline = started + timeout;
  while (true) {
    std::vector<NodeInfo> nodes;
    {
      ASSIGN_OR_RETURN(auto conn, pool.Acquire(std::chrono::seconds(2)));
      ASSIGN_OR_RETURN(nodes, ListNodes(*conn, live_timeout));
    }
    std::vector<const NodeInfo*> behind;
    size_t live = 0;
    for (const NodeInfo& n : nodes) {
      if (!n.live || n.state != "running") continue;
      ++live;
      if (n.applied_epoch < epoch) behind.push_back(&n);
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (behind.empty()) {
      core::log::Info("change applied on every live node",
                      {{"epoch", epoch}, {"nodes", live}, {"ms", ms}});
      return Status::Ok();
    }
    if (Clock::now() >= deadline) {
      std::string list;
      for (const NodeInfo* n : behind) {
        list += (list.empty() ? "" : ", ") + n->id + " (at epoch " +
                std::to_string(n->applied_epoch) + ")";
      }
      core::log::Error("change not confirmed by every node", {{"epoch", epoch}, {"behind", list}});
      return Status(StatusCode::kDeadlineExceeded,
                    "the change was committed (epoch " + std::to_string(epoch) + ") but " +
                        std::to_string(behind.size()) + " of " + std::to_string(live) +
                        " live nodes did not apply it within " + std::to_string(timeout.count()) +
                        " ms: " + list,
                    "CLUSTER_UNCONFIRMED");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status ClusterNode::PublishPluginMessage(std::string_view plugin, const json::value& message) {
  return adapters_.bus->Publish(
      kSyncChannel, json::object{{"type", "plugin"}, {"plugin", plugin}, {"body", message}});
}

Status OutsiderAnnouncer::AnnounceAndConfirm(int64_t epoch) {
  Status sent =
      adapters_.bus->Publish(kSyncChannel, json::object{{"type", "epoch"}, {"epoch", epoch}});
  if (!sent.ok()) {
    core::log::Warn("sync signal not sent; nodes poll the epoch", {{"error", sent.message()}});
  }
  return WaitUntilApplied(pool_, epoch, config_.node_live_timeout, config_.cluster_confirm_timeout);
}

Status OutsiderAnnouncer::PublishPluginMessage(std::string_view plugin,
                                               const json::value& message) {
  return adapters_.bus->Publish(
      kSyncChannel, json::object{{"type", "plugin"}, {"plugin", plugin}, {"body", message}});
}

Result<std::vector<NodeInfo>> ListNodes(db::Connection& conn,
                                        std::chrono::milliseconds live_timeout) {
  ASSIGN_OR_RETURN(
      auto rs, conn.Query("SELECT node_id, address, version, worker_id, state, applied_epoch, " +
                          AgeSeconds(conn.dialect()) + ", started_at, heartbeat_at FROM " + kNodes +
                          " ORDER BY node_id"));
  std::vector<NodeInfo> out;
  double live_for = std::chrono::duration<double>(live_timeout).count();
  for (int r = 0; r < rs->row_count(); ++r) {
    NodeInfo n;
    n.id = std::string(rs->Text(r, 0));
    n.address = std::string(rs->Text(r, 1));
    n.version = std::string(rs->Text(r, 2));
    n.worker_id = rs->IsNull(r, 3) ? -1 : static_cast<int>(rs->Int(r, 3));
    n.state = std::string(rs->Text(r, 4));
    n.applied_epoch = rs->Int(r, 5);
    n.heartbeat_age_s = rs->Double(r, 6);
    n.started_at = std::string(rs->Text(r, 7));
    n.heartbeat_at = std::string(rs->Text(r, 8));
    n.live = n.heartbeat_age_s < live_for;
    out.push_back(std::move(n));
  }
  return out;
}

json::object NodeJson(const NodeInfo& n) {
  return json::object{{"id", n.id},
                      {"address", n.address},
                      {"version", n.version},
                      {"workerId", n.worker_id},
                      {"state", n.state},
                      {"appliedEpoch", n.applied_epoch},
                      {"live", n.live},
                      {"heartbeatAgeSeconds", n.heartbeat_age_s},
                      {"heartbeatAt", n.heartbeat_at},
                      {"startedAt", n.started_at}};
}

json::object ClusterNode::AdapterStatus() const {
  json::object out = DescribeAdapters(adapters_);
  out["nodeId"] = config_.node_id;
  return out;
}

Result<std::vector<NodeInfo>> ClusterNode::Nodes() {
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire(std::chrono::seconds(2)));
  return ListNodes(*conn, config_.node_live_timeout);
}

}  // namespace slipway::cluster
