// Where background work runs: the idle cgroup found from this process's mounts and cgroups, made
// idle, and the settings refused. (The kernel's own cgroups: tests/integration/background_test.cc.)
#include "ops/process.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.h"

namespace slipway::ops {
namespace {

namespace fs = std::filesystem;

std::string Contents(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  return text;
}

void Write(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

// cgroup v1 as Debian 12 or a VM without systemd mounts it, the process in the root cgroup.
constexpr std::string_view kV1Mounts =
    "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    "34 30 0:30 / /sys/fs/cgroup/cpuset rw shared:14 - cgroup cgroup rw,cpuset\n"
    "35 30 0:31 / /sys/fs/cgroup/cpu rw shared:15 - cgroup cgroup rw,cpu\n"
    "36 30 0:32 / /sys/fs/cgroup/cpuacct rw shared:16 - cgroup cgroup rw,cpuacct\n";

TEST(BackgroundCgroupTest, FoundUnderTheProcesssOwnCgroup) {
  struct Case {
    std::string_view what, mounts, self;
    std::optional<fs::path> dir;
  };
  constexpr std::string_view v2 =
      "30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  // In a container the mount shows the hierarchy from the container's cgroup down.
  constexpr std::string_view container =
      "500 400 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n";
  const Case cases[] = {
      {"v1's cpu hierarchy comes before v2's", kV1Mounts,
       "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n", "/sys/fs/cgroup/cpu/slipway-background"},
      {"systemd's v1: cpu and cpuacct mounted together",
       "40 30 0:35 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
       "4:cpu,cpuacct:/system.slice/slipway.service\n",
       "/sys/fs/cgroup/cpu,cpuacct/system.slice/slipway.service/slipway-background"},
      {"a controller whose name only starts with cpu",
       "36 30 0:32 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n", "2:cpuacct:/\n",
       std::nullopt},
      {"v2", v2, "0::/system.slice/slipway.service\n",
       "/sys/fs/cgroup/system.slice/slipway.service/slipway-background"},
      {"a container's own cgroup", container, "0::/docker/abc\n",
       "/sys/fs/cgroup/slipway-background"},
      {"below a container's", container, "0::/docker/abc/inner\n",
       "/sys/fs/cgroup/inner/slipway-background"},
      {"outside what the mount shows", container, "0::/docker/abcdef\n", std::nullopt},
      {"nothing", "", "", std::nullopt},
      {"garbage", "garbage\n- -\n", "garbage\n::\n", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(AutoBackgroundCgroup(c.mounts, c.self), c.dir) << c.what;
  }
}

TEST(BackgroundCgroupTest, PrepareSetsCpuIdleAndUndoesWhatItMadeOnFailure) {
  testing::TempDir dir;
  // A cgroup that exists (its kernel files too): cpu.idle becomes 1.
  const fs::path existing = dir.path() / "existing";
  fs::create_directory(existing);
  Write(existing / "cpu.idle", "0");
  ASSERT_TRUE(PrepareIdleCgroup(existing).ok());
  EXPECT_EQ(Contents(existing / "cpu.idle"), "1");

  // Not a cgroup: no cpu.idle, and no parent to hand a controller down. The error names the
  // file, and the directory this call made is gone again.
  const fs::path plain = dir.path() / "plain";
  Status s = PrepareIdleCgroup(plain);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find((dir.path() / "cgroup.subtree_control").string()), std::string::npos)
      << s.message();
  EXPECT_FALSE(fs::exists(plain));

  s = PrepareIdleCgroup(dir.path() / "missing" / "child");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot create the cgroup"), std::string::npos) << s.message();
}

TEST(BackgroundCgroupTest, ANamedDirectoryMustBeOne) {
  auto relative = SetUpBackgroundWork("slipway-background");
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(relative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(relative.status().message().find("BACKGROUND_CGROUP"), std::string::npos);

  testing::TempDir dir;
  auto missing = SetUpBackgroundWork((dir.path() / "none" / "bg").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("BACKGROUND_CGROUP: cannot create the cgroup"),
            std::string::npos)
      << missing.status().message();

  auto off = SetUpBackgroundWork("off");
  ASSERT_TRUE(off.ok());
  EXPECT_NE(off->find("not in an idle cgroup"), std::string::npos) << *off;
}

}  // namespace
}  // namespace slipway::ops
