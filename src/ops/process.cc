#include "ops/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace slipway::ops {
namespace fs = std::filesystem;

namespace {

uint64_t StartTimeOf(int pid, char* state) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  // The command may hold spaces and parentheses: fields start after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  uint64_t start = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 3 && state != nullptr) *state = field.empty() ? '?' : field[0];
    if (i == 22) {
      start = std::strtoull(field.c_str(), nullptr, 10);
      break;
    }
  }
  return start;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> EnvStrings(const Environment& env) {
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// In a forked child: only async-signal-safe calls until exec.
[[noreturn]] void ExecChild(std::vector<std::string>& argv, std::vector<std::string>& env) {
  ::close_range(3, ~0U, 0);
  std::vector<char*> args = CStrings(argv), vars = CStrings(env);
  ::execvpe(args[0], args.data(), vars.data());
  const char* why = std::strerror(errno);
  (void)!::write(2, "exec ", 5);
  (void)!::write(2, args[0], std::strlen(args[0]));
  (void)!::write(2, ": ", 2);
  (void)!::write(2, why, std::strlen(why));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

// The procs file of the idle cgroup background commands join (empty: none), set at start-up.
std::mutex background_mutex;
std::string background_procs;

std::string BackgroundProcs() {
  std::lock_guard lock(background_mutex);
  return background_procs;
}

void SetBackgroundProcs(std::string procs) {
  std::lock_guard lock(background_mutex);
  background_procs = std::move(procs);
}

// Writes `text` to a kernel file that exists (a cgroup's), naming the file in the error.
Status WriteKernelFile(const fs::path& file, std::string_view text) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return FailedPrecondition("cannot open " + file.string() + ": " + std::strerror(errno));
  }
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int error = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return FailedPrecondition("cannot write '" + std::string(text) + "' to " + file.string() +
                              ": " + std::strerror(error));
  }
  return Status::Ok();
}

// Moves the calling process into the cgroup whose procs file this is ("0": the process
// writing). Open and write only: safe in a child forked from a process with threads.
bool JoinCgroup(const char* procs) {
  int fd = ::open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool joined = ::write(fd, "0", 1) == 1;
  ::close(fd);
  return joined;
}

// Whether a process of ours may move into the cgroup whose procs file this is: a child tries
// and exits.
bool CanJoin(const fs::path& procs) {
  const std::string path = procs.string();
  pid_t child = ::fork();
  if (child < 0) return false;
  if (child == 0) _exit(JoinCgroup(path.c_str()) ? 0 : 1);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool HasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (list.substr(0, comma) == token) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Splits on `separator`, leaving out empty pieces.
std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  while (!text.empty()) {
    size_t at = text.find(separator);
    if (at != 0) pieces.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return pieces;
}

}  // namespace

