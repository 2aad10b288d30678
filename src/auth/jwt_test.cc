#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <set>
#include <string>

namespace slipway::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const std::string kKey = "a-32-byte-secret-for-the-tests!!";

// The tests' own base64url and HMAC, built on OpenSSL, so that tokens are checked against an
// implementation that shares no code with jwt.cc.
std::string OpenSslBase64Url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  return out;
}

std::string OpenSslHmac(const EVP_MD* md, std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

// A token with exactly these header and claims bytes, signed with `md` by OpenSSL.
std::string OpenSslToken(std::string_view header_json, std::string_view claims_json,
                         std::string_view key, const EVP_MD* md = EVP_sha256()) {
  std::string input = OpenSslBase64Url(header_json) + "." + OpenSslBase64Url(claims_json);
  return input + "." + OpenSslBase64Url(OpenSslHmac(md, key, input));
}

constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

void ExpectRefused(const Result<boost::json::object>& result, std::string_view tag,
                   std::string_view what) {
  ASSERT_FALSE(result.ok()) << what;
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated) << what;
  EXPECT_EQ(result.status().tag(), tag) << what << ": " << result.status().ToString();
}

TEST(JwtTest, RoundTripKeepsTheClaims) {
  boost::json::object claims{{"userId", 1},
                             {"roleName", "admin"},
                             {"iat", kNow},
                             {"exp", kNow + 3600},
                             {"jti", RandomTokenId()}};
  const std::string token = SignJwt(claims, kKey);
  Result<boost::json::object> verified = VerifyJwt(token, kKey, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(*verified, claims);
}

TEST(JwtTest, SignatureMatchesAnIndependentHmac) {
  const std::string claims_json = R"({"userId":1,"exp":1700003600})";
  const std::string expected = OpenSslToken(kHs256Header, claims_json, kKey);
  EXPECT_EQ(SignJwt(boost::json::parse(claims_json).as_object(), kKey), expected);
  EXPECT_TRUE(VerifyJwt(expected, kKey, kNow).ok());
}

TEST(JwtTest, KeysLongerThanAHashBlockFollowRfc2104) {
  // HMAC hashes a key longer than 64 bytes first; OpenSSL does so independently.
  const std::string long_key(200, 'k');
  const std::string claims_json = R"({"sub":"42"})";
  const std::string expected = OpenSslToken(kHs256Header, claims_json, long_key);
  EXPECT_EQ(SignJwt(boost::json::parse(claims_json).as_object(), long_key), expected);
  EXPECT_TRUE(VerifyJwt(expected, long_key, kNow).ok());
  ExpectRefused(VerifyJwt(expected, long_key.substr(0, 199), kNow), kInvalidTokenTag,
                "one byte shorter key");
}

TEST(JwtTest, AcceptsTheRfc7515ExampleToken) {
  // RFC 7515 appendix A.1: another spelling of the same header (order, whitespace) is fine.
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnV"
      "lfQ"
      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  // The JWK's "k", decoded with OpenSSL (base64url -> base64 with padding).
  std::string b64 =
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
  for (char& c : b64) c = c == '-' ? '+' : (c == '_' ? '/' : c);
  while (b64.size() % 4 != 0) b64 += '=';
  unsigned char key[3 * 88 / 4];  // EVP_DecodeBlock writes 3 bytes per 4 characters, padding too
  ASSERT_EQ(b64.size(), 88u);
  ASSERT_EQ(EVP_DecodeBlock(key, reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size())),
            66);
  const std::string_view key_view(reinterpret_cast<const char*>(key), 64);  // 2 padding bytes

  Result<boost::json::object> claims = VerifyJwt(token, key_view, 1300819379);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->at("iss"), "joe");
  ExpectRefused(VerifyJwt(token, key_view, 1300819380), kExpiredTokenTag, "RFC token at exp");
}

TEST(JwtTest, RefusesAnotherKey) {
  const std::string token = SignJwt({{"userId", 1}}, kKey);
  ExpectRefused(VerifyJwt(token, "another key, also 32 bytes long!", kNow), kInvalidTokenTag,
                "other key");
}

