#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "test_support.h"

namespace slipway::http {
namespace {

using namespace std::chrono_literals;
using testing::RawConnection;

// Answers "echo:<path>:<body>", after `delay` on a separate thread when delay > 0; drops the
// responder without answering for path "/drop".
class TestHandler : public Handler {
 public:
  std::chrono::milliseconds delay{0};
  std::atomic<int> handled{0};

  void Handle(Request&& req, Responder respond) override {
    handled++;
    if (req.path == "/drop") return;
    std::string body = "echo:" + req.path + ":" + req.body;
    if (delay.count() == 0) {
      respond(Response::Text(200, body));
      return;
    }
    std::thread([d = delay, body, respond] {
      std::this_thread::sleep_for(d);
      respond(Response::Text(200, body));
    }).detach();
  }
};

class ServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    auto s = Server::Start(options, handler_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) server_->Shutdown(1s);
  }

  TestHandler handler_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(ServerTest, ServesAndKeepsConnectionsAlive) {
  Start();
  RawConnection c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: 3\r\n\r\nxyz"));  // two pipelined requests
  std::string first = c.ReadResponse(2s);
  std::string second = c.ReadResponse(2s);
  EXPECT_NE(first.find("echo:/a:"), std::string::npos) << first;
  EXPECT_NE(second.find("echo:/b:xyz"), std::string::npos) << second;
  EXPECT_NE(first.find("X-Request-Id:"), std::string::npos);
  EXPECT_EQ(handler_.handled.load(), 2);
}

TEST_F(ServerTest, OversizedBodyGets413AndIsNotHandled) {
  ServerOptions o;
  o.body_limit_bytes = 1024;
  Start(o);
  auto r = testing::HttpRequest(port_, "POST", "/big", std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("PAYLOAD_TOO_LARGE"), std::string::npos);
  EXPECT_NE(r.body.find("1024 bytes"), std::string::npos);
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(ServerTest, OversizedHeadersGet431) {
  Start();
  auto r = testing::HttpRequest(port_, "GET", "/h", "", {"X-Big: " + std::string(40000, 'a')});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(ServerTest, SlowHeadersGet408AndTheConnectionCloses) {
  ServerOptions o;
  o.header_timeout = 300ms;
  Start(o);
  RawConnection c(port_);
  ASSERT_TRUE(c.Send("GET /slow HTTP/1.1\r\nHost: x\r\n"));  // headers never finish
  std::string got = c.ReadAll(3s);
  EXPECT_NE(got.find("408"), std::string::npos) << got;
  EXPECT_NE(got.find("REQUEST_TIMEOUT"), std::string::npos);
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(ServerTest, SlowBodyGets408) {
  ServerOptions o;
  o.body_timeout = 300ms;
  Start(o);
  RawConnection c(port_);
  ASSERT_TRUE(c.Send("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
  std::string got = c.ReadAll(3s);
  EXPECT_NE(got.find("408"), std::string::npos) << got;
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedSilently) {
  ServerOptions o;
  o.idle_timeout = 300ms;
  Start(o);
  RawConnection c(port_);
  ASSERT_TRUE(c.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_FALSE(c.ReadResponse(2s).empty());
  EXPECT_TRUE(c.WaitClosed(3s));
  EXPECT_EQ(c.ReadAll(100ms), "");  // no 408 for a connection that was merely idle
}

TEST_F(ServerTest, AnswersExpectContinue) {
  Start();
  RawConnection c(port_);
  ASSERT_TRUE(
      c.Send("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
  std::string interim = c.ReadAll(300ms);
  EXPECT_NE(interim.find("100 Continue"), std::string::npos) << interim;
  ASSERT_TRUE(c.Send("ok"));
  EXPECT_NE(c.ReadResponse(2s).find("echo:/c:ok"), std::string::npos);
}

TEST_F(ServerTest, DroppedResponderStillAnswers500) {
  Start();
  auto r = testing::HttpGet(port_, "/drop");
  EXPECT_EQ(r.status, 500);
}

TEST_F(ServerTest, ShutdownFinishesInFlightRequestsAndRefusesNewOnes) {
  handler_.delay = 500ms;
  Start();
  auto in_flight = std::async(std::launch::async, [&] { return testing::HttpGet(port_, "/slow"); });
  while (handler_.handled.load() == 0) std::this_thread::sleep_for(5ms);
  RawConnection idle(port_);  // an idle keep-alive connection must not hold up shutdown
  ASSERT_TRUE(idle.connected());

  auto started = std::chrono::steady_clock::now();
  server_->Shutdown(5s);
  auto took = std::chrono::steady_clock::now() - started;

  auto r = in_flight.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo:/slow:");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_LT(took, 5s);  // returned when the request finished, not at the end of the grace period
  EXPECT_TRUE(idle.WaitClosed(1s));
  EXPECT_FALSE(RawConnection(port_).connected());
  server_.reset();
}

}  // namespace
}  // namespace slipway::http
