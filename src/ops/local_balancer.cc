#include "ops/local_balancer.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <set>
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

// Waits up to 10 s for a load balancer just started to be `ready`; fails with the end of its log
// when it exits first.
Status WaitStarted(const std::string& what, const ProcessId& pid, const fs::path& log,
                   const std::function<bool()>& ready) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (!Running(pid)) {
      return FailedPrecondition(
          what + " exited at start; " + log.string() + " ends:\n" + TailOf(log, 10),
          "LB_START_FAILED");
    }
    if (ready()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceeded(
      what + " did not become ready within 10 s; " + log.string() + " ends:\n" + TailOf(log, 10),
      "LB_START_FAILED");
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
    RETURN_IF_ERROR(WaitStarted("haproxy", pid, dir_ / "haproxy.log", [&] {
      auto info = Command("show info");
      return info.ok() &&
             info->find("\nPid: " + std::to_string(pid.pid) + "\n") != std::string::npos;
    }));
    core::log::Info(old ? "haproxy reloaded" : "haproxy started",
                    {{"port", spec_.lb_port}, {"pid", pid.pid}});
    return Status::Ok();
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
    if (!spec_.ServesRequests(node)) return Status::Ok();
    if (ReadPidFile(PidFile())) {
      // A node the configuration does not have yet (a scale undone before the reload) gets no
      // request to drain.
      ASSIGN_OR_RETURN(auto stats, Stats());
      if (!stats.count(node)) return Status::Ok();
    }
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
    if (!spec_.ServesRequests(node)) return Status::Ok();
    RETURN_IF_ERROR(Set(node, "ready"));
    // The driver enables a node once its own health check answered: HAProxy need not wait for
    // its next check to send it requests (its checks go on, and take the node out if they fail).
    ASSIGN_OR_RETURN(std::string out, Command("set server nodes/" + node + " health up"));
    if (!Trimmed(out).empty()) return Internal("haproxy: set server health up: " + Trimmed(out));
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
    out["maintenance"] = Trimmed(ReadWholeFile(AclFile())) == "on";
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
        "  default-server check inter 500ms fastinter 100ms downinter 200ms fall 2 rise 1\n" +
        servers;
    return WriteFileDurably(Config(), cfg);
  }

  const ClusterSpec& spec_;
  fs::path dir_;
};

// --- nginx -----------------------------------------------------------------------------------

// The pids of `parent`'s children (nginx's workers).
std::set<int> ChildrenOf(int parent) {
  std::set<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(e.path() / "stat");
    std::string text;
    if (!std::getline(in, text)) continue;
    size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    int ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent && state != "Z") out.insert(std::atoi(name.c_str()));
  }
  return out;
}

class Nginx final : public LoadBalancer {
 public:
  explicit Nginx(const ClusterSpec& spec) : spec_(spec), dir_(spec.state_dir / "lb") {}

  Status Up(const std::vector<ClusterNode>& nodes) override {
    std::error_code ec;
    fs::create_directories(dir_ / "temp", ec);
    nodes_ = nodes;
    RETURN_IF_ERROR(WriteFiles());
    if (ReadPidFile(PidFile())) return Reload();
    ASSIGN_OR_RETURN(ProcessId pid,
                     SpawnDetached({"nginx", "-p", dir_.string() + "/", "-c", Config().string(),
                                    "-e", (dir_ / "error.log").string(), "-g", "daemon off;"},
                                   BaseEnvironment(), dir_ / "nginx.out"));
    // Ready once it listens (its own pid file is written by then).
    RETURN_IF_ERROR(WaitStarted("nginx", pid, dir_ / "error.log", [&] {
      HttpCall call{.port = spec_.lb_port, .target = "/api/__health_check"};
      call.timeout = std::chrono::milliseconds(500);
      return SendHttp(call).ok() && ReadPidFile(PidFile()).has_value();
    }));
    core::log::Info("nginx started", {{"port", spec_.lb_port}, {"pid", pid.pid}});
    return Status::Ok();
  }

  Status Down() override {
    std::optional<ProcessId> pid = ReadPidFile(PidFile());
    if (!pid) return Status::Ok();
    // SIGQUIT: a graceful stop, requests under way finish.
    return StopProcess(*pid, std::chrono::seconds(spec_.stop_timeout_s), SIGQUIT);
  }

