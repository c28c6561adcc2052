#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "config/config.h"

namespace tresor::config {
namespace {

constexpr const char* kChartConfig = R"(disable_mlock = true
ui = true
listener "tcp" {
  tls_disable = 1
  address = "[::]:8200"
  cluster_address = "[::]:8201"
}
storage "raft" {
  path = "/vault/data"
}
service_registration "kubernetes" {}
)";

ServerConfig MustParse(std::string_view text, std::string_view file = "c.hcl") {
  auto r = ParseConfig(text, file);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : ServerConfig{};
}

std::string ParseError(std::string_view text, std::string_view file = "c.hcl") {
  auto r = ParseConfig(text, file);
  EXPECT_FALSE(r.ok()) << "parsed unexpectedly:\n" << text;
  return r.ok() ? "" : r.status().message();
}

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Config, ChartRenderedConfig) {
  ServerConfig c = MustParse(kChartConfig);
  EXPECT_TRUE(c.disable_mlock);
  EXPECT_TRUE(c.ui);
  ASSERT_EQ(c.listeners.size(), 1u);
  const ListenerConfig& l = c.listeners[0];
  EXPECT_EQ(l.type, "tcp");
  EXPECT_TRUE(l.tls_disable);
  EXPECT_EQ(l.address, "[::]:8200");
  EXPECT_EQ(l.cluster_address, "[::]:8201");
  EXPECT_EQ(l.tls_min_version, "tls12");
  EXPECT_EQ(l.max_request_size, 33554432);
  EXPECT_EQ(l.max_request_duration, 90);
  EXPECT_EQ(l.pos.ToString(), "c.hcl:3:1");
  ASSERT_TRUE(c.storage.has_value());
  EXPECT_EQ(c.storage->type, "raft");
  EXPECT_EQ(c.storage->raft.path, "/vault/data");
  EXPECT_TRUE(c.storage->raft.node_id.empty());
  EXPECT_TRUE(c.storage->raft.retry_join.empty());
  EXPECT_EQ(c.storage->raft.trailing_logs, 10000);
  EXPECT_EQ(c.storage->raft.snapshot_threshold, 8192);
  EXPECT_EQ(c.storage->raft.max_entry_size, 1048576);
  EXPECT_EQ(c.storage->raft.autopilot_reconcile_interval, 10);
  EXPECT_EQ(c.storage->PhysicalOptions().at("path"), "/vault/data");
  ASSERT_TRUE(c.service_registration.has_value());
  EXPECT_EQ(c.service_registration->type, "kubernetes");
  EXPECT_EQ(c.default_lease_ttl, 768 * 3600);
  EXPECT_EQ(c.max_lease_ttl, 768 * 3600);
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
  EXPECT_EQ(c.files, std::vector<std::string>{"c.hcl"});

  // Without the chart's environment, raft has no cluster address.
  ServerConfig bare = c;
  ApplyEnvOverrides(bare, FakeEnv({}));
  Status st = Validate(bare);
  EXPECT_EQ(st.message(), "Cluster address must be set when using raft storage");

  // With the chart's environment it validates.
  ApplyEnvOverrides(c, FakeEnv({{"VAULT_API_ADDR", "http://10.0.0.5:8200"},
                                {"VAULT_CLUSTER_ADDR", "https://vault-0.vault-internal:8201"},
                                {"VAULT_K8S_NAMESPACE", "vault"},
                                {"VAULT_K8S_POD_NAME", "vault-0"}}));
  ASSERT_TRUE(Validate(c).ok());
  EXPECT_EQ(c.api_addr, "http://10.0.0.5:8200");
  EXPECT_EQ(c.cluster_addr, "https://vault-0.vault-internal:8201");
  EXPECT_EQ(c.service_registration->k8s_namespace, "vault");
  EXPECT_EQ(c.service_registration->pod_name, "vault-0");
}

