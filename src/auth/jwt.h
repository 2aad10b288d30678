// JSON Web Tokens (RFC 7519) in the JWS compact form (RFC 7515), HMAC-SHA256 ("HS256") only:
// the bearer tokens returned by auth:signIn and sent back as "Authorization: Bearer <token>".
//
// A token is base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256(key, first two
// parts)), without padding. The header is always {"alg":"HS256","typ":"JWT"}; VerifyJwt accepts
// no other (no "none", no other algorithm, no extra header fields), so a token cannot choose how it
// is checked. Signatures are compared in constant time.
//
// Failures are Unauthenticated with NocoBase's auth error codes as the tag: kExpiredTokenTag when
// the signature is good but "exp" has passed (the client may renew), kInvalidTokenTag for
// everything else. There is no clock-skew leeway: nodes are expected to run NTP.
//
// Thread safety: stateless free functions, safe to call concurrently.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::auth {

inline constexpr std::string_view kInvalidTokenTag = "INVALID_TOKEN";
inline constexpr std::string_view kExpiredTokenTag = "EXPIRED_TOKEN";

// Longer tokens are refused before any decoding: a header line is not a place for megabytes.
inline constexpr size_t kMaxJwtBytes = 8 * 1024;

// Returns the compact HS256 token for `claims`, serialised as given (the caller sets "exp",
// "iat", "jti", ...). `key` may be of any length; it should be at least 32 random bytes (APP_KEY).
// Returns no error: it aborts only if libsodium cannot initialise (no system random source).
std::string SignJwt(const boost::json::object& claims, std::string_view key);

// Checks `token` against `key` at time `now_unix_seconds` and returns its claims.
// Fails with Unauthenticated, tag kInvalidTokenTag, when the token is longer than kMaxJwtBytes,
// is not three base64url parts, has any header but {"alg":"HS256","typ":"JWT"}, has a wrong
// signature, has claims that are not a JSON object, has a non-numeric "exp", "nbf" or "iat", or has
// "nbf" later than now; with tag kExpiredTokenTag when "exp" is not later than now. Fails with
// FailedPrecondition when `key` is empty: that is a configuration error, not a bad token; with
// Internal if libsodium cannot initialise.
Result<boost::json::object> VerifyJwt(std::string_view token, std::string_view key,
                                      int64_t now_unix_seconds);

// 128 random bits as 32 lower-case hex characters, for the "jti" claim (so a token can be revoked
// by id). Aborts the process if the system has no random source: an id that could repeat is
// worse than no id.
std::string RandomTokenId();

}  // namespace slipway::auth
