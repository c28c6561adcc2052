#include "raft/raft_node.h"


#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "common/random.h"
#include "raft/raft_shim.h"
#include "common/thread_name.h"

namespace tresor::raft {

namespace fs = std::filesystem;

// Vault (hashicorp/raft) scales 1 s heartbeat/election and 0.5 s leader-lease timeouts by
// performance_multiplier (0 → 5). In hashicorp/raft the follower's 1 s "heartbeat timeout"
// (randomised in [T, 2T)) is what starts an election; c-raft's election_timeout plays that
// role (also randomised in [T, 2T)) and its heartbeat_timeout is the leader's send interval
// (hashicorp sends at T/10). After a leader dies, a c-raft follower refuses even pre-votes
// until its own timer has fired, so the new leader comes from the later of the two
// survivors' timers (mean 5T/3, up to 2T) plus a pre-vote and a vote round. We use 0.5 s
// per multiplier unit: with multiplier 1 a failover completes in about 1 s (at most ~1.3 s
// without a split vote), with the default 5 in 2.5-5 s plus the rounds (Vault: 5-10 s).
// A follower that times out spuriously cannot disrupt a healthy leader: its pre-vote is
// refused. A leader steps down when no majority answered within one election timeout;
// heartbeats go out every 100 ms per unit, so that takes five missed rounds.
void DeriveTimeouts(int performance_multiplier, unsigned* election_ms, unsigned* heartbeat_ms) {
  unsigned m = performance_multiplier <= 0 ? 5u : static_cast<unsigned>(performance_multiplier);
  *election_ms = 500u * m;
  *heartbeat_ms = 100u * m;
}

struct RaftNode::PendingApply {
  std::string group;
  std::promise<tresor::Status> done;
};

// Completion of one submitted entry: fulfils the callers' promises.
struct RaftNode::EntryBatch {
  RaftNode* node;
  std::vector<std::promise<tresor::Status>> promises;
};

namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* RoleName(int role) {
  switch (role) {
    case TR_ROLE_VOTER:
      return "voter";
    case TR_ROLE_STANDBY:
      return "non-voter";
    default:
      return "spare";
  }
}

const char* StateName(int state) {
  switch (state) {
    case TR_STATE_LEADER:
      return "leader";
    case TR_STATE_FOLLOWER:
      return "follower";
    case TR_STATE_CANDIDATE:
      return "candidate";
    default:
      return "unavailable";
  }
}

std::string Hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// Completion of one submitted entry: fulfils the callers' promises.

void FailAll(std::vector<std::promise<tresor::Status>>* ps, const tresor::Status& st) {
  for (auto& p : *ps) p.set_value(st);
}

// State machine callbacks from the shim (loop thread).
int FsmApply(void* ctx, uint64_t index, const void* data, size_t len) {
  return static_cast<RaftFsm*>(ctx)->ApplyEntry(index, std::string_view(static_cast<const char*>(data), len));
}
int FsmCapture(void* ctx) { return static_cast<RaftFsm*>(ctx)->Capture(); }
int FsmSerialize(void* ctx, const tr_raft_iovec** iov, unsigned* n) {
  return static_cast<RaftFsm*>(ctx)->Serialize(iov, n);
}
void FsmFinalize(void* ctx) { static_cast<RaftFsm*>(ctx)->Finalize(); }
int FsmRestore(void* ctx, const void* data, size_t len) {
  return static_cast<RaftFsm*>(ctx)->Restore(std::string_view(static_cast<const char*>(data), len));
}

}  // namespace

tresor::Status RaftNode::MapError(int rc, const char* what) {
  switch (rc) {
    case TR_RAFT_OK:
      return tresor::Status::Ok();
    case TR_RAFT_NOTLEADER:
      return tresor::Status::Standby("node is not the raft leader");
    case TR_RAFT_LEADERSHIPLOST:
      return tresor::Status::Unavailable(
          "leadership lost while committing log; the write may or may not have been applied");
    case TR_RAFT_SHUTDOWN:
    case TR_RAFT_CANCELED:
      return tresor::Status::Unavailable("raft is shutting down");
    case TR_RAFT_NOSPACE:
      return tresor::Status::IOError(
          "raft: a majority of voters lacks free disk space for new log entries");
    case TR_RAFT_BADID:
      return tresor::Status::InvalidRequest(std::string(what) + ": unknown server id");
    case TR_RAFT_DUPLICATEID:
      return tresor::Status::InvalidRequest(std::string(what) + ": server id already in use");
    case TR_RAFT_DUPLICATEADDRESS:
      return tresor::Status::InvalidRequest(std::string(what) + ": server address already in use");
    case TR_RAFT_CANTCHANGE:
    case TR_RAFT_BUSY:
      return tresor::Status::Unavailable(std::string(what) + ": a configuration change is already in progress");
    default:
      return tresor::Status::Internal(std::string(what) + ": " + tr_raft_strerror(rc));
  }
}

