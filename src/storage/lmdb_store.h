// LmdbStore: a thin wrapper over one LMDB environment, shared by the file backend
// (FileStorage) and the raft state machine.
//
// Layout: one env in `dir/<file_name>` (MDB_NOSUBDIR, MDB_NOTLS) with two named DBIs:
// "data" (the key/value content) and "meta" (bookkeeping such as raft's applied index,
// written in the same transaction as the data it describes).
//
// Threading: every method may be called from any thread. LMDB allows one writer at a
// time (Write/ReplaceAll serialise on LMDB's writer lock); readers (Get/List/GetMeta and
// Snapshots) never block and never block the writer. A Snapshot is an LMDB read txn opened
// with MDB_NOTLS, so it may be created on one thread and iterated on another; while it is
// open, pages it sees cannot be reused, so do not keep one open longer than needed.
//
// Ownership: the LmdbStore owns the env; every Snapshot must be destroyed before it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/storage.h"

namespace tresor {

struct LmdbOptions {
  size_t map_size = 64ull << 30;  // virtual address reservation; the file grows as needed
  bool no_sync = false;           // skip fsync at commit (tests / dev only: not durable)
  std::string file_name = "data.mdb";
};

class LmdbStore {
 public:
  // Opens (creating if needed) the store in `dir`; creates `dir` with mode 0700 if absent.
  // A file already open in this process is refused (LMDB cannot share an env that way).
  static Result<std::unique_ptr<LmdbStore>> Open(const std::string& dir, const LmdbOptions& opts);
  ~LmdbStore();
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  // Value of `key` in "data", or nullopt.
  Result<std::optional<std::string>> Get(std::string_view key);
  // Immediate children of `prefix` in "data"; same semantics as Storage::List.
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts);

  // One write transaction: `ops` applied to "data" in order, plus `meta` key/values written
  // to "meta"; committed durably (fsync unless no_sync). All or nothing.
  Status Write(const std::vector<TxnOp>& ops,
               const std::vector<std::pair<std::string, std::string>>& meta = {});
  // Like Write, for several independent op lists applied in order in one transaction (one
  // fsync); used for group commit. A failure fails the whole transaction.
  Status WriteMany(const std::vector<const std::vector<TxnOp>*>& groups,
                   const std::vector<std::pair<std::string, std::string>>& meta = {});
  // Ok if `key` can be stored (non-empty, at most max_key_size() bytes), else
  // InvalidRequest. Write checks this itself; exposed so callers can refuse early.
  Status CheckKey(std::string_view key) const;
  size_t max_key_size() const;

  // Value of `key` in "meta", or nullopt.
  Result<std::optional<std::string>> GetMeta(std::string_view key);

  // A consistent point-in-time view (one LMDB read txn). Usable from any one thread at a
  // time; must not outlive the LmdbStore.
  class Snapshot {
   public:
    virtual ~Snapshot();
    // Calls fn for every "data" entry in key order; stops at (and returns) the first error.
    virtual Status ForEach(
        const std::function<Status(std::string_view key, std::string_view value)>& fn) = 0;
    virtual Result<std::optional<std::string>> GetMeta(std::string_view key) = 0;
  };
  Result<std::unique_ptr<Snapshot>> BeginSnapshot();

  // Atomically replaces all of "data" and "meta": data becomes the entries produced by
  // `next` (called until it returns false or an error; an error aborts and leaves the old
  // content untouched), meta becomes exactly `meta`. Committed durably like Write.
  Status ReplaceAll(const std::function<Result<bool>(std::string* key, std::string* value)>& next,
                    const std::vector<std::pair<std::string, std::string>>& meta);

  const std::string& dir() const { return dir_; }

 private:
  struct Impl;
  LmdbStore(std::string dir, std::unique_ptr<Impl> impl);
  std::string dir_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tresor
