// HttpServer: Tresor's HTTP/1.1 front door (Boost.Beast over Asio, optional TLS).
//
// Turns bytes on the wire into HttpRequest, runs the HttpHandler on a bounded worker pool
// (handlers block on storage and raft, so they never run on an I/O thread), and writes the
// HttpResponse back. Keep-alive, pipelined requests (answered strictly in order, one at a
// time per connection), `Connection: close`, HEAD, `Expect: 100-continue` and custom verbs
// such as LIST are handled here; Vault semantics are not (see core).
//
// Unclean paths get Go ServeMux's 301 (see redirect_unclean_paths).
// Limits: request size (413 + close), header size (431 + close), per-request duration
// (503 + close; the handler keeps running but its answer is dropped), read/idle/write
// timeouts, and a bounded handler queue (503 when full). Request bodies and headers are
// never logged: they carry tokens and secrets.
//
// Threading: all socket I/O runs on one thread (http-io); handlers run on the worker pool.
// Start() and Stop() are called by the owner from one thread (not from a handler).
// BoundAddresses()/BoundPort() are safe after Start() returned OK.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/http_types.h"

namespace tresor::http {

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

// Vault's spelling: "tls10", "tls11", "tls12", "tls13".
Result<TlsVersion> ParseTlsVersion(std::string_view name);

struct TlsOptions {
  bool enabled = false;
  std::string cert_file;       // PEM: leaf certificate, optionally followed by its chain
  std::string key_file;        // PEM private key (unencrypted)
  std::string client_ca_file;  // non-empty: client certificates that are presented must verify
  bool require_client_cert = false;  // with client_ca_file: refuse clients without one
  TlsVersion min_version = TlsVersion::kTls12;
};

struct ListenerOptions {
  // "127.0.0.1:8200", "[::]:8200" (dual stack), ":8200" (all addresses), "localhost:0".
  // Port 0 picks a free port; BoundPort() tells which.
  std::string address = "127.0.0.1:8200";
  TlsOptions tls;
  // Largest accepted body in bytes; 0 means no limit. (Vault's config maps its own 0 to
  // the 32 MiB default and negatives to "no limit"; do that mapping before this point.)
  std::uint64_t max_request_size = 32ull << 20;
  // Time a handler may take before the client gets a 503; 0 means no limit.
  std::chrono::milliseconds max_request_duration = std::chrono::seconds(90);
};

struct HttpServerOptions {
  std::vector<ListenerOptions> listeners;
  std::size_t worker_threads = 0;         // 0: two per hardware thread
  std::size_t max_queued_requests = 1024; // requests waiting for a worker before 503s
  std::size_t max_header_size = 1 << 20;  // request line + headers (Go's default)
  // Timeouts (Vault's http_* listener settings); 0 disables one.
  std::chrono::milliseconds read_header_timeout = std::chrono::seconds(10);  // first request
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);  // next keep-alive request
  std::chrono::milliseconds read_timeout = std::chrono::seconds(30);  // body of a request
  std::chrono::milliseconds write_timeout = std::chrono::seconds(60); // one response
  // Answer a request whose decoded path is not clean ("//", "/./", "..") with a 301 to the
  // cleaned path, as Go's ServeMux in front of Vault does, instead of calling the handler.
  bool redirect_unclean_paths = true;
  // Stop() waits this long for in-flight requests before closing connections by force.
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(10);
};

class HttpServer {
 public:
  // `handler` is called concurrently from worker threads.
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads TLS material, binds and listens on every listener, starts the threads. On error
  // nothing is left listening. Call once.
  Status Start();

  // Graceful: stops accepting, closes idle connections, lets in-flight requests finish and
  // answer (with `Connection: close`) for up to shutdown_grace, then closes the rest and
  // joins all threads (waiting for handlers still running). Idempotent.
  void Stop();

  // "ip:port" ("[v6]:port") of each listener, in options order. After Start().
  std::vector<std::string> BoundAddresses() const;
  std::uint16_t BoundPort(std::size_t listener = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tresor::http
