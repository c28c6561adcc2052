#include "raft/raft_fsm.h"

#include <openssl/sha.h>

#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "raft/raft_shim.h"

namespace tresor::raft {

namespace {

constexpr char kMetaIndex[] = "raft/applied_index";
constexpr char kMetaTerm[] = "raft/applied_term";
constexpr char kMetaNodes[] = "raft/nodes";
constexpr char kSnapMagic[8] = {'T', 'R', 'S', 'N', 'A', 'P', '0', '1'};

constexpr uint8_t kMagic = 0x54;
constexpr uint8_t kVersion = 1;
enum EntryKind : uint8_t { kData = 1, kRegister = 2, kRemoved = 3, kRestoreCommit = 4 };

// The N little-endian bytes of v (entries and snapshots use the same encoding).
template <int N>
std::array<char, N> LittleEndian(uint64_t v) {
  std::array<char, N> b;
  for (int i = 0; i < N; i++) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return b;
}
void PutU32(std::string* s, uint32_t v) { s->append(LittleEndian<4>(v).data(), 4); }
void PutU64(std::string* s, uint64_t v) { s->append(LittleEndian<8>(v).data(), 8); }
void PutBytes(std::string* s, std::string_view v) {
  PutU32(s, static_cast<uint32_t>(v.size()));
  s->append(v);
}

// Bounds-checked little-endian reader.
class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool U8(uint8_t* v) {
    if (d_.size() < 1) return false;
    *v = static_cast<uint8_t>(d_[0]);
    d_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (d_.size() < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) r |= static_cast<uint32_t>(static_cast<uint8_t>(d_[i])) << (8 * i);
    *v = r;
    d_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (d_.size() < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) r |= static_cast<uint64_t>(static_cast<uint8_t>(d_[i])) << (8 * i);
    *v = r;
    d_.remove_prefix(8);
    return true;
  }
  bool Bytes(std::string_view* v) {
    uint32_t n;
    if (!U32(&n) || d_.size() < n) return false;
    *v = d_.substr(0, n);
    d_.remove_prefix(n);
    return true;
  }
  bool Raw(size_t n, std::string_view* v) {
    if (d_.size() < n) return false;
    *v = d_.substr(0, n);
    d_.remove_prefix(n);
    return true;
  }
  bool empty() const { return d_.empty(); }
  // Entries are zero-padded to a multiple of 8 bytes (libraft requires it).
  bool done() const { return d_.size() < 8; }

 private:
  std::string_view d_;
};

std::string Header(EntryKind kind, uint64_t term, uint32_t count) {
  std::string s;
  s.push_back(static_cast<char>(kMagic));
  s.push_back(static_cast<char>(kVersion));
  s.push_back(static_cast<char>(kind));
  s.push_back(0);
  PutU64(&s, term);
  PutU32(&s, count);
  return s;
}

// A decoded entry: either groups of data ops or a registry change.
struct Decoded {
  EntryKind kind = kData;
  uint64_t term = 0;
  std::vector<std::vector<TxnOp>> groups;
  uint64_t raft_id = 0;
  std::string node_id;  // kRegister: the node id; kRestoreCommit: the restore id
};

bool DecodeEntry(std::string_view data, Decoded* out) {
  Reader r(data);
  uint8_t magic, version, kind, pad;
  uint32_t count;
  if (!r.U8(&magic) || !r.U8(&version) || !r.U8(&kind) || !r.U8(&pad) || !r.U64(&out->term) ||
      !r.U32(&count))
    return false;
  if (magic != kMagic || version != kVersion) return false;
  out->kind = static_cast<EntryKind>(kind);
  switch (kind) {
    case kData:
      out->groups.resize(count);
      for (uint32_t g = 0; g < count; g++) {
        uint32_t nops;
        if (!r.U32(&nops)) return false;
        auto& ops = out->groups[g];
        ops.reserve(nops);
        for (uint32_t i = 0; i < nops; i++) {
          uint8_t k;
          std::string_view key, value;
          if (!r.U8(&k) || !r.Bytes(&key) || !r.Bytes(&value) || k > 1) return false;
          ops.push_back(TxnOp{k == 0 ? TxnOp::Kind::kPut : TxnOp::Kind::kDelete, std::string(key),
                              std::string(value)});
        }
      }
      return r.done();
    case kRegister: {
      std::string_view name;
      if (!r.U64(&out->raft_id) || !r.Bytes(&name)) return false;
      out->node_id = std::string(name);
      return r.done();
    }
    case kRemoved:
      return r.U64(&out->raft_id) && r.done();
    case kRestoreCommit: {
      std::string_view id;
      if (!r.Bytes(&id)) return false;
      out->node_id = std::string(id);
      return r.done();
    }
    default:
      return false;
  }
}

std::map<uint64_t, NodeRecord> ParseRegistry(std::string_view json) {
  std::map<uint64_t, NodeRecord> reg;
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return reg;
  for (auto& [k, v] : j.items()) {
    if (!v.is_object()) continue;
    uint64_t id = std::strtoull(k.c_str(), nullptr, 16);
    NodeRecord rec;
    rec.node_id = v.value("node_id", "");
    rec.removed = v.value("removed", false);
    reg[id] = std::move(rec);
  }
  return reg;
}

std::string Hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

uint64_t ParseU64(const std::optional<std::string>& s) {
  return s ? std::strtoull(s->c_str(), nullptr, 10) : 0;
}

}  // namespace

