#include "ops/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/sha256.h"
#include "ops/backup.h"
#include "test_support.h"

namespace slipway::ops {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void Spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class ArchiveTest : public ::testing::TestWithParam<bool> {  // encrypted?
 protected:
  std::string password() const { return GetParam() ? "correct horse battery" : ""; }

  // An archive with a dump-like entry, an empty one and a 3 MB file of random bytes.
  fs::path Make(const std::string& name = "b.slwbak") {
    fs::path path = dir_.path() / name;
    big_.resize(3 << 20);
    std::mt19937 rng(7);
    for (char& c : big_) c = static_cast<char>(rng());
    Spit(dir_.path() / "upload.bin", big_);
    auto w = ArchiveWriter::Create(path, {.password = password()});
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_TRUE((*w)->AddBytes("dump/rows/posts/000001.ndjson", rows_).ok());
    EXPECT_TRUE((*w)->AddBytes("dump/empty", "").ok());
    EXPECT_TRUE((*w)->AddFile("files/uploads/abc.bin", dir_.path() / "upload.bin").ok());
    auto manifest = (*w)->Finish(json::object{{"appVersion", "0.1.0"}, {"dialect", "sqlite"}});
    EXPECT_TRUE(manifest.ok()) << manifest.status().ToString();
    return path;
  }
  Status Read(const fs::path& path, const std::string& pw) {
    return ReadArchive(path, pw).status();
  }

  testing::TempDir dir_;
  std::string big_;
  const std::string rows_ = "{\"id\":1,\"title\":\"héllo\"}\n{\"id\":2,\"title\":null}\n";
};

TEST_P(ArchiveTest, RoundTripsEveryEntryWithItsChecksum) {
  fs::path path = Make();
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".partial"));
  std::map<std::string, std::string> seen;
  auto read = ReadArchive(path, password(), [&](const ArchiveEntry& e, std::string_view data) {
    seen[e.name].append(data);
    return Status::Ok();
  });
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->manifest.at("appVersion"), "0.1.0");
  EXPECT_EQ(read->manifest.at("format").as_int64(), kArchiveFormat);
  EXPECT_EQ(read->manifest.at("encrypted").as_bool(), GetParam());
  ASSERT_EQ(read->entries.size(), 3u);
  EXPECT_EQ(read->entries[0].name, "dump/rows/posts/000001.ndjson");
  EXPECT_EQ(read->entries[0].sha256, core::Sha256Hex(rows_));
  EXPECT_EQ(read->entries[1].size, 0u);
  EXPECT_EQ(read->entries[2].size, big_.size());
  EXPECT_EQ(seen["dump/rows/posts/000001.ndjson"], rows_);
  EXPECT_EQ(seen["files/uploads/abc.bin"], big_);
  EXPECT_LT(read->file_bytes, big_.size() + 4096);  // random bytes do not compress
}

TEST_P(ArchiveTest, AReadingVisitsOnlyTheEntriesItWantsAndStillRefusesDamage) {
  fs::path path = Make();
  std::map<std::string, std::string> seen;
  auto visit = [&](const ArchiveEntry& e, std::string_view data) {
    seen[e.name].append(data);
    return Status::Ok();
  };
  auto files_only = [](const std::string& name) { return name.starts_with("files/"); };
  auto read = ReadArchive(path, password(), visit, {}, files_only);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen["files/uploads/abc.bin"], big_);
  // What it read past is sized but not summed (another reading sums what it uses).
  ASSERT_EQ(read->entries.size(), 3u);
  EXPECT_EQ(read->entries[0].size, rows_.size());
  EXPECT_EQ(read->entries[0].sha256, "");
  EXPECT_EQ(read->entries[2].sha256, core::Sha256Hex(big_));
  // A byte changed in an entry read past is still refused: the archive is checked as a whole.
  std::string bytes = Slurp(path);
  fs::path bad = dir_.path() / "bad.slwbak";
  for (size_t at : {size_t{600}, bytes.size() / 3}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    Spit(bad, flipped);
    EXPECT_FALSE(ReadArchive(bad, password(), visit, {}, files_only).ok()) << "byte " << at;
  }
}

