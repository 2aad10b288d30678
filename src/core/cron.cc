#include "core/cron.h"

#include <array>
#include <vector>

namespace slipway::core {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdays = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

struct FieldSpec {
  const char* name;
  int min, max;
  const std::string_view* names;  // nullptr, or names for min..min+count-1
  int name_count;
  int name_base;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// One value of a field: a number or a name.
Result<int> Value(std::string_view text, const FieldSpec& f) {
  if (text.empty()) return InvalidArgument(std::string(f.name) + ": a value is missing");
  if (f.names != nullptr) {
    std::string lower = Lower(text);
    for (int i = 0; i < f.name_count; ++i) {
      if (lower == f.names[i]) return f.name_base + i;
    }
  }
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > 1000) {
      return InvalidArgument(std::string(f.name) + ": '" + std::string(text) + "' is not a number" +
                             (f.names ? " or a name" : ""));
    }
    v = v * 10 + (c - '0');
  }
  if (v < f.min || v > f.max) {
    return InvalidArgument(std::string(f.name) + ": " + std::to_string(v) + " is outside " +
                           std::to_string(f.min) + "-" + std::to_string(f.max));
  }
  return v;
}

// Sets the values a field's text allows in `out` (indexed by value); returns whether the field
// restricts anything (it is not "*").
Result<bool> Field(std::string_view text, const FieldSpec& f, std::vector<bool>* out) {
  out->assign(f.max + 1, false);
  if (text == "*" || text == "?") {
    for (int v = f.min; v <= f.max; ++v) (*out)[v] = true;
    return false;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    int step = 1;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      std::string_view s = item.substr(slash + 1);
      FieldSpec step_spec{f.name, 1, f.max > 0 ? f.max : 1, nullptr, 0, 0};
      ASSIGN_OR_RETURN(step, Value(s, step_spec));
      item = item.substr(0, slash);
    }
    int lo = f.min, hi = f.max;
    if (item != "*") {
      size_t dash = item.find('-');
      ASSIGN_OR_RETURN(lo, Value(item.substr(0, dash), f));
      if (dash != std::string_view::npos) {
        ASSIGN_OR_RETURN(hi, Value(item.substr(dash + 1), f));
        if (hi < lo) {
          return InvalidArgument(std::string(f.name) + ": the range '" + std::string(item) +
                                 "' runs backwards");
        }
      } else if (step == 1) {
        hi = lo;
      }
    }
    for (int v = lo; v <= hi; v += step) (*out)[v] = true;
    start = comma + 1;
  }
  return true;
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view expression) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < expression.size()) {
    while (i < expression.size() && (expression[i] == ' ' || expression[i] == '\t')) ++i;
    size_t start = i;
    while (i < expression.size() && expression[i] != ' ' && expression[i] != '\t') ++i;
    if (i > start) parts.push_back(expression.substr(start, i - start));
  }
  if (parts.size() != 5 && parts.size() != 6) {
    return InvalidArgument("cron expression '" + std::string(expression) + "' has " +
                           std::to_string(parts.size()) +
                           " fields; it needs 5 (minute hour day month weekday) or 6 (with "
                           "seconds first)");
  }
  CronSchedule c;
  c.text_ = std::string(expression);
  size_t at = 0;
  std::vector<bool> v;
  auto parse = [&](const FieldSpec& f) -> Result<bool> {
    auto r = Field(parts[at++], f, &v);
    if (!r.ok()) {
      return InvalidArgument("cron expression '" + std::string(expression) +
                             "': " + r.status().message());
    }
    return r;
  };
  if (parts.size() == 6) {
    ASSIGN_OR_RETURN(bool unused, parse({"second", 0, 59, nullptr, 0, 0}));
    (void)unused;
    for (int s = 0; s < 60; ++s) c.seconds_[s] = v[s];
  } else {
    c.seconds_[0] = true;
  }
  ASSIGN_OR_RETURN(bool m, parse({"minute", 0, 59, nullptr, 0, 0}));
  (void)m;
  for (int x = 0; x < 60; ++x) c.minutes_[x] = v[x];
  ASSIGN_OR_RETURN(bool h, parse({"hour", 0, 23, nullptr, 0, 0}));
  (void)h;
  for (int x = 0; x < 24; ++x) c.hours_[x] = v[x];
  ASSIGN_OR_RETURN(c.days_restricted_, parse({"day of month", 1, 31, nullptr, 0, 0}));
  for (int x = 1; x <= 31; ++x) c.days_[x] = v[x];
  ASSIGN_OR_RETURN(bool mo, parse({"month", 1, 12, kMonths.data(), 12, 1}));
  (void)mo;
  for (int x = 1; x <= 12; ++x) c.months_[x] = v[x];
  ASSIGN_OR_RETURN(c.weekdays_restricted_, parse({"day of week", 0, 7, kWeekdays.data(), 7, 0}));
  for (int x = 0; x <= 7; ++x) {
    if (v[x]) c.weekdays_[x % 7] = true;
  }
  return c;
}

std::optional<sys_seconds> CronSchedule::Next(sys_seconds after) const {
  sys_seconds t = after + seconds(1);
  const sys_seconds limit = after + days(366 * 8 + 2);
  while (t <= limit) {
    sys_days day = floor<days>(t);
    year_month_day ymd(day);
    unsigned month = static_cast<unsigned>(ymd.month());
    if (!months_[month]) {  // the first day of the next month
      year_month_day next =
          year_month_day(ymd.year(), ymd.month(), std::chrono::day(1)) + months(1);
      t = sys_days(next);
      continue;
    }
    unsigned dom = static_cast<unsigned>(ymd.day());
    unsigned dow = weekday(day).c_encoding();
    bool day_ok;
    if (days_restricted_ && weekdays_restricted_) {
      day_ok = days_[dom] || weekdays_[dow];
    } else {
      day_ok = days_[dom] && weekdays_[dow];
    }
    if (!day_ok) {
      t = day + days(1);
      continue;
    }
    hh_mm_ss<seconds> hms(t - day);
    int hour = static_cast<int>(hms.hours().count());
    int minute = static_cast<int>(hms.minutes().count());
    int second = static_cast<int>(hms.seconds().count());
    if (!hours_[hour]) {
      t = day + hours(hour + 1);
      continue;
    }
    if (!minutes_[minute]) {
      t = day + hours(hour) + minutes(minute + 1);
      continue;
    }
    if (!seconds_[second]) {
      t += seconds(1);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace slipway::core
