// RaftNode: one member of a raft cluster (c-raft 0.22) whose state machine is a RaftFsm.
//
// Threading: the node owns one thread running a libuv loop; every libraft call happens
// there. All public methods are thread-safe and may be called from any thread except that
// loop (they hand work in through a queue + uv_async_send and wait for the result), and
// except from inside the event callback. Apply() calls made concurrently are packed into as
// few raft entries as possible and submitted together (group commit).
//
// Identity: Vault node ids are strings (UUIDs); raft ids are RaftIdFor(node_id). The
// string ids travel through the replicated node registry in the FSM, so Configuration()
// can report them on every node.
//
// Reads are not RaftNode's business: callers read the FSM's WriteBehindStore directly. On a
// follower they can lag the leader by the entries it has not yet been told are committed.
//
// Lifecycle: Create → [Bootstrap | Recover] → Start → ... → Close (also done by the
// destructor). A node that joins an existing cluster is started without Bootstrap and waits
// for the leader's AddNonVoter.
//
// Ownership: the WriteBehindStore passed to Create must outlive the RaftNode.
// Process-wide effect: Create sets SIGPIPE to ignored (libuv writes to peer sockets).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "raft/raft_fsm.h"
#include "storage/lmdb_store.h"
#include "storage/storage.h"

struct tr_raft;
struct uv_loop_s;
struct uv_async_s;
struct uv_timer_s;

namespace tresor::raft {

// Fewer, larger entries cost less per write on every node (log append, replication, TLS
// relay); measured with 3 nodes on 2 cores (bench/README.md), 2 in flight gave ~8% more
// writes/s than 4, and 8 gave less. 1 was as good as 2 on loopback but stops pipelining,
// which a cluster with real network round trips needs.
inline constexpr unsigned kDefaultApplyWindow = 2;

struct RaftNodeOptions {
  std::string node_id;       // Vault node id (required)
  std::string address;       // advertised raft address "host:port" (required)
  std::string bind_address;  // "ip:port" to listen on; empty = address
  std::string dir;           // c-raft's data dir (created 0700 if absent)
  // Vault's performance_multiplier: 0 means the default, 5. Timeouts scale with it.
  int performance_multiplier = 0;
  // Overrides (0 = derived from performance_multiplier).
  unsigned election_timeout_ms = 0;
  unsigned heartbeat_timeout_ms = 0;
  unsigned connect_retry_ms = 0;
  unsigned snapshot_threshold = 8192;  // Vault's snapshot_threshold (a minimum: each node adds up to 25%)
  unsigned trailing_logs = 10000;      // Vault's trailing_logs
  unsigned max_inflight_entries = 1024;
  size_t max_entry_size = 1 << 20;  // Vault's max_entry_size: larger writes are refused
  int capacity_threshold_kb = -1;   // <0 library default (4096), 0 off
  // Connections: empty = libraft's plain TCP transport on `bind_address`. Set = external
  // transport (the server's mutual-TLS cluster port): called on the loop thread to open a
  // connection from this node (self_id, self_address) to a peer; `done(fd)` (any thread,
  // exactly once) hands back a connected stream socket, or fd < 0 on failure. Incoming
  // connections arrive via AcceptConnection.
  std::function<void(uint64_t self_id, const std::string& self_address, const std::string& peer_address,
                     std::function<void(int fd)> done)>
      connector;
  // Group commit: at most this many data entries in flight; later callers are packed
  // into the next entry (see kDefaultApplyWindow).
  unsigned apply_window = kDefaultApplyWindow;
};

// Election/heartbeat timeouts derived like Vault (see raft_node.cc).
void DeriveTimeouts(int performance_multiplier, unsigned* election_ms, unsigned* heartbeat_ms);

struct RaftServer {
  std::string node_id;  // Vault node id, or the hex raft id if unknown here
  uint64_t raft_id = 0;
  std::string address;
  bool voter = false;
  std::string role;  // "voter", "non-voter" (catching up / standby) or "spare"
  bool leader = false;
};

struct RaftConfiguration {
  uint64_t index = 0;  // log index of the committed configuration
  std::vector<RaftServer> servers;
};

struct RaftStatus {
  std::string state;  // "leader", "follower", "candidate", "unavailable", "removed", "stopped"
  uint64_t term = 0;
  std::string leader_id;  // Vault node id of the leader, "" if unknown
  std::string leader_address;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;  // in the local FSM (LMDB)
  uint64_t last_index = 0;
  uint64_t snapshot_index = 0;
};

enum class RaftEvent { kBecameLeader, kLostLeadership, kRemoved };

// What the leader knows of one server's replication (autopilot's input).
struct PeerContact {
  uint64_t raft_id = 0;
  uint64_t match_index = 0;  // last log index the server acknowledged (leader: its last index)
  // Time since the server last acknowledged the leader's progress (0 for the leader). The
  // leader appends a barrier when idle for a second, so a live follower's contact stays
  // below ~1 s even without writes.
  int64_t last_contact_ms = 0;
};

class RaftNode {
 public:
  // Opens the FSM over `store` and initialises c-raft (nothing is started yet).
  static Result<std::unique_ptr<RaftNode>> Create(const RaftNodeOptions& opts, WriteBehindStore* store);
  ~RaftNode();
  RaftNode(const RaftNode&) = delete;
  RaftNode& operator=(const RaftNode&) = delete;

