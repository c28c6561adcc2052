#include "server/server.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/log.h"
#include "common/version.h"
#include "config/config.h"
#include "hcl/hcl.h"
#include "core/core.h"
#include "ha/cluster_port.h"
#include "ha/raft_ha.h"
#include "raft/raft_storage.h"
#include "http/http_server.h"
#include "storage/inmem_storage.h"
#include "storage/physical.h"

namespace tresor::server {
namespace {

struct Flags {
  bool dev = false;
  std::string dev_root_token;
  std::string dev_listen = "127.0.0.1:8200";
  std::vector<std::string> configs;
  std::string log_level;
};

int Usage(const std::string& msg) {
  std::fprintf(stderr, "%s\n", msg.c_str());
  return 1;
}

// Go-style flags: -name=value, -name value, --name=value; bools take no value.
bool ParseFlags(int argc, char** argv, Flags* f, std::string* err) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) a.erase(0, 1);
    if (a.empty() || a[0] != '-') {
      *err = "Too many arguments (expected 0, got " + std::to_string(argc - i) + ")";
      return false;
    }
    std::string name = a.substr(1), value;
    bool has_value = false;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) {
        *err = "flag needs an argument: -" + name;
        return false;
      }
      value = argv[++i];
      return true;
    };
    if (name == "dev") {
      f->dev = !has_value || value == "true" || value == "1";
    } else if (name == "dev-root-token-id") {
      if (!take()) return false;
      f->dev_root_token = value;
    } else if (name == "dev-listen-address") {
      if (!take()) return false;
      f->dev_listen = value;
    } else if (name == "config") {
      if (!take()) return false;
      f->configs.push_back(value);
    } else if (name == "log-level") {
      if (!take()) return false;
      f->log_level = value;
    } else {
      *err = "flag provided but not defined: -" + name;
      return false;
    }
  }
  return true;
}

volatile sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

void HardenProcess() {
  // No core dumps: they would contain keys.
  struct rlimit rl = {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForSignal() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  while (g_signal == 0) pause();
  return g_signal;
}

http::ListenerOptions ToListener(const config::ListenerConfig& l) {
  http::ListenerOptions o;
  o.address = l.address;
  o.tls.enabled = !l.tls_disable;
  o.tls.cert_file = l.tls_cert_file;
  o.tls.key_file = l.tls_key_file;
  o.tls.client_ca_file = l.tls_client_ca_file;
  auto v = http::ParseTlsVersion(l.tls_min_version.empty() ? "tls12" : l.tls_min_version);
  if (v.ok()) o.tls.min_version = *v;
  o.max_request_size = l.max_request_size < 0 ? 0 : uint64_t(l.max_request_size);
  o.max_request_duration = std::chrono::seconds(l.max_request_duration);
  o.tls.require_client_cert = l.tls_require_and_verify_client_cert;
  return o;
}

}  // namespace

