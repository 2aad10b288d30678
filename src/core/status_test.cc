#include "slipway/status.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "core/guard.h"

namespace slipway {
namespace {

TEST(ResultTest, ValueOfAnErrorThrowsNamingTheError) {
  Result<int> failed = NotFound("collection 'posts' not found", "COLLECTION_NOT_FOUND");
  try {
    (void)failed.value();
    FAIL() << "value() of an error returned";
  } catch (const BadResultAccess& e) {
    EXPECT_NE(std::string(e.what()).find("collection 'posts' not found"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)*failed, BadResultAccess);
  Result<std::string> text = Internal("x");
  EXPECT_THROW((void)text->size(), BadResultAccess);
  Result<int> fine = 7;
  EXPECT_EQ(fine.value(), 7);
}

TEST(GuardTest, ExceptionsBecomeInternalNamingTheCode) {
  Status threw = core::Guard("plugin 'hello'", "record hook",
                             []() -> Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(threw.code(), StatusCode::kInternal);
  EXPECT_EQ(threw.message(), "plugin 'hello' record hook threw: boom");
  Status odd = core::Guard("task", "", []() -> Status { throw 42; });
  EXPECT_EQ(odd.code(), StatusCode::kInternal);
  EXPECT_NE(odd.message().find("not a std::exception"), std::string::npos);
  Status failed = core::Guard("plugin 'hello'", "Install", [] { return NotFound("x"); });
  EXPECT_EQ(failed.code(), StatusCode::kNotFound);
  EXPECT_EQ(failed.message(), "plugin 'hello' Install: x");
  EXPECT_TRUE(core::Guard("a", "b", [] { return Status::Ok(); }).ok());
}

}  // namespace
}  // namespace slipway
