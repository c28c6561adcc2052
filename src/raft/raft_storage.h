// RaftStorage: the `storage "raft"` physical backend. Reads come from the local state
// machine (LMDB, `<path>/vault.db`, behind its WriteBehindStore); writes go through
// RaftNode::Apply and return once committed by a quorum and applied locally. On a
// standby, writes fail with Standby (the caller forwards to the active node); reads are
// local and may lag the leader slightly.
//
// Layout under `path`: `node-id` (0600, generated once if no id is configured),
// `vault.db` (FSM), `raft/` (c-raft's log, metadata and snapshots).
//
// Lifecycle: Open → node()->Bootstrap() (first node only) → node()->Start(). Opening
// does not start raft: Vault starts it at unseal. Thread-safe like every Storage.
#pragma once

#include <memory>
#include <string>

#include "raft/raft_node.h"
#include "raft/write_behind.h"
#include "storage/lmdb_store.h"
#include "storage/storage.h"

namespace tresor::raft {

struct RaftStorageOptions {
  std::string path;     // required (env VAULT_RAFT_PATH is applied by the config layer)
  std::string node_id;  // empty = from <path>/node-id, else a new UUID stored there
  std::string cluster_address;  // raft address "host:port" advertised to peers (required)
  std::string bind_address;     // "ip:port" to listen on; empty = cluster_address
  int performance_multiplier = 0;
  size_t max_entry_size = 1048576;
  unsigned trailing_logs = 10000;
  unsigned snapshot_threshold = 8192;
  bool fsm_no_sync = false;  // tests only: LMDB without fsync (the raft log stays durable)
  // How applied entries reach LMDB (commit interval; tests: drop at close, like a crash).
  WriteBehindStore::Options fsm_write_behind;
  // Test/bench overrides (0 = derived from performance_multiplier).
  unsigned election_timeout_ms = 0;
  unsigned heartbeat_timeout_ms = 0;
  unsigned apply_window = kDefaultApplyWindow;  // see RaftNodeOptions::apply_window
  // See RaftNodeOptions::connector (empty = libraft's plain TCP transport).
  decltype(RaftNodeOptions::connector) connector;
};

// Vault's node id resolution: `configured` if set, else the content of <path>/node-id,
// else a new UUID written there (0600). Creates `path` (0700) if needed.
Result<std::string> ResolveNodeId(const std::string& path, const std::string& configured);

class RaftStorage : public Storage {
 public:
  static Result<std::unique_ptr<RaftStorage>> Open(const RaftStorageOptions& opts);
  ~RaftStorage() override;

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Put(std::string_view key, std::string_view value) override;
  Status Delete(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) override;
  Status Transaction(const std::vector<TxnOp>& ops) override;

  RaftNode* node() { return node_.get(); }
  const std::string& node_id() const { return node_id_; }
  // A point-in-time view of the whole state that includes every applied write.
  Result<std::unique_ptr<LmdbStore::Snapshot>> Snapshot() { return fsm_store_->Snapshot(); }

 private:
  RaftStorage() = default;
  Status Write(const std::vector<TxnOp>& ops);

  std::string node_id_;
  std::unique_ptr<LmdbStore> store_;
  std::unique_ptr<WriteBehindStore> fsm_store_;  // over store_
  std::unique_ptr<RaftNode> node_;  // destroyed first: its state machine writes to fsm_store_
};

}  // namespace tresor::raft