uint64_t RaftIdFor(std::string_view node_id) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(node_id.data()), node_id.size(), md);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | md[i];
  v &= 0x7fffffffffffffffULL;  // keep ids printable as signed too
  return v == 0 ? 1 : v;
}

std::string EncodeGroup(const std::vector<TxnOp>& ops) {
  size_t n = 4;
  for (const auto& op : ops) n += 9 + op.key.size() + op.value.size();
  std::string s;
  s.reserve(n);
  PutU32(&s, static_cast<uint32_t>(ops.size()));
  for (const auto& op : ops) {
    s.push_back(op.kind == TxnOp::Kind::kPut ? 0 : 1);
    PutBytes(&s, op.key);
    PutBytes(&s, op.kind == TxnOp::Kind::kPut ? std::string_view(op.value) : std::string_view());
  }
  return s;
}

std::string EncodeDataEntry(uint64_t term, const std::vector<const std::string*>& groups) {
  std::string s = Header(kData, term, static_cast<uint32_t>(groups.size()));
  size_t n = s.size();
  for (const auto* g : groups) n += g->size();
  s.reserve(n);
  for (const auto* g : groups) s.append(*g);
  return s;
}

std::string EncodeRegisterEntry(uint64_t term, uint64_t raft_id, std::string_view node_id) {
  std::string s = Header(kRegister, term, 0);
  PutU64(&s, raft_id);
  PutBytes(&s, node_id);
  return s;
}

void SetEntryTerm(std::string* entry, uint64_t term) {
  if (entry->size() < kEntryHeaderSize) return;
  for (int i = 0; i < 8; i++) (*entry)[4 + i] = static_cast<char>((term >> (8 * i)) & 0xff);
}

std::string EncodeRemovedEntry(uint64_t term, uint64_t raft_id) {
  std::string s = Header(kRemoved, term, 0);
  PutU64(&s, raft_id);
  return s;
}

std::string EncodeRestoreCommitEntry(uint64_t term, std::string_view restore_id) {
  std::string s = Header(kRestoreCommit, term, 0);
  PutBytes(&s, restore_id);
  return s;
}

std::string RestoreStagingPrefix(std::string_view restore_id) {
  return std::string(kRestoreStagingRoot) + std::string(restore_id) + "/";
}

namespace {
// Whether an encoded entry is a restore commit (peeked without decoding the rest).
bool IsRestoreCommit(std::string_view data) {
  return data.size() >= 3 && static_cast<uint8_t>(data[0]) == kMagic && static_cast<uint8_t>(data[2]) == kRestoreCommit;
}

// Keys the seal and core read from LMDB alone, before raft starts at unseal (seal
// configuration, root key, keyring, mount tables, cluster TLS): a write to one is flushed
// to LMDB before it is acknowledged, so a restart finds it even if the process dies at once.
// Not the active node's record (core/ha/): nothing reads it before raft runs, and a new
// leader writes it first thing, so flushing it would only delay every failover.
bool NeededBeforeUnseal(std::string_view key) {
  return key.substr(0, 5) == "core/" && key.substr(0, 8) != "core/ha/";
}
}  // namespace