  Status SetMaintenance(bool on) override {
    RETURN_IF_ERROR(WriteFileDurably(MaintenanceFile(),
                                     on ? "set $maintenance 1;\n" : "set $maintenance 0;\n"));
    return ReloadIfRunning();
  }

  Status Drain(const std::string& node) override {
    if (!spec_.ServesRequests(node)) return Status::Ok();
    std::set<std::string> drained = Drained();
    if (!drained.insert(node).second && ReadPidFile(PidFile())) return Status::Ok();
    RETURN_IF_ERROR(WriteDrained(drained));
    return ReloadIfRunning();
  }

  Status Enable(const std::string& node) override {
    if (!spec_.ServesRequests(node)) return Status::Ok();
    std::set<std::string> drained = Drained();
    if (drained.erase(node) == 0) return Status::Ok();
    RETURN_IF_ERROR(WriteDrained(drained));
    return ReloadIfRunning();
  }

  Result<json::object> Describe() override {
    json::object out{{"kind", "nginx"}, {"port", spec_.lb_port}};
    std::optional<ProcessId> pid = ReadPidFile(PidFile());
    out["pid"] = pid ? pid->pid : 0;
    out["maintenance"] = ReadWholeFile(MaintenanceFile()).find(" 1;") != std::string::npos;
    json::object servers;
    const std::set<std::string> drained = Drained();
    for (const ClusterNode* n : spec_.RequestNodes()) {
      servers[n->id] = drained.count(n->id) ? "DRAINED" : "UP";
    }
    out["servers"] = std::move(servers);
    return out;
  }

 private:
  fs::path Config() const { return dir_ / "nginx.conf"; }
  fs::path PidFile() const { return dir_ / "nginx.pid"; }
  fs::path MaintenanceFile() const { return dir_ / "maintenance.conf"; }
  fs::path UpstreamFile() const { return dir_ / "upstream.conf"; }
  fs::path DrainedFile() const { return dir_ / "drained"; }

  std::set<std::string> Drained() const {
    std::set<std::string> out;
    std::istringstream in(ReadWholeFile(DrainedFile()));
    std::string id;
    while (in >> id) out.insert(id);
    return out;
  }

  Status WriteDrained(const std::set<std::string>& drained) {
    std::string text;
    for (const std::string& id : drained) text += id + "\n";
    RETURN_IF_ERROR(WriteFileDurably(DrainedFile(), text));
    return WriteUpstream();
  }

  Status WriteUpstream() {
    if (nodes_.empty()) {
      for (const ClusterNode* n : spec_.RequestNodes()) nodes_.push_back(*n);
    }
    const std::set<std::string> drained = Drained();
    std::string servers;
    for (const ClusterNode& n : nodes_) {
      servers += "  server 127.0.0.1:" + std::to_string(n.port) +
                 (drained.count(n.id) ? " down;  # " : ";  # ") + n.id + "\n";
    }
    return WriteFileDurably(UpstreamFile(),
                            "upstream slipway_nodes {\n" + servers + "  keepalive 32;\n}\n");
  }

