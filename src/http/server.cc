#include "http/server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/fiber.h"
#include "core/logging.h"
#include "http/error_response.h"

namespace slipway::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

Method ToMethod(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return Method::kGet;
    case bhttp::verb::head:
      return Method::kHead;
    case bhttp::verb::post:
      return Method::kPost;
    case bhttp::verb::put:
      return Method::kPut;
    case bhttp::verb::patch:
      return Method::kPatch;
    case bhttp::verb::delete_:
      return Method::kDelete;
    case bhttp::verb::options:
      return Method::kOptions;
    default:
      return Method::kOther;
  }
}

// Splits "/path?query" and percent-decodes the path. The query stays raw for the query string
// parser. Lenient like common servers: '[' and ']' in the query (qs notation, often sent
// unencoded) are accepted. False for a target that is not origin-form or a malformed escape.
bool SplitTarget(std::string_view target, std::string* path, std::string* query) {
  if (target.empty() || target[0] != '/') return false;
  size_t q = target.find('?');
  std::string_view raw = target.substr(0, q);
  *query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
  path->clear();
  path->reserve(raw.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      path->push_back(raw[i]);
      continue;
    }
    int hi = i + 1 < raw.size() ? hex(raw[i + 1]) : -1;
    int lo = i + 2 < raw.size() ? hex(raw[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;  // no NUL in paths
    path->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

class ServerImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ServerImpl* server);
  ~Session();

  void Start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
  }
  // Runs on the session's own thread: closes now if no request is being served, else after.
  void CloseIfIdle() {
    close_after_response_ = true;
    if (!in_flight_) Close();
  }
  void ForceClose() { Close(); }
  net::any_io_executor executor() { return socket_.get_executor(); }
  // Called (through a post) with the handler's response.
  void Write(Response response);

 private:
  void WaitForRequest();
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void Dispatch();
  void OnWrite(beast::error_code ec, size_t bytes, bool keep_alive);
  void FailRead(beast::error_code ec);
  void Close();
  // Each phase (wait, headers, body, write) arms the timer; on expiry the pending operation is
  // cancelled and `timed_out_` tells its handler why. The generation makes a stale expiry that
  // was already queued when the next phase re-armed the timer harmless.
  void Arm(std::chrono::milliseconds d);
  void Disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  ServerImpl* server_;
  std::string remote_;
  bool first_request_ = true;
  bool in_flight_ = false;
  bool close_after_response_ = false;
  bool closed_ = false;
  bool request_keep_alive_ = true;
  // For the request log line.
  Method method_ = Method::kGet;
  std::string path_;
  std::string request_id_;
  bool routine_ = false;  // of the response being written
  Clock::time_point started_;
  bhttp::response<bhttp::string_body> res_;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, Handler& handler)
      : options_(options), handler_(handler) {
    int n = std::max(1, options_.threads);
    for (int k = 0; k < n; ++k) contexts_.push_back(std::make_unique<net::io_context>(1));
    acceptor_ = std::make_unique<tcp::acceptor>(*contexts_[0]);
    std::random_device rd;
    id_prefix_ = rd();
  }

  // Tear-down order matters: sessions still queued in a context unregister themselves (under
  // mu_) when the context is destroyed, and the acceptor must go before its context.
  ~ServerImpl() override {
    Shutdown(std::chrono::milliseconds(0));
    acceptor_.reset();
    pending_.reset();
    contexts_.clear();
  }

  Status Listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(options_.host, ec);
    if (ec) return InvalidArgument("'" + options_.host + "' is not an IP address to listen on");
    tcp::endpoint endpoint(address, options_.port);
    std::string where = options_.host + ":" + std::to_string(options_.port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("cannot listen on " + where + ": " + ec.message());
    port_ = acceptor_->local_endpoint().port();
    for (auto& ctx : contexts_) {
      guards_.emplace_back(net::make_work_guard(*ctx));
    }
    for (auto& ctx : contexts_) {
      threads_.emplace_back([c = ctx.get()] {
        fiber::BindThread(c);  // handlers may run database work in fibers on this thread
        c->run();
        fiber::UnbindThread();
      });
    }
    net::post(acceptor_->get_executor(), [this] { Accept(); });
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }

  size_t connection_count() const override {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    if (threads_.empty()) return;
    stopping_ = true;
    net::post(acceptor_->get_executor(), [this] {
      beast::error_code ec;
      acceptor_->close(ec);
    });
    ForEachSession([](const std::shared_ptr<Session>& s) { s->CloseIfIdle(); });
    auto deadline = Clock::now() + grace;
    while (connection_count() > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    size_t left = connection_count();
    if (left > 0) {
      core::log::Warn("shutdown grace period over; closing connections",
                      {{"connections", left}, {"grace_ms", static_cast<long long>(grace.count())}});
      ForEachSession([](const std::shared_ptr<Session>& s) { s->ForceClose(); });
      auto hard_deadline = Clock::now() + std::chrono::seconds(2);
      while (connection_count() > 0 && Clock::now() < hard_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    guards_.clear();
    for (auto& ctx : contexts_) ctx->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  const ServerOptions& options() const { return options_; }
  Handler& handler() { return handler_; }
  bool stopping() const { return stopping_; }

  void Add(Session* s, std::weak_ptr<Session> w) {
    std::lock_guard lock(mu_);
    sessions_.emplace(s, std::move(w));
  }
  void Remove(Session* s) {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
  }

  std::string NextRequestId() {
    uint64_t n = next_request_.fetch_add(1, std::memory_order_relaxed);
    char buf[32];
    int len = std::snprintf(buf, sizeof(buf), "%08x-%llx", id_prefix_,
                            static_cast<unsigned long long>(n));
    return std::string(buf, len);
  }

 private:
  net::io_context& Context(size_t i) { return *contexts_[i % contexts_.size()]; }

  void Accept() {
    if (stopping_) return;
    net::io_context& target = Context(next_context_++);
    pending_.emplace(target);
    acceptor_->async_accept(*pending_, [this](beast::error_code ec) {
      if (ec) {
        if (ec == net::error::operation_aborted || stopping_) return;
        core::log::Warn("accept failed", {{"error", ec.message()}});
      } else {
        beast::error_code ignored;
        pending_->set_option(tcp::no_delay(true), ignored);
        auto session = std::make_shared<Session>(std::move(*pending_), this);
        Add(session.get(), session);
        session->Start();
      }
      pending_.reset();
      Accept();
    });
  }

  template <typename F>
  void ForEachSession(F f) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(mu_);
      for (auto& [ptr, weak] : sessions_) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) net::post(s->executor(), [s, f] { f(s); });
  }

  ServerOptions options_;
  Handler& handler_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::optional<tcp::socket> pending_;
  size_t next_context_ = 0;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::atomic<uint64_t> next_request_{1};
  uint32_t id_prefix_ = 0;
};

Session::Session(tcp::socket&& socket, ServerImpl* server)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server) {
  beast::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
}

