// WorkerIdLease: this node's worker id, kept so that the node never issues a Snowflake id under a
// worker id that another node may hold at the same time. It leases the id from a WorkerIdStore
// (worker_ids.h), renews it, and answers IdForIssuing() before every id (the id path is
// api::ServicesImpl::NextSnowflake -> core::SnowflakeGenerator).
//
// The rules, in the order they matter:
//
// 1. Validity deadline. A confirmation (an acquisition or a renewal the store accepted) makes the
//    lease valid until T + ttl - margin, where T is this machine's steady time read *before* the
//    call went out: the store started its TTL no earlier than T, so the lease is surely still ours
//    until T + ttl; `margin` is kept in hand for the drift between this clock and the store's and
//    for an id issued just as the deadline passes. IdForIssuing() answers an id only before it.
// 2. Stop at once. A renewal the store refuses (the lease expired there, the store forgot it, or
//    another owner holds the id) ends the lease that moment. A renewal that cannot reach the store
//    changes nothing: the deadline of the last confirmation still stands, since nobody else can be
//    given the id before it, and renewal is retried every `retry_interval` meanwhile.
// 3. Re-lease as soon as the store answers. While no valid lease is held the keeper thread tries
//    every `retry_interval`, renewing the lease when the store still has it, else acquiring an id
//    and preferring the one held last. A create that finds no valid lease asks the keeper for one
//    attempt at once and waits up to `demand_wait` for it (without blocking an I/O thread: in a
//    fiber only the fiber waits) before it is answered Unavailable (503, Retry-After).
// 4. A store that can forget (Redis restarted without persistence, FLUSHALL, a failover):
//    a freshly acquired id is used only one full `ttl` after the acquisition returned. Whoever
//    held the id before had its last confirmation before the store lost the lease, hence before
//    our acquisition, so its deadline (rule 1) has surely passed a TTL later. This holds for the
//    id this node held itself before, too: after the store forgot our lease, another node may
//    have acquired the id, confirmed it, and been forgotten in turn, and its deadline may still
//    be running when we take the id back. A renewal (the store still had our lease) needs no
//    wait. A store that never forgets (the database) needs none either: it gives an id to
//    another owner only after the lease expired by its clock, past the holder's own deadline.
// 5. No id to be had. When every id is taken, Start() still succeeds, with no id: creates are
//    answered Unavailable naming why, and the keeper takes an id as soon as one is free.
//
// How it fails: IdForIssuing() is Unavailable (tag WORKER_ID_UNAVAILABLE) with the reason
// (no id yet, every id taken, the store unreachable since the deadline passed, waiting out a
// forgetful store); Start() is Unavailable when the store cannot be reached (call it again).
// Thread-safe. Time comes from a core::Clock; with `keeper_thread` off (tests) nothing runs in
// the background and Maintain() does the keeper's work when called.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/worker_ids.h"
#include "core/clock.h"
#include "slipway/status.h"

namespace slipway::cluster {

struct WorkerIdLeaseOptions {
  std::chrono::milliseconds ttl{10'000};
  std::chrono::milliseconds margin{2'000};
  std::chrono::milliseconds renew_interval{2'000};  // while the lease is confirmed
  std::chrono::milliseconds retry_interval{200};    // after a failed attempt
  std::chrono::milliseconds demand_wait{1'000};     // a create waits this long for an attempt
  bool keeper_thread = true;

  // The options for a lease of `ttl` (WORKER_ID_TTL): margin and renewal a fifth of it.
  static WorkerIdLeaseOptions ForTtl(std::chrono::milliseconds ttl);
  // InvalidArgument naming what is wrong unless 0 < margin < ttl and
  // 0 < renew_interval < ttl - margin (a renewal must be due before the deadline).
  Status Check() const;
};

class WorkerIdLease {
 public:
  // `node_id` prefixes the owner token ("<node id>/<random>"), so the store shows whose it is.
  WorkerIdLease(std::unique_ptr<WorkerIdStore> store, std::string node_id,
                WorkerIdLeaseOptions options = {},
                const core::Clock& clock = core::Clock::Steady());
  ~WorkerIdLease();
  WorkerIdLease(const WorkerIdLease&) = delete;
  WorkerIdLease& operator=(const WorkerIdLease&) = delete;

  // Leases a first id (one attempt) and starts the keeper. OK also when every id is taken (rule
  // 5). Unavailable when the store cannot be reached: nothing started, call it again.
  Status Start();
  // Stops the keeper and gives the id back. Idempotent; the destructor calls it.
  void Stop();

  // The worker id to issue the next Snowflake id under (rules 1 to 5).
  Result<int> IdForIssuing();

  // One round of the keeper's work: renews when due, re-leases when no lease is held. Returns
  // the store's failure, if any. Called by the keeper thread, or by tests without one.
  Status Maintain();

  // The id held, usable or not (-1: none), for the node registry.
  int id() const;
  // {"backend", "id", "lost" (no id can be issued now), "reason", "validForMs", "usableInMs"}.
  boost::json::object Describe() const;
  const std::string& owner() const { return owner_; }
  const WorkerIdStore& store() const { return *store_; }
  WorkerIdStore& store() { return *store_; }

 private:
  class DemandWaiter;
  using TimePoint = core::Clock::TimePoint;

  Status Upkeep(bool force);
  Status Acquire(int preferred);
  void Run();
  bool UsableLocked(TimePoint now) const;
  Status NotUsableLocked(TimePoint now) const;

  const std::unique_ptr<WorkerIdStore> store_;
  const std::string owner_;
  const WorkerIdLeaseOptions options_;
  const core::Clock& clock_;
  std::mutex upkeep_mu_;  // one attempt at a time; held across the store's calls
  std::thread keeper_;    // guarded by lifecycle_mu_
  std::mutex lifecycle_mu_;
  mutable std::mutex mu_;  // never held across a store call
  std::condition_variable wake_;
  // Guarded by mu_.
  int id_ = -1;
  int last_id_ = -1;                             // the id held last: preferred when leasing again
  TimePoint valid_until_{};                      // rule 1
  TimePoint usable_from_{};                      // rule 4
  TimePoint next_attempt_{};                     // the keeper's next renewal or attempt
  TimePoint last_attempt_{};                     // when the last attempt ended
  std::string problem_;                          // why the last attempt failed ("" after a success)
  StatusCode logged_failure_ = StatusCode::kOk;  // the acquisition failure last logged
  bool started_ = false;
  bool stop_ = false;
  bool demand_ = false;
  std::vector<std::shared_ptr<DemandWaiter>> waiters_;
};

}  // namespace slipway::cluster
