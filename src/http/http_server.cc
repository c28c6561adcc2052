#include "http/http_server.h"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "common/strings.h"
#include "http/url.h"
#include "http/worker_pool.h"
#include "common/thread_name.h"

namespace tresor::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using BeastRequest = bhttp::request<bhttp::string_body>;

// A response serialised on the worker thread, so the I/O thread only writes bytes. The
// Connection header is left out of `head`; the I/O thread decides keep-alive at write time.
struct WireResponse {
  std::string head;  // status line and header lines, each ending in CRLF
  std::string body;  // empty for HEAD, 1xx, 204, 304
  unsigned version = 11;
};
using Clock = std::chrono::steady_clock;
// One thread runs the io_context, so every completion handler and everything workers post
// back runs there, one at a time: that serialises each connection's state without a strand
// (strands cost ~4% of a small request's CPU: an executor copy and refcount per async op).
// Concrete executor types (rather than any_io_executor) avoid type-erasure costs per op.
using Executor = net::io_context::executor_type;
using TcpStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<TcpStream>;
using Timer = net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Executor>;

// Time allowed for a TLS close_notify exchange or for draining unread input before close.
constexpr auto kLingerTime = std::chrono::seconds(1);

std::string ErrorBody(std::string_view message) {
  nlohmann::json j = {{"errors", nlohmann::json::array({std::string(message)})}};
  return j.dump();
}

HttpResponse ErrorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorBody(message);
  return r;
}

// RFC 7231 IMF-fixdate, recomputed at most once a second per thread.
const std::string& HttpDate() {
  thread_local std::time_t cached_at = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached.assign(buf, n);
    cached_at = now;
  }
  return cached;
}

template <class Socket>
std::string ClientAddress(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6()).to_string();
  }
  return addr.to_string();
}

std::string EndpointString(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

template <class Duration>
void SetExpiry(TcpStream& s, Duration d) {
  if (d.count() > 0) {
    s.expires_after(d);
  } else {
    s.expires_never();
  }
}

// Turns a parsed Beast request into the handler's view. Fails (400) on a bad target.
Status BuildRequest(BeastRequest& in, const std::string& remote_addr, bool tls, HttpRequest* out) {
  out->method = std::string(in.method_string());
  out->target = std::string(in.target());
  RETURN_IF_ERROR(SplitTarget(out->target, &out->raw_path, &out->raw_query));
  ASSIGN_OR_RETURN(out->path, DecodePath(out->raw_path));
  if (!out->raw_query.empty()) out->query = ParseQuery(out->raw_query);
  for (const auto& field : in) {
    std::string name = ToLower(field.name_string());
    auto [it, inserted] = out->headers.try_emplace(std::move(name), field.value());
    if (!inserted) {  // repeated header: combine as RFC 9110 allows
      it->second.append(", ");
      it->second.append(field.value());
    }
  }
  out->body = std::move(in.body());
  out->remote_addr = remote_addr;
  out->tls = tls;
  return Status::Ok();
}

bool HasCrLf(std::string_view v) { return v.find_first_of("\r\n") != std::string_view::npos; }

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

WireResponse Serialize(HttpResponse&& r, unsigned version, bool head) {
  if (r.status < 100 || r.status > 999) r = ErrorResponse(500, "internal error: invalid status code");
  WireResponse w;
  w.version = version;
  std::string& h = w.head;
  h.reserve(160);
  h.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  h.append(std::to_string(r.status));
  h.push_back(' ');
  auto reason = bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(r.status)));
  h.append(reason.data(), reason.size());
  h.append("\r\n");
  AppendHeader(h, "Date", HttpDate());
  if (!r.content_type.empty() && !HasCrLf(r.content_type)) AppendHeader(h, "Content-Type", r.content_type);
  for (auto& [name, value] : r.headers) {
    // A CR or LF would let a value inject headers or split the response.
    if (name.empty() || HasCrLf(name) || HasCrLf(value) || name.find(':') != std::string::npos) continue;
    AppendHeader(h, name, value);
  }
  const bool no_body_status = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  if (!no_body_status) {
    // For HEAD: the length GET would have had; the body itself is not sent.
    AppendHeader(h, "Content-Length", std::to_string(r.body.size()));
    if (!head) w.body = std::move(r.body);
  }
  return w;
}

