#include "cluster/cluster_node.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "core/ids.h"
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

std::string AgeSeconds(db::Dialect d, const std::string& column = "heartbeat_at") {
  return d == db::Dialect::kPostgres ? "EXTRACT(EPOCH FROM (now() - " + column + "))::float8"
                                     : "(julianday('now') - julianday(" + column + ")) * 86400.0";
}

}  // namespace

ClusterNode::ClusterNode(const core::Config& config, std::string version, db::Pool& pool,
                         Adapters adapters, Hooks hooks)
    : config_(config),
      version_(std::move(version)),
      address_(Address(config)),
      pool_(pool),
      adapters_(std::move(adapters)),
      hooks_(std::move(hooks)),
      instance_(core::NewUuidV4()) {}

ClusterNode::~ClusterNode() { Stop(); }

Status ClusterNode::Start() {
  // Unavailable while the store cannot be reached (the caller retries); with every id taken the
  // node still joins, and its creates get 503 until the lease keeper gets one.
  RETURN_IF_ERROR(adapters_.worker_ids->Start());
  int id = adapters_.worker_ids->id();
  worker_id_ = id;
  // A predecessor with this NODE_ID that crashed stops heart-beating and its row goes stale
  // within NODE_LIVE_TIMEOUT; a twin keeps it fresh and is still there at the deadline.
  auto deadline = Clock::now() + config_.node_live_timeout + config_.heartbeat_interval;
  while (true) {
    auto began = Clock::now();
    Status written = WriteRow(/*starting=*/true);
    if (written.ok()) {
      if (hooks_.current_until) hooks_.current_until(began + config_.node_live_timeout);
      break;
    }
    if (written.tag() != "NODE_ID_IN_USE" || Clock::now() >= deadline) {
      adapters_.worker_ids->Stop();  // gives the lease back
      return written;
    }
    core::log::Info("waiting for the previous process with this NODE_ID to go quiet",
                    {{"error", written.message()}});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
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
        ->Exec("DELETE FROM " + kNodes + " WHERE node_id = $1 AND instance = $2",
               {config_.node_id, instance_})
        .IgnoreError();
  }
  adapters_.worker_ids->Stop();
  core::log::Info("left the cluster");
}

// Serialised, so that a heartbeat that read an older applied epoch never lands after the write
// of a newer one (a node waiting for confirmation would then wait a heartbeat longer). Only this
// instance's row, or a stale one, is overwritten (see "Identity" in the header).
Status ClusterNode::WriteRow(bool starting) {
  std::lock_guard write(write_mu_);
  ASSIGN_OR_RETURN(auto conn, pool_.Acquire(std::chrono::seconds(2)));
  const db::Dialect dialect = conn->dialect();
  std::string now = db::SqlNow(dialect);
  const int64_t drained = Drained();
  const double live_for_s = std::chrono::duration<double>(config_.node_live_timeout).count();
  ASSIGN_OR_RETURN(
      auto rs,
      conn->Query(
          "INSERT INTO " + kNodes +
              " (node_id, address, version, worker_id, state, applied_epoch, drained_epoch, "
              "instance, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, " +
              now + ", " + now +
              ") ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, version = "
              "excluded.version, worker_id = excluded.worker_id, state = excluded.state, "
              "applied_epoch = excluded.applied_epoch, drained_epoch = excluded.drained_epoch, "
              "instance = excluded.instance, heartbeat_at = excluded.heartbeat_at" +
              std::string(starting ? ", started_at = excluded.started_at" : "") + " WHERE " +
              kNodes + ".instance = excluded.instance OR " +
              AgeSeconds(dialect, kNodes + ".heartbeat_at") + " >= $9 RETURNING node_id",
          {config_.node_id, address_, version_, static_cast<int64_t>(worker_id_.load()),
           hooks_.state(), applied_.load(), drained, instance_, live_for_s}));
  if (rs->row_count() == 0) {
    ASSIGN_OR_RETURN(auto holder, conn->Query("SELECT address, " + AgeSeconds(dialect) + " FROM " +
                                                  kNodes + " WHERE node_id = $1",
                                              {config_.node_id}));
    std::string where = holder->row_count() > 0 ? std::string(holder->Text(0, 0)) : "?";
    double age = holder->row_count() > 0 ? holder->Double(0, 1) : 0;
    return Status(StatusCode::kFailedPrecondition,
                  "NODE_ID '" + config_.node_id + "' is in use by another live process (at " +
                      where + ", heartbeat " + std::to_string(age).substr(0, 4) +
                      " s ago); give every node its own NODE_ID",
                  "NODE_ID_IN_USE");
  }
  reported_drained_ = drained;
  return Status::Ok();
}

int64_t ClusterNode::Drained() const {
  int64_t held = hooks_.oldest_held ? hooks_.oldest_held() : std::numeric_limits<int64_t>::max();
  return std::min(held, applied_.load());
}

void ClusterNode::Released(int64_t oldest_held) {
  if (!started_ || std::min(oldest_held, applied_.load()) <= reported_drained_.load()) return;
  if (!write_soon_.exchange(true)) wake_.notify_all();
}