TEST(JwtTest, RefusesASignatureWrongInAnyByte) {
  // Every byte of the MAC counts, the last one included (a prefix comparison would pass these).
  const std::string input = OpenSslBase64Url(kHs256Header) + "." + OpenSslBase64Url("{}");
  const std::string mac = OpenSslHmac(EVP_sha256(), kKey, input);
  ASSERT_TRUE(VerifyJwt(input + "." + OpenSslBase64Url(mac), kKey, kNow).ok());
  for (size_t i : {size_t{0}, size_t{15}, size_t{31}}) {
    std::string wrong = mac;
    wrong[i] = static_cast<char>(wrong[i] ^ 0x01);
    ExpectRefused(VerifyJwt(input + "." + OpenSslBase64Url(wrong), kKey, kNow), kInvalidTokenTag,
                  "MAC byte " + std::to_string(i));
  }
  // A MAC of the wrong length (HS256 truncated to 16 bytes, or padded to 33) is malformed.
  ExpectRefused(VerifyJwt(input + "." + OpenSslBase64Url(mac.substr(0, 16)), kKey, kNow),
                kInvalidTokenTag, "short MAC");
  ExpectRefused(VerifyJwt(input + "." + OpenSslBase64Url(mac + "x"), kKey, kNow), kInvalidTokenTag,
                "long MAC");
}

TEST(JwtTest, RefusesATamperedPayload) {
  const std::string token = SignJwt({{"userId", 2}}, kKey);
  const size_t dot1 = token.find('.');
  const size_t dot2 = token.find('.', dot1 + 1);
  const std::string forged =
      token.substr(0, dot1 + 1) + OpenSslBase64Url(R"({"userId":1})") + token.substr(dot2);
  ExpectRefused(VerifyJwt(forged, kKey, kNow), kInvalidTokenTag, "tampered payload");
}

TEST(JwtTest, RefusesEveryOtherHeaderEvenWhenSignedWithTheKey) {
  const std::string claims = R"({"userId":1})";
  // alg "none": unsigned, with an empty or with a made-up signature.
  const std::string none_input =
      OpenSslBase64Url(R"({"alg":"none","typ":"JWT"})") + "." + OpenSslBase64Url(claims);
  ExpectRefused(VerifyJwt(none_input + ".", kKey, kNow), kInvalidTokenTag, "alg none, no sig");
  ExpectRefused(VerifyJwt(OpenSslToken(R"({"alg":"none","typ":"JWT"})", claims, kKey), kKey, kNow),
                kInvalidTokenTag, "alg none, HS256 sig");
  // A genuine HS512 token, and one claiming HS512 over a correct HS256 signature (which only
  // the header rule can refuse).
  ExpectRefused(
      VerifyJwt(OpenSslToken(R"({"alg":"HS512","typ":"JWT"})", claims, kKey, EVP_sha512()), kKey,
                kNow),
      kInvalidTokenTag, "alg HS512");
  ExpectRefused(VerifyJwt(OpenSslToken(R"({"alg":"HS512","typ":"JWT"})", claims, kKey), kKey, kNow),
                kInvalidTokenTag, "alg HS512, HS256 sig");
  // Correct HS256 signatures over headers that are not exactly alg HS256 / typ JWT.
  for (const char* header :
       {R"({"alg":"HS256"})", R"({"alg":"HS256","typ":"JWS"})", R"({"alg":"hs256","typ":"JWT"})",
        R"({"alg":"HS256","typ":"JWT","kid":"1"})", R"({"alg":["HS256"],"typ":"JWT"})",
        R"(["HS256","JWT"])", "null"}) {
    ExpectRefused(VerifyJwt(OpenSslToken(header, claims, kKey), kKey, kNow), kInvalidTokenTag,
                  header);
  }
  // The same construction with the right header is accepted, so the refusals above are real.
  EXPECT_TRUE(VerifyJwt(OpenSslToken(kHs256Header, claims, kKey), kKey, kNow).ok());
}

