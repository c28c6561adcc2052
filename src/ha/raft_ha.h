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
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/secure.h"
#include "core/core.h"
#include "core/ha.h"
#include "ha/cluster_port.h"
#include "raft/raft_storage.h"

namespace tresor::ha {

// How a joining node reaches an https leader's API (bootstrap/challenge and answer).
struct LeaderTls {
  std::string ca_pem;           // PEM CA bundle for an https leader; empty = system CAs
  std::string client_cert_pem;  // presented to a leader that asks for a client certificate
  SecureString client_key_pem;  // its private key (a secret: never logged)
  std::string servername;       // TLS server name (SNI, verified name); empty = the URL's host
};

struct RetryJoin {
  std::string leader_api_addr;
  LeaderTls tls;
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

// Autopilot settings (sys/storage/raft/autopilot/configuration), durations in seconds.
struct AutopilotConfig {
  bool cleanup_dead_servers = false;
  int64_t last_contact_threshold = 10;  // seconds
  int64_t dead_server_last_contact_threshold = 24 * 3600;
  int64_t max_trailing_logs = 1000;
  int64_t min_quorum = 0;
  int64_t server_stabilization_time = 10;
  bool disable_upgrade_migration = false;
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
  Status Join(const std::string& leader_api_addr, const LeaderTls& tls);
  std::optional<LeaderRecord> CurrentLeaderRecord();
  std::optional<LeaderRecord> CurrentLeaderRecord(const raft::RaftStatus& st);  // st: node_->GetStatus()
  core::HaLeader WaitForLeader();
  http::HttpResponse Redirect(const http::HttpRequest& req);
  void RetryJoinLoop();

  // Endpoints. HandleRaw routes them; every one but HandleJoin runs only after its route's
  // checks passed (unsealed, this node active, sudo where the route asks for it, and the
  // method, except for the routes that accept several and check it themselves).
  http::HttpResponse HandleJoin(http::HttpRequest& req);
  http::HttpResponse HandleChallenge(http::HttpRequest& req);
  http::HttpResponse HandleAnswer(http::HttpRequest& req);
  http::HttpResponse HandleConfiguration();
  http::HttpResponse HandleRemovePeer(http::HttpRequest& req);
  http::HttpResponse HandleStepDown();
  http::HttpResponse HandleHaStatus();
  http::HttpResponse HandleSnapshot(http::HttpRequest& req, bool force);
  http::HttpResponse HandleAutopilotConfig(http::HttpRequest& req);
  http::HttpResponse HandleAutopilotState();
  http::HttpResponse HandleSnapshotAuto(const std::string& path, http::HttpRequest& req);
  // sys/storage/raft/bootstrap/member (unauthenticated, active node): whether a server id
  // is a member, or was removed (the registry's mark and absent from the configuration).
  http::HttpResponse HandleMember(http::HttpRequest& req);
  // A node removed while it was down never sees its mark: if raft has made no progress here
  // for 10 s (a member sees the leader's idle probe every second), ask the last known
  // active node, and stop raft if it says this node was removed.
  void CheckRemovedWhileDown();

  // ---- members (members.cc) ----
  // Every unsealed standby tells the active node who it is every kEchoInterval over the
  // cluster port (Vault's echo); sys/ha-status lists the active node and the standbys heard
  // from within kEchoExpiry, as Vault does.
  static constexpr std::string_view kInternalPrefix = "/v1/sys/internal/tresor/";
  static constexpr std::string_view kEchoPath = "/v1/sys/internal/tresor/ha-echo";
  static constexpr std::chrono::seconds kEchoInterval{2};
  static constexpr std::chrono::seconds kEchoExpiry{15};
  struct Echo {
    std::string hostname, api_addr, cluster_addr;
    std::chrono::system_clock::time_point at;
  };
  http::HttpResponse HandleEcho(http::HttpRequest& req);  // active node: a standby's echo
  void SendEcho();                                          // autopilot thread, on a standby

  // ---- snapshots (raft_ha.cc) ----
  // Every replicated key/value except the leader record and restore staging, as Vault's
  // snapshot file (src/snapshot/archive.h).
  Result<std::string> BuildSnapshot();

  // ---- autopilot (autopilot.cc) ----
  // Defaults merged with the stored (user-set) fields.
  Result<AutopilotConfig> LoadAutopilotConfig();
  // Health of every server as this leader sees it (updates stable_since).
  nlohmann::ordered_json AutopilotState(const AutopilotConfig& cfg);
  // Removes servers dead for longer than the threshold, never below min_quorum and never
  // a majority at once (raft-autopilot's rules). Active node only.
  void PruneDeadServers(const AutopilotConfig& cfg, const nlohmann::ordered_json& state);
  // Promotes every non-voter that has been healthy for server_stabilization_time, is not
  // marked removed and is not being removed (raft-autopilot's stable-server promotion).
  // Active node, autopilot thread.
  void PromoteStableNonVoters(const AutopilotConfig& cfg, const nlohmann::ordered_json& state);
  // Every second on the active node: state refresh, dead-server cleanup, scheduled snapshots.
  void AutopilotLoop();

  // ---- scheduled snapshots (snapshot_auto.cc) ----
  struct AutoSnapshotStatus {
    int64_t consecutive_errors = 0;
    std::string last_start, last_end, last_error, last_url;  // RFC 3339 / file URL
    std::chrono::system_clock::time_point next{};
    int64_t interval = 0;  // the interval `next` was computed with (seconds)
  };
  void RunScheduledSnapshots();

  RaftHaOptions opts_;
  raft::RaftStorage* storage_;
  raft::RaftNode* node_;
  core::Core* core_;
  ClusterPort* port_;

  std::atomic<bool> ready_{false};  // leader and its record written
  std::mutex mu_;
  bool started_ = false;                          // guarded by mu_
  std::map<std::string, std::string> challenges_;  // server_id -> answer; guarded by mu_
  std::string join_leader_, join_challenge_;  // pending join; guarded by mu_
  LeaderTls join_tls_;                        // guarded by mu_
  std::optional<LeaderRecord> cached_;            // guarded by mu_
  std::vector<std::thread> promoters_;            // guarded by mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread retry_thread_;
  std::thread autopilot_thread_;
  std::mutex ap_mu_;  // guards the autopilot and scheduled-snapshot state below
  // node id -> (healthy, since when): autopilot's stable_since.
  std::map<std::string, std::pair<bool, std::chrono::system_clock::time_point>> health_;  // guarded by ap_mu_
  std::map<std::string, AutoSnapshotStatus> auto_status_;  // guarded by ap_mu_
  std::set<std::string> removing_;  // node ids in a remove-peer call here; guarded by ap_mu_
  std::map<std::string, Echo> echoes_;  // node id -> its last echo; guarded by ap_mu_
  bool was_active_ = false;  // autopilot thread only
  std::string warmed_for_;   // autopilot thread only: the leadership the forwarding pool was opened for
  std::chrono::steady_clock::time_point last_echo_sent_{};  // autopilot thread only
  void WarmForwarding();     // autopilot thread, on a standby
  std::chrono::steady_clock::time_point last_member_check_{};  // autopilot thread only
};

}  // namespace tresor::ha