RaftNode::RaftNode(const RaftNodeOptions& opts) : opts_(opts) {}

Result<std::unique_ptr<RaftNode>> RaftNode::Create(const RaftNodeOptions& opts, WriteBehindStore* store) {
  if (opts.node_id.empty()) return tresor::Status::InvalidRequest("raft: node id must be set");
  if (opts.address.empty()) return tresor::Status::InvalidRequest("raft: cluster address must be set");
  if (opts.dir.empty()) return tresor::Status::InvalidRequest("raft: data directory must be set");
  std::unique_ptr<RaftNode> n(new RaftNode(opts));
  RETURN_IF_ERROR(n->Init(store));
  return n;
}

tresor::Status RaftNode::Init(WriteBehindStore* store) {
  // libuv writes to peers' sockets with plain write(): a peer that went away would kill
  // the process with SIGPIPE. Process-wide, and what any network server wants anyway.
  static std::once_flag sigpipe_once;
  std::call_once(sigpipe_once, [] { ::signal(SIGPIPE, SIG_IGN); });
  raft_id_ = RaftIdFor(opts_.node_id);
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec) return tresor::Status::IOError("raft: cannot create " + opts_.dir + ": " + ec.message());
  ::chmod(opts_.dir.c_str(), 0700);
  ASSIGN_OR_RETURN(fsm_, RaftFsm::Open(store));

  loop_ = std::make_unique<uv_loop_t>();
  async_ = std::make_unique<uv_async_t>();
  timer_ = std::make_unique<uv_timer_t>();
  if (uv_loop_init(loop_.get()) != 0) return tresor::Status::Internal("raft: uv_loop_init failed");
  uv_async_init(loop_.get(), async_.get(), &RaftNode::OnAsync);
  async_->data = this;
  uv_timer_init(loop_.get(), timer_.get());
  timer_->data = this;
  ev_thread_ = std::thread([this] {
    SetThreadName("raft-events");
    for (;;) {
      RaftEvent ev;
      std::function<void(RaftEvent)> cb;
      {
        std::unique_lock<std::mutex> l(ev_mu_);
        ev_cv_.wait(l, [&] { return ev_stop_ || !events_.empty(); });
        if (events_.empty()) return;
        ev = events_.front();
        events_.pop_front();
        cb = event_cb_;
      }
      if (cb) cb(ev);
    }
  });
  thread_ = std::thread([this] {
    SetThreadName("raft-loop");
    LoopMain();
  });

  unsigned election = opts_.election_timeout_ms, heartbeat = opts_.heartbeat_timeout_ms;
  unsigned de, dh;
  DeriveTimeouts(opts_.performance_multiplier, &de, &dh);
  if (election == 0) election = de;
  if (heartbeat == 0) heartbeat = std::min(dh, election / 5);
  unsigned retry = opts_.connect_retry_ms ? opts_.connect_retry_ms : std::min(heartbeat, 1000u);
  election_timeout_ms_ = election;

  int rc = 0;
  char err[512] = {0};
  RunOnLoop([&] {
    tr_raft_config cfg{};
    cfg.id = raft_id_;
    cfg.address = opts_.address.c_str();
    cfg.bind_address = opts_.bind_address.empty() ? nullptr : opts_.bind_address.c_str();
    cfg.dir = opts_.dir.c_str();
    cfg.election_timeout_ms = election;
    cfg.heartbeat_timeout_ms = heartbeat;
    cfg.connect_retry_ms = retry;
    cfg.max_inflight_entries = opts_.max_inflight_entries;
    // Every node applies the same entries, so equal thresholds make all of them serialise a
    // snapshot (on the loop thread, libraft 0.22) at the same index and stall the quorum
    // together. Up to +25% per node staggers them, as HashiCorp raft staggers its checks;
    // Vault documents the setting as a minimum.
    cfg.snapshot_threshold = opts_.snapshot_threshold == 0
                                 ? 0
                                 : opts_.snapshot_threshold +
                                       static_cast<unsigned>(RandomUint64(opts_.snapshot_threshold / 4 + 1));
    cfg.snapshot_trailing = opts_.trailing_logs;
    cfg.capacity_threshold_kb = opts_.capacity_threshold_kb;
    cfg.pre_vote = 1;
    tr_raft_ext_transport ext{this, &RaftNode::ExtConnect};
    if (opts_.connector) cfg.ext = &ext;
    cfg.fsm = tr_raft_fsm_ops{fsm_.get(), FsmApply, FsmCapture, FsmSerialize, FsmFinalize, FsmRestore};
    raft_ = tr_raft_create(loop_.get(), &cfg, &rc, err, sizeof err);
  });
  if (raft_ == nullptr) {
    Close();
    return tresor::Status::Internal(std::string("raft: ") + err);
  }
  return tresor::Status::Ok();
}

RaftNode::~RaftNode() { Close(); }

