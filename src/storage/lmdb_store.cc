#include "storage/lmdb_store.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

#include "storage/list_children.h"

namespace tresor {

namespace {

Status LmdbError(const char* what, int rc) {
  if (rc == MDB_MAP_FULL) return Status::IOError(std::string("storage full (") + what + ")");
  return Status::IOError(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// mkdir -p with mode 0700 for every component created.
Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidRequest("storage path is empty");
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create directory " + part + ": " + std::strerror(errno));
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::IOError("storage path is not a directory: " + dir);
  }
  return Status::Ok();
}

constexpr size_t kMaxPooledReaders = 64;

// LMDB forbids opening one env twice in a process (closing either drops the other's
// locks), so Open refuses a file that is already open here. Guarded by OpenFilesMu().
std::mutex& OpenFilesMu() {
  static std::mutex mu;
  return mu;
}
std::set<std::string>& OpenFiles() {
  static std::set<std::string> files;
  return files;
}

}  // namespace

struct LmdbStore::Impl {
  MDB_env* env = nullptr;
  MDB_dbi data = 0;
  MDB_dbi meta = 0;
  size_t max_key = 0;
  std::string registered;  // entry in OpenFiles() to remove on close, if any

  std::mutex pool_mu;
  std::vector<MDB_txn*> pool;  // reset read txns ready for mdb_txn_renew; guarded by pool_mu

  ~Impl() {
    for (MDB_txn* t : pool) mdb_txn_abort(t);
    if (env) mdb_env_close(env);
    if (!registered.empty()) {
      std::lock_guard lock(OpenFilesMu());
      OpenFiles().erase(registered);
    }
  }

  // A read txn borrowed from the pool for the duration of one call.
  class Reader {
   public:
    explicit Reader(Impl* impl) : impl_(impl) {}
    ~Reader() {
      if (!txn_) return;
      mdb_txn_reset(txn_);
      std::lock_guard lock(impl_->pool_mu);
      if (impl_->pool.size() < kMaxPooledReaders) {
        impl_->pool.push_back(txn_);
      } else {
        mdb_txn_abort(txn_);
      }
    }
    Status Begin() {
      {
        std::lock_guard lock(impl_->pool_mu);
        if (!impl_->pool.empty()) {
          txn_ = impl_->pool.back();
          impl_->pool.pop_back();
        }
      }
      if (txn_) {
        int rc = mdb_txn_renew(txn_);
        if (rc == MDB_SUCCESS) return Status::Ok();
        mdb_txn_abort(txn_);
        txn_ = nullptr;
      }
      int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn_);
      if (rc != MDB_SUCCESS) {
        txn_ = nullptr;
        return LmdbError("begin read", rc);
      }
      return Status::Ok();
    }
    MDB_txn* txn() const { return txn_; }

   private:
    Impl* impl_;
    MDB_txn* txn_ = nullptr;
  };

  Result<std::optional<std::string>> GetFrom(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
    if (key.empty() || key.size() > max_key) return std::optional<std::string>();
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    if (rc != MDB_SUCCESS) return LmdbError("get", rc);
    return std::optional<std::string>(std::string(View(v)));
  }

  Result<std::optional<std::string>> Get(MDB_dbi dbi, std::string_view key) {
    Reader r(this);
    RETURN_IF_ERROR(r.Begin());
    return GetFrom(r.txn(), dbi, key);
  }
};

LmdbStore::Snapshot::~Snapshot() = default;

namespace {

class LmdbSnapshot : public LmdbStore::Snapshot {
 public:
  LmdbSnapshot(MDB_txn* txn, MDB_dbi data, MDB_dbi meta, size_t max_key)
      : txn_(txn), data_(data), meta_(meta), max_key_(max_key) {}
  ~LmdbSnapshot() override { mdb_txn_abort(txn_); }

  Status ForEach(const std::function<Status(std::string_view, std::string_view)>& fn) override {
    MDB_cursor* cur = nullptr;
    int rc = mdb_cursor_open(txn_, data_, &cur);
    if (rc != MDB_SUCCESS) return LmdbError("cursor", rc);
    MDB_val k, v;
    Status st;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      st = fn(View(k), View(v));
      if (!st.ok()) break;
    }
    mdb_cursor_close(cur);
    if (!st.ok()) return st;
    if (rc != MDB_NOTFOUND) return LmdbError("iterate", rc);
    return Status::Ok();
  }