// Go's http.Redirect with 301, as ServeMux sends it for an unclean path.
HttpResponse Redirect(const std::string& clean_path, const HttpRequest& req) {
  std::string location = EscapePath(clean_path);
  if (!req.raw_query.empty()) location += "?" + req.raw_query;
  HttpResponse r;
  r.status = 301;
  r.headers.emplace_back("Location", location);
  if (req.method == "GET" || req.method == "HEAD") {
    r.content_type = "text/html; charset=utf-8";
    std::string href;
    for (char c : location) {
      switch (c) {
        case '&': href += "&amp;"; break;
        case '<': href += "&lt;"; break;
        case '>': href += "&gt;"; break;
        case '"': href += "&#34;"; break;
        case '\'': href += "&#39;"; break;
        default: href.push_back(c);
      }
    }
    r.body = "<a href=\"" + href + "\">Moved Permanently</a>.\n\n";
  } else {
    r.content_type.clear();
  }
  return r;
}

class Connection;

// State shared by the listeners and connections of one server. Outlives all of them.
struct Shared {
  const HttpServerOptions* options = nullptr;
  HttpHandler handler;
  std::unique_ptr<WorkerPool> pool;

  std::mutex mu;
  std::condition_variable cv;                                            // conns shrank
  std::unordered_map<Connection*, std::weak_ptr<Connection>> conns;      // guarded by mu
  bool stopping = false;                                                 // guarded by mu

  // False if the server is stopping (the connection should close right away).
  bool Register(Connection* c, std::weak_ptr<Connection> w) {
    std::lock_guard<std::mutex> lock(mu);
    conns.emplace(c, std::move(w));
    return !stopping;
  }
  void Unregister(Connection* c) {
    std::lock_guard<std::mutex> lock(mu);
    conns.erase(c);
    cv.notify_all();
  }
  std::vector<std::shared_ptr<Connection>> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::shared_ptr<Connection>> out;
    for (auto& [p, w] : conns) {
      if (auto s = w.lock()) out.push_back(std::move(s));
    }
    return out;
  }
  // Waits until no connection is left or the deadline passes; true if none is left.
  bool WaitDrained(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, deadline, [this] { return conns.empty(); });
  }
};

// The part of a connection Stop() talks to, independent of the stream type.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  // Both run on the I/O thread (they post themselves there).
  virtual void RequestShutdown() = 0;  // finish the current request, then close
  virtual void ForceClose() = 0;       // close now
};

// One client connection. Stream is TcpStream or TlsStream.
// All members are touched only on the I/O thread, except the const ones, which
// worker threads read while running the handler.
template <class Stream>
class Session final : public Connection {
 public:
  Session(Stream stream, const ListenerOptions& lopts, Shared* shared, bool tls)
      : stream_(std::move(stream)),
        lopts_(lopts),
        shared_(shared),
        tls_(tls),
        remote_addr_(ClientAddress(beast::get_lowest_layer(stream_).socket())),
        deadline_(stream_.get_executor()) {}

  ~Session() override { shared_->Unregister(this); }

  void Start() {
    if (!shared_->Register(this, weak_from_this())) return;  // destroyed when we return
    net::dispatch(stream_.get_executor(), [self = Self()] { self->Begin(); });
  }

  void RequestShutdown() override {
    net::post(stream_.get_executor(), [self = Self()] {
      self->shutdown_requested_ = true;
      if (self->state_ == State::kReading || self->state_ == State::kHandshake) self->CloseNow();
    });
  }

  void ForceClose() override {
    net::post(stream_.get_executor(), [self = Self()] { self->CloseNow(); });
  }

 private:
  enum class State { kHandshake, kReading, kHandling, kWriting, kClosing, kClosed };

  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  TcpStream& Tcp() { return beast::get_lowest_layer(stream_); }
  const HttpServerOptions& Opts() const { return *shared_->options; }

