// RaftHa: the raft implementation of core::HaHook. The raft leader is the active node.
//
// - Raft starts at process start when the data dir already holds raft state (isolated until
//   the node is unsealed and has the cluster keyring); a fresh node starts raft at sys/init
//   (bootstrap of a one-node cluster) or at join.
// - The active node advertises itself by writing `core/ha/leader` (plain JSON: node_id,
//   api_addr, cluster_addr, active_time) through raft when it gains leadership; standbys
//   read it to answer sys/leader and to forward.
// - The cluster port (ClusterPort, mutual TLS with the cluster keyring kept in the barrier)
//   carries raft and request forwarding. A node installs the keyring when it unseals (from
//   its local copy of the replicated store) and drops it when it seals, so a sealed node
//   neither replicates nor votes. A joining node gets the keyring in the bootstrap/answer
//   response, encrypted under a key derived from the challenge it opened.
// - Standbys forward logical requests to the active node's cluster_addr over the cluster
//   port, relaying status, headers and body; on failure they answer 307 to the active node.
// - Join (§5.9, simplified): the joining node asks the leader's bootstrap/challenge for a
//   random challenge sealed with the leader's unseal key plus the seal config; when the
//   operator's shares recover the unseal key, it answers through bootstrap/answer and the
//   leader adds it as a non-voter and promotes it to voter.
//
// Ownership: does not own the storage or the core; both must outlive it until Shutdown().
// Threading: HaHook methods are called from HTTP workers; raft events arrive on the raft
// notifier thread; retry_join runs on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/core.h"
#include "core/ha.h"
#include "ha/cluster_port.h"
#include "raft/raft_storage.h"

namespace tresor::ha {

struct RetryJoin {
  std::string leader_api_addr;
  std::string ca_pem;  // PEM CA bundle for an https leader; empty = system CAs
};

struct RaftHaOptions {
  std::string api_addr;      // this node's client URL
  std::string cluster_addr;  // this node's cluster URL (advertised)
  std::vector<RetryJoin> retry_join;  // one per retry_join block
  bool forwarding = true;    // false: always 307 from a standby
  // The mutual-TLS cluster port (raft and forwarding); not owned, outlives the RaftHa until
  // Shutdown() (which stops it). nullptr: forwarding over HTTP to api_addr (tests).
  ClusterPort* cluster_port = nullptr;
};

class RaftHa : public core::HaHook {
 public:
  RaftHa(RaftHaOptions opts, raft::RaftStorage* storage, core::Core* core);
  ~RaftHa() override;

  // Starts raft if this node is already a member, and the retry_join loop if configured.
  Status Start();
  // Stops the retry_join loop and raft. Idempotent.
  void Shutdown();

  bool IsActive() override;
  core::HaLeader Leader() override;
  Status PrepareInit() override;
  std::optional<http::HttpResponse> HandleRaw(const std::string& path, http::HttpRequest& req) override;
  http::HttpResponse Forward(const http::HttpRequest& req) override;
  Status OnJoinKeyRecovered() override;
  Status OnInit(Storage* barrier) override;
  void OnUnsealed(Storage* barrier) override;
  void OnSealed() override;

 private:
  struct LeaderRecord {
    std::string node_id, api_addr, cluster_addr;
    int64_t active_ns = 0;
  };
  void OnEvent(raft::RaftEvent ev);
  Status EnsureStarted();
  Status Join(const std::string& leader_api_addr, const std::string& ca_pem);
  std::optional<LeaderRecord> CurrentLeaderRecord();
  core::HaLeader WaitForLeader();
  http::HttpResponse Redirect(const http::HttpRequest& req);
  void RetryJoinLoop();

  http::HttpResponse HandleJoin(http::HttpRequest& req);
  http::HttpResponse HandleChallenge(http::HttpRequest& req);
  http::HttpResponse HandleAnswer(http::HttpRequest& req);
  http::HttpResponse HandleConfiguration(http::HttpRequest& req);
  http::HttpResponse HandleRemovePeer(http::HttpRequest& req);
  http::HttpResponse HandleStepDown(http::HttpRequest& req);
  http::HttpResponse HandleHaStatus(http::HttpRequest& req);
  http::HttpResponse HandleSnapshot(http::HttpRequest& req, bool force);
  http::HttpResponse HandleAutopilotConfig(http::HttpRequest& req);
  http::HttpResponse HandleAutopilotState(http::HttpRequest& req);

  RaftHaOptions opts_;
  raft::RaftStorage* storage_;
  raft::RaftNode* node_;
  core::Core* core_;
  ClusterPort* port_;

  std::atomic<bool> ready_{false};  // leader and its record written
  std::mutex mu_;
  bool started_ = false;                          // guarded by mu_
  std::map<std::string, std::string> challenges_;  // server_id -> answer; guarded by mu_
  std::string join_leader_, join_challenge_, join_ca_;  // pending join; guarded by mu_
  std::optional<LeaderRecord> cached_;            // guarded by mu_
  std::vector<std::thread> promoters_;            // guarded by mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread retry_thread_;
};

}  // namespace tresor::ha
