#include "http/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
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

// The body type of file responses: `length` bytes of an open file from `offset`, read with
// pread(2) in chunks as the socket takes them, so no file is ever held in memory whole.
struct FileRangeBody {
  static constexpr uint64_t kChunkBytes = 256 << 10;

  class value_type {
   public:
    value_type() = default;
    value_type(value_type&& other) noexcept
        : fd(std::exchange(other.fd, -1)), offset(other.offset), length(other.length) {}
    value_type& operator=(value_type&& other) noexcept {
      if (this != &other) {
        Reset();
        fd = std::exchange(other.fd, -1);
        offset = other.offset;
        length = other.length;
      }
      return *this;
    }
    ~value_type() { Reset(); }
    void Reset() {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }

    int fd = -1;  // owned
    uint64_t offset = 0;
    uint64_t length = 0;
  };

  static uint64_t size(const value_type& body) { return body.length; }

  class writer {
   public:
    using const_buffers_type = net::const_buffer;

    template <bool isRequest, class Fields>
    writer(const bhttp::header<isRequest, Fields>&, const value_type& body) : body_(body) {}

    void init(beast::error_code& ec) {
      size_ = static_cast<size_t>(std::min(body_.length, kChunkBytes));
      buffer_ = std::make_unique<char[]>(std::max<size_t>(size_, 1));
      ec = {};
    }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      uint64_t left = body_.length - sent_;
      if (left == 0) return boost::none;
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, size_));
      ssize_t n;
      do {
        n = ::pread(body_.fd, buffer_.get(), want, static_cast<off_t>(body_.offset + sent_));
      } while (n < 0 && errno == EINTR);
      if (n <= 0) {  // a read error, or the file shrank: the promised length cannot be kept
        ec = n < 0 ? beast::error_code(errno, beast::system_category())
                   : beast::error_code(bhttp::error::short_read);
        return boost::none;
      }
      sent_ += static_cast<uint64_t>(n);
      return std::make_pair(net::const_buffer(buffer_.get(), static_cast<size_t>(n)),
                            sent_ < body_.length);
    }

   private:
    const value_type& body_;
    uint64_t sent_ = 0;
    size_t size_ = 0;
    std::unique_ptr<char[]> buffer_;
  };
};

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
  // A streamed body arrives in reads of at most this much (Beast reads the socket 64 KiB at a
  // time), each passed to BodySink::Write.
  static constexpr size_t kChunkBytes = 64 << 10;

  void WaitForRequest();
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  // Fills request_ from the parsed head; false (after answering 400) for a bad Host or target.
  bool ReadHead(bool body_follows);
  // Sends 100 Continue when the client asked for it, then calls `next`.
  void ContinueThen(void (Session::*next)());
  void ReadBody();
  void StartStreaming(BodyPlan plan);
  void ReadChunk();
  void OnChunk(beast::error_code ec);
  void FinishStreaming();
  void Dispatch();
  // Answers without reading (the rest of) the body, then closes.
  void Refuse(Response response);
  void RefuseTooLarge();
  void WriteFile(Response response);
  void WriteFileSome(bool keep_alive);
  template <class Body>
  void SetHead(bhttp::response<Body>& res, const Response& response, bool keep_alive);
  bool KeepAlive() const;
  void OnWrite(beast::error_code ec, size_t bytes, bool keep_alive);
  void FailRead(beast::error_code ec);
  // While a request is in flight: cancels its token (Request::cancel) if the client goes away.
  void WatchForDisconnect();
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
  // A body planned into a sink: the parser of the head moved into one that hands the body over
  // in chunk_-sized pieces.
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  std::shared_ptr<BodySink> sink_;
  std::unique_ptr<char[]> chunk_;  // allocated by the first streamed body, kept for the next
  uint64_t body_limit_ = 0;        // of the body being read, for the 413 message
  bool expects_continue_ = false;
  Request request_;  // the request being read: its head, then its body
  ServerImpl* server_;
  std::string remote_;
  bool first_request_ = true;
  bool in_flight_ = false;
  std::shared_ptr<core::CancelToken> cancel_;  // of the request in flight
  uint64_t watch_generation_ = 0;
  bool close_after_response_ = false;
  bool closed_ = false;
  bool request_keep_alive_ = true;
  // For the request log line.
  Method method_ = Method::kGet;
  std::string path_;
  std::string request_id_;
  bool routine_ = false;  // of the response being written
  int status_ = 0;        // of the response being written
  Clock::time_point started_;
  bhttp::response<bhttp::string_body> res_;
  std::optional<bhttp::response<FileRangeBody>> file_res_;
  std::optional<bhttp::response_serializer<FileRangeBody>> file_sr_;
  size_t file_bytes_written_ = 0;
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
    if (fibers_outlived_) {
      for (auto& ctx : contexts_) ctx.release();  // see Shutdown
    }
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
      // Closing cancels their requests (Request::cancel): statements are interrupted, and the
      // fibers that wait for them end.
      ForEachSession([](const std::shared_ptr<Session>& s) { s->ForceClose(); });
      auto hard_deadline = Clock::now() + std::chrono::seconds(2);
      while ((connection_count() > 0 || fiber::LiveFibers() > 0) && Clock::now() < hard_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    guards_.clear();
    for (auto& ctx : contexts_) ctx->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // A fiber still suspended would be unwound on this thread when its io_context is destroyed,
    // away from the stack and thread it belongs to: the contexts are left to the process's end.
    fibers_outlived_ = fiber::LiveFibers() > 0;
    if (fibers_outlived_) {
      core::log::Warn("requests still waiting at shutdown are abandoned",
                      {{"fibers", fiber::LiveFibers()}});
    }
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
  bool fibers_outlived_ = false;  // Shutdown left fibers suspended
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
  // The body's limit depends on the handler's plan for it (OnHeader): none while reading the
  // head, or Beast would refuse a large Content-Length before the handler could plan a sink.
  parser_->body_limit(boost::none);
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
  const auto& head = parser_->get();
  method_ = ToMethod(head.method());
  path_ = std::string(head.target().substr(0, head.target().find('?')));
  request_keep_alive_ = head.keep_alive();
  const bool body_follows = !parser_->is_done();
  if (!ReadHead(body_follows)) return;
  expects_continue_ = beast::iequals(request_.header("expect"), "100-continue");

  BodyPlan plan = server_->handler().PlanBody(request_);
  if (plan.reject) {
    if (body_follows) {
      Refuse(std::move(*plan.reject));
    } else {
      in_flight_ = true;
      Write(std::move(*plan.reject));
    }
    return;
  }
  if (plan.sink) {
    StartStreaming(std::move(plan));
    return;
  }
  body_limit_ = server_->options().body_limit_bytes;
  if (!body_follows) {
    Dispatch();
    return;
  }
  auto announced = parser_->content_length();
  if (announced && *announced > body_limit_) {
    RefuseTooLarge();
    return;
  }
  parser_->body_limit(body_limit_);  // a chunked body is counted as it arrives
  ContinueThen(&Session::ReadBody);
}

