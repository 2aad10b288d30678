#include "ops/procedure.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>

#include "core/clock.h"
#include "core/ids.h"
#include "ops/ops_util.h"

namespace slipway::ops {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string StepSeconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

Status SyncJournalDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("opening " + dir.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Internal("fsync " + dir.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

// A step's function, with any exception turned into a Status.
Status Guarded(const StepFn& fn, StepContext& ctx, const std::string& what) {
  try {
    return fn(ctx);
  } catch (const std::exception& e) {
    return Internal(what + " threw: " + e.what());
  } catch (...) {
    return Internal(what + " threw");
  }
}

bool Killed(const Status& s) { return s.tag() == "KILLED"; }

// The procedure lock: flock() on <state>/procedure.lock, naming its holder inside.
class ProcedureLock {
 public:
  ~ProcedureLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }
  static Result<std::unique_ptr<ProcedureLock>> Acquire(const fs::path& state_dir,
                                                        const std::string& holder) {
    const fs::path path = state_dir / "procedure.lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Internal("opening " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      std::string who;
      char buf[512];
      ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
      if (n > 0) who.assign(buf, static_cast<size_t>(n));
      ::close(fd);
      return FailedPrecondition("another procedure is in progress (" +
                                    (who.empty() ? "unknown" : who) +
                                    "); wait for it to end, or see `slipway cluster status`",
                                "PROCEDURE_IN_PROGRESS");
    }
    auto lock = std::unique_ptr<ProcedureLock>(new ProcedureLock());
    lock->fd_ = fd;
    if (::ftruncate(fd, 0) == 0) {
      ssize_t ignored = ::pwrite(fd, holder.data(), holder.size(), 0);
      (void)ignored;
    }
    return lock;
  }
  static bool Held(const fs::path& state_dir) {
    int fd = ::open((state_dir / "procedure.lock").c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    ::close(fd);
    return held;
  }

 private:
  ProcedureLock() = default;
  int fd_ = -1;
};

}  // namespace

// The journal of one run: JSON lines appended and fsynced one by one.
class Journal {
 public:
  ~Journal() {
    if (fd_ >= 0) ::close(fd_);
  }
  static Result<std::unique_ptr<Journal>> Open(const fs::path& path, bool create) {
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0)
      return Internal("opening the journal " + path.string() + ": " + std::strerror(errno));
    auto j = std::unique_ptr<Journal>(new Journal());
    j->fd_ = fd;
    j->path_ = path;
    if (create) RETURN_IF_ERROR(SyncJournalDir(path.parent_path()));
    return j;
  }
  const fs::path& path() const { return path_; }
  void set_kill_after(int n) { kill_after_ = n; }

