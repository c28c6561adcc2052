#include "raft/write_behind.h"

#include <algorithm>
#include <random>

#include "common/log.h"
#include "common/thread_name.h"

namespace tresor::raft {

namespace {

// LMDB's committed state with a copy of the in-memory layers on top, read in key order.
class MergedSnapshot : public LmdbStore::Snapshot {
 public:
  using Layer = std::map<std::string, std::optional<std::string>, std::less<>>;
  MergedSnapshot(std::unique_ptr<LmdbStore::Snapshot> base, Layer top, std::map<std::string, std::string> meta)
      : base_(std::move(base)), top_(std::move(top)), meta_(std::move(meta)) {}

  Status ForEach(const std::function<Status(std::string_view, std::string_view)>& fn) override {
    auto it = top_.begin();
    // Emits the layer's entries ordered before `key` (deleted ones are skipped).
    auto emit_before = [&](std::string_view key, bool all) -> Status {
      for (; it != top_.end() && (all || it->first < key); ++it) {
        if (it->second) RETURN_IF_ERROR(fn(it->first, *it->second));
      }
      return Status::Ok();
    };
    RETURN_IF_ERROR(base_->ForEach([&](std::string_view k, std::string_view v) -> Status {
      RETURN_IF_ERROR(emit_before(k, false));
      if (it != top_.end() && it->first == k) {  // the layer's newer value (or deletion) wins
        Status st = it->second ? fn(it->first, *it->second) : Status::Ok();
        ++it;
        return st;
      }
      return fn(k, v);
    }));
    return emit_before({}, true);
  }

  Result<std::optional<std::string>> GetMeta(std::string_view key) override {
    if (auto it = meta_.find(std::string(key)); it != meta_.end()) return std::optional<std::string>(it->second);
    return base_->GetMeta(key);
  }

 private:
  std::unique_ptr<LmdbStore::Snapshot> base_;
  Layer top_;
  std::map<std::string, std::string> meta_;
};

}  // namespace

WriteBehindStore::WriteBehindStore(LmdbStore* store, Options opts) : store_(store), opts_(opts) {
  committer_ = std::thread([this] {
    SetThreadName("raft-fsm-commit");
    CommitterLoop();
  });
}

WriteBehindStore::~WriteBehindStore() {
  uint64_t gen;
  {
    std::lock_guard<std::mutex> r(layers_mu_);
    gen = applied_gen_;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (opts_.commit_at_close) {
      signalled_gen_ = std::max(signalled_gen_, gen);
    } else {
      committed_gen_ = signalled_gen_ = gen;  // nothing left to do: dropped
    }
    stop_ = true;
  }
  cv_.notify_all();
  committer_.join();
}

bool WriteBehindStore::HasPrefix(const Layer& l, std::string_view prefix) {
  auto it = l.lower_bound(prefix);
  return it != l.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
}

Result<std::optional<std::string>> WriteBehindStore::Get(std::string_view key) {
  {
    std::lock_guard<std::mutex> r(layers_mu_);
    if (auto it = active_.find(key); it != active_.end()) return it->second;
    if (auto it = flushing_.find(key); it != flushing_.end()) return it->second;
  }
  // Not in memory when we looked: LMDB holds the newest value (a later apply is concurrent
  // with this read).
  return store_->Get(key);
}

Result<std::vector<std::string>> WriteBehindStore::List(std::string_view prefix, const ListOptions& opts) {
  bool pending;
  {
    std::lock_guard<std::mutex> r(layers_mu_);
    pending = HasPrefix(active_, prefix) || HasPrefix(flushing_, prefix);
  }
  if (pending) RETURN_IF_ERROR(Flush());
  return store_->List(prefix, opts);
}

Result<std::optional<std::string>> WriteBehindStore::CommittedMeta(std::string_view key) {
  return store_->GetMeta(key);
}

Status WriteBehindStore::Apply(const std::vector<std::vector<TxnOp>*>& groups, Meta meta) {
  for (const auto* g : groups) {
    for (const auto& op : *g) RETURN_IF_ERROR(store_->CheckKey(op.key));
  }
  for (const auto& [k, v] : meta) RETURN_IF_ERROR(store_->CheckKey(k));
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!failure_.ok()) return failure_;
  }
  uint64_t gen;
  size_t bytes;
  {
    std::lock_guard<std::mutex> w(layers_mu_);
    for (auto* g : groups) {
      for (auto& op : *g) {
        active_bytes_ += op.key.size() + op.value.size() + 32;
        if (op.kind == TxnOp::Kind::kPut) {
          active_.insert_or_assign(std::move(op.key), std::optional<std::string>(std::move(op.value)));
        } else {
          active_.insert_or_assign(std::move(op.key), std::nullopt);
        }
      }
    }
    for (auto& [k, v] : meta) active_meta_.insert_or_assign(std::move(k), std::move(v));
    gen = ++applied_gen_;
    bytes = active_bytes_;
  }
  bool wake;
  {
    std::lock_guard<std::mutex> l(mu_);
    bool was_idle = signalled_gen_ <= committed_gen_;
    if (was_idle) first_pending_ = std::chrono::steady_clock::now();
    signalled_gen_ = std::max(signalled_gen_, gen);
    bool full = bytes >= opts_.max_pending_bytes;
    if (full) flush_target_ = std::max(flush_target_, gen);
    wake = was_idle || full;
  }
  if (wake) cv_.notify_all();
  return Status::Ok();
}