TEST(JwtTest, ExpiryAndNotBefore) {
  auto verify = [](boost::json::object claims) {
    return VerifyJwt(SignJwt(claims, kKey), kKey, kNow);
  };
  EXPECT_TRUE(verify({{"exp", kNow + 1}}).ok());
  ExpectRefused(verify({{"exp", kNow}}), kExpiredTokenTag, "exp == now");
  ExpectRefused(verify({{"exp", kNow - 3600}}), kExpiredTokenTag, "exp an hour ago");
  ExpectRefused(verify({{"exp", kNow - 0.5}}), kExpiredTokenTag, "fractional exp");
  EXPECT_TRUE(verify({{"exp", kNow + 0.5}}).ok());
  EXPECT_TRUE(verify({{"exp", 18446744073709551615ull}}).ok());  // far future, as uint64

  EXPECT_TRUE(verify({{"nbf", kNow}}).ok());
  ExpectRefused(verify({{"nbf", kNow + 1}}), kInvalidTokenTag, "nbf in the future");

  EXPECT_TRUE(verify({{"iat", kNow}}).ok());
  ExpectRefused(verify({{"iat", "yesterday"}}), kInvalidTokenTag, "iat string");
  ExpectRefused(verify({{"exp", std::to_string(kNow + 3600)}}), kInvalidTokenTag, "exp string");
  ExpectRefused(verify({{"exp", true}}), kInvalidTokenTag, "exp bool");
  ExpectRefused(verify({{"nbf", nullptr}}), kInvalidTokenTag, "nbf null");
}

TEST(JwtTest, RefusesClaimsThatAreNotAnObject) {
  for (const char* claims : {"[1,2]", "\"userId\"", "42", "{", ""}) {
    ExpectRefused(VerifyJwt(OpenSslToken(kHs256Header, claims, kKey), kKey, kNow), kInvalidTokenTag,
                  claims);
  }
}

TEST(JwtTest, RefusesGarbage) {
  const std::string good = SignJwt({{"userId", 1}}, kKey);
  const std::string bad[] = {
      "",
      "abc",
      "a.b",
      "a.b.c",
      "..",
      good + ".",
      "." + good,
      good + "=",                       // padding is not base64url-without-padding
      good + " ",                       // whitespace
      good.substr(0, good.size() - 1),  // a truncated signature
      "Bearer " + good,
      std::string("\0\xff\x80.\x01.\x02", 7),
  };
  for (const std::string& token : bad)
    ExpectRefused(VerifyJwt(token, kKey, kNow), kInvalidTokenTag, token);
  EXPECT_TRUE(VerifyJwt(good, kKey, kNow).ok());
}

TEST(JwtTest, RefusesANonCanonicalSignatureSpelling) {
  // 32 bytes take 43 base64url characters; the last one carries 2 unused bits. Setting one must
  // not give a second valid spelling of the same token.
  const std::string good = SignJwt({{"userId", 1}}, kKey);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string other = good;
  other.back() = alphabet[alphabet.find(good.back()) ^ 1];
  ExpectRefused(VerifyJwt(other, kKey, kNow), kInvalidTokenTag, "unused bits set");
}

TEST(JwtTest, RefusesOverlongTokensEvenWhenValid) {
  const std::string big = SignJwt({{"pad", std::string(7000, 'p')}}, kKey);
  ASSERT_GT(big.size(), kMaxJwtBytes);
  ExpectRefused(VerifyJwt(big, kKey, kNow), kInvalidTokenTag, "over 8 KiB");
  const std::string fits = SignJwt({{"pad", std::string(5000, 'p')}}, kKey);
  ASSERT_LE(fits.size(), kMaxJwtBytes);
  EXPECT_TRUE(VerifyJwt(fits, kKey, kNow).ok());
}

TEST(JwtTest, EmptyKeyIsAConfigurationError) {
  const std::string token = OpenSslToken(kHs256Header, "{}", "");
  Result<boost::json::object> result = VerifyJwt(token, "", kNow);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition);
}

TEST(JwtTest, RandomTokenIdsAre128BitHexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = RandomTokenId();
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace slipway::auth
