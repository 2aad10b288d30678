#include "data/values.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/json_writer.h"
#include "core/parse.h"

namespace slipway::data {
namespace json = boost::json;

namespace {

std::string Describe(const json::value& v) {
  std::string s = json::serialize(v);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

Status Expects(std::string_view what, std::string_view expected, const json::value& v) {
  return InvalidArgument("field '" + std::string(what) + "' expects " + std::string(expected) +
                         ", got " + Describe(v));
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

}  // namespace

bool FitsDecimal(std::string_view text, int precision, int scale) {
  thread_local core::DecimalText d;  // a restore asks for every decimal of a table
  if (!core::ParseDecimal(text, &d)) return false;
  const size_t lead = d.digits.find_first_not_of('0');
  if (lead == std::string::npos) return true;  // zero
  const std::string_view digits = std::string_view(d.digits).substr(lead);
  long point = d.point - static_cast<long>(lead);
  // Rounded to `scale` digits after the point, half away from zero, as PostgreSQL rounds.
  const long kept = point + scale;
  if (kept < 0) return true;  // rounds to zero
  if (kept < static_cast<long>(digits.size()) && digits[static_cast<size_t>(kept)] >= '5' &&
      digits.find_first_not_of('9') >= static_cast<size_t>(kept)) {
    ++point;  // 99.95 at scale 1 is 100.0
  }
  return std::max(0L, point) <= precision - scale;
}

namespace {

// "HH:MM[:SS[.fff]]" at s[pos...]; returns the position after it or npos.
size_t ParseTime(std::string_view s, size_t pos, int* h, int* mi, int* sec, int* ms) {
  *sec = 0;
  *ms = 0;
  if (!core::ParseFixedDigits(s, pos, 2, h) || pos + 2 >= s.size() || s[pos + 2] != ':' ||
      !core::ParseFixedDigits(s, pos + 3, 2, mi)) {
    return std::string_view::npos;
  }
  pos += 5;
  if (pos < s.size() && s[pos] == ':') {
    if (!core::ParseFixedDigits(s, pos + 1, 2, sec)) return std::string_view::npos;
    pos += 3;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      int digits = 0;
      int value = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (digits < 3) value = value * 10 + (s[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return std::string_view::npos;
      for (int d = digits; d < 3; ++d) value *= 10;
      *ms = value;
    }
  }
  if (*h > 23 || *mi > 59 || *sec > 60) return std::string_view::npos;
  return pos;
}

std::string FormatInstant(std::chrono::sys_time<std::chrono::milliseconds> t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd(days);
  auto rest = t - days;
  auto h = std::chrono::duration_cast<std::chrono::hours>(rest);
  rest -= h;
  auto m = std::chrono::duration_cast<std::chrono::minutes>(rest);
  rest -= m;
  auto sec = std::chrono::duration_cast<std::chrono::seconds>(rest);
  rest -= sec;
  // Written by hand: this runs for every instant a list or a restore handles.
  auto digits = [](char* at, int value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      at[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  char buf[25] = "0000-00-00T00:00:00.000Z";
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {
    char wide[48];
    std::snprintf(wide, sizeof(wide), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(h.count()), static_cast<int>(m.count()),
                  static_cast<int>(sec.count()), static_cast<int>(rest.count()));
    return wide;
  }
  digits(buf, year, 4);
  digits(buf + 5, static_cast<int>(static_cast<unsigned>(ymd.month())), 2);
  digits(buf + 8, static_cast<int>(static_cast<unsigned>(ymd.day())), 2);
  digits(buf + 11, static_cast<int>(h.count()), 2);
  digits(buf + 14, static_cast<int>(m.count()), 2);
  digits(buf + 17, static_cast<int>(sec.count()), 2);
  digits(buf + 20, static_cast<int>(rest.count()), 3);
  return buf;
}

Result<db::Value> TextValue(const json::value& v, std::string_view what,
                            std::string_view expected) {
  if (v.is_string()) return db::Value(std::string(v.as_string()));
  return Expects(what, expected, v);
}

// PostgreSQL's text and jsonb cannot hold U+0000 (libpq would cut the string there), so neither
// dialect stores it: the same input must give the same record on both.
Status NoNul(std::string_view s, std::string_view what) {
  if (s.find('\0') == std::string_view::npos) return Status::Ok();
  return InvalidArgument("field '" + std::string(what) +
                         "' contains a NUL character (\\u0000), which cannot be stored");
}

// A double both dialects store as given: finite, and not so small that PostgreSQL's float8 input
// refuses it as an underflow.
Status StorableDouble(double d, std::string_view what) {
  if (std::isfinite(d) && (d == 0 || std::fabs(d) >= std::numeric_limits<double>::min())) {
    return Status::Ok();
  }
  return InvalidArgument("field '" + std::string(what) +
                         "': the number is out of the range of a double precision value");
}

// JSON values: every string (keys included) without NUL, every number finite.
Status StorableJson(const json::value& v, std::string_view what, int depth = 0) {
  if (depth > 64) return InvalidArgument("field '" + std::string(what) + "': nested too deeply");
  switch (v.kind()) {
    case json::kind::string:
      return NoNul(v.as_string(), what);
    case json::kind::double_:
      if (!std::isfinite(v.as_double())) {
        return InvalidArgument("field '" + std::string(what) + "' holds a number out of range");
      }
      return Status::Ok();
    case json::kind::array:
      for (const json::value& item : v.as_array()) {
        RETURN_IF_ERROR(StorableJson(item, what, depth + 1));
      }
      return Status::Ok();
    case json::kind::object:
      for (const auto& kv : v.as_object()) {
        RETURN_IF_ERROR(NoNul(kv.key(), what));
        RETURN_IF_ERROR(StorableJson(kv.value(), what, depth + 1));
      }
      return Status::Ok();
    default:
      return Status::Ok();
  }
}

}  // namespace

Status CheckStorable(const json::value& v, std::string_view what) { return StorableJson(v, what); }

bool IsStoredInstant(std::string_view s) {
  core::InstantFields f;
  return core::ParseStoredInstant(s, &f);
}

Result<std::string> NormalizeInstant(std::string_view s) {
  auto bad = [&] {
    return InvalidArgument("'" + std::string(s.substr(0, 40)) +
                           "' is not an ISO 8601 date-time (e.g. 2026-11-25T10:49:19.000Z)");
  };
  int y, mo, d;
  if (!core::ParseFixedDigits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' ||
      !core::ParseFixedDigits(s, 5, 2, &mo) || s[7] != '-' ||
      !core::ParseFixedDigits(s, 8, 2, &d) || !core::ValidDate(y, mo, d)) {
    return bad();
  }
  // Already as FormatInstant writes it (what Slipway stores and dumps): kept as it is.
  if (IsStoredInstant(s)) return std::string(s);
  int h = 0, mi = 0, sec = 0, ms = 0;
  size_t pos = 10;
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    pos = ParseTime(s, pos + 1, &h, &mi, &sec, &ms);
    if (pos == std::string_view::npos) return bad();
    if (pos < s.size()) {
      if (s[pos] == 'Z' || s[pos] == 'z') {
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        int oh = 0, om = 0;
        int sign = s[pos] == '-' ? -1 : 1;
        if (!core::ParseFixedDigits(s, pos + 1, 2, &oh)) return bad();
        size_t next = pos + 3;
        if (next < s.size() && s[next] == ':') ++next;
        if (next < s.size() && !core::ParseFixedDigits(s, next, 2, &om)) return bad();
        if (next < s.size()) next += 2;
        if (oh > 23 || om > 59) return bad();
        offset_minutes = sign * (oh * 60 + om);
        pos = next;
      }
    }
  }
  if (pos != s.size()) return bad();
  using namespace std::chrono;
  sys_days day = year_month_day(year(y), month(mo), std::chrono::day(d));
  auto t = time_point_cast<milliseconds>(day) + hours(h) + minutes(mi) + seconds(sec) +
           milliseconds(ms) - minutes(offset_minutes);
  return FormatInstant(t);
}

std::string InstantFromUnixMillis(int64_t ms) {
  return FormatInstant(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(ms)));
}

std::string NowInstant() {
  return FormatInstant(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

Result<db::Value> ToDbValue(const Field& f, const json::value& v, db::Dialect dialect,
                            std::string_view what) {
  if (v.is_null()) return db::Null();
  switch (f.type) {
    case FieldType::kString:
    case FieldType::kText:
      if (v.is_string()) {
        RETURN_IF_ERROR(NoNul(v.as_string(), what));
        return db::Value(std::string(v.as_string()));
      }
      if (v.is_int64()) return db::Value(std::to_string(v.as_int64()));
      if (v.is_uint64()) return db::Value(std::to_string(v.as_uint64()));
      if (v.is_double()) {
        RETURN_IF_ERROR(StorableDouble(v.as_double(), what));
        return db::Value(json::serialize(v));
      }
      if (v.is_bool()) return db::Value(std::string(v.as_bool() ? "true" : "false"));
      return Expects(what, "a string", v);
    case FieldType::kInteger:
    case FieldType::kBigInt:
    case FieldType::kSnowflakeId: {
      int64_t n = 0;
      bool ok = false;
      if (v.is_int64()) {
        n = v.as_int64();
        ok = true;
      } else if (v.is_uint64()) {
        ok = v.as_uint64() <= static_cast<uint64_t>(INT64_MAX);
        n = static_cast<int64_t>(v.as_uint64());
      } else if (v.is_double()) {
        double d = v.as_double();
        ok = std::trunc(d) == d && std::fabs(d) < 9.2e18;  // before the cast: it is UB out of range
        if (ok) n = static_cast<int64_t>(d);
      } else if (v.is_string()) {
        ok = core::ParseInt64(v.as_string(), &n);
      }
      if (ok && f.type == FieldType::kInteger && (n < INT32_MIN || n > INT32_MAX)) ok = false;
      if (!ok) {
        return Expects(what, f.type == FieldType::kInteger ? "a 32-bit integer" : "an integer", v);
      }
      return db::Value(n);
    }
    case FieldType::kFloat:
    case FieldType::kDouble: {
      double d = 0;
      if (v.is_number()) {
        d = v.to_number<double>();
      } else if (!(v.is_string() && ParseDouble(v.as_string(), &d))) {
        return Expects(what, "a number", v);
      }
      RETURN_IF_ERROR(StorableDouble(d, what));
      // A float is PostgreSQL's 4-byte real: beyond its range it refuses the value.
      if (f.type == FieldType::kFloat && d != 0 &&
          (std::fabs(d) > std::numeric_limits<float>::max() ||
           std::fabs(d) < std::numeric_limits<float>::min())) {
        return InvalidArgument("field '" + std::string(what) +
                               "': the number is out of the range of a float (real) value");
      }
      return db::Value(d);
    }
    case FieldType::kDecimal: {
      // Kept as text so PostgreSQL's NUMERIC receives the exact digits.
      double d = 0;
      std::string text;
      if (v.is_int64() || v.is_uint64()) {
        text = json::serialize(v);
        d = v.to_number<double>();
      } else if (v.is_double()) {
        d = v.as_double();
        if (!std::isfinite(d)) return Expects(what, "a decimal number in range", v);
        text = json::serialize(v);
      } else if (v.is_string() && ParseDouble(v.as_string(), &d)) {
        text = std::string(v.as_string());
      } else {
        return Expects(what, "a decimal number", v);
      }
      // decimal(precision, scale) holds at most precision - scale digits before the point,
      // once rounded to `scale` after it. SQLite keeps the double, which is what must fit there.
      const bool fits = dialect == db::Dialect::kSqlite
                            ? std::fabs(d) < std::pow(10.0, f.precision - f.scale)
                            : FitsDecimal(text, f.precision, f.scale);
      if (!fits) {
        return InvalidArgument("field '" + std::string(what) + "': " + text.substr(0, 40) +
                               " is out of the range of decimal(" + std::to_string(f.precision) +
                               ", " + std::to_string(f.scale) + ")");
      }
      if (dialect == db::Dialect::kSqlite && v.is_string()) return db::Value(d);
      return db::Value(std::move(text));
    }
    case FieldType::kBoolean:
      if (v.is_bool()) return db::Value(v.as_bool());
      if (v.is_int64() && (v.as_int64() == 0 || v.as_int64() == 1))
        return db::Value(v.as_int64() == 1);
      if (v.is_string()) {
        std::string_view s = v.as_string();
        if (s == "true" || s == "1") return db::Value(true);
        if (s == "false" || s == "0") return db::Value(false);
      }
      return Expects(what, "true or false", v);
    case FieldType::kDate: {
      // 0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z; outside, the calendar math overflows.
      constexpr int64_t kMinMillis = -62'135'596'800'000;
      constexpr int64_t kMaxMillis = 253'402'300'799'999;
      if (v.is_int64() && (v.as_int64() < kMinMillis || v.as_int64() > kMaxMillis)) {
        return Expects(what, "a date-time from year 1 to 9999", v);
      }
      if (v.is_int64()) {
        auto t = std::chrono::sys_time<std::chrono::milliseconds>(
            std::chrono::milliseconds(v.as_int64()));
        return db::Value(FormatInstant(t));
      }
      if (!v.is_string()) return Expects(what, "an ISO 8601 date-time", v);
      auto n = NormalizeInstant(v.as_string());
      if (!n.ok())
        return InvalidArgument("field '" + std::string(what) + "': " + n.status().message());
      return db::Value(std::move(n).value());
    }
    case FieldType::kDatetimeNoTz: {
      if (!v.is_string()) return Expects(what, "a date-time like 2026-11-25 10:49:19", v);
      std::string_view s = v.as_string();
      int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
      if (!core::ParseFixedDigits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' ||
          !core::ParseFixedDigits(s, 5, 2, &mo) || s[7] != '-' ||
          !core::ParseFixedDigits(s, 8, 2, &d) || !core::ValidDate(y, mo, d)) {
        return Expects(what, "a date-time like 2026-11-25 10:49:19", v);
      }
      if (s.size() > 10) {
        if (s[10] != ' ' && s[10] != 'T')
          return Expects(what, "a date-time like 2026-11-25 10:49:19", v);
        size_t end = ParseTime(s, 11, &h, &mi, &sec, &ms);
        if (end != s.size()) return Expects(what, "a date-time like 2026-11-25 10:49:19", v);
      }
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, sec);
      return db::Value(std::string(buf));
    }
    case FieldType::kDateOnly: {
      if (v.is_string()) {
        std::string_view s = v.as_string();
        int y, mo, d;
        if (s.size() >= 10 && core::ParseFixedDigits(s, 0, 4, &y) && s[4] == '-' &&
            core::ParseFixedDigits(s, 5, 2, &mo) && s[7] == '-' &&
            core::ParseFixedDigits(s, 8, 2, &d) && core::ValidDate(y, mo, d) &&
            (s.size() == 10 || s[10] == 'T' || s[10] == ' ')) {
          return db::Value(std::string(s.substr(0, 10)));
        }
      }
      return Expects(what, "a date like 2026-11-25", v);
    }
    case FieldType::kTime: {
      if (v.is_string()) {
        std::string_view s = v.as_string();
        int h, mi, sec, ms;
        if (ParseTime(s, 0, &h, &mi, &sec, &ms) == s.size()) {
          char buf[16];
          std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d", h, mi, sec);
          return db::Value(std::string(buf));
        }
      }
      return Expects(what, "a time like 10:49:19", v);
    }
    case FieldType::kJson:
      RETURN_IF_ERROR(StorableJson(v, what));
      return db::Value(json::serialize(v));
    case FieldType::kUuid: {
      if (v.is_string()) {
        std::string_view s = v.as_string();
        bool ok = s.size() == 36;
        for (size_t i = 0; ok && i < s.size(); ++i) {
          char c = s[i];
          bool dash = i == 8 || i == 13 || i == 18 || i == 23;
          ok = dash ? c == '-'
                    : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
        }
        if (ok) return db::Value(std::string(s));
      }
      return Expects(what, "a UUID", v);
    }
    case FieldType::kPassword:
      return TextValue(v, what, "a string");
    case FieldType::kBelongsTo:
    case FieldType::kHasMany:
    case FieldType::kHasOne:
    case FieldType::kBelongsToMany:
      return InvalidArgument("field '" + std::string(what) + "' is a relation, not a value");
  }
  return Internal("unhandled field type");
}

namespace {

// PostgreSQL prints timestamptz (session time zone UTC) as "2026-11-25 10:49:19.123456+00".
void AppendPgInstant(std::string* out, std::string_view t) {
  if (t.size() < 19) {
    core::AppendJsonString(out, t);
    return;
  }
  std::string iso(t.substr(0, 10));
  iso += 'T';
  iso.append(t.substr(11, 8));
  size_t pos = 19;
  std::string frac = "000";
  if (pos < t.size() && t[pos] == '.') {
    size_t start = ++pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
    frac = std::string(t.substr(start, std::min<size_t>(3, pos - start)));
    while (frac.size() < 3) frac.push_back('0');
  }
  iso += '.';
  iso += frac;
  iso += 'Z';
  core::AppendJsonString(out, iso);
}

}  // namespace

void AppendCellJson(std::string* out, const Field& field, const db::ResultSet& rs, int row,
                    int col) {
  const FieldType type = field.type;
  db::CellKind kind = rs.Kind(row, col);
  if (kind == db::CellKind::kNull) {
    out->append("null");
    return;
  }
  switch (type) {
    case FieldType::kInteger:
    case FieldType::kBigInt:
      if (kind == db::CellKind::kInteger) {
        out->append(rs.Text(row, col));
      } else {
        char buf[24];
        auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), rs.Int(row, col));
        out->append(buf, p);
      }
      return;
    case FieldType::kSnowflakeId:
      // 64-bit ids exceed what JavaScript numbers hold exactly: sent as strings.
      out->push_back('"');
      out->append(rs.Text(row, col));
      out->push_back('"');
      return;
    case FieldType::kFloat:
    case FieldType::kDouble:
      core::AppendJsonDouble(out, rs.Double(row, col));
      return;
    case FieldType::kDecimal:
      if (kind == db::CellKind::kReal || kind == db::CellKind::kInteger) {
        // SQLite keeps NUMERIC as a number; print it with the field's scale, as PostgreSQL does.
        char buf[64];
        int n = std::snprintf(buf, sizeof(buf), "%.*f", field.scale, rs.Double(row, col));
        core::AppendJsonString(out, std::string_view(buf, n));
      } else {
        core::AppendJsonString(out, rs.Text(row, col));
      }
      return;
    case FieldType::kBoolean:
      out->append(rs.Bool(row, col) ? "true" : "false");
      return;
    case FieldType::kJson: {
      std::string_view text = rs.Text(row, col);
      out->append(text.empty() ? std::string_view("null") : text);
      return;
    }
    case FieldType::kDate: {
      std::string_view text = rs.Text(row, col);
      if (kind == db::CellKind::kText && text.size() > 19 && text[10] == ' ') {
        AppendPgInstant(out, text);
      } else {
        core::AppendJsonString(out, text);
      }
      return;
    }
    default:
      core::AppendJsonString(out, rs.Text(row, col));
      return;
  }
}

json::value CellToJson(const Field& field, const db::ResultSet& rs, int row, int col) {
  std::string text;
  AppendCellJson(&text, field, rs, row, col);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(text) : v;
}

}  // namespace slipway::data