// ---- RaftFsm -------------------------------------------------------------------------

RaftFsm::RaftFsm(WriteBehindStore* store) : store_(store) {}

Result<std::unique_ptr<RaftFsm>> RaftFsm::Open(WriteBehindStore* store) {
  std::unique_ptr<RaftFsm> f(new RaftFsm(store));
  ASSIGN_OR_RETURN(auto idx, store->CommittedMeta(kMetaIndex));
  ASSIGN_OR_RETURN(auto nodes, store->CommittedMeta(kMetaNodes));
  f->applied_ = f->enqueued_ = ParseU64(idx);
  if (nodes) f->registry_ = ParseRegistry(*nodes);
  f->writer_ = std::thread([p = f.get()] {
    SetThreadName("raft-fsm");
    p->WriterLoop();
  });
  return f;
}

RaftFsm::~RaftFsm() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  image_.reset();
  capture_.reset();
  // Anyone still waiting will never see their index applied here.
  std::multimap<uint64_t, std::function<void(const Status&)>> w;
  {
    std::lock_guard<std::mutex> l(mu_);
    w.swap(waiters_);
  }
  Status st = Status::Unavailable(
      "raft shut down after the write was committed but before it was applied locally; "
      "the write may or may not have been applied");
  for (auto& [i, fn] : w) fn(st);
}

std::string RaftFsm::RegistryJson(const std::map<uint64_t, NodeRecord>& reg) const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [id, rec] : reg) j[Hex64(id)] = {{"node_id", rec.node_id}, {"removed", rec.removed}};
  return j.dump();
}

int RaftFsm::ApplyEntry(uint64_t index, std::string_view data) {
  std::unique_lock<std::mutex> l(mu_);
  if (!failure_.ok()) return TR_RAFT_IOERR;
  if (index <= enqueued_) {  // already in LMDB (log replay after restart)
    entries_skipped_++;
    return 0;
  }
  enqueued_ = index;
  queue_.push_back(Pending{index, std::string(data)});
  l.unlock();
  cv_.notify_all();
  return 0;
}

void RaftFsm::Fail(const Status& st) {
  std::multimap<uint64_t, std::function<void(const Status&)>> w;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (failure_.ok()) failure_ = st;
    w.swap(waiters_);
  }
  LOG_ERROR("raft state machine stopped: {}", st.ToString());
  for (auto& [i, fn] : w) fn(st);
  cv_.notify_all();
}