void RaftNode::ExtConnect(void* ctx, uint64_t id, const char* address, uint64_t token) {
  auto* self = static_cast<RaftNode*>(ctx);
  (void)id;
  self->opts_.connector(self->raft_id_, self->opts_.address, address, [self, token](int fd) {
    self->Post([self, token, fd] {
      if (self->raft_)
        tr_raft_ext_connected(self->raft_, token, fd);
      else if (fd >= 0)
        ::close(fd);
    });
  });
}

void RaftNode::AcceptConnection(uint64_t raft_id, const std::string& address, int fd) {
  Post([this, raft_id, address, fd] {
    if (raft_)
      tr_raft_ext_accept(raft_, raft_id, address.c_str(), fd);
    else
      ::close(fd);
  });
}

void RaftNode::LoopMain() {
  loop_thread_id_ = std::this_thread::get_id();
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  uv_loop_close(loop_.get());
}

void RaftNode::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closing_) {
      fn();  // the loop is gone: the task sees raft_ == nullptr and fails fast
      return;
    }
    tasks_.push_back(std::move(fn));
    // Under mu_: once Close's finish step has set closing_, nobody touches the handle.
    uv_async_send(async_.get());
  }
}

void RaftNode::RunOnLoop(std::function<void()> fn) {
  std::promise<void> done;
  auto fut = done.get_future();
  Post([&] {
    fn();
    done.set_value();
  });
  fut.wait();
}

void RaftNode::OnAsync(uv_async_s* h) {
  auto* self = static_cast<RaftNode*>(h->data);
  self->DrainTasks();
  self->SubmitApplies();
}

void RaftNode::DrainTasks() {
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> l(mu_);
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) t();
}

void RaftNode::OnTimer(uv_timer_s* h) { static_cast<RaftNode*>(h->data)->CheckState(); }

void RaftNode::Emit(RaftEvent ev) {
  {
    std::lock_guard<std::mutex> l(ev_mu_);
    events_.push_back(ev);
  }
  ev_cv_.notify_all();
}

void RaftNode::SetEventCallback(std::function<void(RaftEvent)> cb) {
  std::lock_guard<std::mutex> l(ev_mu_);
  event_cb_ = std::move(cb);
}

bool RaftNode::HasExistingState() const {
  std::error_code ec;
  return fs::exists(fs::path(opts_.dir) / "metadata1", ec) || fs::exists(fs::path(opts_.dir) / "metadata2", ec);
}

tresor::Status RaftNode::Bootstrap(const std::vector<RaftServer>& servers) {
  std::vector<RaftServer> list = servers;
  if (list.empty()) list.push_back(RaftServer{opts_.node_id, raft_id_, opts_.address, true, "voter", false});
  std::vector<tr_raft_server> arr;
  for (auto& s : list) {
    uint64_t id = s.raft_id ? s.raft_id : RaftIdFor(s.node_id);
    arr.push_back(tr_raft_server{id, s.address.data(), s.voter ? TR_ROLE_VOTER : TR_ROLE_STANDBY});
  }
  int rc = TR_RAFT_SHUTDOWN;
  RunOnLoop([&] {
    if (raft_ && !started_) rc = tr_raft_bootstrap(raft_, arr.data(), static_cast<unsigned>(arr.size()));
    else if (started_) rc = TR_RAFT_CANTBOOTSTRAP;
  });
  if (rc == TR_RAFT_CANTBOOTSTRAP) return tresor::Status::InvalidRequest("raft: cannot bootstrap: node already has state");
  return MapError(rc, "raft bootstrap");
}

tresor::Status RaftNode::Recover(const std::vector<RaftServer>& servers) {
  std::vector<RaftServer> list = servers;
  std::vector<tr_raft_server> arr;
  for (auto& s : list) {
    uint64_t id = s.raft_id ? s.raft_id : RaftIdFor(s.node_id);
    arr.push_back(tr_raft_server{id, s.address.data(), s.voter ? TR_ROLE_VOTER : TR_ROLE_STANDBY});
  }
  int rc = TR_RAFT_SHUTDOWN;
  RunOnLoop([&] {
    if (raft_ && !started_) rc = tr_raft_recover(raft_, arr.data(), static_cast<unsigned>(arr.size()));
  });
  return MapError(rc, "raft recover");
}

tresor::Status RaftNode::Start() {
  int rc = TR_RAFT_SHUTDOWN;
  std::string err;
  RunOnLoop([&] {
    if (!raft_) return;
    if (started_) {
      rc = 0;
      return;
    }
    rc = tr_raft_start(raft_);
    if (rc != 0) {
      err = tr_raft_errmsg(raft_);
      return;
    }
    started_ = true;
    uv_timer_start(timer_.get(), &RaftNode::OnTimer, 20, 20);
  });
  if (rc != 0) return tresor::Status::Internal("raft start: " + std::string(tr_raft_strerror(rc)) + ": " + err);
  return tresor::Status::Ok();
}