bool Session::ReadHead(bool body_follows) {
  const auto& head = parser_->get();
  request_ = Request{};
  request_.method = ToMethod(head.method());
  request_.method_text = std::string(head.method_string());
  request_.target = std::string(head.target());
  request_.received_at = started_;
  request_.remote = remote_;
  // RFC 9112 section 3.2: an HTTP/1.1 request without exactly one Host header is a 400.
  if (head.version() >= 11 && head.count(bhttp::field::host) != 1) {
    Refuse(ErrorResponse(400, "an HTTP/1.1 request needs exactly one Host header", "BAD_REQUEST"));
    return false;
  }
  if (!SplitTarget(request_.target, &request_.path, &request_.query)) {
    Response bad =
        ErrorResponse(400, "malformed request target '" + request_.target + "'", "BAD_REQUEST");
    if (body_follows) {
      Refuse(std::move(bad));
    } else {
      in_flight_ = true;
      Write(std::move(bad));
    }
    return false;
  }
  request_.headers.reserve(std::distance(head.begin(), head.end()));
  for (const auto& field : head) {
    request_.headers.push_back({ToLower(field.name_string()), std::string(field.value())});
  }
  std::string_view given_id = request_.header("x-request-id");
  request_.request_id = (!given_id.empty() && given_id.size() <= 128) ? std::string(given_id)
                                                                      : server_->NextRequestId();
  request_id_ = request_.request_id;
  return true;
}

