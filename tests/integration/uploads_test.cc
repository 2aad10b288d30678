// Attachments end to end against the real binary: uploads (small, empty, a 2 GB sparse file
// streamed with curl, one interrupted mid-body), the files served at /storage/uploads with
// their type, length, ranges and ETag, attachment fields on records, removal with the record,
// and the refusals (a path in the name, over the limit, a type not allowed, no sign-in), on
// SQLite and PostgreSQL, and through three nodes sharing the storage directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "api_client.h"
#include "local_cluster.h"
#include "one_node.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

json::value J(std::string_view text) { return json::parse(text); }

// What <storage>/uploads holds: final files and temporary ones (".upload-...").
std::vector<std::string> Listing(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Waits until `dir` lists exactly `want` (removals happen just after the answer).
bool WaitForListing(const fs::path& dir, const std::vector<std::string>& want) {
  for (int i = 0; i < 100; ++i) {
    if (Listing(dir) == want) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// The peak resident memory of a process (VmHWM), in KiB.
int64_t PeakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

class UploadsTest : public OneNodeTest {
 protected:
  fs::path uploads() const { return storage() / "uploads"; }
  void Settings(const std::string& options) {
    ApiResult r =
        api_->Post("pm:update?filterByTk=file-manager", J(R"({"options":)" + options + "}"));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  int64_t CountAttachments() {
    return api_->Get("attachments:list").json.at("meta").at("count").as_int64();
  }
};

TEST_P(UploadsTest, UploadedFilesAreServedAndGoWithTheirRecords) {
  const std::string text = "hello, slipway\n";
  ApiResult up = api_->Upload("attachments:create", text, "notes.TXT");
  ASSERT_EQ(up.status, 200) << up.body;
  const json::value& a = up.data();
  EXPECT_EQ(a.at("title"), "notes");
  EXPECT_EQ(a.at("extname"), ".txt");
  EXPECT_EQ(a.at("size").as_int64(), static_cast<int64_t>(text.size()));
  EXPECT_EQ(a.at("mimetype"), "text/plain");  // from the extension: the part said octet-stream
  EXPECT_EQ(a.at("storageId").as_int64(), 1);
  std::string filename(a.at("filename").as_string());
  std::string url(a.at("url").as_string());
  EXPECT_EQ(url, "/storage/uploads/" + filename);
  EXPECT_EQ(a.at("meta").at("sha256").as_string().size(), 64u);

  HttpResult got = HttpGet(node_->port(), url);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, text);
  EXPECT_EQ(got.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(got.headers["content-length"], std::to_string(text.size()));
  EXPECT_EQ(got.headers["accept-ranges"], "bytes");
  const std::string etag = got.headers["etag"];
  ASSERT_FALSE(etag.empty());
  HttpResult range = HttpGet(node_->port(), url, {"Range: bytes=7-13"});
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, "slipway");
  EXPECT_EQ(range.headers["content-range"], "bytes 7-13/" + std::to_string(text.size()));
  EXPECT_EQ(HttpGet(node_->port(), url, {"Range: bytes=99-"}).status, 416);
  EXPECT_EQ(HttpGet(node_->port(), url, {"If-None-Match: " + etag}).status, 304);
  EXPECT_EQ(HttpGet(node_->port(), "/storage/uploads/missing.txt").status, 404);
  EXPECT_EQ(HttpGet(node_->port(), "/storage/uploads/../db/slipway.sqlite").status, 404);

  ApiResult empty = api_->Upload("attachments:create", "", "empty.bin");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(empty.data().at("size").as_int64(), 0);
  HttpResult empty_got = HttpGet(node_->port(), std::string(empty.data().at("url").as_string()));
  EXPECT_EQ(empty_got.status, 200);
  EXPECT_EQ(empty_got.headers["content-length"], "0");

  // An attachment field: a post with files, listed with them appended.
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"posts","fields":[
      {"name":"title","type":"string"},{"name":"files","type":"attachment"}]})"))
                .status,
            200);
  int64_t id = a.at("id").as_int64();
  ASSERT_EQ(
      api_->Post("posts:create", J(R"({"title":"with file","files":[)" + std::to_string(id) + "]}"))
          .status,
      200);
  ApiResult listed = api_->Get("posts:list?appends=files");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.data().at(0).at("files").at(0).at("url").as_string(), url);

  // Destroying the record removes its file (once the destroy committed); the other stays.
  std::string empty_name(empty.data().at("filename").as_string());
  ASSERT_EQ(api_->Post("attachments:destroy?filterByTk=" + std::to_string(id)).status, 200);
  EXPECT_TRUE(WaitForListing(uploads(), {empty_name}))
      << ::testing::PrintToString(Listing(uploads()));
  EXPECT_EQ(HttpGet(node_->port(), url).status, 404);
  EXPECT_EQ(api_->Get("posts:list?appends=files").data().at(0).at("files").as_array().size(), 0u);
}