void RaftNode::Close() {
  if (closed_.exchange(true)) return;
  if (thread_.joinable()) {
    RunOnLoop([this] {
      auto finish = [](void* arg) {
        auto* self = static_cast<RaftNode*>(arg);
        std::vector<std::unique_ptr<PendingApply>> pending;
        std::deque<std::function<void()>> tasks;
        {
          std::lock_guard<std::mutex> l(self->mu_);
          self->closing_ = true;
          pending.swap(self->applies_);
          tasks.swap(self->tasks_);
        }
        for (auto& t : tasks) t();
        for (auto& p : pending) p->done.set_value(tresor::Status::Unavailable("raft is shutting down"));
        uv_close(reinterpret_cast<uv_handle_t*>(self->timer_.get()), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(self->async_.get()), nullptr);
      };
      if (raft_) {
        tr_raft* r = raft_;
        raft_ = nullptr;
        tr_raft_close(r, finish, this);
      } else {
        finish(this);
      }
    });
    thread_.join();
  }
  leader_ = false;
  {
    std::lock_guard<std::mutex> l(ev_mu_);
    ev_stop_ = true;
  }
  ev_cv_.notify_all();
  if (ev_thread_.joinable()) ev_thread_.join();
  fsm_.reset();
}

// ---- applies ---------------------------------------------------------------------------

tresor::Status RaftNode::Apply(const std::vector<TxnOp>& ops) {
  if (removed_) return tresor::Status::Unavailable("this node has been removed from the raft cluster");
  if (closed_) return tresor::Status::Unavailable("raft is shutting down");
  for (const auto& op : ops) {
    if (op.key.empty()) return tresor::Status::InvalidRequest("missing key");
  }
  auto pa = std::make_unique<PendingApply>();
  pa->group = EncodeGroup(ops);
  if (pa->group.size() + kEntryHeaderSize > opts_.max_entry_size) {
    return tresor::Status(Code::kRequestTooLarge,
                          "raft: command too large; got " + std::to_string(pa->group.size() + kEntryHeaderSize) +
                              " bytes, max: " + std::to_string(opts_.max_entry_size) + " bytes");
  }
  auto fut = pa->done.get_future();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closing_) return tresor::Status::Unavailable("raft is shutting down");
    applies_.push_back(std::move(pa));
    uv_async_send(async_.get());
  }
  return fut.get();
}

void RaftNode::SubmitApplies() {
  // Group commit: with `apply_window` entries already in the pipeline, callers wait in the
  // queue and are packed into one larger entry when a slot frees (fewer, bigger entries
  // replicate and flush much more cheaply than many small ones).
  if (inflight_ >= opts_.apply_window) return;
  std::vector<std::unique_ptr<PendingApply>> batch;
  {
    std::lock_guard<std::mutex> l(mu_);
    batch.swap(applies_);
  }
  if (batch.empty()) return;
  tr_raft_status st{};
  if (raft_) tr_raft_get_status(raft_, &st);
  if (!raft_ || !started_ || st.state != TR_STATE_LEADER) {
    tresor::Status err = !raft_ || !started_ ? tresor::Status::Unavailable("raft is not running")
                                             : MapError(TR_RAFT_NOTLEADER, "apply");
    for (auto& p : batch) p->done.set_value(err);
    return;
  }
  // Pack callers into entries of at most max_entry_size; all are submitted in this loop
  // iteration, so they share one append (and one flush) on every node.
  std::vector<const std::string*> groups;
  std::vector<std::promise<tresor::Status>> promises;
  size_t size = kEntryHeaderSize;
  auto flush = [&] {
    if (groups.empty()) return;
    SubmitEntry(EncodeDataEntry(st.term, groups), std::move(promises));
    groups.clear();
    promises.clear();
    size = kEntryHeaderSize;
  };
  for (auto& p : batch) {
    if (!groups.empty() && size + p->group.size() > opts_.max_entry_size) flush();
    groups.push_back(&p->group);
    promises.push_back(std::move(p->done));
    size += p->group.size();
  }
  flush();
}

namespace {
// libraft wants entry buffers whose size is a multiple of 8: zero-pad (the decoder allows it).
void* ToRaftBuffer(const std::string& entry, size_t* len) {
  *len = (entry.size() + 7) & ~size_t{7};
  void* buf = tr_raft_malloc(*len);
  if (buf == nullptr) return nullptr;
  std::memcpy(buf, entry.data(), entry.size());
  std::memset(static_cast<char*>(buf) + entry.size(), 0, *len - entry.size());
  return buf;
}
}  // namespace

