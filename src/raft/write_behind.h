// WriteBehindStore: the raft state machine's data, visible from memory as soon as an entry
// is applied and committed to LMDB in batches shortly after.
//
// Why: the raft log is already the durable copy of every committed entry (fsynced on a
// quorum before anything is acknowledged). Committing LMDB with an fsync for every small
// group of entries made the state machine the largest CPU cost of a write (writeback of
// the same B-tree pages again and again). Here, applied entries go into an in-memory layer
// that readers consult before LMDB, and one committer thread writes the layer to LMDB
// every `interval` ±25% (each commit is fully synced, meta page included, so the file is always
// a consistent earlier state with the index it holds, and a flushed write survives an OS
// crash). If the process dies, what was only in memory is lost
// and raft replays it from the log on restart: entries above LMDB's stored index are
// applied again. libraft only drops log entries covered by its latest snapshot, and a
// snapshot holds everything applied (Snapshot() overlays the layers on LMDB), so when
// the log no longer reaches back to LMDB's index, that snapshot is newer and is restored.
//
// Callers that read LMDB without raft running (the seal configuration and keyring before
// unseal) must Flush() after such writes before acknowledging them (RaftFsm does this for
// "core/" keys).
//
// Threading: Apply is called by one thread at a time (the FSM's writer). Everything else
// may be called from any thread. Readers hold the layers' mutex for one map lookup (a plain
// mutex: a reader-preferring rwlock let busy readers starve the writer), never while LMDB
// is being written; Snapshot() holds it while it copies the layers (at most 1.25 × `interval`
// of writes).
// Ownership: `store` must outlive the WriteBehindStore; the destructor commits what is
// pending (unless Options::commit_at_close is false).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/lmdb_store.h"
#include "storage/storage.h"

namespace tresor::raft {

class WriteBehindStore {
 public:
  using Meta = std::vector<std::pair<std::string, std::string>>;
  struct Options {
    // How long applied data stays only in memory (unless something asks for it sooner):
    // this ±25%, drawn for each commit.
    std::chrono::milliseconds interval{1000};
    // Commit sooner once this many bytes of keys and values are waiting.
    size_t max_pending_bytes = 8u << 20;
    // Tests: false makes the destructor drop what is only in memory, as a crash would.
    bool commit_at_close = true;
  };

  // If a commit fails, the store refuses further work: Apply, Flush and friends return that
  // error from then on (and the state machine stops).
  WriteBehindStore(LmdbStore* store, Options opts);
  ~WriteBehindStore();
  WriteBehindStore(const WriteBehindStore&) = delete;
  WriteBehindStore& operator=(const WriteBehindStore&) = delete;

  // ---- readers: the newest applied state ----
  Result<std::optional<std::string>> Get(std::string_view key);
  // Flushes first when anything under `prefix` is still in memory, so listings need no merge.
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts);
  // Meta as committed to LMDB (what a restart would find).
  Result<std::optional<std::string>> CommittedMeta(std::string_view key);
  Status CheckKey(std::string_view key) const { return store_->CheckKey(key); }

  // ---- the writer ----
  // Applies the groups' ops in order (their strings are moved out) and records `meta` to be
  // written with them. Visible to readers on return. Fails for a key LMDB would refuse, or
  // after a failed commit; then nothing was applied.
  Status Apply(const std::vector<std::vector<TxnOp>*>& groups, Meta meta);

  // ---- any thread ----
  // Returns once everything applied before the call is committed to LMDB.
  Status Flush();
  // A consistent point-in-time view of everything applied before the call (data and meta),
  // without waiting for a commit: LMDB's committed state with copies of the in-memory
  // layers on top.
  Result<std::unique_ptr<LmdbStore::Snapshot>> Snapshot();
  // Flushes, then LmdbStore::ReplaceAll. The caller makes sure no Apply runs meanwhile.
  Status ReplaceAll(const std::function<Result<bool>(std::string* key, std::string* value)>& next,
                    const Meta& meta);

  // Counters (tests, bench): LMDB commits made by this store.
  uint64_t commits() const;

 private:
  // nullopt = deleted.
  using Layer = std::map<std::string, std::optional<std::string>, std::less<>>;
  void CommitterLoop();
  static bool HasPrefix(const Layer& l, std::string_view prefix);

  LmdbStore* store_;
  const Options opts_;

  // The layers: `active_` takes new applies; `flushing_` is being written to LMDB. A key is
  // looked up in active_, then flushing_, then LMDB. Only the committer moves data from
  // active_ to flushing_ and drops flushing_ after its commit.
  mutable std::mutex layers_mu_;
  Layer active_;                     // guarded by layers_mu_
  Layer flushing_;                   // changed under layers_mu_, by the committer only
  std::map<std::string, std::string> active_meta_;    // guarded by layers_mu_
  std::map<std::string, std::string> flushing_meta_;  // guarded like flushing_
  size_t active_bytes_ = 0;          // guarded by layers_mu_
  uint64_t applied_gen_ = 0;         // guarded by layers_mu_: one per Apply

  mutable std::mutex mu_;            // the committer's schedule
  std::condition_variable cv_;
  uint64_t signalled_gen_ = 0;       // guarded by mu_: applies the committer was told about
  uint64_t flush_target_ = 0;        // guarded by mu_: commit at least up to this gen now
  uint64_t committed_gen_ = 0;       // guarded by mu_
  std::chrono::steady_clock::time_point first_pending_{};  // guarded by mu_
  bool stop_ = false;                // guarded by mu_
  Status failure_;                   // guarded by mu_
  uint64_t commits_ = 0;             // guarded by mu_
  std::thread committer_;
};

}  // namespace tresor::raft