TEST_P(UploadsTest, RefusedUploadsLeaveNothing) {
  Settings(R"({"maxFileSize": 1000, "allowedMimeTypes": "image/*, application/pdf"})");
  const std::vector<std::string> before = Listing(uploads());
  struct Case {
    std::string name, bytes;
    int status;
    std::string says;
  };
  const std::string nul("a\0b.png", 7);
  for (const Case& c : std::vector<Case>{
           {"../../etc/passwd.png", "x", 400, "contains a path"},
           {"/etc/passwd.png", "x", 400, "contains a path"},
           {R"(a\\b.png)", "x", 400, "contains a path"},  // quoted-pair: a\b.png
           {nul, "x", 400, "control character"},
           {"..", "x", 400, "not a file name"},
           {"big.png", std::string(1001, 'x'), 413, "larger than the limit of 1000 bytes"},
           {"script.sh", "#!/bin/sh", 400, "not allowed"},
           {"page.html", "<html>", 400, "not allowed"},
       }) {
    ApiResult r = api_->Upload("attachments:create", c.bytes, c.name);
    EXPECT_EQ(r.status, c.status) << c.name << " -> " << r.body;
    EXPECT_NE(r.message().find(c.says), std::string::npos) << c.name << " -> " << r.body;
  }
  // Far over the limit, announced: refused before the body is read.
  {
    RawConnection c(node_->port());
    ASSERT_TRUE(
        c.Send("POST /api/attachments:create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
               api_->token() +
               "\r\nContent-Type: multipart/form-data; boundary=b\r\n"
               "Content-Length: 5000000\r\n\r\n"));
    std::string answer = c.ReadResponse(5s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  }
  // Without signing in: refused before the body is read.
  Api anonymous(node_->port());
  EXPECT_EQ(anonymous.Upload("attachments:create", "x", "a.png").status, 401);
  // Not an upload at all.
  ApiResult json_body = api_->Post("attachments:create", J(R"({"title":"x"})"));
  EXPECT_EQ(json_body.status, 400) << json_body.body;
  EXPECT_EQ(api_->Upload("attachments:create", "x", "a.png", "other").status, 400);

  EXPECT_EQ(Listing(uploads()), before);
  EXPECT_EQ(CountAttachments(), 0);
  ApiResult ok = api_->Upload("attachments:create", "%PDF-1.4", "doc.pdf");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.data().at("mimetype"), "application/pdf");
}

TEST_P(UploadsTest, AnUploadInterruptedMidBodyLeavesNoFile) {
  const std::vector<std::string> before = Listing(uploads());
  {
    RawConnection c(node_->port());
    ASSERT_TRUE(c.connected());
    std::string head =
        "POST /api/attachments:create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
        api_->token() +
        "\r\nContent-Type: multipart/form-data; boundary=bb\r\nContent-Length: 10000000\r\n\r\n"
        "--bb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.bin\"\r\n\r\n";
    ASSERT_TRUE(c.Send(head + std::string(1 << 20, 'x')));
    std::this_thread::sleep_for(200ms);  // part of the file is on disk, under a temporary name
  }                                      // the client goes away
  EXPECT_TRUE(WaitForListing(uploads(), before)) << ::testing::PrintToString(Listing(uploads()));
  EXPECT_EQ(CountAttachments(), 0);
  EXPECT_TRUE(node_->WaitHealthy(5s));
}

// kill -9 in the middle of an upload: what is on disk is a temporary dot file, never served and
// never under a final name; the node starts again and serves as before.
TEST_P(UploadsTest, ANodeKilledMidUploadLeavesNoFileUnderAFinalName) {
  const std::vector<std::string> before = Listing(uploads());
  RawConnection c(node_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(
      "POST /api/attachments:create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + api_->token() +
      "\r\nContent-Type: multipart/form-data; boundary=bb\r\nContent-Length: 10000000\r\n\r\n"
      "--bb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n" +
      std::string(1 << 20, 'x')));
  std::vector<std::string> during;
  for (int i = 0; i < 100 && during.size() <= before.size(); ++i) {
    std::this_thread::sleep_for(20ms);
    during = Listing(uploads());
  }
  node_->process().Signal(SIGKILL);
  node_->process().Wait(5s);
  std::vector<std::string> left = Listing(uploads());
  ASSERT_EQ(left.size(), before.size() + 1) << ::testing::PrintToString(left);
  std::string temporary;
  for (const std::string& name : left) {
    if (std::find(before.begin(), before.end(), name) == before.end()) temporary = name;
  }
  EXPECT_EQ(temporary.rfind(".upload-", 0), 0u) << temporary;

  StartNode("again");
  EXPECT_EQ(HttpGet(node_->port(), "/storage/uploads/" + temporary).status, 404);
  EXPECT_EQ(CountAttachments(), 0);
  EXPECT_EQ(api_->Upload("attachments:create", "after", "after.txt").status, 200);
}

// A 2 GB file (sparse on the client's side) streamed by curl: the server writes it as it
// arrives, its memory stays flat, and the file is served back. SQLite only: the database plays
// no part in streaming.
TEST_P(UploadsTest, ATwoGigabyteUploadStreamsWithFlatMemory) {
  if (GetParam()) GTEST_SKIP() << "the same on SQLite; streaming does not involve the database";
  Settings(R"({"maxFileSize": 3000000000})");
  const uint64_t size = 2ull << 30;
  fs::path source = dir_.path() / "sparse.bin";
  {
    int fd = ::open(source.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
  }
  int64_t before_kib = PeakRssKiB(node_->process().pid());
  RunResult curl =
      RunCommand({"/usr/bin/curl", "-sS", "-H", "Authorization: Bearer " + api_->token(), "-F",
                  "file=@" + source.string(),
                  "http://127.0.0.1:" + std::to_string(node_->port()) + "/api/attachments:create"},
                 {}, dir_.path(), 300s);
  fs::remove(source);
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  json::value answer = json::parse(curl.out);
  ASSERT_TRUE(answer.as_object().contains("data")) << curl.out;
  EXPECT_EQ(answer.at("data").at("size").as_int64(), static_cast<int64_t>(size));
  int64_t peak_kib = PeakRssKiB(node_->process().pid());
  std::cout << "[ upload  ] 2 GiB: server peak RSS " << before_kib / 1024 << " MiB before, "
            << peak_kib / 1024 << " MiB after" << std::endl;
  EXPECT_LT(peak_kib - before_kib, 64 * 1024) << "the upload grew the server's memory";
  std::string url(answer.at("data").at("url").as_string());
  HttpResult tail = HttpGet(node_->port(), url, {"Range: bytes=-8"});
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, std::string(8, '\0'));
  ASSERT_EQ(api_->Post("attachments:destroy?filterByTk=" +
                       std::to_string(answer.at("data").at("id").as_int64()))
                .status,
            200);
  EXPECT_TRUE(WaitForListing(uploads(), {}));  // 2 GB freed
}

INSTANTIATE_TEST_SUITE_P(Dialects, UploadsTest, ::testing::Values(false, true), DialectParamName);

// Three nodes sharing one PostgreSQL and one storage directory: a file uploaded through node 1
// is served by node 3 at once, and destroyed through node 2.
TEST(UploadsClusterTest, AFileUploadedThroughOneNodeIsServedByAnother) {
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  const std::string bytes(300000, 'z');
  ApiResult up = cluster.api(1).Upload("attachments:create", bytes, "data.csv");
  ASSERT_EQ(up.status, 200) << up.body;
  std::string url(up.data().at("url").as_string());
  HttpResult served = HttpGet(cluster.node(3).port(), url);
  EXPECT_EQ(served.status, 200);
  EXPECT_EQ(served.body, bytes);
  EXPECT_EQ(served.headers["content-type"], "text/csv; charset=utf-8");
  EXPECT_EQ(cluster.api(3).Get("attachments:list").json.at("meta").at("count").as_int64(), 1);
  std::string id = std::to_string(up.data().at("id").as_int64());
  ASSERT_EQ(cluster.api(2).Post("attachments:destroy?filterByTk=" + id).status, 200);
  EXPECT_TRUE(WaitForListing(cluster.storage() / "uploads", {}));
  EXPECT_EQ(HttpGet(cluster.node(1).port(), url).status, 404);
  cluster.StopAll();
}

}  // namespace
}  // namespace slipway::testing