void ClusterNode::Wake() {
  if (!started_) return;
  if (!write_soon_.exchange(true)) wake_.notify_all();
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

void ClusterNode::Heartbeat() {
  auto began = Clock::now();
  Status s = WriteRow(/*starting=*/false);
  if (!s.ok()) {
    if (!heartbeat_failing_) core::log::Warn("heartbeat failed", {{"error", s.message()}});
    heartbeat_failing_ = true;
    return;
  }
  if (heartbeat_failing_) core::log::Info("heartbeat recovered");
  heartbeat_failing_ = false;
  UpdateCurrency(began);
  // Last: what it does (a drop) may wait for locks, and must not delay the node's currency.
  if (hooks_.after_heartbeat) hooks_.after_heartbeat();
}

void ClusterNode::UpdateCurrency(Clock::time_point began) {
  if (!hooks_.current_until) return;
  // Current only when at the cluster's epoch as of a moment after the row was written: a change
  // that judged this node gone committed before that and is applied here first; one that saw
  // the row waits for this node like for any other.
  int64_t epoch = 0;
  {
    auto conn = pool_.Acquire(std::chrono::seconds(1));
    if (!conn.ok()) return;
    auto row = db::ReadClusterRow(**conn);
    if (!row.ok()) return;
    epoch = row->epoch;
  }
  if (epoch > applied_.load()) {
    std::string state = hooks_.state ? hooks_.state() : "running";
    if (state != "running" && state != "out_of_service") return;
    core::log::Info("behind the cluster's epoch at a heartbeat; reloading",
                    {{"from", applied_.load()}, {"to", epoch}});
    if (!hooks_.reload().ok()) return;
  }
  if (applied_.load() >= epoch) hooks_.current_until(began + config_.node_live_timeout);
}

void ClusterNode::HeartbeatLoop() {
  auto next = Clock::now();
  while (!stopping_.load()) {
    if (Clock::now() >= next || write_soon_.load()) {
      bool full = Clock::now() >= next;
      write_soon_ = false;
      if (full) {
        KeepWorkerId();
        next = Clock::now() + config_.heartbeat_interval;
      }
      Heartbeat();
    }
    std::unique_lock lock(mu_);
    wake_.wait_until(lock, next, [this] { return stopping_.load() || write_soon_.load(); });
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

namespace {

// Waits until every live, running node's `what` epoch (applied or drained) is at least `epoch`.
Status WaitUntilAll(db::Pool& pool, int64_t epoch, std::chrono::milliseconds live_timeout,
                    std::chrono::milliseconds timeout, bool drained) {
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
      if ((drained ? n.drained_epoch : n.applied_epoch) < epoch) behind.push_back(&n);
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (behind.empty()) {
      core::log::Info(drained ? "no node uses an older epoch" : "change applied on every live node",
                      {{"epoch", epoch}, {"nodes", live}, {"ms", ms}});
      return Status::Ok();
    }
    if (Clock::now() >= deadline) {
      std::string list;
      for (const NodeInfo* n : behind) {
        list += (list.empty() ? "" : ", ") + n->id + " (at epoch " +
                std::to_string(drained ? n->drained_epoch : n->applied_epoch) + ")";
      }
      if (drained) {
        return Status(StatusCode::kDeadlineExceeded,
                      std::to_string(behind.size()) + " of " + std::to_string(live) +
                          " live nodes still had requests on an epoch before " +
                          std::to_string(epoch) + " after " + std::to_string(timeout.count()) +
                          " ms: " + list,
                      "CLUSTER_UNDRAINED");
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

}  // namespace

Status WaitUntilApplied(db::Pool& pool, int64_t epoch, std::chrono::milliseconds live_timeout,
                        std::chrono::milliseconds timeout) {
  return WaitUntilAll(pool, epoch, live_timeout, timeout, /*drained=*/false);
}

Status WaitUntilDrained(db::Pool& pool, int64_t epoch, std::chrono::milliseconds live_timeout,
                        std::chrono::milliseconds timeout) {
  return WaitUntilAll(pool, epoch, live_timeout, timeout, /*drained=*/true);
}

Result<int64_t> DrainedFloor(db::Pool& pool, std::chrono::milliseconds live_timeout) {
  ASSIGN_OR_RETURN(auto conn, pool.Acquire(std::chrono::seconds(2)));
  ASSIGN_OR_RETURN(auto nodes, ListNodes(*conn, live_timeout));
  int64_t floor = std::numeric_limits<int64_t>::max();
  for (const NodeInfo& n : nodes) {
    if (n.live && n.state == "running") floor = std::min(floor, n.drained_epoch);
  }
  return floor;
}

Status ClusterNode::WaitUntilDrained(int64_t epoch) {
  return cluster::WaitUntilDrained(pool_, epoch, config_.node_live_timeout,
                                   config_.cluster_confirm_timeout);
}

Result<int64_t> ClusterNode::DrainedFloor() {
  return cluster::DrainedFloor(pool_, config_.node_live_timeout);
}

Status OutsiderAnnouncer::WaitUntilDrained(int64_t epoch) {
  return cluster::WaitUntilDrained(pool_, epoch, config_.node_live_timeout,
                                   config_.cluster_confirm_timeout);
}

Result<int64_t> OutsiderAnnouncer::DrainedFloor() {
  return cluster::DrainedFloor(pool_, config_.node_live_timeout);
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
      auto rs,
      conn.Query("SELECT node_id, address, version, worker_id, state, applied_epoch, " +
                 AgeSeconds(conn.dialect()) + ", started_at, heartbeat_at, drained_epoch FROM " +
                 kNodes + " ORDER BY node_id"));
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
    n.drained_epoch = rs->Int(r, 9);
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
                      {"drainedEpoch", n.drained_epoch},
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