TEST(Config, RetryJoinVariant) {
  ServerConfig c = MustParse(R"(
api_addr = "http://vault-0.vault-internal:8200"
cluster_addr = "https://vault-0.vault-internal:8201"
storage "raft" {
  path = "/vault/data"
  node_id = "vault-0"
  performance_multiplier = 1
  trailing_logs = "500"
  snapshot_interval = "30s"
  retry_join { leader_api_addr = "http://vault-0.vault-internal:8200" }
  retry_join { leader_api_addr = "http://vault-1.vault-internal:8200" }
  retry_join {
    leader_api_addr = "https://vault-2.vault-internal:8200"
    leader_ca_cert_file = "/ca.pem"
    leader_tls_servername = "vault"
    leader_client_key = "-----BEGIN KEY-----"
  }
  retry_join {
    auto_join = "provider=k8s label_selector=\"app=vault\""
    auto_join_scheme = "http"
    auto_join_port = 8300
  }
  retry_join_as_non_voter = false
}
listener "tcp" { tls_disable = true }
)");
  ASSERT_TRUE(c.storage.has_value());
  const RaftConfig& r = c.storage->raft;
  EXPECT_EQ(r.node_id, "vault-0");
  EXPECT_EQ(r.performance_multiplier, 1);
  EXPECT_EQ(r.trailing_logs, 500);
  EXPECT_EQ(r.snapshot_interval, 30);
  ASSERT_EQ(r.retry_join.size(), 4u);
  EXPECT_EQ(r.retry_join[0].leader_api_addr, "http://vault-0.vault-internal:8200");
  EXPECT_EQ(r.retry_join[1].leader_api_addr, "http://vault-1.vault-internal:8200");
  EXPECT_EQ(r.retry_join[2].leader_ca_cert_file, "/ca.pem");
  EXPECT_EQ(r.retry_join[2].leader_tls_servername, "vault");
  EXPECT_EQ(r.retry_join[2].leader_client_key.str(), "-----BEGIN KEY-----");
  EXPECT_EQ(r.retry_join[0].auto_join_scheme, "https");
  EXPECT_EQ(r.retry_join[3].auto_join, "provider=k8s label_selector=\"app=vault\"");
  EXPECT_EQ(r.retry_join[3].auto_join_scheme, "http");
  EXPECT_EQ(r.retry_join[3].auto_join_port, 8300);
  EXPECT_EQ(r.retry_join[1].pos.line, 11);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address, "127.0.0.1:8200");
  EXPECT_EQ(c.listeners[0].cluster_address, "127.0.0.1:8201");
  EXPECT_TRUE(Validate(c).ok());
  EXPECT_EQ(c.storage->PhysicalOptions().at("node_id"), "vault-0");
}

TEST(Config, JsonForm) {
  ServerConfig c = MustParse(R"({
    "ui": true,
    "listener": [{"tcp": {"address": "0.0.0.0:8200", "tls_disable": "true"}},
                 {"tcp": {"address": "0.0.0.0:8300", "tls_disable": 1}}],
    "storage": {"raft": {"path": "/d", "retry_join": [{"leader_api_addr": "http://a:8200"}]}},
    "service_registration": {"kubernetes": {"namespace": "ns"}},
    "default_lease_ttl": 3600,
    "max_lease_ttl": "2h"
  })", "c.json");
  EXPECT_TRUE(c.ui);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_TRUE(c.listeners[0].tls_disable);
  EXPECT_TRUE(c.listeners[1].tls_disable);
  EXPECT_EQ(c.listeners[1].cluster_address, "0.0.0.0:8301");
  EXPECT_EQ(c.storage->raft.retry_join.size(), 1u);
  EXPECT_EQ(c.service_registration->k8s_namespace, "ns");
  EXPECT_EQ(c.default_lease_ttl, 3600);
  EXPECT_EQ(c.max_lease_ttl, 7200);
  // listener as an object keyed by type, too.
  ServerConfig d = MustParse(R"({"listener": {"tcp": {"tls_disable": true}}, "storage": {"inmem": {}}})", "d.json");
  ASSERT_EQ(d.listeners.size(), 1u);
  EXPECT_EQ(d.storage->type, "inmem");
  // A listener whose JSON body holds only a nested object, and raft with only retry_join.
  // (Here the listener is read fine and then rejected for having TLS without files.)
  EXPECT_EQ(ParseError(R"({"listener": {"tcp": {"telemetry": {"unauthenticated_metrics_access": true}}}})",
                       "e.json"),
            "e.json:1:15: 'tls_cert_file' must be set");
  ServerConfig e = MustParse(R"({"storage": {"raft": {"retry_join": {"leader_api_addr": "http://a:8200"}}}})",
                             "e.json");
  EXPECT_EQ(e.storage->type, "raft");
  ASSERT_EQ(e.storage->raft.retry_join.size(), 1u);
  EXPECT_EQ(e.storage->raft.retry_join[0].leader_api_addr, "http://a:8200");
}

