#include "storage/file_storage.h"
#include "common/thread_name.h"

#include <openssl/crypto.h>

namespace tresor {

struct FileStorage::Pending {
  const std::vector<TxnOp>* ops;
  Status result;
  bool done = false;
};

Result<std::unique_ptr<FileStorage>> FileStorage::Open(const FileStorageOptions& opts) {
  if (opts.path.empty()) return Status::InvalidRequest("'path' must be set for file storage");
  LmdbOptions lo;
  lo.no_sync = opts.no_sync;
  lo.map_size = opts.map_size;
  ASSIGN_OR_RETURN(std::unique_ptr<LmdbStore> store, LmdbStore::Open(opts.path, lo));
  return std::unique_ptr<FileStorage>(new FileStorage(std::move(store)));
}

FileStorage::FileStorage(std::unique_ptr<LmdbStore> store) : store_(std::move(store)) {
  writer_ = std::thread([this] {
    SetThreadName("storage-writer");
    WriterLoop();
  });
}

FileStorage::~FileStorage() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  writer_.join();
}

void FileStorage::WriterLoop() {
  std::vector<Pending*> batch;
  std::vector<const std::vector<TxnOp>*> groups;
  while (true) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    groups.clear();
    for (Pending* p : batch) groups.push_back(p->ops);
    Status st = store_->WriteMany(groups);
    {
      std::lock_guard lock(mu_);
      ++commits_;
      calls_ += batch.size();
      for (Pending* p : batch) {
        p->result = st;
        p->done = true;
      }
    }
    done_cv_.notify_all();
  }
}

Status FileStorage::Submit(const std::vector<TxnOp>& ops) {
  // Refuse bad keys here so one caller's mistake cannot fail a whole batch.
  for (const TxnOp& op : ops) RETURN_IF_ERROR(store_->CheckKey(op.key));
  if (ops.empty()) return Status::Ok();
  Pending p{&ops, Status(), false};
  std::unique_lock lock(mu_);
  if (stopping_) return Status::Unavailable("storage is closing");
  queue_.push_back(&p);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&p] { return p.done; });
  return p.result;
}

Result<std::optional<std::string>> FileStorage::Get(std::string_view key) {
  if (key.empty()) return Status::InvalidRequest("empty storage key");
  return store_->Get(key);
}

Status FileStorage::Put(std::string_view key, std::string_view value) {
  std::vector<TxnOp> ops{TxnOp{TxnOp::Kind::kPut, std::string(key), std::string(value)}};
  Status st = Submit(ops);
  OPENSSL_cleanse(ops[0].value.data(), ops[0].value.size());
  return st;
}

Status FileStorage::Delete(std::string_view key) {
  std::vector<TxnOp> ops{TxnOp{TxnOp::Kind::kDelete, std::string(key), std::string()}};
  return Submit(ops);
}

Result<std::vector<std::string>> FileStorage::List(std::string_view prefix, const ListOptions& opts) {
  return store_->List(prefix, opts);
}

Status FileStorage::Transaction(const std::vector<TxnOp>& ops) { return Submit(ops); }

uint64_t FileStorage::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

uint64_t FileStorage::batched_calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

}  // namespace tresor