  void Begin() {
    if constexpr (std::is_same_v<Stream, TcpStream>) {
      ReadRequest();
    } else {
      state_ = State::kHandshake;
      SetExpiry(Tcp(), Opts().read_header_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](beast::error_code ec) {
        if (ec) {
          LOG_DEBUG("http: TLS handshake with {} failed: {}", self->remote_addr_, ec.message());
          self->CloseNow();
          return;
        }
        self->ReadRequest();
      });
    }
  }

  void ReadRequest() {
    if (shutdown_requested_) {
      Close();
      return;
    }
    state_ = State::kReading;
    parser_.emplace();
    if (lopts_.max_request_size > 0) {
      parser_->body_limit(lopts_.max_request_size);
    } else {
      parser_->body_limit(boost::none);
    }
    parser_->header_limit(static_cast<std::uint32_t>(Opts().max_header_size));
    SetExpiry(Tcp(), first_request_ ? Opts().read_header_timeout : Opts().idle_timeout);
    first_request_ = false;
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = Self()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (state_ != State::kReading) return;  // closed meanwhile
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    auto& req = parser_->get();
    auto expect = req[bhttp::field::expect];
    SetExpiry(Tcp(), Opts().read_timeout);
    if (!expect.empty() && beast::iequals(expect, "100-continue") && req.version() >= 11) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = Self()](beast::error_code wec, std::size_t) {
                         if (self->state_ != State::kReading) return;
                         if (wec) return self->CloseNow();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = Self()](beast::error_code ec, std::size_t) {
                        if (self->state_ != State::kReading) return;
                        if (ec) return self->OnReadError(ec);
                        self->Dispatch();
                      });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return WriteError(413, "http: request body too large");
    }
    if (ec == bhttp::error::header_limit) {
      return WriteError(431, "request header fields too large");
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() && ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer) {
      return WriteError(400, "malformed HTTP request");
    }
    // EOF, reset, timeout, cancellation: nothing to answer.
    CloseNow();
  }

  // Answers without running the handler, then closes (the stream may hold unread input).
  void WriteError(int status, std::string_view message) {
    close_after_write_ = true;
    unsigned version = parser_ && parser_->got_some() && parser_->get().version() == 10 ? 10 : 11;
    Write(Serialize(ErrorResponse(status, message), version, false));
  }

  void Dispatch() {
    state_ = State::kHandling;
    Tcp().expires_never();
    BeastRequest req = parser_->release();
    parser_.reset();
    keep_alive_ = req.keep_alive();
    const unsigned version = req.version() == 10 ? 10 : 11;
    version_ = version;
    const bool head = req.method() == bhttp::verb::head;
    const std::uint64_t seq = ++seq_;
    auto self = Self();
    bool queued = shared_->pool->Submit([self, seq, req = std::move(req)]() mutable {
      WireResponse res = self->Handle(req);
      net::post(self->stream_.get_executor(), [self, seq, res = std::move(res)]() mutable {
        self->OnHandled(seq, std::move(res));
      });
    });
    if (!queued) {
      Write(Serialize(ErrorResponse(503, "server is overloaded, try again later"), version, head));
      return;
    }
    request_started_ = Clock::now();
    if (lopts_.max_request_duration.count() > 0 && !deadline_armed_) {
      ArmDeadline(request_started_ + lopts_.max_request_duration);
    }
  }

  void ArmDeadline(Clock::time_point at) {
    deadline_armed_ = true;
    deadline_.expires_at(at);
    deadline_.async_wait([self = Self()](beast::error_code ec) { self->OnDeadline(ec); });
  }

  void OnDeadline(beast::error_code ec) {
    deadline_armed_ = false;
    if (ec || state_ != State::kHandling) return;
    auto due = request_started_ + lopts_.max_request_duration;
    if (Clock::now() < due) return ArmDeadline(due);  // a later request is in flight
    LOG_WARN("http: request from {} exceeded max_request_duration; closing connection", remote_addr_);
    close_after_write_ = true;
    Write(Serialize(ErrorResponse(503, "context deadline exceeded"), version_, false));
  }

  // Runs on a worker thread; reads only const members.
  WireResponse Handle(BeastRequest& req) {
    const unsigned version = req.version() == 10 ? 10 : 11;
    const bool head = req.method() == bhttp::verb::head;
    HttpRequest hr;
    Status st = BuildRequest(req, remote_addr_, tls_, &hr);
    if (!st.ok()) return Serialize(ErrorResponse(400, st.message()), version, head);
    if (Opts().redirect_unclean_paths && hr.path != "*" && hr.method != "CONNECT") {
      std::string clean = CleanPath(hr.path);
      if (clean != hr.path) return Serialize(Redirect(clean, hr), version, head);
    }
    HttpResponse out;
    try {
      out = shared_->handler(hr);
    } catch (...) {
      LOG_ERROR("http: handler threw an exception ({} request)", hr.method);
      out = ErrorResponse(500, "internal error");
    }
    return Serialize(std::move(out), version, head);
  }

  void OnHandled(std::uint64_t seq, WireResponse res) {
    if (seq != seq_ || state_ != State::kHandling) return;  // timed out or closed
    Write(std::move(res));
  }

  void Write(WireResponse res) {
    state_ = State::kWriting;
    res_ = std::move(res);
    keep_after_write_ = keep_alive_ && !close_after_write_ && !shutdown_requested_;
    std::string_view conn;
    if (res_.version == 10) {
      conn = keep_after_write_ ? "Connection: keep-alive\r\n\r\n" : "\r\n";
    } else {
      conn = keep_after_write_ ? "\r\n" : "Connection: close\r\n\r\n";
    }
    std::array<net::const_buffer, 3> bufs{net::buffer(res_.head), net::buffer(conn.data(), conn.size()),
                                          net::buffer(res_.body)};
    SetExpiry(Tcp(), Opts().write_timeout);
    net::async_write(stream_, bufs, [self = Self()](beast::error_code ec, std::size_t) {
      if (self->state_ != State::kWriting) return;
      if (ec) return self->CloseNow();
      self->res_ = {};
      if (!self->keep_after_write_) return self->Close();
      self->ReadRequest();
    });
  }

  // Orderly close: TLS close_notify, or for TCP a half-close followed by draining what the
  // client still sends, so an early answer (413) is not lost to a TCP reset.
  void Close() {
    if (shutdown_requested_) return CloseNow();  // the server is going away; don't linger
    state_ = State::kClosing;
    deadline_.cancel();
    Tcp().expires_after(kLingerTime);
    if constexpr (std::is_same_v<Stream, TcpStream>) {
      beast::error_code ec;
      Tcp().socket().shutdown(net::socket_base::shutdown_send, ec);
      if (ec) return CloseNow();
      Drain();
    } else {
      stream_.async_shutdown([self = Self()](beast::error_code) { self->CloseNow(); });
    }
  }

  void Drain() {
    if constexpr (std::is_same_v<Stream, TcpStream>) {
      if (!drain_buf_) drain_buf_ = std::make_unique<std::array<char, 4096>>();
      Tcp().async_read_some(net::buffer(*drain_buf_), [self = Self()](beast::error_code ec, std::size_t) {
        if (self->state_ != State::kClosing) return;
        if (ec) return self->CloseNow();
        self->Drain();
      });
    }
  }

  void CloseNow() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    deadline_.cancel();
    beast::error_code ec;
    Tcp().socket().shutdown(net::socket_base::shutdown_both, ec);
    Tcp().close();
  }

  Stream stream_;
  const ListenerOptions& lopts_;
  Shared* const shared_;
  const bool tls_;
  const std::string remote_addr_;

  // Watches max_request_duration. Armed lazily and not cancelled per request: when it
  // fires it re-arms for the request then in flight, so it costs nothing per request.
  Timer deadline_;
  bool deadline_armed_ = false;
  Clock::time_point request_started_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  WireResponse res_;  // being written
  bool keep_after_write_ = true;
  unsigned version_ = 11;  // HTTP version of the request in flight
  std::unique_ptr<std::array<char, 4096>> drain_buf_;
  State state_ = State::kReading;
  std::uint64_t seq_ = 0;  // identifies the request in flight, so late answers are dropped
  bool first_request_ = true;
  bool keep_alive_ = true;
  bool close_after_write_ = false;
  bool shutdown_requested_ = false;
};

