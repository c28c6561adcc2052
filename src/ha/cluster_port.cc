#include "ha/cluster_port.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/log.h"
#include "common/strings.h"
#include "http/url.h"
#include "common/thread_name.h"

namespace tresor::ha {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using TlsStream = ssl::stream<tcp::socket>;
using ErrorCode = boost::system::error_code;

namespace {
// Calls on cluster connections block their thread (forwarding is synchronous). These bound
// how long a peer that vanished without a FIN or RST (power loss, partition) can hold one:
// keepalive probes start after 5 s of silence, and the kernel drops the connection once sent
// data, probes included, has gone unacknowledged for 15 s (on Linux this also ends a
// connect's SYN retries). A live peer that takes long to answer acknowledges the probes and
// is waited for.
void BoundDeadPeerWait(int fd) {
  int on = 1, idle = 5, interval = 2, count = 3;
  unsigned user_timeout_ms = 15000;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

// ALPN protocol names (Vault's), wire format: length-prefixed.
constexpr unsigned char kAlpnRaft[] = "\x0fraft_storage_v1";
constexpr unsigned char kAlpnForward[] = "\x10req_fw_sb-act_v1";
constexpr unsigned char kAlpnAll[] = "\x0fraft_storage_v1\x10req_fw_sb-act_v1";
constexpr char kRaftMagic[8] = {'T', 'R', 'R', 'A', 'F', 'T', '1', '\n'};
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// Idle forwarding connections kept per active node.
constexpr size_t kMaxIdlePerPeer = 64;

int AlpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
               void*) {
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, kAlpnAll, sizeof kAlpnAll - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

std::string Alpn(TlsStream& s) {
  const unsigned char* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(s.native_handle(), &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

Result<std::shared_ptr<ssl::context>> MakeContext(const ClusterKeyring& k, const std::string& node_id) {
  ASSIGN_OR_RETURN(NodeCert nc, IssueNodeCert(k, node_id));
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION);
  ErrorCode ec;
  ctx->use_certificate(net::buffer(nc.cert_pem), ssl::context::pem, ec);
  if (!ec) ctx->use_private_key(net::buffer(nc.key_pem.data(), nc.key_pem.str().size()), ssl::context::pem, ec);
  if (!ec) ctx->add_certificate_authority(net::buffer(k.ca_cert_pem), ec);
  if (ec) return Status::Internal("cluster tls: cannot load the cluster certificate: " + ec.message());
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  SSL_CTX_set_alpn_select_cb(ctx->native_handle(), AlpnSelect, nullptr);
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  // No TLS 1.3 session tickets either: nothing resumes, and a ticket sent after the handshake
  // would sit unread on an idle pooled connection, which then looks closed by the peer.
  SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
  return ctx;
}

bool SplitHostPort(const std::string& hp, std::string* host, std::string* port) {
  auto c = hp.rfind(':');
  if (c == std::string::npos || c + 1 >= hp.size()) return false;
  *host = hp.substr(0, c);
  *port = hp.substr(c + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return true;
}

Result<tcp::endpoint> BindEndpoint(net::io_context& ioc, const std::string& addr) {
  std::string host, port;
  if (!SplitHostPort(addr, &host, &port)) return Status::InvalidRequest("invalid cluster address \"" + addr + "\"");
  ErrorCode ec;
  tcp::resolver r(ioc);
  auto res = r.resolve(host.empty() ? "::" : host, port, tcp::resolver::passive, ec);
  if (ec || res.empty()) return Status::InvalidRequest("cannot resolve cluster address \"" + addr + "\"");
  return res.begin()->endpoint();
}

void PutU64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

struct ClusterPort::Impl : std::enable_shared_from_this<Impl> {
  std::string bind, node_id;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::thread io;

  std::mutex mu;
  std::shared_ptr<ssl::context> ctx;        // guarded by mu; null = no keyring
  std::optional<ClusterKeyring> keyring;    // guarded by mu
  std::set<int> live;                       // TCP fds of open cluster connections; guarded by mu
  int fw_threads = 0;                       // running forwarding threads; guarded by mu
  std::condition_variable fw_cv;
  std::map<std::string, std::vector<std::unique_ptr<TlsStream>>> idle;  // forwarding client pool; mu
  std::function<void(uint64_t, const std::string&, int)> raft_accept;  // guarded by mu
  http::HttpHandler fw_handler;             // guarded by mu
  bool stopped = false;                     // guarded by mu

  std::shared_ptr<ssl::context> Ctx() {
    std::lock_guard l(mu);
    return ctx;
  }
  bool Track(int fd) {
    std::lock_guard l(mu);
    if (stopped || !ctx) return false;
    live.insert(fd);
    return true;
  }
  void Untrack(int fd) {
    std::lock_guard l(mu);
    live.erase(fd);
  }
  // Shuts every open connection down (their pending operations fail and they close).
  void DropAll() {
    std::map<std::string, std::vector<std::unique_ptr<TlsStream>>> old;
    {
      std::lock_guard l(mu);
      for (int fd : live) ::shutdown(fd, SHUT_RDWR);
      old.swap(idle);
    }
  }

  void DoAccept() {
    acceptor.async_accept([self = shared_from_this()](ErrorCode ec, tcp::socket sock) {
      if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) self->OnAccepted(std::move(sock));
      self->DoAccept();
    });
  }

  void OnAccepted(tcp::socket sock) {
    auto c = Ctx();
    ErrorCode ig;
    if (!c) {  // sealed: this node cannot speak on the cluster port
      sock.close(ig);
      return;
    }
    sock.set_option(tcp::no_delay(true), ig);
    int fd = sock.native_handle();
    BoundDeadPeerWait(fd);
    if (!Track(fd)) {
      sock.close(ig);
      return;
    }
    auto s = std::make_shared<TlsStream>(std::move(sock), *c);
    auto timer = std::make_shared<net::steady_timer>(ioc, kHandshakeTimeout);
    timer->async_wait([s](ErrorCode ec) {
      ErrorCode ig2;
      if (!ec) s->lowest_layer().close(ig2);
    });
    s->async_handshake(ssl::stream_base::server, [self = shared_from_this(), s, timer, fd](ErrorCode ec) {
      if (ec) {
        timer->cancel();
        LOG_DEBUG("cluster: inbound TLS handshake failed: {}", ec.message());
        self->Close(s, fd);
        return;
      }
      std::string alpn = Alpn(*s);
      if (alpn == "raft_storage_v1") {
        self->ReadRaftHello(s, timer, fd);
      } else if (alpn == "req_fw_sb-act_v1") {
        timer->cancel();
        {
          std::lock_guard l(self->mu);
          if (self->stopped) return self->Close(s, fd);
          ++self->fw_threads;
        }
        std::thread([self, s, fd] {
          SetThreadName("cluster-fwd");
          self->ServeForward(s, fd);
          std::lock_guard l(self->mu);
          if (--self->fw_threads == 0) self->fw_cv.notify_all();
        }).detach();
      } else {
        timer->cancel();
        self->Close(s, fd);
      }
    });
  }

  void Close(const std::shared_ptr<TlsStream>& s, int fd) {
    Untrack(fd);
    ErrorCode ig;
    s->lowest_layer().close(ig);
  }

  // Raft hello: magic, raft id (u64 BE), address length (u16 BE), address.
  void ReadRaftHello(std::shared_ptr<TlsStream> s, std::shared_ptr<net::steady_timer> timer, int fd) {
    auto hdr = std::make_shared<std::array<char, 18>>();
    net::async_read(*s, net::buffer(*hdr), [self = shared_from_this(), s, timer, fd, hdr](ErrorCode ec, size_t) {
      if (ec || std::memcmp(hdr->data(), kRaftMagic, 8) != 0) {
        timer->cancel();
        self->Close(s, fd);
        return;
      }
      uint64_t id = GetU64(hdr->data() + 8);
      size_t len = (static_cast<unsigned char>((*hdr)[16]) << 8) | static_cast<unsigned char>((*hdr)[17]);
      auto addr = std::make_shared<std::string>(len, '\0');
      net::async_read(*s, net::buffer(*addr), [self, s, timer, fd, id, addr](ErrorCode ec2, size_t) {
        timer->cancel();
        if (ec2 || id == 0) {
          self->Close(s, fd);
          return;
        }
        std::function<void(uint64_t, const std::string&, int)> acc;
        {
          std::lock_guard l(self->mu);
          acc = self->raft_accept;
        }
        int theirs = self->StartRelay(s, fd);
        if (theirs < 0) return;
        if (acc)
          acc(id, *addr, theirs);
        else
          ::close(theirs);
      });
    });
  }

  // Relays between the TLS stream and one end of a new socketpair; returns the other end
  // (or -1, stream closed).
  int StartRelay(std::shared_ptr<TlsStream> s, int fd);

  void ServeForward(std::shared_ptr<TlsStream> s, int fd);

  Result<std::unique_ptr<TlsStream>> Dial(const std::string& peer, const unsigned char* alpn, size_t alpn_len);
};

namespace {

struct Relay : std::enable_shared_from_this<Relay> {
  std::shared_ptr<ClusterPort::Impl> owner;
  std::shared_ptr<TlsStream> tls;
  net::local::stream_protocol::socket local;
  int fd;
  bool closed = false;
  std::array<char, 64 * 1024> up{}, down{};

  Relay(std::shared_ptr<ClusterPort::Impl> o, std::shared_ptr<TlsStream> t, int tcp_fd)
      : owner(std::move(o)), tls(std::move(t)), local(owner->ioc), fd(tcp_fd) {}

  void Start() {
    PumpFromPeer();
    PumpToPeer();
  }
  void PumpFromPeer() {
    tls->async_read_some(net::buffer(down), [self = shared_from_this()](ErrorCode ec, size_t n) {
      if (ec) return self->Close();
      net::async_write(self->local, net::buffer(self->down.data(), n), [self](ErrorCode ec2, size_t) {
        if (ec2) return self->Close();
        self->PumpFromPeer();
      });
    });
  }
  void PumpToPeer() {
    local.async_read_some(net::buffer(up), [self = shared_from_this()](ErrorCode ec, size_t n) {
      if (ec) return self->Close();
      net::async_write(*self->tls, net::buffer(self->up.data(), n), [self](ErrorCode ec2, size_t) {
        if (ec2) return self->Close();
        self->PumpToPeer();
      });
    });
  }
  void Close() {
    if (closed) return;
    closed = true;
    owner->Untrack(fd);
    ErrorCode ig;
    local.close(ig);
    tls->lowest_layer().close(ig);
  }
};

}  // namespace

int ClusterPort::Impl::StartRelay(std::shared_ptr<TlsStream> s, int fd) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    Close(s, fd);
    return -1;
  }
  auto r = std::make_shared<Relay>(shared_from_this(), std::move(s), fd);
  ErrorCode ec;
  r->local.assign(net::local::stream_protocol(), sv[0], ec);
  if (ec) {
    ::close(sv[0]);
    ::close(sv[1]);
    r->Close();
    return -1;
  }
  r->Start();
  return sv[1];
}

void ClusterPort::Impl::ServeForward(std::shared_ptr<TlsStream> s, int fd) {
  beast::flat_buffer buf;
  std::string remote;
  {
    ErrorCode ec;
    auto ep = s->lowest_layer().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string();
  }
  for (;;) {
    bhttp::request_parser<bhttp::string_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    p.header_limit(1 << 20);
    ErrorCode ec;
    bhttp::read(*s, buf, p, ec);
    if (ec) break;
    auto& m = p.get();
    http::HttpRequest hr;
    hr.method = std::string(m.method_string());
    hr.target = std::string(m.target());
    http::HttpResponse out;
    Status st = http::SplitTarget(hr.target, &hr.raw_path, &hr.raw_query);
    if (st.ok()) {
      auto path = http::DecodePath(hr.raw_path);
      if (path.ok()) hr.path = *path;
      else st = path.status();
    }
    if (st.ok()) {
      if (!hr.raw_query.empty()) hr.query = http::ParseQuery(hr.raw_query);
      for (const auto& f : m) {
        auto [it, ins] = hr.headers.try_emplace(ToLower(f.name_string()), f.value());
        if (!ins) {
          it->second.append(", ");
          it->second.append(f.value());
        }
      }
      hr.body = std::move(m.body());
      hr.remote_addr = hr.Header("x-forwarded-for").empty() ? remote : hr.Header("x-forwarded-for");
      hr.tls = true;
      http::HttpHandler h;
      {
        std::lock_guard l(mu);
        h = fw_handler;
      }
      if (h) {
        out = h(hr);
      } else {
        out.status = 503;
        out.body = R"({"errors":["request forwarding is not available"]})";
      }
    } else {
      out.status = 400;
      out.body = R"({"errors":["invalid request target"]})";
    }
    bhttp::response<bhttp::string_body> resp{static_cast<bhttp::status>(out.status), 11};
    if (!out.content_type.empty()) resp.set(bhttp::field::content_type, out.content_type);
    for (auto& [k, v] : out.headers) resp.insert(k, v);
    resp.body() = std::move(out.body);
    resp.keep_alive(m.keep_alive());
    resp.prepare_payload();
    bhttp::write(*s, resp, ec);
    if (ec || !m.keep_alive()) break;
  }
  Close(s, fd);
}

Result<std::unique_ptr<TlsStream>> ClusterPort::Impl::Dial(const std::string& peer, const unsigned char* alpn,
                                                           size_t alpn_len) {
  auto c = Ctx();
  if (!c) return Status::Unavailable("cluster port: no cluster certificate (sealed)");
  std::string host, port;
  if (!SplitHostPort(peer, &host, &port)) return Status::InvalidRequest("invalid cluster address \"" + peer + "\"");
  ErrorCode ec;
  tcp::resolver r(ioc);
  auto eps = r.resolve(host, port, ec);
  if (ec) return Status::Unavailable("cluster port: cannot resolve " + peer + ": " + ec.message());
  auto s = std::make_unique<TlsStream>(ioc, *c);
  ec = net::error::host_not_found;
  for (const auto& ep : eps) {
    ErrorCode ig;
    s->lowest_layer().close(ig);
    s->lowest_layer().open(ep.endpoint().protocol(), ec);
    if (ec) continue;
    BoundDeadPeerWait(s->lowest_layer().native_handle());
    s->lowest_layer().connect(ep.endpoint(), ec);
    if (!ec) break;
  }
  if (ec) return Status::Unavailable("cluster port: cannot connect to " + peer + ": " + ec.message());
  s->lowest_layer().set_option(tcp::no_delay(true), ec);
  SSL_set_alpn_protos(s->native_handle(), alpn, static_cast<unsigned>(alpn_len));
  s->handshake(ssl::stream_base::client, ec);
  if (ec) return Status::Unavailable("cluster port: TLS handshake with " + peer + " failed: " + ec.message());
  return s;
}

ClusterPort::ClusterPort(std::string bind_address, std::string node_id) : impl_(std::make_shared<Impl>()) {
  impl_->bind = std::move(bind_address);
  impl_->node_id = std::move(node_id);
}

ClusterPort::~ClusterPort() { Stop(); }

Status ClusterPort::Start() {
  ASSIGN_OR_RETURN(tcp::endpoint ep, BindEndpoint(impl_->ioc, impl_->bind));
  ErrorCode ec;
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("cannot listen on the cluster address " + impl_->bind + ": " + ec.message());
  impl_->work.emplace(net::make_work_guard(impl_->ioc));
  impl_->DoAccept();
  impl_->io = std::thread([impl = impl_] {
    SetThreadName("cluster-io");
    impl->ioc.run();
  });
  return Status::Ok();
}

void ClusterPort::Stop() {
  {
    std::lock_guard l(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->DropAll();
  net::post(impl_->ioc, [impl = impl_] {
    ErrorCode ig;
    impl->acceptor.close(ig);
  });
  {
    std::unique_lock l(impl_->mu);
    impl_->fw_cv.wait(l, [&] { return impl_->fw_threads == 0; });
  }
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->io.joinable()) impl_->io.join();
}

Status ClusterPort::SetKeyring(const ClusterKeyring* k) {
  if (!k) {
    {
      std::lock_guard l(impl_->mu);
      if (!impl_->ctx) return Status::Ok();
      impl_->ctx.reset();
      impl_->keyring.reset();
    }
    impl_->DropAll();
    LOG_INFO("cluster: keyring dropped; the cluster port refuses connections");
    return Status::Ok();
  }
  {
    std::lock_guard l(impl_->mu);
    if (impl_->keyring && impl_->keyring->ca_cert_pem == k->ca_cert_pem &&
        impl_->keyring->ca_key_pem.str() == k->ca_key_pem.str())
      return Status::Ok();
  }
  ASSIGN_OR_RETURN(auto ctx, MakeContext(*k, impl_->node_id));
  bool changed;
  {
    std::lock_guard l(impl_->mu);
    changed = impl_->keyring.has_value();
    impl_->ctx = std::move(ctx);
    impl_->keyring = *k;
  }
  if (changed) impl_->DropAll();  // connections made with the old CA
  LOG_INFO("cluster: keyring installed; mutual TLS on the cluster port");
  return Status::Ok();
}

bool ClusterPort::HasKeyring() { return impl_->Ctx() != nullptr; }

std::optional<ClusterKeyring> ClusterPort::Keyring() {
  std::lock_guard l(impl_->mu);
  return impl_->keyring;
}

void ClusterPort::SetRaftAcceptor(std::function<void(uint64_t, const std::string&, int)> fn) {
  std::lock_guard l(impl_->mu);
  impl_->raft_accept = std::move(fn);
}

void ClusterPort::SetForwardHandler(http::HttpHandler fn) {
  std::lock_guard l(impl_->mu);
  impl_->fw_handler = std::move(fn);
}

void ClusterPort::ConnectRaft(uint64_t my_raft_id, const std::string& my_address, const std::string& peer,
                              std::function<void(int)> done) {
  auto impl = impl_;
  net::post(impl->ioc, [impl, my_raft_id, my_address, peer, done = std::move(done)]() mutable {
    auto c = impl->Ctx();
    std::string host, port;
    if (!c || !SplitHostPort(peer, &host, &port) || my_address.size() > 0xffff) return done(-1);
    struct Op {
      std::function<void(int)> done;
      std::shared_ptr<TlsStream> s;
      std::shared_ptr<net::steady_timer> timer;
      tcp::resolver resolver;
      std::string hello;
      int fd = -1;
      bool finished = false;
      Op(net::io_context& ioc) : resolver(ioc) {}
    };
    auto op = std::make_shared<Op>(impl->ioc);
    op->done = std::move(done);
    op->s = std::make_shared<TlsStream>(impl->ioc, *c);
    op->timer = std::make_shared<net::steady_timer>(impl->ioc, kHandshakeTimeout);
    op->hello.assign(kRaftMagic, 8);
    op->hello.resize(18);
    PutU64(op->hello.data() + 8, my_raft_id);
    op->hello[16] = static_cast<char>((my_address.size() >> 8) & 0xff);
    op->hello[17] = static_cast<char>(my_address.size() & 0xff);
    op->hello += my_address;
    auto fail = [impl, op](const char* what, const ErrorCode& ec) {
      if (op->finished) return;
      op->finished = true;
      op->timer->cancel();
      LOG_DEBUG("cluster: raft connection {} failed: {}", what, ec.message());
      if (op->fd >= 0) impl->Untrack(op->fd);
      ErrorCode ig;
      op->s->lowest_layer().close(ig);
      op->done(-1);
    };
    op->timer->async_wait([op, fail](ErrorCode ec) {
      if (!ec) fail("timeout", net::error::timed_out);
    });
    op->resolver.async_resolve(host, port, [impl, op, fail](ErrorCode ec, tcp::resolver::results_type eps) {
      if (ec) return fail("resolve", ec);
      net::async_connect(op->s->lowest_layer(), eps, [impl, op, fail](ErrorCode ec2, const tcp::endpoint&) {
        if (op->finished) return;
        if (ec2) return fail("connect", ec2);
        ErrorCode ig;
        op->s->lowest_layer().set_option(tcp::no_delay(true), ig);
        op->fd = op->s->lowest_layer().native_handle();
        if (!impl->Track(op->fd)) {
          op->fd = -1;
          return fail("track", net::error::operation_aborted);
        }
        SSL_set_alpn_protos(op->s->native_handle(), kAlpnRaft, sizeof kAlpnRaft - 1);
        op->s->async_handshake(ssl::stream_base::client, [impl, op, fail](ErrorCode ec3) {
          if (op->finished) return;
          if (ec3) return fail("handshake", ec3);
          if (Alpn(*op->s) != "raft_storage_v1") return fail("alpn", net::error::no_protocol_option);
          net::async_write(*op->s, net::buffer(op->hello), [impl, op, fail](ErrorCode ec4, size_t) {
            if (op->finished) return;
            if (ec4) return fail("hello", ec4);
            op->finished = true;
            op->timer->cancel();
            int theirs = impl->StartRelay(op->s, op->fd);
            op->done(theirs);
          });
        });
      });
    });
  });
}

bool ForwardMayResend(std::string_view method, ForwardStage stage) {
  if (stage != ForwardStage::kReceive) return true;
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "LIST";
}

namespace {

// Whether an idle pooled connection is still usable: no response is outstanding on it, so
// anything readable (EOF, a reset, a TLS alert) means the peer closed or is closing it.
bool IdleConnectionAlive(TlsStream& s) {
  char c;
  ssize_t n = ::recv(s.lowest_layer().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

Result<ForwardedResponse> ClusterPort::Forward(const std::string& peer, const http::HttpRequest& req,
                                               bool* outcome_unknown) {
  if (outcome_unknown) *outcome_unknown = false;
  bool resent = false;
  for (;;) {
    std::unique_ptr<TlsStream> s;
    {
      std::lock_guard l(impl_->mu);
      auto it = impl_->idle.find(peer);
      while (it != impl_->idle.end() && !it->second.empty() && !s) {
        s = std::move(it->second.back());
        it->second.pop_back();
        if (!IdleConnectionAlive(*s)) s.reset();  // closed by the peer while idle
      }
    }
    if (!s) {
      ASSIGN_OR_RETURN(s, impl_->Dial(peer, kAlpnForward, sizeof kAlpnForward - 1));
    }
    bhttp::request<bhttp::string_body> r;
    r.version(11);
    r.method_string(req.method);
    r.target(req.target);
    for (auto& [k, v] : req.headers) {
      if (k == "host" || k == "content-length" || k == "connection" || k == "transfer-encoding" || k == "expect" ||
          k == "keep-alive")
        continue;
      r.insert(k, v);
    }
    r.set(bhttp::field::host, peer);
    r.set("x-tresor-forwarded", "1");
    if (!req.remote_addr.empty()) r.set("x-forwarded-for", req.remote_addr);
    r.body() = req.body;
    r.keep_alive(true);
    r.prepare_payload();
    ErrorCode ec;
    ForwardStage stage = ForwardStage::kSend;
    bhttp::write(*s, r, ec);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (req.method == "HEAD") p.skip(true);
    if (!ec) {
      stage = ForwardStage::kReceive;
      bhttp::read(*s, buf, p, ec);
    }
    if (ec) {
      bool may_resend = ForwardMayResend(req.method, stage);
      if (may_resend && !resent) {  // once, on a new connection
        resent = true;
        continue;
      }
      if (!may_resend && outcome_unknown) *outcome_unknown = true;
      return Status::Unavailable("forwarding to " + peer + " failed: " + ec.message());
    }
    auto& m = p.get();
    ForwardedResponse out;
    out.status = static_cast<int>(m.result_int());
    for (const auto& f : m) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(m.body());
    if (m.keep_alive()) {
      std::lock_guard l(impl_->mu);
      if (impl_->ctx && !impl_->stopped && impl_->idle[peer].size() < kMaxIdlePerPeer)
        impl_->idle[peer].push_back(std::move(s));
    }
    return out;
  }
}

Result<size_t> ClusterPort::PrewarmForwarding(const std::string& peer, size_t n) {
  n = std::min(n, kMaxIdlePerPeer);
  {
    // Connections to a former active node would otherwise stay open (with a thread each
    // on that node) for as long as it runs.
    std::vector<std::unique_ptr<TlsStream>> stale;
    std::lock_guard l(impl_->mu);
    for (auto it = impl_->idle.begin(); it != impl_->idle.end();) {
      if (it->first == peer) {
        ++it;
        continue;
      }
      for (auto& c : it->second) stale.push_back(std::move(c));
      it = impl_->idle.erase(it);
    }
  }
  size_t opened = 0;
  for (;;) {
    {
      std::lock_guard l(impl_->mu);
      auto it = impl_->idle.find(peer);
      if (impl_->stopped || !impl_->ctx || (it != impl_->idle.end() && it->second.size() >= n)) return opened;
    }
    ASSIGN_OR_RETURN(auto s, impl_->Dial(peer, kAlpnForward, sizeof kAlpnForward - 1));
    std::lock_guard l(impl_->mu);
    if (impl_->stopped || !impl_->ctx) return opened;
    impl_->idle[peer].push_back(std::move(s));
    ++opened;
  }
}

}  // namespace tresor::ha
