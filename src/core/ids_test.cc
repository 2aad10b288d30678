#include "core/ids.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace slipway::core {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kEpoch = 1704067200000;  // 2024-01-01T00:00:00Z, written out independently

// "xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx", x lower-case hex, Y one of 8, 9, a, b.
bool IsCanonicalUuidV4(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : std::string_view("0123456789abcdef").find(s[i]) == std::string::npos) {
      return false;
    }
  }
  return s[14] == '4' && std::string_view("89ab").find(s[19]) != std::string::npos;
}

TEST(UuidTest, CanonicalVersion4AndUnique) {
  for (const char* bad :
       {"00000000-0000-4000-8000-00000000000", "00000000-0000-3000-8000-000000000000",
        "00000000-0000-4000-c000-000000000000", "00000000-0000-4000-8000-00000000000A",
        "00000000_0000-4000-8000-000000000000"}) {
    ASSERT_FALSE(IsCanonicalUuidV4(bad)) << bad;  // the checker itself can say no
  }
  ASSERT_TRUE(IsCanonicalUuidV4("01234567-89ab-4cde-bf01-23456789abcd"));
  std::unordered_set<std::string> seen;
  std::set<char> variant_nibbles;
  for (int i = 0; i < 10000; ++i) {
    const std::string uuid = NewUuidV4();
    ASSERT_TRUE(IsCanonicalUuidV4(uuid)) << uuid;
    variant_nibbles.insert(uuid[19]);
    seen.insert(uuid);
  }
  EXPECT_EQ(seen.size(), 10000u);
  // The two low variant bits are random: all four of 8, 9, a, b appear.
  EXPECT_EQ(variant_nibbles.size(), 4u);
}

// A clock the test moves by hand.
struct ManualClock {
  std::atomic<int64_t> now_ms{kEpoch + 1000};
  SnowflakeGenerator::Clock AsClock() {
    return [this] { return now_ms.load(); };
  }
};

std::unique_ptr<SnowflakeGenerator> MustCreate(int worker_id, SnowflakeGenerator::Clock clock,
                                               milliseconds max_wait = milliseconds(1000)) {
  auto generator = SnowflakeGenerator::Create(worker_id, std::move(clock), max_wait);
  EXPECT_TRUE(generator.ok()) << generator.status().ToString();
  return generator.ok() ? std::move(*generator) : nullptr;
}

int64_t MustNext(SnowflakeGenerator& generator) {
  Result<int64_t> id = generator.Next();
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : -1;
}

TEST(SnowflakeTest, BitsAreWhereDocumented) {
  ManualClock clock;
  clock.now_ms = kEpoch + 12345;
  auto generator = MustCreate(777, clock.AsClock());
  // 41 bits of ms since the epoch, then 10 bits of worker id, then 12 bits of sequence.
  EXPECT_EQ(MustNext(*generator), (int64_t{12345} << 22) | (int64_t{777} << 12) | 0);
  EXPECT_EQ(MustNext(*generator), (int64_t{12345} << 22) | (int64_t{777} << 12) | 1);

  // The largest timestamp with the largest worker id is still a positive int64.
  clock.now_ms = kEpoch + (int64_t{1} << 41) - 1;
  auto last = MustCreate(1023, clock.AsClock());
  const int64_t id = MustNext(*last);
  EXPECT_GT(id, 0);
  EXPECT_EQ(static_cast<uint64_t>(id) >> 22, (uint64_t{1} << 41) - 1);
  EXPECT_EQ((id >> 12) & 0x3ff, 1023);
  EXPECT_EQ(id & 0xfff, 0);
}

