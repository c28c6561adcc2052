// tresor_bench_raft: throughput/latency of RaftStorage writes on a 3-node in-process
// cluster over loopback TCP (each node: own loop thread, own data dir, durable LMDB FSM),
// leader failover under load, and how long a snapshot capture blocks the raft loop.
//
//   tresor_bench_raft [--clients N] [--seconds S] [--value-bytes B] [--multiplier M]
//                     [--snapshot-keys K] [--dir D] [--fsm-no-sync 0|1]
//                     [--snapshot-threshold N] [--apply-window W]
//   tresor_bench_raft --kill9 1 [...]   3 processes; kill -9 the leader under load and
//                                       check no acknowledged write is missing
#include <arpa/inet.h>
#include <signal.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "raft/raft_shim.h"
#include "raft/raft_storage.h"

using namespace tresor;
using namespace tresor::raft;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

struct Node {
  RaftStorageOptions opts;
  std::unique_ptr<RaftStorage> st;
};

struct Config {
  int clients = 64;
  int seconds = 10;
  int value_bytes = 200;
  int multiplier = 1;
  int snapshot_keys = 50000;
  std::string dir = "/tmp/tresor_bench_raft";
  bool fsm_no_sync = false;
  unsigned snapshot_threshold = 8192;
  unsigned apply_window = raft::kDefaultApplyWindow;
  bool kill9 = false;
};

int Leader(std::vector<Node>& nodes) {
  for (size_t i = 0; i < nodes.size(); i++)
    if (nodes[i].st && nodes[i].st->node()->IsLeader()) return static_cast<int>(i);
  return -1;
}

// Runs `clients` appliers for `seconds` against whichever node leads; returns latencies.
struct LoadResult {
  uint64_t ok = 0, standby = 0, unknown = 0, other = 0;
  std::vector<double> lat_ms;
};

