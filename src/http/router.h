// Parses NocoBase's resource URLs (the part after API_BASE_PATH) into a Route:
//
//   posts:list                 resource "posts", action "list"
//   posts:get/1  posts/1       resource "posts", action "get", index "1"
//   posts/1/comments:list      resource "posts.comments", source index "1", action "list"
//   posts/1/comments/2         resource "posts.comments", source index "1", index "2", action get
//
// Without an explicit action the method decides, as in NocoBase: GET list (or get with an
// index), POST create, PUT/PATCH update, DELETE destroy.
#pragma once

#include <string>
#include <string_view>

#include "http/message.h"
#include "slipway/status.h"

namespace slipway::http {

struct Route {
  std::string resource;      // "posts" or "posts.comments"
  std::string action;        // "list"
  std::string source;        // for associations: "posts"; else empty
  std::string association;   // for associations: "comments"; else empty
  std::string source_index;  // for associations: the parent's key
  std::string index;         // the target's key from the path (filterByTk), may be empty

  bool is_association() const { return !association.empty(); }
  std::string Key() const { return resource + ":" + action; }
};

// `path` is the percent-decoded path after the API base ("posts:list"). InvalidArgument for
// malformed paths, naming the part that was wrong.
Result<Route> ParseRoute(Method method, std::string_view path);

// Resource and action names: a letter or underscore, then letters, digits, '_' or '-'.
bool IsValidName(std::string_view name);

}  // namespace slipway::http
