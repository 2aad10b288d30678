#include "ops/local_driver.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "core/logging.h"
#include "ops/http_probe.h"
#include "ops/net_client.h"

namespace slipway::ops {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// The health check's word for a node that is up but takes no requests (api_handler.cc).
constexpr std::string_view kTakesNoRequests = "takes no requests";

std::string Trimmed(const std::string& text) {
  std::string out = text;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string LastLines(const std::string& text, int n) {
  size_t pos = text.size();
  for (int i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

}  // namespace

Result<fs::path> ReleaseBinary(const fs::path& release) {
  std::error_code ec;
  fs::path bin = fs::is_directory(release, ec) ? release / "bin" / "slipway" : release;
  if (!fs::is_regular_file(bin, ec) || ::access(bin.c_str(), X_OK) != 0) {
    return NotFound(
        "release " + release.string() + ": " + bin.string() + " is not an executable file",
        "RELEASE_NOT_FOUND");
  }
  return bin;
}

LocalOrchestrator::LocalOrchestrator(const ClusterSpec& spec,
                                     std::function<void(const std::string&)> say)
    : spec_(spec), say_(std::move(say)) {}

fs::path LocalOrchestrator::PidFile(const std::string& node) const {
  return spec_.state_dir / "run" / (node + ".pid");
}

fs::path LocalOrchestrator::LogFile(const std::string& node) const {
  return spec_.state_dir / "logs" / (node + ".log");
}

Result<std::string> LocalOrchestrator::Release() {
  std::ifstream in(spec_.state_dir / "release");
  std::string line;
  if (std::getline(in, line) && !line.empty()) return line;
  return spec_.release.string();
}

Status LocalOrchestrator::UseRelease(const std::string& release) {
  RETURN_IF_ERROR(ReleaseBinary(release).status());
  return WriteFileDurably(spec_.state_dir / "release", release + "\n");
}

Result<Environment> LocalOrchestrator::EnvironmentFor(const ClusterNode* node) const {
  Environment env = BaseEnvironment();
  env["APP_HOST"] = "127.0.0.1";
  for (const auto& [k, v] : spec_.env) env[k] = v;
  env["STORAGE_PATH"] = spec_.storage.string();
  if (!spec_.app_key_file.empty()) {
    auto key = FirstLineOf(spec_.app_key_file);
    if (!key.ok() || key->empty()) {
      return FailedPrecondition("the APP_KEY file " + spec_.app_key_file.string() +
                                    " is missing or empty (slipway cluster init writes one)",
                                "APP_KEY_MISSING");
    }
    env["APP_KEY"] = *key;
  }
  // The driver drains a node at the load balancer before it stops it: the node need not wait
  // for a load balancer to notice that it is leaving.
  if (spec_.lb_kind != "none" && !spec_.env.count("SHUTDOWN_DELAY")) env["SHUTDOWN_DELAY"] = "0";
  if (node != nullptr) {
    env["NODE_ID"] = node->id;
    env["APP_PORT"] = std::to_string(node->port);
    env["WORKER_MODE"] = node->worker_mode.text;
  } else {
    env["NODE_ID"] = spec_.name + "-tool";
  }
  return env;
}

Result<ToolRun> LocalOrchestrator::RunRelease(const std::string& release,
                                              const std::vector<std::string>& args, bool echo) {
  ASSIGN_OR_RETURN(fs::path bin, ReleaseBinary(release));
  ASSIGN_OR_RETURN(Environment env, EnvironmentFor(nullptr));
  std::vector<std::string> argv{bin.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string command;
  for (const std::string& a : argv) command += (command.empty() ? "" : " ") + a;
  std::error_code ec;
  fs::create_directories(spec_.state_dir / "logs", ec);
  std::ofstream log(spec_.state_dir / "logs" / "tool.log", std::ios::app);
  log << "$ " << command << "\n";
  log.flush();
  ASSIGN_OR_RETURN(ToolRun run, RunTool(argv, env, [&](const std::string& line) {
                     log << line << "\n";
                     log.flush();
                     // Progress and results; its log lines stay in tool.log.
                     if (echo && say_ && !line.starts_with("{") && !line.starts_with("20")) {
                       say_("    " + line);
                     }
                   }));
  log << "(exit " << run.exit_code << ")\n";
  if (run.exit_code != 0) {
    return FailedPrecondition(command + " failed (exit " + std::to_string(run.exit_code) + "):\n" +
                                  LastLines(run.output, 8),
                              "RELEASE_COMMAND_FAILED");
  }
  return run;
}

Result<std::string> LocalOrchestrator::VersionOf(const std::string& release) {
  ASSIGN_OR_RETURN(ToolRun run, RunRelease(release, {"version"}, /*echo=*/false));
  // "slipway 1.2.3 (commit ..., ... build)"
  const std::string out = Trimmed(run.output);
  size_t space = out.find(' ');
  if (!out.starts_with("slipway ") || space == std::string::npos) {
    return FailedPrecondition("release " + release + " is not a Slipway binary: " + out,
                              "RELEASE_NOT_SLIPWAY");
  }
  size_t end = out.find(' ', space + 1);
  return out.substr(space + 1, end == std::string::npos ? std::string::npos : end - space - 1);
}

std::string LocalOrchestrator::LogTail(const std::string& node) const {
  // The lines that say something: not the health checks this driver made while it waited.
  return TailOf(LogFile(node), 12, "path=/api/__health_check");
}

Result<NodeStatus> LocalOrchestrator::Probe(const ClusterNode& node) const {
  NodeStatus s;
  s.id = node.id;
  auto pid = ReadPidFile(PidFile(node.id));
  s.running = pid.has_value();
  s.pid = pid ? pid->pid : 0;
  if (!s.running) {
    s.detail = "stopped";
    return s;
  }
  HttpCall call{.port = node.port, .target = "/api/__health_check"};
  call.timeout = std::chrono::milliseconds(2000);
  auto reply = SendHttp(call);
  if (!reply.ok()) {
    s.detail = "not answering yet";
  } else if (reply->status == 200) {
    s.healthy = true;
  } else if (!node.worker_mode.serves_requests &&
             reply->body.find(kTakesNoRequests) != std::string::npos) {
    s.healthy = true;  // running, and rightly out of the load balancer
  } else {
    s.detail = std::to_string(reply->status) + " " + Trimmed(reply->body);
    // States a node does not leave by itself (api/lifecycle.h): a failed install or upgrade, a
    // binary older than the database.
    s.failed = reply->body.starts_with("error:") || reply->body.starts_with("outdated:");
  }
  return s;
}

Result<std::vector<NodeStatus>> LocalOrchestrator::Nodes() {
  std::vector<NodeStatus> out;
  for (const ClusterNode& n : spec_.nodes) {
    ASSIGN_OR_RETURN(NodeStatus s, Probe(n));
    out.push_back(std::move(s));
  }
  return out;
}

Status LocalOrchestrator::Start(const std::string& id) {
  const std::optional<ClusterNode> node = spec_.NodeById(id);
  if (!node) return NotFound("no node '" + id + "' in the spec", "NODE_NOT_FOUND");
  const auto began = std::chrono::steady_clock::now();
  std::optional<ProcessId> pid = ReadPidFile(PidFile(id));
  const bool spawned = !pid;
  if (!pid) {
    ASSIGN_OR_RETURN(std::string release, Release());
    ASSIGN_OR_RETURN(fs::path bin, ReleaseBinary(release));
    ASSIGN_OR_RETURN(Environment env, EnvironmentFor(&*node));
    // The node writes its pid file itself, first thing: were this tool killed right now, a
    // resumed procedure would still find the node instead of starting a second one.
    std::error_code ec;
    fs::remove(PidFile(id), ec);
    fs::create_directories(PidFile(id).parent_path(), ec);
    ASSIGN_OR_RETURN(ProcessId started,
                     SpawnDetached({bin.string(), "serve", "--pid-file", PidFile(id).string()}, env,
                                   LogFile(id)));
    pid = started;  // ready (below) only once its pid file names it too
  }
  const auto deadline = began + std::chrono::seconds(spec_.verify_timeout_s);
  std::string last = "not answering";
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running(*pid)) {
      std::error_code ec;
      fs::remove(PidFile(id), ec);
      return FailedPrecondition("node " + id + " exited while starting; " + LogFile(id).string() +
                                    " ends:\n" + LogTail(id),
                                "NODE_START_FAILED");
    }
    ASSIGN_OR_RETURN(NodeStatus s, Probe(*node));
    if (s.healthy) {
      if (!spawned) return Status::Ok();
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - began)
                          .count();
      core::log::Info("node ready", {{"node", id},
                                     {"port", node->port},
                                     {"pid", pid->pid},
                                     {"ms", static_cast<int64_t>(ms)}});
      return Status::Ok();
    }
    last = s.detail;
    if (s.failed) {
      return FailedPrecondition("node " + id + " failed to start: " + s.detail + "; " +
                                    LogFile(id).string() + " ends:\n" + LogTail(id),
                                "NODE_START_FAILED");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return DeadlineExceeded("node " + id + " was not ready within " +
                              std::to_string(spec_.verify_timeout_s) + " s (last: " + last + "); " +
                              LogFile(id).string() + " ends:\n" + LogTail(id),
                          "NODE_START_TIMEOUT");
}

Status LocalOrchestrator::Stop(const std::string& id) {
  if (!spec_.NodeById(id)) {
    return NotFound("no node '" + id + "' in the spec", "NODE_NOT_FOUND");
  }
  std::optional<ProcessId> pid = ReadPidFile(PidFile(id));
  if (pid) {
    const auto began = std::chrono::steady_clock::now();
    bool killed = false;
    RETURN_IF_ERROR(
        StopProcess(*pid, std::chrono::seconds(spec_.stop_timeout_s), SIGTERM, &killed));
    core::log::Info(
        "node stopped",
        {{"node", id},
         {"pid", pid->pid},
         {"ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - began)
                                         .count())},
         {"killed", killed}});
  }
  std::error_code ec;
  fs::remove(PidFile(id), ec);
  return Status::Ok();
}

Result<json::object> LocalOrchestrator::Backup(const std::string& release,
                                               const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  ASSIGN_OR_RETURN(ToolRun run,
                   RunRelease(release, {"backup", "create", "--output", path, "--json"}));
  // The JSON summary is the last line that is an object (progress went before it).
  size_t at = run.output.rfind("\n{");
  std::string line = at == std::string::npos ? run.output : run.output.substr(at + 1);
  boost::system::error_code jec;
  json::value v = json::parse(Trimmed(line), jec);
  if (jec || !v.is_object() || !v.as_object().contains("manifest")) {
    return Internal("the backup's summary is not JSON: " + LastLines(run.output, 3));
  }
  return v.as_object().at("manifest").as_object();
}

Status LocalOrchestrator::Restore(const std::string& release, const std::string& path) {
  // The database may be one that a newer release migrated, which this release refuses to open:
  // it is installed afresh by this release first (every table dropped), then the backup
  // restored into it. Both commands may run again after a crash.
  RETURN_IF_ERROR(RunRelease(release, {"install", "--force"}).status());
  return RunRelease(release, {"backup", "restore", path, "--no-safety-backup"}).status();
}

}  // namespace slipway::ops