Environment BaseEnvironment() {
  Environment env;
  for (const char* name : {"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  if (!env.count("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  return env;
}

Environment ThisEnvironment() {
  Environment env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
  }
  return env;
}

ProcessId ThisProcess() {
  char state = '?';
  return ProcessId{static_cast<int>(::getpid()), StartTimeOf(static_cast<int>(::getpid()), &state)};
}

bool Running(const ProcessId& id) {
  if (id.pid <= 0) return false;
  char state = '?';
  uint64_t start = StartTimeOf(id.pid, &state);
  return start != 0 && start == id.start_time && state != 'Z' && state != 'X';
}

Result<ProcessId> SpawnDetached(const std::vector<std::string>& argv, const Environment& env,
                                const fs::path& log) {
  if (argv.empty()) return InvalidArgument("nothing to start");
  std::error_code ec;
  fs::create_directories(log.parent_path(), ec);
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return Internal("cannot open " + log.string() + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    ::close(null_fd);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<std::string> args = argv, vars = EnvStrings(env);
  pid_t child = ::fork();
  if (child < 0) {
    ::close(log_fd);
    ::close(null_fd);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    // The first child starts a session and forks the process itself, which init adopts.
    ::setsid();
    pid_t grandchild = ::fork();
    if (grandchild != 0) {
      int32_t pid = grandchild;
      (void)!::write(pipe_fds[1], &pid, sizeof(pid));
      ::_exit(grandchild > 0 ? 0 : 1);
    }
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ExecChild(args, vars);
  }
  ::close(pipe_fds[1]);
  ::close(log_fd);
  ::close(null_fd);
  int32_t pid = 0;
  ssize_t n = ::read(pipe_fds[0], &pid, sizeof(pid));
  ::close(pipe_fds[0]);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  if (n != sizeof(pid) || pid <= 0) return Internal("could not start " + argv[0]);
  ProcessId id{pid, 0};
  // The start time is there as soon as the process exists.
  char state = '?';
  id.start_time = StartTimeOf(pid, &state);
  if (id.start_time == 0) {
    return Internal(argv[0] + " exited at once; its log " + log.string() + " ends:\n" +
                    TailOf(log, 10));
  }
  return id;
}

Status WriteFileDurably(const fs::path& file, const std::string& text) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  // A name of this write's own: two threads may write the same file (HAProxy's server state as
  // nodes are enabled at once); the last rename wins, whole.
  static std::atomic<uint64_t> writes{0};
  const fs::path tmp = file.string() + ".tmp." + std::to_string(::getpid()) + "." +
                       std::to_string(writes.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Internal("cannot write " + tmp.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Internal("cannot write " + file.string() + ": " + std::strerror(errno));
  }
  int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

Status WritePidFile(const fs::path& file, const ProcessId& id) {
  return WriteFileDurably(file,
                          std::to_string(id.pid) + " " + std::to_string(id.start_time) + "\n");
}

std::optional<ProcessId> ReadPidFile(const fs::path& file) {
  std::ifstream in(file);
  ProcessId id;
  if (!(in >> id.pid)) return std::nullopt;
  if (!(in >> id.start_time)) {
    // A pid file another program wrote (HAProxy's, nginx's): the pid alone.
    char state = '?';
    id.start_time = StartTimeOf(id.pid, &state);
  }
  if (!Running(id)) return std::nullopt;
  return id;
}

Status StopProcess(const ProcessId& id, std::chrono::milliseconds grace, int signal, bool* killed) {
  if (killed != nullptr) *killed = false;
  if (!Running(id)) return Status::Ok();
  ::kill(id.pid, signal);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (Running(id) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!Running(id)) return Status::Ok();
  if (killed != nullptr) *killed = true;
  ::kill(id.pid, SIGKILL);
  for (int i = 0; i < 200 && Running(id); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (Running(id)) return Internal("process " + std::to_string(id.pid) + " does not end");
  return Status::Ok();
}

Result<ToolRun> RunTool(const std::vector<std::string>& argv, const Environment& env,
                        const std::function<void(const std::string&)>& on_line) {
  return RunTool(
      argv, env,
      [&](const std::string& line) {
        if (on_line) on_line(line);
        return Status::Ok();
      },
      ToolOptions{});
}

Result<ToolRun> RunTool(const std::vector<std::string>& argv, const Environment& env,
                        const std::function<Status(const std::string&)>& on_line,
                        const ToolOptions& options) {
  if (argv.empty()) return InvalidArgument("nothing to run");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<std::string> args = argv, vars = EnvStrings(env);
  const std::string idle_procs = options.background ? BackgroundProcs() : std::string();
  pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    ::close(null_fd);
    return Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    // A command dies with the tool that runs it (killed or not): a resumed procedure runs it
    // again and must not meet the first one still writing.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (options.background) {
      if (!idle_procs.empty()) JoinCgroup(idle_procs.c_str());
      ::setsid();  // a new autogroup, which only this command is in
      int fd = ::open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)!::write(fd, "19", 2);  // refused where autogroups are off: then SCHED_IDLE only
        ::close(fd);
      }
      struct sched_param none {};
      ::sched_setscheduler(0, SCHED_IDLE, &none);
    }
    ::dup2(null_fd, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ExecChild(args, vars);
  }
  ::close(fds[1]);
  ::close(null_fd);
  ToolRun run;
  Status stopped;  // the first error of on_line, after which the command is killed
  auto line = [&](const std::string& text) {
    if (!stopped.ok()) return;
    stopped = on_line(text);
    if (!stopped.ok()) ::kill(child, SIGKILL);
  };
  std::string pending;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.output.append(buf, static_cast<size_t>(n));
    pending.append(buf, static_cast<size_t>(n));
    // A progress bar redraws with '\r': each redraw is a line too.
    size_t cut;
    while ((cut = pending.find_first_of("\r\n")) != std::string::npos) {
      std::string text = pending.substr(0, cut);
      pending.erase(0, cut + 1);
      if (!text.empty()) line(text);
    }
  }
  if (!pending.empty()) line(pending);
  ::close(fds[0]);
  int wstatus = 0;
  while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!stopped.ok()) return stopped;
  run.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return run;
}

std::string ReadWholeFile(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string TailOf(const fs::path& file, int lines, std::string_view skip) {
  std::ifstream in(file);
  std::vector<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    if (!skip.empty() && line.find(skip) != std::string::npos) continue;
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.erase(last.begin());
  }
  std::string out;
  for (const std::string& l : last) out += "  " + l + "\n";
  return out;
}

