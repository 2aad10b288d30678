// Semantic versions (https://semver.org): parsing and precedence.
//
// Used for version fencing (binary vs schema_version), migration order and, for plugins,
// dependency ranges. Build metadata ("+...") is kept but ignored for precedence, as the spec says.
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

}  // namespace slipway::core
