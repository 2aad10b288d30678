#include "db/bulk.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <variant>

#include "core/parse.h"

namespace slipway::db {

void AppendCopyText(std::string* out, std::string_view text) {
  // Runs without a special character are appended whole.
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char* escaped = c == '\\'   ? "\\\\"
                          : c == '\t' ? "\\t"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                                      : nullptr;
    if (escaped == nullptr) continue;
    out->append(text, run, i - run);
    out->append(escaped, 2);
    run = i + 1;
  }
  out->append(text, run, text.size() - run);
}

void AppendCopyValue(std::string* out, const Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out->append("\\N");
        } else if constexpr (std::is_same_v<T, bool>) {
          out->append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::string>) {
          AppendCopyText(out, v);
        } else {  // int64_t, double: the shortest text that reads back exactly
          char buf[32];
          auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
          out->append(buf, end);
        }
      },
      value);
}

namespace {

template <typename T>
void PutBig(std::string* out, T v) {
  using U = std::make_unsigned_t<T>;
  const U u = static_cast<U>(v);
  for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
}

// A field's bytes after its length.
void PutField(std::string* out, std::string_view bytes) {
  PutBig<int32_t>(out, static_cast<int32_t>(bytes.size()));
  out->append(bytes);
}

// numeric_send's form: digit groups of base 10000, the weight of the first, the sign and the
// display scale (the digits after the point as written). Exponents as numeric_in takes them
// (at most 1000 either way).
bool PutNumeric(std::string* out, std::string_view text) {
  thread_local core::DecimalText d;  // a restore writes every decimal of a table
  if (!core::ParseDecimal(text, &d) || d.exponent > 1000 || d.exponent < -1000) return false;
  const long dscale = std::max(0L, d.fraction);
  if (dscale > 0x3fff) return false;
  // The significant digits; a digit's power of ten is point - 1 - its index, and a group holds
  // the powers 4g to 4g + 3.
  const size_t lead = d.digits.find_first_not_of('0');
  const bool zero = lead == std::string::npos;  // no groups, unsigned
  const std::string_view digits =
      zero ? std::string_view()
           : std::string_view(d.digits).substr(lead, d.digits.find_last_not_of('0') + 1 - lead);
  const long point = d.point - static_cast<long>(zero ? 0 : lead);
  auto group_of = [](long power) { return power >= 0 ? power / 4 : -((-power + 3) / 4); };
  const long weight = zero ? 0 : group_of(point - 1);
  const long lowest = zero ? 1 : group_of(point - static_cast<long>(digits.size()));
  const long ndigits = weight - lowest + 1;
  if (ndigits > 0x7fff || weight > 0x7fff || weight < -0x8000) return false;
  PutBig<int32_t>(out, static_cast<int32_t>(8 + 2 * ndigits));
  PutBig<int16_t>(out, static_cast<int16_t>(ndigits));
  PutBig<int16_t>(out, static_cast<int16_t>(weight));
  PutBig<uint16_t>(out, d.negative && !zero ? 0x4000 : 0x0000);
  PutBig<int16_t>(out, static_cast<int16_t>(dscale));
  for (long g = weight; g >= lowest; --g) {
    int value = 0;
    for (long power = 4 * g + 3; power >= 4 * g; --power) {
      const long at = point - 1 - power;
      const int digit = at >= 0 && at < static_cast<long>(digits.size())
                            ? digits[static_cast<size_t>(at)] - '0'
                            : 0;
      value = value * 10 + digit;
    }
    PutBig<int16_t>(out, static_cast<int16_t>(value));
  }
  return true;
}

// timestamptz_send's form: microseconds since 2000-01-01 00:00 UTC, from the stored instant
// form (2026-11-25T10:49:19.000Z).
bool PutInstant(std::string* out, std::string_view s) {
  core::InstantFields f;
  if (!core::ParseStoredInstant(s, &f)) return false;
  using namespace std::chrono;
  const year_month_day day{year(f.year), month(static_cast<unsigned>(f.month)),
                           std::chrono::day(static_cast<unsigned>(f.day))};
  const int64_t days = (sys_days(day) - sys_days(year(2000) / January / 1)).count();
  const int64_t micros = days * 86400000000LL + f.hour * 3600000000LL + f.minute * 60000000LL +
                         f.second * 1000000LL + f.millisecond * 1000LL;
  PutBig<int32_t>(out, 8);
  PutBig<int64_t>(out, micros);
  return true;
}

}  // namespace