void RaftFsm::WriterLoop() {
  for (;;) {
    std::deque<Pending> batch;
    std::map<uint64_t, NodeRecord> reg;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      // A restore commit reads the whole state, so it runs in a transaction of its own:
      // take the entries before it, or it alone.
      size_t n = 0;
      while (n < queue_.size() && !IsRestoreCommit(queue_[n].data)) n++;
      if (n == 0) n = 1;
      for (size_t i = 0; i < n; i++) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      reg = registry_;
    }
    // Decode everything, then apply the whole batch at once.
    std::vector<Decoded> decoded(batch.size());
    std::vector<std::vector<TxnOp>*> groups;
    bool flush = false;  // must be in LMDB before it is acknowledged
    std::vector<TxnOp> restore_ops;
    bool reg_changed = false;
    Status st;
    uint64_t last_term = 0;
    for (size_t i = 0; i < batch.size(); i++) {
      if (!DecodeEntry(batch[i].data, &decoded[i])) {
        st = Status::Corruption("raft entry " + std::to_string(batch[i].index) + " is malformed");
        break;
      }
      auto& d = decoded[i];
      last_term = d.term;
      switch (d.kind) {
        case kData:
          for (auto& g : d.groups) {
            groups.push_back(&g);
            for (const auto& op : g) flush = flush || NeededBeforeUnseal(op.key);
          }
          break;
        case kRegister:
          reg[d.raft_id] = NodeRecord{d.node_id, false};
          reg_changed = flush = true;
          break;
        case kRemoved:
          reg[d.raft_id].removed = true;
          reg_changed = flush = true;
          break;
        case kRestoreCommit:
          // Alone in its batch (see above). A failure here is deterministic on every
          // node (same state, same entry), so the whole cluster stops the same way.
          st = RestoreOps(d.node_id, &restore_ops);
          if (st.ok()) groups.push_back(&restore_ops);
          flush = true;
          break;
      }
      if (!st.ok()) break;
    }
    uint64_t last = batch.back().index;
    if (st.ok()) {
      std::vector<std::pair<std::string, std::string>> meta = {
          {kMetaIndex, std::to_string(last)}, {kMetaTerm, std::to_string(last_term)}};
      if (reg_changed) meta.emplace_back(kMetaNodes, RegistryJson(reg));
      st = store_->Apply(groups, std::move(meta));
      if (st.ok() && flush) st = store_->Flush();
    }
    if (!st.ok()) {
      Fail(st);
      continue;  // keep draining the queue so Drain() returns; entries are rejected
    }
    std::vector<std::function<void(const Status&)>> ready;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!failure_.ok()) continue;
      applied_ = last;
      entries_applied_ += batch.size();
      if (reg_changed) registry_ = std::move(reg);
      auto end = waiters_.upper_bound(applied_);
      for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
      waiters_.erase(waiters_.begin(), end);
    }
    cv_.notify_all();
    Status ok;
    for (auto& fn : ready) fn(ok);
  }
}

void RaftFsm::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !failure_.ok() || applied_ >= enqueued_; });
}

void RaftFsm::WhenApplied(uint64_t index, std::function<void(const Status&)> done) {
  std::unique_lock<std::mutex> l(mu_);
  if (!failure_.ok()) {
    Status st = failure_;
    l.unlock();
    done(st);
    return;
  }
  if (applied_ >= index) {
    l.unlock();
    done(Status::Ok());
    return;
  }
  waiters_.emplace(index, std::move(done));
}

uint64_t RaftFsm::applied_index() const {
  std::lock_guard<std::mutex> l(mu_);
  return applied_;
}
uint64_t RaftFsm::enqueued_index() const {
  std::lock_guard<std::mutex> l(mu_);
  return enqueued_;
}
uint64_t RaftFsm::snapshot_index() const {
  std::lock_guard<std::mutex> l(mu_);
  return snapshot_index_;
}
Status RaftFsm::failure() const {
  std::lock_guard<std::mutex> l(mu_);
  return failure_;
}
std::optional<NodeRecord> RaftFsm::Node(uint64_t raft_id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = registry_.find(raft_id);
  if (it == registry_.end()) return std::nullopt;
  return it->second;
}

Status RaftFsm::RestoreOps(std::string_view restore_id, std::vector<TxnOp>* ops) {
  const std::string prefix = RestoreStagingPrefix(restore_id);
  ASSIGN_OR_RETURN(auto snap, store_->Snapshot());
  std::vector<std::string> existing;
  std::vector<std::pair<std::string, std::string>> staged;
  RETURN_IF_ERROR(snap->ForEach([&](std::string_view k, std::string_view v) {
    if (k.substr(0, prefix.size()) == prefix) {
      staged.emplace_back(std::string(k.substr(prefix.size())), std::string(v));
    } else if (k != kRestoreKeepKey && k.substr(0, kRestoreStagingRoot.size()) != kRestoreStagingRoot) {
      existing.emplace_back(k);
    }
    return Status::Ok();
  }));
  snap.reset();
  if (staged.empty()) {
    // Nothing staged under that id (never written, or already committed on a replay):
    // leave the state alone rather than wipe it.
    LOG_WARN("raft: restore {} has nothing staged; ignored", restore_id);
    return Status::Ok();
  }
  // staged is in key order (ForEach walks keys in order, and the prefix is common).
  size_t j = 0;
  ops->reserve(existing.size() + 2 * staged.size());
  for (auto& k : existing) {
    while (j < staged.size() && staged[j].first < k) j++;
    if (j < staged.size() && staged[j].first == k) continue;  // overwritten below
    ops->push_back(TxnOp{TxnOp::Kind::kDelete, std::move(k), ""});
  }
  for (auto& [k, v] : staged) {
    ops->push_back(TxnOp{TxnOp::Kind::kDelete, prefix + k, ""});
    if (k == kRestoreKeepKey) continue;
    ops->push_back(TxnOp{TxnOp::Kind::kPut, std::move(k), std::move(v)});
  }
  LOG_INFO("raft: restore {} committed: {} keys", restore_id, staged.size());
  return Status::Ok();
}