LoadResult Load(std::vector<Node>& nodes, const Config& cfg, double seconds, std::atomic<int>* leader_hint,
                const std::string& prefix) {
  LoadResult total;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::string value(cfg.value_bytes, 'v');
  std::vector<std::thread> ts;
  for (int c = 0; c < cfg.clients; c++) {
    ts.emplace_back([&, c] {
      LoadResult r;
      for (uint64_t i = 0; !stop; i++) {
        int l = leader_hint->load();
        if (l < 0 || !nodes[l].st) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        auto t0 = Clock::now();
        Status s = nodes[l].st->Put(prefix + std::to_string(c) + "/" + std::to_string(i), value);
        auto dt = Ms(Clock::now() - t0);
        if (s.ok()) {
          r.ok++;
          r.lat_ms.push_back(dt);
        } else if (s.code() == Code::kStandby) {
          r.standby++;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        } else if (s.message().find("may or may not") != std::string::npos) {
          r.unknown++;
        } else {
          r.other++;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      std::lock_guard<std::mutex> l(mu);
      total.ok += r.ok;
      total.standby += r.standby;
      total.unknown += r.unknown;
      total.other += r.other;
      total.lat_ms.insert(total.lat_ms.end(), r.lat_ms.begin(), r.lat_ms.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  return total;
}

void SnapshotBench(const Config& cfg) {
  std::string dir = cfg.dir + "/snap";
  fs::remove_all(dir);
  auto store = LmdbStore::Open(dir, LmdbOptions{});
  if (!store.ok()) {
    std::fprintf(stderr, "lmdb: %s\n", store.status().ToString().c_str());
    return;
  }
  std::vector<TxnOp> ops;
  std::string value(cfg.value_bytes, 's');
  for (int i = 0; i < cfg.snapshot_keys; i++) {
    char k[64];
    std::snprintf(k, sizeof k, "logical/0123456789abcdef/key/%08d", i);
    ops.push_back(TxnOp{TxnOp::Kind::kPut, k, value});
  }
  if (!(*store)->Write(ops, {{"raft/applied_index", "100"}, {"raft/applied_term", "1"}}).ok()) return;
  WriteBehindStore wb(store->get(), {});
  auto fsm = RaftFsm::Open(&wb);
  if (!fsm.ok()) return;
  double cap_ms = 1e9, ser_ms = 1e9, res_ms = 1e9;
  size_t bytes = 0;
  for (int round = 0; round < 3; round++) {
    auto t0 = Clock::now();
    (*fsm)->Capture();
    auto t1 = Clock::now();
    const tr_raft_iovec* iov = nullptr;
    unsigned n = 0;
    (*fsm)->Serialize(&iov, &n);
    auto t2 = Clock::now();
    cap_ms = std::min(cap_ms, Ms(t1 - t0));
    ser_ms = std::min(ser_ms, Ms(t2 - t1));
    // libraft writes the pieces to the snapshot file from its thread pool; join them here.
    std::string image;
    for (unsigned i = 0; i < n; i++) image.append(static_cast<const char*>(iov[i].base), iov[i].len);
    bytes = image.size();
    // Restore into a second store (what a lagging follower does on the loop thread).
    std::string dir2 = dir + "2";
    fs::remove_all(dir2);
    auto store2 = LmdbStore::Open(dir2, LmdbOptions{});
    WriteBehindStore wb2(store2->get(), {});
    auto fsm2 = RaftFsm::Open(&wb2);
    auto t3 = Clock::now();
    (*fsm2)->Restore(image);
    res_ms = std::min(res_ms, Ms(Clock::now() - t3));
    (*fsm)->Finalize();
    fsm2->reset();
  }
  std::printf("snapshot @ %d keys x %d B: capture %.2f ms + prepare %.1f ms on the loop thread (%.1f MB); "
              "restore %.1f ms\n",
              cfg.snapshot_keys, cfg.value_bytes, cap_ms, ser_ms, bytes / 1e6, res_ms);
}


// ---- kill -9 of the leader under load, three processes ---------------------------------

std::atomic<bool> g_term{false};

void WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  std::fputs(content.c_str(), f);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

std::string ReadFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

int ChildMain(int me, const Config& cfg, const std::vector<std::string>& addrs) {
  signal(SIGTERM, [](int) { g_term = true; });
  RaftStorageOptions o;
  o.path = cfg.dir + "/n" + std::to_string(me);
  o.node_id = "node-" + std::to_string(me);
  o.cluster_address = addrs[me];
  o.performance_multiplier = cfg.multiplier;
  o.apply_window = cfg.apply_window;
  auto opened = RaftStorage::Open(o);
  if (!opened.ok()) return 1;
  auto st = std::move(opened).value();
  RaftNode* node = st->node();
  if (me == 0 && !node->Bootstrap().ok()) return 1;
  if (!node->Start().ok()) return 1;
  if (me == 0) {
    while (!node->IsLeader()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = 1; i < 3; i++) {
      std::string id = "node-" + std::to_string(i);
      while (!node->AddNonVoter(id, addrs[i]).ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      while (!node->PromoteToVoter(id).ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    WriteFileAtomic(cfg.dir + "/formed", "1");
  }
  std::atomic<bool> stop{false};
  std::thread status([&] {
    while (!stop) {
      std::string state = node->IsLeader() ? "leader" : node->GetStatus().state == "leader" ? "elected" : "follower";
      WriteFileAtomic(cfg.dir + "/status-" + std::to_string(me), state);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  std::atomic<uint64_t> unknown{0};
  std::vector<std::thread> ts;
  std::string value(cfg.value_bytes, 'k');
  for (int t = 0; t < cfg.clients; t++) {
    ts.emplace_back([&, t] {
      FILE* acked = std::fopen((cfg.dir + "/acked-" + std::to_string(me) + "-" + std::to_string(t)).c_str(), "a");
      bool formed = false;
      for (uint64_t i = 0; !stop; i++) {
        if (!node->IsLeader() || !(formed = formed || fs::exists(cfg.dir + "/formed"))) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        std::string key = "k/" + std::to_string(me) + "/" + std::to_string(t) + "/" + std::to_string(i);
        Status s = st->Put(key, value);
        if (s.ok()) {
          std::fprintf(acked, "%s\n", key.c_str());
          std::fflush(acked);  // into the page cache: survives kill -9 of this process
        } else if (s.message().find("may or may not") != std::string::npos) {
          unknown++;
        }
      }
      std::fclose(acked);
    });
  }
  while (!g_term) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  for (auto& t : ts) t.join();
  status.join();
  // Every key any process acknowledged must be here (followers may lag a little).
  std::vector<std::string> keys;
  for (auto& e : fs::directory_iterator(cfg.dir)) {
    if (e.path().filename().string().rfind("acked-", 0) != 0) continue;
    std::string content = ReadFile(e.path().string());
    size_t pos = 0, nl;
    while ((nl = content.find('\n', pos)) != std::string::npos) {
      keys.push_back(content.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  size_t missing = keys.size();
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (missing > 0 && Clock::now() < deadline) {
    missing = 0;
    for (auto& k : keys) {
      auto v = st->Get(k);
      if (!v.ok() || !v->has_value()) missing++;
    }
    if (missing) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  WriteFileAtomic(cfg.dir + "/result-" + std::to_string(me),
                  std::to_string(keys.size()) + " " + std::to_string(missing) + " " + std::to_string(unknown.load()));
  // Keep raft running (a leader keeps telling followers its commit index) until every
  // survivor has checked.
  auto until = Clock::now() + std::chrono::seconds(30);
  while (!fs::exists(cfg.dir + "/done") && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  st.reset();
  return 0;
}

int Kill9(const Config& cfg) {
  std::vector<std::string> addrs;
  for (int i = 0; i < 3; i++) addrs.push_back("127.0.0.1:" + std::to_string(FreePort()));
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; i++) {
    pid_t p = fork();
    if (p == 0) _exit(ChildMain(i, cfg, addrs));
    pids.push_back(p);
  }
  auto status_of = [&](int i) { return ReadFile(cfg.dir + "/status-" + std::to_string(i)); };
  auto t_start = Clock::now();
  while (!fs::exists(cfg.dir + "/formed") && Ms(Clock::now() - t_start) < 30000)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::seconds(cfg.seconds > 0 ? std::min(cfg.seconds, 5) : 3));
  int victim = -1;
  for (int i = 0; i < 3; i++)
    if (status_of(i) == "leader") victim = i;
  if (victim < 0) {
    std::fprintf(stderr, "no leader\n");
    for (auto p : pids) kill(p, SIGKILL);
    return 1;
  }
  auto t0 = Clock::now();
  kill(pids[victim], SIGKILL);
  waitpid(pids[victim], nullptr, 0);
  int nl = -1;
  double elected = -1;
  while (nl < 0 && Ms(Clock::now() - t0) < 30000) {
    for (int i = 0; i < 3; i++) {
      if (i == victim) continue;
      std::string s = status_of(i);
      if (s == "leader") nl = i;
      if ((s == "elected" || s == "leader") && elected < 0) elected = Ms(Clock::now() - t0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double failover = Ms(Clock::now() - t0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (int i = 0; i < 3; i++)
    if (i != victim) kill(pids[i], SIGTERM);
  auto wait_results = Clock::now();
  for (int i = 0; i < 3; i++) {
    while (i != victim && !fs::exists(cfg.dir + "/result-" + std::to_string(i)) &&
           Ms(Clock::now() - wait_results) < 30000)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  WriteFileAtomic(cfg.dir + "/done", "1");
  for (int i = 0; i < 3; i++)
    if (i != victim) waitpid(pids[i], nullptr, 0);
  std::printf("kill -9 of leader node-%d under load (%d clients, multiplier %d): node-%d elected after %.0f ms, "
              "ready (barrier applied) after %.0f ms\n",
              victim, cfg.clients, cfg.multiplier, nl, elected, failover);
  for (int i = 0; i < 3; i++) {
    if (i == victim) continue;
    unsigned long long acked = 0, missing = 0, unknown = 0;
    std::sscanf(ReadFile(cfg.dir + "/result-" + std::to_string(i)).c_str(), "%llu %llu %llu", &acked, &missing,
                &unknown);
    std::printf("  node-%d: %llu acknowledged writes checked, %llu missing; %llu unknown-outcome on this node\n", i,
                acked, missing, unknown);
  }
  fs::remove_all(cfg.dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--clients") cfg.clients = std::atoi(argv[i + 1]);
    else if (a == "--seconds") cfg.seconds = std::atoi(argv[i + 1]);
    else if (a == "--value-bytes") cfg.value_bytes = std::atoi(argv[i + 1]);
    else if (a == "--multiplier") cfg.multiplier = std::atoi(argv[i + 1]);
    else if (a == "--snapshot-keys") cfg.snapshot_keys = std::atoi(argv[i + 1]);
    else if (a == "--dir") cfg.dir = argv[i + 1];
    else if (a == "--fsm-no-sync") cfg.fsm_no_sync = std::atoi(argv[i + 1]) != 0;
    else if (a == "--snapshot-threshold") cfg.snapshot_threshold = std::atoi(argv[i + 1]);
    else if (a == "--apply-window") cfg.apply_window = std::atoi(argv[i + 1]);
    else if (a == "--kill9") cfg.kill9 = std::atoi(argv[i + 1]) != 0;
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  InitLogging("warn");
  fs::remove_all(cfg.dir);
  fs::create_directories(cfg.dir);
  if (cfg.kill9) return Kill9(cfg);

  SnapshotBench(cfg);

  std::vector<Node> nodes(3);
  for (int i = 0; i < 3; i++) {
    auto& o = nodes[i].opts;
    o.path = cfg.dir + "/n" + std::to_string(i);
    o.node_id = "node-" + std::to_string(i);
    o.cluster_address = "127.0.0.1:" + std::to_string(FreePort());
    o.performance_multiplier = cfg.multiplier;
    o.fsm_no_sync = cfg.fsm_no_sync;
    o.snapshot_threshold = cfg.snapshot_threshold;
    o.apply_window = cfg.apply_window;
    auto s = RaftStorage::Open(o);
    if (!s.ok()) {
      std::fprintf(stderr, "open: %s\n", s.status().ToString().c_str());
      return 1;
    }
    nodes[i].st = std::move(s).value();
  }
  if (!nodes[0].st->node()->Bootstrap().ok()) return 1;
  for (auto& n : nodes)
    if (!n.st->node()->Start().ok()) return 1;
  while (!nodes[0].st->node()->IsLeader()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (int i = 1; i < 3; i++) {
    auto s = nodes[0].st->node()->AddNonVoter(nodes[i].opts.node_id, nodes[i].opts.cluster_address);
    if (s.ok()) s = nodes[0].st->node()->PromoteToVoter(nodes[i].opts.node_id);
    if (!s.ok()) {
      std::fprintf(stderr, "join: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::atomic<int> leader{0};

  // 1. Steady state.
  uint64_t e0 = nodes[0].st->node()->entries_submitted();
  auto r = Load(nodes, cfg, cfg.seconds, &leader, "bench/");
  uint64_t entries = nodes[0].st->node()->entries_submitted() - e0;
  std::printf("steady: %d clients, %d s, %d-byte values: %.0f applies/s, p50 %.2f ms, p90 %.2f ms, "
              "p99 %.2f ms, max %.1f ms, %.1f applies/entry, errors %llu\n",
              cfg.clients, cfg.seconds, cfg.value_bytes, r.ok / double(cfg.seconds), Pct(r.lat_ms, 0.5),
              Pct(r.lat_ms, 0.9), Pct(r.lat_ms, 0.99), Pct(r.lat_ms, 1.0), entries ? double(r.ok) / entries : 0.0,
              static_cast<unsigned long long>(r.standby + r.unknown + r.other));

  // 2. Failover under load: stop the leader, measure until a new leader is ready.
  std::atomic<bool> done{false};
  double failover_ms = -1;
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto t0 = Clock::now();
    int old = leader.exchange(-1);
    nodes[old].st.reset();  // graceful close: sockets drop, no leadership hand-off
    int nl = -1;
    while ((nl = Leader(nodes)) < 0 && Ms(Clock::now() - t0) < 30000)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    failover_ms = Ms(Clock::now() - t0);
    leader = nl;
    done = true;
  });
  auto fr = Load(nodes, cfg, 6, &leader, "failover/");
  killer.join();
  std::printf("failover (multiplier %d): new leader ready after %.0f ms; during the 6 s run: %llu ok, "
              "%llu standby, %llu unknown-outcome, %llu other errors\n",
              cfg.multiplier, failover_ms, static_cast<unsigned long long>(fr.ok),
              static_cast<unsigned long long>(fr.standby), static_cast<unsigned long long>(fr.unknown),
              static_cast<unsigned long long>(fr.other));
  for (auto& n : nodes) n.st.reset();
  fs::remove_all(cfg.dir);
  return 0;
}