TEST_P(ArchiveTest, EveryDamageIsRefused) {
  fs::path path = Make();
  const std::string good = Slurp(path);
  fs::path bad = dir_.path() / "bad.slwbak";
  // Truncated anywhere.
  for (size_t keep : {good.size() / 2, good.size() - 1, good.size() - 40, size_t{10}}) {
    Spit(bad, good.substr(0, keep));
    Status s = Read(bad, password());
    EXPECT_FALSE(s.ok()) << "truncated to " << keep;
  }
  // One flipped byte anywhere: the first bytes, the middle, the last, and a sweep.
  std::vector<size_t> offsets = {0, 5, 30, good.size() / 2, good.size() - 1, good.size() - 20};
  // (Fewer when encrypted: each read derives the key with Argon2id.)
  const size_t step = good.size() / (GetParam() ? 9 : 37) + 1;
  for (size_t at = 0; at < good.size(); at += step) offsets.push_back(at);
  for (size_t at : offsets) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    Spit(bad, flipped);
    EXPECT_FALSE(Read(bad, password()).ok()) << "byte " << at << " of " << good.size();
  }
  // Foreign and empty files.
  Spit(bad, "");
  EXPECT_NE(Read(bad, password()).message().find("empty"), std::string::npos);
  Spit(bad, "PK\x03\x04 this is a zip file, not a backup");
  EXPECT_NE(Read(bad, password()).message().find("not a Slipway backup"), std::string::npos);
  EXPECT_EQ(Read(dir_.path() / "missing", password()).code(), StatusCode::kNotFound);
  if (GetParam()) {
    EXPECT_EQ(Read(path, "wrong").tag(), "WRONG_PASSWORD");
    EXPECT_EQ(Read(path, "").tag(), "PASSWORD_REQUIRED");
  }
  EXPECT_TRUE(Read(path, password()).ok());  // the original is untouched
}

TEST_P(ArchiveTest, AnUnfinishedWriterLeavesNothingAndNothingIsOverwritten) {
  fs::path path = dir_.path() / "x.slwbak";
  {
    auto w = ArchiveWriter::Create(path, {.password = password()});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->AddBytes("dump/a", "data").ok());
    EXPECT_FALSE((*w)->AddBytes("dump/a", "again").ok());  // twice
    EXPECT_FALSE((*w)->AddBytes("../evil", "x").ok());
    EXPECT_FALSE((*w)->AddBytes("manifest.json", "{}").ok());
    EXPECT_TRUE(fs::exists(path.string() + ".partial"));
  }  // dropped before Finish
  EXPECT_FALSE(fs::exists(path.string() + ".partial"));
  EXPECT_FALSE(fs::exists(path));
  Make("x.slwbak");
  EXPECT_EQ(ArchiveWriter::Create(path, {}).status().code(), StatusCode::kAlreadyExists);
}

INSTANTIATE_TEST_SUITE_P(Plain, ArchiveTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plain"; });

// Archives made by hand, as an attacker or another tool would: tar + zstd with a trailer-less
// stream are refused for that; entries with unsafe names and a forged manifest are refused even
// when the rest is consistent (built by a writer whose names are not checked).
TEST(ArchiveNamesTest, UnsafeNamesAreRefused) {
  for (const char* name : {"../x", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", "a/./b", ""}) {
    EXPECT_EQ(CheckEntryName(name).tag(), "BAD_ENTRY") << name;
  }
  EXPECT_TRUE(CheckEntryName("files/uploads/0a1b.png").ok());
  EXPECT_TRUE(CheckEntryName("dump/rows/posts/000001.ndjson").ok());
}

// Writes a tar + zstd archive by hand (as another tool or an attacker would), with the final
// checksum trailer unless `trailer` is false.
void HandMade(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& entries,
              bool trailer) {
  archive* a = archive_write_new();
  archive_write_add_filter_zstd(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, data] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  if (!trailer) return;
  std::string bytes = Slurp(path);
  std::string hex = core::Sha256Hex(bytes);
  std::string t("\x5E\x2A\x4D\x18\x28\x00\x00\x00SLWBKSUM", 16);
  for (size_t i = 0; i < 32; ++i)
    t.push_back(static_cast<char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16)));
  Spit(path, bytes + t);
}

std::string ManifestOf(const std::vector<std::pair<std::string, std::string>>& entries) {
  json::array list;
  for (const auto& [name, data] : entries) {
    list.push_back(
        json::object{{"name", name}, {"size", data.size()}, {"sha256", core::Sha256Hex(data)}});
  }
  return json::serialize(json::object{{"format", 1}, {"entries", list}});
}

