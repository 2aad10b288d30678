// Semantic versions (https://semver.org): parsing and precedence; and version ranges in npm's
// syntax (SemVerRange).
//
// Used for version fencing (binary vs schema_version), migration order and, for plugins,
// dependency ranges. Build metadata ("+...") is kept but ignored for precedence, as the spec says.
//
// Thread-safety: immutable values; safe to share once built.
#pragma once

#include <compare>
#include <string>
#include <string_view>
#include <vector>

#include "slipway/status.h"

namespace slipway::core {

class SemVer {
 public:
  SemVer() = default;
  SemVer(int major, int minor, int patch) : major_(major), minor_(minor), patch_(patch) {}

  // Accepts "1.2.3", "1.2.3-rc.1", "1.2.3+build.5", and a leading "v". Fails with
  // InvalidArgument naming the text for anything else.
  static Result<SemVer> Parse(std::string_view text);

  int major() const { return major_; }
  int minor() const { return minor_; }
  int patch() const { return patch_; }
  const std::vector<std::string>& prerelease() const { return prerelease_; }

  std::string ToString() const;

  friend std::strong_ordering operator<=>(const SemVer& a, const SemVer& b);
  friend bool operator==(const SemVer& a, const SemVer& b) { return (a <=> b) == 0; }

 private:
  int major_ = 0, minor_ = 0, patch_ = 0;
  std::vector<std::string> prerelease_;
  std::string build_;
};

// A set of versions written the way npm's `semver` package writes ranges (what NocoBase plugin
// manifests use):
//
//   "" or "*"          any version
//   1.2.3, =1.2.3      exactly that version (also v1.2.3)
//   >=1.2.3 <2.0.0     comparators (>=, >, <=, <, =) joined by spaces must all hold
//   A || B             either range
//   ^1.2.3             >=1.2.3 <2.0.0-0     ^0.2.3  >=0.2.3 <0.3.0-0     ^0.0.3  >=0.0.3 <0.0.4-0
//   ~1.2.3             >=1.2.3 <1.3.0-0     ~1.2    >=1.2.0 <1.3.0-0     ~1      >=1.0.0 <2.0.0-0
//   1.2.x, 1.2         >=1.2.0 <1.3.0-0     1.x, 1  >=1.0.0 <2.0.0-0      (x, X and * alike)
//   1.2.3 - 2.3.4      >=1.2.3 <=2.3.4      1.2.3 - 2.3  >=1.2.3 <2.4.0-0
//   >1.2               >=1.3.0              <=1.2   <1.3.0-0             >1      >=2.0.0
//
// A version with a pre-release tag (1.3.0-beta.1) matches a comparator set only if one of the
// set's comparators names the same major.minor.patch with a pre-release: ">=1.3.0-beta.0"
// matches 1.3.0-beta.1 but ">=1.2.0" and "*" do not (npm's rule without includePrerelease).
// Not supported: npm's loose mode and includePrerelease; a pre-release on a partial version
// ("1.2.x-beta", which npm silently ignores) is refused.
class SemVerRange {
 public:
  // The range "*".
  SemVerRange();

  // Fails with InvalidArgument naming the text and what was wrong.
  static Result<SemVerRange> Parse(std::string_view text);

  bool Matches(const SemVer& version) const;
  // The text it was parsed from ("*" for the default).
  const std::string& text() const { return text_; }

 private:
  enum class Op { kAny, kEq, kLt, kLe, kGt, kGe };
  struct Comparator {
    Op op = Op::kAny;
    SemVer version;
    bool Test(const SemVer& v) const;
  };
  class Parser;

  std::string text_;
  // Alternatives (||) of comparator sets (all must hold).
  std::vector<std::vector<Comparator>> sets_;
};

}  // namespace slipway::core
