#include "users_plugin.h"

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "api/builtin_registrar.h"
#include "auth/failure_limiter.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "core/logging.h"
#include "data/read_spec.h"
#include "data/repository.h"
#include "data/values.h"
#include "http/error_response.h"

namespace slipway::plugins {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr auto kUserCacheTtl = std::chrono::seconds(5);

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kUsersDefinition = R"({
  "name": "users", "title": "Users", "autoGenId": true,
  "migrationRules": ["schema-only", "overwrite", "skip"],
  "fields": [
    {"name": "nickname", "type": "string", "interface": "input"},
    {"name": "username", "type": "string", "interface": "input", "unique": true},
    {"name": "email", "type": "string", "interface": "email", "unique": true},
    {"name": "phone", "type": "string", "interface": "phone", "unique": true},
    {"name": "password", "type": "password", "interface": "password"},
    {"name": "passwordChangeTz", "type": "bigInt"}
  ]})";

// The fields a user may change in its own profile (users:updateProfile), as NocoBase's profile
// form has them. Everything else of a user (password, roles, other users) is configuration.
constexpr const char* kProfileFields[] = {"nickname", "username", "email", "phone"};

// Verifies bearer tokens; remembers revoked token ids and users known to exist for a few
// seconds, so a request costs no extra query in the common case.
class TokenAuthenticator final : public api::Authenticator {
 public:
  explicit TokenAuthenticator(std::string key) : key_(std::move(key)) {}

