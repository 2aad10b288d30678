// Server: the HTTP/1.1 listener (Boost.Beast), the only translation unit that includes Beast.
//
// One io_context per thread (HTTP_THREADS, default one per core); accepted connections are
// spread over them round-robin, so a connection lives on one thread and needs no locking.
// Keep-alive and pipelining are supported. Each phase of a request has its own deadline: the
// wait for a request to begin (idle), the headers, the body; a client that is too slow gets 408
// and is closed, and since reading is asynchronous it never holds a thread while it dawdles.
// Oversized bodies get 413, oversized headers 431, malformed requests 400, all in NocoBase's
// error body. Every request is logged with method, path, status, bytes and latency.
//
// Bodies: once a request's head has arrived, Handler::PlanBody decides what happens to its body
// (message.h): buffered into Request::body (up to body_limit_bytes), streamed into a BodySink in
// chunks of up to 64 KiB (up to the plan's limit), or refused unread. For a streamed body,
// body_timeout bounds each read, not the whole body: it is the longest the client may stay
// silent mid-body, so an upload of any size at any steady speed completes. A buffered body
// keeps body_timeout as its total deadline. Responses with a FileBody are sent in pread chunks;
// there too body_timeout bounds each write (a client that stops reading is dropped).
//
// Shutdown() stops accepting, lets requests in flight finish (their responses are sent with
// `Connection: close`), closes idle keep-alive connections, and returns once all connections
// are gone or the grace period ran out.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "http/message.h"
#include "slipway/status.h"

namespace slipway::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (see Server::port())
  int threads = 1;
  size_t body_limit_bytes = 8 << 20;
  size_t header_limit_bytes = 16 << 10;
  std::chrono::milliseconds header_timeout{10'000};
  // Whole buffered body; each read of a streamed body; each write of a response (see above).
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
};

class Server {
 public:
  virtual ~Server() = default;
  // Binds and starts serving on background threads. `handler` must outlive the Server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler& handler);

  virtual uint16_t port() const = 0;
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
  // Connections currently open.
  virtual size_t connection_count() const = 0;
};

}  // namespace slipway::http
