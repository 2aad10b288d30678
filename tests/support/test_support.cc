#include "test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace slipway::testing {

using Clock = std::chrono::steady_clock;

TempDir::TempDir() {
  std::random_device rd;
  const char* base = std::getenv("TMPDIR");
  std::filesystem::path root = base ? base : "/tmp";
  path_ = root / ("slipway-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  if (std::getenv("KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

namespace {

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Reads what is available within the remaining time; false on close/timeout/error.
bool ReadSome(int fd, std::string* out, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n <= 0) return false;
  out->append(buf, static_cast<size_t>(n));
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses a complete response from `raw` if one is there; returns bytes consumed (0 if not yet).
size_t ParseResponse(const std::string& raw, HttpResult* result) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::istringstream head(raw.substr(0, end));
  std::string line;
  std::getline(head, line);
  HttpResult r;
  if (line.size() < 12) return 0;
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[Lower(line.substr(0, colon))] = value;
  }
  size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    length = std::strtoull(it->second.c_str(), nullptr, 10);
  }
  if (raw.size() < end + 4 + length) return 0;
  r.body = raw.substr(end + 4, length);
  *result = std::move(r);
  return end + 4 + length;
}

}  // namespace

HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& body, const std::vector<std::string>& headers,
                       std::chrono::milliseconds timeout) {
  HttpResult result;
  int fd = Connect(port);
  if (fd < 0) {
    result.error = "connect failed: " + std::string(std::strerror(errno));
    return result;
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& h : headers) {
    req += h + "\r\n";
    if (Lower(h).rfind("content-type:", 0) == 0) has_type = true;
  }
  if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  auto deadline = Clock::now() + timeout;
  while (ReadSome(fd, &raw, deadline)) {
    if (ParseResponse(raw, &result) > 0) break;
  }
  if (result.status == 0) {
    ParseResponse(raw, &result);
    if (result.status == 0)
      result.error = "no complete response (" + std::to_string(raw.size()) + " bytes)";
  }
  ::close(fd);
  return result;
}

RawConnection::RawConnection(int port) : fd_(Connect(port)) {}
RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(const std::string& bytes) {
  return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

std::string RawConnection::ReadAll(std::chrono::milliseconds timeout) {
  std::string out = std::move(pending_);
  pending_.clear();
  auto deadline = Clock::now() + timeout;
  while (ReadSome(fd_, &out, deadline)) {
  }
  return out;
}

std::string RawConnection::ReadResponse(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  HttpResult r;
  while (true) {
    size_t used = ParseResponse(pending_, &r);
    if (used > 0) {
      std::string one = pending_.substr(0, used);
      pending_.erase(0, used);
      return one;
    }
    if (!ReadSome(fd_, &pending_, deadline)) return "";
  }
}

bool RawConnection::WaitClosed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, std::max(left, 0)) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return true;
    pending_.append(buf, static_cast<size_t>(n));
  }
  return false;
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
                 std::filesystem::path output_dir, const std::string& name) {
  std::filesystem::create_directories(output_dir);
  stdout_path_ = output_dir / (name + ".out");
  stderr_path_ = output_dir / (name + ".err");
  pid_ = ::fork();
  if (pid_ == 0) {
    int out = ::open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(5));
  }
}

bool Process::Signal(int sig) { return pid_ > 0 && !reaped_ && ::kill(pid_, sig) == 0; }

int Process::Wait(std::chrono::milliseconds timeout) {
  if (reaped_) return exit_code_;
  auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool Process::running() { return Wait(std::chrono::milliseconds(0)) == -1 && !reaped_; }

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Process::Stdout() const { return ReadFile(stdout_path_); }
std::string Process::Stderr() const { return ReadFile(stderr_path_); }

RunResult RunCommand(std::vector<std::string> argv, std::map<std::string, std::string> env,
                     const std::filesystem::path& output_dir, std::chrono::milliseconds timeout) {
  static int counter = 0;
  Process p(std::move(argv), std::move(env), output_dir, "run-" + std::to_string(++counter));
  RunResult r;
  r.exit_code = p.Wait(timeout);
  r.out = p.Stdout();
  r.err = p.Stderr();
  return r;
}

HttpResult WaitForHealthSaying(int port, int want_status, std::string_view text,
                               std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  HttpResult r;
  while (Clock::now() < deadline) {
    r = HttpRequest(port, "GET", "/api/__health_check", "", {}, std::chrono::milliseconds(1000));
    if (r.status == want_status && r.body.find(text) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return r;
}

bool WaitForHealth(int port, int want_status, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    HttpResult r =
        HttpRequest(port, "GET", "/api/__health_check", "", {}, std::chrono::milliseconds(1000));
    if (r.status == want_status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace slipway::testing
