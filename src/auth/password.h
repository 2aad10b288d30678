// Password hashing for sign-in: Argon2id through libsodium's crypto_pwhash_str.
//
// The stored form is libsodium's self-describing string
// ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash", at most crypto_pwhash_STRBYTES - 1 characters): it
// carries its own random salt and cost parameters, so a hash made today still verifies after the
// limits are raised, and NeedsRehash() tells the sign-in path when to store a fresh one.
//
// Cost: libsodium's INTERACTIVE limits (opslimit 2, memlimit 64 MiB). Every sign-in pays one hash
// on a 2-core server, so the stronger MODERATE limits (256 MiB) are out of reach. Measured on the
// build machine (2-core AMD EPYC, libsodium 1.0.18, -O2): about 75 ms per hash and 75-95 ms per
// verify, against about 475 ms per hash with MODERATE. Each call in flight holds 64 MiB, so run
// these on a bounded pool, never on an HTTP I/O thread.
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
// 64 MiB working memory.
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
