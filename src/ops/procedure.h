// Procedures (DESIGN section 9): an operation on a whole cluster (first start, upgrade,
// maintenance, later rolling upgrades) as data: an ordered list of steps, each with what it
// does (run), how it is checked (check) and how it is undone (undo). The engine runs them in
// order; a failed step or check undoes that step and then every step done before it, in
// reverse. Every step is journaled before and after it runs (a file in the cluster's state
// directory, fsynced at each entry), so that after the tool itself was killed at any point
// `Resume` knows whether to go on or to undo: the journal lives outside the database because
// the database is what a procedure may replace.
//
//   <state>/procedure.lock          flock()ed while a procedure runs: a second one is refused,
//                                   naming the first (kind, id, pid)
//   <state>/journals/<id>.journal   one JSON object per line:
//     {"event":"start","id","kind","params","steps":[names],"pid","at"}
//     {"event":"begin","step":i}  {"event":"done","step":i,"ms","state"}
//     {"event":"failed","step":i,"error","state"}  {"event":"record","state"}
//     {"event":"undo","step":i}  {"event":"undone","step":i,"ms"}
//     {"event":"undo-failed","step":i,"error"}
//     {"event":"end","outcome":"succeeded"|"rolled-back"|"rollback-failed","error"?}
//
// A journal without an "end" is a procedure in progress (its lock held) or interrupted (its
// lock free): no other procedure starts until it is resumed. On resume, a procedure that was
// going forward continues: a step that had begun and not ended runs again when it is
// `rerunnable`, and is undone (with everything before it) otherwise; a procedure that was
// rolling back finishes the rollback, running an undo that had begun again. So runs are
// written to be repeatable and undos to be idempotent.
//
// Steps share a state object (what a step learned that later steps and undos need: the
// backup's path, the previous version) that is journaled with every entry and given back on
// resume. Steps turn exceptions into a Status (the engine guards them too).
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "slipway/status.h"

namespace slipway::ops {

class StepContext;
using StepFn = std::function<Status(StepContext&)>;

struct Step {
  std::string name;         // "stop-nodes"
  std::string description;  // what it will do, for --plan
  StepFn run;
  StepFn check;  // null: the run's status is the check
  StepFn undo;   // null: nothing to undo
  // Whether a run interrupted midway may simply run again on resume (otherwise the procedure is
  // rolled back from that step).
  bool rerunnable = true;
};

struct Procedure {
  std::string kind;            // "upgrade"
  boost::json::object params;  // what rebuilding its steps on resume needs
  std::vector<Step> steps;
};

// Rebuilds a procedure's steps from its kind and params (for Resume).
using ProcedureFactory =
    std::function<Result<Procedure>(const std::string& kind, const boost::json::object& params)>;

class Journal;

class StepContext {
 public:
  StepContext(Journal& journal, boost::json::object& state, const boost::json::object& params,
              std::function<void(const std::string&)> say)
      : journal_(journal), state_(state), params_(params), say_(std::move(say)) {}
  const boost::json::object& params() const { return params_; }
  const boost::json::object& state() const { return state_; }
  // Sets a value of the shared state and journals it at once (fsynced), so that an undo after a
  // crash finds it.
  Status Record(const std::string& key, boost::json::value value);
  // A line of progress for the operator.
  void Say(const std::string& line) const {
    if (say_) say_(line);
  }

 private:
  Journal& journal_;
  boost::json::object& state_;
  const boost::json::object& params_;
  std::function<void(const std::string&)> say_;
};

struct StepTiming {
  std::string name;
  std::string what;  // "done", "failed", "undone", "undo failed"
  int64_t ms = 0;
};

struct ProcedureOutcome {
  std::string id;
  std::string kind;
  std::string outcome;  // succeeded, rolled-back, rollback-failed
  std::string failed_step;
  std::string error;
  std::vector<StepTiming> timings;
  boost::json::object state;
  bool ok() const { return outcome == "succeeded"; }
};

// What a journal says about a procedure (Status of the state directory).
struct ProcedureRecord {
  std::string id, kind;
  std::filesystem::path journal;
  boost::json::object params, state;
  std::vector<std::string> steps;
  int64_t pid = 0;
  std::string started_at;
  std::optional<std::string> outcome;  // set once it ended
  bool running = false;                // its lock is held now
  std::string last_event;              // "begin 3 (backup)", ...
};

class ProcedureEngine {
 public:
  // `say` receives one line per step as it begins and ends (with its time), and the steps' own
  // lines.
  ProcedureEngine(std::filesystem::path state_dir, std::function<void(const std::string&)> say);

  // The steps with what each will do; nothing is done.
  static std::string Plan(const Procedure& procedure);

  // Runs a new procedure. FailedPrecondition (PROCEDURE_IN_PROGRESS) naming the one that runs
  // or is interrupted. A failed step is an outcome, not an error: see ProcedureOutcome.
  Result<ProcedureOutcome> Run(const Procedure& procedure);
  // Continues or rolls back the interrupted procedure. NotFound when there is none.
  Result<ProcedureOutcome> Resume(const ProcedureFactory& factory);
  // The newest procedure of the state directory, if any.
  Result<std::optional<ProcedureRecord>> Current() const;

  // For tests of crashes: the engine stops (returns Aborted "KILLED") right after writing its
  // `n`th journal entry of this run, as if the process had been killed there.
  void set_kill_after_entries(int n) { kill_after_ = n; }

 private:
  Result<ProcedureOutcome> Drive(Journal& journal, const Procedure& procedure,
                                 boost::json::object state, size_t next, bool rolling_back,
                                 std::vector<int> to_undo);

  std::filesystem::path state_dir_;
  std::function<void(const std::string&)> say_;
  int kill_after_ = 0;
};

}  // namespace slipway::ops
