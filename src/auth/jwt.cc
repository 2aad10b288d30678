#include "auth/jwt.h"

#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>
#include <string>

#include "core/sodium.h"

namespace slipway::auth {
namespace {

using core::Base64UrlDecode;
using core::Base64UrlEncode;
using core::SodiumReady;

constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

// For the functions that cannot report an error: libsodium only fails to initialise when the
// system has no random source, and then nothing we sign or issue could be trusted.
void RequireSodium() {
  if (!SodiumReady()) std::abort();
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  // The _init form takes a key of any length (hashing one longer than a block, as RFC 2104 says).
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(mac.data()));
  sodium_memzero(&state, sizeof(state));
  return mac;
}

std::optional<boost::json::value> ParseJson(std::string_view text) {
  try {
    boost::json::error_code ec;
    boost::json::value value = boost::json::parse(text, ec);
    if (ec) return std::nullopt;
    return value;
  } catch (const std::exception&) {  // allocation failures; syntax errors arrive in `ec`
    return std::nullopt;
  }
}

Status Invalid(std::string message) {
  return Unauthenticated("invalid token: " + std::move(message), std::string(kInvalidTokenTag));
}

bool IsExactHeader(const boost::json::value& header) {
  const boost::json::object* object = header.if_object();
  if (object == nullptr || object->size() != 2) return false;
  const boost::json::value* alg = object->if_contains("alg");
  const boost::json::value* typ = object->if_contains("typ");
  return alg != nullptr && typ != nullptr && alg->is_string() && alg->get_string() == "HS256" &&
         typ->is_string() && typ->get_string() == "JWT";
}

// Orders a numeric claim against `now`: negative, zero or positive like a three-way comparison.
// Empty when the claim is not a JSON number (a string "exp" is not a date to us).
std::optional<int> CompareWithNow(const boost::json::value& claim, int64_t now) {
  auto order = [](auto a, auto b) { return a < b ? -1 : (a > b ? 1 : 0); };
  switch (claim.kind()) {
    case boost::json::kind::int64:
      return order(claim.get_int64(), now);
    case boost::json::kind::uint64:  // the parser uses uint64 only above INT64_MAX
      return claim.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                 ? 1
                 : order(static_cast<int64_t>(claim.get_uint64()), now);
    case boost::json::kind::double_:
      return order(claim.get_double(), static_cast<double>(now));
    default:
      return std::nullopt;
  }
}

Status CheckTimeClaims(const boost::json::object& claims, int64_t now) {
  if (const boost::json::value* iat = claims.if_contains("iat")) {
    if (!CompareWithNow(*iat, now)) return Invalid("\"iat\" is not a number");
  }
  if (const boost::json::value* nbf = claims.if_contains("nbf")) {
    std::optional<int> order = CompareWithNow(*nbf, now);
    if (!order) return Invalid("\"nbf\" is not a number");
    if (*order > 0) return Invalid("not valid yet (\"nbf\" is in the future)");
  }
  if (const boost::json::value* exp = claims.if_contains("exp")) {
    std::optional<int> order = CompareWithNow(*exp, now);
    if (!order) return Invalid("\"exp\" is not a number");
    if (*order <= 0) {
      return Unauthenticated("token expired", std::string(kExpiredTokenTag));
    }
  }
  return Status::Ok();
}

}  // namespace

std::string SignJwt(const boost::json::object& claims, std::string_view key) {
  RequireSodium();
  std::string token = Base64UrlEncode(kHeaderJson);
  token += '.';
  token += Base64UrlEncode(boost::json::serialize(claims));
  const std::string mac = HmacSha256(key, token);
  token += '.';
  token += Base64UrlEncode(mac);
  return token;
}

Result<boost::json::object> VerifyJwt(std::string_view token, std::string_view key,
                                      int64_t now_unix_seconds) {
  if (key.empty()) return FailedPrecondition("the JWT signing key is empty");
  if (!SodiumReady()) return Internal("libsodium failed to initialise");
  if (token.size() > kMaxJwtBytes) {
    return Invalid("longer than " + std::to_string(kMaxJwtBytes) + " bytes");
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Invalid("not three dot-separated parts");
  }
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view claims_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);
  if (header_part.empty() || claims_part.empty() || signature_part.empty()) {
    return Invalid("empty part");
  }

  // The header is checked before the signature so that no other algorithm is ever considered.
  std::optional<std::string> header_json = Base64UrlDecode(header_part);
  if (!header_json) return Invalid("header is not base64url");
  std::optional<boost::json::value> header = ParseJson(*header_json);
  if (!header || !IsExactHeader(*header)) {
    return Invalid("header is not {\"alg\":\"HS256\",\"typ\":\"JWT\"}");
  }

  std::optional<std::string> signature = Base64UrlDecode(signature_part);
  if (!signature || signature->size() != crypto_auth_hmacsha256_BYTES) {
    return Invalid("malformed signature");
  }
  const std::string expected = HmacSha256(key, token.substr(0, dot2));
  if (sodium_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return Invalid("bad signature");
  }

  std::optional<std::string> claims_json = Base64UrlDecode(claims_part);
  if (!claims_json) return Invalid("claims are not base64url");
  std::optional<boost::json::value> claims = ParseJson(*claims_json);
  if (!claims || !claims->is_object()) return Invalid("claims are not a JSON object");
  RETURN_IF_ERROR(CheckTimeClaims(claims->get_object(), now_unix_seconds));
  return std::move(claims->get_object());
}

std::string RandomTokenId() {
  RequireSodium();
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof(bytes));
  char hex[sizeof(bytes) * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), bytes, sizeof(bytes));
  return hex;
}

}  // namespace slipway::auth