void RaftNode::SubmitEntry(std::string entry, std::vector<std::promise<tresor::Status>> promises) {
  size_t len = 0;
  void* buf = ToRaftBuffer(entry, &len);
  if (buf == nullptr) {
    FailAll(&promises, tresor::Status::Internal("raft: out of memory"));
    return;
  }
  auto* b = new EntryBatch{this, std::move(promises)};
  auto cb = [](void* arg, int status, uint64_t index) {
    std::unique_ptr<EntryBatch> b(static_cast<EntryBatch*>(arg));
    RaftNode* self = b->node;
    self->inflight_--;
    if (self->raft_) self->SubmitApplies();
    if (status != 0) {
      // Submitted, then lost (leadership change or shutdown): it may still commit.
      if (status == TR_RAFT_SHUTDOWN || status == TR_RAFT_CANCELED) status = TR_RAFT_LEADERSHIPLOST;
      FailAll(&b->promises, MapError(status, "apply"));
      return;
    }
    // libraft applied it (handed it to the FSM writer): acknowledge once it is in LMDB.
    auto shared = std::make_shared<std::vector<std::promise<tresor::Status>>>(std::move(b->promises));
    self->fsm_->WhenApplied(index, [shared](const tresor::Status& s) { FailAll(shared.get(), s); });
  };
  int rc = tr_raft_apply(raft_, buf, len, cb, b);
  if (rc != 0) {
    if (rc > 0) tr_raft_free(buf);
    else rc = -rc;
    LOG_WARN("raft: apply refused: {} ({})", tr_raft_strerror(rc), tr_raft_errmsg(raft_));
    FailAll(&b->promises, MapError(rc, "apply"));
    delete b;
    return;
  }
  inflight_++;
  entries_submitted_++;
}

namespace {
struct LoopReq {
  std::promise<std::pair<int, uint64_t>> p;
};
void LoopReqDone(void* arg, int status, uint64_t index) {
  auto* r = static_cast<LoopReq*>(arg);
  r->p.set_value({status, index});
  delete r;
}
}  // namespace

int RaftNode::LoopRequest(const std::function<int(tr_raft*, void (*)(void*, int, uint64_t), void*)>& start,
                          uint64_t* index) {
  auto* req = new LoopReq;
  auto fut = req->p.get_future();
  Post([&, req] {
    if (!raft_ || !started_) {
      LoopReqDone(req, TR_RAFT_SHUTDOWN, 0);
      return;
    }
    int rc = start(raft_, &LoopReqDone, req);
    if (rc != 0) LoopReqDone(req, rc, 0);
  });
  auto [rc, idx] = fut.get();
  if (index) *index = idx;
  return rc;
}

tresor::Status RaftNode::ApplyInternal(std::string entry) {
  uint64_t index = 0;
  int rc = LoopRequest(
      [&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
        tr_raft_status st;
        tr_raft_get_status(r, &st);
        SetEntryTerm(&entry, st.term);
        size_t len = 0;
        void* buf = ToRaftBuffer(entry, &len);
        if (buf == nullptr) return static_cast<int>(TR_RAFT_NOMEM);
        int rc = tr_raft_apply(r, buf, len, cb, arg);
        if (rc > 0) tr_raft_free(buf);
        return rc < 0 ? -rc : rc;
      },
      &index);
  if (rc != 0) return MapError(rc, "apply");
  std::promise<tresor::Status> p;
  auto fut = p.get_future();
  fsm_->WhenApplied(index, [&p](const tresor::Status& s) { p.set_value(s); });
  return fut.get();
}

tresor::Status RaftNode::Barrier() {
  int rc = LoopRequest([](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
    return tr_raft_barrier(r, cb, arg);
  });
  if (rc != 0) return MapError(rc, "barrier");
  fsm_->Drain();
  return fsm_->failure();
}

void RaftNode::Nudge() {
  if (closed_) return;
  Post([this] {
    if (raft_ && leader_.load()) tr_raft_barrier(raft_, [](void*, int, uint64_t) {}, nullptr);
  });
}

// ---- state, membership -----------------------------------------------------------------

tresor::Status RaftNode::LeaderCheck() {
  if (removed_) return tresor::Status::Unavailable("this node has been removed from the raft cluster");
  if (closed_) return tresor::Status::Unavailable("raft is shutting down");
  if (!leader_) return MapError(TR_RAFT_NOTLEADER, "");
  return tresor::Status::Ok();
}

std::string RaftNode::NameOf(uint64_t raft_id) const {
  if (raft_id == raft_id_) return opts_.node_id;
  auto rec = fsm_ ? fsm_->Node(raft_id) : std::nullopt;
  return rec && !rec->node_id.empty() ? rec->node_id : Hex(raft_id);
}

