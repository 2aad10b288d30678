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

// `n` decimal digits at s[at], as a number; false past the end or at a non-digit.
inline bool ParseFixedDigits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Whether year-month-day is a date of the years 1 to 9999.
inline bool ValidDate(int y, int m, int d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

// An instant in the form the application stores ("2026-11-25T10:49:19.000Z"), its fields in
// range and its date one that exists; false for anything else.
struct InstantFields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millisecond = 0;
};
inline bool ParseStoredInstant(std::string_view s, InstantFields* f) {
  return s.size() == 24 && ParseFixedDigits(s, 0, 4, &f->year) && s[4] == '-' &&
         ParseFixedDigits(s, 5, 2, &f->month) && s[7] == '-' &&
         ParseFixedDigits(s, 8, 2, &f->day) && ValidDate(f->year, f->month, f->day) &&
         s[10] == 'T' && ParseFixedDigits(s, 11, 2, &f->hour) && s[13] == ':' &&
         ParseFixedDigits(s, 14, 2, &f->minute) && s[16] == ':' &&
         ParseFixedDigits(s, 17, 2, &f->second) && s[19] == '.' &&
         ParseFixedDigits(s, 20, 3, &f->millisecond) && s[23] == 'Z' && f->hour < 24 &&
         f->minute < 60 && f->second < 60;
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
