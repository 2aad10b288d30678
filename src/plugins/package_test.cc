#include "plugins/package.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "package_builder.h"
#include "test_support.h"

namespace slipway::plugins {
namespace {

namespace fs = std::filesystem;
using testing::BuildPackage;
using testing::Compression;
using testing::EntryType;
using testing::ManifestJson;
using testing::PackageEntry;

constexpr const char* kLibrary = "lib/libslipway_hello.so";

int Mode(const fs::path& p) {
  struct stat st;
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return static_cast<int>(st.st_mode & 07777);
}

std::vector<PackageEntry> GoodEntries(const std::string& prefix = "") {
  return {
      {prefix + "manifest.json", ManifestJson()},
      {prefix + "lib/", "", EntryType::kDir, 0700},
      {prefix + kLibrary, "ELF pretend", EntryType::kFile, 0777},
      {prefix + "README.md", "# hello\n", EntryType::kFile, 0600},
  };
}

class PackageTest : public ::testing::Test {
 protected:
  fs::path staging() const { return tmp_.path() / "staging"; }

  // Nothing may be left in the staging root after a refusal.
  void ExpectRefused(const std::string& archive, const std::string& needle,
                     const UnpackLimits& limits = {}) {
    auto dir = UnpackPackage(archive, staging(), limits);
    ASSERT_FALSE(dir.ok()) << "unpacked into " << dir.value() << "; expected: " << needle;
    EXPECT_EQ(dir.status().code(), StatusCode::kInvalidArgument) << dir.status().ToString();
    EXPECT_NE(dir.status().message().find(needle), std::string::npos)
        << dir.status().message() << "\n  expected: " << needle;
    EXPECT_TRUE(!fs::exists(staging()) || fs::is_empty(staging()))
        << "left behind: " << fs::directory_iterator(staging())->path();
  }

