#include "auth/password.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>

namespace slipway::auth {
namespace {

std::string MustHash(std::string_view password) {
  Result<std::string> hash = HashPassword(password);
  EXPECT_TRUE(hash.ok()) << hash.status().ToString();
  return hash.ok() ? *hash : std::string();
}

TEST(PasswordTest, VerifiesTheRightPasswordOnly) {
  const std::string hash = MustHash("correct horse battery staple");
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", hash));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapler", hash));
  EXPECT_FALSE(VerifyPassword("Correct horse battery staple", hash));
  EXPECT_FALSE(VerifyPassword("", hash));
}

TEST(PasswordTest, UsesArgon2idWithOwaspParameters) {
  const std::string hash = MustHash("secret");
  // OWASP's Argon2id recommendation: 19 MiB (m is in KiB), 2 passes, one lane.
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << hash;
  EXPECT_FALSE(NeedsRehash(hash));
}

TEST(PasswordTest, HashesOfThePreviousParametersVerifyAndAskForARehash) {
  // Made by libsodium's INTERACTIVE limits (64 MiB), what Slipway stored before.
  char old[crypto_pwhash_STRBYTES];
  ASSERT_EQ(crypto_pwhash_str(old, "secret", 6, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE),
            0);
  EXPECT_TRUE(VerifyPassword("secret", old));
  EXPECT_TRUE(NeedsRehash(old));
}

TEST(PasswordTest, SaltMakesEveryHashDifferent) {
  const std::string a = MustHash("same password");
  const std::string b = MustHash("same password");
  EXPECT_NE(a, b);
  EXPECT_TRUE(VerifyPassword("same password", a));
  EXPECT_TRUE(VerifyPassword("same password", b));
}

TEST(PasswordTest, HashesAllBytesIncludingNul) {
  const std::string with_nul("ab\0cd", 5);
  const std::string hash = MustHash(with_nul);
  EXPECT_TRUE(VerifyPassword(with_nul, hash));
  EXPECT_FALSE(VerifyPassword("ab", hash));  // what a C-string API would have hashed
}

TEST(PasswordTest, RefusesEmptyAndOverlongPasswords) {
  Result<std::string> empty = HashPassword("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);

  Result<std::string> overlong = HashPassword(std::string(1025, 'x'));
  ASSERT_FALSE(overlong.ok());
  EXPECT_EQ(overlong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(overlong.status().message().find("1024"), std::string::npos)
      << overlong.status().message();

  const std::string longest(1024, 'x');
  const std::string hash = MustHash(longest);
  EXPECT_TRUE(VerifyPassword(longest, hash));
  EXPECT_FALSE(VerifyPassword(longest + "x", hash));
}

TEST(PasswordTest, MalformedStoredHashIsFalseNotACrash) {
  const std::string good = MustHash("pw");
  std::string flipped_digest = good;
  // Not the last character: its low bits are unused padding in the base64 digest.
  char& digest_char = flipped_digest[flipped_digest.size() - 10];
  digest_char = digest_char == 'A' ? 'B' : 'A';
  const std::string bad[] = {
      "",
      "garbage",
      "$argon2id$",
      "$argon2id$v=19$m=65536,t=2,p=1$",
      good.substr(0, good.size() / 2),        // truncated
      good + std::string(200, 'A'),           // longer than any stored hash
      std::string(good).insert(10, 1, '\0'),  // embedded NUL
      "$2b$10$abcdefghijklmnopqrstuuKbYpo2bqNrXA6C0aXb0bKx2K9E6OCr2",  // bcrypt
  };
  for (const std::string& stored : bad) {
    EXPECT_FALSE(VerifyPassword("pw", stored)) << stored;
    EXPECT_TRUE(NeedsRehash(stored)) << stored;
  }
  // Well formed with a wrong digest: refused, yet its parameters are current.
  EXPECT_FALSE(VerifyPassword("pw", flipped_digest));
  EXPECT_FALSE(NeedsRehash(flipped_digest));
  EXPECT_TRUE(VerifyPassword("pw", good));
}

TEST(PasswordTest, OlderParametersStillVerifyButNeedRehash) {
  // A hash made with other limits, as an earlier release (or a tuned one) would have stored.
  char stored[crypto_pwhash_STRBYTES];
  ASSERT_EQ(sodium_init() >= 0, true);
  ASSERT_EQ(crypto_pwhash_str(stored, "pw", 2, 3, 32 * 1024 * 1024), 0);
  EXPECT_TRUE(VerifyPassword("pw", stored));
  EXPECT_FALSE(VerifyPassword("pw2", stored));
  EXPECT_TRUE(NeedsRehash(stored));
}

}  // namespace
}  // namespace slipway::auth
