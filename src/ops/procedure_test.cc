// The procedure engine's decisions (ops/procedure.h): order, checks, rollback in reverse, the
// journal, one procedure at a time, and resume after the tool was killed after any journal
// entry, ending with the world either fully changed or fully as it was.
#include "ops/procedure.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "test_support.h"

namespace slipway::ops {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// What the steps change: a set of facts. Each step adds its fact; its undo removes it; runs and
// undos are repeatable, as the engine asks.
struct World {
  std::set<std::string> facts;
  std::vector<std::string> calls;
  std::string fail_run, fail_check, fail_undo, throw_in;
};

Procedure MakeProcedure(World& w, int steps = 4, int not_rerunnable = -1) {
  Procedure p;
  p.kind = "demo";
  p.params = json::object{{"to", "v2"}};
  for (int i = 0; i < steps; ++i) {
    const std::string name = "step" + std::to_string(i + 1);
    Step s;
    s.name = name;
    s.description = "adds " + name;
    s.rerunnable = i != not_rerunnable;
    s.run = [&w, name](StepContext& ctx) -> Status {
      w.calls.push_back("run " + name);
      if (w.throw_in == name) throw std::runtime_error("boom");
      w.facts.insert(name);
      RETURN_IF_ERROR(ctx.Record(name, "ran"));
      if (w.fail_run == name) return Internal(name + " broke");
      return Status::Ok();
    };
    s.check = [&w, name](StepContext&) -> Status {
      if (w.fail_check == name) return FailedPrecondition(name + " is not right");
      return Status::Ok();
    };
    if (i != 2) {  // step3 has nothing to undo
      s.undo = [&w, name](StepContext& ctx) -> Status {
        w.calls.push_back("undo " + name);
        if (w.fail_undo == name) return Internal("cannot undo " + name);
        EXPECT_TRUE(ctx.state().contains(name) || !w.facts.count(name))
            << "the state recorded by " << name << " is given to its undo";
        w.facts.erase(name);
        return Status::Ok();
      };
    }
    p.steps.push_back(std::move(s));
  }
  return p;
}

class ProcedureTest : public ::testing::Test {
 protected:
  ProcedureEngine Engine() {
    return ProcedureEngine(dir_.path(), [this](const std::string& l) { lines_.push_back(l); });
  }
  ProcedureFactory Factory(World& w, int steps = 4, int not_rerunnable = -1) {
    return [&w, steps, not_rerunnable](const std::string& kind,
                                       const json::object& params) -> Result<Procedure> {
      EXPECT_EQ(kind, "demo");
      EXPECT_EQ(params.at("to"), "v2");
      return MakeProcedure(w, steps, not_rerunnable);
    };
  }
  testing::TempDir dir_;
  std::vector<std::string> lines_;
};

TEST_F(ProcedureTest, StepsRunInOrderAndTheJournalEnds) {
  World w;
  ProcedureEngine engine = Engine();
  auto out = engine.Run(MakeProcedure(w));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->ok());
  EXPECT_EQ(w.facts, (std::set<std::string>{"step1", "step2", "step3", "step4"}));
  EXPECT_EQ(w.calls,
            (std::vector<std::string>{"run step1", "run step2", "run step3", "run step4"}));
  ASSERT_EQ(out->timings.size(), 4u);
  EXPECT_EQ(out->state.at("step4"), "ran");
  auto current = engine.Current();
  ASSERT_TRUE(current.ok() && current->has_value());
  EXPECT_EQ((*current)->outcome, "succeeded");
  EXPECT_FALSE((*current)->running);
  EXPECT_EQ((*current)->steps.size(), 4u);
  EXPECT_NE(lines_.front().find("[1/4] step1: adds step1"), std::string::npos) << lines_.front();
  // A new procedure may start after one ended.
  World again;
  EXPECT_TRUE(engine.Run(MakeProcedure(again)).ok());
}

TEST_F(ProcedureTest, AFailedStepOrCheckUndoesItAndEveryStepBeforeItInReverse) {
  for (std::string how : {"run", "check", "throw"}) {
    World w;
    (how == "run" ? w.fail_run : how == "check" ? w.fail_check : w.throw_in) = "step4";
    auto out = Engine().Run(MakeProcedure(w));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->outcome, "rolled-back") << how;
    EXPECT_EQ(out->failed_step, "step4") << how;
    EXPECT_FALSE(out->error.empty());
    // step3 has no undo: its fact stays, as a step without an undo declares.
    EXPECT_EQ(w.facts, (std::set<std::string>{"step3"})) << how;
    std::vector<std::string> expected_tail = {"undo step4", "undo step2", "undo step1"};
    std::vector<std::string> tail(w.calls.end() - 3, w.calls.end());
    EXPECT_EQ(tail, expected_tail) << how;
  }
}

TEST_F(ProcedureTest, AnUndoThatFailsIsReportedAndTheOthersStillRun) {
  World w;
  w.fail_run = "step4";
  w.fail_undo = "step2";
  auto out = Engine().Run(MakeProcedure(w));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->outcome, "rollback-failed");
  EXPECT_EQ(w.facts, (std::set<std::string>{"step2", "step3"}));
  EXPECT_EQ(w.calls.back(), "undo step1");
}

