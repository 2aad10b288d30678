#include "api/acl_policy.h"

#include <gtest/gtest.h>

#include "api/role_access.h"
#include "data/schema.h"

namespace slipway::api {
namespace {

// The roles of the table below: NocoBase's built-ins and a few custom ones.
AclPolicy Policy() {
  std::map<std::string, RolePolicy> roles;
  auto all = [](std::initializer_list<std::string> actions, bool own = false) {
    std::map<std::string, ActionGrant> out;
    for (const auto& a : actions) out[a] = ActionGrant{own && a != "create", std::nullopt};
    return out;
  };
  roles["admin"] = {
      "admin", {"ui.*", "pm", "pm.*", "app"}, all({"view", "create", "update", "destroy"}), {}};
  roles["member"] = {"member", {"!ui.*", "!pm", "!pm.*", "!app"}, {}, {}};
  roles["member"].strategy = {
      {"view", {}}, {"create", {}}, {"update", {true, {}}}, {"destroy", {true, {}}}};
  // Reads posts (two fields), nothing else; may manage users but not roles.
  roles["reader"] = {"reader", {"pm.users"}, {}, {}};
  roles["reader"].resources["posts"] = {{"view", {false, std::set<std::string>{"title", "body"}}}};
  // Everything on records, users management only.
  roles["clerk"] = {
      "clerk", {"pm.*", "!pm.acl.roles"}, all({"view", "create", "update", "destroy"}), {}};
  return AclPolicy(std::move(roles));
}

struct CheckCase {
  const char* role;
  const char* collection;
  const char* action;
  // "denied", "all", "own"; `fields` when limited
  const char* verdict;
  std::vector<std::string> fields = {};
};

const CheckCase kChecks[] = {
    {"root", "posts", "destroy", "all"},
    {"root", "anything", "view", "all"},
    {"admin", "posts", "view", "all"},
    {"admin", "posts", "destroy", "all"},
    {"member", "posts", "view", "all"},
    {"member", "posts", "create", "all"},
    {"member", "posts", "update", "own"},
    {"member", "posts", "destroy", "own"},
    {"member", "users", "view", "all"},  // the strategy; direct users:* needs pm.users (snippet)
    {"reader", "posts", "view", "all", {"body", "title"}},
    {"reader", "posts", "update", "denied"},
    {"reader", "comments", "view", "denied"},  // a resource config replaces the (empty) strategy
    {"nobody", "posts", "view", "denied"},
    {"clerk", "posts", "update", "all"},
};

TEST(AclPolicyTest, RecordPermissionsTable) {
  AclPolicy acl = Policy();
  for (const CheckCase& c : kChecks) {
    SCOPED_TRACE(std::string(c.role) + " " + c.action + " " + c.collection);
    std::optional<ActionGrant> g = acl.Check(c.role, c.collection, c.action);
    std::string verdict = !g ? "denied" : g->own ? "own" : "all";
    EXPECT_EQ(verdict, c.verdict);
    if (g && !c.fields.empty()) {
      ASSERT_TRUE(g->fields.has_value());
      EXPECT_EQ(std::vector<std::string>(g->fields->begin(), g->fields->end()), c.fields);
    } else if (g) {
      EXPECT_FALSE(g->fields.has_value());
    }
  }
}

TEST(AclPolicyTest, SnippetsGovernConfiguration) {
  AclPolicy acl = Policy();
  struct Case {
    const char* role;
    const char* snippet;
    bool allowed;
  } cases[] = {
      {"root", "pm.acl.roles", true},
      {"admin", "pm.acl.roles", true},
      {"admin", "pm", true},
      {"admin", "app", true},
      {"member", "pm.users", false},
      {"member", "pm", false},
      {"member", "app", false},
      {"reader", "pm.users", true},
      {"reader", "pm.acl.roles", false},
      {"clerk", "pm.users", true},
      {"clerk", "pm.acl.roles", false},
      {"clerk", "pm", false},  // "pm.*" is not "pm"
      {"nobody", "pm.users", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(acl.SnippetAllowed(c.role, c.snippet), c.allowed) << c.role << " " << c.snippet;
  }
  EXPECT_TRUE(SnippetPatternsAllow({"pm.*"}, "pm.data-source-manager"));
  EXPECT_FALSE(SnippetPatternsAllow({"pm.*", "!pm.data-*"}, "pm.data-source-manager"));
  EXPECT_FALSE(SnippetPatternsAllow({}, "pm"));
}

TEST(AclPolicyTest, NobodyGivesWhatTheyDoNotHold) {
  AclPolicy acl = Policy();
  const std::vector<std::string> snippets = {"pm", "pm.users", "pm.acl.roles",
                                             "pm.data-source-manager", "app"};
  // Root gives anything; only root gives root.
  EXPECT_TRUE(acl.Covers("root", "admin", snippets));
  EXPECT_TRUE(acl.Covers("root", "root", snippets));
  EXPECT_FALSE(acl.Covers("admin", "root", snippets));
  // Admin holds everything the others grant.
  for (const char* role : {"admin", "member", "reader", "clerk"}) {
    EXPECT_TRUE(acl.Covers("admin", role, snippets)) << role;
  }
  // Member holds no configuration permission and only its own records for update/destroy.
  EXPECT_FALSE(acl.Covers("member", "admin", snippets));
  EXPECT_FALSE(acl.Covers("member", "reader", snippets));  // pm.users
  EXPECT_TRUE(acl.Covers("member", "member", snippets));
  // The clerk manages users and records but cannot give roles management.
  RolePolicy wants_roles{"x", {"pm.acl.roles"}, {}, {}};
  EXPECT_FALSE(acl.Covers("clerk", wants_roles, snippets));
  RolePolicy wants_users{"x", {"pm.users"}, {}, {}};
  EXPECT_TRUE(acl.Covers("clerk", wants_users, snippets));
  // All records is more than own records; every field is more than some.
  RolePolicy all_updates{"x", {}, {{"update", {}}}, {}};
  EXPECT_FALSE(acl.Covers("member", all_updates, snippets));
  RolePolicy own_updates{"x", {}, {{"update", {true, std::nullopt}}}, {}};
  EXPECT_TRUE(acl.Covers("member", own_updates, snippets));
  RolePolicy all_post_fields{"x", {}, {}, {}};
  all_post_fields.resources["posts"] = {{"view", {}}};
  EXPECT_FALSE(acl.Covers("reader", all_post_fields, snippets));
  RolePolicy one_post_field{"x", {}, {}, {}};
  one_post_field.resources["posts"] = {{"view", {false, std::set<std::string>{"title"}}}};
  EXPECT_TRUE(acl.Covers("reader", one_post_field, snippets));
  // A strategy applies to collections the caller configured more narrowly as well.
  RolePolicy views_everything{"x", {}, {{"view", {}}}, {}};
  EXPECT_FALSE(acl.Covers("reader", views_everything, snippets));
}

TEST(RoleAccessTest, OwnBecomesAScopeAndFieldListsKeepTheKeys) {
  auto acl = std::make_shared<const AclPolicy>(Policy());
  auto posts = data::ParseCollectionDefinition(
      boost::json::parse(R"({"name":"posts","fields":[{"name":"title","type":"string"},
                           {"name":"body","type":"text"},{"name":"score","type":"integer"}]})")
          .as_object(),
      /*users_exists=*/false);
  ASSERT_TRUE(posts.ok()) << posts.status().ToString();
  RoleAccess member(acl, "member", 7);
  data::Permission update = member.Check(*posts, "update");
  EXPECT_TRUE(update.allowed);
  EXPECT_EQ(boost::json::serialize(update.scope), R"({"createdById":{"$eq":7}})");
  EXPECT_TRUE(member.Check(*posts, "view").scope.is_null());

  RoleAccess reader(acl, "reader", 8);
  data::Permission view = reader.Check(*posts, "view");
  ASSERT_TRUE(view.fields.has_value());
  for (const char* f : {"title", "body", "id", "createdAt", "updatedAt"}) {
    EXPECT_TRUE(view.AllowsField(f)) << f;
  }
  EXPECT_FALSE(view.AllowsField("score"));
  EXPECT_FALSE(reader.Check(*posts, "create").allowed);
  EXPECT_EQ(reader.Who(), "role 'reader'");
}

}  // namespace
}  // namespace slipway::api
