// ClusterPort: the cluster listener (cluster_addr, Vault's 8201) and its client side.
//
// Mutual TLS 1.3 only: both ends present a certificate issued from the cluster keyring
// (cluster_tls.h) and require the peer's to chain to the same CA. Without a keyring
// (sealed node, not joined yet) the port accepts TCP connections and closes them at once and
// makes no outgoing connections. Two protocols share the listener, chosen by ALPN:
//   - "raft_storage_v1": raft. The connecting side sends a frame (magic, raft id, address),
//     then both directions are relayed between the TLS stream and one end of a socketpair
//     whose other end is handed to libraft (RaftNode's external transport).
//   - "req_fw_sb-act_v1": request forwarding from a standby to the active node: plain
//     HTTP/1.1 requests and responses over the TLS stream (keep-alive), answered by the
//     handler given to SetForwardHandler.
//
// Threading: one I/O thread runs the listener, handshakes and raft relays; each inbound
// forwarding connection gets its own thread (handlers block). Every public method is
// thread-safe. Forward() blocks the calling thread.
// Ownership: callbacks given to the setters must stay valid until Stop() returned.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "ha/cluster_tls.h"
#include "http/http_types.h"

namespace tresor::ha {

struct ForwardedResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Where a forwarded exchange failed, for deciding whether it may be sent again.
enum class ForwardStage {
  kConnect,  // no connection (dial or TLS handshake failed): nothing was sent
  kSend,     // writing the request failed: the peer never got a complete request, so it
             // cannot have acted on it
  kReceive,  // the request was sent but no complete response came back: the peer may have
             // applied it
};

// Whether a request with this method that failed at `stage` may be sent again (or redirected
// to the active node's api_addr, which the client re-sends). Only requests that cannot have
// reached the handler, and idempotent reads (GET, HEAD, OPTIONS, LIST), may; a write that may
// have been applied must not be applied twice (as Go's http.Transport decides for replays).
bool ForwardMayResend(std::string_view method, ForwardStage stage);

class ClusterPort {
 public:
  // bind_address: "ip:port" / "[v6]:port" / "host:port" to listen on.
  ClusterPort(std::string bind_address, std::string node_id);
  ~ClusterPort();
  ClusterPort(const ClusterPort&) = delete;
  ClusterPort& operator=(const ClusterPort&) = delete;

  Status Start();
  // Closes the listener and every connection and joins the threads. Idempotent.
  void Stop();

  // Installs the keyring (issues this node's certificate); nullptr forgets it and closes every
  // open cluster connection (on seal).
  Status SetKeyring(const ClusterKeyring* k);
  bool HasKeyring();
  // The keyring currently installed (for handing it to a joining node).
  std::optional<ClusterKeyring> Keyring();

  void SetRaftAcceptor(std::function<void(uint64_t raft_id, const std::string& address, int fd)> fn);
  void SetForwardHandler(http::HttpHandler fn);

  // Raft connection to `peer` ("host:port"): async; `done(fd)` is called once from the I/O
  // thread with a socket relayed over TLS, or -1.
  void ConnectRaft(uint64_t my_raft_id, const std::string& my_address, const std::string& peer,
                   std::function<void(int fd)> done);
  // One HTTP exchange with the active node's cluster port `peer` ("host:port"). A pooled
  // connection that the peer has closed is noticed before use and dropped. On failure,
  // `*outcome_unknown` (if given) says the request may have been applied by the peer and
  // must not be sent again (ForwardMayResend); otherwise it was not delivered, or it is an
  // idempotent read that was already tried once more on a new connection.
  Result<ForwardedResponse> Forward(const std::string& peer, const http::HttpRequest& req,
                                    bool* outcome_unknown = nullptr);

  // Opens forwarding connections to `peer` until `n` wait idle in the pool, so that the
  // first requests forwarded after a node becomes a standby do not all pay for their TLS
  // handshakes at once. Idle connections to any other peer (a former active node) are
  // closed. Blocks; returns how many it opened.
  Result<size_t> PrewarmForwarding(const std::string& peer, size_t n);

  struct Impl;  // public only so that cluster_port.cc's helpers can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tresor::ha