Session::~Session() { server_->Remove(this); }

void Session::Arm(std::chrono::milliseconds d) {
  uint64_t generation = ++timer_generation_;
  timed_out_ = false;
  timer_.expires_after(d);
  timer_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->timer_generation_ != generation) return;
    self->timed_out_ = true;
    beast::error_code ignored;
    self->socket_.cancel(ignored);
  });
}

void Session::WaitForRequest() {
  if (closed_) return;
  if (buffer_.size() > 0) {  // a pipelined request is already here
    ReadHeader();
    return;
  }
  // A connection accepted while the server began to stop (after Shutdown() closed the idle
  // ones) is idle too.
  if (server_->stopping()) {
    Close();
    return;
  }
  // The wait for a request to begin: short for a new connection, longer between keep-alive
  // requests. No bytes yet, so a timeout here closes silently.
  Arm(first_request_ ? server_->options().header_timeout : server_->options().idle_timeout);
  socket_.async_read_some(buffer_.prepare(8192),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->Disarm();
                            if (ec) {
                              self->Close();
                              return;
                            }
                            self->buffer_.commit(n);
                            self->ReadHeader();
                          });
}

void Session::ReadHeader() {
  started_ = Clock::now();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(server_->options().header_limit_bytes));
  parser_->body_limit(server_->options().body_limit_bytes);
  Arm(server_->options().header_timeout);
  bhttp::async_read_header(socket_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             self->Disarm();
                             self->OnHeader(ec);
                           });
}

void Session::OnHeader(beast::error_code ec) {
  if (ec) {
    FailRead(ec);
    return;
  }
  first_request_ = false;
  auto& req = parser_->get();
  method_ = ToMethod(req.method());
  path_ = std::string(req.target().substr(0, req.target().find('?')));
  if (parser_->is_done()) {
    Dispatch();
    return;
  }
  if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
    Arm(server_->options().body_timeout);
    bhttp::async_write(socket_, *cont,
                       [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                         self->Disarm();
                         if (ec) {
                           self->Close();
                           return;
                         }
                         self->ReadBody();
                       });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  Arm(server_->options().body_timeout);
  bhttp::async_read(socket_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->Disarm();
                      if (ec) {
                        self->FailRead(ec);
                        return;
                      }
                      self->Dispatch();
                    });
}

