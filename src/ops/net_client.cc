#include "ops/net_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace slipway::ops {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until `fd` is ready for `events` or the deadline passes.
Status WaitFor(int fd, short events, Clock::time_point deadline, const std::string& where) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, RemainingMs(deadline));
    if (n > 0) return Status::Ok();
    if (n == 0) return Unavailable(where + ": no answer in time", "TIMEOUT");
    if (errno != EINTR) return Unavailable(where + ": " + std::strerror(errno));
  }
}

Status ConnectWithin(int fd, const sockaddr* addr, socklen_t len, Clock::time_point deadline,
                     const std::string& where) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (::connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) {
      return Unavailable(where + ": " + std::strerror(errno), "UNREACHABLE");
    }
    RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, where));
    int err = 0;
    socklen_t err_len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) return Unavailable(where + ": " + std::strerror(err), "UNREACHABLE");
  }
  return Status::Ok();
}

Status SendAll(int fd, std::string_view data, Clock::time_point deadline,
               const std::string& where) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, where));
    } else {
      return Unavailable(where + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

// Everything until the peer closes.
Result<std::string> ReadAll(int fd, Clock::time_point deadline, const std::string& where) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno == EAGAIN || errno == EINTR) {
      RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline, where));
    } else {
      return Unavailable(where + ": " + std::strerror(errno));
    }
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Result<std::string> Dechunk(std::string_view body, const std::string& where) {
  std::string out;
  for (;;) {
    size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) return Unavailable(where + ": a truncated chunked body");
    size_t size = std::strtoul(std::string(body.substr(0, eol)).c_str(), nullptr, 16);
    body.remove_prefix(eol + 2);
    if (size == 0) return out;
    if (body.size() < size + 2) return Unavailable(where + ": a truncated chunked body");
    out.append(body.substr(0, size));
    body.remove_prefix(size + 2);
  }
}

}  // namespace

std::string HttpReply::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

Result<HttpReply> SendHttp(const HttpCall& call) {
  const std::string where =
      call.method + " http://" + call.host + ":" + std::to_string(call.port) + call.target;
  const Clock::time_point deadline = Clock::now() + call.timeout;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(call.port));
  if (::inet_pton(AF_INET, call.host.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument(where + ": the host must be an IPv4 address");
  }
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Internal(where + ": socket: " + std::strerror(errno));
  RETURN_IF_ERROR(ConnectWithin(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr),
                                deadline, where));
  std::string request = call.method + " " + call.target + " HTTP/1.1\r\nHost: " + call.host + ":" +
                        std::to_string(call.port) + "\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : call.headers) {
    request += k + ": " + v + "\r\n";
    has_type = has_type || Lower(k) == "content-type";
  }
  if (!call.body.empty() && !has_type) request += "Content-Type: application/json\r\n";
  if (!call.body.empty() || call.method == "POST") {
    request += "Content-Length: " + std::to_string(call.body.size()) + "\r\n";
  }
  request += "\r\n" + call.body;
  RETURN_IF_ERROR(SendAll(fd.get(), request, deadline, where));
  ASSIGN_OR_RETURN(std::string raw, ReadAll(fd.get(), deadline, where));

  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || !raw.starts_with("HTTP/1.")) {
    return Unavailable(where + ": not an HTTP answer (" + std::to_string(raw.size()) + " bytes)");
  }
  HttpReply reply;
  std::string_view head(raw.data(), head_end);
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.size() < 12) return Unavailable(where + ": a bad status line");
  reply.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    reply.headers.emplace_back(Lower(std::string(line.substr(0, colon))), std::string(value));
  }
  std::string_view body(raw.data() + head_end + 4, raw.size() - head_end - 4);
  if (Lower(reply.Header("transfer-encoding")).find("chunked") != std::string::npos) {
    ASSIGN_OR_RETURN(reply.body, Dechunk(body, where));
  } else {
    std::string length = reply.Header("content-length");
    if (!length.empty()) {
      size_t n = std::strtoul(length.c_str(), nullptr, 10);
      if (body.size() < n) return Unavailable(where + ": the answer was cut short");
      body = body.substr(0, n);
    }
    reply.body = std::string(body);
  }
  return reply;
}

Result<std::string> UnixSocketCommand(const std::string& path, const std::string& command,
                                      std::chrono::milliseconds timeout) {
  const std::string where = "unix socket " + path;
  const Clock::time_point deadline = Clock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return InvalidArgument(where + ": the path is longer than a Unix socket's " +
                           std::to_string(sizeof(addr.sun_path) - 1) + " characters");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Internal(where + ": socket: " + std::strerror(errno));
  RETURN_IF_ERROR(ConnectWithin(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr),
                                deadline, where));
  RETURN_IF_ERROR(SendAll(fd.get(), command + "\n", deadline, where));
  return ReadAll(fd.get(), deadline, where);
}

}  // namespace slipway::ops