Result<tcp::endpoint> ResolveBindAddress(net::io_context& ioc, const std::string& address) {
  std::string host, port;
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return Status::InvalidRequest("invalid listener address \"" + address + "\"");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return Status::InvalidRequest("listener address \"" + address + "\" has no port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return Status::InvalidRequest("IPv6 listener address \"" + address + "\" must be in brackets");
    }
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Status::InvalidRequest("invalid port in listener address \"" + address + "\"");
  }
  auto port_num = static_cast<std::uint16_t>(std::stoul(port));
  if (host.empty()) return tcp::endpoint(net::ip::address_v6::any(), port_num);
  beast::error_code ec;
  auto ip = net::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(ip, port_num);
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port, tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Status::InvalidRequest("cannot resolve listener host \"" + host + "\": " + ec.message());
  }
  return results.begin()->endpoint();
}

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const TlsOptions& t) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  int min = TLS1_2_VERSION;
  switch (t.min_version) {
    case TlsVersion::kTls10: min = TLS1_VERSION; break;
    case TlsVersion::kTls11: min = TLS1_1_VERSION; break;
    case TlsVersion::kTls12: min = TLS1_2_VERSION; break;
    case TlsVersion::kTls13: min = TLS1_3_VERSION; break;
  }
  SSL_CTX_set_min_proto_version(ctx->native_handle(), min);
  beast::error_code ec;
  ctx->use_certificate_chain_file(t.cert_file, ec);
  if (ec) return Status::InvalidRequest("error loading TLS certificate \"" + t.cert_file + "\": " + ec.message());
  ctx->use_private_key_file(t.key_file, ssl::context::pem, ec);
  if (ec) return Status::InvalidRequest("error loading TLS key \"" + t.key_file + "\": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status::InvalidRequest("TLS key \"" + t.key_file + "\" does not match certificate");
  }
  if (!t.client_ca_file.empty()) {
    ctx->load_verify_file(t.client_ca_file, ec);
    if (ec) {
      return Status::InvalidRequest("error loading TLS client CA \"" + t.client_ca_file + "\": " + ec.message());
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);  // takes ownership
    }
    auto mode = ssl::verify_peer;
    if (t.require_client_cert) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode);
  }
  return ctx;
}

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, const ListenerOptions& opts, Shared* shared)
      : ioc_(ioc), opts_(opts), shared_(shared), acceptor_(ioc.get_executor()), retry_(acceptor_.get_executor()) {}

  Status Open() {
    if (opts_.tls.enabled) {
      ASSIGN_OR_RETURN(tls_, MakeTlsContext(opts_.tls));
    }
    ASSIGN_OR_RETURN(tcp::endpoint ep, ResolveBindAddress(ioc_, opts_.address));
    beast::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (ec && ep.address().is_v6() && ep.address().is_unspecified()) {
      ep = tcp::endpoint(net::ip::address_v4::any(), ep.port());  // host without IPv6
      ec.clear();
      acceptor_.open(ep.protocol(), ec);
    }
    if (ec) return Status::IOError("listener " + opts_.address + ": open: " + ec.message());
    if (ep.address().is_v6() && ep.address().is_unspecified()) {
      acceptor_.set_option(net::ip::v6_only(false), ec);  // "[::]" also takes IPv4
    }
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    acceptor_.bind(ep, ec);
    if (ec) return Status::IOError("listener " + opts_.address + ": bind: " + ec.message());
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::IOError("listener " + opts_.address + ": listen: " + ec.message());
    bound_ = acceptor_.local_endpoint(ec);
    return Status::Ok();
  }

  void StartAccepting() {
    net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }

  void Close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      self->closed_ = true;
      self->retry_.cancel();
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

  const tcp::endpoint& bound() const { return bound_; }

 private:
  void Accept() {
    if (closed_) return;
    acceptor_.async_accept(ioc_.get_executor(),
                           [self = shared_from_this()](beast::error_code ec, TcpStream::socket_type s) {
                             self->OnAccept(ec, std::move(s));
                           });
  }

  void OnAccept(beast::error_code ec, TcpStream::socket_type socket) {
    if (closed_) return;
    if (ec) {
      // Typically out of file descriptors; back off instead of spinning.
      LOG_WARN("http: accept on {} failed: {}", EndpointString(bound_), ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([self = shared_from_this()](beast::error_code wec) {
        if (!wec) self->Accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (tls_) {
      std::make_shared<Session<TlsStream>>(TlsStream(TcpStream(std::move(socket)), *tls_), opts_, shared_, true)
          ->Start();
    } else {
      std::make_shared<Session<TcpStream>>(TcpStream(std::move(socket)), opts_, shared_, false)->Start();
    }
    Accept();
  }

  net::io_context& ioc_;
  const ListenerOptions& opts_;
  Shared* const shared_;
  std::unique_ptr<ssl::context> tls_;  // shared by all sessions of this listener
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  tcp::endpoint bound_;
  bool closed_ = false;  // on the I/O thread
};

}  // namespace

Result<TlsVersion> ParseTlsVersion(std::string_view name) {
  if (name == "tls10") return TlsVersion::kTls10;
  if (name == "tls11") return TlsVersion::kTls11;
  if (name == "tls12") return TlsVersion::kTls12;
  if (name == "tls13") return TlsVersion::kTls13;
  return Status::InvalidRequest("invalid tls_min_version \"" + std::string(name) + "\"");
}

// Member order matters for destruction: the io_context (and any handler it still holds,
// which may own a Session) goes before `shared`, which sessions unregister from.
struct HttpServer::Impl {
  HttpServerOptions options;
  Shared shared;
  std::optional<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::thread io_thread;
  bool started = false;
  bool stopped = false;

  void JoinIo() {
    if (io_thread.joinable()) io_thread.join();
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.worker_threads == 0) {
    impl_->options.worker_threads = 2 * std::max(1u, std::thread::hardware_concurrency());
  }
  if (impl_->options.max_queued_requests == 0) impl_->options.max_queued_requests = 1;
  impl_->shared.options = &impl_->options;
  impl_->shared.handler = std::move(handler);
  impl_->ioc.emplace(1);
}

HttpServer::~HttpServer() {
  Stop();
  impl_->listeners.clear();
  impl_->ioc.reset();  // destroys handlers (and sessions) still queued, before `shared`
}

Status HttpServer::Start() {
  Impl& m = *impl_;
  if (m.started) return Status::Internal("http server already started");
  m.started = true;
  for (const auto& lopts : m.options.listeners) {
    auto l = std::make_shared<Listener>(*m.ioc, lopts, &m.shared);
    Status st = l->Open();
    if (!st.ok()) {
      m.listeners.clear();
      m.stopped = true;
      return st;
    }
    m.listeners.push_back(std::move(l));
  }
  m.shared.pool = std::make_unique<WorkerPool>(m.options.worker_threads, m.options.max_queued_requests);
  m.work.emplace(m.ioc->get_executor());
  for (auto& l : m.listeners) {
    l->StartAccepting();
    LOG_INFO("http: listening on {}", EndpointString(l->bound()));
  }
  m.io_thread = std::thread([&m] {
    SetThreadName("http-io");
    m.ioc->run();
  });
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;

  for (auto& l : m.listeners) l->Close();
  {
    std::lock_guard<std::mutex> lock(m.shared.mu);
    m.shared.stopping = true;
  }
  for (auto& c : m.shared.Snapshot()) c->RequestShutdown();
  if (!m.shared.WaitDrained(Clock::now() + m.options.shutdown_grace)) {
    for (auto& c : m.shared.Snapshot()) c->ForceClose();
  }
  // Handlers still running finish here; their answers go to closed connections.
  m.shared.pool->Shutdown();
  m.work.reset();
  if (!m.shared.WaitDrained(Clock::now() + std::chrono::seconds(5))) {
    LOG_WARN("http: connections still open after shutdown; stopping I/O");
    m.ioc->stop();
  }
  m.JoinIo();
  // Anything left queued is destroyed with the io_context in ~HttpServer.
}

std::vector<std::string> HttpServer::BoundAddresses() const {
  std::vector<std::string> out;
  for (const auto& l : impl_->listeners) out.push_back(EndpointString(l->bound()));
  return out;
}

std::uint16_t HttpServer::BoundPort(std::size_t listener) const {
  if (listener >= impl_->listeners.size()) return 0;
  return impl_->listeners[listener]->bound().port();
}

}  // namespace tresor::http
