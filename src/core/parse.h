// Strict text-to-number parsing: the whole text must be the number, no spaces, no exceptions.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace slipway::core {

inline bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace slipway::core
