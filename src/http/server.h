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