void Session::ContinueThen(void (Session::*next)()) {
  if (!expects_continue_) {
    (this->*next)();
    return;
  }
  auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
  Arm(server_->options().body_timeout);
  bhttp::async_write(socket_, *cont,
                     [self = shared_from_this(), cont, next](beast::error_code ec, size_t) {
                       self->Disarm();
                       if (ec) {
                         self->Close();
                         return;
                       }
                       ((*self).*next)();
                     });
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

void Session::StartStreaming(BodyPlan plan) {
  sink_ = std::move(plan.sink);
  body_limit_ = plan.limit;
  if (parser_->is_done()) {  // no body at all: nothing to stream
    FinishStreaming();
    return;
  }
  auto announced = parser_->content_length();
  if (announced && *announced > body_limit_) {
    RefuseTooLarge();
    return;
  }
  // Only the head was read, so the parser can change its body type (Beast's documented way).
  stream_parser_.emplace(std::move(*parser_));
  parser_.reset();
  stream_parser_->body_limit(body_limit_);
  if (!chunk_) chunk_ = std::make_unique<char[]>(kChunkBytes);
  ContinueThen(&Session::ReadChunk);
}

// The body timeout applies to each read: it bounds how long the client may stay silent, not how
// long the whole body may take, so a large upload at disk or network speed never times out
// while a stalled one does.
void Session::ReadChunk() {
  auto& body = stream_parser_->get().body();
  body.data = chunk_.get();
  body.size = kChunkBytes;
  Arm(server_->options().body_timeout);
  bhttp::async_read_some(socket_, buffer_, *stream_parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) {
                           self->Disarm();
                           self->OnChunk(ec);
                         });
}

void Session::OnChunk(beast::error_code ec) {
  if (ec == bhttp::error::need_buffer) ec = {};  // chunk_ is full: not an error
  if (ec) {
    FailRead(ec);
    return;
  }
  size_t n = kChunkBytes - stream_parser_->get().body().size;
  if (n > 0) {
    Status written = sink_->Write(std::string_view(chunk_.get(), n));
    if (!written.ok()) {
      Refuse(ErrorResponse(written));
      return;
    }
  }
  if (stream_parser_->is_done()) {
    FinishStreaming();
    return;
  }
  ReadChunk();
}

void Session::FinishStreaming() {
  Status finished = sink_->Finish();
  if (!finished.ok()) {
    Refuse(ErrorResponse(finished));
    return;
  }
  request_.sink = std::move(sink_);
  Dispatch();
}

void Session::Refuse(Response response) {
  sink_.reset();  // the sink cleans up what it received
  parser_.reset();
  stream_parser_.reset();
  in_flight_ = true;
  close_after_response_ = true;
  Write(std::move(response));
}

void Session::RefuseTooLarge() {
  Refuse(ErrorResponse(
      413, "the request body is larger than the limit of " + std::to_string(body_limit_) + " bytes",
      "PAYLOAD_TOO_LARGE"));
}

void Session::FailRead(beast::error_code ec) {
  sink_.reset();  // a body cut short: the sink is dropped without Finish()
  stream_parser_.reset();
  if (closed_ || (!timed_out_ &&
                  (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                   ec == net::error::operation_aborted || ec == net::error::connection_reset))) {
    Close();
    return;
  }
  if (timed_out_) {
    Refuse(ErrorResponse(408, "the request was not received in time", "REQUEST_TIMEOUT"));
  } else if (ec == bhttp::error::body_limit) {
    RefuseTooLarge();
  } else if (ec == bhttp::error::header_limit) {
    Refuse(ErrorResponse(431, "the request headers are too large", "HEADERS_TOO_LARGE"));
  } else {
    Refuse(ErrorResponse(400, "malformed HTTP request: " + ec.message(), "BAD_REQUEST"));
  }
}

void Session::Dispatch() {
  if (parser_) {
    request_.body = std::move(parser_->get().body());
    parser_.reset();
  }
  stream_parser_.reset();
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
  cancel_ = std::make_shared<core::CancelToken>();
  request_.cancel = cancel_;
  WatchForDisconnect();
  Request request = std::move(request_);  // the handler may keep it, or drop it (and its sink)
  server_->handler().Handle(std::move(request), [completion](Response response) {
    if (completion->done) return;
    completion->done = true;
    Completion::Post(completion->session, std::move(response));
  });
}

bool Session::KeepAlive() const {
  return request_keep_alive_ && !close_after_response_ && !server_->stopping();
}

template <class Body>
void Session::SetHead(bhttp::response<Body>& res, const Response& response, bool keep_alive) {
  routine_ = response.routine;
  status_ = response.status;
  res.version(11);
  res.result(static_cast<unsigned>(response.status));
  res.set(bhttp::field::server, "slipway");
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, response.content_type);
  if (!request_id_.empty()) res.set("X-Request-Id", request_id_);
  for (const Header& h : response.headers) res.set(h.name, h.value);
  res.keep_alive(keep_alive);
}

void Session::WatchForDisconnect() {
  const uint64_t generation = ++watch_generation_;
  socket_.async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), generation](beast::error_code ec) {
        if (ec || generation != self->watch_generation_ || !self->in_flight_ || self->closed_)
          return;
        // Readable while the request is in flight: the client closed or reset the connection, or
        // sent its next request ahead (pipelining), which only a peek tells apart.
        char byte;
        ssize_t n = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return;  // the next request: the client still waits for this answer
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          self->WatchForDisconnect();
          return;
        }
        core::log::Debug("client went away; its request is cancelled",
                         {{"path", self->path_}, {"id", self->request_id_}});
        if (self->cancel_) self->cancel_->Cancel();
      });
}

