#include "ops/cluster_spec.h"

#include <toml++/toml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "ops/process.h"

namespace slipway::ops {
namespace fs = std::filesystem;

namespace {

Status Bad(const std::string& where, const std::string& what) {
  return InvalidArgument("spec: " + where + ": " + what, "BAD_SPEC");
}

// Refuses keys of `table` outside `allowed` (a typo silently ignored is a cluster misconfigured).
Status OnlyKeys(const toml::table& table, const std::string& where,
                std::initializer_list<std::string_view> allowed) {
  for (auto&& [key, value] : table) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key.str() == a;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Bad(where.empty() ? std::string(key.str()) : where + "." + std::string(key.str()),
                 "unknown key (known here: " + list + ")");
    }
  }
  return Status::Ok();
}

Result<std::string> String(const toml::table& t, const std::string& where, std::string_view key,
                           std::optional<std::string> otherwise) {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    if (otherwise) return *otherwise;
    return Bad(where + "." + std::string(key), "missing");
  }
  if (!n->is_string()) return Bad(where + "." + std::string(key), "must be a string");
  return std::string(*n->value<std::string>());
}

Result<int64_t> Integer(const toml::table& t, const std::string& where, std::string_view key,
                        std::optional<int64_t> otherwise) {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    if (otherwise) return *otherwise;
    return Bad(where + "." + std::string(key), "missing");
  }
  if (!n->is_integer()) return Bad(where + "." + std::string(key), "must be an integer");
  return *n->value<int64_t>();
}

Result<int> Port(const toml::table& t, const std::string& where, std::string_view key,
                 std::optional<int64_t> otherwise) {
  ASSIGN_OR_RETURN(int64_t p, Integer(t, where, key, otherwise));
  if (p < 1 || p > 65535) {
    return Bad(where + "." + std::string(key), std::to_string(p) + " is not a port (1 to 65535)");
  }
  return static_cast<int>(p);
}

const toml::table* Table(const toml::table& root, std::string_view key) {
  const toml::node* n = root.get(key);
  return n != nullptr ? n->as_table() : nullptr;
}

fs::path Resolve(const fs::path& base, const std::string& p) {
  if (p.empty()) return {};
  fs::path path(p);
  return path.is_absolute() ? path : (base / path).lexically_normal();
}

}  // namespace

std::vector<const ClusterNode*> ClusterSpec::RequestNodes() const {
  std::vector<const ClusterNode*> out;
  for (const ClusterNode& n : nodes) {
    if (n.worker_mode.serves_requests) out.push_back(&n);
  }
  return out;
}