std::optional<BinaryType> BinaryTypeOf(std::string_view t) {
  if (t == "smallint") return BinaryType::kInt2;
  if (t == "integer") return BinaryType::kInt4;
  if (t == "bigint") return BinaryType::kInt8;
  if (t == "boolean") return BinaryType::kBool;
  if (t == "text" || t == "character varying") return BinaryType::kText;
  if (t == "numeric") return BinaryType::kNumeric;
  if (t == "timestamp with time zone") return BinaryType::kTimestamptz;
  if (t == "jsonb") return BinaryType::kJsonb;
  if (t == "double precision") return BinaryType::kFloat8;
  return std::nullopt;
}

void AppendBinaryHeader(std::string* out) {
  static constexpr char kHeader[] = "PGCOPY\n\377\r\n";  // with its NUL: 11 bytes
  out->append(kHeader, sizeof(kHeader));
  PutBig<int32_t>(out, 0);  // flags
  PutBig<int32_t>(out, 0);  // no header extension
}

void AppendBinaryTrailer(std::string* out) { PutBig<int16_t>(out, -1); }

void AppendBinaryFieldCount(std::string* out, size_t fields) {
  PutBig<int16_t>(out, static_cast<int16_t>(fields));
}

void AppendBinaryNull(std::string* out) { PutBig<int32_t>(out, -1); }

bool AppendBinaryInt(std::string* out, BinaryType type, int64_t n) {
  switch (type) {
    case BinaryType::kInt2:
      if (n < INT16_MIN || n > INT16_MAX) return false;
      PutBig<int32_t>(out, 2);
      PutBig<int16_t>(out, static_cast<int16_t>(n));
      return true;
    case BinaryType::kInt4:
      if (n < INT32_MIN || n > INT32_MAX) return false;
      PutBig<int32_t>(out, 4);
      PutBig<int32_t>(out, static_cast<int32_t>(n));
      return true;
    case BinaryType::kInt8:
      PutBig<int32_t>(out, 8);
      PutBig<int64_t>(out, n);
      return true;
    case BinaryType::kNumeric: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
      return PutNumeric(out, std::string_view(buf, static_cast<size_t>(end - buf)));
    }
    case BinaryType::kFloat8:
      return AppendBinaryValue(out, type, Value(static_cast<double>(n)));
    default:
      return false;
  }
}

bool AppendBinaryText(std::string* out, BinaryType type, std::string_view text) {
  switch (type) {
    case BinaryType::kText:
      PutField(out, text);
      return true;
    case BinaryType::kJsonb:
      PutBig<int32_t>(out, static_cast<int32_t>(text.size() + 1));
      out->push_back(1);  // jsonb's version
      out->append(text);
      return true;
    case BinaryType::kNumeric:
      return PutNumeric(out, text);
    case BinaryType::kTimestamptz:
      return PutInstant(out, text);
    case BinaryType::kInt2:
    case BinaryType::kInt4:
    case BinaryType::kInt8: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size()) return false;
      return AppendBinaryInt(out, type, n);
    }
    case BinaryType::kFloat8: {
      double d = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec != std::errc() || end != text.data() + text.size()) return false;
      return AppendBinaryValue(out, type, Value(d));
    }
    case BinaryType::kBool:
      if (text == "true" || text == "false") {
        return AppendBinaryValue(out, type, Value(text == "true"));
      }
      return false;
  }
  return false;
}

bool AppendBinaryValue(std::string* out, BinaryType type, const Value& value) {
  if (std::holds_alternative<std::monostate>(value)) {
    AppendBinaryNull(out);
    return true;
  }
  if (const auto* b = std::get_if<bool>(&value)) {
    if (type != BinaryType::kBool) return false;
    PutBig<int32_t>(out, 1);
    out->push_back(*b ? 1 : 0);
    return true;
  }
  if (const auto* n = std::get_if<int64_t>(&value)) return AppendBinaryInt(out, type, *n);
  if (const auto* d = std::get_if<double>(&value)) {
    if (type == BinaryType::kFloat8) {
      PutBig<int32_t>(out, 8);
      PutBig<uint64_t>(out, std::bit_cast<uint64_t>(*d));
      return true;
    }
    if (type != BinaryType::kNumeric || !std::isfinite(*d)) return false;
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *d);
    return PutNumeric(out, std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  return AppendBinaryText(out, type, std::get<std::string>(value));
}

}  // namespace slipway::db