void Session::FailRead(beast::error_code ec) {
  if (closed_ || (!timed_out_ &&
                  (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                   ec == net::error::operation_aborted || ec == net::error::connection_reset))) {
    Close();
    return;
  }
  close_after_response_ = true;
  in_flight_ = true;
  if (timed_out_) {
    Write(ErrorResponse(408, "the request was not received in time", "REQUEST_TIMEOUT"));
  } else if (ec == bhttp::error::body_limit) {
    Write(ErrorResponse(413,
                        "the request body is larger than the limit of " +
                            std::to_string(server_->options().body_limit_bytes) + " bytes",
                        "PAYLOAD_TOO_LARGE"));
  } else if (ec == bhttp::error::header_limit) {
    Write(ErrorResponse(431, "the request headers are too large", "HEADERS_TOO_LARGE"));
  } else {
    Write(ErrorResponse(400, "malformed HTTP request: " + ec.message(), "BAD_REQUEST"));
  }
}

void Session::Dispatch() {
  auto beast_req = parser_->release();
  parser_.reset();
  request_keep_alive_ = beast_req.keep_alive();

  Request req;
  req.method = ToMethod(beast_req.method());
  req.method_text = std::string(beast_req.method_string());
  req.target = std::string(beast_req.target());
  req.received_at = started_;
  req.remote = remote_;
  // RFC 9112 section 3.2: an HTTP/1.1 request without exactly one Host header is a 400.
  if (beast_req.version() >= 11 && beast_req.count(bhttp::field::host) != 1) {
    in_flight_ = true;
    close_after_response_ = true;
    Write(ErrorResponse(400, "an HTTP/1.1 request needs exactly one Host header", "BAD_REQUEST"));
    return;
  }
  if (!SplitTarget(req.target, &req.path, &req.query)) {
    in_flight_ = true;
    Write(ErrorResponse(400, "malformed request target '" + req.target + "'", "BAD_REQUEST"));
    return;
  }
  req.headers.reserve(std::distance(beast_req.begin(), beast_req.end()));
  for (const auto& field : beast_req) {
    req.headers.push_back({ToLower(field.name_string()), std::string(field.value())});
  }
  req.body = std::move(beast_req.body());
  std::string_view given_id = req.header("x-request-id");
  req.request_id = (!given_id.empty() && given_id.size() <= 128) ? std::string(given_id)
                                                                 : server_->NextRequestId();
  request_id_ = req.request_id;

  in_flight_ = true;

  // Completes exactly once: if a handler drops the responder without calling it, the client
  // still gets an answer (500) instead of a connection that hangs.
  struct Completion {
    std::shared_ptr<Session> session;
    bool done = false;
    ~Completion() {
      if (!done) {
        Post(session, ErrorResponse(500, "the request handler returned no response", "INTERNAL"));
      }
    }
    static void Post(const std::shared_ptr<Session>& s, Response r) {
      net::post(s->executor(), [s, r = std::move(r)]() mutable { s->Write(std::move(r)); });
    }
  };
  auto completion = std::make_shared<Completion>();
  completion->session = shared_from_this();
  server_->handler().Handle(std::move(req), [completion](Response response) {
    if (completion->done) return;
    completion->done = true;
    Completion::Post(completion->session, std::move(response));
  });
}

void Session::Write(Response response) {
  if (closed_) return;
  routine_ = response.routine;
  res_ = {};
  res_.version(11);
  res_.result(static_cast<unsigned>(response.status));
  res_.set(bhttp::field::server, "slipway");
  if (!response.content_type.empty()) res_.set(bhttp::field::content_type, response.content_type);
  if (!request_id_.empty()) res_.set("X-Request-Id", request_id_);
  for (const Header& h : response.headers) res_.set(h.name, h.value);
  bool keep_alive = request_keep_alive_ && !close_after_response_ && !server_->stopping();
  res_.keep_alive(keep_alive);
  size_t body_bytes = response.body.size();
  if (method_ != Method::kHead) res_.body() = std::move(response.body);
  res_.prepare_payload();
  if (method_ == Method::kHead) res_.content_length(body_bytes);
  Arm(server_->options().body_timeout);  // a client that does not read its answer is dropped
  bhttp::async_write(socket_, res_,
                     [self = shared_from_this(), keep_alive](beast::error_code ec, size_t bytes) {
                       self->Disarm();
                       self->OnWrite(ec, bytes, keep_alive);
                     });
}

void Session::OnWrite(beast::error_code ec, size_t bytes, bool keep_alive) {
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
  const core::log::Level level = routine_ ? core::log::Level::kDebug : core::log::Level::kInfo;
  if (core::log::Enabled(level)) {
    core::log::Write(level, "request",
                     {{"method", MethodName(method_)},
                      {"path", path_},
                      {"status", res_.result_int()},
                      {"bytes", bytes},
                      {"ms", ms},
                      {"id", request_id_}});
  }
  in_flight_ = false;
  request_id_.clear();
  if (ec || !keep_alive || close_after_response_ || server_->stopping()) {
    Close();
    return;
  }
  WaitForRequest();
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  Disarm();
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  socket_.close(ec);
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler& handler) {
  auto server = std::make_unique<ServerImpl>(options, handler);
  RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace slipway::http
