#include "raft/raft_storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/random.h"
#include "common/strings.h"

namespace tresor::raft {

namespace fs = std::filesystem;

Result<std::string> ResolveNodeId(const std::string& path, const std::string& configured) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Status::IOError("raft: cannot create " + path + ": " + ec.message());
  if (!configured.empty()) return configured;
  fs::path file = fs::path(path) / "node-id";
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in.good() && !in.eof()) return Status::IOError("raft: cannot read " + file.string());
    std::string id = ss.str();
    if (!id.empty()) return id;
  }
  std::string id = NewUUID();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("raft: cannot write " + file.string());
  bool ok = ::write(fd, id.data(), id.size()) == static_cast<ssize_t>(id.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::IOError("raft: cannot write " + file.string());
  return id;
}

Result<std::unique_ptr<RaftStorage>> RaftStorage::Open(const RaftStorageOptions& opts) {
  if (opts.path.empty()) return Status::InvalidRequest("'path' must be set");
  if (opts.cluster_address.empty())
    return Status::InvalidRequest("Cluster address must be set when using raft storage");
  std::unique_ptr<RaftStorage> s(new RaftStorage());
  ASSIGN_OR_RETURN(s->node_id_, ResolveNodeId(opts.path, opts.node_id));
  ::chmod(opts.path.c_str(), 0700);
  LmdbOptions lo;
  lo.file_name = "vault.db";
  lo.no_sync = opts.fsm_no_sync;
  ASSIGN_OR_RETURN(s->store_, LmdbStore::Open(opts.path, lo));
  s->fsm_store_ = std::make_unique<WriteBehindStore>(s->store_.get(), opts.fsm_write_behind);
  RaftNodeOptions no;
  no.node_id = s->node_id_;
  no.address = opts.cluster_address;
  no.connector = opts.connector;
  no.bind_address = opts.bind_address;
  no.dir = (fs::path(opts.path) / "raft").string();
  no.performance_multiplier = opts.performance_multiplier;
  no.max_entry_size = opts.max_entry_size;
  no.trailing_logs = opts.trailing_logs;
  no.snapshot_threshold = opts.snapshot_threshold;
  no.election_timeout_ms = opts.election_timeout_ms;
  no.heartbeat_timeout_ms = opts.heartbeat_timeout_ms;
  no.apply_window = opts.apply_window;
  ASSIGN_OR_RETURN(s->node_, RaftNode::Create(no, s->fsm_store_.get()));
  return s;
}

RaftStorage::~RaftStorage() {
  if (node_) node_->Close();
  node_.reset();
  fsm_store_.reset();  // commits what is still only in memory
  store_.reset();
}

Result<std::optional<std::string>> RaftStorage::Get(std::string_view key) { return fsm_store_->Get(key); }

Result<std::vector<std::string>> RaftStorage::List(std::string_view prefix, const ListOptions& opts) {
  return fsm_store_->List(prefix, opts);
}

Status RaftStorage::Write(const std::vector<TxnOp>& ops) {
  // Refuse what LMDB would refuse before it reaches the log: every node must apply the
  // same entries successfully.
  for (const auto& op : ops) RETURN_IF_ERROR(store_->CheckKey(op.key));
  return node_->Apply(ops);
}

Status RaftStorage::Put(std::string_view key, std::string_view value) {
  return Write({TxnOp{TxnOp::Kind::kPut, std::string(key), std::string(value)}});
}

Status RaftStorage::Delete(std::string_view key) {
  return Write({TxnOp{TxnOp::Kind::kDelete, std::string(key), {}}});
}

Status RaftStorage::Transaction(const std::vector<TxnOp>& ops) {
  if (ops.empty()) return Status::Ok();
  return Write(ops);
}

}  // namespace tresor::raft