  // HUP, then wait until the workers of the old configuration are gone (they finish the
  // requests they have): from then on, every request follows the new one.
  Status Reload() {
    std::optional<ProcessId> pid = ReadPidFile(PidFile());
    if (!pid) return FailedPrecondition("nginx is not running", "LB_NOT_RUNNING");
    ASSIGN_OR_RETURN(ToolRun check,
                     RunTool({"nginx", "-t", "-q", "-p", dir_.string() + "/", "-c",
                              Config().string(), "-e", (dir_ / "error.log").string()},
                             BaseEnvironment()));
    if (check.exit_code != 0) {
      return Internal("the generated nginx configuration is refused: " + check.output);
    }
    const std::set<int> old_workers = ChildrenOf(pid->pid);
    ::kill(pid->pid, SIGHUP);
    const auto deadline = Clock::now() + std::chrono::seconds(spec_.stop_timeout_s);
    for (;;) {
      // Old workers still there, and a worker of the new configuration started.
      const std::set<int> now = ChildrenOf(pid->pid);
      bool left = false, fresh = false;
      for (int w : now) (old_workers.count(w) ? left : fresh) = true;
      if (!left && fresh) return Status::Ok();
      if (Clock::now() > deadline) {
        return DeadlineExceeded("nginx's old workers did not finish after a reload",
                                "LB_RELOAD_TIMEOUT");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Status ReloadIfRunning() {
    if (!ReadPidFile(PidFile())) return Status::Ok();
    RETURN_IF_ERROR(WriteUpstream());
    return Reload();
  }

  Status WriteFiles() {
    std::error_code ec;
    if (!fs::exists(MaintenanceFile(), ec)) {
      RETURN_IF_ERROR(WriteFileDurably(MaintenanceFile(), "set $maintenance 0;\n"));
    }
    RETURN_IF_ERROR(WriteFileDurably(dir_ / "__maintenance.json", LbMaintenanceJson()));
    RETURN_IF_ERROR(WriteFileDurably(dir_ / "__maintenance.html", LbMaintenanceHtml()));
    RETURN_IF_ERROR(WriteUpstream());
    const std::string d = dir_.string();
    std::string user;
    if (::geteuid() == 0) user = "user root;\n";  // workers read the files of this folder
    std::string cfg =
        "# Written by slipway cluster from " + spec_.file.string() +
        "; rewritten at every `slipway cluster up|scale`.\n" + user +
        "worker_processes 1;\n"
        "pid " +
        PidFile().string() +
        ";\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "  access_log off;\n"
        "  client_max_body_size 0;  # each node enforces its own HTTP_BODY_LIMIT\n"
        "  client_body_temp_path " +
        d +
        "/temp/body;\n"
        "  proxy_temp_path " +
        d +
        "/temp/proxy;\n"
        "  fastcgi_temp_path " +
        d +
        "/temp/fastcgi;\n"
        "  uwsgi_temp_path " +
        d +
        "/temp/uwsgi;\n"
        "  scgi_temp_path " +
        d +
        "/temp/scgi;\n"
        "  types { application/json json; text/html html; }\n"
        "  map $http_accept $maintenance_page {\n"
        "    ~text/html /__maintenance.html;\n"
        "    default /__maintenance.json;\n"
        "  }\n"
        "  include " +
        UpstreamFile().string() +
        ";\n"
        "  server {\n"
        "    listen 127.0.0.1:" +
        std::to_string(spec_.lb_port) +
        ";\n"
        "    # The maintenance page: this file says 1 or 0, switched by a reload.\n"
        "    include " +
        MaintenanceFile().string() +
        ";\n"
        "    error_page 503 $maintenance_page;\n"
        "    error_page 502 504 =503 $maintenance_page;\n"
        "    location = /__maintenance.json { internal; root " +
        d +
        "; add_header Retry-After 10 always; add_header Cache-Control no-cache always; }\n"
        "    location = /__maintenance.html { internal; root " +
        d +
        "; add_header Retry-After 10 always; add_header Cache-Control no-cache always; }\n"
        "    location / {\n"
        "      if ($maintenance) { return 503; }\n"
        "      proxy_pass http://slipway_nodes;\n"
        "      proxy_http_version 1.1;\n"
        "      proxy_set_header Connection \"\";\n"
        "      proxy_set_header Host $host;\n"
        "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "      # A request that met a refused or closed connection goes to another node; a write\n"
        "      # is never sent twice (nginx retries only idempotent methods).\n"
        "      proxy_next_upstream error timeout;\n"
        "      proxy_read_timeout 60s;\n"
        "    }\n"
        "  }\n"
        "}\n";
    return WriteFileDurably(Config(), cfg);
  }

  const ClusterSpec& spec_;
  fs::path dir_;
  std::vector<ClusterNode> nodes_;
};

}  // namespace

std::unique_ptr<LoadBalancer> MakeLocalBalancer(const ClusterSpec& spec) {
  if (spec.lb_kind == "haproxy") return std::make_unique<Haproxy>(spec);
  if (spec.lb_kind == "nginx") return std::make_unique<Nginx>(spec);
  return nullptr;
}

}  // namespace slipway::ops
