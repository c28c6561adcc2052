// Request forwarding over the cluster port: a request that may have reached the active node
// is never sent twice. Two ClusterPorts on loopback share a keyring; the "active" side's
// handler drops every connection (as a crash or a seal would) after it handled a request,
// before the response goes out.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "ha/cluster_port.h"
#include "ha/cluster_tls.h"

namespace tresor::ha {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(ForwardMayResend, OnlyUndeliveredRequestsOrReads) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "LIST", "POST", "PUT", "PATCH", "DELETE"}) {
    EXPECT_TRUE(ForwardMayResend(m, ForwardStage::kConnect)) << m;
    EXPECT_TRUE(ForwardMayResend(m, ForwardStage::kSend)) << m;
  }
  for (const char* m : {"GET", "HEAD", "OPTIONS", "LIST"}) EXPECT_TRUE(ForwardMayResend(m, ForwardStage::kReceive)) << m;
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE"}) EXPECT_FALSE(ForwardMayResend(m, ForwardStage::kReceive)) << m;
}

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kr = GenerateClusterKeyring();
    ASSERT_TRUE(kr.ok()) << kr.status().ToString();
    keyring_ = *kr;
    port_ = FreePort();
    active_ = std::make_unique<ClusterPort>("127.0.0.1:" + std::to_string(port_), "active");
    standby_ = std::make_unique<ClusterPort>("127.0.0.1:0", "standby");
    ASSERT_TRUE(active_->Start().ok());
    ASSERT_TRUE(active_->SetKeyring(&keyring_).ok());
    ASSERT_TRUE(standby_->SetKeyring(&keyring_).ok());
    active_->SetForwardHandler([this](http::HttpRequest& r) {
      bool drop;
      {
        std::lock_guard l(mu_);
        drop = ++calls_[r.method + " " + r.target] == 1 && r.target.find("drop") != std::string::npos;
      }
      if (drop) DropConnections();  // handled, then the connection goes away before the response
      http::HttpResponse out;
      out.body = "{}";
      return out;
    });
  }
  // Every open connection of the active side is closed (shut down), new ones are accepted
  // at once: installing a keyring that differs (the same CA; the key's PEM text differs by
  // a newline) makes the port switch contexts first and then drop its connections.
  void DropConnections() {
    std::lock_guard l(drop_mu_);
    flip_ = !flip_;
    ClusterKeyring k = keyring_;
    if (flip_) k.ca_key_pem = SecureString(k.ca_key_pem.str() + "\n");
    ASSERT_TRUE(active_->SetKeyring(&k).ok());
  }
  void TearDown() override {
    if (active_) active_->Stop();
  }
  int Calls(const std::string& k) {
    std::lock_guard l(mu_);
    return calls_[k];
  }
  Result<ForwardedResponse> Send(const std::string& method, const std::string& target, bool* unknown) {
    http::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = method == "GET" ? "" : "{\"v\":1}";
    return standby_->Forward("127.0.0.1:" + std::to_string(port_), r, unknown);
  }

  ClusterKeyring keyring_;
  int port_ = 0;
  std::unique_ptr<ClusterPort> active_, standby_;
  std::mutex mu_;
  std::map<std::string, int> calls_;
  std::mutex drop_mu_;
  bool flip_ = false;
};

TEST_F(ForwardTest, WriteWhoseResponseIsLostIsNotResent) {
  bool unknown = false;
  ASSERT_TRUE(Send("GET", "/v1/warm", &unknown).ok());  // a pooled connection now exists
  auto r = Send("POST", "/v1/secret/drop", &unknown);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(unknown);
  EXPECT_EQ(Calls("POST /v1/secret/drop"), 1);
  // the port still works for the next request (a new connection)
  auto ok = Send("POST", "/v1/secret/other", &unknown);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_FALSE(unknown);
  EXPECT_EQ(Calls("POST /v1/secret/other"), 1);
}

TEST_F(ForwardTest, ReadWhoseResponseIsLostIsRetriedOnce) {
  bool unknown = true;
  auto r = Send("GET", "/v1/secret/drop", &unknown);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(unknown);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Calls("GET /v1/secret/drop"), 2);
}

TEST_F(ForwardTest, PooledConnectionClosedByThePeerIsNotUsed) {
  bool unknown = false;
  ASSERT_TRUE(Send("GET", "/v1/warm", &unknown).ok());
  // the active node drops every connection while the standby's one sits idle in the pool
  DropConnections();
  auto r = Send("POST", "/v1/secret/after-idle-close", &unknown);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Calls("POST /v1/secret/after-idle-close"), 1);
}

TEST_F(ForwardTest, PrewarmedConnectionsStayInThePoolAndAreUsed) {
  const std::string peer = "127.0.0.1:" + std::to_string(port_);
  auto opened = standby_->PrewarmForwarding(peer, 2);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 2u);
  EXPECT_EQ(standby_->PrewarmForwarding(peer, 2).value(), 0u);  // both wait idle
  // Time for anything the active sends after its handshake (a TLS session ticket) to arrive:
  // unread, it would make an idle connection look closed by the peer.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  bool unknown = false;
  ASSERT_TRUE(Send("POST", "/v1/secret/a", &unknown).ok());
  ASSERT_TRUE(Send("POST", "/v1/secret/b", &unknown).ok());
  // A connection that had never carried a request was used, not taken for one the peer had
  // closed (as it would be with a TLS session ticket still unread on it): the pool still
  // holds two, so nothing needs opening.
  EXPECT_EQ(standby_->PrewarmForwarding(peer, 2).value(), 0u);
  EXPECT_EQ(Calls("POST /v1/secret/a"), 1);
}

}  // namespace
}  // namespace tresor::ha
