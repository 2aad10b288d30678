// Helpers shared by Slipway's tests: temporary directories, free ports, child processes and a
// small blocking HTTP client over POSIX sockets (kept free of Beast so tests compile quickly).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace slipway::testing {

// A fresh directory under $TMPDIR, removed when the object dies (unless KEEP_TEST_DIRS is set).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

struct HttpResult {
  int status = 0;                              // 0: no response (connection failed or closed)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;  // why status is 0
};

// One request per connection (Connection: close). `headers` are "Name: value" lines.
HttpResult HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::string& body = "", const std::vector<std::string>& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));
inline HttpResult HttpGet(int port, const std::string& target,
                          const std::vector<std::string>& headers = {}) {
  return HttpRequest(port, "GET", target, "", headers);
}

// A raw TCP connection to 127.0.0.1:port for tests that speak HTTP byte by byte.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool Send(const std::string& bytes);
  // Reads until the peer closes or `timeout` passes; returns what arrived.
  std::string ReadAll(std::chrono::milliseconds timeout);
  // Reads one HTTP response (headers + Content-Length body) or "" on timeout/close.
  std::string ReadResponse(std::chrono::milliseconds timeout);
  // True when the peer closed the connection within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string pending_;
};

// A child process with its output captured to files.
class Process {
 public:
  // Starts `argv[0]` with `argv` and the current environment plus `env` overrides.
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
          std::filesystem::path output_dir, const std::string& name);
  ~Process();  // SIGKILLs the child if it still runs

  pid_t pid() const { return pid_; }
  bool Signal(int sig);
  // Waits for exit; returns the exit code, 128+signal when killed, -1 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool running();
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  bool reaped_ = false;
  std::filesystem::path stdout_path_, stderr_path_;
};

// Runs a command to completion; returns its exit code and captured output.
struct RunResult {
  int exit_code = -1;
  std::string out, err;
};
RunResult RunCommand(std::vector<std::string> argv, std::map<std::string, std::string> env,
                     const std::filesystem::path& output_dir,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Polls `port`'s health check until it answers `want_status` or the timeout passes.
bool WaitForHealth(int port, int want_status, std::chrono::milliseconds timeout);
// Polls the health check until it answers `want_status` with `text` in its body; returns the
// last answer either way (check it with EXPECT/ASSERT).
HttpResult WaitForHealthSaying(int port, int want_status, std::string_view text,
                               std::chrono::milliseconds timeout);

std::string ReadFile(const std::filesystem::path& p);

}  // namespace slipway::testing
