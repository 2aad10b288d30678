#include "core/read_ahead.h"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace slipway::core