int RaftFsm::Capture() {
  // The snapshot must contain every entry libraft has applied: wait for the writer.
  Drain();
  if (!failure().ok()) return TR_RAFT_IOERR;
  capture_.reset();
  auto snap = store_->Snapshot();  // exactly what raft applied, without waiting for a commit
  if (!snap.ok()) {
    LOG_ERROR("raft snapshot: {}", snap.status().ToString());
    return TR_RAFT_IOERR;
  }
  capture_ = std::move(snap).value();
  return 0;
}

// A snapshot as pieces for libraft to write, without copying the values: each record's
// length prefixes and key (and a small value) go into chunks owned here, a larger value is
// referenced where it lies: LMDB's map (stable while the capture's read transaction is
// open) or the capture's copy of the write-behind layers. Same bytes as one buffer of
// records (u32 little-endian length + bytes, key then value). Why: copying a 40 MB state
// stalled the loop thread 65-145 ms.
class SnapshotImage {
 public:
  explicit SnapshotImage(std::unique_ptr<LmdbStore::Snapshot> capture) : capture_(std::move(capture)) {}

  LmdbStore::Snapshot* capture() { return capture_.get(); }

  void Raw(const void* d, size_t n) {
    Reserve(n);
    std::memcpy(pos_, d, n);
    pos_ += n;
  }
  void U32(uint32_t v) { Raw(LittleEndian<4>(v).data(), 4); }
  void U64(uint64_t v) { Raw(LittleEndian<8>(v).data(), 8); }
  void Bytes(std::string_view v) {
    U32(static_cast<uint32_t>(v.size()));
    Raw(v.data(), v.size());
  }
  // A record whose value is referenced, not copied (unless it is small).
  void Record(std::string_view k, std::string_view v) {
    Bytes(k);
    U32(static_cast<uint32_t>(v.size()));
    if (v.size() <= kInlineMax) return Raw(v.data(), v.size());
    EndRun();
    pieces_.push_back({v.data(), v.size()});
    size_ += v.size();
  }
  const std::vector<tr_raft_iovec>& Finish() {
    EndRun();
    return pieces_;
  }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kInlineMax = 64;   // a piece costs 16 bytes and a writev slot
  static constexpr size_t kChunk = 1 << 20;

  void Reserve(size_t n) {
    if (chunk_end_ - pos_ >= static_cast<std::ptrdiff_t>(n)) return;
    EndRun();
    size_t cap = std::max(kChunk, n);
    chunks_.push_back(std::make_unique_for_overwrite<char[]>(cap));
    run_ = pos_ = chunks_.back().get();
    chunk_end_ = pos_ + cap;
  }
  void EndRun() {
    if (pos_ == run_) return;
    pieces_.push_back({run_, static_cast<size_t>(pos_ - run_)});
    size_ += pos_ - run_;
    run_ = pos_;
  }

  std::unique_ptr<LmdbStore::Snapshot> capture_;  // keeps referenced values valid
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<tr_raft_iovec> pieces_;
  char* run_ = nullptr;  // start of the bytes in the current chunk not yet in pieces_
  char* pos_ = nullptr;
  char* chunk_end_ = nullptr;
  size_t size_ = 0;
};

int RaftFsm::Serialize(const tr_raft_iovec** iov, unsigned* n) {
  // Called from libraft's C code: no exception may leave.
  try {
    return SerializeImage(iov, n);
  } catch (const std::bad_alloc&) {
    image_.reset();
    LOG_ERROR("raft snapshot: out of memory");
    return TR_RAFT_NOMEM;
  }
}

