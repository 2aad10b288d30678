#include "auth/password.h"

#include <sodium.h>

#include <string>

#include "core/sodium.h"

namespace slipway::auth {
namespace {

using core::SodiumReady;

// OWASP's Password Storage Cheat Sheet (Argon2id): m=19456 KiB, t=2, p=1 (libsodium always uses
// one lane).
constexpr unsigned long long kOpsLimit = 2;
constexpr size_t kMemLimit = 19456u * 1024u;

Status CheckPasswordLength(std::string_view password) {
  if (password.empty()) return InvalidArgument("password must not be empty");
  if (password.size() > kMaxPasswordBytes) {
    return InvalidArgument("password is longer than " + std::to_string(kMaxPasswordBytes) +
                           " bytes");
  }
  return Status::Ok();
}

// libsodium reads the stored hash as a C string: copy it out of the view, refusing anything that
// cannot be a hash (an embedded NUL, or longer than the longest string libsodium writes).
bool ToHashString(std::string_view stored_hash, std::string* out) {
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  if (stored_hash.find('\0') != std::string_view::npos) return false;
  out->assign(stored_hash);
  return true;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password) {
  RETURN_IF_ERROR(CheckPasswordLength(password));
  if (!SodiumReady()) return Internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), kOpsLimit, kMemLimit) != 0) {
    return Internal("password hashing failed (out of memory?)");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view password, std::string_view stored_hash) {
  if (!CheckPasswordLength(password).ok()) return false;
  std::string hash;
  if (!ToHashString(stored_hash, &hash)) return false;
  if (!SodiumReady()) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool NeedsRehash(std::string_view stored_hash) {
  std::string hash;
  if (!ToHashString(stored_hash, &hash)) return true;
  if (!SodiumReady()) return true;
  return crypto_pwhash_str_needs_rehash(hash.c_str(), kOpsLimit, kMemLimit) != 0;
}

}  // namespace slipway::auth
