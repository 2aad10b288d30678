// Request and Response as the rest of Slipway sees them: plain structs, no Boost.Beast, so that
// only server.cc pays for Beast's headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace slipway::http {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
std::string_view MethodName(Method m);

struct Header {
  std::string name;  // lower case
  std::string value;
};

struct Request {
  Method method = Method::kGet;
  std::string method_text;  // as received, e.g. "TRACE" for Method::kOther
  std::string target;       // as received: path and query
  std::string path;         // percent-decoded path, no query
  std::string query;        // raw query string without '?'
  std::vector<Header> headers;
  std::string body;
  std::string remote;      // peer address
  std::string request_id;  // X-Request-Id from the client, or one the server made
  std::chrono::steady_clock::time_point received_at;

  // The first header with this (lower-case) name, or "".
  std::string_view header(std::string_view lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<Header> headers;
  // Logged at debug level instead of info: answers a load balancer asks for every second or so
  // (a passing health check) would drown the log.
  bool routine = false;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
};

// Completes a request exactly once, from any thread.
using Responder = std::function<void(Response)>;

// What the server calls for each complete request. Handle must not block on I/O: work that does
// (the database) is handed to a worker and completed through `respond` later.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(Request&& request, Responder respond) = 0;
};

}  // namespace slipway::http
