// Strict text-to-number parsing: the whole text must be the number, no spaces, no exceptions.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace slipway::core {

inline bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// A decimal's text, [+-]digits[.digits][(e|E)[+-]digits] with at least one digit, as its digits
// and where its point falls: the value is 0.d1d2d3... times 10^point, with the sign. `digits`
// are as written, leading and trailing zeros included (a reused DecimalText keeps its buffer);
// `fraction` counts the digits after the point once the exponent is applied (the scale as
// written; negative when the exponent moves the point past them all).
struct DecimalText {
  bool negative = false;
  std::string digits;
  long point = 0, fraction = 0, exponent = 0;
};

inline bool ParseDecimal(std::string_view s, DecimalText* out) {
  size_t i = 0;
  out->negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) out->negative = s[i++] == '-';
  out->digits.clear();
  long before = 0;
  bool seen_point = false;
  for (; i < s.size() && s[i] != 'e' && s[i] != 'E'; ++i) {
    if (s[i] == '.' && !seen_point) {
      seen_point = true;
    } else if (s[i] >= '0' && s[i] <= '9') {
      out->digits.push_back(s[i]);
      before += seen_point ? 0 : 1;
    } else {
      return false;
    }
  }
  if (out->digits.empty()) return false;
  out->exponent = 0;
  if (i < s.size()) {
    const char* from = s.data() + i + 1;
    if (from < s.data() + s.size() && *from == '+') ++from;
    auto [end, ec] = std::from_chars(from, s.data() + s.size(), out->exponent);
    if (ec != std::errc() || end != s.data() + s.size() || from == s.data() + s.size() ||
        out->exponent > 1'000'000'000 || out->exponent < -1'000'000'000) {
      return false;
    }
  }
  out->point = before + out->exponent;
  out->fraction = static_cast<long>(out->digits.size()) - before - out->exponent;
  return true;
}

}  // namespace slipway::core
