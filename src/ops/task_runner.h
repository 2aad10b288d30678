// TaskRunner: this node's part in running durable tasks (task_store.h). A thread claims a
// queued task of a kind this node takes (WORKER_MODE, core/config.h) and has a handler for, runs
// the handler on a thread of its own while another renews the lease, and records the outcome.
// A handler that throws or returns an error fails its task with that message; it never ends the
// process. One task runs at a time per node; a claim is tried every `poll` and at once after
// Wake() (a task queued through this node).
//
// A handler reports progress through its TaskContext, which also renews the lease; a report that
// finds the task cancelled or no longer this node's returns an error the handler should return
// (the runner then records cancelled, or nothing when the task was lost). Stop() asks the
// running handler to stop (its next report fails), waits for it, and returns; a task it could
// not finish is recorded failed ("the node is stopping") if its handler returns in time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "ops/task_store.h"

namespace slipway::ops {

inline constexpr std::string_view kTaskCancelled = "CANCELLED";

class TaskContext {
 public:
  virtual ~TaskContext() = default;
  virtual const TaskRecord& task() const = 0;
  // Records progress (and renews the lease). Aborted "CANCELLED" when cancellation was asked for
  // or the node is stopping; FailedPrecondition "LOST" when the task is no longer this node's.
  virtual Status Report(const TaskProgress& progress) = 0;
  // Renews the lease for `lease` from now, and from then on with each renewal (at least the
  // runner's lease): for work during which the task's row cannot be written (a restore holding
  // SQLite's write lock).
  virtual Status Hold(std::chrono::milliseconds lease) = 0;
  // Progress shown where the task runs (a terminal) without writing the row: called as often as
  // the handler likes, between and beside its Reports.
  virtual void Note(const TaskProgress& progress) { (void)progress; }
};

// Returns the task's result (stored as JSON), or the error that fails it.
using TaskHandler = std::function<Result<boost::json::value>(TaskContext&)>;

// `handler` with every Note and Report also passed to `observe` (the CLI's progress bar).
TaskHandler Observed(TaskHandler handler, std::function<void(const TaskProgress&)> observe);

struct TaskRunnerOptions {
  std::chrono::milliseconds poll{1000};
  std::chrono::milliseconds lease{15'000};
  // How often the lease is renewed while a handler runs without reporting.
  std::chrono::milliseconds renew{5'000};
  // Whether handlers run at idle CPU priority (SCHED_IDLE; nice 10 where that is refused): a
  // node's task runner sets it, so that requests come first; a command running one task does
  // not.
  bool idle_priority = false;
};

// Runs a task this node holds (claimed, or Start()ed by a command) to its end: the handler on
// a thread of its own (at idle priority when the options say so, and with it every thread the
// handler starts: a backup's readers and compression workers), its lease renewed at the
// caller's priority on another, the outcome recorded (or not, when the task was lost). Returns the
// task as stored afterwards. `stopping` (may be null) turns the handler's next report into a
// cancellation.
Result<TaskRecord> RunTask(TaskStore& store, const std::string& node_id, TaskRecord task,
                           const TaskHandler& handler, const TaskRunnerOptions& options,
                           const std::atomic<bool>* stopping);

class TaskRunner {
 public:
  TaskRunner(TaskStore& store, std::string node_id, core::WorkerMode mode,
             TaskRunnerOptions options = {});
  ~TaskRunner();

  // Before Start(): the handler of a kind. A kind this node does not take (WORKER_MODE) is
  // registered but never claimed here.
  void Register(const std::string& kind, TaskHandler handler);
  // Before Start(): work done on every pass of the loop, before claiming (what a task left
  // behind when its node died: a restore's gate). Must not throw.
  void AddSweep(std::function<void()> sweep) { sweeps_.push_back(std::move(sweep)); }
  void Start();
  void Stop();
  // Looks for work now (a task was queued through this node).
  void Wake();
  // The kinds this node claims: registered and allowed by WORKER_MODE.
  std::vector<std::string> ClaimableKinds() const;

 private:
  void Loop();

  TaskStore& store_;
  const std::string node_id_;
  const core::WorkerMode mode_;
  const TaskRunnerOptions options_;
  std::map<std::string, TaskHandler> handlers_;
  std::vector<std::function<void()>> sweeps_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace slipway::ops