void RaftNode::CheckState() {
  if (!raft_ || !started_) return;
  tr_raft_status st;
  tr_raft_get_status(raft_, &st);
  bool is_leader = st.state == TR_STATE_LEADER;
  if (!is_leader && leader_.load()) {
    leader_ = false;
    LOG_INFO("raft: node {} lost leadership (term {})", opts_.node_id, st.term);
    Emit(RaftEvent::kLostLeadership);
  }
  if (!is_leader) leader_pending_ = false;
  // A new leader may not have applied everything committed before its term. It becomes
  // "leader" for its users only once a barrier of its own term is applied locally.
  if (is_leader && !leader_.load() && !leader_pending_) {
    leader_pending_ = true;
    uint64_t term = st.term;
    struct Ctx {
      RaftNode* self;
      uint64_t term;
    };
    auto done = [](void* arg, int status, uint64_t) {
      std::unique_ptr<Ctx> c(static_cast<Ctx*>(arg));
      RaftNode* self = c->self;
      if (status != 0) {
        self->leader_pending_ = false;  // retried on the next tick if still leader
        return;
      }
      uint64_t t = c->term;
      self->fsm_->WhenApplied(self->fsm_->enqueued_index(), [self, t](const tresor::Status& s) {
        self->Post([self, t, s] { self->LeaderReady(t, s); });
      });
    };
    auto* ctx = new Ctx{this, term};
    if (tr_raft_barrier(raft_, done, ctx) != 0) {
      delete ctx;
      leader_pending_ = false;
    }
  }
  if (leader_.load() && is_leader) TrackContacts(st.last_index);
  else if (!contacts_.empty()) contacts_.clear();
  // Removal: libraft never tells a removed server. We notice either the registry's
  // "removed" mark (replicated to us before the leader dropped us) or a configuration that
  // no longer lists us after it once did. A wiped node that joins again under the same id
  // replays the old mark and the old removal before its new registration: so a mark counts
  // only once we applied everything committed when we saw it (by then a re-registration
  // would have cleared it), and an absence only once it lasted two election timeouts.
  bool removed = false;
  auto rec = fsm_->Node(raft_id_);
  if (rec && rec->removed && rec->node_id == opts_.node_id) {
    if (removed_mark_target_ == 0) removed_mark_target_ = std::max<uint64_t>(st.commit_index, 1);
    if (fsm_->applied_index() >= removed_mark_target_) removed = true;
  } else {
    removed_mark_target_ = 0;
  }
  if (!removed && last_state_++ % 5 == 0) {
    tr_raft_server* servers = nullptr;
    unsigned n = 0;
    if (tr_raft_get_configuration(raft_, &servers, &n) == 0) {
      bool present = false;
      for (unsigned i = 0; i < n; i++) present |= servers[i].id == raft_id_;
      tr_raft_free_servers(servers, n);
      if (present) was_member_ = true;
      auto now = std::chrono::steady_clock::now();
      if (was_member_ && n > 0 && !present) {
        if (absent_since_ == std::chrono::steady_clock::time_point{}) absent_since_ = now;
        if (now - absent_since_ > std::chrono::milliseconds(2 * election_timeout_ms_)) removed = true;
      } else {
        absent_since_ = {};
      }
    }
  }
  if (removed) StopAsRemoved();
  if (raft_ && (st.commit_index != last_commit_seen_ || progress_at_ms_.load() == 0)) {
    last_commit_seen_ = st.commit_index;
    progress_at_ms_ = SteadyMs();
  }
}

void RaftNode::StopAsRemoved() {
  if (removed_ || !raft_) return;
  LOG_WARN("raft: node {} was removed from the cluster; stopping raft", opts_.node_id);
  removed_ = true;
  leader_ = false;
  Emit(RaftEvent::kRemoved);
  tr_raft* r = raft_;
  raft_ = nullptr;
  tr_raft_close(r, nullptr, nullptr);
}

void RaftNode::MarkRemoved() {
  RunOnLoop([this] { StopAsRemoved(); });
}

int64_t RaftNode::StalledForMs() const {
  int64_t at = progress_at_ms_.load();
  return at == 0 || removed_ || closed_ ? 0 : SteadyMs() - at;
}

void RaftNode::TrackContacts(uint64_t last_index) {
  auto now = std::chrono::steady_clock::now();
  // Idle for a second: append a barrier so that live followers have something to
  // acknowledge and dead ones fall behind.
  if (last_index != probe_last_index_) {
    probe_last_index_ = last_index;
    probe_at_ = now;
  } else if (now - probe_at_ >= std::chrono::seconds(1)) {
    probe_at_ = now;
    tr_raft_barrier(raft_, [](void*, int, uint64_t) {}, nullptr);
  }
  if (last_state_ % 5 != 0) return;  // configuration walk every 100 ms is plenty
  tr_raft_server* servers = nullptr;
  unsigned n = 0;
  if (tr_raft_get_configuration(raft_, &servers, &n) != 0) return;
  std::map<uint64_t, std::pair<uint64_t, std::chrono::steady_clock::time_point>> next;
  for (unsigned i = 0; i < n; i++) {
    uint64_t id = servers[i].id;
    if (id == raft_id_) continue;
    uint64_t match = tr_raft_match_index(raft_, id);
    auto it = contacts_.find(id);
    if (it == contacts_.end()) {
      next[id] = {match, now};  // new (or we just became leader): benefit of the doubt
    } else if (match != it->second.first || match >= last_index) {
      next[id] = {match, now};
    } else {
      next[id] = it->second;
    }
  }
  tr_raft_free_servers(servers, n);
  contacts_.swap(next);
}

