// RaftFsm: the raft state machine, kept in an LmdbStore, plus the entry / snapshot codecs.
//
// Entries carry batches of TxnOps (or node-registry updates). Applying an entry only
// hands it to a writer thread; the writer applies every entry it has to the
// WriteBehindStore at once, together with the applied index and term, which reach LMDB in
// the same transaction as the data. After a restart, entries at or below LMDB's stored
// index are skipped and the rest replayed; a snapshot older than the stored state is not
// restored. WhenApplied() tells a caller once an index is applied (readable on this node):
// that is when RaftNode acknowledges a write ("committed by a quorum and applied
// locally"). Writes to "core/" keys are in LMDB before that, because the seal reads them
// from LMDB before raft runs.
//
// The node registry maps raft's 64-bit ids to Vault node ids (strings) and records nodes
// told they were removed; it is replicated like data and travels in snapshots.
//
// Threading: ApplyEntry, Capture, Serialize, Finalize and Restore are called on the raft
// loop thread only (one at a time). Everything else may be called from any thread.
// Ownership: the WriteBehindStore must outlive the RaftFsm.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "raft/write_behind.h"
#include "storage/lmdb_store.h"
#include "storage/storage.h"

struct tr_raft_iovec;

namespace tresor::raft {

// 64-bit raft id of a Vault node id (SHA-256 prefix; never 0).
uint64_t RaftIdFor(std::string_view node_id);

// ---- entry codec (little-endian binary) ----
// A group is one caller's TxnOps; an entry holds one or more groups applied in order.
std::string EncodeGroup(const std::vector<TxnOp>& ops);
// Builds an entry from encoded groups; `term` is the leader's term when submitting.
std::string EncodeDataEntry(uint64_t term, const std::vector<const std::string*>& groups);
std::string EncodeRegisterEntry(uint64_t term, uint64_t raft_id, std::string_view node_id);
std::string EncodeRemovedEntry(uint64_t term, uint64_t raft_id);
// Restore commit: atomically replaces the data with what was staged under
// RestoreStagingPrefix(id) (by ordinary data entries), keeping kRestoreKeepKey.
std::string EncodeRestoreCommitEntry(uint64_t term, std::string_view restore_id);
// Where a restore's keys are staged before its commit entry: "<kRestoreStagingRoot><id>/<key>".
constexpr std::string_view kRestoreStagingRoot = "core/raft/restore-staging/";
std::string RestoreStagingPrefix(std::string_view restore_id);
// Kept as is by a restore commit (the active node's leader record).
constexpr std::string_view kRestoreKeepKey = "core/ha/leader";
// Fixed overhead EncodeDataEntry adds to the sum of its groups' sizes.
constexpr size_t kEntryHeaderSize = 16;
// Overwrites the term in an encoded entry (set on the loop thread just before submitting).
void SetEntryTerm(std::string* entry, uint64_t term);

struct NodeRecord {
  std::string node_id;
  bool removed = false;
};

class SnapshotImage;

class RaftFsm {
 public:
  static Result<std::unique_ptr<RaftFsm>> Open(WriteBehindStore* store);
  ~RaftFsm();  // drains and stops the writer
  RaftFsm(const RaftFsm&) = delete;
  RaftFsm& operator=(const RaftFsm&) = delete;

  // ---- loop thread (shim callbacks); return 0 or a TR_RAFT_* code ----
  int ApplyEntry(uint64_t index, std::string_view data);
  int Capture();
  // The capture as pieces for libraft to write out; valid until Finalize.
  int Serialize(const tr_raft_iovec** iov, unsigned* n);
  void Finalize();
  int Restore(std::string_view data);

  // ---- any thread ----
  // Calls done(Ok) once `index` is applied (maybe right away, on this thread),
  // or done(error) if the state machine failed. Called from the writer thread otherwise;
  // `done` must be quick and must not call back into the RaftFsm.
  void WhenApplied(uint64_t index, std::function<void(const Status&)> done);
  uint64_t applied_index() const;   // readable here (LMDB or the write-behind layer)
  uint64_t enqueued_index() const;  // handed to ApplyEntry (>= applied_index)
  uint64_t snapshot_index() const;  // last snapshot taken or restored (0 = none)
  Status failure() const;           // ok unless the state machine stopped
  std::optional<NodeRecord> Node(uint64_t raft_id) const;
  // Blocks until every entry handed to ApplyEntry is applied (or the FSM failed).
  void Drain();
  // Counters (tests): entries applied / skipped as already applied (log replay).
  uint64_t entries_applied() const { return entries_applied_.load(); }
  uint64_t entries_skipped() const { return entries_skipped_.load(); }
  uint64_t restores() const { return restores_.load(); }  // snapshots actually installed

 private:
  explicit RaftFsm(WriteBehindStore* store);
  void WriterLoop();
  int SerializeImage(const tr_raft_iovec** iov, unsigned* n);
  void Fail(const Status& st);  // mu_ held by caller? no: takes it
  std::string RegistryJson(const std::map<uint64_t, NodeRecord>& reg) const;
  // The data ops of a restore commit: staged keys moved into place, everything else
  // (except kRestoreKeepKey and other restores' staging) deleted. Writer thread only.
  Status RestoreOps(std::string_view restore_id, std::vector<TxnOp>* ops);

  struct Pending {
    uint64_t index;
    std::string data;
  };

  WriteBehindStore* store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;          // writer wakeup and drain
  std::deque<Pending> queue_;           // guarded by mu_
  uint64_t enqueued_ = 0;               // guarded by mu_: highest index handed in
  uint64_t applied_ = 0;                // guarded by mu_: highest index applied
  uint64_t snapshot_index_ = 0;         // guarded by mu_
  Status failure_;                      // guarded by mu_
  bool stop_ = false;                   // guarded by mu_
  std::map<uint64_t, NodeRecord> registry_;  // guarded by mu_: as in LMDB
  std::multimap<uint64_t, std::function<void(const Status&)>> waiters_;  // guarded by mu_
  std::unique_ptr<LmdbStore::Snapshot> capture_;  // loop thread only
  std::unique_ptr<SnapshotImage> image_;          // loop thread only: Serialize .. Finalize
  std::thread writer_;
  std::atomic<uint64_t> entries_applied_{0};
  std::atomic<uint64_t> entries_skipped_{0};
  std::atomic<uint64_t> restores_{0};
};

}  // namespace tresor::raft
