#include "ops/task_runner.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <exception>

#include "core/logging.h"

namespace slipway::ops {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int kTaskNice = 10;

namespace {

// Requests come first. SCHED_IDLE gives the CPU to any thread serving a request the moment it
// wants it (nice 10 still let a backup's threads finish their slices first: a paced read's p99
// was 9 times its idle figure during a backup, against 4 times). The calling thread only, and
// the threads it starts after: there is no way back to the normal policy without privileges.
void LowerPriority(const std::string& node_id) {
  struct sched_param none {};
  if (::sched_setscheduler(0, SCHED_IDLE, &none) == 0) return;
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kTaskNice) != 0) {
    core::log::Warn("tasks run at the requests' priority", {{"node", node_id}});
  }
}

class Context final : public TaskContext {
 public:
  Context(TaskStore& store, const std::string& node_id, const TaskRunnerOptions& options,
          const std::atomic<bool>* stopping, TaskRecord task)
      : store_(store),
        node_id_(node_id),
        options_(options),
        stopping_(stopping),
        task_(std::move(task)),
        lease_(options.lease) {}
  const TaskRecord& task() const override { return task_; }

  Status Report(const TaskProgress& progress) override {
    std::lock_guard lock(mu_);
    last_ = progress;
    return ReportLocked();
  }
  Status Hold(std::chrono::milliseconds lease) override {
    std::lock_guard lock(mu_);
    lease_ = std::max(lease, options_.lease);
    return ReportLocked();
  }
  // Renews the lease with the last progress (the renewal thread).
  Status Renew() {
    std::lock_guard lock(mu_);
    return ReportLocked();
  }
  bool lost() const { return lost_; }
  bool cancelled() const { return cancelled_; }

 private:
  Status ReportLocked() {
    if (lost_) {
      return FailedPrecondition("task " + task_.id + " was lost", std::string(kTaskLost));
    }
    auto asked = store_.Report(task_.id, node_id_, last_, lease_);
    if (!asked.ok()) {
      if (asked.status().tag() == kTaskLost) lost_ = true;
      return asked.status();
    }
    const bool stopping = stopping_ != nullptr && stopping_->load();
    if (*asked || stopping) {
      cancelled_ = cancelled_ || *asked;
      return Aborted(*asked ? "the task was cancelled" : "the node is stopping",
                     std::string(kTaskCancelled));
    }
    return Status::Ok();
  }

  TaskStore& store_;
  const std::string& node_id_;
  const TaskRunnerOptions& options_;
  const std::atomic<bool>* stopping_;
  TaskRecord task_;
  std::mutex mu_;
  TaskProgress last_;
  std::chrono::milliseconds lease_;
  std::atomic<bool> lost_{false};
  std::atomic<bool> cancelled_{false};
};

class ObservedContext final : public TaskContext {
 public:
  ObservedContext(TaskContext& inner, const std::function<void(const TaskProgress&)>& observe)
      : inner_(inner), observe_(observe) {}
  const TaskRecord& task() const override { return inner_.task(); }
  Status Report(const TaskProgress& progress) override {
    observe_(progress);
    return inner_.Report(progress);
  }
  Status Hold(std::chrono::milliseconds lease) override { return inner_.Hold(lease); }
  void Note(const TaskProgress& progress) override { observe_(progress); }

 private:
  TaskContext& inner_;
  const std::function<void(const TaskProgress&)>& observe_;
};

}  // namespace

TaskHandler Observed(TaskHandler handler, std::function<void(const TaskProgress&)> observe) {
  return [handler = std::move(handler), observe = std::move(observe)](TaskContext& ctx) {
    ObservedContext observed(ctx, observe);
    return handler(observed);
  };
}

TaskRunner::TaskRunner(TaskStore& store, std::string node_id, core::WorkerMode mode,
                       TaskRunnerOptions options)
    : store_(store), node_id_(std::move(node_id)), mode_(std::move(mode)), options_([&] {
        options.idle_priority = true;  // a node's runner: its requests come first
        return options;
      }()) {}

TaskRunner::~TaskRunner() { Stop(); }

void TaskRunner::Register(const std::string& kind, TaskHandler handler) {
  handlers_[kind] = std::move(handler);
}

std::vector<std::string> TaskRunner::ClaimableKinds() const {
  std::vector<std::string> out;
  for (const auto& [kind, handler] : handlers_) {
    if (mode_.TakesKind(kind)) out.push_back(kind);
  }
  return out;
}