TEST(ArchiveNamesTest, HandMadeArchivesAreCheckedLikeOurs) {
  testing::TempDir dir;
  fs::path path = dir.path() / "hand.tar.zst";
  std::vector<std::pair<std::string, std::string>> good = {{"dump/a", "alpha"}};
  std::string manifest = ManifestOf(good);
  auto with_manifest = [&](std::vector<std::pair<std::string, std::string>> e, const std::string& m,
                           const std::string& sum) {
    e.emplace_back("manifest.json", m);
    e.emplace_back("manifest.sha256", sum);
    return e;
  };
  HandMade(path, with_manifest(good, manifest, core::Sha256Hex(manifest)), true);
  EXPECT_TRUE(ReadArchive(path, "").ok()) << ReadArchive(path, "").status().ToString();

  HandMade(path, with_manifest(good, manifest, core::Sha256Hex(manifest)), false);
  EXPECT_NE(ReadArchive(path, "").status().message().find("final checksum"), std::string::npos);

  std::vector<std::pair<std::string, std::string>> evil = {{"../evil", "x"}};
  std::string evil_manifest = ManifestOf(evil);
  HandMade(path, with_manifest(evil, evil_manifest, core::Sha256Hex(evil_manifest)), true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "BAD_ENTRY");
  std::vector<std::pair<std::string, std::string>> absolute = {{"/etc/cron.d/x", "x"}};
  std::string abs_manifest = ManifestOf(absolute);
  HandMade(path, with_manifest(absolute, abs_manifest, core::Sha256Hex(abs_manifest)), true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "BAD_ENTRY");

  // A manifest changed after its checksum was taken.
  std::string forged = ManifestOf({{"dump/a", "alphx"}});
  HandMade(path, with_manifest(good, forged, core::Sha256Hex(manifest)), true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "BAD_MANIFEST");
  // A consistent manifest that does not match the entry.
  HandMade(path, with_manifest(good, forged, core::Sha256Hex(forged)), true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "BAD_CHECKSUM");
  // An entry the manifest does not list, and one it lists that is missing.
  HandMade(
      path,
      with_manifest({{"dump/a", "alpha"}, {"dump/b", "beta"}}, manifest, core::Sha256Hex(manifest)),
      true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "BAD_ENTRY");
  std::string more = ManifestOf({{"dump/a", "alpha"}, {"dump/c", "gamma"}});
  HandMade(path, with_manifest(good, more, core::Sha256Hex(more)), true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "BAD_ENTRY");
  // A newer format.
  std::string newer = json::serialize(json::object{{"format", 99}, {"entries", json::array{}}});
  HandMade(path, with_manifest({}, newer, core::Sha256Hex(newer)), true);
  EXPECT_EQ(ReadArchive(path, "").status().tag(), "NEWER_FORMAT");
}

// What `backup create --json` prints is what a node reads back from its backup process, and only
// that: its log lines, objects too with LOG_FORMAT=json, are not taken for the summary.
TEST(BackupSummaryTest, ReadsBackTheLineItPrintsAndNoLogLine) {
  BackupSummary made;
  made.path = "/srv/storage/backups/backup_20261203_061500_000.slwbak";
  made.manifest = json::object{{"kind", "backup"}, {"rowCounts", json::object{{"users", 3}}}};
  made.archive_bytes = 4096;
  made.rows = 3;
  made.files = 2;
  auto read = ParseBackupSummary(json::serialize(BackupSummaryJson(made)));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->path, made.path);
  EXPECT_EQ(read->manifest, made.manifest);
  EXPECT_EQ(read->archive_bytes, 4096u);
  EXPECT_EQ(read->rows, 3);
  EXPECT_EQ(read->files, 2u);
  auto odd = ParseBackupSummary(
      R"({"path":"/x.slwbak","manifest":{},"rows":2.5,"bytes":-1e300,"files":-1})");
  ASSERT_TRUE(odd);  // figures that are not counts read as 0, never an exception
  EXPECT_EQ(odd->rows, 0);
  EXPECT_EQ(odd->archive_bytes, 0u);
  EXPECT_EQ(odd->files, 0u);

  for (const char* line :
       {R"({"time":"2026-12-03T06:15:00.000Z","level":"info","node":"n1","msg":"snapshot taken"})",
        R"({"path":"/x.slwbak","rows":1})", R"({"path":7,"manifest":{}})", "progress 3 8 roles",
        "{not json", ""}) {
    EXPECT_FALSE(ParseBackupSummary(line)) << line;
  }
}

}  // namespace
}  // namespace slipway::ops
