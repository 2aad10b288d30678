#include "core/read_ahead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace slipway::core {
namespace {

using Push = std::function<Status(int)>;
size_t One(const int&) { return 1; }

TEST(ReadAheadTest, HandsEveryItemOverInOrderAndNeverRunsPastTheLimit) {
  std::atomic<int> produced{0};
  std::vector<int> seen;
  int most_ahead = 0;
  Status s = ReadAhead<int>(
      /*limit=*/3, One,
      [&](const Push& push) -> Status {
        for (int i = 0; i < 1000; ++i) {
          RETURN_IF_ERROR(push(i));
          ++produced;
        }
        return Status::Ok();
      },
      [&](int& item) {
        seen.push_back(item);
        // Items handed over but not consumed yet: this one and those queued behind it.
        most_ahead = std::max(most_ahead, produced.load() - static_cast<int>(seen.size()) + 1);
        return Status::Ok();
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], i);
  EXPECT_LE(most_ahead, 4);  // three queued, and the one being consumed
}

TEST(ReadAheadTest, AConsumerThatFailsStopsTheProducerAndItsErrorIsTheResult) {
  std::atomic<int> pushed{0};
  Status refused;
  Status s = ReadAhead<int>(
      /*limit=*/2, One,
      [&](const Push& push) -> Status {
        for (int i = 0;; ++i) {
          Status p = push(i);
          if (!p.ok()) {
            refused = p;
            return p;
          }
          ++pushed;
        }
      },
      [&](int& item) { return item == 5 ? InvalidArgument("row 5 is bad") : Status::Ok(); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "row 5 is bad");
  EXPECT_EQ(refused.code(), StatusCode::kAborted);
  EXPECT_LE(pushed.load(), 5 + 3);  // the producer stopped within its limit of the failure
}

TEST(ReadAheadTest, TheProducersErrorComesAfterWhatItHandedOver) {
  std::vector<int> seen;
  Status s = ReadAhead<int>(
      /*limit=*/100, One,
      [&](const Push& push) -> Status {
        for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(push(i));
        return InvalidArgument("the archive is truncated");
      },
      [&](int& item) {
        seen.push_back(item);
        return Status::Ok();
      });
  EXPECT_EQ(s.message(), "the archive is truncated");
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
}

// In a fiber there is no second thread: the producer and the consumer take turns on the
// fiber's own, and a consumer that fails still stops the producer.
TEST(ReadAheadTest, InAFiberEachItemIsConsumedAsItIsPushed) {
  fiber::FiberThread thread;
  std::vector<int> seen;
  std::vector<std::thread::id> producers, consumers;
  Status ok, failed;
  int pushed_after_failure = 0;
  thread.RunAll({[&] {
    ok = ReadAhead<int>(
        /*limit=*/2, One,
        [&](const Push& push) -> Status {
          for (int i = 0; i < 10; ++i) {
            producers.push_back(std::this_thread::get_id());
            RETURN_IF_ERROR(push(i));
            EXPECT_EQ(seen.size(), static_cast<size_t>(i + 1)) << "consumed before the next";
          }
          return Status::Ok();
        },
        [&](int& item) {
          consumers.push_back(std::this_thread::get_id());
          seen.push_back(item);
          return Status::Ok();
        });
    failed = ReadAhead<int>(
        /*limit=*/2, One,
        [&](const Push& push) -> Status {
          for (int i = 0; i < 10; ++i) {
            Status p = push(i);
            if (!p.ok()) return p;
            if (i >= 3) ++pushed_after_failure;
          }
          return Status::Ok();
        },
        [&](int& item) { return item == 3 ? InvalidArgument("row 3 is bad") : Status::Ok(); });
  }});
  ASSERT_TRUE(ok.ok()) << ok.ToString();
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (const auto& id : consumers) EXPECT_EQ(id, producers.front());
  EXPECT_EQ(failed.message(), "row 3 is bad");
  EXPECT_EQ(pushed_after_failure, 0);
}

}  // namespace
}  // namespace slipway::core
