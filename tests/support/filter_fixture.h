// The schema the filter compiler is tested and fuzzed against (src/data/filter_test.cc,
// fuzz/filter_fuzzer.cc): every field type, relations both ways, a self-reference and two
// paths to one table. Each of them inserts rows of its own: the unit test's are what its
// expectations count, the fuzzer's are edge values (empty strings, NULLs, LIKE wildcards).
//
//   companies <- users (company, manager: self) <- posts (author, editor) <- comments (post,
//   author); companies hasMany users (staff), users hasMany posts, posts hasMany comments.
//
// Header-only and free of GoogleTest, so that the fuzzer (which compiles its sources itself)
// can include it.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>

#include "data/schema.h"

namespace slipway::testing {

inline constexpr const char* kFilterFixture = R"([
  {"name": "companies", "fields": [
    {"name": "name", "type": "string"},
    {"name": "founded", "type": "dateOnly"},
    {"name": "staff", "type": "hasMany", "target": "users", "foreignKey": "companyId"}]},
  {"name": "users", "fields": [
    {"name": "name", "type": "string"},
    {"name": "email", "type": "string", "unique": true},
    {"name": "age", "type": "integer"},
    {"name": "active", "type": "boolean"},
    {"name": "score", "type": "double"},
    {"name": "weight", "type": "float"},
    {"name": "password", "type": "password"},
    {"name": "bio", "type": "text"},
    {"name": "meta", "type": "json"},
    {"name": "uid", "type": "uuid"},
    {"name": "sid", "type": "snowflakeId"},
    {"name": "big", "type": "bigInt"},
    {"name": "wakeAt", "type": "time"},
    {"name": "localAt", "type": "datetimeNoTz"},
    {"name": "company", "type": "belongsTo", "target": "companies"},
    {"name": "manager", "type": "belongsTo", "target": "users"},
    {"name": "posts", "type": "hasMany", "target": "posts", "foreignKey": "authorId"}]},
  {"name": "posts", "fields": [
    {"name": "title", "type": "string"},
    {"name": "body", "type": "text"},
    {"name": "views", "type": "integer"},
    {"name": "rating", "type": "decimal"},
    {"name": "published", "type": "boolean"},
    {"name": "publishedAt", "type": "date"},
    {"name": "author", "type": "belongsTo", "target": "users"},
    {"name": "editor", "type": "belongsTo", "target": "users"},
    {"name": "comments", "type": "hasMany", "target": "comments"}]},
  {"name": "comments", "fields": [
    {"name": "body", "type": "text"},
    {"name": "post", "type": "belongsTo", "target": "posts"},
    {"name": "author", "type": "belongsTo", "target": "users"}]}
])";
;

// kFilterFixture as a validated schema; collections have no timestamps and no createdBy or
// updatedBy fields, so every field is one the fixture names.
inline Result<data::Schema> FilterFixtureSchema() {
  std::map<std::string, std::shared_ptr<const data::Collection>> collections;
  const boost::json::value defs = boost::json::parse(kFilterFixture);
  for (const boost::json::value& def : defs.as_array()) {
    boost::json::object d = def.as_object();
    d["timestamps"] = false;
    d["createdBy"] = false;
    d["updatedBy"] = false;
    ASSIGN_OR_RETURN(data::Collection c,
                     data::ParseCollectionDefinition(d, /*users_exists=*/false));
    std::string name = c.name;
    collections.emplace(name, std::make_shared<const data::Collection>(std::move(c)));
  }
  data::Schema schema(std::move(collections));
  RETURN_IF_ERROR(schema.Validate());
  return schema;
}

}  // namespace slipway::testing
