// Background work on this host's kernel: the idle cgroup a node puts its backups in, where the
// host lets it make one (root here, or a delegated cgroup), and a misnamed one refused at start.
#include <gtest/gtest.h>

#include <fstream>

#include "node.h"
#include "ops/process.h"

namespace slipway::testing {
namespace {

namespace fs = std::filesystem;

std::string CgroupOfABackgroundCommand(bool background) {
  auto ran = ops::RunTool(
      {"cat", "/proc/self/cgroup"}, ops::BaseEnvironment(),
      [](const std::string&) { return Status::Ok(); }, ops::ToolOptions{.background = background});
  EXPECT_TRUE(ran.ok()) << ran.status().message();
  return ran.ok() ? ran->output : std::string();
}

TEST(BackgroundWork, RunsInTheIdleCgroupWhereTheHostAllowsIt) {
  auto where = ops::SetUpBackgroundWork("auto");
  ASSERT_TRUE(where.ok()) << where.status().message();
  constexpr std::string_view kIdle = "background work runs in the idle cgroup ";
  if (!where->starts_with(kIdle)) GTEST_SKIP() << *where;
  const fs::path dir = where->substr(kIdle.size());
  EXPECT_EQ(dir.filename(), "slipway-background");
  std::ifstream idle(dir / "cpu.idle");
  std::string value;
  std::getline(idle, value);
  EXPECT_EQ(value, "1");

  // The command is in it (its cgroup line in the cpu hierarchy ends with the cgroup's name);
  // a command that is not background work is not.
  EXPECT_NE(CgroupOfABackgroundCommand(true).find("/slipway-background\n"), std::string::npos);
  EXPECT_EQ(CgroupOfABackgroundCommand(false).find("slipway-background"), std::string::npos);

  // Turned off, background work stays at the lowest weight only.
  ASSERT_TRUE(ops::SetUpBackgroundWork("off").ok());
  EXPECT_EQ(CgroupOfABackgroundCommand(true).find("slipway-background"), std::string::npos);
}

TEST(BackgroundWork, AMisnamedCgroupStopsTheNodeBeforeItServes) {
  TempDir dir;
  auto r = RunCommand({SLIPWAY_BIN, "serve", "--host", "127.0.0.1", "--port",
                       std::to_string(FreePort()), "--storage", (dir.path() / "s").string()},
                      {{"BACKGROUND_CGROUP", "slipway-background"}}, dir.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("BACKGROUND_CGROUP must be auto, off or the absolute path of a cgroup"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "s" / "db" / "slipway.sqlite"));
}

}  // namespace
}  // namespace slipway::testing