  Result<api::CurrentUser> Authenticate(const http::Request& request,
                                        db::Connection& conn) override {
    std::string_view header = request.header("authorization");
    if (header.size() > 7 &&
        (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer ")) {
      header.remove_prefix(7);
    } else {
      return Unauthenticated("Unauthenticated. Please sign in to continue.", "EMPTY_TOKEN");
    }
    ASSIGN_OR_RETURN(Verified token, Verify(header));
    int64_t user_id = token.user_id;
    RETURN_IF_ERROR(RefreshRevoked(conn));
    std::optional<KnownUser> known;
    {
      std::lock_guard lock(mu_);
      if (revoked_.count(token.jti)) {
        return Unauthenticated("The token was signed out. Please sign in again.", "BLOCKED_TOKEN");
      }
      auto it = known_users_.find(user_id);
      if (it != known_users_.end() && Clock::now() - it->second.loaded < kUserCacheTtl) {
        known = it->second;
      }
    }
    if (!known) {
      ASSIGN_OR_RETURN(
          auto rs,
          conn.Query("SELECT \"passwordChangeTz\" FROM \"users\" WHERE \"id\" = $1", {user_id}));
      if (rs->row_count() == 0) {
        return Unauthenticated("The user of this token no longer exists", "NOT_EXIST_USER");
      }
      known = KnownUser{rs->IsNull(0, 0) ? 0 : rs->Int(0, 0), Clock::now()};
      std::lock_guard lock(mu_);
      known_users_[user_id] = *known;
    }
    // A password change signs out every session that began before it.
    if (known->password_changed_ms > token.sign_in_ms) {
      return Unauthenticated("The password was changed. Please sign in again.", "INVALID_TOKEN");
    }
    return api::CurrentUser{user_id, {}, {}};
  }

  // A token checked once (signature, claims) is remembered until it expires, so the next
  // request with it skips decoding and the HMAC. Revocation is checked on every request.
  struct Verified {
    int64_t user_id;
    std::string jti;
    int64_t expires;     // unix seconds, 0 for none
    int64_t sign_in_ms;  // when the session began (unix milliseconds), 0 when unknown
  };
  struct KnownUser {
    int64_t password_changed_ms;  // users.passwordChangeTz
    Clock::time_point loaded;
  };

  Result<Verified> Verify(std::string_view token) {
    int64_t now = UnixNow();
    {
      std::lock_guard lock(mu_);
      auto it = verified_.find(std::string(token));
      if (it != verified_.end() && (it->second.expires == 0 || it->second.expires > now))
        return it->second;
    }
    ASSIGN_OR_RETURN(json::object claims, auth::VerifyJwt(token, key_, now));
    auto uid = claims.find("userId");
    auto jti = claims.find("jti");
    if (uid == claims.end() || !uid->value().is_int64() || jti == claims.end() ||
        !jti->value().is_string()) {
      return Unauthenticated("The token does not name a user", "INVALID_TOKEN");
    }
    auto exp = claims.find("exp");
    auto sign_in = claims.find("signInTime");
    Verified v{
        uid->value().as_int64(), std::string(jti->value().as_string()),
        exp != claims.end() && exp->value().is_int64() ? exp->value().as_int64() : 0,
        sign_in != claims.end() && sign_in->value().is_int64() ? sign_in->value().as_int64() : 0};
    std::lock_guard lock(mu_);
    if (verified_.size() >= kMaxVerified) verified_.clear();
    verified_.emplace(std::string(token), v);
    return v;
  }

  void Revoke(const std::string& jti) {
    std::lock_guard lock(mu_);
    revoked_.insert(jti);
  }
  void ForgetUsers() {
    std::lock_guard lock(mu_);
    known_users_.clear();
  }
  const std::string& key() const { return key_; }

 private:
  // Other nodes revoke tokens too: re-read the blacklist every few seconds.
  Status RefreshRevoked(db::Connection& conn) {
    {
      std::lock_guard lock(mu_);
      if (loaded_ && Clock::now() - revoked_loaded_at_ < kUserCacheTtl) return Status::Ok();
    }
    ASSIGN_OR_RETURN(
        auto rs, conn.Query("SELECT \"token\" FROM \"tokenBlacklist\" WHERE \"expiration\" > $1",
                            {data::NowInstant()}));
    std::lock_guard lock(mu_);
    for (int r = 0; r < rs->row_count(); ++r) revoked_.emplace(rs->Text(r, 0));
    revoked_loaded_at_ = Clock::now();
    loaded_ = true;
    return Status::Ok();
  }

  const std::string key_;
  std::mutex mu_;
  std::unordered_set<std::string> revoked_;
  std::unordered_map<int64_t, KnownUser> known_users_;
  static constexpr size_t kMaxVerified = 10000;
  std::unordered_map<std::string, Verified> verified_;
  Clock::time_point revoked_loaded_at_;
  bool loaded_ = false;
};

// Renders one users record as the API shows it ({"data":{...}} -> the object).
Result<json::value> UserRecord(const data::Schema& schema, db::Connection& conn, int64_t id) {
  const data::Collection* users = schema.Find("users");
  if (users == nullptr) return Internal("the users collection is missing");
  ASSIGN_OR_RETURN(data::ReadSpec spec, data::BuildReadSpec(schema, *users, {}));
  data::Repository repo(schema, *users, conn);
  std::string body;
  RETURN_IF_ERROR(repo.Get(spec, json::value(id), nullptr, &body));
  return json::parse(body).at("data");
}

class UsersPlugin final : public slipway::Plugin {
 public:
  std::string_view name() const override { return "users"; }
  std::string_view version() const override { return "builtin"; }

