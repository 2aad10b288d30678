// `slipway backup create|verify` against a real node, on SQLite and PostgreSQL: a backup taken
// while the node serves writes is one consistent snapshot (each collection's row count matches
// its rows), holds every record as the API renders it (password hashes included), the join
// tables, the plugins' own tables, the uploaded files, and is refused by `verify` once damaged.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "api_client.h"
#include "db/postgres/postgres_connection.h"
#include "db/sqlite/sqlite_connection.h"
#include "one_node.h"
#include "ops/archive.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BackupTest : public OneNodeTest {
 protected:
  RunResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {SLIPWAY_BIN};
    for (auto& a : args) argv.push_back(std::move(a));
    argv.push_back("--storage");
    argv.push_back(storage().string());
    return RunCommand(argv, env_, dir_.path(), 120s);
  }
  // Every entry of an archive, whole (the archives here are small).
  std::map<std::string, std::string> Entries(const fs::path& path, const std::string& pw = "") {
    std::map<std::string, std::string> out;
    auto read = ops::ReadArchive(path, pw, [&](const ops::ArchiveEntry& e, std::string_view d) {
      out[e.name].append(d);
      return Status::Ok();
    });
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    if (read.ok()) out["manifest.json"] = json::serialize(read->manifest);
    return out;
  }
  static std::vector<json::object> Lines(const std::string& ndjson) {
    std::vector<json::object> out;
    size_t start = 0;
    while (start < ndjson.size()) {
      size_t nl = ndjson.find('\n', start);
      out.push_back(json::parse(ndjson.substr(start, nl - start)).as_object());
      start = nl + 1;
    }
    return out;
  }
};

