// Many-to-many and one-to-one relations end to end against the real binary: belongsToMany with its
// join table and hasOne, both made from both sides (reverseField), the association endpoints
// (list, get, add, remove, set, toggle, create, update, destroy), appends and filters through
// them, writes that set them, and the refusals, on SQLite, on PostgreSQL and through three
// nodes of one cluster (every step on the next node, round-robin).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "api_client.h"
#include "local_cluster.h"
#include "one_node.h"
#include "test_database.h"

namespace slipway::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::value J(std::string_view text) { return json::parse(text); }

// The requests of one scripted sequence, spread over the nodes given (one for a single node).
class Script {
 public:
  explicit Script(std::vector<Api*> apis) : apis_(std::move(apis)) {}
  Api& next() { return *apis_[turn_++ % apis_.size()]; }
  ApiResult Get(const std::string& path) { return next().Get(path); }
  ApiResult Post(const std::string& path, const json::value& body) {
    return next().Post(path, body);
  }
  ApiResult Post(const std::string& path) { return next().Post(path); }

  // The ids of a list's records, in order.
  std::vector<int64_t> Ids(const std::string& path) {
    ApiResult r = Get(path);
    EXPECT_EQ(r.status, 200) << path << " -> " << r.body;
    std::vector<int64_t> out;
    if (r.status != 200) return out;
    for (const auto& row : r.data().as_array()) out.push_back(row.at("id").as_int64());
    return out;
  }
  // The ids of records appended under `relation` of the record `path` gets.
  std::vector<int64_t> AppendedIds(const std::string& path, const std::string& relation) {
    ApiResult r = Get(path);
    EXPECT_EQ(r.status, 200) << path << " -> " << r.body;
    std::vector<int64_t> out;
    if (r.status != 200) return out;
    for (const auto& row : r.data().at(relation).as_array()) out.push_back(row.at("id").as_int64());
    return out;
  }
  std::set<std::string> Collections() {
    ApiResult r = Get("collections:list?paginate=false");
    std::set<std::string> out;
    for (const auto& c : r.data().as_array()) out.insert(std::string(c.at("name").as_string()));
    return out;
  }

 private:
  std::vector<Api*> apis_;
  size_t turn_ = 0;
};

using Ids = std::vector<int64_t>;

