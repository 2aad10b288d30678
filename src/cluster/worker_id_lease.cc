#include "cluster/worker_id_lease.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "core/fiber.h"
#include "core/ids.h"
#include "core/logging.h"

namespace slipway::cluster {
namespace {

constexpr const char* kTag = "WORKER_ID_UNAVAILABLE";

int64_t MillisUntil(core::Clock::TimePoint from, core::Clock::TimePoint to) {
  return std::max<int64_t>(core::ToMillis(to - from), 0);
}

}  // namespace

// A create waiting for the keeper's next attempt: an eventfd the keeper writes once the attempt
// ended, which a fiber can wait on without blocking its thread. Shared by the waiter and the
// keeper, so that neither writes to or closes a descriptor the other already gave up.
class WorkerIdLease::DemandWaiter {
 public:
  DemandWaiter() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~DemandWaiter() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  void Notify() {
    uint64_t one = 1;
    if (fd_ >= 0) (void)!::write(fd_, &one, sizeof(one));
  }

 private:
  const int fd_;
};

WorkerIdLeaseOptions WorkerIdLeaseOptions::ForTtl(std::chrono::milliseconds ttl) {
  WorkerIdLeaseOptions o;
  o.ttl = ttl;
  o.margin = ttl / 5;
  o.renew_interval = ttl / 5;
  o.retry_interval = std::min(std::chrono::milliseconds(200), ttl / 10);
  o.demand_wait = std::min(std::chrono::milliseconds(1000), ttl / 4);
  return o;
}

Status WorkerIdLeaseOptions::Check() const {
  if (margin.count() <= 0 || margin >= ttl) {
    return InvalidArgument("the worker-id lease margin (" + std::to_string(margin.count()) +
                           " ms) must be positive and shorter than its ttl (" +
                           std::to_string(ttl.count()) + " ms)");
  }
  if (renew_interval.count() <= 0 || renew_interval >= ttl - margin) {
    return InvalidArgument("the worker-id lease is renewed every " +
                           std::to_string(renew_interval.count()) +
                           " ms, which must be shorter than its ttl minus its margin (" +
                           std::to_string((ttl - margin).count()) + " ms)");
  }
  if (retry_interval.count() <= 0) return InvalidArgument("the retry interval must be positive");
  return Status::Ok();
}

WorkerIdLease::WorkerIdLease(std::unique_ptr<WorkerIdStore> store, std::string node_id,
                             WorkerIdLeaseOptions options, const core::Clock& clock)
    : store_(std::move(store)),
      owner_(std::move(node_id) + "/" + core::NewUuidV4()),
      options_(options),
      clock_(clock) {}

WorkerIdLease::~WorkerIdLease() { Stop(); }

Status WorkerIdLease::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  {
    std::lock_guard lock(mu_);
    if (started_) return Status::Ok();
  }
  RETURN_IF_ERROR(options_.Check());
  Status first = Upkeep(/*force=*/true);
  if (!first.ok() && first.code() != StatusCode::kResourceExhausted) return first;
  if (!first.ok()) {
    core::log::Warn("every worker id is taken; serving without one until one is free",
                    {{"error", first.message()}});
  }
  {
    std::lock_guard lock(mu_);
    started_ = true;
    stop_ = false;
  }
  if (options_.keeper_thread) keeper_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void WorkerIdLease::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  {
    std::lock_guard lock(mu_);
    if (!started_) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (keeper_.joinable()) keeper_.join();
  std::lock_guard upkeep(upkeep_mu_);
  int id;
  std::vector<std::shared_ptr<DemandWaiter>> waiters;
  {
    std::lock_guard lock(mu_);
    id = id_;
    id_ = -1;
    valid_until_ = {};
    started_ = false;
    waiters.swap(waiters_);
  }
  for (auto& w : waiters) w->Notify();
  if (id < 0) return;
  Status released = store_->Release(id, owner_);
  if (!released.ok()) {
    core::log::Warn("worker id not released; it expires with its ttl",
                    {{"worker_id", id}, {"error", released.message()}});
  }
}

bool WorkerIdLease::UsableLocked(TimePoint now) const {
  return id_ >= 0 && now < valid_until_ && now >= usable_from_;
}

Status WorkerIdLease::NotUsableLocked(TimePoint now) const {
  std::string why;
  if (id_ >= 0 && now < valid_until_) {
    why = "worker id " + std::to_string(id_) + " was just leased from " +
          std::string(store_->backend()) +
          ", a store that can forget leases; it is used once any earlier holder's lease has "
          "surely ended, in " +
          std::to_string(MillisUntil(now, usable_from_)) + " ms";
  } else if (id_ >= 0) {
    why = "the lease of worker id " + std::to_string(id_) + " could not be confirmed in time (" +
          std::string(store_->backend()) + ": " + (problem_.empty() ? "no answer" : problem_) + ")";
  } else if (!started_ && problem_.empty()) {
    why = "this node has not leased a worker id yet";
  } else {
    why = "this node holds no worker id (" + std::string(store_->backend()) + ": " +
          (problem_.empty() ? "not leased yet" : problem_) + ")";
  }
  return Unavailable("cannot issue a unique id now: " + why, kTag);
}

Result<int> WorkerIdLease::IdForIssuing() {
  std::shared_ptr<DemandWaiter> waiter;
  {
    std::lock_guard lock(mu_);
    TimePoint now = clock_.Now();
    if (UsableLocked(now)) return id_;
    // Waiting out a forgetful store (rule 4): no attempt can shorten it.
    if (id_ >= 0 && now < valid_until_) return NotUsableLocked(now);
    if (!started_) return NotUsableLocked(now);
    if (options_.keeper_thread) {
      waiter = std::make_shared<DemandWaiter>();
      waiters_.push_back(waiter);
      demand_ = true;
    }
  }
  if (waiter == nullptr) {
    Upkeep(/*force=*/true).IgnoreError();  // no keeper thread: the attempt runs here
  } else {
    wake_.notify_all();
    // In a fiber this suspends only the fiber; elsewhere it blocks in poll().
    fiber::WaitReadable(waiter->fd(), options_.demand_wait).IgnoreError();
  }
  std::lock_guard lock(mu_);
  if (waiter != nullptr) std::erase(waiters_, waiter);
  TimePoint now = clock_.Now();
  if (UsableLocked(now)) return id_;
  return NotUsableLocked(now);
}

Status WorkerIdLease::Maintain() { return Upkeep(/*force=*/false); }

Status WorkerIdLease::Upkeep(bool force) {
  std::lock_guard upkeep(upkeep_mu_);
  int id;
  int preferred;
  {
    std::lock_guard lock(mu_);
    if (!force && clock_.Now() < next_attempt_) return Status::Ok();
    id = id_;
    preferred = id_ >= 0 ? id_ : last_id_;
  }
  if (id >= 0) {
    TimePoint before = clock_.Now();
    Result<bool> renewed = store_->Renew(id, owner_, options_.ttl);
    TimePoint after = clock_.Now();
    std::lock_guard lock(mu_);
    last_attempt_ = after;
    if (!renewed.ok()) {
      // Rule 2: the deadline of the last confirmation stands; try again soon.
      bool was_valid = problem_.empty();
      problem_ = renewed.status().message();
      next_attempt_ = after + options_.retry_interval;
      if (was_valid) {
        core::log::Warn("worker id lease not renewed; ids stop at its deadline unless renewed",
                        {{"worker_id", id},
                         {"deadline_in_ms", MillisUntil(after, valid_until_)},
                         {"error", problem_}});
      }
      return renewed.status();
    }
    if (*renewed) {
      valid_until_ = before + options_.ttl - options_.margin;
      next_attempt_ = before + options_.renew_interval;
      if (!problem_.empty()) {
        core::log::Info("worker id lease renewed again", {{"worker_id", id}});
        problem_.clear();
      }
      return Status::Ok();
    }
    // Rule 2: refused, so no more ids under it from this moment.
    core::log::Error(
        "worker id lease lost: the store no longer holds it for this node; "
        "no ids under it from now on",
        {{"worker_id", id}, {"store", std::string(store_->backend())}});
    id_ = -1;
    valid_until_ = {};
    problem_ = "the store no longer held worker id " + std::to_string(id) + " for this node";
  }
  return Acquire(preferred);
}

// Called with upkeep_mu_ held, mu_ not held.
Status WorkerIdLease::Acquire(int preferred) {
  TimePoint before = clock_.Now();
  Result<int> acquired = store_->Acquire(owner_, preferred, options_.ttl);
  TimePoint after = clock_.Now();
  std::lock_guard lock(mu_);
  last_attempt_ = after;
  if (!acquired.ok()) {
    // Once per kind of failure, not per attempt: a store that stays down is retried five times
    // a second, and its messages differ in details (a reconnect's countdown).
    if (acquired.status().code() != logged_failure_) {
      core::log::Warn("no worker id leased yet; retrying",
                      {{"error", acquired.status().message()},
                       {"retry_ms", static_cast<int64_t>(options_.retry_interval.count())}});
      logged_failure_ = acquired.status().code();
    }
    problem_ = acquired.status().message();
    next_attempt_ = after + options_.retry_interval;
    return acquired.status();
  }
  logged_failure_ = StatusCode::kOk;
  id_ = *acquired;
  valid_until_ = before + options_.ttl - options_.margin;
  usable_from_ = store_->may_forget() ? after + options_.ttl : before;  // rule 4
  next_attempt_ = before + options_.renew_interval;
  problem_.clear();
  core::log::Info("worker id leased", {{"worker_id", id_},
                                       {"previous", last_id_},
                                       {"store", std::string(store_->backend())},
                                       {"usable_in_ms", MillisUntil(after, usable_from_)}});
  last_id_ = id_;
  return Status::Ok();
}

void WorkerIdLease::Run() {
  // Creates that ask for an attempt are served at most this often, so that a burst of them while
  // no id can be had costs the store a call per interval, not one per create.
  const auto min_gap = std::clamp(options_.retry_interval / 4, std::chrono::milliseconds(1),
                                  std::chrono::milliseconds(50));
  std::unique_lock lock(mu_);
  while (!stop_) {
    TimePoint due = next_attempt_;
    if (demand_) due = std::min(due, last_attempt_ + min_gap);
    if (clock_.Now() < due) {
      wake_.wait_until(lock, due);  // woken early by a demand or Stop(): look again
      continue;
    }
    bool forced = demand_;
    demand_ = false;
    std::vector<std::shared_ptr<DemandWaiter>> served;
    served.swap(waiters_);
    lock.unlock();
    Upkeep(forced).IgnoreError();  // logged by Upkeep; retried at next_attempt_
    for (auto& w : served) w->Notify();
    lock.lock();
  }
}

int WorkerIdLease::id() const {
  std::lock_guard lock(mu_);
  return id_;
}

boost::json::object WorkerIdLease::Describe() const {
  std::lock_guard lock(mu_);
  TimePoint now = clock_.Now();
  bool usable = UsableLocked(now);
  return boost::json::object{{"backend", store_->backend()},
                             {"id", id_},
                             {"lost", !usable},
                             {"reason", usable ? std::string() : NotUsableLocked(now).message()},
                             {"validForMs", id_ >= 0 ? MillisUntil(now, valid_until_) : 0},
                             {"usableInMs", id_ >= 0 ? MillisUntil(now, usable_from_) : 0}};
}

}  // namespace slipway::cluster
