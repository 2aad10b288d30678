#include "core/semver.h"

#include <charconv>
#include <optional>

namespace slipway::core {
namespace {

bool IsNumeric(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool ParseNumber(std::string_view s, int* out) {
  if (!IsNumeric(s) || (s.size() > 1 && s[0] == '0')) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<SemVer> SemVer::Parse(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument("'" + std::string(text) +
                           "' is not a semantic version (expected MAJOR.MINOR.PATCH)");
  };
  std::string_view s = text;
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  SemVer v;
  if (size_t plus = s.find('+'); plus != std::string_view::npos) {
    v.build_ = std::string(s.substr(plus + 1));
    if (v.build_.empty()) return bad();
    s = s.substr(0, plus);
  }
  if (size_t dash = s.find('-'); dash != std::string_view::npos) {
    for (std::string_view id : Split(s.substr(dash + 1), '.')) {
      if (!IsIdentifier(id) || (IsNumeric(id) && id.size() > 1 && id[0] == '0')) return bad();
      v.prerelease_.emplace_back(id);
    }
    s = s.substr(0, dash);
  }
  auto core = Split(s, '.');
  if (core.size() != 3 || !ParseNumber(core[0], &v.major_) || !ParseNumber(core[1], &v.minor_) ||
      !ParseNumber(core[2], &v.patch_)) {
    return bad();
  }
  return v;
}

std::string SemVer::ToString() const {
  std::string out =
      std::to_string(major_) + "." + std::to_string(minor_) + "." + std::to_string(patch_);
  for (size_t i = 0; i < prerelease_.size(); ++i) {
    out += (i == 0 ? '-' : '.');
    out += prerelease_[i];
  }
  if (!build_.empty()) out += "+" + build_;
  return out;
}

std::strong_ordering operator<=>(const SemVer& a, const SemVer& b) {
  if (auto c = a.major_ <=> b.major_; c != 0) return c;
  if (auto c = a.minor_ <=> b.minor_; c != 0) return c;
  if (auto c = a.patch_ <=> b.patch_; c != 0) return c;
  // A version without pre-release identifiers has higher precedence than one with.
  if (a.prerelease_.empty() != b.prerelease_.empty()) {
    return a.prerelease_.empty() ? std::strong_ordering::greater : std::strong_ordering::less;
  }
  size_t n = std::min(a.prerelease_.size(), b.prerelease_.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string& x = a.prerelease_[i];
    const std::string& y = b.prerelease_[i];
    bool xn = IsNumeric(x), yn = IsNumeric(y);
    if (xn && yn) {
      if (x.size() != y.size()) return x.size() <=> y.size();
      if (auto c = x <=> y; c != 0) return c;
    } else if (xn != yn) {
      return xn ? std::strong_ordering::less : std::strong_ordering::greater;
    } else if (auto c = x <=> y; c != 0) {
      return c;
    }
  }
  return a.prerelease_.size() <=> b.prerelease_.size();
}

}  // namespace slipway::core

// ---------------------------------------------------------------------------------------------
// SemVerRange

namespace slipway::core {
namespace {

// Numbers in ranges stay below INT_MAX so that "^1.x"'s upper bound (major + 1) cannot overflow.
constexpr int kMaxRangeNumber = 2147483646;
constexpr size_t kMaxRangeText = 1024;

// A version as written in a range: a missing part, x, X or * is a wildcard, and every part after
// a wildcard is one too ("1.x.3" is "1.x", as in npm).
struct Partial {
  std::optional<int> major, minor, patch;
  SemVer full;  // set when all three parts are numbers, with the pre-release
};

bool IsWildcard(std::string_view s) { return s == "x" || s == "X" || s == "*"; }

// The lowest version with this major.minor.patch: M.m.p-0. An exclusive upper bound written with
// it keeps the bound's own pre-releases out (npm's "<2.0.0-0").
SemVer Floor(int major, int minor, int patch) {
  return SemVer::Parse(std::to_string(major) + "." + std::to_string(minor) + "." +
                       std::to_string(patch) + "-0")
      .value();
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Whitespace-separated words.
std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

// Returns the reason as an error message without the range text (the caller adds it).
Result<Partial> ParsePartial(std::string_view text) {
  auto bad = [&](std::string why) { return InvalidArgument("'" + std::string(text) + "' " + why); };
  std::string_view s = text;
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  std::string_view core = s.substr(0, s.find_first_of("-+"));
  bool has_prerelease = core.size() < s.size() && s[core.size()] == '-';
  if (core.empty()) return bad("is not a version");
  std::vector<std::string_view> parts = Split(core, '.');
  if (parts.size() > 3) return bad("is not a version (more than three parts)");
  Partial p;
  std::optional<int>* slots[] = {&p.major, &p.minor, &p.patch};
  bool wildcard = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (IsWildcard(parts[i])) {
      wildcard = true;
      continue;
    }
    int n = 0;
    if (!ParseNumber(parts[i], &n))
      return bad("is not a version (bad number '" + std::string(parts[i]) + "')");
    if (n > kMaxRangeNumber) return bad("has a number that is too large");
    if (!wildcard) *slots[i] = n;
  }
  if (p.patch) {
    ASSIGN_OR_RETURN(p.full, SemVer::Parse(s));
  } else if (has_prerelease) {
    return bad("has a pre-release but not a full MAJOR.MINOR.PATCH version");
  }
  return p;
}

}  // namespace

bool SemVerRange::Comparator::Test(const SemVer& v) const {
  switch (op) {
    case Op::kAny:
      return true;
    case Op::kEq:
      return v == version;
    case Op::kLt:
      return v < version;
    case Op::kLe:
      return v <= version;
    case Op::kGt:
      return v > version;
    case Op::kGe:
      return v >= version;
  }
  return false;
}

// Turns each npm form into plain comparators, the way node-semver desugars them.
class SemVerRange::Parser {
 public:
  using Set = std::vector<Comparator>;

