#include "http/upload_sink.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "http/error_response.h"
#include "http/server.h"
#include "test_support.h"

namespace slipway::http {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kType = "multipart/form-data; boundary=XyZ";

std::string FilePart(const std::string& field, const std::string& filename,
                     const std::string& data) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"" + filename +
         "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + "\r\n";
}
std::string FieldPart(const std::string& field, const std::string& value) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"" + field + "\"\r\n\r\n" + value + "\r\n";
}
const std::string kClose = "--XyZ--\r\n";

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string hex;
  for (unsigned char c : digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

// Binary data with CR, LF and boundary-like bytes, `n` bytes long.
std::string Payload(size_t n) {
  std::string out;
  // Prefixes of the delimiter "\r\n--XyZ", never the whole of it.
  const std::string pattern = std::string("\r\n--XyY\0\xff", 10) + "\r\n--Xy!\r\n-";
  uint32_t x = 12345;
  while (out.size() < n) {
    x = x * 1103515245 + 12345;
    if (x % 7 == 0) {
      out += pattern;
    } else {
      out += static_cast<char>(x >> 24);
    }
  }
  out.resize(n);
  return out;
}

size_t EntriesIn(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it) ++n;
  return n;
}

// True once `dir` is empty (the server drops a sink on its own thread).
bool BecomesEmpty(const fs::path& dir, std::chrono::milliseconds timeout = 2s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (EntriesIn(dir) > 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class UploadSinkTest : public ::testing::Test {
 protected:
  UploadOptions Options() {
    UploadOptions o;
    o.temp_dir = dir_.path() / "storage" / ".tmp";
    return o;
  }
  fs::path temp() const { return dir_.path() / "storage" / ".tmp"; }

  testing::TempDir dir_;
};

TEST_F(UploadSinkTest, StreamsFilesToDiskAndKeepsFields) {
  const std::string data = Payload(300'000);
  const std::string body = FieldPart("title", "A title") + FilePart("file", "a.bin", data) +
                           FieldPart("title", "replaced") + FieldPart("x", "") + kClose;
  UploadOptions options = Options();
  options.max_files = 2;
  auto sink = UploadSink::Create(kType, options);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(temp().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  for (size_t pos = 0; pos < body.size(); pos += 7919) {
    ASSERT_TRUE((*sink)->Write(std::string_view(body).substr(pos, 7919)).ok());
  }
  ASSERT_TRUE((*sink)->Finish().ok());
  ASSERT_EQ((*sink)->files().size(), 1u);
  const UploadedFile& f = (*sink)->files()[0];
  EXPECT_EQ(f.field, "file");
  EXPECT_EQ(f.filename, "a.bin");
  EXPECT_EQ(f.content_type, "application/octet-stream");
  EXPECT_EQ(f.size, data.size());
  EXPECT_EQ(f.sha256_hex, Sha256Hex(data));
  EXPECT_EQ(f.temp_path.parent_path(), temp());
  EXPECT_EQ(f.temp_path.filename().string().rfind(".upload-", 0), 0u);
  EXPECT_EQ(f.temp_path.filename().string().size(), 8u + 32u);
  EXPECT_TRUE(testing::ReadFile(f.temp_path) == data);
  EXPECT_EQ(::stat(f.temp_path.c_str(), &st), 0);
  EXPECT_EQ(
      st.st_mode & 0777, 0644u & ~[] {
        mode_t m = ::umask(0);
        ::umask(m);
        return m;
      }());
  EXPECT_EQ((*sink)->fields().at("title"), "replaced");
  EXPECT_EQ((*sink)->fields().at("x"), "");

  fs::path final_path = dir_.path() / "storage" / "kept.bin";
  ASSERT_TRUE((*sink)->Claim(0, final_path).ok());
  EXPECT_EQ((*sink)->Claim(0, final_path).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*sink)->Claim(1, final_path).code(), StatusCode::kInvalidArgument);
  sink->reset();
  EXPECT_TRUE(testing::ReadFile(final_path) == data);
  EXPECT_EQ(EntriesIn(temp()), 0u);
}

TEST_F(UploadSinkTest, RemovesUnclaimedFiles) {
  UploadOptions options = Options();
  options.max_files = 3;
  auto sink = UploadSink::Create(kType, options);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write(FilePart("a", "1", "one") + FilePart("b", "2", "two")).ok());
  EXPECT_EQ(EntriesIn(temp()), 2u);
  EXPECT_EQ((*sink)->Claim(0, dir_.path() / "x").code(),
            StatusCode::kInvalidArgument);  // unfinished
  sink->reset();                            // interrupted: never finished
  EXPECT_EQ(EntriesIn(temp()), 0u);

  auto finished = UploadSink::Create(kType, options);
  ASSERT_TRUE(finished.ok());
  ASSERT_TRUE((*finished)->Write(FilePart("a", "1", "one") + FilePart("b", "2", "") + kClose).ok());
  ASSERT_TRUE((*finished)->Finish().ok());
  EXPECT_EQ((*finished)->files()[1].size, 0u);
  EXPECT_EQ((*finished)->files()[1].sha256_hex, Sha256Hex(""));
  ASSERT_TRUE((*finished)->Claim(1, dir_.path() / "b").ok());
  finished->reset();
  EXPECT_EQ(EntriesIn(temp()), 0u);
  EXPECT_TRUE(fs::exists(dir_.path() / "b"));
}

TEST_F(UploadSinkTest, Limits) {
  UploadOptions options = Options();
  options.max_file_bytes = 10;
  options.max_field_bytes = 8;
  auto sink = UploadSink::Create(kType, options);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write(FilePart("f", "ten.bin", "0123456789")).ok());  // exactly the limit
  Status second = (*sink)->Write(FilePart("g", "two.bin", "x"));
  EXPECT_EQ(second.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(second.message().find("at most 1 file"), std::string::npos) << second.message();

  auto big = UploadSink::Create(kType, options);
  ASSERT_TRUE(big.ok());
  Status too_big = (*big)->Write(FilePart("f", "big.bin", "0123456789A"));
  EXPECT_EQ(too_big.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(too_big.message(), "the file 'big.bin' is larger than the limit of 10 bytes");

  auto fields = UploadSink::Create(kType, options);
  ASSERT_TRUE(fields.ok());
  ASSERT_TRUE((*fields)->Write(FieldPart("a", "1234") + FieldPart("b", "1234")).ok());
  Status too_many = (*fields)->Write(FieldPart("c", "1"));
  EXPECT_EQ(too_many.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_many.message().find("8 bytes"), std::string::npos);

  EXPECT_EQ(UploadSink::Create("application/json", options).status().code(),
            StatusCode::kInvalidArgument);
  auto truncated = UploadSink::Create(kType, options);
  ASSERT_TRUE(truncated.ok());
  ASSERT_TRUE((*truncated)->Write(FilePart("f", "a", "abc")).ok());
  EXPECT_EQ((*truncated)->Finish().code(), StatusCode::kInvalidArgument);
  big->reset();
  sink->reset();
  truncated->reset();
  EXPECT_EQ(EntriesIn(temp()), 0u);
}

// Plans uploads through a real server: /upload streams into an UploadSink (limit `limit`),
// /reject is refused from its head; the handler answers "<size> <sha256> <fields>" and claims
// the file to /kept when the query says so.
class UploadHandler : public Handler {
 public:
  UploadOptions options;
  uint64_t limit = 1 << 30;
  std::atomic<int> handled{0};

  BodyPlan PlanBody(const Request& head) override {
    BodyPlan plan;
    if (head.path == "/reject") {
      plan.reject = ErrorResponse(PermissionDenied("no uploads here"));
    } else if (head.path == "/upload") {
      auto sink = UploadSink::Create(head.header("content-type"), options);
      if (!sink.ok()) {
        plan.reject = ErrorResponse(sink.status());
      } else {
        plan.sink = *sink;
        plan.limit = limit;
      }
    }
    return plan;
  }

  void Handle(Request&& req, Responder respond) override {
    handled++;
    auto* sink = dynamic_cast<UploadSink*>(req.sink.get());
    if (sink == nullptr) {
      respond(Response::Text(200, "buffered:" + req.body));
      return;
    }
    std::string answer;
    for (const UploadedFile& f : sink->files()) {
      answer += std::to_string(f.size) + " " + f.sha256_hex + " ";
    }
    for (const auto& [k, v] : sink->fields()) answer += k + "=" + v + ";";
    if (req.query == "keep") {
      Status claimed = sink->Claim(0, options.temp_dir.parent_path() / "kept");
      if (!claimed.ok()) answer += claimed.ToString();
    }
    respond(Response::Text(200, answer));
  }
};

class UploadServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    handler_.options.temp_dir = temp();
    handler_.options.max_file_bytes = 64 << 20;
    options.threads = 1;
    options.body_limit_bytes = 1024;  // the buffered path's limit, far below the uploads
    auto s = Server::Start(options, handler_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) server_->Shutdown(1s);
  }
  fs::path temp() const { return dir_.path() / ".uploads"; }
  std::string Head(const std::string& target, const std::string& extra) {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + kType + "\r\n" + extra +
           "\r\n";
  }

  testing::TempDir dir_;
  UploadHandler handler_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(UploadServerTest, StreamsAContentLengthUpload) {
  Start();
  const std::string data = Payload(5 << 20);
  const std::string body = FieldPart("name", "big") + FilePart("file", "big.bin", data) + kClose;
  auto r = testing::HttpRequest(port_, "POST", "/upload?keep", body, {"Content-Type: " + kType});
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.body, std::to_string(data.size()) + " " + Sha256Hex(data) + " name=big;");
  EXPECT_TRUE(testing::ReadFile(dir_.path() / "kept") == data);
  EXPECT_EQ(EntriesIn(temp()), 0u);
  // The buffered path is unchanged.
  EXPECT_EQ(testing::HttpRequest(port_, "POST", "/other", "small").body, "buffered:small");
}

TEST_F(UploadServerTest, StreamsAChunkedUploadSentInPieces) {
  Start();
  const std::string data = Payload(200'000);
  const std::string body = FilePart("file", "c.bin", data) + kClose;
  testing::RawConnection c(port_);
  ASSERT_TRUE(c.Send(Head("/upload", "Transfer-Encoding: chunked\r\n")));
  for (size_t pos = 0; pos < body.size(); pos += 30'000) {
    std::string piece = body.substr(pos, 30'000);
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
    ASSERT_TRUE(c.Send(size + piece + "\r\n"));
  }
  ASSERT_TRUE(c.Send("0\r\n\r\n"));
  std::string got = c.ReadResponse(5s);
  EXPECT_NE(got.find("200 OK"), std::string::npos) << got;
  EXPECT_NE(got.find(std::to_string(data.size()) + " " + Sha256Hex(data)), std::string::npos)
      << got;
  EXPECT_TRUE(BecomesEmpty(temp()));
}

TEST_F(UploadServerTest, ContinuesOnlyWhenThePlanAccepts) {
  Start();
  const std::string body = FilePart("file", "a.txt", "hello") + kClose;
  testing::RawConnection ok(port_);
  ASSERT_TRUE(ok.Send(Head("/upload", "Content-Length: " + std::to_string(body.size()) +
                                          "\r\nExpect: 100-continue\r\n")));
  EXPECT_NE(ok.ReadAll(300ms).find("100 Continue"), std::string::npos);
  ASSERT_TRUE(ok.Send(body));
  EXPECT_NE(ok.ReadResponse(2s).find("5 " + Sha256Hex("hello")), std::string::npos);

  testing::RawConnection refused(port_);
  ASSERT_TRUE(refused.Send(Head("/reject", "Content-Length: 1000000\r\nExpect: 100-continue\r\n")));
  std::string got = refused.ReadAll(2s);  // until the server closes
  EXPECT_EQ(got.find("100 Continue"), std::string::npos) << got;
  EXPECT_EQ(got.rfind("HTTP/1.1 403", 0), 0u) << got;
  EXPECT_NE(got.find("no uploads here"), std::string::npos) << got;
  EXPECT_EQ(handler_.handled.load(), 1);
}

TEST_F(UploadServerTest, OverTheLimitIs413AndLeavesNothing) {
  handler_.limit = 100'000;
  Start();
  // Announced: refused before reading, without 100 Continue.
  testing::RawConnection announced(port_);
  ASSERT_TRUE(
      announced.Send(Head("/upload", "Content-Length: 100001\r\nExpect: 100-continue\r\n")));
  std::string got = announced.ReadAll(2s);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_NE(got.find("larger than the limit of 100000 bytes"), std::string::npos) << got;

  // Chunked: refused when it grows past the limit, with the file part begun.
  const std::string body = FilePart("file", "c.bin", Payload(150'000)) + kClose;
  testing::RawConnection chunked(port_);
  ASSERT_TRUE(chunked.Send(Head("/upload", "Transfer-Encoding: chunked\r\n")));
  for (size_t pos = 0; pos < body.size(); pos += 10'000) {
    std::string piece = body.substr(pos, 10'000);
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
    if (!chunked.Send(size + piece + "\r\n")) break;  // the server may have closed already
  }
  got = chunked.ReadAll(2s);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_NE(got.find("PAYLOAD_TOO_LARGE"), std::string::npos) << got;
  EXPECT_TRUE(BecomesEmpty(temp()));

  // The sink's own limit: a file over max_file_bytes.
  handler_.options.max_file_bytes = 1000;
  auto r = testing::HttpRequest(port_, "POST", "/upload",
                                FilePart("file", "f.bin", Payload(5000)) + kClose,
                                {"Content-Type: " + kType});
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("the file 'f.bin' is larger than the limit of 1000 bytes"),
            std::string::npos)
      << r.body;
  EXPECT_TRUE(BecomesEmpty(temp()));
  auto bad = testing::HttpRequest(port_, "POST", "/upload", "--XyZ\r\nbroken\r\n\r\n" + kClose,
                                  {"Content-Type: " + kType});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("malformed header line"), std::string::npos) << bad.body;
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(UploadServerTest, AClientThatLeavesMidBodyLeavesNothing) {
  Start();
  {
    testing::RawConnection c(port_);
    ASSERT_TRUE(c.Send(Head("/upload", "Content-Length: 1000000\r\n") +
                       FilePart("file", "a.bin", Payload(50'000)).substr(0, 40'000)));
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (EntriesIn(temp()) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_EQ(EntriesIn(temp()), 1u);  // the file part began
  }                                    // closes the connection
  EXPECT_TRUE(BecomesEmpty(temp()));
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(UploadServerTest, TheBodyTimeoutIsPerChunkNotPerBody) {
  ServerOptions options;
  options.body_timeout = 300ms;
  Start(options);
  const std::string body = FilePart("file", "slow.bin", Payload(5000)) + kClose;
  testing::RawConnection slow(port_);
  ASSERT_TRUE(
      slow.Send(Head("/upload", "Content-Length: " + std::to_string(body.size()) + "\r\n")));
  // Five pieces 150 ms apart: 750 ms in all, more than the timeout, never silent that long.
  for (size_t i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(slow.Send(
        body.substr(i * body.size() / 5, (i + 1) * body.size() / 5 - i * body.size() / 5)));
  }
  EXPECT_NE(slow.ReadResponse(2s).find("200 OK"), std::string::npos);

  testing::RawConnection stalled(port_);
  ASSERT_TRUE(
      stalled.Send(Head("/upload", "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                   body.substr(0, 1000)));
  std::string got = stalled.ReadAll(2s);
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
  EXPECT_TRUE(BecomesEmpty(temp()));
  EXPECT_EQ(handler_.handled.load(), 1);
}

}  // namespace
}  // namespace slipway::http
