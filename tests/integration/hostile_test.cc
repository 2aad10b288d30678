// The hostile client, made permanent: every case of tests/hostile/*.cases runs against a real
// node, on SQLite and on PostgreSQL. For each case it checks the status (and the NocoBase error
// body, its code, and what the answer must or must not contain), then that the node still answers
// its health check; after each file, that nothing changed: a fingerprint of the schema, every
// record, the users, roles, grants and plugins, taken before the first case.
//
// The case files are the documentation of what is refused and how (tests/hostile/README.md
// describes their format).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "api_client.h"
#include "auth/jwt.h"
#include "node.h"
#include "package_builder.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kAppKey = "hostile-test-key-0123456789abcdef0123";

struct Case {
  std::string file;
  int line = 0;
  std::string text;  // the line, for messages
  std::string who;
  std::string method;
  std::string target;
  std::vector<std::string> headers;
  std::string body;
  bool raw = false;
  int wait_ms = 0;  // raw: how long to wait before reading the answer
  int status = 0;
  std::map<std::string, std::string> checks;  // code, count, has, lacks, allow
};

// \r \n \t \\ and \xNN in case files.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char c = s[++i];
    if (c == 'r') {
      out.push_back('\r');
    } else if (c == 'n') {
      out.push_back('\n');
    } else if (c == 't') {
      out.push_back('\t');
    } else if (c == 'x' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The query part as a client would send it: characters a request target may not hold are
// percent-encoded; '%' is kept (cases write %25 for a literal percent).
std::string EncodeTarget(const std::string& target) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f || std::strchr("{}\"<>|\\^`", c) != nullptr) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// <class> <who> <METHOD> <path> [H:Name:value]... [B:body] => <status> [key=value]...
// <class> raw RAW <bytes> [wait=ms] => <status>
std::vector<Case> ReadCases(const fs::path& file) {
  std::vector<Case> cases;
  std::ifstream in(file);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    Case c;
    c.file = file.filename().string();
    c.line = n;
    c.text = line;
    size_t arrow = line.rfind(" => ");
    if (arrow == std::string::npos) {
      ADD_FAILURE() << c.file << ":" << n << ": no ' => ' in: " << line;
      continue;
    }
    std::string request = line.substr(0, arrow);
    std::istringstream expect(line.substr(arrow + 4));
    expect >> c.status;
    std::string check;
    while (expect >> check) {
      size_t eq = check.find('=');
      std::string value = eq == std::string::npos ? "" : check.substr(eq + 1);
      // has= and lacks= may hold spaces: take the rest of the line for the last one.
      c.checks[check.substr(0, eq)] = value;
      if (check.rfind("has=", 0) == 0 || check.rfind("lacks=", 0) == 0 ||
          check.rfind("allow=", 0) == 0) {
        std::string rest;
        std::getline(expect, rest);
        c.checks[check.substr(0, eq)] = value + rest;
        break;
      }
    }
    std::string body;
    if (size_t b = request.find(" B:"); b != std::string::npos) {
      body = request.substr(b + 3);
      request = request.substr(0, b);
    }
    std::istringstream words(request);
    std::string klass;
    words >> klass >> c.who >> c.method;
    if (c.method == "RAW") {
      c.raw = true;
      std::string rest;
      std::getline(words, rest);
      std::smatch m;
      if (std::regex_search(rest, m, std::regex(" wait=([0-9]+)$"))) {
        c.wait_ms = std::stoi(m[1]);
        rest = rest.substr(0, m.position(0));
      }
      c.body = Unescape(rest.substr(1));
    } else {
      words >> c.target;
      std::string h;
      while (words >> h) {
        if (h.rfind("H:", 0) != 0) {
          ADD_FAILURE() << c.file << ":" << n << ": unexpected '" << h << "'";
          continue;
        }
        size_t colon = h.find(':', 2);
        c.headers.push_back(h.substr(2, colon - 2) + ": " + Unescape(h.substr(colon + 1)));
      }
      c.body = Unescape(body);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

// Every case file, or those whose name contains HOSTILE_ONLY (to run one class, e.g. against an
// older build with SLIPWAY_TEST_BINARY).
std::vector<fs::path> CaseFiles() {
  const char* only = std::getenv("HOSTILE_ONLY");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(SLIPWAY_SOURCE_DIR) / "tests" / "hostile")) {
    if (e.path().extension() != ".cases") continue;
    if (only != nullptr && e.path().filename().string().find(only) == std::string::npos) continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class HostileTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override {
    std::map<std::string, std::string> env = {
        {"APP_KEY", kAppKey},
        {"TRUSTED_PROXIES", "127.0.0.1"},
        {"HTTP_HEADER_TIMEOUT", "500"},
        {"HTTP_BODY_TIMEOUT", "500"},
        {"HTTP_BODY_LIMIT", "1048576"},
        {"AUTH_MAX_FAILURES_PER_ACCOUNT", "3"},
        {"AUTH_MAX_FAILURES_PER_ADDRESS", "5"},
    };
    if (GetParam() == db::Dialect::kPostgres) {
      pg_.emplace();
      ASSERT_TRUE(pg_->Create());
      env.merge(PostgresEnv(pg_->options()));
    }
    node_ = std::make_unique<Node>(NodeOptions{.storage = storage(), .env = env});
    ASSERT_TRUE(node_->WaitHealthy(30s)) << node_->process().Stderr();
    root_ = std::make_unique<Api>(node_->port());
    ASSERT_EQ(root_->SignIn("admin@nocobase.com", "admin123").status, 200);
    Seed();
  }
  void TearDown() override {
    if (node_) {
      EXPECT_EQ(node_->Stop(), 0);
    }
  }
  fs::path storage() const { return dir_.path() / "storage"; }

  void Ok(const ApiResult& r, const std::string& what) {
    ASSERT_GE(r.status, 200) << what << ": " << r.body;
    ASSERT_LT(r.status, 300) << what << ": " << r.body;
  }
  int64_t CreateUser(const std::string& email) {
    ApiResult r = root_->Post("users:create", json::object{{"email", email},
                                                           {"nickname", email.substr(0, 2)},
                                                           {"password", "pw-" + email}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.data().at("id").as_int64() : 0;
  }
  std::string TokenOf(const std::string& email) {
    Api api(node_->port());
    EXPECT_EQ(api.SignIn(email, "pw-" + email).status, 200);
    return api.token();
  }

  // secrets (members may not view them), posts (belongsTo secrets, hasMany comments), comments;
  // a custom role `reader` that sees the titles of posts and may manage users but not roles.
  void Seed() {
    Ok(root_->Post("collections:create", json::parse(R"({"name":"secrets","fields":[
        {"name":"code","type":"string"},{"name":"note","type":"text"}]})")),
       "secrets");
    Ok(root_->Post("collections:create", json::parse(R"({"name":"posts","fields":[
        {"name":"title","type":"string"},{"name":"body","type":"text"},
        {"name":"score","type":"integer"},{"name":"rate","type":"double"},
        {"name":"ratio","type":"float"},{"name":"price","type":"decimal","precision":10,"scale":2},
        {"name":"meta","type":"json"},{"name":"label","type":"string"},
        {"name":"secret","type":"belongsTo","target":"secrets"}]})")),
       "posts");
    Ok(root_->Post("collections:create", json::parse(R"({"name":"comments","fields":[
        {"name":"body","type":"text"},
        {"name":"post","type":"belongsTo","target":"posts"}]})")),
       "comments");
    Ok(root_->Post("collections/posts/fields:create",
                   json::parse(R"({"name":"comments","type":"hasMany","target":"comments",
                                   "foreignKey":"postId"})")),
       "posts.comments");
    Ok(root_->Post("collections/posts/fields:create",
                   json::parse(R"({"name":"vault","type":"belongsToMany","target":"secrets",
                                   "reverseField":{"name":"posts"}})")),
       "posts.vault");
    Ok(root_->Post("secrets:create", json::parse(R"({"code":"s3cr3t","note":"only root"})")),
       "secret");
    member_id_ = CreateUser("member@x.com");
    other_id_ = CreateUser("other@x.com");
    reader_id_ = CreateUser("reader@x.com");
    victim_id_ = CreateUser("victim@x.com");
    admin_id_ = CreateUser("admin2@x.com");
    Ok(root_->Post("roles/admin/users:add", json::array{admin_id_}), "second administrator");
    Ok(root_->Post("roles:create", json::parse(R"({"name":"reader","title":"Reader",
        "strategy":{"actions":[]},"snippets":["pm.users"]})")),
       "reader role");
    Ok(root_->Post("roles/reader/resources:create",
                   json::parse(R"({"name":"posts","usingActionsConfig":true,
                       "actions":[{"name":"view","fields":["title"]}]})")),
       "reader on posts");
    Ok(root_->Post("roles/reader/users:add", json::array{reader_id_}), "reader user");
    Ok(root_->Post("roles/member/resources:create",
                   json::parse(R"({"name":"secrets","usingActionsConfig":true,"actions":[]})")),
       "members see no secrets");
    Ok(root_->Post("posts:create",
                   json::parse(R"({"title":"root's","score":1,"secret":1,"vault":[1]})")),
       "root post");
    member_token_ = TokenOf("member@x.com");
    other_token_ = TokenOf("other@x.com");
    reader_token_ = TokenOf("reader@x.com");
    admin_token_ = TokenOf("admin2@x.com");
    Api member(node_->port());
    member.set_token(member_token_);
    ApiResult mine = member.Post("posts:create", json::parse(R"({"title":"member's","score":2})"));
    Ok(mine, "member post");
    member_post_ = mine.data().at("id").as_int64();
    Ok(member.Post("comments:create", json::object{{"body", "hi"}, {"post", member_post_}}),
       "comment");
    // pm:add by path: a FIFO, a directory and a link out of the plugin folder.
    fs::create_directories(storage() / "plugins" / "a-directory.tgz");
    ASSERT_EQ(::mkfifo((storage() / "plugins" / "fifo.tgz").c_str(), 0600), 0);
    fs::create_symlink("/etc/passwd", storage() / "plugins" / "passwd.tgz");
  }

  std::string Substitute(std::string s) const {
    const std::pair<std::string, std::string> vars[] = {
        {"{member_id}", std::to_string(member_id_)},
        {"{other_id}", std::to_string(other_id_)},
        {"{reader_id}", std::to_string(reader_id_)},
        {"{victim_id}", std::to_string(victim_id_)},
        {"{member_post}", std::to_string(member_post_)},
        {"{admin_id}", std::to_string(admin_id_)},
    };
    for (const auto& [k, v] : vars) {
      for (size_t at = s.find(k); at != std::string::npos; at = s.find(k))
        s.replace(at, k.size(), v);
    }
    // {repeat:N:text}: text N times (long names, deep nesting, big headers).
    static const std::regex kRepeat(R"(\{repeat:([0-9]+):([^}]*)\})");
    std::smatch m;
    while (std::regex_search(s, m, kRepeat)) {
      std::string expanded;
      for (int i = 0; i < std::stoi(m[1]); ++i) expanded += m[2];
      s = m.prefix().str() + expanded + m.suffix().str();
    }
    return s;
  }

  // A body "@package:<kind>" is a multipart upload of a malicious plugin package.
  static std::string PackageBody(const std::string& kind, std::vector<std::string>* headers) {
    std::vector<PackageEntry> entries = {{"manifest.json", ManifestJson()}};
    if (kind == "traversal") {
      entries.push_back({"../../evil.sh", "#!/bin/sh"});
    } else if (kind == "absolute") {
      entries.push_back({"/tmp/evil", "x"});
    } else if (kind == "symlink") {
      entries.push_back({"lib/libslipway_hello.so", "/etc/passwd", EntryType::kSymlink});
    } else if (kind == "hardlink") {
      entries.push_back({"lib/libslipway_hello.so", "/etc/passwd", EntryType::kHardlink});
    } else if (kind == "fifo") {
      entries.push_back({"lib/libslipway_hello.so", "", EntryType::kFifo});
    } else if (kind == "huge") {
      PackageEntry big{"lib/libslipway_hello.so", ""};
      big.declared_size = int64_t{1} << 30;  // claims 1 GiB inside a small upload
      entries.push_back(big);
    } else if (kind != "no-library") {
      ADD_FAILURE() << "unknown package kind '" << kind << "'";
    }
    std::string bytes = BuildPackage(entries);
    headers->push_back("Content-Type: multipart/form-data; boundary=hostile");
    return "--hostile\r\nContent-Disposition: form-data; name=\"file\"; "
           "filename=\"p.tgz\"\r\n\r\n" +
           bytes + "\r\n--hostile--\r\n";
  }

  // Who a case acts as: its Authorization and X-Role headers.
  std::vector<std::string> AuthHeaders(const std::string& who) const {
    auto bearer = [](const std::string& t) { return "Authorization: Bearer " + t; };
    if (who == "anon") return {};
    if (who == "root") return {bearer(root_->token())};
    if (who == "admin") return {bearer(admin_token_), "X-Role: admin"};
    if (who == "root-as-admin") return {bearer(root_->token()), "X-Role: admin"};
    if (who == "member") return {bearer(member_token_)};
    if (who == "other") return {bearer(other_token_)};
    if (who == "reader") return {bearer(reader_token_), "X-Role: reader"};
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    json::object claims{{"userId", 1}, {"iat", now}, {"jti", "hostile"}};
    if (who == "forged") {
      claims["exp"] = now + 3600;
      return {bearer(auth::SignJwt(claims, "not-the-app-key-0123456789abcdef0123"))};
    }
    if (who == "expired") {
      claims["exp"] = now - 60;
      return {bearer(auth::SignJwt(claims, kAppKey))};
    }
    if (who == "garbage") return {"Authorization: Bearer not.a.token"};
    ADD_FAILURE() << "unknown caller '" << who << "'";
    return {};
  }

  // What must not change: schema, every record, users, roles and grants, plugins.
  std::string Fingerprint() const {
    std::string out;
    auto add = [&](const std::string& path) {
      ApiResult r = root_->Get(path);
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      out += path + " " + r.body + "\n";
    };
    add("collections:list?paginate=false&appends=fields");
    ApiResult collections = root_->Get("collections:list?paginate=false");
    if (collections.status != 200) return out;
    for (const auto& c : collections.data().as_array()) {
      add(std::string(c.at("name").as_string()) +
          ":list?paginate=false&sort=" + std::string(c.at("filterTargetKey").as_string()));
    }
    ApiResult roles = root_->Get("roles:list?paginate=false&sort=name");
    if (roles.status != 200) return out;
    for (const auto& r : roles.data().as_array()) {
      std::string name(r.at("name").as_string());
      add("roles/" + name + "/resources:list");
      add("roles/" + name + "/users:list?paginate=false&sort=id");
    }
    add("pm:list");
    return out;
  }

  void Run(const Case& c, int serial) {
    SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + ": " + c.text);
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
    if (c.raw) {
      RawConnection conn(node_->port());
      ASSERT_TRUE(conn.connected());
      conn.Send(Substitute(c.body));
      if (c.wait_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c.wait_ms));
      std::string answer = conn.ReadResponse(3s);
      if (!answer.empty()) {
        status = std::stoi(answer.substr(9, 3));
        size_t end = answer.find("\r\n\r\n");
        body = end == std::string::npos ? "" : answer.substr(end + 4);
      }
    } else {
      std::vector<std::string> h = AuthHeaders(c.who);
      bool forwarded = false;
      for (const auto& extra : c.headers) {
        h.push_back(Substitute(extra));
        forwarded = forwarded || extra.rfind("X-Forwarded-For", 0) == 0;
      }
      // Each case from an address of its own, so that sign-in limits apply only where a case
      // asks for them.
      if (!forwarded)
        h.push_back("X-Forwarded-For: 198.18." + std::to_string(serial / 250) + "." +
                    std::to_string(serial % 250 + 1));
      std::string request_body = Substitute(c.body);
      if (request_body.rfind("@package:", 0) == 0) {
        request_body = PackageBody(request_body.substr(9), &h);
      }
      HttpResult r = HttpRequest(node_->port(), c.method,
                                 "/api/" + EncodeTarget(Substitute(c.target)), request_body, h, 5s);
      status = r.status;
      body = r.body;
      headers = r.headers;
    }
    EXPECT_EQ(status, c.status) << body;
    if (status >= 400) {
      boost::system::error_code ec;
      json::value v = json::parse(body, ec);
      ASSERT_FALSE(ec) << "an error answer must be NocoBase's JSON error body: " << body;
      ASSERT_TRUE(v.is_object() && v.as_object().contains("errors")) << body;
      const json::value& e = v.at("errors").at(0);
      EXPECT_FALSE(e.at("message").as_string().empty()) << body;
      if (c.checks.count("code")) {
        EXPECT_EQ(e.at("code").as_string(), c.checks.at("code")) << body;
      }
    }
    if (c.checks.count("count")) {
      boost::system::error_code ec;
      json::value v = json::parse(body, ec);
      ASSERT_FALSE(ec) << body;
      const json::value& data = v.at("data");
      size_t n = data.is_array() ? data.as_array().size() : data.is_null() ? 0 : 1;
      EXPECT_EQ(std::to_string(n), c.checks.at("count")) << body;
    }
    if (c.checks.count("has")) {
      EXPECT_NE(body.find(Substitute(c.checks.at("has"))), std::string::npos) << body;
    }
    if (c.checks.count("lacks")) {
      EXPECT_EQ(body.find(Substitute(c.checks.at("lacks"))), std::string::npos) << body;
    }
    if (c.checks.count("allow")) {
      std::string want = c.checks.at("allow");
      std::replace(want.begin(), want.end(), ',', ' ');
      std::string got = headers.count("allow") ? headers.at("allow") : "";
      got.erase(std::remove(got.begin(), got.end(), ','), got.end());
      EXPECT_EQ(got, std::regex_replace(want, std::regex("  +"), " ")) << "Allow";
    }
    HttpResult health = HttpGet(node_->port(), "/api/__health_check");
    ASSERT_EQ(health.status, 200) << "the node stopped serving after this case";
  }

  TempDir dir_;
  std::optional<TestDatabase> pg_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Api> root_;
  std::string member_token_, other_token_, reader_token_, admin_token_;
  int64_t member_id_ = 0, other_id_ = 0, reader_id_ = 0, victim_id_ = 0, admin_id_ = 0;
  int64_t member_post_ = 0;
};

TEST_P(HostileTest, EveryCaseIsRefusedCleanlyAndChangesNothing) {
  const std::string before = Fingerprint();
  int serial = 0;
  std::map<std::string, int> per_file;
  for (const fs::path& file : CaseFiles()) {
    for (const Case& c : ReadCases(file)) {
      Run(c, ++serial);
      ++per_file[c.file];
    }
    EXPECT_EQ(Fingerprint(), before) << "the cases of " << file.filename() << " changed data";
  }
  std::string summary;
  for (const auto& [file, n] : per_file) summary += " " + file + "=" + std::to_string(n);
  std::cout << "hostile cases on " << db::DialectName(GetParam()) << ": " << serial << " ("
            << summary.substr(1) << ")\n";
  if (std::getenv("HOSTILE_ONLY") == nullptr) {
    EXPECT_GE(serial, 300);
  }
}

INSTANTIATE_TEST_SUITE_P(Dialects, HostileTest,
                         ::testing::Values(db::Dialect::kSqlite, db::Dialect::kPostgres),
                         [](const auto& info) { return std::string(db::DialectName(info.param)); });

}  // namespace
}  // namespace slipway::testing