  Status Load(slipway::PluginContext& ctx) override {
    slipway::BuiltinRegistrar* builtin = ctx.builtin();
    if (builtin == nullptr) return Internal("the users plugin must be built in");
    services_ = &builtin->services();
    RETURN_IF_ERROR(ctx.AddCollection(json::parse(kUsersDefinition).as_object()));
    slipway::PluginMigration blacklist;
    blacklist.version = "0.1.0";
    blacklist.name = "0002-token-blacklist";
    blacklist.sqlite_sql =
        "CREATE TABLE \"tokenBlacklist\" (\"token\" TEXT PRIMARY KEY, \"expiration\" TEXT NOT "
        "NULL)";
    blacklist.postgres_sql =
        "CREATE TABLE \"tokenBlacklist\" (\"token\" TEXT PRIMARY KEY, \"expiration\" TIMESTAMPTZ "
        "NOT NULL)";
    ctx.AddMigration(std::move(blacklist));

    const core::Config& config = services_->config();
    authenticator_ = std::make_shared<TokenAuthenticator>(config.app_key);
    by_account_ = std::make_unique<auth::FailureLimiter>(config.auth_max_failures_per_account,
                                                         config.auth_failure_window);
    by_address_ = std::make_unique<auth::FailureLimiter>(config.auth_max_failures_per_address,
                                                         config.auth_failure_window);
    builtin->SetAuthenticator(authenticator_);
    // Users are configuration (NocoBase's "pm.users"): a role's record strategy never reaches
    // them; a user changes its own profile and password through the two actions below.
    builtin->GovernCollection("users", "pm.users");
    builtin->OnCollectionChanged([auth = authenticator_](std::string_view c) {
      if (c == "users") auth->ForgetUsers();
    });
    builtin->AddInternalAction("auth", "signIn",
                               {[this](api::ActionRequest& r) { return SignIn(r); },
                                api::RunsOn::kHashing, api::Access::kOpen});
    builtin->AddInternalAction("auth", "check",
                               {[](api::ActionRequest& r) { return Check(r); },
                                api::RunsOn::kWorker, api::Access::kSignedIn, "", /*safe=*/true});
    builtin->AddInternalAction("auth", "signOut",
                               {[this](api::ActionRequest& r) { return SignOut(r); },
                                api::RunsOn::kWorker, api::Access::kSignedIn});
    builtin->AddInternalAction("auth", "changePassword",
                               {[this](api::ActionRequest& r) { return ChangePassword(r); },
                                api::RunsOn::kHashing, api::Access::kSignedIn});
    builtin->AddInternalAction("users", "updateProfile",
                               {[](api::ActionRequest& r) { return UpdateProfile(r); },
                                api::RunsOn::kWorker, api::Access::kSignedIn});
    return Status::Ok();
  }

  // The first administrator, from INIT_ROOT_*.
  Status Install(db::Connection& conn) override {
    const core::Config& config = services_->config();
    ASSIGN_OR_RETURN(std::string hash, auth::HashPassword(config.init_root_password));
    std::string now = data::NowInstant();
    ASSIGN_OR_RETURN(
        auto rs,
        conn.Query("INSERT INTO \"users\" (\"nickname\", \"username\", \"email\", "
                   "\"password\", \"createdAt\", \"updatedAt\") VALUES ($1, $2, $3, $4, $5, $5)",
                   {config.init_root_nickname, config.init_root_username, config.init_root_email,
                    hash, now}));
    core::log::Info("created the first administrator", {{"email", config.init_root_email}});
    return Status::Ok();
  }

 private:
  // 429 with Retry-After, before any hashing, when the account or the client address failed too
  // often lately.
  std::optional<http::Response> TooManyFailures(const std::string& account_key,
                                                const std::string& address) {
    int64_t wait = std::max(by_account_->RetryAfter(account_key), by_address_->RetryAfter(address));
    if (wait == 0) return std::nullopt;
    http::Response r =
        http::ErrorResponse(429,
                            "Too many failed sign-in attempts. Please try again in " +
                                std::to_string(wait) + " seconds.",
                            "TOO_MANY_SIGN_IN_ATTEMPTS");
    r.headers.push_back({"retry-after", std::to_string(wait)});
    return r;
  }
  void RecordFailure(const std::string& account_key, const std::string& address) {
    by_account_->RecordFailure(account_key);
    by_address_->RecordFailure(address);
  }
  std::string AddressOf(const http::Request& request) const {
    return auth::ClientAddress(request.remote, request.header("x-forwarded-for"),
                               services_->config().trusted_proxies);
  }