std::optional<ClusterNode> ClusterSpec::NodeById(std::string_view id) const {
  if (const ClusterNode* known = FindNode(id)) return *known;
  for (const ClusterGroup& g : groups) {
    if (id.size() <= g.name.size() + 1 || !id.starts_with(g.name) || id[g.name.size()] != '-') {
      continue;
    }
    const std::string_view digits = id.substr(g.name.size() + 1);
    if (digits.empty() || digits.size() > 2 || digits[0] == '0' ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const int index = std::stoi(std::string(digits));
    if (index < 1 || index > 64 || g.port + index - 1 > 65535) continue;
    return ClusterNode{std::string(id), g.name, g.port + index - 1, g.worker_mode};
  }
  return std::nullopt;
}

bool ClusterSpec::ServesRequests(std::string_view id) const {
  std::optional<ClusterNode> n = NodeById(id);
  return n && n->worker_mode.serves_requests;
}

const ClusterNode* ClusterSpec::FindNode(std::string_view id) const {
  for (const ClusterNode& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

Result<ClusterSpec> ParseClusterSpec(std::string_view text, const fs::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return InvalidArgument(
        "spec: line " + std::to_string(e.source().begin.line) + ": " + std::string(e.description()),
        "BAD_SPEC");
  }
  RETURN_IF_ERROR(
      OnlyKeys(root, "", {"cluster", "env", "storage", "nodes", "load_balancer", "verify"}));
  for (std::string_view key : {"cluster", "env", "storage", "load_balancer", "verify"}) {
    const toml::node* n = root.get(key);
    if (n != nullptr && !n->is_table()) return Bad(std::string(key), "must be a table");
  }
  ClusterSpec spec;
  static const toml::table kEmpty;
  const toml::table& cluster = Table(root, "cluster") ? *Table(root, "cluster") : kEmpty;
  RETURN_IF_ERROR(OnlyKeys(cluster, "cluster", {"name", "state_dir", "release", "stop_timeout_s"}));
  ASSIGN_OR_RETURN(spec.name, String(cluster, "cluster", "name", "slipway"));
  ASSIGN_OR_RETURN(std::string state, String(cluster, "cluster", "state_dir", "state"));
  spec.state_dir = Resolve(base_dir, state);
  ASSIGN_OR_RETURN(std::string release, String(cluster, "cluster", "release", std::nullopt));
  spec.release = Resolve(base_dir, release);
  ASSIGN_OR_RETURN(int64_t stop_timeout, Integer(cluster, "cluster", "stop_timeout_s", 60));
  if (stop_timeout < 1 || stop_timeout > 3600) {
    return Bad("cluster.stop_timeout_s", "must be from 1 to 3600");
  }
  spec.stop_timeout_s = static_cast<int>(stop_timeout);

  if (const toml::table* env = Table(root, "env")) {
    for (auto&& [key, value] : *env) {
      const std::string name(key.str());
      if (!value.is_string() && !value.is_integer()) {
        return Bad("env." + name, "must be a string or an integer");
      }
      std::string v = value.is_string() ? std::string(*value.value<std::string>())
                                        : std::to_string(*value.value<int64_t>());
      if (name == "APP_KEY_FILE") {
        spec.app_key_file = Resolve(base_dir, v);
      } else if (name == "STORAGE_PATH" || name == "APP_PORT" || name == "NODE_ID" ||
                 name == "WORKER_MODE") {
        return Bad("env." + name, "is set per node by the cluster (see [storage] and [[nodes]])");
      } else {
        spec.env[name] = std::move(v);
      }
    }
  }
  const toml::table& storage = Table(root, "storage") ? *Table(root, "storage") : kEmpty;
  RETURN_IF_ERROR(OnlyKeys(storage, "storage", {"path", "backups"}));
  ASSIGN_OR_RETURN(std::string storage_path, String(storage, "storage", "path", "storage"));
  spec.storage = Resolve(base_dir, storage_path);
  ASSIGN_OR_RETURN(std::string backups,
                   String(storage, "storage", "backups", (spec.state_dir / "backups").string()));
  spec.backups = Resolve(base_dir, backups);

  std::set<int> ports;
  std::set<std::string> groups;
  const toml::node* nodes = root.get("nodes");
  if (nodes == nullptr || !nodes->is_array_of_tables() || nodes->as_array()->empty()) {
    return Bad("nodes", "at least one [[nodes]] group is needed");
  }
  int index = 0;
  for (const toml::node& g : *nodes->as_array()) {
    const std::string where = "nodes[" + std::to_string(++index) + "]";
    const toml::table& group = *g.as_table();
    RETURN_IF_ERROR(OnlyKeys(group, where, {"name", "count", "port", "worker_mode"}));
    ASSIGN_OR_RETURN(std::string name, String(group, where, "name", "node"));
    if (!groups.insert(name).second) return Bad(where + ".name", "'" + name + "' is used twice");
    ASSIGN_OR_RETURN(int64_t count, Integer(group, where, "count", 1));
    if (count < 1 || count > 64) return Bad(where + ".count", "must be from 1 to 64");
    ASSIGN_OR_RETURN(int port, Port(group, where, "port", std::nullopt));
    ASSIGN_OR_RETURN(std::string mode_text, String(group, where, "worker_mode", ""));
    auto mode = core::ParseWorkerMode(mode_text);
    if (!mode.ok()) return Bad(where + ".worker_mode", mode.status().message());
    spec.groups.push_back(ClusterGroup{name, static_cast<int>(count), port, *mode});
    for (int64_t i = 0; i < count; ++i) {
      ClusterNode n;
      n.group = name;
      n.id = name + "-" + std::to_string(i + 1);
      n.port = port + static_cast<int>(i);
      if (n.port > 65535) return Bad(where + ".port", "the group's ports run past 65535");
      if (!ports.insert(n.port).second) {
        return Bad(where + ".port", "port " + std::to_string(n.port) + " is used twice");
      }
      n.worker_mode = *mode;
      spec.nodes.push_back(std::move(n));
    }
  }

  const toml::table& lb = Table(root, "load_balancer") ? *Table(root, "load_balancer") : kEmpty;
  RETURN_IF_ERROR(OnlyKeys(lb, "load_balancer", {"kind", "port", "admin_socket"}));
  ASSIGN_OR_RETURN(spec.lb_kind, String(lb, "load_balancer", "kind", "none"));
  if (spec.lb_kind != "haproxy" && spec.lb_kind != "nginx" && spec.lb_kind != "none") {
    return Bad("load_balancer.kind", "'" + spec.lb_kind + "' is not haproxy, nginx or none");
  }
  if (spec.lb_kind != "none") {
    ASSIGN_OR_RETURN(spec.lb_port, Port(lb, "load_balancer", "port", std::nullopt));
    if (ports.count(spec.lb_port)) {
      return Bad("load_balancer.port",
                 "port " + std::to_string(spec.lb_port) + " is also a node's");
    }
    if (spec.RequestNodes().empty()) {
      return Bad("load_balancer", "no node serves requests (every WORKER_MODE excludes them)");
    }
    ASSIGN_OR_RETURN(std::string socket, String(lb, "load_balancer", "admin_socket",
                                                (spec.state_dir / "lb.sock").string()));
    spec.lb_admin_socket = Resolve(base_dir, socket);
  }

  const toml::table& verify = Table(root, "verify") ? *Table(root, "verify") : kEmpty;
  RETURN_IF_ERROR(OnlyKeys(verify, "verify", {"timeout_s", "smoke", "account", "password_file"}));
  auto env_or = [&spec](const char* name, const char* otherwise) {
    auto it = spec.env.find(name);
    return it != spec.env.end() ? it->second : std::string(otherwise);
  };
  ASSIGN_OR_RETURN(spec.verify_account, String(verify, "verify", "account",
                                               env_or("INIT_ROOT_EMAIL", "admin@nocobase.com")));
  ASSIGN_OR_RETURN(std::string password_file, String(verify, "verify", "password_file", ""));
  spec.verify_password_file = Resolve(base_dir, password_file);
  ASSIGN_OR_RETURN(int64_t timeout, Integer(verify, "verify", "timeout_s", 120));
  if (timeout < 1 || timeout > 86400) return Bad("verify.timeout_s", "must be from 1 to 86400");
  spec.verify_timeout_s = static_cast<int>(timeout);
  if (const toml::node* smoke = verify.get("smoke")) {
    if (!smoke->is_array_of_tables()) return Bad("verify.smoke", "must be [[verify.smoke]] tables");
    int i = 0;
    for (const toml::node& s : *smoke->as_array()) {
      const std::string where = "verify.smoke[" + std::to_string(++i) + "]";
      const toml::table& t = *s.as_table();
      RETURN_IF_ERROR(OnlyKeys(t, where, {"method", "path", "status"}));
      SmokeRequest r;
      ASSIGN_OR_RETURN(r.method, String(t, where, "method", "GET"));
      if (r.method != "GET" && r.method != "POST" && r.method != "HEAD") {
        return Bad(where + ".method", "'" + r.method + "' is not GET, POST or HEAD");
      }
      ASSIGN_OR_RETURN(r.path, String(t, where, "path", std::nullopt));
      if (!r.path.starts_with("/")) return Bad(where + ".path", "must start with /");
      ASSIGN_OR_RETURN(int64_t status, Integer(t, where, "status", 200));
      if (status < 100 || status > 599) return Bad(where + ".status", "is not an HTTP status");
      r.status = static_cast<int>(status);
      spec.smoke.push_back(std::move(r));
    }
  }
  return spec;
}

Result<ClusterSpec> ReadClusterSpec(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return NotFound("cannot read the cluster spec " + file.string(), "SPEC_NOT_FOUND");
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec);
  auto spec = ParseClusterSpec(text.str(), absolute.parent_path());
  if (!spec.ok()) return spec.status().WithContext(file.string());
  spec->file = absolute;
  return spec;
}

Result<ClusterSpec> ScaledSpec(const ClusterSpec& spec, const std::string& group, int count) {
  const std::string where = "nodes." + group + ".count";
  if (count < 1 || count > 64) return Bad(where, "must be from 1 to 64");
  auto first = std::find_if(spec.nodes.begin(), spec.nodes.end(),
                            [&](const ClusterNode& n) { return n.group == group; });
  if (first == spec.nodes.end()) {
    return InvalidArgument("no node group '" + group + "' in the spec", "GROUP_NOT_FOUND");
  }
  ClusterSpec out = spec;
  const ClusterNode base = *first;
  size_t at = static_cast<size_t>(first - spec.nodes.begin());
  std::erase_if(out.nodes, [&](const ClusterNode& n) { return n.group == group; });
  std::set<int> ports{spec.lb_port};
  for (const ClusterNode& n : out.nodes) ports.insert(n.port);
  std::vector<ClusterNode> added;
  for (int i = 0; i < count; ++i) {
    ClusterNode n = base;
    n.id = group + "-" + std::to_string(i + 1);
    n.port = base.port + i;
    if (n.port > 65535 || !ports.insert(n.port).second) {
      return Bad(where, std::to_string(count) + " nodes from port " + std::to_string(base.port) +
                            " would take port " + std::to_string(n.port) +
                            ", which is taken or not a port");
    }
    added.push_back(std::move(n));
  }
  out.nodes.insert(out.nodes.begin() + static_cast<std::ptrdiff_t>(at), added.begin(), added.end());
  for (ClusterGroup& g : out.groups) {
    if (g.name == group) g.count = count;
  }
  return out;
}

namespace {
fs::path CountsFile(const ClusterSpec& spec) { return spec.state_dir / "counts.json"; }

boost::json::object ReadCounts(const ClusterSpec& spec) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(ReadWholeFile(CountsFile(spec)), ec);
  return !ec && v.is_object() ? v.as_object() : boost::json::object{};
}
}  // namespace