TEST(Config, TlsDisableSpellings) {
  for (const char* v : {"1", "true", "\"1\"", "\"true\"", "\"t\"", "2"}) {
    ServerConfig c = MustParse(std::string("listener \"tcp\" { tls_disable = ") + v + " }");
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_TRUE(c.listeners[0].tls_disable) << v;
  }
  ServerConfig c = MustParse(
      "listener \"tcp\" {\n tls_disable = \"false\"\n tls_cert_file = \"/c\"\n tls_key_file = \"/k\"\n"
      " tls_min_version = \"tls13\"\n max_request_size = 0\n max_request_duration = \"2m\"\n}");
  EXPECT_FALSE(c.listeners[0].tls_disable);
  EXPECT_EQ(c.listeners[0].tls_cert_file, "/c");
  EXPECT_EQ(c.listeners[0].tls_min_version, "tls13");
  EXPECT_EQ(c.listeners[0].max_request_size, 33554432);
  EXPECT_EQ(c.listeners[0].max_request_duration, 120);
}

TEST(ConfigErrors, ValuesNameTheirPosition) {
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = \"yes\"\n}\n"),
            "c.hcl:2:17: invalid value for tls_disable: \"yes\" is not a boolean");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = [1]\n}\n"),
            "c.hcl:2:17: invalid value for tls_disable: expected a boolean, not a list");
  EXPECT_EQ(ParseError("ui = true\ndefault_lease_ttl = \"ten days\"\n"),
            "c.hcl:2:21: invalid value for default_lease_ttl: \"ten days\" is not a valid duration");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = 1\n  address = \"0.0.0.0:99999\"\n}\n"),
            "c.hcl:3:13: invalid address \"0.0.0.0:99999\": invalid port \"99999\"");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = 1\n  cluster_address = \"vault\"\n}\n"),
            "c.hcl:3:21: invalid cluster_address \"vault\": missing port in address");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = 1\n  address = \"[::]:http\"\n}\n"),
            "c.hcl:3:13: invalid address \"[::]:http\": invalid port \"http\"");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = 1\n  tls_min_version = \"ssl3\"\n}\n"),
            "c.hcl:3:21: 'tls_min_version' value \"ssl3\" not supported, please specify one of "
            "[tls10,tls11,tls12,tls13]");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_disable = 1\n  max_request_size = -1\n}\n"),
            "c.hcl:3:22: max_request_size cannot be negative");
  EXPECT_EQ(ParseError("storage \"raft\" {\n  path = \"/d\"\n  trailing_logs = \"many\"\n}\n"),
            "c.hcl:3:19: invalid value for trailing_logs: \"many\" is not an integer");
  EXPECT_EQ(ParseError("api_addr = [\"x\"]\n"), "c.hcl:1:12: api_addr must be a string, not a list");
}

