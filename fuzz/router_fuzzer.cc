// libFuzzer target for what the server does with a request's target before any handler runs:
// the bytes are split at the first '?' into a path, given to http::ParseRoute with every Method,
// and a query string, given to http::ParseQueryString.
//
// A bug (abort) is: a crash or sanitizer report; an error other than InvalidArgument/NotFound; a
// route whose action, resource or association is not a valid name; a parsed query string that
// does not survive a JSON round trip (every string must be valid UTF-8).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/query_string.h"
#include "http/router.h"

namespace {
namespace json = boost::json;
using namespace slipway;

[[noreturn]] void Fail(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "router_fuzzer: %s\ninput: %.*s\n", what.c_str(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

void CheckRoute(http::Method method, std::string_view path) {
  auto route = http::ParseRoute(method, path);
  if (!route.ok()) {
    StatusCode code = route.status().code();
    if (code != StatusCode::kInvalidArgument && code != StatusCode::kNotFound) {
      Fail("unexpected error " + route.status().ToString(), path);
    }
    return;
  }
  if (!http::IsValidName(route->action)) Fail("invalid action '" + route->action + "'", path);
  // An association's resource is "<source>.<association>", each part a valid name.
  if (route->is_association()) {
    if (!http::IsValidName(route->source) || !http::IsValidName(route->association) ||
        route->resource != route->source + "." + route->association) {
      Fail("invalid association resource '" + route->resource + "'", path);
    }
  } else if (!http::IsValidName(route->resource)) {
    Fail("invalid resource '" + route->resource + "'", path);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t q = input.find('?');
  std::string_view path = input.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : input.substr(q + 1);
  for (http::Method m : {http::Method::kGet, http::Method::kHead, http::Method::kPost,
                         http::Method::kPut, http::Method::kPatch, http::Method::kDelete,
                         http::Method::kOptions, http::Method::kOther}) {
    CheckRoute(m, path);
  }
  auto params = http::ParseQueryString(query);
  if (!params.ok()) {
    if (params.status().code() != StatusCode::kInvalidArgument) {
      Fail("unexpected error " + params.status().ToString(), query);
    }
    return 0;
  }
  std::string text = json::serialize(*params);
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 10000;
  json::value back = json::parse(text, ec, {}, options);
  if (ec || back != json::value(*params)) Fail("no JSON round trip: " + text, query);
  return 0;
}
