#include "cluster/worker_id_lease.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "cluster/memory/memory_worker_ids.h"
#include "core/clock.h"
#include "core/fiber.h"

namespace slipway::cluster {
namespace {

using namespace std::chrono_literals;
using memory::MemoryWorkerIdStore;
using memory::MemoryWorkerIdTable;

// ttl 10 s, margin 2 s, renewal every 2 s; no keeper thread: the test calls Maintain() (the
// keeper's work) itself, and IdForIssuing() makes its one attempt on the calling thread.
WorkerIdLeaseOptions Manual() {
  WorkerIdLeaseOptions o = WorkerIdLeaseOptions::ForTtl(10s);
  o.keeper_thread = false;
  return o;
}

class WorkerIdLeaseTest : public ::testing::Test {
 protected:
  std::unique_ptr<WorkerIdLease> Make(const std::shared_ptr<MemoryWorkerIdTable>& table,
                                      const std::string& node,
                                      WorkerIdLeaseOptions options = Manual()) {
    return std::make_unique<WorkerIdLease>(std::make_unique<MemoryWorkerIdStore>(table), node,
                                           options, clock_);
  }
  std::shared_ptr<MemoryWorkerIdTable> Table(bool may_forget) {
    return std::make_shared<MemoryWorkerIdTable>(clock_, may_forget);
  }
  bool Usable(WorkerIdLease& lease, int id) {
    auto got = lease.IdForIssuing();
    return got.ok() && *got == id;
  }