std::vector<PeerContact> RaftNode::PeerContacts() {
  std::vector<PeerContact> out;
  RunOnLoop([&] {
    if (!raft_ || !leader_.load()) return;
    tr_raft_status st;
    tr_raft_get_status(raft_, &st);
    auto now = std::chrono::steady_clock::now();
    out.push_back(PeerContact{raft_id_, st.last_index, 0});
    for (auto& [id, c] : contacts_) {
      out.push_back(PeerContact{
          id, c.first, std::chrono::duration_cast<std::chrono::milliseconds>(now - c.second).count()});
    }
  });
  return out;
}

tresor::Status RaftNode::CommitRestore(const std::string& restore_id) {
  RETURN_IF_ERROR(LeaderCheck());
  return ApplyInternal(EncodeRestoreCommitEntry(0, restore_id));
}

void RaftNode::LeaderReady(uint64_t term, const tresor::Status& applied) {
  leader_pending_ = false;
  if (!raft_ || !applied.ok()) return;
  tr_raft_status st;
  tr_raft_get_status(raft_, &st);
  if (st.state != TR_STATE_LEADER || st.term != term || leader_.load()) return;
  leader_ = true;
  LOG_INFO("raft: node {} became leader (term {})", opts_.node_id, st.term);
  Emit(RaftEvent::kBecameLeader);
  // Record our node id in the registry so every member can show it.
  auto rec = fsm_->Node(raft_id_);
  if (!rec || rec->node_id != opts_.node_id || rec->removed) {
    std::vector<std::promise<tresor::Status>> none;
    SubmitEntry(EncodeRegisterEntry(st.term, raft_id_, opts_.node_id), std::move(none));
  }
}

tresor::Status RaftNode::AddNonVoter(const std::string& node_id, const std::string& address) {
  RETURN_IF_ERROR(LeaderCheck());
  uint64_t id = RaftIdFor(node_id);
  ASSIGN_OR_RETURN(auto conf, Configuration());
  for (const auto& s : conf.servers) {
    if (s.raft_id != id) continue;
    if (s.address != address)
      return tresor::Status::InvalidRequest("raft: node " + node_id + " is already a member with address " +
                                            s.address);
    if (s.role != "spare") return tresor::Status::Ok();  // already replicating
  }
  // Record the node id first so every member can show it.
  RETURN_IF_ERROR(ApplyInternal(EncodeRegisterEntry(0, id, node_id)));
  bool present = false;
  for (const auto& s : conf.servers) present |= s.raft_id == id;
  if (!present) {
    std::string addr = address;
    int rc = LoopRequest([&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
      return tr_raft_add(r, id, addr.c_str(), cb, arg);
    });
    if (rc != 0) return MapError(rc, "raft add");
  }
  int rc = LoopRequest([&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
    return tr_raft_assign(r, id, TR_ROLE_STANDBY, cb, arg);
  });
  if (rc != 0 && rc != TR_RAFT_BADROLE) return MapError(rc, "raft assign");
  return tresor::Status::Ok();
}

tresor::Status RaftNode::PromoteToVoter(const std::string& node_id) {
  RETURN_IF_ERROR(LeaderCheck());
  uint64_t id = RaftIdFor(node_id);
  ASSIGN_OR_RETURN(auto conf, Configuration());
  bool found = false;
  for (const auto& s : conf.servers) {
    if (s.raft_id != id) continue;
    found = true;
    if (s.voter) return tresor::Status::Ok();
  }
  if (!found) return tresor::Status::InvalidRequest("raft: node " + node_id + " is not a member");
  int rc = LoopRequest([&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
    return tr_raft_assign(r, id, TR_ROLE_VOTER, cb, arg);
  });
  if (rc == TR_RAFT_BADROLE) return tresor::Status::Ok();
  return MapError(rc, "raft promote");
}

