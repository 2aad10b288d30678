// deploy/systemd/: the units for a host without an orchestrator are checked by systemd itself
// (`systemd-analyze verify`: every key known, every command an absolute path that exists, every
// dependency resolvable), with the binary path pointed at this build.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "node.h"

namespace slipway::testing {
namespace {

namespace fs = std::filesystem;

TEST(SystemdUnits, EveryUnitPassesSystemdAnalyzeVerify) {
  if (!fs::exists("/usr/bin/systemd-analyze")) GTEST_SKIP() << "no systemd-analyze here";
  TempDir dir;
  const fs::path units = fs::path(SLIPWAY_SOURCE_DIR) / "deploy" / "systemd";
  std::vector<std::string> argv{"/usr/bin/systemd-analyze", "verify", "--man=no"};
  int count = 0;
  for (const auto& e : fs::directory_iterator(units)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".service" && e.path().extension() != ".target") continue;
    std::string text = ReadFile(e.path());
    text = std::regex_replace(text, std::regex("/usr/local/bin/slipway"), SLIPWAY_BIN);
    // A template is verified as one of its instances.
    const std::string as = name == "slipway@.service" ? "slipway@web-1.service" : name;
    std::ofstream(dir.path() / as) << text;
    argv.push_back((dir.path() / as).string());
    ++count;
  }
  EXPECT_GE(count, 4) << "the node, HAProxy and nginx units and the target";
  RunResult r = RunCommand(argv, {{"SYSTEMD_LOG_LEVEL", "info"}}, dir.path() / "out");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Warnings (an unknown key, a missing file) leave the exit code at 0: none is accepted.
  EXPECT_EQ(r.err, "") << r.err;
}

}  // namespace
}  // namespace slipway::testing