  testing::TempDir tmp_;
};

TEST_F(PackageTest, UnpacksAndInspectsAGoodPackage) {
  auto dir = UnpackPackage(BuildPackage(GoodEntries()), staging());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(dir->parent_path(), staging());
  EXPECT_EQ(dir->filename().string().rfind(".staging-", 0), 0u) << *dir;
  EXPECT_EQ(testing::ReadFile(*dir / kLibrary), "ELF pretend");
  EXPECT_EQ(testing::ReadFile(*dir / "README.md"), "# hello\n");
  // Modes come from us, not from the archive.
  EXPECT_EQ(Mode(*dir / kLibrary), 0644);
  EXPECT_EQ(Mode(*dir / "README.md"), 0644);
  EXPECT_EQ(Mode(*dir / "lib"), 0755);
  EXPECT_EQ(Mode(*dir), 0755);

  auto info = InspectPackage(*dir);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->manifest.name, "hello");
  EXPECT_EQ(info->manifest.version_text, "1.0.0");
  EXPECT_EQ(info->dir, *dir);
  EXPECT_EQ(info->library, *dir / kLibrary);
}

TEST_F(PackageTest, ModesDoNotDependOnTheUmask) {
  mode_t old_umask = ::umask(077);
  auto dir = UnpackPackage(BuildPackage(GoodEntries()), staging());
  ::umask(old_umask);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(Mode(*dir / kLibrary), 0644);
  EXPECT_EQ(Mode(*dir / "lib"), 0755);
  EXPECT_EQ(Mode(*dir), 0755);
}

TEST_F(PackageTest, EachUnpackGetsItsOwnDirectory) {
  std::string archive = BuildPackage(GoodEntries());
  auto a = UnpackPackage(archive, staging());
  auto b = UnpackPackage(archive, staging());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST_F(PackageTest, StripsNpmPackagePrefix) {
  std::vector<PackageEntry> entries = GoodEntries("package/");
  entries.insert(entries.begin(), {"package/", "", EntryType::kDir});
  auto dir = UnpackPackage(BuildPackage(entries), staging());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(fs::is_regular_file(*dir / "manifest.json"));
  EXPECT_TRUE(fs::is_regular_file(*dir / kLibrary));
  EXPECT_FALSE(fs::exists(*dir / "package"));
  EXPECT_TRUE(InspectPackage(*dir).ok());
}

TEST_F(PackageTest, KeepsPackagePrefixUnlessEveryEntryHasIt) {
  std::vector<PackageEntry> entries = GoodEntries();
  entries.push_back({"package/notes.txt", "x"});
  auto dir = UnpackPackage(BuildPackage(entries), staging());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(fs::is_regular_file(*dir / "package" / "notes.txt"));
  EXPECT_TRUE(fs::is_regular_file(*dir / "manifest.json"));
}

TEST_F(PackageTest, AcceptsDotSlashNamesZstdPlainTarAndUtf8Names) {
  std::vector<PackageEntry> entries = {{"./", "", EntryType::kDir},
                                       {"./manifest.json", ManifestJson()},
                                       {"./lib/libslipway_hello.so", "so"},
                                       {"docs/héllo wörld.txt", "utf-8"}};
  for (Compression c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    auto dir = UnpackPackage(BuildPackage(entries, c), staging());
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    EXPECT_EQ(testing::ReadFile(*dir / kLibrary), "so");
    EXPECT_EQ(testing::ReadFile(*dir / "docs" / "héllo wörld.txt"), "utf-8");
  }
}

TEST_F(PackageTest, RefusesPathTraversal) {
  ExpectRefused(BuildPackage({{"manifest.json", "{}"}, {"../evil", "x"}}),
                "'../evil': '..' is not allowed");
  ExpectRefused(BuildPackage({{"lib/../../evil", "x"}}), "'..' is not allowed");
  ExpectRefused(BuildPackage({{"lib/..", "", EntryType::kDir}}), "'..' is not allowed");
  ExpectRefused(BuildPackage({{"/abs", "x"}}), "'/abs': absolute paths are not allowed");
  ExpectRefused(BuildPackage({{"/etc/", "", EntryType::kDir}}), "absolute paths");
}

TEST_F(PackageTest, RefusesLinksAndSpecialFiles) {
  ExpectRefused(BuildPackage({{"manifest.json", "{}"}, {"lib", "/etc", EntryType::kSymlink}}),
                "'lib': symbolic links are not allowed");
  ExpectRefused(
      BuildPackage({{"manifest.json", "{}"}, {"copy.json", "manifest.json", EntryType::kHardlink}}),
      "'copy.json': hard links are not allowed");
  ExpectRefused(BuildPackage({{"pipe", "", EntryType::kFifo}}),
                "'pipe': devices, FIFOs and sockets are not allowed");
  ExpectRefused(BuildPackage({{"null", "", EntryType::kCharDevice}}),
                "'null': devices, FIFOs and sockets are not allowed");
}

TEST_F(PackageTest, RefusesNamesThatAreNotUtf8) {
  ExpectRefused(BuildPackage({{"bad\xff.txt", "x"}}), "'bad\\xff.txt': name is not valid UTF-8");
  ExpectRefused(BuildPackage({{"overlong\xc0\xaf", "x"}}), "not valid UTF-8");
  ExpectRefused(BuildPackage({{"surrogate\xed\xa0\x80", "x"}}), "not valid UTF-8");
}

TEST_F(PackageTest, RefusesDuplicatesAndConflicts) {
  ExpectRefused(BuildPackage({{"a.txt", "1"}, {"a.txt", "2"}}), "'a.txt': duplicate entry");
  ExpectRefused(BuildPackage({{"lib/", "", EntryType::kDir}, {"lib/", "", EntryType::kDir}}),
                "'lib': duplicate entry");
  ExpectRefused(BuildPackage({{"./a.txt", "1"}, {"a.txt", "2"}}), "duplicate entry");
  ExpectRefused(BuildPackage({{"package/a.txt", "1"}, {"package/./a.txt", "2"}}),
                "duplicate entry");
  ExpectRefused(BuildPackage({{"lib", "file"}, {"lib/x.so", "x"}}), "'lib' is a file");
  ExpectRefused(BuildPackage({{"lib/x.so", "x"}, {"lib", "file"}}),
                "'lib': a directory of that name exists");
  ExpectRefused(BuildPackage({{"lib/x.so", "x"}, {"lib/x.so/", "", EntryType::kDir}}),
                "duplicate entry");
}

TEST_F(PackageTest, RefusesTooManyEntries) {
  std::vector<PackageEntry> entries;
  for (size_t i = 0; i < kMaxPackageEntries; ++i) entries.push_back({std::to_string(i), ""});
  auto dir = UnpackPackage(BuildPackage(entries), staging());
  EXPECT_TRUE(dir.ok()) << dir.status().ToString();  // exactly the limit is fine
  fs::remove_all(staging());
  entries.push_back({"one-more", ""});
  ExpectRefused(BuildPackage(entries), "more than 1000 entries");
}

TEST_F(PackageTest, RefusesLargeFilesAndPackagesAtTheRealLimits) {
  // Declared sizes; libarchive writes the zeros, which zstd packs into almost nothing.
  PackageEntry big{"big.bin", "", EntryType::kFile, 0644,
                   static_cast<int64_t>(kMaxPackageFileBytes) + 1};
  ExpectRefused(BuildPackage({big}, Compression::kZstd),
                "'big.bin': file is larger than 134217728 bytes");
  PackageEntry part{"", "", EntryType::kFile, 0644, static_cast<int64_t>(kMaxPackageBytes / 2)};
  std::vector<PackageEntry> entries = {part, part, {"last.bin", "!"}};
  entries[0].path = "a.bin";
  entries[1].path = "b.bin";
  ExpectRefused(BuildPackage(entries, Compression::kZstd),
                "'last.bin': package unpacks to more than 268435456 bytes");
}

TEST_F(PackageTest, CountsTheBytesActuallyRead) {
  UnpackLimits limits;
  limits.max_file_bytes = 10;
  limits.max_total_bytes = 15;
  ExpectRefused(BuildPackage({{"a", std::string(11, 'x')}}), "'a': file is larger than 10", limits);
  ExpectRefused(BuildPackage({{"a", std::string(10, 'x')}, {"b", std::string(6, 'x')}}),
                "'b': package unpacks to more than 15 bytes", limits);
  auto dir =
      UnpackPackage(BuildPackage({{"a", std::string(10, 'x')}, {"b", "12345"}}), staging(), limits);
  EXPECT_TRUE(dir.ok()) << dir.status().ToString();
}

TEST_F(PackageTest, RefusesWhatIsNotAnArchive) {
  ExpectRefused("", "package archive");
  ExpectRefused("this is not a tarball, just some text that goes on for a while......",
                "package archive is not a .tgz");
  ExpectRefused(BuildPackage({}), "package archive is empty");
  std::string good =
      BuildPackage({{"a.bin", "x"}, {"b.bin", std::string(100000, 'x')}}, Compression::kNone);
  ExpectRefused(good.substr(0, good.size() / 2), "package archive is corrupt at 'b.bin'");
}

TEST_F(PackageTest, RemovesThePartialDirectoryWhenWritingFails) {
  // A name the filesystem refuses (component longer than NAME_MAX) fails only when written,
  // after manifest.json was: the staging directory must go.
  ExpectRefused(BuildPackage({{"manifest.json", ManifestJson()}, {std::string(300, 'n'), "x"}}),
                "File name too long");
  EXPECT_TRUE(fs::exists(staging()));  // the second pass had created its directory
}

TEST_F(PackageTest, InspectRefusesBadPackages) {
  auto inspect = [&](std::vector<PackageEntry> entries) {
    auto dir = UnpackPackage(BuildPackage(entries), staging());
    EXPECT_TRUE(dir.ok()) << dir.status().ToString();
    return dir.ok() ? InspectPackage(*dir) : Result<PackageInfo>(dir.status());
  };
  auto expect = [](const Result<PackageInfo>& r, const std::string& needle) {
    ASSERT_FALSE(r.ok()) << "expected: " << needle;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect(inspect({{"README.md", "no manifest"}}), "package has no manifest.json");
  expect(inspect({{"manifest.json", "{not json"}}), "manifest.json: not valid JSON");
  expect(inspect({{"manifest.json", ManifestJson("Bad Name")}}), "manifest.json: \"name\"");
  expect(inspect({{"manifest.json", ManifestJson()}}),
         "\"main\" 'lib/libslipway_hello.so' is not in the package");
  expect(inspect({{"manifest.json", ManifestJson()},
                  {"lib/libslipway_hello.so/", "", EntryType::kDir}}),
         "is not a regular file");
  expect(inspect({{"manifest.json", ManifestJson("hello", "1.0.0", 1, "../x.so")}}), "\"main\"");
  expect(inspect({{"manifest.json", std::string(kMaxManifestBytes + 1, ' ')}}), "manifest.json: ");
}

TEST_F(PackageTest, InspectRefusesMainThroughASymlink) {
  // UnpackPackage never makes links, but InspectPackage may be given any directory.
  fs::path dir = tmp_.path() / "pkg";
  fs::create_directories(dir);
  fs::create_directories(tmp_.path() / "elsewhere");
  { std::ofstream(dir / "manifest.json") << ManifestJson(); }
  { std::ofstream(tmp_.path() / "elsewhere" / "libslipway_hello.so") << "so"; }
  fs::create_directory_symlink(tmp_.path() / "elsewhere", dir / "lib");
  auto info = InspectPackage(dir);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("goes through a symbolic link"), std::string::npos)
      << info.status().message();

  fs::remove(dir / "lib");
  fs::create_directories(dir / "lib");
  fs::create_symlink(tmp_.path() / "elsewhere" / "libslipway_hello.so", dir / kLibrary);
  info = InspectPackage(dir);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("symbolic link"), std::string::npos);

  fs::remove(dir / kLibrary);
  { std::ofstream(dir / kLibrary) << "so"; }
  EXPECT_TRUE(InspectPackage(dir).ok());
}

// The manifest facts the plugin manager refuses on: they reach it intact.
TEST_F(PackageTest, InspectReportsApiVersionAndAppRangeForTheCaller) {
  std::vector<PackageEntry> entries = {
      {"manifest.json",
       ManifestJson("hello", "1.0.0", 2, kLibrary, R"("app_versions": ">=9.0.0", )")},
      {kLibrary, "so"}};
  auto dir = UnpackPackage(BuildPackage(entries), staging());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto info = InspectPackage(*dir);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->manifest.api_version, 2);
  EXPECT_FALSE(info->manifest.app_versions.Matches(core::SemVer(0, 1, 0)));
}