  Status Write(json::object entry) {
    entry["at"] = core::UtcNowText();
    std::string line = json::serialize(entry) + "\n";
    std::string_view rest = line;
    while (!rest.empty()) {
      ssize_t n = ::write(fd_, rest.data(), rest.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Internal("writing the journal " + path_.string() + ": " + std::strerror(errno));
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    if (::fsync(fd_) != 0) {
      return Internal("fsync of the journal " + path_.string() + ": " + std::strerror(errno));
    }
    if (kill_after_ > 0 && ++written_ == kill_after_) {
      return Aborted("killed after journal entry " + std::to_string(written_), "KILLED");
    }
    return Status::Ok();
  }

 private:
  Journal() = default;
  int fd_ = -1;
  fs::path path_;
  int kill_after_ = 0, written_ = 0;
};

Status StepContext::Record(const std::string& key, json::value value) {
  state_[key] = std::move(value);
  return journal_.Write(json::object{{"event", "record"}, {"state", state_}});
}

namespace {

// What a journal's lines say.
struct Replay {
  ProcedureRecord record;
  std::set<int> began, done, undo_begun, undone;
  std::optional<int> failed;
  std::string error;
};

Result<Replay> ReadJournal(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return Internal("cannot read the journal " + path.string());
  Replay r;
  r.record.journal = path;
  std::string line;
  bool started = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) break;  // a line cut by a crash ends the journal
    const json::object& e = v.as_object();
    const std::string event = e.contains("event") && e.at("event").is_string()
                                  ? std::string(e.at("event").as_string())
                                  : "";
    const int step = e.contains("step") && e.at("step").is_int64()
                         ? static_cast<int>(e.at("step").as_int64())
                         : -1;
    if (const json::value* s = e.if_contains("state"); s && s->is_object()) {
      r.record.state = s->as_object();
    }
    if (event == "start") {
      started = true;
      r.record.id = e.contains("id") ? std::string(e.at("id").as_string()) : "";
      r.record.kind = e.contains("kind") ? std::string(e.at("kind").as_string()) : "";
      if (const json::value* p = e.if_contains("params"); p && p->is_object()) {
        r.record.params = p->as_object();
      }
      if (const json::value* s = e.if_contains("steps"); s && s->is_array()) {
        for (const json::value& n : s->as_array()) {
          if (n.is_string()) r.record.steps.emplace_back(n.as_string());
        }
      }
      if (const json::value* p = e.if_contains("pid"); p && p->is_int64()) {
        r.record.pid = p->as_int64();
      }
      if (const json::value* a = e.if_contains("at"); a && a->is_string()) {
        r.record.started_at = std::string(a->as_string());
      }
    } else if (event == "begin") {
      r.began.insert(step);
    } else if (event == "done") {
      r.done.insert(step);
    } else if (event == "failed") {
      r.failed = step;
      if (const json::value* m = e.if_contains("error"); m && m->is_string()) {
        r.error = std::string(m->as_string());
      }
    } else if (event == "undo") {
      r.undo_begun.insert(step);
    } else if (event == "undone" || event == "undo-failed") {
      r.undone.insert(step);
    } else if (event == "end") {
      r.record.outcome = e.contains("outcome") ? std::string(e.at("outcome").as_string()) : "ended";
    }
    std::string name = step >= 0 && static_cast<size_t>(step) < r.record.steps.size()
                           ? " (" + r.record.steps[static_cast<size_t>(step)] + ")"
                           : "";
    r.record.last_event = event + (step >= 0 ? " " + std::to_string(step + 1) : "") + name;
  }
  if (!started) return Internal("the journal " + path.string() + " has no start");
  return r;
}

}  // namespace

ProcedureEngine::ProcedureEngine(fs::path state_dir, std::function<void(const std::string&)> say)
    : state_dir_(std::move(state_dir)), say_(std::move(say)) {}

std::string ProcedureEngine::Plan(const Procedure& procedure) {
  std::string out = "Plan of " + procedure.kind + " (" + std::to_string(procedure.steps.size()) +
                    " steps; nothing is done):\n";
  for (size_t i = 0; i < procedure.steps.size(); ++i) {
    const Step& s = procedure.steps[i];
    out += "  " + std::to_string(i + 1) + ". " + s.name + ": " + s.description;
    if (s.undo) out += " (undone on failure)";
    out += "\n";
  }
  return out;
}

Result<std::optional<ProcedureRecord>> ProcedureEngine::Current() const {
  const fs::path dir = state_dir_ / "journals";
  std::error_code ec;
  if (!fs::exists(dir, ec)) return std::optional<ProcedureRecord>();
  std::vector<fs::path> journals;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".journal") journals.push_back(e.path());
  }
  if (journals.empty()) return std::optional<ProcedureRecord>();
  std::sort(journals.begin(), journals.end());
  ASSIGN_OR_RETURN(Replay r, ReadJournal(journals.back()));
  r.record.running = !r.record.outcome && ProcedureLock::Held(state_dir_);
  return std::optional<ProcedureRecord>(std::move(r.record));
}