void TaskRunner::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void TaskRunner::Stop() {
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TaskRunner::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void TaskRunner::Loop() {
  const std::vector<std::string> kinds = ClaimableKinds();
  // What this node ran before it stopped (or died) is over: its lease would expire anyway, and
  // what a task holds on the cluster (a restore's gate) is released sooner.
  auto orphaned = store_.FailRunningOf(node_id_, "node '" + node_id_ + "' restarted while it ran");
  if (orphaned.ok() && *orphaned > 0) {
    core::log::Warn("tasks failed: this node restarted while running them",
                    {{"node", node_id_}, {"tasks", *orphaned}});
  }
  while (!stopping_) {
    for (const auto& sweep : sweeps_) sweep();
    // Tasks whose node died are found failed by every node, whether it takes tasks or not.
    auto expired = store_.FailExpired();
    if (expired.ok() && *expired > 0) {
      core::log::Warn("tasks failed: their node stopped renewing",
                      {{"node", node_id_}, {"tasks", *expired}});
    }
    bool worked = false;
    if (!kinds.empty()) {
      auto claimed = store_.Claim(node_id_, kinds, options_.lease);
      if (!claimed.ok()) {
        core::log::Warn("claiming a task failed",
                        {{"node", node_id_}, {"error", claimed.status().message()}});
      } else if (claimed->has_value()) {
        const std::string kind = (*claimed)->kind;
        RunTask(store_, node_id_, std::move(**claimed), handlers_.at(kind), options_, &stopping_)
            .status()
            .IgnoreError();
        worked = true;
      }
    }
    if (worked) continue;  // there may be more
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.poll, [&] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
}

Result<TaskRecord> RunTask(TaskStore& store, const std::string& node_id, TaskRecord task,
                           const TaskHandler& handler, const TaskRunnerOptions& options,
                           const std::atomic<bool>* stopping) {
  const auto started = Clock::now();
  const std::string id = task.id, kind = task.kind;
  core::log::Info("task started", {{"node", node_id}, {"task", id}, {"kind", kind}});
  Context ctx(store, node_id, options, stopping, task);
  Result<json::value> outcome = Internal("the task did not run");
  std::atomic<bool> done{false};
  std::mutex m;
  std::condition_variable cv;
  // The lease is renewed while the handler works between its reports.
  std::thread renew([&] {
    std::unique_lock lock(m);
    while (!cv.wait_for(lock, options.renew, [&] { return done.load(); })) {
      lock.unlock();
      Status s = ctx.Renew();
      lock.lock();
      if (!s.ok() && s.tag() == kTaskLost) break;
    }
  });
  std::thread work([&] {
    if (options.idle_priority) LowerPriority(node_id);
    try {
      outcome = handler(ctx);
    } catch (const std::exception& e) {
      outcome = Internal(std::string("the task's handler threw: ") + e.what());
    } catch (...) {
      outcome = Internal("the task's handler threw");
    }
  });
  work.join();
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  renew.join();
  const long long ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  if (ctx.lost()) {
    core::log::Warn("task lost: its lease expired before it finished",
                    {{"node", node_id}, {"task", id}, {"kind", kind}, {"ms", ms}});
    return store.Get(id);
  }
  Status recorded;
  if (outcome.ok()) {
    recorded = store.Finish(id, node_id, TaskState::kSucceeded, *outcome, "");
    core::log::Info("task succeeded",
                    {{"node", node_id}, {"task", id}, {"kind", kind}, {"ms", ms}});
  } else if (outcome.status().tag() == kTaskCancelled && ctx.cancelled()) {
    recorded = store.Finish(id, node_id, TaskState::kCancelled, nullptr, "cancelled");
    core::log::Info("task cancelled",
                    {{"node", node_id}, {"task", id}, {"kind", kind}, {"ms", ms}});
  } else {
    recorded = store.Finish(id, node_id, TaskState::kFailed, nullptr, outcome.status().message());
    core::log::Warn("task failed", {{"node", node_id},
                                    {"task", id},
                                    {"kind", kind},
                                    {"ms", ms},
                                    {"error", outcome.status().message()}});
  }
  if (!recorded.ok()) {
    core::log::Warn("task outcome not recorded",
                    {{"node", node_id}, {"task", id}, {"error", recorded.message()}});
  }
  return store.Get(id);
}

}  // namespace slipway::ops
