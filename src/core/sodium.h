// One place that initialises libsodium: every user of randomness or crypto calls SodiumReady()
// first.
#pragma once

#include <sodium.h>

#include <optional>
#include <string>
#include <string_view>

namespace slipway::core {

// sodium_init() is itself idempotent; the function-local static makes the "once" explicit and
// thread-safe. False only when the system has no usable random source.
inline bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

// Base64url without padding (JWTs, list cursors).
inline std::string Base64UrlEncode(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), kVariant);
  out.resize(out.size() - 1);  // the encoder writes a terminating NUL
  return out;
}

// Strict decoding: no padding, no whitespace, and (libsodium checks this) no non-zero bits left
// over in the last character, so one text has exactly one spelling.
inline std::optional<std::string> Base64UrlDecode(std::string_view text) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(text.size() * 3 / 4 + 1, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), /*ignore=*/nullptr, &len, /*b64_end=*/nullptr,
                        kVariant) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

}  // namespace slipway::core