void ManyToManyFromBothSides(Script& s) {
  ASSERT_EQ(s.Post("collections:create", J(R"({"name":"tags","fields":[
      {"name":"name","type":"string","unique":true}]})"))
                .status,
            200);
  // posts.tags with its reverse tags.posts, made in one call as NocoBase's client does.
  ApiResult posts = s.Post("collections:create", J(R"({"name":"posts","fields":[
      {"name":"title","type":"string"},
      {"name":"tags","type":"belongsToMany","target":"tags","reverseField":{"name":"posts"}}]})"));
  ASSERT_EQ(posts.status, 200) << posts.body;
  // NocoBase's defaults: the join table and its keys.
  ApiResult tags_field = s.Get("collections/posts/fields:get?filterByTk=tags");
  ASSERT_EQ(tags_field.status, 200) << tags_field.body;
  EXPECT_EQ(tags_field.data().at("through"), "postsTags");
  EXPECT_EQ(tags_field.data().at("foreignKey"), "postId");
  EXPECT_EQ(tags_field.data().at("otherKey"), "tagId");
  ApiResult reverse = s.Get("collections/tags/fields:get?filterByTk=posts");
  ASSERT_EQ(reverse.status, 200) << reverse.body;
  EXPECT_EQ(reverse.data().at("type"), "belongsToMany");
  EXPECT_EQ(reverse.data().at("through"), "postsTags");
  EXPECT_EQ(reverse.data().at("foreignKey"), "tagId");
  EXPECT_EQ(reverse.data().at("otherKey"), "postId");
  EXPECT_TRUE(s.Collections().count("postsTags"));

  for (const char* name : {"c++", "db", "ops", "web"}) {
    ASSERT_EQ(s.Post("tags:create", json::object{{"name", name}}).status, 200);
  }
  // Set by keys and by objects, as NocoBase accepts them.
  ASSERT_EQ(s.Post("posts:create", J(R"({"title":"p1","tags":[1,2]})")).status, 200);
  ASSERT_EQ(s.Post("posts:create", J(R"({"title":"p2","tags":[{"id":2},{"id":3}]})")).status, 200);
  ASSERT_EQ(s.Post("posts:create", J(R"({"title":"p3"})")).status, 200);

  EXPECT_EQ(s.AppendedIds("posts:get?filterByTk=1&appends=tags", "tags"), (Ids{1, 2}));
  EXPECT_EQ(s.AppendedIds("tags:get?filterByTk=2&appends=posts", "posts"), (Ids{1, 2}));
  // A filter through the relation, and a nested append back through the reverse.
  EXPECT_EQ(s.Ids("posts:list?sort=id&filter=" + Encode(R"({"tags.name":{"$in":["ops","c++"]}})")),
            (Ids{1, 2}));
  EXPECT_EQ(s.Ids("posts:list?sort=id&filter=" + Encode(R"({"tags":{"$notExists":true}})")),
            (Ids{3}));
  ApiResult nested = s.Get("posts:get?filterByTk=2&appends=tags,tags.posts");
  ASSERT_EQ(nested.status, 200) << nested.body;
  EXPECT_EQ(nested.data().at("tags").at(0).at("posts").as_array().size(), 2u);

  // The association endpoints, from both sides.
  EXPECT_EQ(s.Ids("posts/2/tags:list?sort=id"), (Ids{2, 3}));
  EXPECT_EQ(s.Ids("tags/2/posts:list?sort=id"), (Ids{1, 2}));
  EXPECT_EQ(s.Get("posts/2/tags:get?filterByTk=3").data().at("name"), "ops");
  EXPECT_TRUE(s.Get("posts/2/tags:get?filterByTk=1").data().is_null());  // not linked
  ASSERT_EQ(s.Post("posts/3/tags:add?filterByTk=4").status, 200);
  ASSERT_EQ(s.Post("posts/3/tags:add", J("[1, 4]")).status, 200);  // 4 again: no duplicate
  EXPECT_EQ(s.Ids("posts/3/tags:list?sort=id"), (Ids{1, 4}));
  ASSERT_EQ(s.Post("posts/3/tags:remove", J("[1]")).status, 200);
  EXPECT_EQ(s.Ids("posts/3/tags:list?sort=id"), (Ids{4}));
  ASSERT_EQ(s.Post("posts/3/tags:set", J("[2, 3]")).status, 200);
  EXPECT_EQ(s.Ids("posts/3/tags:list?sort=id"), (Ids{2, 3}));
  ASSERT_EQ(s.Post("posts/3/tags:toggle", J(R"({"tk":3})")).status, 200);
  EXPECT_EQ(s.Ids("posts/3/tags:list?sort=id"), (Ids{2}));
  ASSERT_EQ(s.Post("posts/3/tags:toggle", J(R"({"tk":4})")).status, 200);
  EXPECT_EQ(s.Ids("posts/3/tags:list?sort=id"), (Ids{2, 4}));
  ASSERT_EQ(s.Post("tags/1/posts:add", J("[3]")).status, 200);  // from the other side
  EXPECT_EQ(s.Ids("posts/3/tags:list?sort=id"), (Ids{1, 2, 4}));
  // create links the new record; update and destroy reach linked records only.
  ApiResult created = s.Post("posts/3/tags:create", J(R"({"name":"new"})"));
  ASSERT_EQ(created.status, 200) << created.body;
  int64_t new_tag = created.data().at("id").as_int64();
  EXPECT_EQ(s.Ids("tags/" + std::to_string(new_tag) + "/posts:list"), (Ids{3}));
  EXPECT_EQ(
      s.Post("posts/3/tags:update?filterByTk=" + std::to_string(new_tag), J(R"({"name":"newer"})"))
          .status,
      200);
  ApiResult outside = s.Post("posts/1/tags:update?filterByTk=4", J(R"({"name":"x"})"));
  EXPECT_EQ(outside.status, 200);
  EXPECT_EQ(outside.data().as_array().size(), 0u);  // tag 4 is not linked to post 1
  EXPECT_EQ(s.Get("tags:get?filterByTk=4").data().at("name"), "web");
  ASSERT_EQ(s.Post("posts/3/tags:destroy?filterByTk=" + std::to_string(new_tag)).status, 200);
  EXPECT_TRUE(s.Get("tags:get?filterByTk=" + std::to_string(new_tag)).data().is_null());
  // An update that sets the relation replaces the links.
  ASSERT_EQ(s.Post("posts:update?filterByTk=1", J(R"({"tags":[4]})")).status, 200);
  EXPECT_EQ(s.AppendedIds("posts:get?filterByTk=1&appends=tags", "tags"), (Ids{4}));

  // Destroying a post takes its join rows, not the tags.
  ASSERT_EQ(s.Post("posts:destroy?filterByTk=3").status, 200);
  EXPECT_EQ(s.Ids("tags/2/posts:list?sort=id"), (Ids{2}));
  EXPECT_EQ(s.Ids("tags:list?sort=id"), (Ids{1, 2, 3, 4}));
  ApiResult rows = s.Get("postsTags:list?paginate=false");
  ASSERT_EQ(rows.status, 200) << rows.body;
  EXPECT_EQ(rows.data().as_array().size(), 3u);  // (1,4), (2,2), (2,3)

  // Refusals change nothing.
  ApiResult unknown = s.Post("posts/2/tags:add", J("[2, 99]"));
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_NE(unknown.message().find("do not exist"), std::string::npos) << unknown.body;
  EXPECT_EQ(s.Ids("posts/2/tags:list?sort=id"), (Ids{2, 3}));
  EXPECT_EQ(s.Post("posts/2/tags:toggle", J("[1, 2]")).status, 400);
  EXPECT_EQ(s.Post("posts:create", J(R"({"title":"bad","tags":[7]})")).status, 400);
  EXPECT_EQ(s.Post("posts:create", J(R"({"title":"bad","tags":"db"})")).status, 400);
  EXPECT_EQ(s.Ids("posts:list?sort=id"), (Ids{1, 2}));
  EXPECT_EQ(s.Post("tags:add", J("[1]")).status, 404);
  EXPECT_EQ(s.Post("posts/99/tags:add", J("[1]")).status, 404);
  EXPECT_EQ(s.Post("collections:destroy?filterByTk=postsTags").status, 409);

  // Removing one side keeps the join table for the other; removing both drops it.
  ASSERT_EQ(s.Post("collections/tags/fields:destroy?filterByTk=posts").status, 200);
  EXPECT_EQ(s.Ids("posts/2/tags:list?sort=id"), (Ids{2, 3}));
  ASSERT_EQ(s.Post("collections/posts/fields:destroy?filterByTk=tags").status, 200);
  EXPECT_FALSE(s.Collections().count("postsTags"));
  EXPECT_EQ(s.Get("posts/2/tags:list").status, 404);
}