  Result<http::Response> SignIn(api::ActionRequest& req) {
    std::string_view authenticator = req.http.header("x-authenticator");
    if (!authenticator.empty() && authenticator != "basic") {
      return InvalidArgument(
          "authenticator '" + std::string(authenticator) + "' is not available (use 'basic')",
          "AUTHENTICATOR_NOT_FOUND");
    }
    if (!req.body.is_object())
      return InvalidArgument("auth:signIn expects {\"account\", \"password\"}");
    const json::object& body = req.body.as_object();
    std::string account;
    for (const char* key : {"account", "email", "username"}) {
      auto it = body.find(key);
      if (it != body.end() && it->value().is_string() && !it->value().as_string().empty()) {
        account = std::string(it->value().as_string());
        break;
      }
    }
    auto pw = body.find("password");
    if (account.empty() || pw == body.end() || !pw->value().is_string()) {
      return InvalidArgument("auth:signIn needs 'account' (email or username) and 'password'");
    }
    std::string account_key = "account:" + account;
    std::string address = "address:" + AddressOf(req.http);
    if (auto refused = TooManyFailures(account_key, address)) return *std::move(refused);
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    ASSIGN_OR_RETURN(
        auto rs, conn->Query("SELECT \"id\", \"password\" FROM \"users\" WHERE \"email\" = $1 OR "
                             "\"username\" = $1 ORDER BY \"id\" LIMIT 1",
                             {account}));
    // Verify even for unknown accounts, so response time does not tell which accounts exist.
    static const std::string kDecoy = *auth::HashPassword("decoy password for timing");
    bool found = rs->row_count() == 1 && !rs->IsNull(0, 1);
    std::string stored = found ? std::string(rs->Text(0, 1)) : kDecoy;
    bool ok = auth::VerifyPassword(pw->value().as_string(), stored);
    if (!found || !ok) {
      RecordFailure(account_key, address);
      return Unauthenticated("The account or password is incorrect, please re-enter",
                             "INVALID_CREDENTIALS");
    }
    by_account_->Reset(account_key);
    int64_t id = rs->Int(0, 0);
    if (auth::NeedsRehash(stored)) {
      // Hashed with older parameters: store one made with today's (the password is at hand
      // only now). A failure here does not fail the sign-in.
      auto fresh = auth::HashPassword(pw->value().as_string());
      if (fresh.ok()) {
        auto updated =
            conn->Query("UPDATE \"users\" SET \"password\" = $1 WHERE \"id\" = $2", {*fresh, id});
        if (!updated.ok()) {
          core::log::Warn("could not store a re-hashed password",
                          {{"user", id}, {"error", updated.status().message()}});
        }
      }
    }
    int64_t now = UnixNow();
    json::object claims{{"userId", id},
                        {"iat", now},
                        {"signInTime", UnixMillisNow()},
                        {"exp", now + req.services.config().auth_token_ttl.count()},
                        {"jti", auth::RandomTokenId()}};
    std::string token = auth::SignJwt(claims, authenticator_->key());
    ASSIGN_OR_RETURN(json::value user, UserRecord(*req.snapshot->schema, *conn, id));
    json::object data{{"user", user}, {"token", token}};
    return http::DataResponse(data);
  }

  // NocoBase's auth:changePassword: {oldPassword, newPassword, confirmPassword}. Every session
  // that began before the change (this one included) must sign in again.
  Result<http::Response> ChangePassword(api::ActionRequest& req) {
    if (!req.body.is_object()) {
      return InvalidArgument(
          "auth:changePassword expects {\"oldPassword\", \"newPassword\", \"confirmPassword\"}");
    }
    const json::object& body = req.body.as_object();
    auto text = [&](const char* key) -> std::optional<std::string> {
      auto it = body.find(key);
      if (it == body.end() || !it->value().is_string()) return std::nullopt;
      return std::string(it->value().as_string());
    };
    auto old_pw = text("oldPassword"), new_pw = text("newPassword");
    auto confirm = text("confirmPassword");
    if (!old_pw || !new_pw) {
      return InvalidArgument("auth:changePassword needs 'oldPassword' and 'newPassword'");
    }
    if (confirm && *confirm != *new_pw) {
      return InvalidArgument("The password and the confirmation do not match", "PASSWORD_MISMATCH");
    }
    std::string account_key = "user:" + std::to_string(req.user->id);
    std::string address = "address:" + AddressOf(req.http);
    if (auto refused = TooManyFailures(account_key, address)) return *std::move(refused);
    ASSIGN_OR_RETURN(std::string hash, auth::HashPassword(*new_pw));
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    ASSIGN_OR_RETURN(auto rs, conn->Query("SELECT \"password\" FROM \"users\" WHERE \"id\" = $1",
                                          {req.user->id}));
    if (rs->row_count() == 0 || rs->IsNull(0, 0) ||
        !auth::VerifyPassword(*old_pw, rs->Text(0, 0))) {
      RecordFailure(account_key, address);
      return Unauthenticated("The password is incorrect, please re-enter", "INVALID_PASSWORD");
    }
    by_account_->Reset(account_key);
    RETURN_IF_ERROR(conn->Exec(
        "UPDATE \"users\" SET \"password\" = $1, \"passwordChangeTz\" = $2, \"updatedAt\" = $3 "
        "WHERE \"id\" = $4",
        {hash, UnixMillisNow(), data::NowInstant(), req.user->id}));
    req.services.CollectionChanged("users");  // forget the cached sessions of this user here
    ASSIGN_OR_RETURN(json::value user, UserRecord(*req.snapshot->schema, *conn, req.user->id));
    return http::DataResponse(user);
  }