  core::ManualClock clock_;
};

TEST_F(WorkerIdLeaseTest, ValidUntilTheDeadlineReadBeforeTheConfirmingCall) {
  auto table = Table(/*may_forget=*/false);
  // The acquisition takes 1 s in flight: the deadline counts from before it was sent.
  table->set_call_hook([this] { clock_.Advance(1s); });
  auto lease = Make(table, "a");
  auto sent = clock_.Now();
  ASSERT_TRUE(lease->Start().ok());
  table->set_call_hook(nullptr);
  auto id = lease->IdForIssuing();
  ASSERT_TRUE(id.ok()) << id.status().ToString();

  // The store becomes unreachable: renewals fail, and ids go on until T + ttl - margin only.
  table->set_reachable(false);
  clock_.Advance(sent + 8s - 1ms - clock_.Now());
  EXPECT_FALSE(lease->Maintain().ok());
  EXPECT_TRUE(Usable(*lease, *id)) << "confirmed within the margin: still issuing";
  clock_.Advance(1ms);
  auto stopped = lease->IdForIssuing();
  ASSERT_EQ(stopped.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(stopped.status().tag(), "WORKER_ID_UNAVAILABLE");
  EXPECT_NE(stopped.status().message().find("could not be confirmed"), std::string::npos)
      << stopped.status().message();
  EXPECT_EQ(lease->Describe()["lost"], true);

  // The store answers again (it still holds our lease: 10 s from the call): the next create's
  // attempt renews it and gets the same id, without waiting for the keeper.
  table->set_reachable(true);
  EXPECT_TRUE(Usable(*lease, *id));
  EXPECT_EQ(lease->Describe()["lost"], false);
}

TEST_F(WorkerIdLeaseTest, RenewalsMoveTheDeadline) {
  auto table = Table(false);
  auto lease = Make(table, "a");
  ASSERT_TRUE(lease->Start().ok());
  int id = lease->id();
  for (int i = 0; i < 20; ++i) {  // 40 s, far past the first deadline
    clock_.Advance(2s);
    ASSERT_TRUE(lease->Maintain().ok());
    EXPECT_TRUE(Usable(*lease, id)) << "after " << (i + 1) * 2 << " s";
  }
}

TEST_F(WorkerIdLeaseTest, ALeaseTheStoreLetExpireIsTakenByAnotherNodeOnlyAfterTheHoldersDeadline) {
  auto table = Table(false);
  auto a = Make(table, "a");
  ASSERT_TRUE(a->Start().ok());
  int id = a->id();
  // a stalls: no renewal. Its own deadline (8 s) comes before the store's expiry (10 s).
  clock_.Advance(8s);
  EXPECT_EQ(a->Describe()["lost"], true);
  clock_.Advance(2s);
  auto b = Make(table, "b");
  ASSERT_TRUE(b->Start().ok());
  ASSERT_EQ(b->id(), id) << "the expired id is handed on";
  EXPECT_TRUE(Usable(*b, id)) << "a store that never forgets: b uses it at once";
  // a wakes: its renewal is refused, so it takes another id and never issues under b's.
  auto again = a->IdForIssuing();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(*again, id);
}

TEST_F(WorkerIdLeaseTest, AnIdFromAForgetfulStoreIsUsedOnlyOneTtlAfterItWasLeased) {
  auto table = Table(/*may_forget=*/true);
  auto lease = Make(table, "a");
  ASSERT_TRUE(lease->Start().ok());
  int id = lease->id();
  ASSERT_GE(id, 0);
  auto waiting = lease->IdForIssuing();
  ASSERT_EQ(waiting.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(waiting.status().message().find("can forget"), std::string::npos)
      << waiting.status().message();
  // Renewed meanwhile, it stays ours; usable exactly one TTL after the acquisition returned.
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(2s);
    ASSERT_TRUE(lease->Maintain().ok());
    EXPECT_FALSE(lease->IdForIssuing().ok()) << "at " << (i + 1) * 2 << " s";
  }
  clock_.Advance(2s - 1ms);
  EXPECT_FALSE(lease->IdForIssuing().ok());
  clock_.Advance(1ms);
  EXPECT_TRUE(Usable(*lease, id));
  EXPECT_EQ(lease->Describe()["usableInMs"], 0);
}

// Why rule 4 holds the node's own previous id too: the store forgets twice, and another node
// held the id in between. Were the own id exempt, a and b would issue under it at the same time.
TEST_F(WorkerIdLeaseTest, NoTwoNodesIssueUnderOneIdWhenAForgetfulStoreForgetsTwice) {
  auto table = Table(true);
  auto a = Make(table, "a");
  ASSERT_TRUE(a->Start().ok());
  int id = a->id();
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(2s);
    ASSERT_TRUE(a->Maintain().ok());
  }
  ASSERT_TRUE(Usable(*a, id));  // T+10, confirmed until T+18

  table->Forget();  // the first restart; a, cut off from the store, does not hear of it
  auto b = Make(table, "b");
  ASSERT_TRUE(b->Start().ok());
  ASSERT_EQ(b->id(), id);  // b is given a's id, and waits until T+20 before using it
  clock_.Advance(2900ms);
  ASSERT_TRUE(b->Maintain().ok());  // T+12.9: b confirms it, valid until T+20.9
  clock_.Advance(100ms);
  table->Forget();                  // T+13: the second restart
  ASSERT_TRUE(a->Maintain().ok());  // a reaches the store: its lease is gone, it takes it back
  ASSERT_EQ(a->id(), id);
  clock_.Advance(7s);  // T+20: b, cut off in turn, knows nothing of it and issues under the id
  ASSERT_TRUE(Usable(*b, id));
  ASSERT_TRUE(a->Maintain().ok());
  EXPECT_FALSE(a->IdForIssuing().ok()) << "a waits until T+23";
  clock_.Advance(500ms);
  ASSERT_TRUE(b->Maintain().ok());  // b's renewal is refused: it leaves the id to a
  EXPECT_NE(b->id(), id);
  clock_.Advance(2500ms);  // T+23
  EXPECT_TRUE(Usable(*a, id));
}

TEST_F(WorkerIdLeaseTest, ANodeThatFoundEveryIdTakenStartsAndServesOnceOneIsFree) {
  auto table = Table(false);
  MemoryWorkerIdStore others(table);
  for (int i = 0; i <= WorkerIdStore::kMaxWorkerId; ++i) {
    ASSERT_TRUE(others.Acquire("other/" + std::to_string(i), i, 1h).ok());
  }
  auto lease = Make(table, "a");
  ASSERT_TRUE(lease->Start().ok()) << "a node with no id still starts";
  EXPECT_EQ(lease->id(), -1);
  auto none = lease->IdForIssuing();
  ASSERT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("all 1024 worker ids are leased"), std::string::npos)
      << none.status().message();
  ASSERT_TRUE(others.Release(321, "other/321").ok());
  EXPECT_TRUE(Usable(*lease, 321)) << "the next create's attempt takes the freed id";
}

TEST_F(WorkerIdLeaseTest, StopGivesTheIdBack) {
  auto table = Table(false);
  auto lease = Make(table, "a");
  ASSERT_TRUE(lease->Start().ok());
  int id = lease->id();
  EXPECT_EQ(table->OwnerOf(id), lease->owner());
  lease->Stop();
  EXPECT_EQ(table->OwnerOf(id), "");
  EXPECT_EQ(lease->id(), -1);
  EXPECT_FALSE(lease->IdForIssuing().ok());
}

TEST_F(WorkerIdLeaseTest, StartIsUnavailableWhileTheStoreIsDown) {
  auto table = Table(false);
  table->set_reachable(false);
  auto lease = Make(table, "a");
  EXPECT_EQ(lease->Start().code(), StatusCode::kUnavailable);
  table->set_reachable(true);
  EXPECT_TRUE(lease->Start().ok());
  EXPECT_GE(lease->id(), 0);
}

TEST(WorkerIdLeaseOptionsTest, RefusesARenewalThatComesAfterTheDeadline) {
  WorkerIdLeaseOptions o = WorkerIdLeaseOptions::ForTtl(10s);
  EXPECT_TRUE(o.Check().ok());
  o.renew_interval = 8s;
  EXPECT_EQ(o.Check().code(), StatusCode::kInvalidArgument);
  o = WorkerIdLeaseOptions::ForTtl(10s);
  o.margin = 10s;
  EXPECT_EQ(o.Check().code(), StatusCode::kInvalidArgument);
}

// With the keeper thread and the real clock.

WorkerIdLeaseOptions Threaded() {
  WorkerIdLeaseOptions o = WorkerIdLeaseOptions::ForTtl(1000ms);  // deadline 800 ms
  o.retry_interval = 5s;  // the keeper alone would come back only after 5 s
  o.demand_wait = 2s;
  return o;
}

TEST(WorkerIdLeaseThreadTest, ACreateGetsAnAttemptAtOnceInsteadOfWaitingForTheKeeper) {
  auto table = std::make_shared<MemoryWorkerIdTable>();
  WorkerIdLease lease(std::make_unique<MemoryWorkerIdStore>(table), "a", Threaded());
  ASSERT_TRUE(lease.Start().ok());
  int id = lease.id();
  table->set_reachable(false);
  std::this_thread::sleep_for(900ms);  // past the deadline: renewals failed
  ASSERT_FALSE(lease.IdForIssuing().ok());
  table->set_reachable(true);
  auto asked = std::chrono::steady_clock::now();
  auto got = lease.IdForIssuing();
  auto waited = std::chrono::steady_clock::now() - asked;
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, id) << "the lease was still in the store: renewed, same id";
  EXPECT_LT(waited, 1s) << "served by an attempt made for it, not the keeper's 5 s retry";
}

TEST(WorkerIdLeaseThreadTest, AWaitingCreateInAFiberLeavesItsThreadFree) {
  auto table = std::make_shared<MemoryWorkerIdTable>();
  WorkerIdLease lease(std::make_unique<MemoryWorkerIdStore>(table), "a", Threaded());
  ASSERT_TRUE(lease.Start().ok());
  table->set_reachable(false);
  std::this_thread::sleep_for(900ms);
  // The keeper's attempt for the create takes 300 ms (a slow store).
  table->set_call_hook([] { std::this_thread::sleep_for(300ms); });
  std::atomic<int> order{0};
  int create_done = 0, other_done = 0;
  fiber::FiberThread io;
  io.RunAll({[&] {
               EXPECT_FALSE(lease.IdForIssuing().ok());
               create_done = ++order;
             },
             [&] { other_done = ++order; }});
  EXPECT_EQ(other_done, 1) << "the other fiber ran while the create waited";
  EXPECT_EQ(create_done, 2);
  table->set_call_hook(nullptr);
}

}  // namespace
}  // namespace slipway::cluster