Result<ProcedureOutcome> ProcedureEngine::Run(const Procedure& procedure) {
  std::error_code ec;
  fs::create_directories(state_dir_ / "journals", ec);
  if (ec) return Internal("creating " + (state_dir_ / "journals").string() + ": " + ec.message());
  const std::string id = core::UtcNowText("%Y%m%d-%H%M%S") + "-" + procedure.kind + "-" +
                         core::NewUuidV4().substr(0, 8);
  ASSIGN_OR_RETURN(auto lock,
                   ProcedureLock::Acquire(state_dir_, procedure.kind + " " + id + ", pid " +
                                                          std::to_string(::getpid())));
  ASSIGN_OR_RETURN(std::optional<ProcedureRecord> current, Current());
  if (current && !current->outcome) {
    return FailedPrecondition("the " + current->kind + " " + current->id + " was interrupted (" +
                                  current->last_event + "); run `slipway cluster resume` first",
                              "PROCEDURE_INTERRUPTED");
  }
  ASSIGN_OR_RETURN(auto journal, Journal::Open(state_dir_ / "journals" / (id + ".journal"), true));
  journal->set_kill_after(kill_after_);
  json::array names;
  for (const Step& s : procedure.steps) names.push_back(json::value(s.name));
  RETURN_IF_ERROR(journal->Write(json::object{{"event", "start"},
                                              {"id", id},
                                              {"kind", procedure.kind},
                                              {"params", procedure.params},
                                              {"steps", std::move(names)},
                                              {"pid", static_cast<int64_t>(::getpid())}}));
  return Drive(*journal, procedure, json::object{}, 0, false, {});
}

Result<ProcedureOutcome> ProcedureEngine::Resume(const ProcedureFactory& factory) {
  ASSIGN_OR_RETURN(std::optional<ProcedureRecord> current, Current());
  if (!current || current->outcome) {
    return NotFound("no interrupted procedure in " + state_dir_.string(), "NOTHING_TO_RESUME");
  }
  ASSIGN_OR_RETURN(auto lock, ProcedureLock::Acquire(state_dir_, current->kind + " " + current->id +
                                                                     " (resumed), pid " +
                                                                     std::to_string(::getpid())));
  ASSIGN_OR_RETURN(Replay r, ReadJournal(current->journal));
  if (r.record.outcome) return NotFound("the procedure ended meanwhile", "NOTHING_TO_RESUME");
  ASSIGN_OR_RETURN(Procedure procedure, factory(r.record.kind, r.record.params));
  std::vector<std::string> names;
  for (const Step& s : procedure.steps) names.push_back(s.name);
  if (names != r.record.steps) {
    return FailedPrecondition("the steps of " + r.record.kind + " " + r.record.id +
                                  " are not those this version of slipway builds; resume it "
                                  "with the version that started it",
                              "PROCEDURE_CHANGED");
  }
  ASSIGN_OR_RETURN(auto journal, Journal::Open(current->journal, false));
  journal->set_kill_after(kill_after_);
  RETURN_IF_ERROR(
      journal->Write(json::object{{"event", "resume"}, {"pid", static_cast<int64_t>(::getpid())}}));
  if (say_) say_("resuming " + r.record.kind + " " + r.record.id + " after " + r.record.last_event);

  // Rolling back already (a failure, or an undo begun): finish the rollback.
  auto undo_list = [&](int from) {
    std::vector<int> out;
    for (int i = from; i >= 0; --i) {
      const bool touched = r.began.count(i) || r.done.count(i);
      if (touched && !r.undone.count(i)) out.push_back(i);
    }
    return out;
  };
  const int steps = static_cast<int>(procedure.steps.size());
  if (r.failed || !r.undo_begun.empty()) {
    return Drive(*journal, procedure, r.record.state, 0, true, undo_list(steps - 1));
  }
  int last = r.began.empty() ? -1 : *r.began.rbegin();
  if (last >= 0 && !r.done.count(last)) {
    if (!procedure.steps[static_cast<size_t>(last)].rerunnable) {
      if (say_)
        say_("step " + procedure.steps[static_cast<size_t>(last)].name +
             " was interrupted and cannot run again: rolling back");
      return Drive(*journal, procedure, r.record.state, 0, true, undo_list(last));
    }
    return Drive(*journal, procedure, r.record.state, static_cast<size_t>(last), false, {});
  }
  return Drive(*journal, procedure, r.record.state, static_cast<size_t>(last + 1), false, {});
}