void OneToOneFromBothSides(Script& s) {
  ASSERT_EQ(s.Post("collections:create", J(R"({"name":"owners","fields":[
      {"name":"name","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(s.Post("collections:create", J(R"({"name":"passports","fields":[
      {"name":"number","type":"string"}]})"))
                .status,
            200);
  ApiResult field = s.Post("collections/owners/fields:create", J(R"({"name":"passport",
      "type":"hasOne","target":"passports","reverseField":{"name":"holder"}})"));
  ASSERT_EQ(field.status, 200) << field.body;
  EXPECT_EQ(field.data().at("foreignKey"), "ownerId");  // NocoBase's default
  ApiResult holder = s.Get("collections/passports/fields:get?filterByTk=holder");
  ASSERT_EQ(holder.status, 200) << holder.body;
  EXPECT_EQ(holder.data().at("type"), "belongsTo");
  EXPECT_EQ(holder.data().at("foreignKey"), "ownerId");

  for (const char* n : {"A1", "B2", "C3"}) {
    ASSERT_EQ(s.Post("passports:create", json::object{{"number", n}}).status, 200);
  }
  ASSERT_EQ(s.Post("owners:create", J(R"({"name":"Ann","passport":1})")).status, 200);
  ASSERT_EQ(s.Post("owners:create", J(R"({"name":"Bob"})")).status, 200);
  ASSERT_EQ(s.Post("passports:update?filterByTk=3", J(R"({"holder":2})")).status, 200);

  ApiResult ann = s.Get("owners:get?filterByTk=1&appends=passport");
  ASSERT_EQ(ann.status, 200) << ann.body;
  EXPECT_EQ(ann.data().at("passport").at("number"), "A1");
  EXPECT_EQ(s.Get("owners/2/passport:get").data().at("number"), "C3");
  EXPECT_EQ(s.Get("passports/1/holder:get").data().at("name"), "Ann");
  EXPECT_EQ(s.Ids("owners:list?sort=id&filter=" + Encode(R"({"passport.number":"C3"})")), (Ids{2}));
  // set replaces the one linked record; remove unlinks it.
  ASSERT_EQ(s.Post("owners/1/passport:set?filterByTk=2").status, 200);
  EXPECT_EQ(s.Get("owners/1/passport:get").data().at("number"), "B2");
  EXPECT_TRUE(s.Get("passports/1/holder:get").data().is_null());
  ASSERT_EQ(s.Post("owners/1/passport:remove").status, 200);
  EXPECT_TRUE(s.Get("owners/1/passport:get").data().is_null());
  ASSERT_EQ(s.Post("passports/1/holder:set?filterByTk=1").status, 200);  // the belongsTo side
  EXPECT_EQ(s.Get("owners/1/passport:get").data().at("number"), "A1");
  ApiResult appended = s.Get("owners:list?sort=id&appends=passport");
  ASSERT_EQ(appended.status, 200);
  EXPECT_TRUE(appended.data().at(0).at("passport").is_object());

  // create on the hasOne: the new record becomes the one.
  ApiResult created = s.Post("owners/1/passport:create", J(R"({"number":"D4"})"));
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(s.Get("owners/1/passport:get").data().at("number"), "D4");
  EXPECT_TRUE(s.Get("passports/1/holder:get").data().is_null());
  ASSERT_EQ(s.Post("owners/1/passport:set?filterByTk=1").status, 200);

  EXPECT_EQ(s.Post("owners/1/passport:set", J("[1, 2]")).status, 400);
  EXPECT_EQ(s.Post("owners:update?filterByTk=1", J(R"({"passport":[1]})")).status, 400);
  EXPECT_EQ(s.Post("owners/1/passport:add", J("[2]")).status, 400);
  EXPECT_EQ(s.Get("owners/1/passport:get").data().at("number"), "A1");
}

void RelationRefusals(Script& s) {
  ASSERT_EQ(s.Post("collections:create", J(R"({"name":"notes"})")).status, 200);
  std::set<std::string> before = s.Collections();
  ApiResult no_target = s.Post("collections:create", J(R"({"name":"books","fields":[
      {"name":"shelf","type":"belongsToMany","target":"shelves"}]})"));
  EXPECT_EQ(no_target.status, 400) << no_target.body;
  EXPECT_NE(no_target.message().find("shelves"), std::string::npos) << no_target.body;
  ApiResult clash = s.Post("collections/notes/fields:create", J(R"({"name":"links",
      "type":"belongsToMany","target":"notes","through":"users",
      "foreignKey":"fromId","otherKey":"toId"})"));
  EXPECT_EQ(clash.status, 409) << clash.body;
  ApiResult case_clash = s.Post("collections/notes/fields:create", J(R"({"name":"links",
      "type":"belongsToMany","target":"notes","through":"Notes_links","foreignKey":"fromId",
      "otherKey":"toId"})"));
  EXPECT_EQ(case_clash.status, 200) << case_clash.body;  // a new name: accepted
  ApiResult again = s.Post("collections/users/fields:create", J(R"({"name":"notes",
      "type":"belongsToMany","target":"notes","through":"Notes_links"})"));
  EXPECT_EQ(again.status, 409) << again.body;  // another relation's join table
  ApiResult self = s.Post("collections/notes/fields:create",
                          J(R"({"name":"seeAlso","type":"belongsToMany","target":"notes"})"));
  EXPECT_EQ(self.status, 400) << self.body;  // noteId twice
  EXPECT_EQ(s.Post("collections/notes/fields:create",
                   J(R"({"name":"x","type":"hasOne","target":"nowhere"})"))
                .status,
            400);
  std::set<std::string> after = s.Collections();
  after.erase("Notes_links");
  EXPECT_EQ(after, before);
  // Destroying a collection takes its join tables and the relations pointing at it.
  ASSERT_EQ(s.Post("collections:destroy?filterByTk=notes").status, 200);
  EXPECT_FALSE(s.Collections().count("Notes_links"));
}

class RelationsTest : public OneNodeTest {
 protected:
  void SetUp() override {
    OneNodeTest::SetUp();
    script_ = std::make_unique<Script>(std::vector<Api*>{api_.get()});
  }

  std::unique_ptr<Script> script_;
};

TEST_P(RelationsTest, ManyToManyFromBothSides) { ManyToManyFromBothSides(*script_); }
TEST_P(RelationsTest, OneToOneFromBothSides) { OneToOneFromBothSides(*script_); }
TEST_P(RelationsTest, RefusalsChangeNothing) { RelationRefusals(*script_); }

TEST_P(RelationsTest, LinkingNeedsUpdateOnTheSourceRecord) {
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"tags","fields":[
      {"name":"name","type":"string"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("collections:create", J(R"({"name":"posts","fields":[
      {"name":"title","type":"string"},
      {"name":"tags","type":"belongsToMany","target":"tags"}]})"))
                .status,
            200);
  ASSERT_EQ(api_->Post("tags:create", J(R"({"name":"t"})")).status, 200);
  ASSERT_EQ(api_->Post("posts:create", J(R"({"title":"admin's"})")).status, 200);
  ASSERT_EQ(api_->Post("users:create",
                       J(R"({"nickname":"M","email":"m@example.com","password":"pw-member-1"})"))
                .status,
            200);
  // The default role, member: views everything, updates only its own records.
  Api member(node_->port());
  ASSERT_EQ(member.SignIn("m@example.com", "pw-member-1").status, 200);
  EXPECT_EQ(member.Get("posts/1/tags:list").status, 200);
  ApiResult refused = member.Post("posts/1/tags:add", J("[1]"));
  EXPECT_EQ(refused.status, 404) << refused.body;  // not one of its records to update
  EXPECT_EQ(api_->Get("posts/1/tags:list").json.at("meta").at("count").as_int64(), 0);
  ApiResult own = member.Post("posts:create", J(R"({"title":"mine"})"));
  ASSERT_EQ(own.status, 200) << own.body;
  std::string id = std::to_string(own.data().at("id").as_int64());
  EXPECT_EQ(member.Post("posts/" + id + "/tags:add", J("[1]")).status, 200);
  EXPECT_EQ(api_->Get("posts/" + id + "/tags:list").json.at("meta").at("count").as_int64(), 1);
}

INSTANTIATE_TEST_SUITE_P(Dialects, RelationsTest, ::testing::Values(false, true), DialectParamName);

// The same scripted sequence through three nodes sharing one PostgreSQL (no Redis): each request
// goes to the next node, so every schema change must be in force everywhere when it returns.
TEST(RelationsClusterTest, TheScriptedSequenceThroughThreeNodes) {
  LocalCluster cluster(3, {{"HEARTBEAT_INTERVAL", "300"}});
  ASSERT_TRUE(cluster.ok());
  Script s(cluster.apis());
  ManyToManyFromBothSides(s);
  OneToOneFromBothSides(s);
  RelationRefusals(s);
  cluster.StopAll();
}

}  // namespace
}  // namespace slipway::testing
