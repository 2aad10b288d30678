#include "http/static_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>

#include "http/server.h"
#include "test_support.h"

namespace slipway::http {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string HeaderOf(const Response& r, std::string_view name) {
  for (const Header& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return "";
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() / "root";
    content_ = std::string(1000, '\0');
    for (size_t i = 0; i < content_.size(); ++i) content_[i] = static_cast<char>('a' + i % 26);
    WriteFile(root_ / "f.txt", content_);
    WriteFile(root_ / "sub" / "image.PNG", "png");
    WriteFile(root_ / "empty.bin", "");
    WriteFile(root_ / ".hidden", "secret");
    WriteFile(root_ / ".uploads" / "x.txt", "partial upload");
    WriteFile(dir_.path() / "outside.txt", "outside");
    fs::create_directories(root_ / "dir");
    fs::create_symlink(dir_.path() / "outside.txt", root_ / "link.txt");
    fs::create_symlink(root_ / "sub", root_ / "linkdir");
    fs::create_symlink(root_ / "f.txt", root_ / "inside-link.txt");
  }

  Request Get(std::string path, std::vector<Header> headers = {}) {
    Request r;
    r.method = Method::kGet;
    r.path = std::move(path);
    r.headers = std::move(headers);
    return r;
  }

  testing::TempDir dir_;
  fs::path root_;
  std::string content_;
  StaticFiles files_{dir_.path() / "root", "/files/"};
};

TEST_F(StaticFilesTest, ServesAFileWithItsValidators) {
  EXPECT_TRUE(files_.Matches("/files/f.txt"));
  EXPECT_FALSE(files_.Matches("/files"));
  EXPECT_FALSE(files_.Matches("/filesx/f.txt"));
  Response r = files_.Serve(Get("/files/f.txt"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  ASSERT_TRUE(r.file.has_value());
  EXPECT_EQ(r.file->path, (root_ / "f.txt").string());
  EXPECT_EQ(r.file->offset, 0u);
  EXPECT_EQ(r.file->length, 1000u);
  EXPECT_EQ(HeaderOf(r, "accept-ranges"), "bytes");
  EXPECT_EQ(HeaderOf(r, "x-content-type-options"), "nosniff");
  std::string etag = HeaderOf(r, "etag");
  EXPECT_TRUE(etag.size() > 2 && etag.front() == '"' && etag.back() == '"') << etag;
  EXPECT_NE(etag.find("-3e8-"), std::string::npos) << etag;  // the size, in hex
  std::string date = HeaderOf(r, "last-modified");
  EXPECT_EQ(date.size(), 29u) << date;
  EXPECT_EQ(date.substr(26), "GMT");

  Response image = files_.Serve(Get("/files/sub/image.PNG"));
  EXPECT_EQ(image.status, 200);
  EXPECT_EQ(image.content_type, "image/png");
  Response head = files_.Serve([&] {
    Request h = Get("/files/f.txt", {{"range", "bytes=0-1"}});
    h.method = Method::kHead;  // ranges are for GET only
    return h;
  }());
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.file->length, 1000u);
}

TEST_F(StaticFilesTest, ContentTypes) {
  EXPECT_EQ(MimeTypeForExtension(".png"), "image/png");
  EXPECT_EQ(MimeTypeForExtension(".JPG"), "image/jpeg");
  EXPECT_EQ(MimeTypeForExtension(".pdf"), "application/pdf");
  EXPECT_EQ(MimeTypeForExtension(".svg"), "image/svg+xml");
  EXPECT_EQ(MimeTypeForExtension(".json"), "application/json");
  EXPECT_EQ(MimeTypeForExtension(".xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  EXPECT_EQ(MimeTypeForExtension(".exe"), "application/octet-stream");
  EXPECT_EQ(MimeTypeForExtension(""), "application/octet-stream");
  EXPECT_EQ(files_.Serve(Get("/files/empty.bin")).content_type, "application/octet-stream");
}

struct RangeCase {
  const char* range;
  int status;
  uint64_t offset, length;    // of the file body, for 200/206
  const char* content_range;  // "" for none
};

TEST_F(StaticFilesTest, EveryRangeForm) {
  const RangeCase cases[] = {
      {"bytes=0-99", 206, 0, 100, "bytes 0-99/1000"},
      {"bytes=900-", 206, 900, 100, "bytes 900-999/1000"},
      {"bytes=-100", 206, 900, 100, "bytes 900-999/1000"},
      {"bytes=-5000", 206, 0, 1000, "bytes 0-999/1000"},
      {"bytes=990-5000", 206, 990, 10, "bytes 990-999/1000"},
      {"bytes=999-999", 206, 999, 1, "bytes 999-999/1000"},
      {"BYTES= 10-19 ", 206, 10, 10, "bytes 10-19/1000"},
      {"bytes=5-5,", 206, 5, 1, "bytes 5-5/1000"},
      {"bytes=0-99999999999999999999999", 206, 0, 1000, "bytes 0-999/1000"},
      {"bytes=1000-", 416, 0, 0, "bytes */1000"},
      {"bytes=1000-1001", 416, 0, 0, "bytes */1000"},
      {"bytes=-0", 416, 0, 0, "bytes */1000"},
      {"bytes=0-1,5-6", 200, 0, 1000, ""},  // several ranges: the whole file
      {"bytes=5-1", 200, 0, 1000, ""},      // malformed: ignored
      {"bytes=abc", 200, 0, 1000, ""},
      {"bytes=", 200, 0, 1000, ""},
      {"bytes=1", 200, 0, 1000, ""},
      {"bytes=--1", 200, 0, 1000, ""},
      {"items=0-1", 200, 0, 1000, ""},
  };
  for (const RangeCase& c : cases) {
    Response r = files_.Serve(Get("/files/f.txt", {{"range", c.range}}));
    EXPECT_EQ(r.status, c.status) << c.range;
    EXPECT_EQ(HeaderOf(r, "content-range"), c.content_range) << c.range;
    if (c.status == 416) {
      EXPECT_FALSE(r.file.has_value());
      EXPECT_NE(r.body.find("RANGE_NOT_SATISFIABLE"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(r.file.has_value()) << c.range;
    EXPECT_EQ(r.file->offset, c.offset) << c.range;
    EXPECT_EQ(r.file->length, c.length) << c.range;
  }
}

TEST_F(StaticFilesTest, EmptyFile) {
  Response r = files_.Serve(Get("/files/empty.bin"));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(r.file.has_value());
  EXPECT_EQ(r.file->length, 0u);
  EXPECT_EQ(files_.Serve(Get("/files/empty.bin", {{"range", "bytes=0-"}})).status, 416);
  EXPECT_EQ(files_.Serve(Get("/files/empty.bin", {{"range", "bytes=-1"}})).status, 416);
}

TEST_F(StaticFilesTest, NotModifiedByETagAndByDate) {
  Response first = files_.Serve(Get("/files/f.txt"));
  std::string etag = HeaderOf(first, "etag");
  std::string date = HeaderOf(first, "last-modified");
  for (const std::string& value :
       {etag, "W/" + etag, std::string("*"), "\"other\", " + etag, "\"a\",W/" + etag}) {
    Response r = files_.Serve(Get("/files/f.txt", {{"if-none-match", value}}));
    EXPECT_EQ(r.status, 304) << value;
    EXPECT_FALSE(r.file.has_value());
    EXPECT_EQ(r.content_type, "");
    EXPECT_EQ(HeaderOf(r, "etag"), etag);
  }
  EXPECT_EQ(files_.Serve(Get("/files/f.txt", {{"if-none-match", "\"other\""}})).status, 200);
  EXPECT_EQ(files_.Serve(Get("/files/f.txt", {{"if-modified-since", date}})).status, 304);
  EXPECT_EQ(
      files_.Serve(Get("/files/f.txt", {{"if-modified-since", "Sun, 31 Dec 2034 23:59:59 GMT"}}))
          .status,
      304);
  EXPECT_EQ(
      files_.Serve(Get("/files/f.txt", {{"if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT"}}))
          .status,
      200);
  EXPECT_EQ(files_.Serve(Get("/files/f.txt", {{"if-modified-since", "yesterday"}})).status, 200);
  // If-None-Match wins over If-Modified-Since.
  EXPECT_EQ(
      files_
          .Serve(Get("/files/f.txt", {{"if-none-match", "\"other\""}, {"if-modified-since", date}}))
          .status,
      200);
  // A changed file gets a new ETag.
  WriteFile(root_ / "f.txt", content_ + "more");
  EXPECT_EQ(files_.Serve(Get("/files/f.txt", {{"if-none-match", etag}})).status, 200);
}

TEST_F(StaticFilesTest, IfRangeAppliesTheRangeOnlyToTheSameFile) {
  Response first = files_.Serve(Get("/files/f.txt"));
  std::string etag = HeaderOf(first, "etag");
  std::string date = HeaderOf(first, "last-modified");
  auto status = [&](std::string if_range) {
    return files_.Serve(Get("/files/f.txt", {{"range", "bytes=0-9"}, {"if-range", if_range}}))
        .status;
  };
  EXPECT_EQ(status(etag), 206);
  EXPECT_EQ(status(date), 206);
  EXPECT_EQ(status("\"other\""), 200);
  EXPECT_EQ(status("W/" + etag), 200);  // If-Range needs a strong match
  EXPECT_EQ(status("Mon, 01 Jan 2001 00:00:00 GMT"), 200);
  EXPECT_EQ(status("not a date"), 200);
}

TEST_F(StaticFilesTest, RefusesTraversalDotFilesSymlinksAndNonFilesAs404) {
  const std::string refused[] = {
      "/files/../outside.txt",
      "/files/sub/../f.txt",
      "/files/./f.txt",
      "/files//f.txt",
      "/files/.hidden",
      "/files/.uploads/x.txt",
      "/files/sub/",
      "/files/",
      "/files/dir",
      "/files/link.txt",
      "/files/inside-link.txt",
      "/files/linkdir/image.PNG",
      "/files/f.txt/x",
      "/files/sub\\image.PNG",
      std::string("/files/f.txt\0x", 14),
      "/files/missing.txt",
      "/f.txt",
  };
  for (const std::string& path : refused) {
    Response r = files_.Serve(Get(path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_FALSE(r.file.has_value()) << path;
    EXPECT_NE(r.body.find("NOT_FOUND"), std::string::npos) << path;
  }
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0644), 0);
  EXPECT_EQ(files_.Serve(Get("/files/fifo")).status, 404);  // and returns at once
}

TEST_F(StaticFilesTest, OnlyGetAndHead) {
  Request post = Get("/files/f.txt");
  post.method = Method::kPost;
  Response r = files_.Serve(post);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "allow"), "GET, HEAD");
}

// File responses through a real server: StaticFiles under /files/, and /raw/<name> answered with
// a FileBody for root/<name> whether it exists or not.
class FileHandler : public Handler {
 public:
  explicit FileHandler(fs::path root) : root_(root), files_(root, "/files") {}
  void Handle(Request&& req, Responder respond) override {
    if (files_.Matches(req.path)) {
      respond(files_.Serve(req));
      return;
    }
    Response r;
    r.content_type = "application/octet-stream";
    r.file = FileBody{(root_ / req.path.substr(5)).string(), 0, 10};
    respond(std::move(r));
  }

 private:
  fs::path root_;
  StaticFiles files_;
};

class FileResponseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.threads = 1;
    auto s = Server::Start(options, handler_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
  }
  void TearDown() override { server_->Shutdown(1s); }

  testing::TempDir dir_;
  FileHandler handler_{dir_.path()};
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(FileResponseTest, StreamsAFileLargerThanAnyBuffer) {
  std::string content(20 << 20, '\0');
  std::mt19937_64 random(1);
  for (size_t i = 0; i < content.size(); i += 8) {
    uint64_t v = random();
    std::memcpy(&content[i], &v, 8);
  }
  WriteFile(dir_.path() / "big.bin", content);
  auto r = testing::HttpGet(port_, "/files/big.bin");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["content-length"], std::to_string(content.size()));
  EXPECT_EQ(r.headers["content-type"], "application/octet-stream");
  EXPECT_TRUE(r.body == content) << "the bodies differ (" << r.body.size() << " bytes)";

  auto part = testing::HttpGet(port_, "/files/big.bin", {"Range: bytes=10000000-10000099"});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.headers["content-range"], "bytes 10000000-10000099/20971520");
  EXPECT_TRUE(part.body == content.substr(10000000, 100));
}

TEST_F(FileResponseTest, HeadSendsHeadersOnlyAndKeepsTheConnection) {
  WriteFile(dir_.path() / "a.json", "{\"a\":1}");
  testing::RawConnection c(port_);
  ASSERT_TRUE(
      c.Send("HEAD /files/a.json HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /files/a.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string got = c.ReadAll(2s);
  size_t head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << got;
  std::string head = got.substr(0, head_end);
  EXPECT_NE(head.find("HTTP/1.1 200"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 7"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: application/json"), std::string::npos) << head;
  // The next bytes are the GET's answer: the HEAD sent no body.
  EXPECT_EQ(got.substr(head_end + 4, 12), "HTTP/1.1 200") << got;
  EXPECT_EQ(got.substr(got.size() - 7), "{\"a\":1}");
}

TEST_F(FileResponseTest, NotModifiedHasNoBody) {
  WriteFile(dir_.path() / "a.txt", "hello");
  auto first = testing::HttpGet(port_, "/files/a.txt");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "hello");
  testing::RawConnection c(port_);
  ASSERT_TRUE(
      c.Send("GET /files/a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + first.headers["etag"] +
             "\r\n\r\nGET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string got = c.ReadAll(2s);
  EXPECT_EQ(got.rfind("HTTP/1.1 304", 0), 0u) << got;
  size_t head_end = got.find("\r\n\r\n");
  EXPECT_EQ(got.substr(0, head_end).find("Content-Length"), std::string::npos) << got;
  EXPECT_EQ(got.substr(head_end + 4, 12), "HTTP/1.1 200") << got;
}

TEST_F(FileResponseTest, AFileGoneAtWriteTimeIs404) {
  auto r = testing::HttpGet(port_, "/raw/missing.bin");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("NOT_FOUND"), std::string::npos);
  WriteFile(dir_.path() / "short.bin", "abc");  // shorter than the 10 bytes promised
  EXPECT_EQ(testing::HttpGet(port_, "/raw/short.bin").status, 500);
}

}  // namespace
}  // namespace slipway::http