Status WriteBehindStore::Flush() {
  uint64_t target;
  {
    std::lock_guard<std::mutex> r(layers_mu_);
    target = applied_gen_;
  }
  std::unique_lock<std::mutex> l(mu_);
  if (!failure_.ok()) return failure_;
  if (committed_gen_ >= target) return Status::Ok();
  signalled_gen_ = std::max(signalled_gen_, target);
  flush_target_ = std::max(flush_target_, target);
  cv_.notify_all();
  cv_.wait(l, [&] { return committed_gen_ >= target || !failure_.ok(); });
  return failure_;
}

Result<std::unique_ptr<LmdbStore::Snapshot>> WriteBehindStore::Snapshot() {
  // Under layers_mu_ nothing is applied and flushing_ is not dropped, so the LMDB read
  // transaction and the copies describe the same moment: flushing_ is either not yet
  // committed (and copied) or committed (and copied or already dropped); active_ is never
  // in LMDB.
  std::lock_guard<std::mutex> l(layers_mu_);
  Layer top = flushing_;
  for (const auto& [k, v] : active_) top.insert_or_assign(k, v);
  std::map<std::string, std::string> meta = flushing_meta_;
  for (const auto& [k, v] : active_meta_) meta.insert_or_assign(k, v);
  ASSIGN_OR_RETURN(auto base, store_->BeginSnapshot());
  return std::unique_ptr<LmdbStore::Snapshot>(new MergedSnapshot(std::move(base), std::move(top), std::move(meta)));
}

Status WriteBehindStore::ReplaceAll(const std::function<Result<bool>(std::string* key, std::string* value)>& next,
                                    const Meta& meta) {
  RETURN_IF_ERROR(Flush());
  return store_->ReplaceAll(next, meta);
}

uint64_t WriteBehindStore::commits() const {
  std::lock_guard<std::mutex> l(mu_);
  return commits_;
}

void WriteBehindStore::CommitterLoop() {
  // Each wait is the interval ±25%, drawn anew after every commit. Nodes that share a disk
  // (a test cluster, or pods on one host) would otherwise commit in lockstep: they apply
  // the same entries at the same moment, and the bursts of LMDB page writeback they start
  // together delayed every raft log write on the device by up to ~40 ms (perf trace of
  // bench/raft_cluster).
  std::minstd_rand rng(std::random_device{}());
  const int64_t ms = std::max<int64_t>(0, opts_.interval.count());
  std::uniform_int_distribution<int64_t> spread(ms * 3 / 4, ms * 5 / 4);
  auto wait = std::chrono::milliseconds(spread(rng));
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    // Wait until something is pending and either its time has come or someone asked.
    for (;;) {
      bool pending = failure_.ok() && signalled_gen_ > committed_gen_;
      if (stop_ && !pending) return;
      if (pending) {
        auto due = first_pending_ + wait;
        if (stop_ || flush_target_ > committed_gen_ || std::chrono::steady_clock::now() >= due) break;
        cv_.wait_until(l, due);
      } else {
        cv_.wait(l);
      }
    }
    l.unlock();

    auto started = std::chrono::steady_clock::now();
    uint64_t gen;
    Meta meta;
    {
      std::lock_guard<std::mutex> w(layers_mu_);
      flushing_.swap(active_);  // flushing_ is empty here: the last commit dropped it
      flushing_meta_.swap(active_meta_);
      gen = applied_gen_;
      meta.assign(flushing_meta_.begin(), flushing_meta_.end());
      active_bytes_ = 0;
    }
    // flushing_ is only changed by this thread, so reading it unlocked here is safe.
    std::vector<TxnOp> ops;
    ops.reserve(flushing_.size());
    for (const auto& [k, v] : flushing_) {
      ops.push_back(v ? TxnOp{TxnOp::Kind::kPut, k, *v} : TxnOp{TxnOp::Kind::kDelete, k, ""});
    }
    Status st = store_->WriteMany({&ops}, meta);
    ops.clear();
    if (st.ok()) {
      Layer done;
      {
        std::lock_guard<std::mutex> w(layers_mu_);
        done.swap(flushing_);  // now in LMDB; freed outside the lock
        flushing_meta_.clear();
      }
    }

    l.lock();
    wait = std::chrono::milliseconds(spread(rng));
    if (st.ok()) {
      committed_gen_ = std::max(committed_gen_, gen);
      commits_++;
      // What was applied during this commit has waited since it started at most.
      if (signalled_gen_ > gen) first_pending_ = started;
    } else {
      failure_ = st;
    }
    cv_.notify_all();
    if (!st.ok()) LOG_ERROR("raft state machine: commit to LMDB failed: {}", st.ToString());
  }
}

}  // namespace tresor::raft