  // "A - B": >=A <=B, where a partial A starts at its lowest version and a partial B takes in
  // everything it names ("1.2.3 - 2.3" is <2.4.0-0).
  static Status Hyphen(const Partial& from, const Partial& to, Set* out) {
    if (from.patch) {
      out->push_back({Op::kGe, from.full});
    } else if (from.major) {
      out->push_back({Op::kGe, SemVer(*from.major, from.minor.value_or(0), 0)});
    }
    if (to.patch) {
      out->push_back({Op::kLe, to.full});
    } else if (to.minor) {
      out->push_back({Op::kLt, Floor(*to.major, *to.minor + 1, 0)});
    } else if (to.major) {
      out->push_back({Op::kLt, Floor(*to.major + 1, 0, 0)});
    }
    if (out->empty()) Any(out);
    return Status::Ok();
  }

  // One token: an optional operator and a (partial) version.
  static Status Token(std::string_view token, Set* out) {
    size_t op_len = token.find_first_not_of("<>=~^");
    if (op_len == std::string_view::npos) op_len = token.size();
    std::string_view op = token.substr(0, op_len);
    std::string_view rest = token.substr(op_len);
    if (op.empty() && (rest.empty() || IsWildcard(rest))) {
      out->push_back({Op::kAny, {}});
      return Status::Ok();
    }
    if (rest.empty()) {
      return InvalidArgument("operator '" + std::string(op) + "' has no version");
    }
    ASSIGN_OR_RETURN(Partial p, ParsePartial(rest));
    if (op == "^") return Caret(p, out);
    if (op == "~" || op == "~>") return Tilde(p, out);
    if (op.empty() || op == "=") return XRange(p, out);
    if (op == ">") return Greater(p, out);
    if (op == ">=") return GreaterEq(p, out);
    if (op == "<") return Less(p, out);
    if (op == "<=") return LessEq(p, out);
    return InvalidArgument("unknown operator '" + std::string(op) + "'");
  }

 private:
  static void Nothing(Set* out) { out->push_back({Op::kLt, Floor(0, 0, 0)}); }
  static void Any(Set* out) { out->push_back({Op::kAny, {}}); }

  // [low, floor(high)): what ^, ~ and x-ranges become.
  static void Between(SemVer low, SemVer high_floor, Set* out) {
    out->push_back({Op::kGe, std::move(low)});
    out->push_back({Op::kLt, std::move(high_floor)});
  }

  static Status XRange(const Partial& p, Set* out) {
    if (p.patch) {
      out->push_back({Op::kEq, p.full});
    } else if (p.minor) {
      Between(SemVer(*p.major, *p.minor, 0), Floor(*p.major, *p.minor + 1, 0), out);
    } else if (p.major) {
      Between(SemVer(*p.major, 0, 0), Floor(*p.major + 1, 0, 0), out);
    } else {
      Any(out);
    }
    return Status::Ok();
  }

  static Status Caret(const Partial& p, Set* out) {
    if (!p.major) {
      Any(out);
    } else if (!p.minor) {
      Between(SemVer(*p.major, 0, 0), Floor(*p.major + 1, 0, 0), out);
    } else if (!p.patch) {
      SemVer low(*p.major, *p.minor, 0);
      Between(low, *p.major == 0 ? Floor(0, *p.minor + 1, 0) : Floor(*p.major + 1, 0, 0), out);
    } else if (*p.major != 0) {
      Between(p.full, Floor(*p.major + 1, 0, 0), out);
    } else if (*p.minor != 0) {
      Between(p.full, Floor(0, *p.minor + 1, 0), out);
    } else {
      Between(p.full, Floor(0, 0, *p.patch + 1), out);
    }
    return Status::Ok();
  }

