// The server configuration (`tresor server -config=<file or dir>`), read the way Vault 1.13
// reads its own: HCL or JSON files, `listener "tcp"`, exactly one `storage`, optional
// `service_registration "kubernetes"`, then environment overrides, then validation.
//
// Startup sequence the server follows:
//   ASSIGN_OR_RETURN(auto cfg, LoadConfig(path));   // syntax, types, per-key checks
//   ApplyEnvOverrides(cfg);                          // VAULT_API_ADDR, VAULT_RAFT_PATH, ...
//   RETURN_IF_ERROR(Validate(cfg));                  // cross-key rules, derived defaults
// Every error is an InvalidRequest status whose message is "<file>:<line>:<col>: <what>"
// when it concerns a place in a file (the server prints it and exits 1). Unknown keys are
// not errors: they are collected in ServerConfig::warnings for the server to log.
//
// Plain values; no shared state. ApplyEnvOverrides reads the process environment (or the
// lookup it is given), so call it from the main thread before starting others.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure.h"
#include "common/status.h"
#include "hcl/hcl.h"

namespace tresor::config {

inline constexpr int64_t kDefaultLeaseTtlSeconds = 768 * 3600;
inline constexpr int64_t kDefaultMaxRequestSize = 33554432;  // 32 MiB
inline constexpr int64_t kDefaultMaxRequestDurationSeconds = 90;

// listener "tcp" { ... }
struct ListenerConfig {
  std::string type = "tcp";
  std::string address = "127.0.0.1:8200";  // "host:port" to bind the API on
  std::string cluster_address;             // default: address with port + 1
  bool tls_disable = false;
  std::string tls_cert_file;  // required unless tls_disable
  std::string tls_key_file;   // required unless tls_disable
  std::string tls_client_ca_file;
  std::string tls_min_version = "tls12";  // tls10 | tls11 | tls12 | tls13
  std::string tls_max_version = "tls13";
  std::string tls_cipher_suites;  // as written (comma-separated Go names)
  bool tls_require_and_verify_client_cert = false;
  bool tls_disable_client_certs = false;
  int64_t max_request_size = kDefaultMaxRequestSize;                      // bytes
  int64_t max_request_duration = kDefaultMaxRequestDurationSeconds;       // seconds
  int64_t http_read_header_timeout = 10;  // seconds
  int64_t http_read_timeout = 30;
  int64_t http_write_timeout = 0;  // 0 = none
  int64_t http_idle_timeout = 300;
  bool unauthenticated_metrics_access = false;  // telemetry { } sub-block
  hcl::Pos pos;
};

// storage "raft" { retry_join { ... } }
struct RetryJoinConfig {
  std::string leader_api_addr;
  std::string auto_join;  // go-discover string; exclusive with leader_api_addr
  std::string auto_join_scheme = "https";
  int auto_join_port = 8200;
  std::string leader_tls_servername;
  std::string leader_ca_cert_file;
  std::string leader_client_cert_file;
  std::string leader_client_key_file;
  std::string leader_ca_cert;      // inline PEM
  std::string leader_client_cert;  // inline PEM
  SecureString leader_client_key;  // inline PEM private key
  hcl::Pos pos;
};

struct RaftConfig {
  std::string path;     // required after env overrides (VAULT_RAFT_PATH)
  std::string node_id;  // empty: <path>/node-id or a new UUID (resolved by the raft module)
  int64_t performance_multiplier = 0;
  int64_t trailing_logs = 10000;
  int64_t snapshot_threshold = 8192;
  int64_t snapshot_interval = 120;  // seconds
  int64_t max_entry_size = 1048576;
  int64_t autopilot_reconcile_interval = 10;  // seconds
  int64_t autopilot_update_interval = 2;      // seconds
  std::vector<RetryJoinConfig> retry_join;
  bool retry_join_as_non_voter = false;
};

// storage "<type>" { ... }: type is "inmem", "file" or "raft".
struct StorageConfig {
  std::string type;
  std::string path;  // "file"
  RaftConfig raft;   // meaningful when type == "raft"
  hcl::Pos pos;

  // The options map storage::OpenPhysical takes ("path" for file and raft, ...).
  std::map<std::string, std::string> PhysicalOptions() const;
};

// service_registration "kubernetes" { namespace, pod_name }
struct ServiceRegistrationConfig {
  std::string type = "kubernetes";
  std::string k8s_namespace;  // VAULT_K8S_NAMESPACE overrides
  std::string pod_name;       // VAULT_K8S_POD_NAME overrides
  hcl::Pos pos;
};

struct ServerConfig {
  std::string api_addr;      // advertised client URL
  std::string cluster_addr;  // advertised cluster URL
  std::string cluster_name;
  bool disable_mlock = false;
  bool ui = false;
  bool disable_cache = false;
  bool disable_clustering = false;
  bool raw_storage_endpoint = false;
  bool introspection_endpoint = false;
  bool enable_response_header_hostname = false;
  bool enable_response_header_raft_node_id = false;
  bool disable_performance_standby = false;
  std::string log_level;   // "" = not set (server default "info")
  std::string log_format;  // "standard" | "json" | ""
  std::string log_file;
  std::string pid_file;
  std::string plugin_directory;
  int64_t default_lease_ttl = kDefaultLeaseTtlSeconds;  // seconds
  int64_t max_lease_ttl = kDefaultLeaseTtlSeconds;      // seconds
  int64_t default_max_request_duration = 0;             // seconds; 0 = listener default

  std::vector<ListenerConfig> listeners;
  std::optional<StorageConfig> storage;
  std::optional<ServiceRegistrationConfig> service_registration;

  std::vector<std::string> files;     // sources, in merge order
  std::vector<std::string> warnings;  // unknown / ignored keys, for the server to log
};

// Parses one document (HCL or JSON). `filename` appears in error positions.
Result<ServerConfig> ParseConfig(std::string_view text, std::string_view filename = "");

// Reads a file, or every *.hcl and *.json file of a directory (sorted by name, editor
// temporaries skipped) merged in order: listeners accumulate, scalar keys of later files
// override earlier ones, a later storage / service_registration block replaces an earlier
// one (at most one storage block per file).
Result<ServerConfig> LoadConfig(const std::string& path);

// Merges several parsed documents as LoadConfig does for a directory.
Result<ServerConfig> ParseConfigs(const std::vector<hcl::Body>& docs);

// Looks up an environment variable; nullopt when unset. The default reads getenv.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
std::optional<std::string> ProcessEnv(const char* name);

// Applies Vault's environment overrides: VAULT_API_ADDR (else VAULT_REDIRECT_ADDR, else
// VAULT_ADVERTISE_ADDR) -> api_addr; VAULT_CLUSTER_ADDR -> cluster_addr; VAULT_LOG_LEVEL,
// VAULT_LOG_FORMAT; for raft VAULT_RAFT_PATH, VAULT_RAFT_NODE_ID and
// VAULT_RAFT_RETRY_JOIN_AS_NON_VOTER (any non-empty value = true); for kubernetes service
// registration VAULT_K8S_NAMESPACE and VAULT_K8S_POD_NAME. Empty variables are ignored.
void ApplyEnvOverrides(ServerConfig& cfg, const EnvLookup& env = ProcessEnv);

// Cross-key rules, after overrides: a storage backend is present; raft has a path and a
// cluster_addr; retry_join_as_non_voter has a retry_join; default_lease_ttl <= max_lease_ttl.
// Fills cluster_addr from api_addr (scheme https, port + 1) for non-raft storage.
Status Validate(ServerConfig& cfg);

}  // namespace tresor::config
