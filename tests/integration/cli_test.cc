// The `slipway` command: subcommands, help, exit codes, one-line errors.
#include <gtest/gtest.h>

#include "node.h"

namespace slipway::testing {
namespace {

TEST(CliTest, VersionAndHelp) {
  TempDir dir;
  auto v = RunCommand({SLIPWAY_BIN, "version"}, {}, dir.path());
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find(std::string("slipway ") + SLIPWAY_VERSION), std::string::npos);
  for (const char* sub : {"serve", "start", "install", "upgrade", "version"}) {
    auto h = RunCommand({SLIPWAY_BIN, sub, "--help"}, {}, dir.path());
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_NE(h.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST(CliTest, UsageErrorsExitTwo) {
  TempDir dir;
  EXPECT_EQ(RunCommand({SLIPWAY_BIN}, {}, dir.path()).exit_code, 2);
  EXPECT_EQ(RunCommand({SLIPWAY_BIN, "frobnicate"}, {}, dir.path()).exit_code, 2);
  auto bad_env = RunCommand({SLIPWAY_BIN, "serve"}, {{"APP_PORT", "eighty"}}, dir.path());
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_EQ(bad_env.err,
            "slipway: error: APP_PORT='eighty' is not a whole number from 0 to 65535\n");
}

TEST(CliTest, InstallThenInstallAgainNeedsForce) {
  TempDir dir;
  std::string storage = (dir.path() / "s").string();
  auto first = RunCommand({SLIPWAY_BIN, "install", "--storage", storage}, {}, dir.path());
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("installed slipway"), std::string::npos);
  EXPECT_NE(first.err.find("install: "), std::string::npos);  // plain progress lines (no tty)

  auto again = RunCommand({SLIPWAY_BIN, "install", "--storage", storage}, {}, dir.path());
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_NE(again.err.find("already installed"), std::string::npos) << again.err;

  auto forced =
      RunCommand({SLIPWAY_BIN, "install", "--force", "--storage", storage}, {}, dir.path());
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
}

TEST(CliTest, UpgradeOfAnEmptyDatabaseSaysToInstall) {
  TempDir dir;
  auto r = RunCommand({SLIPWAY_BIN, "upgrade", "--storage", (dir.path() / "s").string()}, {},
                      dir.path());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not installed"), std::string::npos) << r.err;
}

TEST(CliTest, UnwritableStorageIsUnavailableAndNamed) {
  TempDir dir;
  auto r =
      RunCommand({SLIPWAY_BIN, "install", "--db-storage", "/proc/nope/x.sqlite"}, {}, dir.path());
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("/proc/nope"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace slipway::testing
