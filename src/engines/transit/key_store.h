// KeyStore: the transit keys of one mount, loaded from storage once and cached in memory.
//
// Readers get an immutable snapshot (PolicyPtr) without taking any lock a writer holds for
// long: each cached key keeps its current snapshot behind a lock held only to copy the
// pointer. Writers of one key (rotate, config, trim, import, backup stamp) serialise on
// that key's mutex, copy the snapshot, persist the copy, then publish it. Key material of a dropped snapshot is wiped
// when its last reader lets go (KeyVersion owns SecureStrings and OpenSSL keys).
//
// Thread-safe; all methods may be called from any worker thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "engines/transit/policy.h"
#include "storage/storage.h"

namespace tresor::transit {

class KeyStore {
 public:
  explicit KeyStore(Storage* storage) : storage_(storage) {}

  // The key named `name`, or nullptr if there is none.
  Result<PolicyPtr> Get(const std::string& name);

  // Creates the key with `make` unless it exists. Returns the key and whether it was created.
  Result<std::pair<PolicyPtr, bool>> GetOrCreate(const std::string& name,
                                                 const std::function<Result<std::shared_ptr<Policy>>()>& make);

  // Applies `mutate` to a private copy of the key and persists and publishes it. nullptr if
  // the key does not exist. If `mutate` fails nothing changes.
  Result<PolicyPtr> Update(const std::string& name, const std::function<Status(Policy&)>& mutate);

  // Deletes the key if `allowed` says so (checked under the key's write lock).
  // NotFound if absent.
  Status Delete(const std::string& name, const std::function<Status(const Policy&)>& allowed);

  // Writes a whole policy (restore). Replaces any cached copy.
  Status Put(std::shared_ptr<Policy> p);

  Result<std::vector<std::string>> List();

  // Cache size limit (0 = unlimited); past it, cached keys are evicted (and wiped).
  void SetCacheSize(int64_t n);
  // Drops every cached key (seal/unmount).
  void Clear();

 private:
  struct Entry {
    std::mutex write_mu;                           // serialises writers of this key
    bool deleted = false;                          // guarded by write_mu
    // Current version. The lock is held only to copy or swap the pointer, never across
    // crypto or storage, so readers do not wait on writers' work.
    mutable std::shared_mutex snap_mu;
    std::shared_ptr<const Policy> snap;  // guarded by snap_mu
    PolicyPtr Load() const {
      std::shared_lock l(snap_mu);
      return snap;
    }
    void Store(PolicyPtr p) {
      std::unique_lock l(snap_mu);
      snap.swap(p);
    }  // the old snapshot is released outside the lock (p's destructor)
  };
  Result<std::shared_ptr<Entry>> Load(const std::string& name);
  Status Persist(const Policy& p);
  void EvictIfNeeded();

  Storage* storage_;
  std::shared_mutex mu_;  // guards entries_
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::mutex create_mu_;  // serialises creation/restore/deletion (rare)
  std::atomic<int64_t> cache_size_{0};
};

}  // namespace tresor::transit
