// Request and Response as the rest of Slipway sees them: plain structs, no Boost.Beast, so that
// only server.cc pays for Beast's headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cancel.h"
#include "slipway/status.h"

namespace slipway::http {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
std::string_view MethodName(Method m);

struct Header {
  std::string name;  // lower case
  std::string value;
};

// Receives a request body as it arrives, on the connection's I/O thread, instead of the body
// being buffered in Request::body. Write() may block briefly on local disk (like nginx's temp
// files), never on the network. The server calls Write() for each slice in order, then Finish()
// once, all from one thread; after a failure, or when the client disconnects or times out
// mid-body, it calls nothing more and drops its reference, so a sink's destructor is where an
// unfinished body is cleaned up (temporary files removed).
class BodySink {
 public:
  virtual ~BodySink() = default;
  // An error stops reading: the server answers ErrorResponse(status) and closes the connection.
  virtual Status Write(std::string_view bytes) = 0;
  // The whole body arrived. An error is answered like one from Write(); on success the handler
  // gets the sink in Request::sink.
  virtual Status Finish() = 0;
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
  // Cancelled when the client goes away before its answer (it closed or reset the connection),
  // or the server closes the connection (a shutdown past its grace): work for the request may
  // stop then (core/cancel.h). Set by the server for every request.
  std::shared_ptr<core::CancelToken> cancel;
  // The sink of Handler::PlanBody's plan, given back once its Finish() succeeded (then `body` is
  // empty). Shared: the server holds it while the body streams in, the handler after.
  std::shared_ptr<BodySink> sink;

  // The first header with this (lower-case) name, or "".
  std::string_view header(std::string_view lower_name) const;
};

// A response body read from a file, sent in chunks (never held in memory whole).
struct FileBody {
  std::string path;  // opened by the server when it writes the response
  uint64_t offset = 0;
  uint64_t length = 0;  // bytes from offset
};

struct Response {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  // When set, `body` is ignored: the server opens the file as it writes the response and sends
  // `length` bytes from `offset` (Content-Length: length; headers only for HEAD). A file that
  // cannot be opened then, or is shorter than offset + length, is answered 404/500 instead (and
  // logged); one that shrinks while it is sent closes the connection.
  std::optional<FileBody> file;
  std::vector<Header> headers;
  // Logged at debug level instead of info: answers a load balancer asks for every second or so
  // (a passing health check) would drown the log.
  bool routine = false;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
};

// Completes a request exactly once, from any thread.
using Responder = std::function<void(Response)>;

// What the server does with a request's body, decided from its head (method, target, path,
// query, headers) before reading any of it.
struct BodyPlan {
  // Null: buffer into Request::body as usual (ServerOptions::body_limit_bytes). Set: stream the
  // body into it; shared because the server holds it while reading and the handler after.
  std::shared_ptr<BodySink> sink;
  // With a sink: the most body bytes accepted (there is no "unlimited": 0 accepts only an empty
  // body). A Content-Length over it is answered 413 before reading; a chunked body that grows
  // past it gets 413 when it does; either way the connection is closed.
  uint64_t limit = 0;
  // Set: answered now, without reading the body (nor sending 100 Continue), and the connection
  // is closed if a body was announced.
  std::optional<Response> reject;
};

// What the server calls for each complete request. Handle must not block on I/O: work that does
// (the database) is handed to a worker and completed through `respond` later.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(Request&& request, Responder respond) = 0;
  // Called on the I/O thread once a request's headers arrived (`head` is the Request Handle
  // would get, without its body), before any of the body is read. Must not block. The default
  // buffers every body.
  virtual BodyPlan PlanBody(const Request& head) { return {}; }
};

}  // namespace slipway::http