Result<ProcedureOutcome> ProcedureEngine::Drive(Journal& journal, const Procedure& procedure,
                                                json::object state, size_t next, bool rolling_back,
                                                std::vector<int> to_undo) {
  ProcedureOutcome out;
  out.kind = procedure.kind;
  out.id = journal.path().stem().string();
  StepContext ctx(journal, state, procedure.params, say_);
  const size_t n = procedure.steps.size();
  auto say = [&](const std::string& line) {
    if (say_) say_(line);
  };
  if (!rolling_back) {
    for (size_t i = next; i < n; ++i) {
      const Step& step = procedure.steps[i];
      const std::string head =
          "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + step.name;
      say(head + ": " + step.description);
      RETURN_IF_ERROR(journal.Write(json::object{{"event", "begin"}, {"step", i}}));
      const auto started = Clock::now();
      Status s = step.run ? Guarded(step.run, ctx, step.name) : Status::Ok();
      if (Killed(s)) return s;
      if (s.ok() && step.check) {
        s = Guarded(step.check, ctx, step.name + "'s check").WithContext("check");
        if (Killed(s)) return s;
      }
      const int64_t ms = MillisSince(started);
      if (s.ok()) {
        RETURN_IF_ERROR(journal.Write(
            json::object{{"event", "done"}, {"step", i}, {"ms", ms}, {"state", state}}));
        out.timings.push_back({step.name, "done", ms});
        say(head + ": done in " + StepSeconds(ms));
        continue;
      }
      RETURN_IF_ERROR(journal.Write(json::object{
          {"event", "failed"}, {"step", i}, {"error", s.message()}, {"state", state}}));
      out.timings.push_back({step.name, "failed", ms});
      out.failed_step = step.name;
      out.error = s.message();
      say(head + ": FAILED after " + StepSeconds(ms) + ": " + s.message());
      // The failed step may have done part of its work: it is undone first, then the others.
      for (int j = static_cast<int>(i); j >= 0; --j) to_undo.push_back(j);
      rolling_back = true;
      break;
    }
    if (!rolling_back) {
      RETURN_IF_ERROR(journal.Write(json::object{{"event", "end"}, {"outcome", "succeeded"}}));
      out.outcome = "succeeded";
      out.state = std::move(state);
      return out;
    }
  }
  // The rollback: each touched step's undo, newest first; an undo that fails is reported and
  // the others still run.
  if (out.error.empty()) {
    ASSIGN_OR_RETURN(Replay r, ReadJournal(journal.path()));
    if (r.failed) {
      out.failed_step = r.record.steps.size() > static_cast<size_t>(*r.failed)
                            ? r.record.steps[static_cast<size_t>(*r.failed)]
                            : "";
      out.error = r.error;
    } else {
      out.error = "interrupted at " + r.record.last_event;
    }
  }
  bool undo_failed = false;
  std::string undo_errors;
  for (int j : to_undo) {
    const Step& step = procedure.steps[static_cast<size_t>(j)];
    if (!step.undo) continue;
    const std::string head =
        "[undo " + std::to_string(j + 1) + "/" + std::to_string(n) + "] " + step.name;
    RETURN_IF_ERROR(journal.Write(json::object{{"event", "undo"}, {"step", j}}));
    const auto started = Clock::now();
    Status s = Guarded(step.undo, ctx, step.name + "'s undo");
    if (Killed(s)) return s;
    const int64_t ms = MillisSince(started);
    if (s.ok()) {
      RETURN_IF_ERROR(journal.Write(json::object{{"event", "undone"}, {"step", j}, {"ms", ms}}));
      out.timings.push_back({step.name, "undone", ms});
      say(head + ": undone in " + StepSeconds(ms));
    } else {
      RETURN_IF_ERROR(journal.Write(
          json::object{{"event", "undo-failed"}, {"step", j}, {"error", s.message()}}));
      out.timings.push_back({step.name, "undo failed", ms});
      say(head + ": UNDO FAILED: " + s.message());
      undo_failed = true;
      undo_errors += (undo_errors.empty() ? "" : "; ") + step.name + ": " + s.message();
    }
  }
  out.outcome = undo_failed ? "rollback-failed" : "rolled-back";
  json::object end{{"event", "end"}, {"outcome", out.outcome}, {"error", out.error}};
  if (undo_failed) end["undoErrors"] = undo_errors;
  RETURN_IF_ERROR(journal.Write(std::move(end)));
  out.state = std::move(state);
  return out;
}

}  // namespace slipway::ops