TEST(SnowflakeTest, RefusesWorkerIdsOutOfRange) {
  for (int bad : {-1, 1024, 5000}) {
    auto generator = SnowflakeGenerator::Create(bad);
    ASSERT_FALSE(generator.ok()) << bad;
    EXPECT_EQ(generator.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(SnowflakeGenerator::Create(0).ok());
  auto generator = MustCreate(1023, SnowflakeGenerator::SystemClockMs);
  EXPECT_EQ(generator->set_worker_id(1024).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(generator->worker_id(), 1023);
  EXPECT_EQ(generator->set_worker_id(-2).code(), StatusCode::kInvalidArgument);
}

TEST(SnowflakeTest, WithoutAWorkerIdItIssuesNothingUntilOneIsSetAgain) {
  auto generator = MustCreate(7, SnowflakeGenerator::SystemClockMs);
  const int64_t before = MustNext(*generator);
  ASSERT_TRUE(generator->set_worker_id(SnowflakeGenerator::kNoWorkerId).ok());
  EXPECT_EQ(generator->Next().status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(generator->set_worker_id(8).ok());
  const int64_t after = MustNext(*generator);
  EXPECT_GT(after, before);
  EXPECT_EQ((after >> SnowflakeGenerator::kWorkerIdShift) & SnowflakeGenerator::kMaxWorkerId, 8);
}

TEST(SnowflakeTest, MonotonicOnTheSystemClock) {
  auto generator = MustCreate(1, SnowflakeGenerator::SystemClockMs);
  int64_t previous = 0;
  for (int i = 0; i < 100000; ++i) {
    const int64_t id = MustNext(*generator);
    ASSERT_GT(id, previous) << "at " << i;
    previous = id;
  }
  // The timestamp part is the system time, within a second.
  const int64_t ms = (previous >> 22) + kEpoch;
  EXPECT_LT(std::abs(SnowflakeGenerator::SystemClockMs() - ms), 1000);
}

TEST(SnowflakeTest, UniqueAcrossFourThreads) {
  auto generator = MustCreate(3, SnowflakeGenerator::SystemClockMs);
  constexpr int kThreads = 4, kPerThread = 50000;
  std::vector<std::vector<int64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ids[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(generator->Next().value());
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::unordered_set<int64_t> all;
  for (const auto& list : ids) {
    for (size_t i = 1; i < list.size(); ++i) ASSERT_GT(list[i], list[i - 1]);
    all.insert(list.begin(), list.end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads} * kPerThread);
}

TEST(SnowflakeTest, DistinctWorkerIdsNeverCollideOnTheSameClock) {
  // The clock advances one millisecond every 1000 readings, shared by both generators, so both
  // issue ids in the same milliseconds with the same sequence numbers.
  std::atomic<int64_t> readings{0};
  SnowflakeGenerator::Clock clock = [&] { return kEpoch + readings.fetch_add(1) / 1000; };
  auto a = MustCreate(1, clock);
  auto b = MustCreate(2, clock);
  std::unordered_set<int64_t> all;
  for (int i = 0; i < 20000; ++i) {
    all.insert(MustNext(*a));
    all.insert(MustNext(*b));
  }
  EXPECT_EQ(all.size(), 40000u);
}

TEST(SnowflakeTest, SequenceOverflowWaitsForTheNextMillisecond) {
  ManualClock clock;
  auto generator = MustCreate(5, clock.AsClock());
  const int64_t ms = clock.now_ms - kEpoch;
  for (int i = 0; i < 4096; ++i) {
    ASSERT_EQ(MustNext(*generator), (ms << 22) | (5 << 12) | i);
  }
  std::atomic<bool> done{false};
  int64_t next = 0;
  std::thread waiter([&] {
    next = MustNext(*generator);
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(done.load()) << "the 4097th id of a millisecond did not wait";
  clock.now_ms += 1;
  waiter.join();
  EXPECT_EQ(next, ((ms + 1) << 22) | (5 << 12) | 0);
}

TEST(SnowflakeTest, ClockGoingBackwardsNeverYieldsASmallerId) {
  ManualClock clock;
  auto generator = MustCreate(9, clock.AsClock(), milliseconds(20));
  clock.now_ms = kEpoch + 5000;
  const int64_t before = MustNext(*generator);
  clock.now_ms = kEpoch + 4000;  // one second back
  int64_t previous = before;
  for (int i = 1; i < 4096; ++i) {  // the rest of the 5000th millisecond
    const int64_t id = MustNext(*generator);
    ASSERT_GT(id, previous);
    ASSERT_EQ(id >> 22, 5000);
    previous = id;
  }
  // That millisecond is full and the clock stays behind: a bounded wait, then Unavailable.
  Result<int64_t> stuck = generator->Next();
  ASSERT_FALSE(stuck.ok());
  EXPECT_EQ(stuck.status().code(), StatusCode::kUnavailable);
  clock.now_ms = kEpoch + 5001;  // the clock catches up
  EXPECT_GT(MustNext(*generator), previous);
}

TEST(SnowflakeTest, ClockOutsideTheLayoutIsRefused) {
  ManualClock clock;
  clock.now_ms = kEpoch - 1;
  auto generator = MustCreate(0, clock.AsClock());
  EXPECT_EQ(generator->Next().status().code(), StatusCode::kFailedPrecondition);
  clock.now_ms = kEpoch + (int64_t{1} << 41);
  EXPECT_EQ(generator->Next().status().code(), StatusCode::kFailedPrecondition);
  clock.now_ms = kEpoch;
  EXPECT_EQ(MustNext(*generator), 0);
}

TEST(SnowflakeTest, ChangingTheWorkerIdMovesToALaterMillisecond) {
  ManualClock clock;
  auto generator = MustCreate(900, clock.AsClock(), milliseconds(20));
  const int64_t first = MustNext(*generator);
  ASSERT_TRUE(generator->set_worker_id(4).ok());
  EXPECT_EQ(generator->worker_id(), 4);
  // Same millisecond with a smaller worker id would give a smaller id: it is not issued.
  EXPECT_EQ(generator->Next().status().code(), StatusCode::kUnavailable);
  clock.now_ms += 1;
  const int64_t second = MustNext(*generator);
  EXPECT_GT(second, first);
  EXPECT_EQ((second >> 12) & 0x3ff, 4);
  EXPECT_EQ(second >> 22, (first >> 22) + 1);
}

}  // namespace
}  // namespace slipway::core
