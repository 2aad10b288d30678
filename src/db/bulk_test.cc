#include "db/bulk.h"

#include <gtest/gtest.h>

namespace slipway::db {
namespace {

TEST(BulkTest, CopyTextEscapesWhatCopyReadsSpecially) {
  std::string out;
  for (const Value& v : {Value(Null()), Value(true), Value(false), Value(int64_t{-42}), Value(0.1),
                         Value(std::string("a\tb\nc\rd\\e ü"))}) {
    AppendCopyValue(&out, v);
    out.push_back('|');
  }
  EXPECT_EQ(out, "\\N|true|false|-42|0.1|a\\tb\\nc\\rd\\\\e ü|");
}

}  // namespace
}  // namespace slipway::db
