// Password hashing for sign-in: Argon2id through libsodium's crypto_pwhash_str.
//
// The stored form is libsodium's self-describing string
// ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash", at most crypto_pwhash_STRBYTES - 1 characters): it
// carries its own random salt and cost parameters, so a hash made with older parameters still
// verifies, and NeedsRehash() tells the sign-in path to store a fresh one.
//
// Cost: the parameters OWASP's Password Storage Cheat Sheet recommends for Argon2id, 19 MiB of
// memory and 2 passes (one lane). Slipway used libsodium's INTERACTIVE limits (64 MiB) before;
// such hashes are re-hashed at the next sign-in. Each call in flight holds 19 MiB and a core for
// tens of milliseconds, so the server runs them on a small pool of their own
// (AUTH_HASH_THREADS), never on an HTTP I/O thread or a database worker.
//
// Thread safety: all functions are safe to call concurrently; libsodium is initialised once, on
// first use, behind a thread-safe static.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "slipway/status.h"

namespace slipway::auth {

// Longer passwords are refused: hashing cost does not depend on length, but an unbounded input
// lets a client make the server copy and hash megabytes per request.
inline constexpr size_t kMaxPasswordBytes = 1024;

// Returns a new salted Argon2id hash of `password` (any bytes, NULs included).
// Fails with InvalidArgument for an empty password or one longer than kMaxPasswordBytes (the
// message names the limit), and with Internal if libsodium cannot initialise or allocate the
// 19 MiB working memory.
Result<std::string> HashPassword(std::string_view password);

// True when `password` matches `stored_hash`. False for a wrong password, for a password that
// HashPassword would refuse, and for a stored hash that is malformed, truncated or of an unknown
// algorithm: never crashes and never throws. The cost parameters inside `stored_hash` are
// honoured as written (that is what lets old hashes verify), so stored hashes must come from our
// own database, never from a client.
bool VerifyPassword(std::string_view password, std::string_view stored_hash);

// True when `stored_hash` was made with other parameters than HashPassword uses today (an older
// Argon2i hash, different limits) or cannot be parsed: the caller should store a new hash after
// the next successful VerifyPassword.
bool NeedsRehash(std::string_view stored_hash);

}  // namespace slipway::auth