std::optional<fs::path> AutoBackgroundCgroup(std::string_view mountinfo,
                                             std::string_view self_cgroup) {
  // This process's cgroup in each hierarchy: "<id>:<controllers>:<path>" (v2: "0::<path>").
  std::optional<std::string_view> v1_path, v2_path;
  for (std::string_view line : Split(self_cgroup, '\n')) {
    size_t first = line.find(':');
    size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (controllers.empty() && line.substr(0, first) == "0") v2_path = path;
    if (HasToken(controllers, "cpu")) v1_path = path;
  }
  // Mounts: "<id> <parent> <dev> <root> <mount point> <options> [optional...] - <type> <source>
  // <super options>"; a mount shows its hierarchy from <root> down.
  std::optional<fs::path> v1, v2;
  for (std::string_view line : Split(mountinfo, '\n')) {
    std::vector<std::string_view> words = Split(line, ' ');
    auto dash = std::find(words.begin(), words.end(), "-");
    if (words.size() < 5 || dash == words.end() || words.end() - dash < 4) continue;
    const std::string_view type = dash[1], super_options = dash[3], root = words[3];
    std::optional<std::string_view> own;
    if (type == "cgroup" && HasToken(super_options, "cpu")) own = v1_path;
    if (type == "cgroup2") own = v2_path;
    if (!own) continue;
    std::string_view below = *own;
    if (root != "/") {
      if (!below.starts_with(root) || (below.size() > root.size() && below[root.size()] != '/')) {
        continue;  // this process's cgroup is outside what the mount shows
      }
      below.remove_prefix(root.size());
    }
    fs::path dir = fs::path(words[4]) / fs::path(below).relative_path() / "slipway-background";
    (type == "cgroup" ? v1 : v2) = dir.lexically_normal();
  }
  return v1 ? v1 : v2;
}

Status PrepareIdleCgroup(const fs::path& dir) {
  std::error_code ec;
  const bool created = fs::create_directory(dir, ec);
  if (ec) {
    return FailedPrecondition("cannot create the cgroup " + dir.string() + ": " + ec.message());
  }
  auto fail = [&](Status status) {
    std::error_code ignored;
    if (created) fs::remove(dir, ignored);
    return status;
  };
  const fs::path idle = dir / "cpu.idle";
  if (!fs::exists(idle)) {
    // cgroup v2: a child has the cpu controller's files once its parent hands the controller
    // down (refused while the parent holds processes and is not the root: delegate a subtree).
    Status handed = WriteKernelFile(dir.parent_path() / "cgroup.subtree_control", "+cpu");
    if (!handed.ok()) return fail(handed);
    if (!fs::exists(idle)) {
      return fail(FailedPrecondition(dir.string() + " has no cpu.idle (Linux 5.15 or later)"));
    }
  }
  if (Status set = WriteKernelFile(idle, "1"); !set.ok()) return fail(set);
  const std::string now = ReadWholeFile(idle);
  if (now.empty() || now[0] != '1') {
    return fail(FailedPrecondition(idle.string() + " reads '" + now + "' once 1 was written"));
  }
  return Status::Ok();
}

Result<std::string> SetUpBackgroundWork(std::string_view setting) {
  SetBackgroundProcs({});
  const std::string fallback =
      "background work runs at the lowest weight (nice 19, SCHED_IDLE), not in an idle cgroup: ";
  if (setting == "off") return fallback + "BACKGROUND_CGROUP is off";
  const bool automatic = setting.empty() || setting == "auto";
  fs::path dir;
  if (automatic) {
    auto found = AutoBackgroundCgroup(ReadWholeFile("/proc/self/mountinfo"),
                                      ReadWholeFile("/proc/self/cgroup"));
    if (!found) return fallback + "no cgroup hierarchy has the cpu controller";
    dir = *found;
  } else {
    dir = fs::path(setting);
    if (!dir.is_absolute()) {
      return InvalidArgument(
          "BACKGROUND_CGROUP must be auto, off or the absolute path of a cgroup directory, not '" +
          std::string(setting) + "'");
    }
  }
  Status ready = PrepareIdleCgroup(dir);
  if (ready.ok() && !CanJoin(dir / "cgroup.procs")) {
    ready = FailedPrecondition("a process cannot move into " + (dir / "cgroup.procs").string());
  }
  if (!ready.ok()) {
    if (!automatic) return FailedPrecondition("BACKGROUND_CGROUP: " + ready.message());
    return fallback + ready.message();
  }
  SetBackgroundProcs((dir / "cgroup.procs").string());
  return "background work runs in the idle cgroup " + dir.string();
}

}  // namespace slipway::ops