void Session::Write(Response response) {
  if (closed_) return;
  // The answer is here: stop watching for the client to leave.
  ++watch_generation_;
  cancel_.reset();
  beast::error_code ignored;
  socket_.cancel(ignored);
  if (response.file) {
    WriteFile(std::move(response));
    return;
  }
  res_ = {};
  bool keep_alive = KeepAlive();
  SetHead(res_, response, keep_alive);
  size_t body_bytes = response.body.size();
  if (response.status != 304) {  // a 304's Content-Length would describe the 200 it stands for
    if (method_ != Method::kHead) res_.body() = std::move(response.body);
    res_.prepare_payload();
    if (method_ == Method::kHead) res_.content_length(body_bytes);
  }
  Arm(server_->options().body_timeout);  // a client that does not read its answer is dropped
  bhttp::async_write(socket_, res_,
                     [self = shared_from_this(), keep_alive](beast::error_code ec, size_t bytes) {
                       self->Disarm();
                       self->OnWrite(ec, bytes, keep_alive);
                     });
}

void Session::WriteFile(Response response) {
  const FileBody& file = *response.file;
  int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  int error = 0;
  std::string why;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    error = errno;
    why = std::strerror(error);
  } else if (!S_ISREG(st.st_mode) || file.offset > static_cast<uint64_t>(st.st_size) ||
             file.length > static_cast<uint64_t>(st.st_size) - file.offset) {
    error = EINVAL;  // no longer the file the response was made for
    why = "not a regular file of at least " + std::to_string(file.offset + file.length) + " bytes";
  }
  if (error != 0) {
    if (fd >= 0) ::close(fd);
    core::log::Warn("cannot send a file response",
                    {{"path", file.path}, {"error", why}, {"id", request_id_}});
    Write(error == ENOENT || error == ENOTDIR
              ? ErrorResponse(404, "the file was not found", "NOT_FOUND")
              : ErrorResponse(500, "the file could not be read", "INTERNAL"));
    return;
  }
  if (method_ == Method::kHead) {
    ::close(fd);
    uint64_t length = file.length;
    response.file.reset();
    response.body.clear();
    res_ = {};
    bool keep_alive = KeepAlive();
    SetHead(res_, response, keep_alive);
    res_.content_length(length);
    Arm(server_->options().body_timeout);
    bhttp::async_write(socket_, res_,
                       [self = shared_from_this(), keep_alive](beast::error_code ec, size_t bytes) {
                         self->Disarm();
                         self->OnWrite(ec, bytes, keep_alive);
                       });
    return;
  }
  file_res_.emplace();
  bool keep_alive = KeepAlive();
  SetHead(*file_res_, response, keep_alive);
  file_res_->body().fd = fd;
  file_res_->body().offset = file.offset;
  file_res_->body().length = file.length;
  file_res_->content_length(file.length);
  file_sr_.emplace(*file_res_);
  file_bytes_written_ = 0;
  WriteFileSome(keep_alive);
}

// Like a streamed request body, a file response re-arms the timer for each write: a client
// that reads a large file slowly but steadily keeps it, one that stops reading is dropped.
void Session::WriteFileSome(bool keep_alive) {
  Arm(server_->options().body_timeout);
  bhttp::async_write_some(
      socket_, *file_sr_,
      [self = shared_from_this(), keep_alive](beast::error_code ec, size_t bytes) {
        self->Disarm();
        self->file_bytes_written_ += bytes;
        if (!ec && !self->file_sr_->is_done()) {
          self->WriteFileSome(keep_alive);
          return;
        }
        if (ec && ec != net::error::operation_aborted) {
          core::log::Warn(
              "file response cut short",
              {{"path", self->path_}, {"error", ec.message()}, {"id", self->request_id_}});
        }
        self->file_sr_.reset();
        self->file_res_.reset();
        self->OnWrite(ec, self->file_bytes_written_, keep_alive);
      });
}

void Session::OnWrite(beast::error_code ec, size_t bytes, bool keep_alive) {
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
  const core::log::Level level = routine_ ? core::log::Level::kDebug : core::log::Level::kInfo;
  if (core::log::Enabled(level)) {
    core::log::Write(level, "request",
                     {{"method", MethodName(method_)},
                      {"path", path_},
                      {"status", status_},
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
  if (in_flight_ && cancel_) cancel_->Cancel();  // nobody will read the answer
  sink_.reset();
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
