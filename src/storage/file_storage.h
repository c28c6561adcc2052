// FileStorage: the persistent single-node backend (`storage "file" { path = ... }`), one
// LMDB file under `path`.
//
// Writes use group commit: each Put/Delete/Transaction call queues its ops and blocks; one
// writer thread takes everything queued, applies it in one LMDB write transaction with one
// fsync, then wakes those callers with the shared result. A caller's ops stay atomic (they
// are in one txn); if the txn fails, every caller in that batch gets the error. Reads go
// straight to LMDB and see every write acknowledged before they started.
//
// Thread-safe. Destruction drains the queue (queued writes are committed) and joins the
// writer; no call may be in flight or start once destruction has begun.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "storage/lmdb_store.h"
#include "storage/storage.h"

namespace tresor {

struct FileStorageOptions {
  std::string path;        // directory; created 0700 if absent
  bool no_sync = false;    // tests only: skip fsync
  size_t map_size = 64ull << 30;
};

class FileStorage : public Storage {
 public:
  static Result<std::unique_ptr<FileStorage>> Open(const FileStorageOptions& opts);
  ~FileStorage() override;

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Put(std::string_view key, std::string_view value) override;
  Status Delete(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) override;
  Status Transaction(const std::vector<TxnOp>& ops) override;

  // Counters for benchmarks/tests: write txns committed and ops callers submitted.
  uint64_t commits() const;
  uint64_t batched_calls() const;

 private:
  struct Pending;
  explicit FileStorage(std::unique_ptr<LmdbStore> store);
  Status Submit(const std::vector<TxnOp>& ops);
  void WriterLoop();

  std::unique_ptr<LmdbStore> store_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // writer waits for queue_ non-empty or stopping_
  std::condition_variable done_cv_;   // callers wait for their Pending::done
  std::deque<Pending*> queue_;        // guarded by mu_; callers own the Pendings
  bool stopping_ = false;             // guarded by mu_
  uint64_t commits_ = 0;              // guarded by mu_
  uint64_t calls_ = 0;                // guarded by mu_
  std::thread writer_;
};

}  // namespace tresor