int ServerMain(int argc, char** argv) {
  Flags flags;
  std::string err;
  if (!ParseFlags(argc, argv, &flags, &err)) return Usage(err);
  HardenProcess();

  config::ServerConfig cfg;
  if (flags.dev) {
    config::ListenerConfig l;
    l.address = flags.dev_listen;
    l.tls_disable = true;
    cfg.listeners.push_back(l);
    cfg.storage = config::StorageConfig{};
    cfg.storage->type = "inmem";
  } else {
    if (flags.configs.empty()) return Usage("No configuration files found. Please provide configurations with the -config flag.");
    Result<config::ServerConfig> loaded = Status::InvalidRequest("no configuration");
    if (flags.configs.size() == 1) {
      loaded = config::LoadConfig(flags.configs[0]);
    } else {
      // Several -config files merge in order, as the files of one directory do.
      std::vector<hcl::Body> docs;
      for (auto& path : flags.configs) {
        std::ifstream in(path);
        if (!in) {
          std::fprintf(stderr, "Error loading configuration from %s: cannot read file\n", path.c_str());
          return 1;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        auto body = hcl::Parse(ss.str(), path);
        if (!body.ok()) {
          std::fprintf(stderr, "Error loading configuration from %s: %s\n", path.c_str(), body.status().message().c_str());
          return 1;
        }
        docs.push_back(std::move(body).value());
      }
      loaded = config::ParseConfigs(docs);
    }
    if (!loaded.ok()) {
      std::fprintf(stderr, "Error loading configuration: %s\n", loaded.status().message().c_str());
      return 1;
    }
    cfg = std::move(loaded).value();
    config::ApplyEnvOverrides(cfg);
    Status v = config::Validate(cfg);
    if (!v.ok()) {
      std::fprintf(stderr, "Error: %s\n", v.message().c_str());
      return 1;
    }
  }
  std::string level = !flags.log_level.empty() ? flags.log_level : (cfg.log_level.empty() ? "info" : cfg.log_level);
  if (const char* env = getenv("VAULT_LOG_LEVEL"); env && flags.log_level.empty()) level = env;
  InitLogging("info");
  if (!SetLogLevel(level)) return Usage("unknown log level: " + level);
  for (auto& w : cfg.warnings) LOG_WARN("config: {}", w);

  std::unique_ptr<Storage> physical;
  raft::RaftStorage* raft_storage = nullptr;
  // The cluster port (mutual TLS: raft + request forwarding); outlives the storage's raft
  // node (RaftHa::Shutdown stops it after closing raft).
  std::unique_ptr<ha::ClusterPort> cluster_port;
  if (cfg.storage->type == "raft") {
    const auto& rc = cfg.storage->raft;
    raft::RaftStorageOptions ro;
    ro.path = rc.path;
    ro.node_id = rc.node_id;
    std::string ca = cfg.cluster_addr;
    if (auto p = ca.find("://"); p != std::string::npos) ca = ca.substr(p + 3);
    while (!ca.empty() && ca.back() == '/') ca.pop_back();
    ro.cluster_address = ca;
    ro.performance_multiplier = int(rc.performance_multiplier);
    ro.max_entry_size = size_t(rc.max_entry_size);
    ro.trailing_logs = unsigned(rc.trailing_logs);
    ro.snapshot_threshold = unsigned(rc.snapshot_threshold);
    cluster_port = std::make_unique<ha::ClusterPort>(ca, ca);
    ro.connector = [port = cluster_port.get()](uint64_t self_id, const std::string& self_addr, const std::string& peer,
                                               std::function<void(int)> done) {
      port->ConnectRaft(self_id, self_addr, peer, std::move(done));
    };
    if (Status ps = cluster_port->Start(); !ps.ok()) {
      std::fprintf(stderr, "Error initializing cluster listener: %s\n", ps.message().c_str());
      return 1;
    }
    auto opened = raft::RaftStorage::Open(ro);
    if (!opened.ok()) {
      std::fprintf(stderr, "Error initializing storage of type raft: %s\n", opened.status().message().c_str());
      return 1;
    }
    raft_storage = opened->get();
    physical = std::move(opened).value();
  } else {
    auto opened = OpenPhysical(cfg.storage->type, cfg.storage->PhysicalOptions());
    if (!opened.ok()) {
      std::fprintf(stderr, "Error initializing storage of type %s: %s\n", cfg.storage->type.c_str(),
                   opened.status().message().c_str());
      return 1;
    }
    physical = std::move(opened).value();
  }

  core::CoreOptions copts;
  copts.default_lease_ttl = cfg.default_lease_ttl;
  copts.max_lease_ttl = cfg.max_lease_ttl;
  copts.cluster_name = cfg.cluster_name;
  copts.api_addr = cfg.api_addr;
  copts.cluster_addr = cfg.cluster_addr;
  copts.storage_type = cfg.storage->type;
  auto core = std::make_unique<core::Core>(std::move(physical), copts, BuiltinRegistry());

  http::HttpServerOptions hopts;
  for (auto& l : cfg.listeners) hopts.listeners.push_back(ToListener(l));
  // Raft writes block a worker for a quorum round trip; concurrent writes only share one
  // append/fsync (group commit) if enough workers are waiting at once.
  if (raft_storage) hopts.worker_threads = 64;
  core::Core* core_ptr = core.get();
  http::HttpServer server(hopts, [core_ptr](http::HttpRequest& req) { return core_ptr->HandleHttp(req); });
  Status st = server.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "Error initializing listener: %s\n", st.message().c_str());
    return 1;
  }

  std::unique_ptr<ha::RaftHa> raft_ha;
  if (raft_storage) {
    ha::RaftHaOptions ho;
    ho.api_addr = cfg.api_addr.empty() ? "http://" + server.BoundAddresses()[0] : cfg.api_addr;
    ho.cluster_addr = cfg.cluster_addr;
    ho.cluster_port = cluster_port.get();
    for (auto& rj : cfg.storage->raft.retry_join) {
      if (rj.leader_api_addr.empty()) continue;
      auto read_file = [](const std::string& path) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
      };
      ha::LeaderTls tls;
      tls.ca_pem = rj.leader_ca_cert;
      if (tls.ca_pem.empty() && !rj.leader_ca_cert_file.empty()) tls.ca_pem = read_file(rj.leader_ca_cert_file);
      tls.client_cert_pem = rj.leader_client_cert;
      if (tls.client_cert_pem.empty() && !rj.leader_client_cert_file.empty())
        tls.client_cert_pem = read_file(rj.leader_client_cert_file);
      tls.client_key_pem = rj.leader_client_key;
      if (tls.client_key_pem.empty() && !rj.leader_client_key_file.empty()) {
        std::string k = read_file(rj.leader_client_key_file);
        tls.client_key_pem = SecureString(std::move(k));
      }
      tls.servername = rj.leader_tls_servername;
      ho.retry_join.push_back({rj.leader_api_addr, std::move(tls)});
    }
    raft_ha = std::make_unique<ha::RaftHa>(ho, raft_storage, core.get());
    core->SetHa(raft_ha.get());
    Status hs = raft_ha->Start();
    if (!hs.ok()) {
      std::fprintf(stderr, "Error starting raft: %s\n", hs.message().c_str());
      server.Stop();
      return 1;
    }
  }

  std::printf("==> Tresor server configuration:\n\n");
  std::printf("             Api Address: %s\n", cfg.api_addr.empty() ? ("http://" + server.BoundAddresses()[0]).c_str() : cfg.api_addr.c_str());
  std::printf("                 Storage: %s\n", cfg.storage->type.c_str());
  for (auto& a : server.BoundAddresses()) std::printf("                Listener: tcp (addr: \"%s\")\n", a.c_str());
  std::printf("                 Version: Vault v%s (tresor %s, %s)\n\n", kVaultApiVersion, kTresorVersion, kTresorCommit);

  if (flags.dev) {
    auto init = core->DevInitialize(flags.dev_root_token);
    if (!init.ok()) {
      std::fprintf(stderr, "Error initializing dev mode: %s\n", init.status().message().c_str());
      server.Stop();
      return 1;
    }
    std::string addr = "http://" + server.BoundAddresses()[0];
    std::printf("WARNING! dev mode is enabled! In this mode, Vault runs entirely in-memory\n"
                "and starts unsealed with a single unseal key. The root token is already\n"
                "authenticated to the CLI, so you can immediately begin using Vault.\n\n"
                "You may need to set the following environment variables:\n\n"
                "    $ export VAULT_ADDR='%s'\n\n"
                "The unseal key and root token are displayed below in case you want to\n"
                "seal/unseal the Vault or re-authenticate.\n\n"
                "Unseal Key: %s\nRoot Token: %s\n\n"
                "Development mode should NOT be used in production installations!\n\n",
                addr.c_str(), Base64Encode(init->shares[0]).c_str(), init->root_token.c_str());
    // Like Vault, dev mode logs the CLI in.
    if (const char* home = getenv("HOME"); home && *home) {
      std::string path = std::string(home) + "/.vault-token";
      if (FILE* f = std::fopen(path.c_str(), "w")) {
        std::fputs(init->root_token.c_str(), f);
        std::fclose(f);
        chmod(path.c_str(), 0600);
      }
    }
  }
  std::printf("==> Tresor server started! Log data will stream in below:\n\n");
  std::fflush(stdout);

  int sig = WaitForSignal();
  LOG_INFO("server: received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.Stop();
  if (raft_ha) raft_ha->Shutdown();
  core.reset();
  raft_ha.reset();
  LOG_INFO("server: stopped");
  return 0;
}

}  // namespace tresor::server