TEST_F(ProcedureTest, ASecondProcedureIsRefusedNamingTheFirst) {
  World w, inner;
  ProcedureEngine engine = Engine();
  Procedure p = MakeProcedure(w);
  Status second;
  p.steps[1].run = [&](StepContext&) -> Status {
    auto refused = Engine().Run(MakeProcedure(inner));
    second = refused.status();
    return Status::Ok();
  };
  ASSERT_TRUE(engine.Run(p).ok());
  EXPECT_EQ(second.tag(), "PROCEDURE_IN_PROGRESS");
  EXPECT_NE(second.message().find("demo"), std::string::npos) << second.message();
  EXPECT_TRUE(inner.calls.empty());
}

TEST_F(ProcedureTest, KilledAfterAnyJournalEntryResumeEndsConsistent) {
  // Entries of a whole successful run: start, then begin/record/done per step, end.
  const int entries = 1 + 4 * 3 + 1;
  for (int kill = 1; kill < entries; ++kill) {
    testing::TempDir dir;
    World w;
    ProcedureEngine engine(dir.path(), nullptr);
    engine.set_kill_after_entries(kill);
    auto killed = engine.Run(MakeProcedure(w));
    ASSERT_FALSE(killed.ok()) << "kill " << kill;
    ASSERT_EQ(killed.status().tag(), "KILLED");
    // Interrupted: shown, not running, and no new procedure starts.
    ProcedureEngine after(dir.path(), nullptr);
    auto current = after.Current();
    ASSERT_TRUE(current.ok() && current->has_value());
    EXPECT_FALSE((*current)->outcome.has_value());
    EXPECT_FALSE((*current)->running);
    World other;
    EXPECT_EQ(after.Run(MakeProcedure(other)).status().tag(), "PROCEDURE_INTERRUPTED");
    auto resumed = after.Resume([&](const std::string&, const json::object&) {
      return Result<Procedure>(MakeProcedure(w));
    });
    ASSERT_TRUE(resumed.ok()) << "kill " << kill << ": " << resumed.status().ToString();
    EXPECT_EQ(resumed->outcome, "succeeded") << "kill " << kill;
    EXPECT_EQ(w.facts, (std::set<std::string>{"step1", "step2", "step3", "step4"}))
        << "kill " << kill;
    EXPECT_EQ(after.Resume(Factory(w)).status().tag(), "NOTHING_TO_RESUME");
  }
}

TEST_F(ProcedureTest, AStepThatCannotRunAgainIsRolledBackOnResume) {
  World w;
  ProcedureEngine engine = Engine();
  engine.set_kill_after_entries(1 + 3 + 3 + 2);  // within step3: begun and recorded, not done
  ASSERT_EQ(engine.Run(MakeProcedure(w, 4, /*not_rerunnable=*/2)).status().tag(), "KILLED");
  EXPECT_EQ(w.facts, (std::set<std::string>{"step1", "step2", "step3"}));
  auto resumed = Engine().Resume(Factory(w, 4, 2));
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->outcome, "rolled-back");
  EXPECT_EQ(w.facts, (std::set<std::string>{"step3"}));  // step3 has no undo
}

TEST_F(ProcedureTest, KilledDuringARollbackResumeFinishesTheRollback) {
  const int before_undo = 1 + 3 * 3 + 3;  // three steps done, step4 begun, recorded, failed
  for (int extra = 1; extra <= 5; ++extra) {
    testing::TempDir dir;
    World w;
    w.fail_run = "step4";
    ProcedureEngine engine(dir.path(), nullptr);
    engine.set_kill_after_entries(before_undo + extra);
    ASSERT_EQ(engine.Run(MakeProcedure(w)).status().tag(), "KILLED") << extra;
    ProcedureEngine after(dir.path(), nullptr);
    auto resumed = after.Resume([&](const std::string&, const json::object&) {
      return Result<Procedure>(MakeProcedure(w));
    });
    ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
    EXPECT_EQ(resumed->outcome, "rolled-back") << extra;
    EXPECT_EQ(resumed->failed_step, "step4") << extra;
    EXPECT_EQ(w.facts, (std::set<std::string>{"step3"})) << extra;
  }
}

TEST_F(ProcedureTest, ResumeRefusesStepsThatChanged) {
  World w;
  ProcedureEngine engine = Engine();
  engine.set_kill_after_entries(3);
  ASSERT_EQ(engine.Run(MakeProcedure(w)).status().tag(), "KILLED");
  EXPECT_EQ(Engine().Resume(Factory(w, 5)).status().tag(), "PROCEDURE_CHANGED");
  EXPECT_TRUE(Engine().Resume(Factory(w)).ok());
}

TEST_F(ProcedureTest, ThePlanListsEveryStepAndDoesNothing) {
  World w;
  std::string plan = ProcedureEngine::Plan(MakeProcedure(w));
  EXPECT_NE(plan.find("1. step1: adds step1 (undone on failure)"), std::string::npos) << plan;
  EXPECT_NE(plan.find("3. step3: adds step3\n"), std::string::npos) << plan;
  EXPECT_TRUE(w.calls.empty());
  auto current = Engine().Current();
  ASSERT_TRUE(current.ok());
  EXPECT_FALSE(current->has_value());
}

}  // namespace
}  // namespace slipway::ops
