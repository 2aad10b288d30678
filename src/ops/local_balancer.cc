#include "ops/local_balancer.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "api/lifecycle.h"
#include "core/logging.h"
#include "ops/net_client.h"
#include "ops/process.h"

namespace slipway::ops {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMaintenanceMessage[] =
    "the application is under maintenance; it will be back shortly";

std::string LbMaintenanceJson() {
  return api::MaintenanceBody("APP_COMMANDING", kMaintenanceMessage, "maintenance", false).body;
}
std::string LbMaintenanceHtml() {
  return api::MaintenanceBody("APP_COMMANDING", kMaintenanceMessage, "maintenance", true).body;
}

std::string ReadWhole(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- HAProxy ---------------------------------------------------------------------------------

class Haproxy final : public LoadBalancer {
 public:
  explicit Haproxy(const ClusterSpec& spec) : spec_(spec), dir_(spec.state_dir / "lb") {}

  Status Up(const std::vector<ClusterNode>& nodes) override {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    RETURN_IF_ERROR(WriteFiles(nodes));
    std::optional<ProcessId> old = ReadPidFile(PidFile());
    std::vector<std::string> argv{"haproxy", "-db", "-f", Config().string()};
    if (old) {
      // A reload: the new process takes the listening socket over and the servers' states;
      // the old one finishes the requests it has.
      RETURN_IF_ERROR(SaveServerState());
      argv.insert(argv.end(),
                  {"-x", spec_.lb_admin_socket.string(), "-sf", std::to_string(old->pid)});
    }
    RETURN_IF_ERROR(CheckConfig());
    ASSIGN_OR_RETURN(ProcessId pid, SpawnDetached(argv, BaseEnvironment(), dir_ / "haproxy.log"));
    RETURN_IF_ERROR(WritePidFile(PidFile(), pid));
    // Ready once its runtime API answers as the new process.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (!Running(pid)) {
        return FailedPrecondition("haproxy exited at start; " + (dir_ / "haproxy.log").string() +
                                      " ends:\n" + TailOf(dir_ / "haproxy.log", 10),
                                  "LB_START_FAILED");
      }
      auto info = Command("show info");
      if (info.ok() &&
          info->find("\nPid: " + std::to_string(pid.pid) + "\n") != std::string::npos) {
        core::log::Info(old ? "haproxy reloaded" : "haproxy started",
                        {{"port", spec_.lb_port}, {"pid", pid.pid}});
        return Status::Ok();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return DeadlineExceeded("haproxy did not answer on " + spec_.lb_admin_socket.string(),
                            "LB_START_FAILED");
  }

  Status Down() override {
    std::optional<ProcessId> pid = ReadPidFile(PidFile());
    if (!pid) return Status::Ok();
    (void)SaveServerState();
    // SIGUSR1: a soft stop, connections under way finish.
    RETURN_IF_ERROR(StopProcess(*pid, std::chrono::seconds(spec_.stop_timeout_s), SIGUSR1));
    std::error_code ec;
    fs::remove(PidFile(), ec);
    return Status::Ok();
  }

  Status SetMaintenance(bool on) override {
    // The file first (a restarted HAProxy reads it), then the running one.
    RETURN_IF_ERROR(WriteFileDurably(AclFile(), on ? "on\n" : ""));
    if (!ReadPidFile(PidFile())) return Status::Ok();
    ASSIGN_OR_RETURN(std::string out, Command(on ? "add acl " + AclFile().string() + " on"
                                                 : "clear acl " + AclFile().string()));
    if (!Trimmed(out).empty()) {
      return Internal("haproxy refused to switch the maintenance page: " + Trimmed(out));
    }
    return Status::Ok();
  }

  Status Drain(const std::string& node) override {
    if (!Behind(node)) return Status::Ok();
    RETURN_IF_ERROR(Set(node, "drain"));
    // Those under way finish; no new one arrives.
    const auto deadline = Clock::now() + std::chrono::seconds(spec_.stop_timeout_s);
    for (;;) {
      ASSIGN_OR_RETURN(auto stats, Stats());
      auto it = stats.find(node);
      if (it == stats.end() || it->second.current == 0) break;
      if (Clock::now() > deadline) {
        return DeadlineExceeded("node " + node + " still has " +
                                    std::to_string(it->second.current) +
                                    " requests under way at haproxy",
                                "LB_DRAIN_TIMEOUT");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    RETURN_IF_ERROR(Set(node, "maint"));
    return SaveServerState();
  }

  Status Enable(const std::string& node) override {
    if (!Behind(node)) return Status::Ok();
    RETURN_IF_ERROR(Set(node, "ready"));
    const auto deadline = Clock::now() + std::chrono::seconds(spec_.verify_timeout_s);
    std::string last;
    while (Clock::now() < deadline) {
      ASSIGN_OR_RETURN(auto stats, Stats());
      auto it = stats.find(node);
      last = it == stats.end() ? "absent" : it->second.status;
      if (last == "UP") return SaveServerState();  // not "UP 1/2": going down
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return DeadlineExceeded("haproxy does not see node " + node + " up (it says " + last + ")",
                            "LB_ENABLE_TIMEOUT");
  }

  Result<json::object> Describe() override {
    json::object out{{"kind", "haproxy"}, {"port", spec_.lb_port}};
    std::optional<ProcessId> pid = ReadPidFile(PidFile());
    out["pid"] = pid ? pid->pid : 0;
    out["maintenance"] = Trimmed(ReadWhole(AclFile())) == "on";
    json::object servers;
    if (pid) {
      ASSIGN_OR_RETURN(auto stats, Stats());
      for (const auto& [name, s] : stats) servers[name] = s.status;
    }
    out["servers"] = std::move(servers);
    return out;
  }

 private:
  struct ServerStat {
    std::string status;   // UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/2", ...
    int64_t current = 0;  // requests under way (scur)
  };

  static std::string Trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  fs::path Config() const { return dir_ / "haproxy.cfg"; }
  fs::path PidFile() const { return dir_ / "haproxy.pid"; }
  fs::path AclFile() const { return dir_ / "maintenance.acl"; }
  fs::path StateFile() const { return dir_ / "server-state"; }

  bool Behind(const std::string& node) const {
    const ClusterNode* n = spec_.FindNode(node);
    return n != nullptr && n->worker_mode.serves_requests;
  }

  Result<std::string> Command(const std::string& command) const {
    return UnixSocketCommand(spec_.lb_admin_socket.string(), command);
  }

  Status Set(const std::string& node, const std::string& state) {
    if (!ReadPidFile(PidFile())) {
      return FailedPrecondition("haproxy is not running (slipway cluster up starts it)",
                                "LB_NOT_RUNNING");
    }
    ASSIGN_OR_RETURN(std::string out, Command("set server nodes/" + node + " state " + state));
    if (!Trimmed(out).empty()) {
      return Internal("haproxy: set server nodes/" + node + " state " + state + ": " +
                      Trimmed(out));
    }
    return Status::Ok();
  }

  Result<std::map<std::string, ServerStat>> Stats() const {
    ASSIGN_OR_RETURN(std::string csv, Command("show stat"));
    std::map<std::string, ServerStat> out;
    std::istringstream lines(csv);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> f;
      std::istringstream cells(line);
      std::string cell;
      while (std::getline(cells, cell, ',')) f.push_back(cell);
      if (f.size() < 18 || f[0] != "nodes" || f[1] == "BACKEND" || f[1] == "FRONTEND") continue;
      out[f[1]] = ServerStat{f[17], std::strtoll(f[4].c_str(), nullptr, 10)};
    }
    return out;
  }

  Status SaveServerState() {
    if (!ReadPidFile(PidFile())) return Status::Ok();
    ASSIGN_OR_RETURN(std::string state, Command("show servers state"));
    return WriteFileDurably(StateFile(), state);
  }

  Status CheckConfig() {
    ASSIGN_OR_RETURN(ToolRun run,
                     RunTool({"haproxy", "-c", "-q", "-f", Config().string()}, BaseEnvironment()));
    if (run.exit_code != 0) {
      return Internal("the generated haproxy configuration is refused: " + run.output);
    }
    return Status::Ok();
  }

  Status WriteFiles(const std::vector<ClusterNode>& nodes) {
    std::error_code ec;
    if (!fs::exists(AclFile(), ec)) RETURN_IF_ERROR(WriteFileDurably(AclFile(), ""));
    // An empty state file in the format HAProxy writes (version 1, no server yet).
    if (!fs::exists(StateFile(), ec)) RETURN_IF_ERROR(WriteFileDurably(StateFile(), "1\n"));
    RETURN_IF_ERROR(WriteFileDurably(dir_ / "maintenance.json", LbMaintenanceJson()));
    RETURN_IF_ERROR(WriteFileDurably(dir_ / "maintenance.html", LbMaintenanceHtml()));
    const std::string body = LbMaintenanceJson();
    RETURN_IF_ERROR(WriteFileDurably(
        dir_ / "503.http",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
        "Retry-After: 10\r\nCache-Control: no-cache\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body));
    std::string servers;
    for (const ClusterNode& n : nodes) {
      servers += "  server " + n.id + " 127.0.0.1:" + std::to_string(n.port) + "\n";
    }
    const std::string d = dir_.string();
    std::string cfg =
        "# Written by slipway cluster from " + spec_.file.string() +
        "; rewritten at every `slipway cluster up|scale`.\n"
        "global\n"
        "  stats socket " +
        spec_.lb_admin_socket.string() +
        " level admin expose-fd listeners\n"
        "  server-state-file " +
        StateFile().string() +
        "\n"
        "  maxconn 8192\n"
        "defaults\n"
        "  mode http\n"
        "  timeout connect 2s\n"
        "  timeout client 60s\n"
        "  timeout server 60s\n"
        "  timeout http-keep-alive 10s\n"
        "  load-server-state-from-file global\n"
        "  errorfile 503 " +
        d +
        "/503.http\n"
        "frontend slipway\n"
        "  bind 127.0.0.1:" +
        std::to_string(spec_.lb_port) +
        "\n"
        "  # The maintenance page, switched through the runtime API (add acl / clear acl).\n"
        "  acl maintenance str(on) -m str -f " +
        AclFile().string() +
        "\n"
        "  acl wants_html req.hdr(accept) -m sub text/html\n"
        "  http-request return status 503 content-type \"text/html; charset=utf-8\" hdr "
        "Retry-After 10 file " +
        d +
        "/maintenance.html if maintenance wants_html\n"
        "  http-request return status 503 content-type \"application/json; charset=utf-8\" hdr "
        "Retry-After 10 file " +
        d +
        "/maintenance.json if maintenance\n"
        "  default_backend nodes\n"
        "backend nodes\n"
        "  balance roundrobin\n"
        "  option httpchk GET /api/__health_check\n"
        "  http-check expect status 200\n"
        "  # A request that met a refused or closed connection goes to another node; only GET and\n"
        "  # HEAD are retried once sent (a write is never sent twice).\n"
        "  retries 3\n"
        "  option redispatch 1\n"
        "  retry-on conn-failure empty-response response-timeout\n"
        "  http-request disable-l7-retry if !METH_GET\n"
        "  default-server check inter 500ms fall 2 rise 1\n" +
        servers;
    return WriteFileDurably(Config(), cfg);
  }

  const ClusterSpec& spec_;
  fs::path dir_;
};

}  // namespace

std::unique_ptr<LoadBalancer> MakeLocalBalancer(const ClusterSpec& spec) {
  if (spec.lb_kind == "haproxy") return std::make_unique<Haproxy>(spec);
  return nullptr;
}

}  // namespace slipway::ops