tresor::Status RaftNode::RemovePeer(const std::string& node_id) {
  RETURN_IF_ERROR(LeaderCheck());
  uint64_t id = RaftIdFor(node_id);
  ASSIGN_OR_RETURN(auto conf, Configuration());
  const RaftServer* target = nullptr;
  for (const auto& s : conf.servers)
    if (s.raft_id == id) target = &s;
  if (target == nullptr) return tresor::Status::Ok();
  auto remove = [&] {
    int rc = LoopRequest([&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
      return tr_raft_remove(r, id, cb, arg);
    });
    return MapError(rc, "raft remove");
  };
  if (id == raft_id_) return remove();  // the leader removes itself and steps down
  if (target->role != "spare") {
    // Keep it replicating (as a non-voter) until it has seen its "removed" mark.
    if (target->voter) {
      int rc = LoopRequest([&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
        return tr_raft_assign(r, id, TR_ROLE_STANDBY, cb, arg);
      });
      if (rc != 0 && rc != TR_RAFT_BADROLE) return MapError(rc, "raft demote");
    }
    RETURN_IF_ERROR(ApplyInternal(EncodeRemovedEntry(0, id)));
    // The mark is committed here; the node learns that only from a later AppendEntries
    // (carrying our commit index). A barrier after it is such a message: wait until the
    // node has stored the barrier (bounded: it may be down).
    uint64_t want = 0;
    int brc = LoopRequest(
        [](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) { return tr_raft_barrier(r, cb, arg); },
        &want);
    if (brc != 0) return MapError(brc, "raft barrier");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      uint64_t match = 0;
      RunOnLoop([&] { match = raft_ ? tr_raft_match_index(raft_, id) : want; });
      if (match >= want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return remove();
}

tresor::Status RaftNode::TransferLeadership(const std::string& node_id) {
  uint64_t id = node_id.empty() ? 0 : RaftIdFor(node_id);
  for (int attempt = 0; attempt < 5; attempt++) {
    bool leader = false;
    RunOnLoop([&] {
      if (!raft_) return;
      tr_raft_status st;
      tr_raft_get_status(raft_, &st);
      leader = st.state == TR_STATE_LEADER;
    });
    if (!leader) {
      if (attempt == 0) return MapError(TR_RAFT_NOTLEADER, "");
      RunOnLoop([&] { CheckState(); });  // publish the change before returning
      return tresor::Status::Ok();
    }
    // libraft may send TimeoutNow before the target caught up and never resend: after its
    // callback, check who leads and try again.
    int rc = LoopRequest([&](tr_raft* r, void (*cb)(void*, int, uint64_t), void* arg) {
      return tr_raft_transfer(r, id, cb, arg);
    });
    if (rc == TR_RAFT_BADID || rc == TR_RAFT_NOTFOUND)
      return tresor::Status::InvalidRequest("raft: no voter to transfer leadership to");
    if (rc != 0 && rc != TR_RAFT_BUSY) return MapError(rc, "raft transfer");
    if (rc == TR_RAFT_BUSY) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  bool leader = true;
  RunOnLoop([&] {
    tr_raft_status st{};
    if (raft_) tr_raft_get_status(raft_, &st);
    leader = st.state == TR_STATE_LEADER;
  });
  if (!leader) {
    RunOnLoop([&] { CheckState(); });
    return tresor::Status::Ok();
  }
  return tresor::Status::Unavailable("raft: leadership transfer did not complete");
}

Result<RaftConfiguration> RaftNode::Configuration() {
  RaftConfiguration out;
  int rc = TR_RAFT_SHUTDOWN;
  std::vector<tr_raft_server> copy;
  std::vector<std::string> addrs;
  uint64_t leader = 0;
  RunOnLoop([&] {
    if (!raft_) return;
    tr_raft_status st;
    tr_raft_get_status(raft_, &st);
    leader = st.leader_id;
    out.index = st.configuration_index;
    tr_raft_server* servers = nullptr;
    unsigned n = 0;
    rc = tr_raft_get_configuration(raft_, &servers, &n);
    if (rc != 0) return;
    for (unsigned i = 0; i < n; i++) {
      copy.push_back(servers[i]);
      addrs.push_back(servers[i].address);
    }
    tr_raft_free_servers(servers, n);
  });
  if (rc != 0) return MapError(rc, "raft configuration");
  for (size_t i = 0; i < copy.size(); i++) {
    RaftServer s;
    s.raft_id = copy[i].id;
    s.node_id = NameOf(copy[i].id);
    s.address = addrs[i];
    s.voter = copy[i].role == TR_ROLE_VOTER;
    s.role = RoleName(copy[i].role);
    s.leader = copy[i].id == leader;
    out.servers.push_back(std::move(s));
  }
  return out;
}

RaftStatus RaftNode::GetStatus() {
  RaftStatus out;
  out.state = removed_ ? "removed" : "stopped";
  if (closed_) return out;
  tr_raft_status st{};
  bool have = false;
  RunOnLoop([&] {
    if (!raft_) return;
    tr_raft_get_status(raft_, &st);
    have = true;
  });
  if (fsm_) {
    out.applied_index = fsm_->applied_index();
    out.snapshot_index = fsm_->snapshot_index();
  }
  if (!have) return out;
  out.state = StateName(st.state);
  out.term = st.term;
  if (st.leader_id != 0) {
    out.leader_id = NameOf(st.leader_id);
    out.leader_address = st.leader_address;
  }
  out.commit_index = st.commit_index;
  out.last_index = st.last_index;
  return out;
}

}  // namespace tresor::raft