  static Status Tilde(const Partial& p, Set* out) {
    if (!p.major) {
      Any(out);
    } else if (!p.minor) {
      Between(SemVer(*p.major, 0, 0), Floor(*p.major + 1, 0, 0), out);
    } else {
      SemVer low = p.patch ? p.full : SemVer(*p.major, *p.minor, 0);
      Between(std::move(low), Floor(*p.major, *p.minor + 1, 0), out);
    }
    return Status::Ok();
  }

  static Status Greater(const Partial& p, Set* out) {
    if (p.patch) {
      out->push_back({Op::kGt, p.full});
    } else if (p.minor) {
      out->push_back({Op::kGe, SemVer(*p.major, *p.minor + 1, 0)});
    } else if (p.major) {
      out->push_back({Op::kGe, SemVer(*p.major + 1, 0, 0)});
    } else {
      Nothing(out);
    }
    return Status::Ok();
  }

  static Status GreaterEq(const Partial& p, Set* out) {
    if (p.patch) {
      out->push_back({Op::kGe, p.full});
    } else if (p.major) {
      out->push_back({Op::kGe, SemVer(*p.major, p.minor.value_or(0), 0)});
    } else {
      Any(out);
    }
    return Status::Ok();
  }

  static Status Less(const Partial& p, Set* out) {
    if (p.patch) {
      out->push_back({Op::kLt, p.full});
    } else if (p.major) {
      out->push_back({Op::kLt, Floor(*p.major, p.minor.value_or(0), 0)});
    } else {
      Nothing(out);
    }
    return Status::Ok();
  }

  static Status LessEq(const Partial& p, Set* out) {
    if (p.patch) {
      out->push_back({Op::kLe, p.full});
    } else if (p.minor) {
      out->push_back({Op::kLt, Floor(*p.major, *p.minor + 1, 0)});
    } else if (p.major) {
      out->push_back({Op::kLt, Floor(*p.major + 1, 0, 0)});
    } else {
      Any(out);
    }
    return Status::Ok();
  }
};

SemVerRange::SemVerRange() : text_("*"), sets_{{Comparator{}}} {}

Result<SemVerRange> SemVerRange::Parse(std::string_view text) {
  auto bad = [&](const Status& why) {
    return InvalidArgument("'" + std::string(text) + "' is not a version range: " + why.message());
  };
  if (text.size() > kMaxRangeText) {
    return InvalidArgument("version range is longer than " + std::to_string(kMaxRangeText) +
                           " characters");
  }
  SemVerRange range;
  range.text_ = std::string(text);
  range.sets_.clear();
  std::string_view rest = text;
  while (true) {
    size_t bar = rest.find("||");
    // Tokens are separated by whitespace; an operator followed by a space belongs to the next
    // token (">= 1.2.3" is ">=1.2.3").
    std::vector<std::string> tokens;
    bool pending_operator = false;
    for (std::string_view word : Words(rest.substr(0, bar))) {
      if (pending_operator) {
        tokens.back() += word;
      } else {
        tokens.emplace_back(word);
      }
      pending_operator = word.find_first_not_of("<>=~^") == std::string_view::npos;
    }
    Parser::Set set;
    if (tokens.size() == 3 && tokens[1] == "-") {
      auto from = ParsePartial(tokens[0]);
      if (!from.ok()) return bad(from.status());
      auto to = ParsePartial(tokens[2]);
      if (!to.ok()) return bad(to.status());
      RETURN_IF_ERROR(Parser::Hyphen(*from, *to, &set));
    } else {
      for (const std::string& token : tokens) {
        if (Status s = Parser::Token(token, &set); !s.ok()) return bad(s);
      }
    }
    if (set.empty()) set.push_back(Comparator{});  // "" and "1.2.3 ||" mean any version
    range.sets_.push_back(std::move(set));
    if (bar == std::string_view::npos) break;
    rest = rest.substr(bar + 2);
  }
  return range;
}

bool SemVerRange::Matches(const SemVer& version) const {
  for (const auto& set : sets_) {
    bool all = true;
    for (const Comparator& c : set) all = all && c.Test(version);
    if (!all) continue;
    if (version.prerelease().empty()) return true;
    // npm: a pre-release only matches a set that names a pre-release of the same version.
    for (const Comparator& c : set) {
      if (c.op == Op::kAny || c.version.prerelease().empty()) continue;
      if (c.version.major() == version.major() && c.version.minor() == version.minor() &&
          c.version.patch() == version.patch()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace slipway::core
