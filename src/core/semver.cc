#include "core/semver.h"

#include <charconv>

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
    parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos
                                                                  : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<SemVer> SemVer::Parse(std::string_view text) {
  auto bad = [&] { return InvalidArgument("'" + std::string(text) + "' is not a semantic version (expected MAJOR.MINOR.PATCH)"); };
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
  std::string out = std::to_string(major_) + "." + std::to_string(minor_) + "." + std::to_string(patch_);
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