TEST_P(BackupTest, ABackupTakenWhileWritesGoOnHoldsOneConsistentSnapshot) {
  ASSERT_EQ(api_->Post("collections:create", json::parse(R"({"name":"tags","fields":[
      {"name":"name","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("collections:create", json::parse(R"({"name":"posts","fields":[
      {"name":"title","type":"string"},{"name":"meta","type":"json"},
      {"name":"price","type":"decimal","precision":10,"scale":2},
      {"name":"at","type":"date"},{"name":"done","type":"boolean"},
      {"name":"tags","type":"belongsToMany","target":"tags"},
      {"name":"files","type":"attachment"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("tags:create", json::parse(R"([{"name":"ünïcødé ✓"},{"name":"b"}])")).status,
            200);
  ApiResult up = api_->Upload("attachments:create", "file bytes\n", "notes.txt");
  ASSERT_EQ(up.status, 200) << up.body;
  std::string stored(up.data().at("filename").as_string());
  ApiResult first = api_->Post(
      "posts:create", json::parse(R"({"title":"ünïcødé","meta":{"a":[1,null,"x"]},"price":"12.50",
                      "at":"2026-01-02T03:04:05.678+01:00","done":true,"tags":[1,2],"files":[)" +
                                  std::to_string(up.data().at("id").as_int64()) + "]}"));
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(api_->Post("posts:create", json::parse(R"({"title":null})")).status, 200);

  // A removed collection's table waiting for its drop is not part of the backup. (Made by hand,
  // with a removal epoch no node reaches, so that the drop cannot finish before the backup.)
  {
    auto conn = GetParam() ? db::OpenPostgres(pg_->options())
                           : db::OpenSqlite({storage() / "db" / "slipway.sqlite"});
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE((*conn)->ExecScript("CREATE TABLE \"gone\" (\"id\" INTEGER)").ok());
    ASSERT_TRUE((*conn)->ExecScript("INSERT INTO \"gone\" VALUES (1)").ok());
    ASSERT_TRUE((*conn)
                    ->Exec("INSERT INTO slipway_pending_drops (table_name, column_name, epoch, "
                           "statements) VALUES ('gone', '', 1000000000000, '[]')")
                    .ok());
  }

  // Writes go on while the backup runs; every one is answered.
  std::atomic<bool> stop{false};
  std::atomic<int> written{0}, failed{0};
  std::thread writer([&] {
    Api w(node_->port());
    w.set_token(api_->token());
    while (!stop) {
      ApiResult r = w.Post("posts:create", json::parse(R"({"title":"during"})"));
      (r.status == 200 ? written : failed)++;
    }
  });
  std::this_thread::sleep_for(100ms);
  fs::path archive = dir_.path() / "b.slwbak";
  RunResult made = Cli({"backup", "create", "--output", archive.string(), "--note", "test"});
  stop = true;
  writer.join();
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(written.load(), 0);

  auto entries = Entries(archive);
  json::object manifest = json::parse(entries["manifest.json"]).as_object();
  EXPECT_EQ(manifest.at("note"), "test");
  EXPECT_EQ(manifest.at("dialect"), GetParam() ? "postgres" : "sqlite");
  // One snapshot: each collection's count is the number of its rows in the archive.
  for (const auto& [name, count] : manifest.at("rowCounts").as_object()) {
    std::string rows;
    for (const auto& [entry, data] : entries) {
      if (entry.rfind("dump/rows/" + std::string(name) + "/", 0) == 0) rows += data;
    }
    EXPECT_EQ(static_cast<int64_t>(Lines(rows).size()), count.as_int64()) << name;
  }
  // Records as the API renders them.
  std::vector<json::object> posts = Lines(entries["dump/rows/posts/000001.ndjson"]);
  ASSERT_GE(posts.size(), 2u);
  json::value api_first = api_->Get("posts:get?filterByTk=1").data();
  for (const char* field : {"title", "meta", "price", "at", "done", "createdAt"}) {
    EXPECT_EQ(posts[0].at(field), api_first.at(field)) << field;
  }
  EXPECT_TRUE(posts[1].at("title").is_null());
  EXPECT_EQ(Lines(entries["dump/rows/postsTags/000001.ndjson"]).size(), 2u);
  EXPECT_EQ(Lines(entries["dump/rows/attachmentsPosts/000001.ndjson"]).size(), 1u);
  std::vector<json::object> users = Lines(entries["dump/rows/users/000001.ndjson"]);
  EXPECT_EQ(users[0].at("password").as_string().rfind("$argon2id$", 0), 0u);
  EXPECT_FALSE(entries["dump/tables/rolesUsers/000001.ndjson"].empty());
  for (const auto& [entry, data] : entries)
    EXPECT_EQ(entry.find("gone"), std::string::npos) << entry;
  EXPECT_EQ(entries["files/uploads/" + stored], "file bytes\n");
  json::object schema = json::parse(entries["dump/schema.json"]).as_object();
  EXPECT_GE(schema.at("collections").as_array().size(), 4u);  // tags, posts and their joins
  EXPECT_FALSE(schema.at("plugins").as_array().empty());

  RunResult verified = Cli({"backup", "verify", archive.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  // One flipped byte: refused, naming it.
  std::string bytes;
  {
    std::ifstream in(archive, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  fs::path damaged = dir_.path() / "damaged.slwbak";
  std::ofstream(damaged, std::ios::binary) << bytes;
  RunResult refused = Cli({"backup", "verify", damaged.string()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE((refused.out + refused.err).find("damaged"), std::string::npos) << refused.err;
}

TEST_P(BackupTest, EncryptedAndWithoutFiles) {
  ASSERT_EQ(api_->Upload("attachments:create", "x", "x.txt").status, 200);
  fs::path pw = dir_.path() / "pw";
  std::ofstream(pw) << "s3cret passphrase\n";
  fs::path archive = dir_.path() / "e.slwbak";
  RunResult made = Cli({"backup", "create", "--output", archive.string(), "--no-files",
                        "--password-file", pw.string()});
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  auto entries = Entries(archive, "s3cret passphrase");
  for (const auto& [name, data] : entries) EXPECT_NE(name.rfind("files/", 0), 0u) << name;
  EXPECT_EQ(Cli({"backup", "verify", archive.string(), "--password-file", pw.string()}).exit_code,
            0);
  std::ofstream(pw) << "wrong\n";
  RunResult wrong = Cli({"backup", "verify", archive.string(), "--password-file", pw.string()});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE((wrong.out + wrong.err).find("password is wrong"), std::string::npos) << wrong.err;
  RunResult none = Cli({"backup", "verify", archive.string()});
  EXPECT_NE((none.out + none.err).find("encrypted"), std::string::npos) << none.err;
  // The default place and name.
  RunResult default_place = Cli({"backup", "create"});
  ASSERT_EQ(default_place.exit_code, 0) << default_place.err;
  int found = 0;
  for (const auto& e : fs::directory_iterator(storage() / "backups")) {
    found += e.path().filename().string().rfind("backup_", 0) == 0;
  }
  EXPECT_EQ(found, 1);
  RunResult listed = Cli({"backup", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out.rfind("backup_", 0), 0u) << listed.out;
  EXPECT_NE(listed.out.find(".slwbak"), std::string::npos) << listed.out;
}

// The process that makes a node's backup: a child of the node running `backup create`.
std::optional<int> BackupProcess(const fs::path& storage) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string pid = e.path().filename().string();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find("--report-progress") != std::string::npos &&
        cmdline.find(storage.string()) != std::string::npos) {
      return std::stoi(pid);
    }
  }
  return std::nullopt;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_P(BackupTest, ANodeMakesItsBackupsInAProcessOfItsOwnThatACancelEnds) {
  MakeBulkCollection("bulk", 300000);
  if (HasFatalFailure()) return;
  ApiResult made = api_->Post("backups:create", json::object{{"password", "task pass"}});
  ASSERT_EQ(made.status, 202) << made.body;
  const std::string task(made.data().at("taskId").as_string());

  // Requests first: a session of its own, the lowest weight, idle threads.
  std::optional<int> pid;
  for (int i = 0; i < 400 && !pid; ++i) {
    pid = BackupProcess(storage());
    if (!pid) std::this_thread::sleep_for(25ms);
  }
  ASSERT_TRUE(pid) << "no backup process seen";
  const fs::path proc = "/proc/" + std::to_string(*pid);
  std::string stat = ReadText(proc / "stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string state, ppid, pgrp, session;
  fields >> state >> ppid >> pgrp >> session;
  EXPECT_EQ(session, std::to_string(*pid));
  EXPECT_EQ(ppid, std::to_string(node_->process().pid()));
  if (ReadText("/proc/sys/kernel/sched_autogroup_enabled").starts_with("1")) {
    EXPECT_NE(ReadText(proc / "autogroup").find("nice 19"), std::string::npos);
  }
  EXPECT_NE(ReadText(proc / "sched")
                .find("policy                                       :"
                      "                    5"),
            std::string::npos)
      << ReadText(proc / "sched");

  // Cancelled: the process is gone, and so is what it was writing.
  ApiResult stop = api_->Post("asyncTasks:stop?filterByTk=" + task);
  ASSERT_EQ(stop.status, 202) << stop.body;  // asked of the running task
  std::string final_state;
  for (int i = 0; i < 400; ++i) {
    final_state =
        std::string(api_->Get("asyncTasks:get?filterByTk=" + task).data().at("state").as_string());
    if (final_state != "running" && final_state != "queued") break;
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_EQ(final_state, "cancelled");
  EXPECT_FALSE(fs::exists(proc / "stat"));
  for (const auto& e : fs::directory_iterator(storage() / "backups")) {
    ADD_FAILURE() << "left behind: " << e.path();
  }

  // To its end: encrypted with the task's password, which leaves no file behind; the task's
  // result carries the figures the process reported.
  ApiResult again = api_->Post("backups:create", json::object{{"password", "task pass"}});
  ASSERT_EQ(again.status, 202) << again.body;
  const std::string name(again.data().at("name").as_string());
  const std::string again_task(again.data().at("taskId").as_string());
  for (int i = 0; i < 2400; ++i) {
    ApiResult status = api_->Get("backups:taskStatus?names=" + name);
    if (status.status == 200 && !status.data().at(name).at("inProgress").as_bool()) break;
    std::this_thread::sleep_for(25ms);
  }
  ApiResult done = api_->Get("asyncTasks:get?filterByTk=" + again_task);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.data().at("state").as_string(), "succeeded") << done.body;
  const json::value* result = done.data().as_object().if_contains("result");
  ASSERT_TRUE(result && result->is_object()) << done.body;
  EXPECT_GE(result->at("rows").to_number<int64_t>(), 300000) << done.body;
  EXPECT_EQ(result->at("size").to_number<uint64_t>(), fs::file_size(storage() / "backups" / name));
  auto entries = Entries(storage() / "backups" / name, "task pass");
  EXPECT_TRUE(entries.count("dump/rows/bulk/000001.ndjson")) << entries.size();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(storage() / "backups")) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_EQ(files, std::vector<std::string>{name});
}

INSTANTIATE_TEST_SUITE_P(Dialects, BackupTest, ::testing::Values(false, true), DialectParamName);

}  // namespace
}  // namespace slipway::testing