  Result<std::optional<std::string>> GetMeta(std::string_view key) override {
    if (key.empty() || key.size() > max_key_) return std::optional<std::string>();
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn_, meta_, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    if (rc != MDB_SUCCESS) return LmdbError("get", rc);
    return std::optional<std::string>(std::string(View(v)));
  }

 private:
  MDB_txn* txn_;
  MDB_dbi data_, meta_;
  size_t max_key_;
};

}  // namespace

LmdbStore::LmdbStore(std::string dir, std::unique_ptr<Impl> impl)
    : dir_(std::move(dir)), impl_(std::move(impl)) {}

LmdbStore::~LmdbStore() = default;

Result<std::unique_ptr<LmdbStore>> LmdbStore::Open(const std::string& dir, const LmdbOptions& opts) {
  RETURN_IF_ERROR(MakeDirs(dir));
  auto impl = std::make_unique<Impl>();
  std::string path = dir + "/" + opts.file_name;
  {
    char* real = realpath(dir.c_str(), nullptr);
    std::string id = (real ? std::string(real) : dir) + "/" + opts.file_name;
    free(real);
    std::lock_guard lock(OpenFilesMu());
    if (!OpenFiles().insert(id).second) {
      return Status::InvalidRequest("storage file is already open in this process: " + path);
    }
    impl->registered = id;
  }
  int rc = mdb_env_create(&impl->env);
  if (rc != MDB_SUCCESS) {
    impl->env = nullptr;
    return LmdbError("env create", rc);
  }
  if ((rc = mdb_env_set_maxdbs(impl->env, 2)) != MDB_SUCCESS) return LmdbError("set maxdbs", rc);
  if ((rc = mdb_env_set_mapsize(impl->env, opts.map_size)) != MDB_SUCCESS) return LmdbError("set mapsize", rc);
  // Each concurrent reader (pooled or snapshot) holds a slot; the default 126 is too few
  // for a large worker pool.
  if ((rc = mdb_env_set_maxreaders(impl->env, 1024)) != MDB_SUCCESS) return LmdbError("set maxreaders", rc);
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (opts.no_sync ? MDB_NOSYNC : 0);
  if ((rc = mdb_env_open(impl->env, path.c_str(), flags, 0600)) != MDB_SUCCESS) {
    return Status::IOError("cannot open storage file " + path + ": " + mdb_strerror(rc));
  }
  // Clear reader slots left behind by a process that died (kill -9).
  int dead = 0;
  mdb_reader_check(impl->env, &dead);
  impl->max_key = static_cast<size_t>(mdb_env_get_maxkeysize(impl->env));

  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(impl->env, nullptr, 0, &txn)) != MDB_SUCCESS) return LmdbError("begin", rc);
  if ((rc = mdb_dbi_open(txn, "data", MDB_CREATE, &impl->data)) != MDB_SUCCESS ||
      (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &impl->meta)) != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return LmdbError("open dbi", rc);
  }
  if ((rc = mdb_txn_commit(txn)) != MDB_SUCCESS) return LmdbError("commit", rc);
  return std::unique_ptr<LmdbStore>(new LmdbStore(dir, std::move(impl)));
}

size_t LmdbStore::max_key_size() const { return impl_->max_key; }

Status LmdbStore::CheckKey(std::string_view key) const {
  if (key.empty()) return Status::InvalidRequest("empty storage key");
  if (key.size() > impl_->max_key) {
    return Status::InvalidRequest("storage key too long (" + std::to_string(key.size()) + " > " +
                                  std::to_string(impl_->max_key) + " bytes)");
  }
  return Status::Ok();
}

Result<std::optional<std::string>> LmdbStore::Get(std::string_view key) {
  return impl_->Get(impl_->data, key);
}

Result<std::optional<std::string>> LmdbStore::GetMeta(std::string_view key) {
  return impl_->Get(impl_->meta, key);
}