TEST(ConfigErrors, Structure) {
  EXPECT_EQ(ParseError("ui = true\nlistener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n}\n"),
            "c.hcl:2:1: 'tls_cert_file' must be set");
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  tls_cert_file = \"/c\"\n}\n"), "c.hcl:1:1: 'tls_key_file' must be set");
  EXPECT_EQ(ParseError("listener \"unix\" {}\n"), "c.hcl:1:1: unsupported listener type \"unix\"");
  EXPECT_EQ(ParseError("listener {\n  tls_disable = 1\n}\n"), "c.hcl:1:1: block \"listener\" needs 1 label");
  EXPECT_EQ(ParseError("storage \"consul\" {\n  path = \"vault/\"\n}\n"), "c.hcl:1:1: Unknown storage type consul");
  EXPECT_EQ(ParseError("storage \"raft\" { path = \"/a\" }\nstorage \"file\" { path = \"/b\" }\n"),
            "c.hcl:2:1: only one \"storage\" block is permitted");
  EXPECT_EQ(ParseError("storage \"raft\" {\n  path = \"/a\"\n  retry_join {}\n}\n"),
            "c.hcl:3:3: retry_join: 'leader_api_addr' and 'auto_join' cannot both be empty");
  EXPECT_EQ(ParseError("storage \"raft\" {\n  path = \"/a\"\n  retry_join {\n    leader_api_addr = \"http://a\"\n"
                       "    auto_join = \"provider=k8s\"\n  }\n}\n"),
            "c.hcl:3:3: retry_join: cannot provide both a leader_api_addr and auto_join");
  EXPECT_EQ(ParseError("storage \"raft\" {\n  retry_join {\n    auto_join = \"x\"\n    auto_join_scheme = \"ftp\"\n  }\n}\n"),
            "c.hcl:4:24: invalid scheme \"ftp\"; must either be http or https");
  EXPECT_EQ(ParseError("seal \"transit\" {\n  address = \"x\"\n}\n"),
            "c.hcl:1:1: seal type \"transit\" is not supported (only shamir)");
  EXPECT_EQ(ParseError("service_registration \"consul\" {}\n"),
            "c.hcl:1:1: Unknown service_registration type consul");
  // Syntax errors come straight from the parser.
  EXPECT_EQ(ParseError("storage \"raft\" {\n  path \"/d\"\n}\n"), "c.hcl:2:8: expected '=' after key \"path\"");
  // The secret inline key is never echoed.
  std::string err = ParseError("storage \"raft\" {\n retry_join {\n leader_client_key = [\"SECRETPEM\"]\n}\n}\n");
  EXPECT_EQ(err.find("SECRETPEM"), std::string::npos);
}

TEST(ConfigErrors, Validate) {
  ServerConfig none = MustParse("ui = true\n");
  EXPECT_EQ(Validate(none).message(), "A storage backend must be specified");

  ServerConfig nopath = MustParse("cluster_addr = \"https://a:8201\"\nstorage \"raft\" {\n  node_id = \"n\"\n}\n");
  EXPECT_EQ(Validate(nopath).message(), "c.hcl:2:1: 'path' must be set");
  ApplyEnvOverrides(nopath, FakeEnv({{"VAULT_RAFT_PATH", "/from/env"}, {"VAULT_RAFT_NODE_ID", "env-node"}}));
  EXPECT_TRUE(Validate(nopath).ok());
  EXPECT_EQ(nopath.storage->raft.path, "/from/env");
  EXPECT_EQ(nopath.storage->raft.node_id, "env-node");

  ServerConfig file = MustParse("storage \"file\" {}\n");
  EXPECT_EQ(Validate(file).message(), "c.hcl:1:1: 'path' must be set");

  ServerConfig ttl = MustParse("storage \"inmem\" {}\ndefault_lease_ttl = \"1000h\"\n");
  EXPECT_EQ(Validate(ttl).message(), "cannot have DefaultLeaseTTL larger than MaxLeaseTTL");
  ServerConfig ttl_ok = MustParse("storage \"inmem\" {}\ndefault_lease_ttl = \"1h\"\nmax_lease_ttl = 7200\n");
  EXPECT_TRUE(Validate(ttl_ok).ok());

  ServerConfig nv = MustParse("cluster_addr = \"https://a:8201\"\nstorage \"raft\" {\n  path = \"/d\"\n"
                              "  retry_join_as_non_voter = true\n}\n");
  EXPECT_EQ(Validate(nv).message(),
            "c.hcl:2:1: setting retry_join_as_non_voter to true is only valid if at least one retry_join "
            "stanza is specified");
  ServerConfig nv_env = MustParse("cluster_addr = \"https://a:8201\"\nstorage \"raft\" {\n  path = \"/d\"\n}\n");
  ApplyEnvOverrides(nv_env, FakeEnv({{"VAULT_RAFT_RETRY_JOIN_AS_NON_VOTER", "false"}}));
  EXPECT_TRUE(nv_env.storage->raft.retry_join_as_non_voter);  // any non-empty value, as in Vault
  EXPECT_FALSE(Validate(nv_env).ok());
}