int RaftFsm::SerializeImage(const tr_raft_iovec** iov, unsigned* n) {
  if (!capture_) return TR_RAFT_INVALID;
  auto t0 = std::chrono::steady_clock::now();
  image_ = std::make_unique<SnapshotImage>(std::move(capture_));
  LmdbStore::Snapshot* snap = image_->capture();
  auto idx = snap->GetMeta(kMetaIndex);
  auto term = snap->GetMeta(kMetaTerm);
  auto nodes = snap->GetMeta(kMetaNodes);
  if (!idx.ok() || !term.ok() || !nodes.ok()) {
    image_.reset();
    return TR_RAFT_IOERR;
  }
  uint64_t index = ParseU64(*idx);
  image_->Raw(kSnapMagic, sizeof kSnapMagic);
  image_->U64(index);
  image_->U64(ParseU64(*term));
  image_->Bytes(nodes->value_or(""));
  Status st = snap->ForEach([&](std::string_view k, std::string_view v) {
    image_->Record(k, v);
    return Status::Ok();
  });
  const auto& pieces = image_->Finish();
  if (!st.ok() || pieces.size() > std::numeric_limits<unsigned>::max()) {
    LOG_ERROR("raft snapshot: {}", st.ok() ? "too many pieces" : st.ToString());
    image_.reset();
    return TR_RAFT_IOERR;
  }
  *iov = pieces.data();
  *n = static_cast<unsigned>(pieces.size());
  // libraft 0.22 calls this on its loop thread: the time here stalls replication.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  LOG_INFO("raft: snapshot at index {}: {} bytes in {} pieces prepared in {} ms on {}", index, image_->size(),
           pieces.size(), ms, CurrentThreadName());
  std::lock_guard<std::mutex> l(mu_);
  snapshot_index_ = index;
  return 0;
}

void RaftFsm::Finalize() {
  capture_.reset();
  image_.reset();  // libraft has written the pieces: release the read transaction
}

int RaftFsm::Restore(std::string_view data) {
  Reader r(data);
  std::string_view magic, nodes;
  uint64_t index, term;
  if (!r.Raw(sizeof kSnapMagic, &magic) || std::memcmp(magic.data(), kSnapMagic, sizeof kSnapMagic) != 0 ||
      !r.U64(&index) || !r.U64(&term) || !r.Bytes(&nodes)) {
    LOG_ERROR("raft snapshot restore: malformed snapshot");
    return TR_RAFT_MALFORMED;
  }
  Drain();
  if (!failure().ok()) return TR_RAFT_IOERR;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (index <= applied_) {
      // What we have is at least as new (restart: the snapshot is older than LMDB).
      if (snapshot_index_ < index) snapshot_index_ = index;
      return 0;
    }
  }
  std::vector<std::pair<std::string, std::string>> meta = {
      {kMetaIndex, std::to_string(index)}, {kMetaTerm, std::to_string(term)}};
  if (!nodes.empty()) meta.emplace_back(kMetaNodes, std::string(nodes));
  bool bad = false;
  Status st = store_->ReplaceAll(
      [&](std::string* k, std::string* v) -> Result<bool> {
        if (r.empty()) return false;
        std::string_view ks, vs;
        if (!r.Bytes(&ks) || !r.Bytes(&vs)) {
          bad = true;
          return Status::Corruption("malformed raft snapshot");
        }
        k->assign(ks);
        v->assign(vs);
        return true;
      },
      meta);
  if (!st.ok()) {
    LOG_ERROR("raft snapshot restore: {}", st.ToString());
    return bad ? TR_RAFT_MALFORMED : TR_RAFT_IOERR;
  }
  std::vector<std::function<void(const Status&)>> ready;
  {
    std::lock_guard<std::mutex> l(mu_);
    applied_ = enqueued_ = index;
    snapshot_index_ = index;
    registry_ = ParseRegistry(nodes);
    auto end = waiters_.upper_bound(applied_);
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    waiters_.erase(waiters_.begin(), end);
  }
  restores_++;
  LOG_INFO("raft: restored snapshot at index {}", index);
  for (auto& fn : ready) fn(Status::Ok());
  return 0;
}

}  // namespace tresor::raft