Result<std::vector<std::string>> LmdbStore::List(std::string_view prefix, const ListOptions& opts) {
  Impl::Reader r(impl_.get());
  RETURN_IF_ERROR(r.Begin());
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(r.txn(), impl_->data, &cur);
  if (rc != MDB_SUCCESS) return LmdbError("cursor", rc);
  auto result = storage_internal::ListChildren(
      prefix, opts, [cur](std::string_view target) -> Result<std::optional<std::string_view>> {
        MDB_val k = Val(target), v;
        int rc = mdb_cursor_get(cur, &k, &v, target.empty() ? MDB_FIRST : MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
        if (rc != MDB_SUCCESS) return LmdbError("seek", rc);
        return std::optional<std::string_view>(View(k));
      });
  mdb_cursor_close(cur);
  return result;
}

Status LmdbStore::Write(const std::vector<TxnOp>& ops,
                        const std::vector<std::pair<std::string, std::string>>& meta) {
  return WriteMany({&ops}, meta);
}

Status LmdbStore::WriteMany(const std::vector<const std::vector<TxnOp>*>& groups,
                            const std::vector<std::pair<std::string, std::string>>& meta) {
  for (const auto* ops : groups) {
    for (const TxnOp& op : *ops) RETURN_IF_ERROR(CheckKey(op.key));
  }
  for (const auto& [k, v] : meta) RETURN_IF_ERROR(CheckKey(k));

  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return LmdbError("begin write", rc);
  for (const auto* ops : groups) {
    for (const TxnOp& op : *ops) {
      MDB_val k = Val(op.key);
      if (op.kind == TxnOp::Kind::kPut) {
        MDB_val v = Val(op.value);
        rc = mdb_put(txn, impl_->data, &k, &v, 0);
      } else {
        rc = mdb_del(txn, impl_->data, &k, nullptr);
        if (rc == MDB_NOTFOUND) rc = MDB_SUCCESS;
      }
      if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return LmdbError(op.kind == TxnOp::Kind::kPut ? "put" : "delete", rc);
      }
    }
  }
  for (const auto& [key, value] : meta) {
    MDB_val k = Val(key), v = Val(value);
    if ((rc = mdb_put(txn, impl_->meta, &k, &v, 0)) != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      return LmdbError("put meta", rc);
    }
  }
  if ((rc = mdb_txn_commit(txn)) != MDB_SUCCESS) return LmdbError("commit", rc);
  return Status::Ok();
}

Result<std::unique_ptr<LmdbStore::Snapshot>> LmdbStore::BeginSnapshot() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) return LmdbError("begin snapshot", rc);
  return std::unique_ptr<Snapshot>(new LmdbSnapshot(txn, impl_->data, impl_->meta, impl_->max_key));
}

Status LmdbStore::ReplaceAll(const std::function<Result<bool>(std::string* key, std::string* value)>& next,
                             const std::vector<std::pair<std::string, std::string>>& meta) {
  for (const auto& [k, v] : meta) RETURN_IF_ERROR(CheckKey(k));
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return LmdbError("begin write", rc);
  auto fail = [&](Status st) {
    mdb_txn_abort(txn);
    return st;
  };
  if ((rc = mdb_drop(txn, impl_->data, 0)) != MDB_SUCCESS) return fail(LmdbError("clear data", rc));
  if ((rc = mdb_drop(txn, impl_->meta, 0)) != MDB_SUCCESS) return fail(LmdbError("clear meta", rc));
  std::string key, value;
  while (true) {
    key.clear();
    value.clear();
    Result<bool> more = next(&key, &value);
    if (!more.ok()) return fail(more.status());
    if (!*more) break;
    Status st = CheckKey(key);
    if (!st.ok()) return fail(st);
    MDB_val k = Val(key), v = Val(value);
    if ((rc = mdb_put(txn, impl_->data, &k, &v, 0)) != MDB_SUCCESS) return fail(LmdbError("put", rc));
  }
  for (const auto& [mk, mv] : meta) {
    MDB_val k = Val(mk), v = Val(mv);
    if ((rc = mdb_put(txn, impl_->meta, &k, &v, 0)) != MDB_SUCCESS) return fail(LmdbError("put meta", rc));
  }
  if ((rc = mdb_txn_commit(txn)) != MDB_SUCCESS) return LmdbError("commit", rc);
  return Status::Ok();
}

}  // namespace tresor