TEST(Config, EnvOverrides) {
  ServerConfig c = MustParse(
      "api_addr = \"http://conf:8200\"\ncluster_addr = \"https://conf:8201\"\nlog_level = \"warn\"\n"
      "storage \"raft\" {\n  path = \"/d\"\n  node_id = \"conf\"\n}\n");
  ServerConfig a = c;
  ApplyEnvOverrides(a, FakeEnv({}));
  EXPECT_EQ(a.api_addr, "http://conf:8200");
  EXPECT_EQ(a.cluster_addr, "https://conf:8201");
  EXPECT_EQ(a.log_level, "warn");
  EXPECT_EQ(a.storage->raft.node_id, "conf");

  ServerConfig b = c;
  ApplyEnvOverrides(b, FakeEnv({{"VAULT_REDIRECT_ADDR", "http://redirect:8200"},
                                {"VAULT_ADVERTISE_ADDR", "http://advertise:8200"},
                                {"VAULT_LOG_LEVEL", "debug"},
                                {"VAULT_RAFT_NODE_ID", ""}}));
  EXPECT_EQ(b.api_addr, "http://redirect:8200");
  EXPECT_EQ(b.log_level, "debug");
  EXPECT_EQ(b.storage->raft.node_id, "conf");  // empty variables are ignored

  ServerConfig d = c;
  ApplyEnvOverrides(d, FakeEnv({{"VAULT_API_ADDR", "http://api:8200"},
                                {"VAULT_REDIRECT_ADDR", "http://redirect:8200"},
                                {"VAULT_CLUSTER_ADDR", "https://env:8201"},
                                {"VAULT_RAFT_NODE_ID", "env-node"}}));
  EXPECT_EQ(d.api_addr, "http://api:8200");
  EXPECT_EQ(d.cluster_addr, "https://env:8201");
  EXPECT_EQ(d.storage->raft.node_id, "env-node");

  ServerConfig e = c;
  ApplyEnvOverrides(e, FakeEnv({{"VAULT_ADVERTISE_ADDR", "http://advertise:8200"}}));
  EXPECT_EQ(e.api_addr, "http://advertise:8200");

  // The real process environment is the default lookup.
  ::setenv("VAULT_CLUSTER_ADDR", "https://proc:8201", 1);
  ServerConfig f = c;
  ApplyEnvOverrides(f);
  ::unsetenv("VAULT_CLUSTER_ADDR");
  EXPECT_EQ(f.cluster_addr, "https://proc:8201");
}

TEST(Config, ClusterAddrDerivedForNonRaft) {
  ServerConfig c = MustParse("api_addr = \"http://10.1.2.3:8200\"\nstorage \"inmem\" {}\n");
  ASSERT_TRUE(Validate(c).ok());
  EXPECT_EQ(c.cluster_addr, "https://10.1.2.3:8201");
  ServerConfig d = MustParse("api_addr = \"https://vault.example.com\"\nstorage \"file\" { path = \"/d\" }\n");
  ASSERT_TRUE(Validate(d).ok());
  EXPECT_EQ(d.cluster_addr, "https://vault.example.com:444");
}

