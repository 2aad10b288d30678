// TaskStore: durable tasks (DESIGN section 8), rows of slipway_tasks that every node reads and
// writes, so that long work (backups, restores, exports, imports) never lives in one process's
// memory and any node answers for any task.
//
// A task is queued by any node, claimed by exactly one (one statement: PostgreSQL's
// `FOR UPDATE SKIP LOCKED`, so that claimers never wait on each other; SQLite serializes writers
// anyway), and holds a lease (the database's clock, in milliseconds) that its node renews with
// every progress report. A running task whose lease has expired lost its node: whoever reads it
// (Get, List, the runners' sweep) finds it failed, naming the node. Only the node holding the
// lease can report progress or finish it: a node that lost its lease learns so (Lost) and stops.
//
//   queued -> running -> succeeded | failed | cancelled
//   queued -> cancelled
//
// Failures: InvalidArgument for a bad kind or id; NotFound for an unknown task; the tag "LOST"
// (FailedPrecondition) when the caller no longer holds the task; database errors as they come.
// Thread-safety: safe from any thread (each call borrows a pooled connection).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "db/database.h"
#include "slipway/status.h"

namespace slipway::ops {

enum class TaskState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
std::string_view TaskStateName(TaskState s);

inline constexpr std::string_view kTaskLost = "LOST";

struct TaskProgress {
  int64_t done = 0;
  int64_t total = 0;  // 0: unknown
  std::string unit;   // "rows", "bytes", ...
  std::string message;
};

struct TaskRecord {
  std::string id;
  std::string kind;
  TaskState state = TaskState::kQueued;
  boost::json::object params;
  TaskProgress progress;
  boost::json::value result;  // null until it succeeds
  std::string error;          // set when it failed or was cancelled
  std::string node_id;        // the node that runs or ran it
  int64_t lease_until_ms = 0;
  bool cancel_requested = false;
  std::optional<int64_t> created_by;
  int64_t created_ms = 0;
  std::optional<int64_t> started_ms, finished_ms;

  bool finished() const {
    return state == TaskState::kSucceeded || state == TaskState::kFailed ||
           state == TaskState::kCancelled;
  }
  // NocoBase-shaped JSON for APIs: {id, kind, state, progress: {...}, result, error, ...}.
  boost::json::object ToJson() const;
};

class TaskStore {
 public:
  explicit TaskStore(db::Pool& pool) : pool_(pool) {}

  // Queues a task; returns it as stored.
  Result<TaskRecord> Enqueue(const std::string& kind, const boost::json::object& params,
                             std::optional<int64_t> created_by);
  // Queues a task already claimed by `node_id` (a command that runs its own task, the CLI).
  Result<TaskRecord> Start(const std::string& kind, const boost::json::object& params,
                           std::optional<int64_t> created_by, const std::string& node_id,
                           std::chrono::milliseconds lease);
  // Fails the running tasks of `node_id` (a node that starts again: whatever it ran before is
  // over); returns how many.
  Result<int> FailRunningOf(const std::string& node_id, const std::string& why);
  // The task, with an expired lease reported (and recorded) as failed.
  Result<TaskRecord> Get(const std::string& id);
  // Newest first; `kind` empty for every kind; at most `limit`.
  Result<std::vector<TaskRecord>> List(const std::string& kind, int limit = 100);

  // Claims the oldest queued task whose kind is one of `kinds` for `node_id`, with a lease of
  // `lease`; nothing when none is queued.
  Result<std::optional<TaskRecord>> Claim(const std::string& node_id,
                                          const std::vector<std::string>& kinds,
                                          std::chrono::milliseconds lease);
  // Records progress and renews the lease. Lost when the task is no longer this node's.
  // Returns whether cancellation was asked for.
  Result<bool> Report(const std::string& id, const std::string& node_id,
                      const TaskProgress& progress, std::chrono::milliseconds lease);
  // Ends a running task of this node: succeeded with `result`, or failed / cancelled with
  // `error`. Lost when the task is no longer this node's.
  Status Finish(const std::string& id, const std::string& node_id, TaskState state,
                const boost::json::value& result, const std::string& error);
  // Cancels a queued task at once; asks a running one to stop (its runner sees it at its next
  // report). FailedPrecondition for a finished task.
  Result<TaskRecord> Cancel(const std::string& id);
  // Marks running tasks whose lease expired as failed; returns how many.
  Result<int> FailExpired();

 private:
  db::Pool& pool_;
};

}  // namespace slipway::ops
