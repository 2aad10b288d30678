#include "cluster/redis/redis_connection.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <cstring>

namespace slipway::cluster::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = r->type == REDIS_REPLY_STRING   ? Reply::Type::kString
                 : r->type == REDIS_REPLY_STATUS ? Reply::Type::kStatus
                                                 : Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:  // REDIS_REPLY_NIL
      break;
  }
  return out;
}

// hiredis writes with write(2): on a connection the server reset that raises SIGPIPE, which would
// end the process. This blocks SIGPIPE in the calling thread while hiredis writes and consumes one
// raised meanwhile, so the write fails with EPIPE instead (libpq does the same).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

struct ReplyDeleter {
  void operator()(void* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<void, ReplyDeleter>;

}  // namespace

std::string Reply::ToString() const {
  switch (type) {
    case Type::kNil:
      return "(nil)";
    case Type::kInteger:
      return "(integer) " + std::to_string(integer);
    case Type::kString:
      return "\"" + str + "\"";
    case Type::kStatus:
      return str;
    case Type::kError:
      return "(error) " + str;
    case Type::kArray: {
      std::string s = "[";
      for (size_t i = 0; i < elements.size(); ++i) {
        if (i) s += ", ";
        s += elements[i].ToString();
      }
      return s + "]";
    }
  }
  return "?";
}

Status Unreachable(const RedisUrl& url, std::string_view detail) {
  return Unavailable("redis at " + url.Address() + " is unreachable: " + std::string(detail));
}

Result<std::unique_ptr<RedisConnection>> RedisConnection::Open(const RedisUrl& url,
                                                               std::chrono::milliseconds timeout) {
  redisContext* c = redisConnectWithTimeout(url.host.c_str(), url.port, ToTimeval(timeout));
  if (c == nullptr) return Unreachable(url, "cannot allocate a connection");
  if (c->err != 0) {
    std::string error = c->errstr;
    redisFree(c);
    return Unreachable(url, error);
  }
  std::unique_ptr<RedisConnection> conn(new RedisConnection(c, url));
  if (redisSetTimeout(c, ToTimeval(timeout)) != REDIS_OK) return conn->IoError("set timeout");
  // Notices a peer that vanished without closing while the connection is idle (subscribers).
  (void)redisEnableKeepAlive(c);
  if (!url.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!url.user.empty()) auth.push_back(url.user);
    auth.push_back(url.password);
    ASSIGN_OR_RETURN(Reply r, conn->Command(auth));
    if (r.is_error()) {
      return Unauthenticated("redis at " + url.Address() + " refused the credentials: " + r.str);
    }
  }
  if (url.db != 0) {
    ASSIGN_OR_RETURN(Reply r, conn->Command({"SELECT", std::to_string(url.db)}));
    if (r.is_error()) {
      return InvalidArgument("redis at " + url.Address() + " refused database " +
                             std::to_string(url.db) + ": " + r.str);
    }
  }
  return conn;
}

RedisConnection::RedisConnection(redisContext* context, RedisUrl url)
    : context_(context), url_(std::move(url)) {}

RedisConnection::~RedisConnection() { redisFree(context_); }

int RedisConnection::fd() const { return context_->fd; }

Status RedisConnection::IoError(std::string_view what) {
  broken_ = true;
  std::string detail = context_->errstr;
  // hiredis reports an expired SO_RCVTIMEO/SO_SNDTIMEO as EAGAIN's text.
  if (context_->err == REDIS_ERR_IO && detail == std::strerror(EAGAIN)) detail = "timed out";
  if (detail.empty()) detail = "connection failed";
  return Unreachable(url_, detail + " (" + std::string(what) + ")");
}

Result<Reply> RedisConnection::Command(const std::vector<std::string>& argv) {
  if (broken_) return Unreachable(url_, "connection is broken");
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  SigpipeGuard no_sigpipe;
  ReplyPtr reply(
      redisCommandArgv(context_, static_cast<int>(argv.size()), args.data(), lengths.data()));
  if (!reply) return IoError(argv.empty() ? "command" : argv[0]);
  return Convert(static_cast<redisReply*>(reply.get()));
}

Status RedisConnection::Send(const std::vector<std::string>& argv) {
  if (broken_) return Unreachable(url_, "connection is broken");
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), args.data(),
                             lengths.data()) != REDIS_OK) {
    return IoError("append");
  }
  SigpipeGuard no_sigpipe;
  int done = 0;
  while (!done) {
    if (redisBufferWrite(context_, &done) != REDIS_OK) return IoError("write");
  }
  return Status::Ok();
}

Result<std::optional<Reply>> RedisConnection::TakeReply() {
  if (broken_) return Unreachable(url_, "connection is broken");
  void* raw = nullptr;
  if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) return IoError("read");
  if (raw == nullptr) return std::optional<Reply>();
  ReplyPtr reply(raw);
  return std::optional<Reply>(Convert(static_cast<redisReply*>(raw)));
}

Status RedisConnection::ReadSome() {
  if (broken_) return Unreachable(url_, "connection is broken");
  if (redisBufferRead(context_) != REDIS_OK) return IoError("read");
  return Status::Ok();
}

bool RedisConnection::PeerClosed() const {
  pollfd p{context_->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

}  // namespace slipway::cluster::redis