  // True if the data dir already holds raft state (the node was bootstrapped or joined).
  bool HasExistingState() const;
  // Before Start, on a pristine dir: a configuration of this node alone (voter), or `servers`.
  Status Bootstrap(const std::vector<RaftServer>& servers = {});
  // Before Start: force `servers` as the configuration (loss-of-quorum recovery).
  Status Recover(const std::vector<RaftServer>& servers);
  Status Start();
  // Stops raft and the loop thread; pending Applies fail. Idempotent.
  void Close();

  // Replicates `ops` (atomically, in order); returns once committed by a quorum and applied
  // locally. Standby if this node is not the leader; Unavailable with "outcome unknown" if
  // leadership was lost while the entry was in flight (it may or may not commit).
  Status Apply(const std::vector<TxnOp>& ops);
  // Returns once every entry committed before the call is applied locally (leader only).
  Status Barrier();
  // Appends an empty entry and returns at once (leader only; otherwise nothing happens).
  // Followers learn the leader's commit index with it instead of at the next heartbeat.
  void Nudge();

  // Membership (leader only; Standby otherwise).
  Status AddNonVoter(const std::string& node_id, const std::string& address);
  Status PromoteToVoter(const std::string& node_id);
  // Tells the node it is removed (through the log), then removes it. Unknown id: Ok.
  Status RemovePeer(const std::string& node_id);
  // Commits a snapshot restore staged under RestoreStagingPrefix(restore_id) (leader only):
  // one entry that every node applies in one LMDB transaction. Returns once applied here.
  Status CommitRestore(const std::string& restore_id);
  // Per-server contact as seen by this leader; empty if this node does not lead.
  std::vector<PeerContact> PeerContacts();
  size_t max_entry_size() const { return opts_.max_entry_size; }
  // Hands leadership to `node_id` (empty = any voter), checking and retrying; Ok once this
  // node is no longer leader.
  Status TransferLeadership(const std::string& node_id = "");

  // External transport only: a peer connected to us (authenticated by the caller); raft
  // takes the socket (closed if raft is not running). Any thread.
  void AcceptConnection(uint64_t raft_id, const std::string& address, int fd);

  Result<RaftConfiguration> Configuration();
  RaftStatus GetStatus();
  // True once this node leads and has applied everything committed before its term
  // (a barrier of its own term): from then on local reads are up to date.
  bool IsLeader() const { return leader_.load(); }
  bool IsRemoved() const { return removed_.load(); }
  // Stops raft for good as a removed node (emits kRemoved). For a node that learns of its
  // removal from the active node because it was removed while it was down (it then never
  // sees the replicated mark).
  void MarkRemoved();
  // How long raft has run here without its commit index advancing (0 if stopped). On a
  // member this stays below ~1 s: an idle leader appends a barrier every second. A node
  // removed while it was down may still hear the leader's heartbeats but never progresses.
  int64_t StalledForMs() const;
  const std::string& node_id() const { return opts_.node_id; }
  uint64_t raft_id() const { return raft_id_; }
  RaftFsm* fsm() { return fsm_.get(); }