  // NocoBase's users:updateProfile: the caller's own record, profile fields only.
  static Result<http::Response> UpdateProfile(api::ActionRequest& req) {
    json::object values;
    if (req.body.is_object()) {
      values = req.body.as_object();
      if (auto it = values.find("values"); it != values.end() && it->value().is_object()) {
        values = it->value().as_object();
      }
    } else if (!req.body.is_null()) {
      return InvalidArgument("users:updateProfile expects the profile fields as a JSON object");
    }
    for (const auto& kv : values) {
      bool profile = false;
      for (const char* f : kProfileFields) profile = profile || kv.key() == f;
      if (!profile) {
        return PermissionDenied(
            "users:updateProfile changes only nickname, username, email and "
            "phone; '" +
                std::string(kv.key()) + "' is not one of them",
            "NO_PERMISSION");
      }
    }
    const data::Schema& schema = *req.snapshot->schema;
    const data::Collection* users = schema.Find("users");
    if (users == nullptr) return Internal("the users collection is missing");
    ASSIGN_OR_RETURN(data::ReadSpec spec, data::BuildReadSpec(schema, *users, {}));
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    data::WriteContext ctx;
    ctx.user_id = req.user->id;
    ctx.role = req.user->role;
    ctx.hooks = req.snapshot->hooks.get();
    data::Repository repo(schema, *users, *conn, std::move(ctx));
    std::string body;
    RETURN_IF_ERROR(repo.Update(json::value(req.user->id), nullptr, nullptr, values, spec, &body));
    req.services.CollectionChanged("users");
    return http::Response::Json(200, std::move(body));
  }

  static Result<http::Response> Check(api::ActionRequest& req) {
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    ASSIGN_OR_RETURN(json::value user, UserRecord(*req.snapshot->schema, *conn, req.user->id));
    if (user.is_object()) {
      json::array roles;
      for (const auto& r : req.user->roles) roles.push_back(json::object{{"name", r}});
      user.as_object()["roles"] = std::move(roles);
      user.as_object()["role"] = req.user->role;
    }
    return http::DataResponse(user);
  }

  Result<http::Response> SignOut(api::ActionRequest& req) {
    std::string_view token = req.http.header("authorization").substr(7);
    ASSIGN_OR_RETURN(json::object claims, auth::VerifyJwt(token, authenticator_->key(), UnixNow()));
    std::string jti(claims.at("jti").as_string());
    int64_t exp = claims.contains("exp") && claims.at("exp").is_int64()
                      ? claims.at("exp").as_int64()
                      : UnixNow() + 86400;
    std::string expiration = data::InstantFromUnixMillis(exp * 1000);
    ASSIGN_OR_RETURN(auto conn, req.services.pool().Acquire());
    ASSIGN_OR_RETURN(
        auto rs,
        conn->Query("INSERT INTO \"tokenBlacklist\" (\"token\", \"expiration\") VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    {jti, expiration}));
    authenticator_->Revoke(jti);
    return http::Response::Json(200, "{\"data\":null}");
  }

  api::Services* services_ = nullptr;
  std::shared_ptr<TokenAuthenticator> authenticator_;  // shared with the snapshots
  std::unique_ptr<auth::FailureLimiter> by_account_, by_address_;
};

}  // namespace

std::unique_ptr<slipway::Plugin> MakeUsersPlugin() { return std::make_unique<UsersPlugin>(); }

}  // namespace slipway::plugins
