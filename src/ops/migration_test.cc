// The parts of a migration that need no database: rules as given, and the structural plan
// between two schemas (data::SchemaStore::PlanSync), which decides what an import may change.
#include "ops/migration.h"

#include <gtest/gtest.h>

namespace slipway::ops {
namespace {

namespace json = boost::json;

TEST(MigrationRules, ParsedAndRefusedWithTheirNames) {
  auto rules = ParseRules(
      json::parse(R"({"userDefined":"upsert","tables":{"posts":"overwrite","logs":"skip"}})"));
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ(rules->user_defined, MigrationRule::kUpsert);
  EXPECT_EQ(rules->tables.at("posts"), MigrationRule::kOverwrite);
  EXPECT_EQ(rules->tables.at("logs"), MigrationRule::kSkip);
  EXPECT_EQ(json::serialize(RulesToJson(*rules)),
            R"({"userDefined":"upsert","tables":{"logs":"skip","posts":"overwrite"}})");
  EXPECT_TRUE(ParseRules(json::value(nullptr)).ok());

  auto bad = ParseRules(json::parse(R"({"tables":{"posts":"merge"}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'merge' is not a migration rule"), std::string::npos);
  EXPECT_FALSE(ParseRules(json::parse(R"({"tablez":{}})")).ok());
  EXPECT_FALSE(ParseRules(json::parse(R"({"tables":{"posts":1}})")).ok());
  EXPECT_FALSE(ParseRules(json::parse(R"([])")).ok());
  for (MigrationRule r :
       {MigrationRule::kSchemaOnly, MigrationRule::kOverwrite, MigrationRule::kSkip,
        MigrationRule::kUpsert, MigrationRule::kInsertIgnore}) {
    EXPECT_EQ(*ParseRule(RuleName(r)), r);
  }
  EXPECT_FALSE(RuleCarriesRows(MigrationRule::kSchemaOnly));
  EXPECT_FALSE(RuleCarriesRows(MigrationRule::kSkip));
  EXPECT_TRUE(RuleCarriesRows(MigrationRule::kInsertIgnore));
}

// Definitions as backups and packages carry them: {collections: [{name, options, fields}]}.
json::object Definitions(const std::string& fields_of_posts, bool with_tags = false) {
  auto field = [](const std::string& name, const std::string& options) {
    return json::object{{"name", name}, {"options", json::parse(options)}};
  };
  json::array posts_fields{
      field("id", R"({"name":"id","type":"bigInt","primaryKey":true,"autoIncrement":true})")};
  const json::value given = json::parse(fields_of_posts);
  for (const json::value& f : given.as_array()) {
    posts_fields.push_back(field(std::string(f.at("name").as_string()), json::serialize(f)));
  }
  json::array collections{json::object{{"name", "posts"},
                                       {"options", json::object{{"title", "Posts"}}},
                                       {"fields", std::move(posts_fields)}}};
  if (with_tags) {
    collections.push_back(json::object{
        {"name", "tags"},
        {"options", json::object{}},
        {"fields", json::array{field("id", R"({"name":"id","type":"bigInt","primaryKey":true})"),
                               field("label", R"({"name":"label","type":"string"})")}}});
  }
  return json::object{{"collections", std::move(collections)}};
}

std::vector<std::string> Describe(const data::SchemaSyncPlan& plan) {
  std::vector<std::string> out;
  for (const data::SchemaChange& c : plan.changes) {
    std::string s = std::string(data::SchemaChangeKindName(c.kind)) + " " + c.collection;
    if (!c.field.empty()) s += "." + c.field;
    if (!c.previous_name.empty()) s += " (was " + c.previous_name + ")";
    out.push_back(s);
  }
  return out;
}

TEST(MigrationPlan, FieldsAreMatchedByColumnAndTypeChangesAreRefused) {
  data::SchemaStore store({});
  auto now = store.FromDefinitions(Definitions(
      R"([{"name":"title","type":"string"},{"name":"old","type":"string"},
          {"name":"views","type":"integer"}])"));
  ASSERT_TRUE(now.ok()) << now.status().ToString();

  // Added, dropped, retitled; a new collection.
  auto next = store.FromDefinitions(Definitions(
      R"([{"name":"title","type":"string","title":"Title"},{"name":"views","type":"integer"},
          {"name":"body","type":"text"}])",
      true));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  data::SchemaSyncPlan plan = store.PlanSync(**now, **next);
  EXPECT_TRUE(plan.refusals.empty());
  EXPECT_EQ(Describe(plan),
            (std::vector<std::string>{"alterField posts.title", "addField posts.body",
                                      "dropField posts.old", "addCollection tags"}));

  // A field renamed in the other environment keeps its column: an alteration, not a drop.
  auto renamed = store.FromDefinitions(Definitions(
      R"([{"name":"headline","type":"string","x-slipway-column":"title"},
          {"name":"old","type":"string"},{"name":"views","type":"integer"}])"));
  ASSERT_TRUE(renamed.ok()) << renamed.status().ToString();
  EXPECT_EQ(Describe(store.PlanSync(**now, **renamed)),
            (std::vector<std::string>{"alterField posts.headline (was title)"}));

  // A type change is refused, naming the field and both types.
  auto retyped = store.FromDefinitions(Definitions(
      R"([{"name":"title","type":"string"},{"name":"old","type":"string"},
          {"name":"views","type":"string"}])"));
  ASSERT_TRUE(retyped.ok());
  data::SchemaSyncPlan refused = store.PlanSync(**now, **retyped);
  ASSERT_EQ(refused.refusals.size(), 1u);
  EXPECT_NE(refused.refusals[0].find("field 'posts.views' would change its 'type' from integer "
                                     "to string"),
            std::string::npos)
      << refused.refusals[0];
  EXPECT_TRUE(refused.changes.empty());

  // The same schema: nothing to do. A collection only here is dropped.
  EXPECT_TRUE(store.PlanSync(**now, **now).changes.empty());
  EXPECT_EQ(Describe(store.PlanSync(**next, **now)),
            (std::vector<std::string>{"dropCollection tags", "alterField posts.title",
                                      "addField posts.old", "dropField posts.body"}));
}

}  // namespace
}  // namespace slipway::ops