  // Called (on a dedicated notifier thread, in order) when this node gains leadership (as
  // IsLeader: after its barrier is applied) or loses it, or notices it was removed. Set
  // before Start.
  void SetEventCallback(std::function<void(RaftEvent)> cb);

  // Stats for tests and benches.
  uint64_t entries_submitted() const { return entries_submitted_.load(); }

 private:
  struct PendingApply;
  struct EntryBatch;
  struct Task {
    std::function<void()> fn;
  };

  explicit RaftNode(const RaftNodeOptions& opts);
  Status Init(WriteBehindStore* store);
  void LoopMain();
  // Runs fn on the loop thread and waits for it (fn must not block).
  void RunOnLoop(std::function<void()> fn);
  void Post(std::function<void()> fn);
  static void OnAsync(uv_async_s* h);
  static void ExtConnect(void* ctx, uint64_t id, const char* address, uint64_t token);
  static void OnTimer(uv_timer_s* h);
  void DrainTasks();
  void SubmitApplies();
  void SubmitEntry(std::string entry, std::vector<std::promise<tresor::Status>> promises);
  void CheckState();
  void LeaderReady(uint64_t term, const tresor::Status& applied);
  void TrackContacts(uint64_t last_index);
  void StopAsRemoved();  // loop thread  // loop thread, while leading
  void Emit(RaftEvent ev);
  // Runs an async libraft request on the loop and waits for its completion status.
  int LoopRequest(const std::function<int(tr_raft*, void (*)(void*, int, uint64_t), void*)>& start,
                  uint64_t* index = nullptr);
  tresor::Status ApplyInternal(std::string entry);
  tresor::Status LeaderCheck();
  static tresor::Status MapError(int rc, const char* what);
  std::string NameOf(uint64_t raft_id) const;

  RaftNodeOptions opts_;
  uint64_t raft_id_ = 0;
  std::unique_ptr<RaftFsm> fsm_;
  std::unique_ptr<uv_loop_s> loop_;
  std::unique_ptr<uv_async_s> async_;
  std::unique_ptr<uv_timer_s> timer_;
  tr_raft* raft_ = nullptr;  // loop thread only (after Init)
  std::thread thread_;
  std::thread::id loop_thread_id_;

  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;            // guarded by mu_
  std::vector<std::unique_ptr<PendingApply>> applies_;  // guarded by mu_
  bool closing_ = false;                                // guarded by mu_

  // Loop-thread state.
  bool started_ = false;
  bool was_member_ = false;
  // Removal checks (see CheckState): commit index to reach before a "removed" mark counts,
  // and since when the configuration has not listed this node.
  uint64_t removed_mark_target_ = 0;
  unsigned election_timeout_ms_ = 0;  // set in Init
  std::chrono::steady_clock::time_point absent_since_{};
  // Leader-side contact tracking (loop thread): raft id -> (match index, last progress).
  std::map<uint64_t, std::pair<uint64_t, std::chrono::steady_clock::time_point>> contacts_;
  uint64_t probe_last_index_ = 0;
  std::chrono::steady_clock::time_point probe_at_{};
  bool leader_pending_ = false;  // a leadership barrier is in flight
  unsigned inflight_ = 0;        // data entries submitted and not yet applied by libraft
  int last_state_ = 0;

  std::atomic<bool> leader_{false};
  std::atomic<bool> removed_{false};
  std::atomic<int64_t> progress_at_ms_{0};  // steady clock ms of the last commit index change
  uint64_t last_commit_seen_ = 0;           // loop thread
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> entries_submitted_{0};

  // Event delivery.
  std::mutex ev_mu_;
  std::condition_variable ev_cv_;
  std::deque<RaftEvent> events_;  // guarded by ev_mu_
  bool ev_stop_ = false;          // guarded by ev_mu_
  std::function<void(RaftEvent)> event_cb_;
  std::thread ev_thread_;
};

}  // namespace tresor::raft