TEST_F(PackageTest, UnpacksTheBuiltHelloPackages) {
  for (const char* version : {"1.0.0", "2.0.0", "3.0.0"}) {
    fs::path tgz = fs::path(SLIPWAY_HELLO_PACKAGE_DIR) / ("hello-" + std::string(version) + ".tgz");
    auto bytes = ReadFileBytes(tgz, kMaxPackageBytes);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    auto dir = UnpackPackage(*bytes, staging());
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    auto info = InspectPackage(*dir);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    const Manifest& m = info->manifest;
    EXPECT_EQ(m.name, "hello");
    EXPECT_EQ(m.version_text, version);
    EXPECT_EQ(m.api_version, 1);
    EXPECT_EQ(m.main, kLibrary);
    ASSERT_EQ(m.dependencies.size(), 2u);
    std::map<std::string, std::string> deps;
    for (const auto& d : m.dependencies) deps[d.name] = d.range.text();
    EXPECT_EQ(deps["users"], ">=0.1.0");
    EXPECT_EQ(deps["audit-log"], "*");
    EXPECT_EQ(m.app_versions.text(), ">=0.1.0 <1.0.0");
    EXPECT_FALSE(m.description.empty());
    EXPECT_GT(fs::file_size(info->library), 1000u);
  }
}

TEST(ReadFileBytesTest, ReadsAndRefuses) {
  testing::TempDir tmp;
  fs::path file = tmp.path() / "f";
  { std::ofstream(file) << "0123456789"; }
  auto all = ReadFileBytes(file, 10);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, "0123456789");
  EXPECT_EQ(ReadFileBytes(file, 9).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadFileBytes(tmp.path() / "missing", 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFileBytes(tmp.path(), 10).status().code(), StatusCode::kInvalidArgument);
  { std::ofstream(tmp.path() / "empty"); }
  auto empty = ReadFileBytes(tmp.path() / "empty", 10);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

}  // namespace
}  // namespace slipway::plugins
