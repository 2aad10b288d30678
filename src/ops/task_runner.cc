#include "ops/task_runner.h"

#include <exception>

#include "core/logging.h"

namespace slipway::ops {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class TaskRunner::Context final : public TaskContext {
 public:
  Context(TaskRunner& runner, TaskRecord task) : runner_(runner), task_(std::move(task)) {}
  const TaskRecord& task() const override { return task_; }

  Status Report(const TaskProgress& progress) override {
    std::lock_guard lock(mu_);
    last_ = progress;
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
    auto asked = runner_.store_.Report(task_.id, runner_.node_id_, last_, runner_.options_.lease);
    if (!asked.ok()) {
      if (asked.status().tag() == kTaskLost) lost_ = true;
      return asked.status();
    }
    if (*asked || runner_.stopping_) {
      cancelled_ = cancelled_ || *asked;
      return Aborted(*asked ? "the task was cancelled" : "the node is stopping",
                     std::string(kTaskCancelled));
    }
    return Status::Ok();
  }

  TaskRunner& runner_;
  TaskRecord task_;
  std::mutex mu_;
  TaskProgress last_;
  std::atomic<bool> lost_{false};
  std::atomic<bool> cancelled_{false};
};

TaskRunner::TaskRunner(TaskStore& store, std::string node_id, core::WorkerMode mode,
                       TaskRunnerOptions options)
    : store_(store), node_id_(std::move(node_id)), mode_(std::move(mode)), options_(options) {}

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
  while (!stopping_) {
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
        Run(std::move(**claimed));
        worked = true;
      }
    }
    if (worked) continue;  // there may be more
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.poll, [&] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
}

void TaskRunner::Run(TaskRecord task) {
  const auto started = Clock::now();
  const std::string id = task.id, kind = task.kind;
  core::log::Info("task started", {{"node", node_id_}, {"task", id}, {"kind", kind}});
  Context ctx(*this, std::move(task));
  Result<json::value> outcome = Internal("the task did not run");
  std::atomic<bool> done{false};
  std::mutex m;
  std::condition_variable cv;
  // The lease is renewed while the handler works between its reports.
  std::thread renew([&] {
    std::unique_lock lock(m);
    while (!cv.wait_for(lock, options_.renew, [&] { return done.load(); })) {
      lock.unlock();
      Status s = ctx.Renew();
      lock.lock();
      if (!s.ok() && s.tag() == kTaskLost) break;
    }
  });
  try {
    outcome = handlers_.at(kind)(ctx);
  } catch (const std::exception& e) {
    outcome = Internal(std::string("the task's handler threw: ") + e.what());
  } catch (...) {
    outcome = Internal("the task's handler threw");
  }
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
                    {{"node", node_id_}, {"task", id}, {"kind", kind}, {"ms", ms}});
    return;
  }
  Status recorded;
  if (outcome.ok()) {
    recorded = store_.Finish(id, node_id_, TaskState::kSucceeded, *outcome, "");
    core::log::Info("task succeeded",
                    {{"node", node_id_}, {"task", id}, {"kind", kind}, {"ms", ms}});
  } else if (outcome.status().tag() == kTaskCancelled && ctx.cancelled()) {
    recorded = store_.Finish(id, node_id_, TaskState::kCancelled, nullptr, "cancelled");
    core::log::Info("task cancelled",
                    {{"node", node_id_}, {"task", id}, {"kind", kind}, {"ms", ms}});
  } else {
    recorded = store_.Finish(id, node_id_, TaskState::kFailed, nullptr, outcome.status().message());
    core::log::Warn("task failed", {{"node", node_id_},
                                    {"task", id},
                                    {"kind", kind},
                                    {"ms", ms},
                                    {"error", outcome.status().message()}});
  }
  if (!recorded.ok()) {
    core::log::Warn("task outcome not recorded",
                    {{"node", node_id_}, {"task", id}, {"error", recorded.message()}});
  }
}

}  // namespace slipway::ops
