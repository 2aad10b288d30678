#include "ops/node.h"

#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/logging.h"

namespace slipway::ops {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Result<int64_t> NodeProcedures::Refresh() {
  Status s = services_.ReloadSnapshot();
  if (!s.ok()) {
    if (s.tag() == "APP_OUTDATED") {
      // Another node upgraded the schema past this binary: stop serving, say why (fencing).
      if (lifecycle_.TransitionTo(api::AppState::kOutdated, s.message()).ok()) {
        core::log::Error("the database is newer than this node; out of service",
                         {{"error", s.message()}});
      }
    } else {
      core::log::Error("reload failed", {{"error", s.message()}});
    }
    return s;
  }
  return services_.snapshot()->epoch;
}

void NodeProcedures::OnSnapshot(const api::Snapshot& snap) {
  // A node that could not apply what the cluster enabled takes itself out of service rather
  // than serve a diverged application; it comes back once a later change can be applied.
  api::AppState state = lifecycle_.state();
  if (!snap.load_errors.empty() && state == api::AppState::kRunning) {
    std::string why = "could not apply the cluster's plugins: " + snap.load_errors.front();
    if (lifecycle_.TransitionTo(api::AppState::kOutOfService, why).ok()) {
      core::log::Error("out of service", {{"reason", why}});
    }
  } else if (snap.load_errors.empty() && state == api::AppState::kOutOfService) {
    if (lifecycle_.TransitionTo(api::AppState::kRunning).ok()) core::log::Info("back in service");
  }
  // After the state: the registry row then says both what this node applied and whether it
  // serves, so a node waiting for confirmation never counts a node that is leaving service.
  if (cluster_) cluster_->Applied(snap.epoch);
}

Status NodeProcedures::JoinCluster() {
  auto backoff = std::chrono::milliseconds(200);
  while (true) {
    Status s = cluster_->Start();
    if (s.code() != StatusCode::kUnavailable) return s;
    if (lifecycle_.state() == api::AppState::kStopping) return s;
    std::string why = "waiting to join the cluster: " + s.message();
    if (lifecycle_.message() != why) {
      core::log::Warn(
          "cannot join the cluster yet; retrying",
          {{"error", s.message()}, {"retry_ms", static_cast<int64_t>(backoff.count())}});
      lifecycle_.SetMessage(why);
    }
    for (auto waited = std::chrono::milliseconds(0); waited < backoff;
         waited += std::chrono::milliseconds(50)) {
      if (lifecycle_.state() == api::AppState::kStopping) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

void NodeProcedures::StartUp(SchemaInfo info) {
  auto started = Clock::now();
  Installer installer(pool_, schema_lock_,
                      installer_options_([this](int done, int total, std::string_view what) {
                        lifecycle_.SetMessage(std::string(what) + " (" + std::to_string(done) +
                                              "/" + std::to_string(total) + ")");
                      }));
  Status status;
  // First start of several nodes at once: one takes the schema lock and installs; the others
  // stay `initializing` (503 APP_INITIALIZING) until the database is installed, then serve.
  while (info.status == SchemaStatus::kEmpty) {
    if (lifecycle_.state() == api::AppState::kStopping) return;
    auto free = schema_lock_.TryAcquire();
    if (free.ok() && *free) {
      schema_lock_.Release();
      break;
    }
    if (lifecycle_.message().find("another node") == std::string::npos) {
      core::log::Info("another node is installing the database; waiting for it");
    }
    lifecycle_.SetMessage(
        "another node is installing the database; this one serves when it is done");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto again = installer.Inspect();
    if (again.ok()) info = *again;
  }
  if (info.status == SchemaStatus::kEmpty) {
    lifecycle_.TransitionTo(api::AppState::kInstalling).IgnoreError();
    core::log::Info("installing", {{"version", version_.ToString()}});
    status = installer.Install(/*force=*/false);
    // Another process may have installed it while we waited for the lock; that is success.
    if (status.code() == StatusCode::kAlreadyExists) status = installer.Upgrade();
  } else if (info.status == SchemaStatus::kOlder) {
    lifecycle_.TransitionTo(api::AppState::kUpgrading).IgnoreError();
    core::log::Info("upgrading", {{"from", info.schema_version}, {"to", version_.ToString()}});
    status = installer.Upgrade();
  } else {
    // Same version; still apply migrations this binary has and the database lacks (an
    // interrupted install of a pre-release, or extra migrations of a test build).
    status = installer.Upgrade();
  }
  if (!status.ok()) {
    core::log::Error("start-up failed", {{"error", status.message()}});
    lifecycle_.TransitionTo(api::AppState::kError, status.message()).IgnoreError();
    return;
  }
  Status loaded = services_.ReloadSnapshot();
  if (loaded.ok() && cluster_) {
    loaded = JoinCluster();  // ids then take the lease's worker id (SetWorkerIdSource)
  }
  if (!loaded.ok()) {
    core::log::Error("start-up failed", {{"error", loaded.message()}});
    lifecycle_.TransitionTo(api::AppState::kError, loaded.message()).IgnoreError();
    if (loaded.tag() == "NODE_ID_IN_USE" && on_fatal_) on_fatal_(loaded);
    return;
  }
  if (lifecycle_.TransitionTo(api::AppState::kRunning).ok()) {
    if (cluster_) cluster_->StateChanged();
    OnSnapshot(*services_.snapshot());  // a plugin this node could not load: out of service
    core::log::Info("serving", {{"epoch", services_.snapshot()->epoch},
                                {"collections", services_.snapshot()->schema->collections().size()},
                                {"startup_ms", core::MillisSince(started)}});
  }
}

}  // namespace slipway::ops