TEST(Config, UnknownKeysAreWarnings) {
  ServerConfig c = MustParse(R"(ui = true
bogus = 1
plugin_directory = "/plugins"
pid_file = "/run/vault.pid"
log_format = "json"
telemetry { statsite_address = "x" }
mystery "x" {}
ha_storage "consul" {}
listener "tcp" {
  tls_disable = 1
  wibble = 2
  telemetry { unauthenticated_metrics_access = true }
}
storage "raft" {
  path = "/d"
  zap = 3
  autopilot_redundancy_zone = "z"
}
)");
  EXPECT_EQ(c.plugin_directory, "/plugins");
  EXPECT_EQ(c.pid_file, "/run/vault.pid");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_TRUE(c.listeners[0].unauthenticated_metrics_access);
  std::vector<std::string> want = {
      "unknown or unsupported field bogus found in configuration at c.hcl:2:1",
      "unknown or unsupported field mystery found in configuration at c.hcl:7:1",
      "unknown or unsupported field listener.tcp.wibble found in configuration at c.hcl:11:3",
      "unknown or unsupported field storage.raft.zap found in configuration at c.hcl:16:3",
      "configuration for a Vault Enterprise feature has been ignored: field=autopilot_redundancy_zone",
      "ha_storage \"consul\" at c.hcl:8:1 is not supported and was ignored (raft storage provides HA)",
  };
  EXPECT_EQ(c.warnings, want);
}

class ConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tresor-config-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigDir, MergesFilesInNameOrder) {
  Write("10-base.hcl",
        "ui = false\nlog_level = \"info\"\nlistener \"tcp\" {\n  tls_disable = 1\n}\n"
        "storage \"file\" {\n  path = \"/first\"\n}\n");
  Write("20-more.json",
        R"({"ui": true, "api_addr": "http://x:8200",
            "listener": {"tcp": {"address": "0.0.0.0:9200", "tls_disable": true}}})");
  Write("30-storage.hcl", "log_level = \"debug\"\nstorage \"raft\" {\n  path = \"/raft\"\n}\n");
  Write("notes.txt", "this is not config = {");
  Write("40-backup.hcl~", "broken {{{");
  std::filesystem::create_directories(dir_ / "sub.hcl");

  auto r = LoadConfig(dir_.string());
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ServerConfig& c = *r;
  ASSERT_EQ(c.files.size(), 3u);
  EXPECT_EQ(std::filesystem::path(c.files[0]).filename(), "10-base.hcl");
  EXPECT_EQ(std::filesystem::path(c.files[2]).filename(), "30-storage.hcl");
  EXPECT_TRUE(c.ui);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.api_addr, "http://x:8200");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].address, "127.0.0.1:8200");
  EXPECT_EQ(c.listeners[1].address, "0.0.0.0:9200");
  EXPECT_EQ(c.storage->type, "raft");
  EXPECT_EQ(c.storage->raft.path, "/raft");
}

TEST_F(ConfigDir, ErrorsNameTheFile) {
  Write("a.hcl", "storage \"inmem\" {}\n");
  Write("b.hcl", "listener \"tcp\" {\n  tls_disable = \"maybe\"\n}\n");
  auto r = LoadConfig(dir_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            (dir_ / "b.hcl").string() + ":2:17: invalid value for tls_disable: \"maybe\" is not a boolean");

  auto single = LoadConfig((dir_ / "a.hcl").string());
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->storage->type, "inmem");

  auto missing = LoadConfig((dir_ / "nope.hcl").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "error loading \"" + (dir_ / "nope.hcl").string() + "\": no such file or directory");

  std::filesystem::create_directories(dir_ / "empty");
  EXPECT_FALSE(LoadConfig((dir_ / "empty").string()).ok());
}

}  // namespace
}  // namespace tresor::config