Status WriteScaledCount(const ClusterSpec& spec, const std::string& group, int count) {
  boost::json::object counts = ReadCounts(spec);
  counts[group] = count;
  return WriteFileDurably(CountsFile(spec), boost::json::serialize(counts) + "\n");
}

Result<ClusterSpec> LoadClusterSpec(const fs::path& file) {
  ASSIGN_OR_RETURN(ClusterSpec spec, ReadClusterSpec(file));
  for (const auto& [group, count] : ReadCounts(spec)) {
    if (!count.is_int64()) continue;
    auto scaled = ScaledSpec(spec, std::string(group), static_cast<int>(count.as_int64()));
    if (!scaled.ok()) {
      return scaled.status().WithContext(CountsFile(spec).string() + " (slipway cluster scale)");
    }
    spec = std::move(*scaled);
  }
  return spec;
}

std::string DefaultClusterSpec(const std::string& release) {
  return R"(# A Slipway cluster: what `slipway cluster up|upgrade|maintain|status` act on.
# Relative paths are taken from this file's folder.

[cluster]
name = "slipway"
# Journals of procedures, pid files and logs of the nodes, the load balancer's files.
state_dir = "state"
# The slipway binary the nodes run (or a release directory holding bin/slipway).
# `slipway cluster upgrade --to NEW` replaces it, keeping the previous one for a rollback.
release = ")" +
         release + R"("
# How long a node has to stop after SIGTERM (it finishes what runs) before it is killed.
stop_timeout_s = 60

[env]
# The environment every node shares. PostgreSQL (and Redis, optional) are what make several
# nodes one cluster; SQLite serves one node only.
DB_DIALECT = "postgres"
DB_HOST = "127.0.0.1"
DB_PORT = 5432
DB_DATABASE = "slipway"
DB_USER = "slipway"
DB_PASSWORD = "slipway"
# REDIS_URL = "redis://127.0.0.1:6379"
# The APP_KEY signs every token: one file, the same for every node, never in this spec.
APP_KEY_FILE = "app.key"

[storage]
# Shared by every node: uploads, plugin packages, backups, migration packages.
path = "storage"
# Where `slipway cluster upgrade` writes the backup it takes before it changes anything (on a
# disk that survives the upgrade; default: state/backups).
# backups = "/var/backups/slipway"

# Groups of nodes. A group of `count` nodes takes consecutive ports from `port`; node ids are
# <name>-1, <name>-2, ... WORKER_MODE is NocoBase's: "" requests and tasks, "!" requests only,
# "*" tasks only, "-" neither. Only nodes that serve requests go behind the load balancer.
[[nodes]]
name = "web"
count = 3
port = 13001
worker_mode = ""

[load_balancer]
# haproxy (active health checks, runtime API to drain a node), nginx (configuration and
# reload), or none.
kind = "haproxy"
port = 13000
admin_socket = "state/haproxy.sock"

[verify]
# How long an upgrade waits for the first upgraded node to be healthy and its checks to pass.
timeout_s = 120
# The administrator the checks sign in as (default: INIT_ROOT_EMAIL, else admin@nocobase.com),
# and a file whose first line is the password (default: INIT_ROOT_PASSWORD, else admin123).
# account = "admin@nocobase.com"
# password_file = "admin.password"

# Requests an upgrade makes through the first upgraded node before it declares success, with
# the status each must answer (health, version, plugins, every collection's first page and row
# counts are always checked).
[[verify.smoke]]
method = "GET"
path = "/api/app:getInfo"
status = 200
)";
}

}  // namespace slipway::ops
