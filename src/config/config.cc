#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/duration.h"
#include "common/strings.h"

namespace tresor::config {
namespace {

using hcl::Attribute;
using hcl::Block;
using hcl::Body;
using hcl::ErrorAt;
using hcl::Value;

// ---------------------------------------------------------------------------------------
// Typed getters. Vault reads most keys "weakly" (mapstructure WeakDecode / parseutil), so a
// bool may be written 1 or "true" and an integer "10000"; we accept the same spellings.

Status TypeError(const Attribute& a, std::string_view want) {
  return ErrorAt(a.value.pos, a.name + " must be " + std::string(want) + ", not a " + a.value.TypeName());
}

Status GetString(const Attribute& a, std::string* out) {
  const Value& v = a.value;
  switch (v.type) {
    case Value::Type::kString: *out = v.string_value; return Status::Ok();
    case Value::Type::kInt: *out = std::to_string(v.int_value); return Status::Ok();
    case Value::Type::kBool: *out = v.bool_value ? "true" : "false"; return Status::Ok();
    default: return TypeError(a, "a string");
  }
}

Status GetSecret(const Attribute& a, SecureString* out) {
  if (!a.value.is_string()) return TypeError(a, "a string");
  *out = SecureString(a.value.string_value);
  return Status::Ok();
}

std::optional<bool> ParseBoolString(std::string_view s) {
  // Go's strconv.ParseBool, plus "" = false as mapstructure's weak decoding does.
  if (s.empty()) return false;
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
  return std::nullopt;
}

Status GetBool(const Attribute& a, bool* out) {
  const Value& v = a.value;
  switch (v.type) {
    case Value::Type::kBool: *out = v.bool_value; return Status::Ok();
    case Value::Type::kInt: *out = v.int_value != 0; return Status::Ok();
    case Value::Type::kFloat: *out = v.float_value != 0; return Status::Ok();
    case Value::Type::kString:
      if (auto b = ParseBoolString(v.string_value)) {
        *out = *b;
        return Status::Ok();
      }
      return ErrorAt(v.pos, "invalid value for " + a.name + ": \"" + v.string_value + "\" is not a boolean");
    default:
      return ErrorAt(v.pos, "invalid value for " + a.name + ": expected a boolean, not a " + v.TypeName());
  }
}

Status GetInt(const Attribute& a, int64_t* out) {
  const Value& v = a.value;
  if (v.is_int()) {
    *out = v.int_value;
    return Status::Ok();
  }
  if (v.is_float() && std::floor(v.float_value) == v.float_value && std::fabs(v.float_value) < 9e18) {
    *out = int64_t(v.float_value);
    return Status::Ok();
  }
  if (v.is_string()) {
    std::string s(TrimSpace(v.string_value));
    char* end = nullptr;
    errno = 0;
    long long n = s.empty() ? 0 : std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && errno == 0 && end == s.c_str() + s.size()) {
      *out = n;
      return Status::Ok();
    }
    return ErrorAt(v.pos, "invalid value for " + a.name + ": \"" + v.string_value + "\" is not an integer");
  }
  return ErrorAt(v.pos, "invalid value for " + a.name + ": expected an integer, not a " + v.TypeName());
}

Status GetNonNegativeInt(const Attribute& a, int64_t* out) {
  RETURN_IF_ERROR(GetInt(a, out));
  if (*out < 0) return ErrorAt(a.value.pos, a.name + " cannot be negative");
  return Status::Ok();
}

// Seconds: a number, or a Go duration / number string ("90s", "768h", "3600").
Status GetDuration(const Attribute& a, int64_t* out) {
  const Value& v = a.value;
  if (v.is_int() || v.is_float()) {
    double d = v.is_int() ? double(v.int_value) : v.float_value;
    if (d < 0) return ErrorAt(v.pos, a.name + " cannot be negative");
    *out = int64_t(d);
    return Status::Ok();
  }
  if (v.is_string()) {
    if (auto s = ParseDurationSeconds(TrimSpace(v.string_value))) {
      *out = *s;
      return Status::Ok();
    }
    return ErrorAt(v.pos, "invalid value for " + a.name + ": \"" + v.string_value + "\" is not a valid duration");
  }
  return ErrorAt(v.pos, "invalid value for " + a.name + ": expected a duration, not a " + v.TypeName());
}

// "host:port" as Go's net.SplitHostPort accepts it ("[::]:8200", "0.0.0.0:8200", ":8200").
bool SplitHostPort(const std::string& addr, std::string* host, int* port, std::string* why) {
  std::string port_str;
  if (!addr.empty() && addr[0] == '[') {
    size_t close = addr.find(']');
    if (close == std::string::npos) {
      *why = "missing ']' in address";
      return false;
    }
    if (close + 1 >= addr.size() || addr[close + 1] != ':') {
      *why = "missing port in address";
      return false;
    }
    *host = addr.substr(1, close - 1);
    port_str = addr.substr(close + 2);
  } else {
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) {
      *why = "missing port in address";
      return false;
    }
    if (addr.find(':') != colon) {
      *why = "too many colons in address";
      return false;
    }
    *host = addr.substr(0, colon);
    port_str = addr.substr(colon + 1);
  }
  if (port_str.empty() || port_str.size() > 5 ||
      !std::all_of(port_str.begin(), port_str.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port_str) > 65535) {
    *why = "invalid port \"" + port_str + "\"";
    return false;
  }
  *port = std::stoi(port_str);
  return true;
}

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Status CheckAddress(const Attribute& a, const std::string& addr) {
  std::string host, why;
  int port;
  if (!SplitHostPort(addr, &host, &port, &why)) {
    return ErrorAt(a.value.pos, "invalid " + a.name + " \"" + addr + "\": " + why);
  }
  return Status::Ok();
}

std::string UnknownField(const std::string& name, const hcl::Pos& pos) {
  return "unknown or unsupported field " + name + " found in configuration at " + pos.ToString();
}

// Walks the attributes of `body`, handing each to `handle` (returns false for a name it
// does not know). Names in `block_names` are read by the caller through BlocksOf and are
// skipped here; other blocks and unknown attributes become warnings.
Status WalkAttributes(const Body& body, const std::set<std::string>& block_names,
                      const std::set<std::string>& ignored,
                      const std::function<Result<bool>(const Attribute&)>& handle,
                      std::vector<std::string>* warnings, const std::string& prefix = "") {
  for (const auto& a : body.attributes) {
    if (block_names.count(a.name) || ignored.count(a.name)) continue;
    ASSIGN_OR_RETURN(bool known, handle(a));
    if (!known) warnings->push_back(UnknownField(prefix + a.name, a.pos));
  }
  for (const auto& b : body.blocks) {
    if (block_names.count(b.type) || ignored.count(b.type)) continue;
    warnings->push_back(UnknownField(prefix + b.type, b.pos));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Sections

Status ParseListener(const Block& b, ServerConfig* cfg) {
  ListenerConfig l;
  l.pos = b.pos;
  l.type = ToLower(b.labels[0]);
  if (l.type != "tcp") return ErrorAt(b.pos, "unsupported listener type \"" + l.type + "\"");
  const Body& body = b.content();
  bool cluster_address_set = false;
  auto handle = [&](const Attribute& a) -> Result<bool> {
    const std::string& n = a.name;
    if (n == "address") {
      RETURN_IF_ERROR(GetString(a, &l.address));
      RETURN_IF_ERROR(CheckAddress(a, l.address));
    } else if (n == "cluster_address") {
      RETURN_IF_ERROR(GetString(a, &l.cluster_address));
      RETURN_IF_ERROR(CheckAddress(a, l.cluster_address));
      cluster_address_set = true;
    } else if (n == "tls_disable") {
      RETURN_IF_ERROR(GetBool(a, &l.tls_disable));
    } else if (n == "tls_cert_file") {
      RETURN_IF_ERROR(GetString(a, &l.tls_cert_file));
    } else if (n == "tls_key_file") {
      RETURN_IF_ERROR(GetString(a, &l.tls_key_file));
    } else if (n == "tls_client_ca_file") {
      RETURN_IF_ERROR(GetString(a, &l.tls_client_ca_file));
    } else if (n == "tls_min_version" || n == "tls_max_version") {
      std::string v;
      RETURN_IF_ERROR(GetString(a, &v));
      if (v != "tls10" && v != "tls11" && v != "tls12" && v != "tls13") {
        return ErrorAt(a.value.pos, "'" + n + "' value \"" + v +
                                        "\" not supported, please specify one of [tls10,tls11,tls12,tls13]");
      }
      (n == "tls_min_version" ? l.tls_min_version : l.tls_max_version) = v;
    } else if (n == "tls_cipher_suites") {
      RETURN_IF_ERROR(GetString(a, &l.tls_cipher_suites));
    } else if (n == "tls_require_and_verify_client_cert") {
      RETURN_IF_ERROR(GetBool(a, &l.tls_require_and_verify_client_cert));
    } else if (n == "tls_disable_client_certs") {
      RETURN_IF_ERROR(GetBool(a, &l.tls_disable_client_certs));
    } else if (n == "tls_prefer_server_cipher_suites" || n == "require_request_header") {
      bool ignored;
      RETURN_IF_ERROR(GetBool(a, &ignored));
    } else if (n == "max_request_size") {
      RETURN_IF_ERROR(GetNonNegativeInt(a, &l.max_request_size));
      if (l.max_request_size == 0) l.max_request_size = kDefaultMaxRequestSize;
    } else if (n == "max_request_duration") {
      RETURN_IF_ERROR(GetDuration(a, &l.max_request_duration));
      if (l.max_request_duration == 0) l.max_request_duration = kDefaultMaxRequestDurationSeconds;
    } else if (n == "http_read_header_timeout") {
      RETURN_IF_ERROR(GetDuration(a, &l.http_read_header_timeout));
    } else if (n == "http_read_timeout") {
      RETURN_IF_ERROR(GetDuration(a, &l.http_read_timeout));
    } else if (n == "http_write_timeout") {
      RETURN_IF_ERROR(GetDuration(a, &l.http_write_timeout));
    } else if (n == "http_idle_timeout") {
      RETURN_IF_ERROR(GetDuration(a, &l.http_idle_timeout));
    } else if (n == "purpose" || n == "role" || n == "type" || n == "proxy_protocol_behavior" ||
               n == "proxy_protocol_authorized_addrs" || n == "x_forwarded_for_authorized_addrs" ||
               n == "x_forwarded_for_hop_skips" || n == "x_forwarded_for_reject_not_authorized" ||
               n == "x_forwarded_for_reject_not_present" || n == "socket_mode" || n == "socket_user" ||
               n == "socket_group" || n == "disable_replication_status_endpoints") {
      // Accepted and not acted upon (Vault features this server does not implement).
    } else {
      return false;
    }
    return true;
  };
  RETURN_IF_ERROR(WalkAttributes(body, {"telemetry"},
                                 {"profiling", "custom_response_headers", "inflight_requests_logging"},
                                 handle, &cfg->warnings, "listener.tcp."));
  ASSIGN_OR_RETURN(auto telemetry, body.BlocksOf("telemetry", 0));
  for (const auto& t : telemetry) {
    auto th = [&](const Attribute& a) -> Result<bool> {
      if (a.name != "unauthenticated_metrics_access") return false;
      RETURN_IF_ERROR(GetBool(a, &l.unauthenticated_metrics_access));
      return true;
    };
    RETURN_IF_ERROR(WalkAttributes(t.content(), {}, {}, th, &cfg->warnings, "listener.tcp.telemetry."));
  }
  if (!cluster_address_set) {
    std::string host, why;
    int port = 0;
    if (SplitHostPort(l.address, &host, &port, &why) && port < 65535) {
      l.cluster_address = JoinHostPort(host, port + 1);
    }
  }
  if (!l.tls_disable) {
    if (l.tls_cert_file.empty()) return ErrorAt(b.pos, "'tls_cert_file' must be set");
    if (l.tls_key_file.empty()) return ErrorAt(b.pos, "'tls_key_file' must be set");
  }
  cfg->listeners.push_back(std::move(l));
  return Status::Ok();
}

Status ParseRetryJoin(const Block& b, RaftConfig* raft, std::vector<std::string>* warnings) {
  RetryJoinConfig rj;
  rj.pos = b.pos;
  auto handle = [&](const Attribute& a) -> Result<bool> {
    const std::string& n = a.name;
    if (n == "leader_api_addr") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_api_addr));
    } else if (n == "auto_join") {
      RETURN_IF_ERROR(GetString(a, &rj.auto_join));
    } else if (n == "auto_join_scheme") {
      RETURN_IF_ERROR(GetString(a, &rj.auto_join_scheme));
      if (rj.auto_join_scheme != "http" && rj.auto_join_scheme != "https") {
        return ErrorAt(a.value.pos, "invalid scheme \"" + rj.auto_join_scheme + "\"; must either be http or https");
      }
    } else if (n == "auto_join_port") {
      int64_t port;
      RETURN_IF_ERROR(GetInt(a, &port));
      if (port <= 0 || port > 65535) return ErrorAt(a.value.pos, "invalid auto_join_port " + std::to_string(port));
      rj.auto_join_port = int(port);
    } else if (n == "leader_tls_servername") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_tls_servername));
    } else if (n == "leader_ca_cert_file") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_ca_cert_file));
    } else if (n == "leader_client_cert_file") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_client_cert_file));
    } else if (n == "leader_client_key_file") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_client_key_file));
    } else if (n == "leader_ca_cert") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_ca_cert));
    } else if (n == "leader_client_cert") {
      RETURN_IF_ERROR(GetString(a, &rj.leader_client_cert));
    } else if (n == "leader_client_key") {
      RETURN_IF_ERROR(GetSecret(a, &rj.leader_client_key));
    } else {
      return false;
    }
    return true;
  };
  RETURN_IF_ERROR(WalkAttributes(b.content(), {}, {}, handle, warnings, "storage.raft.retry_join."));
  if (rj.leader_api_addr.empty() && rj.auto_join.empty()) {
    return ErrorAt(b.pos, "retry_join: 'leader_api_addr' and 'auto_join' cannot both be empty");
  }
  if (!rj.leader_api_addr.empty() && !rj.auto_join.empty()) {
    return ErrorAt(b.pos, "retry_join: cannot provide both a leader_api_addr and auto_join");
  }
  raft->retry_join.push_back(std::move(rj));
  return Status::Ok();
}

Status ParseRaft(const Block& b, StorageConfig* st, std::vector<std::string>* warnings) {
  RaftConfig& r = st->raft;
  auto handle = [&](const Attribute& a) -> Result<bool> {
    const std::string& n = a.name;
    if (n == "path") {
      RETURN_IF_ERROR(GetString(a, &r.path));
    } else if (n == "node_id") {
      RETURN_IF_ERROR(GetString(a, &r.node_id));
    } else if (n == "performance_multiplier") {
      RETURN_IF_ERROR(GetNonNegativeInt(a, &r.performance_multiplier));
    } else if (n == "trailing_logs") {
      RETURN_IF_ERROR(GetNonNegativeInt(a, &r.trailing_logs));
    } else if (n == "snapshot_threshold") {
      RETURN_IF_ERROR(GetNonNegativeInt(a, &r.snapshot_threshold));
    } else if (n == "snapshot_interval") {
      RETURN_IF_ERROR(GetDuration(a, &r.snapshot_interval));
    } else if (n == "max_entry_size") {
      RETURN_IF_ERROR(GetNonNegativeInt(a, &r.max_entry_size));
    } else if (n == "autopilot_reconcile_interval") {
      RETURN_IF_ERROR(GetDuration(a, &r.autopilot_reconcile_interval));
    } else if (n == "autopilot_update_interval") {
      RETURN_IF_ERROR(GetDuration(a, &r.autopilot_update_interval));
    } else if (n == "retry_join_as_non_voter") {
      RETURN_IF_ERROR(GetBool(a, &r.retry_join_as_non_voter));
    } else if (n == "autopilot_redundancy_zone" || n == "autopilot_upgrade_version") {
      warnings->push_back("configuration for a Vault Enterprise feature has been ignored: field=" + n);
    } else {
      return false;
    }
    return true;
  };
  RETURN_IF_ERROR(WalkAttributes(b.content(), {"retry_join"}, {}, handle, warnings, "storage.raft."));
  ASSIGN_OR_RETURN(auto joins, b.content().BlocksOf("retry_join", 0));
  for (const auto& j : joins) RETURN_IF_ERROR(ParseRetryJoin(j, &r, warnings));
  return Status::Ok();
}

Status ParseStorage(const Block& b, ServerConfig* cfg) {
  StorageConfig st;
  st.pos = b.pos;
  st.type = b.labels[0];
  const std::string prefix = "storage." + st.type + ".";
  if (st.type == "raft") {
    RETURN_IF_ERROR(ParseRaft(b, &st, &cfg->warnings));
  } else if (st.type == "file") {
    auto handle = [&](const Attribute& a) -> Result<bool> {
      if (a.name != "path") return false;
      RETURN_IF_ERROR(GetString(a, &st.path));
      return true;
    };
    RETURN_IF_ERROR(WalkAttributes(b.content(), {}, {}, handle, &cfg->warnings, prefix));
  } else if (st.type == "inmem") {
    auto handle = [](const Attribute&) -> Result<bool> { return false; };
    RETURN_IF_ERROR(WalkAttributes(b.content(), {}, {}, handle, &cfg->warnings, prefix));
  } else {
    return ErrorAt(b.pos, "Unknown storage type " + st.type);
  }
  cfg->storage = std::move(st);
  return Status::Ok();
}

Status ParseServiceRegistration(const Block& b, ServerConfig* cfg) {
  ServiceRegistrationConfig sr;
  sr.pos = b.pos;
  sr.type = b.labels[0];
  if (sr.type != "kubernetes") return ErrorAt(b.pos, "Unknown service_registration type " + sr.type);
  auto handle = [&](const Attribute& a) -> Result<bool> {
    if (a.name == "namespace") {
      RETURN_IF_ERROR(GetString(a, &sr.k8s_namespace));
    } else if (a.name == "pod_name") {
      RETURN_IF_ERROR(GetString(a, &sr.pod_name));
    } else {
      return false;
    }
    return true;
  };
  RETURN_IF_ERROR(WalkAttributes(b.content(), {}, {}, handle, &cfg->warnings, "service_registration.kubernetes."));
  cfg->service_registration = std::move(sr);
  return Status::Ok();
}

// At most one block called `name` (or its alias) per file.
Result<std::vector<Block>> SingleBlock(const Body& body, const std::string& name, const std::string& alias) {
  ASSIGN_OR_RETURN(auto blocks, body.BlocksOf(name, 1));
  if (!alias.empty()) {
    ASSIGN_OR_RETURN(auto more, body.BlocksOf(alias, 1));
    blocks.insert(blocks.end(), more.begin(), more.end());
  }
  if (blocks.size() > 1) return ErrorAt(blocks[1].pos, "only one \"" + name + "\" block is permitted");
  return blocks;
}

// Decodes one document into `cfg`, on top of what earlier documents set.
Status Decode(const Body& body, ServerConfig* cfg) {
  const std::set<std::string> blocks = {"listener", "storage", "backend", "ha_storage", "ha_backend",
                                        "service_registration", "seal"};
  // Known Vault keys and stanzas this server reads but does not act on.
  const std::set<std::string> ignored = {
      "telemetry", "cache_size", "plugin_file_uid", "plugin_file_permissions", "log_rotate_duration",
      "log_rotate_bytes", "log_rotate_max_files", "log_requests_level", "disable_printable_check",
      "disable_sentinel_trace", "disable_sealwrap", "disable_indexing", "license_path",
      "imprecise_lease_role_tracking", "experiments", "detect_deadlocks", "user_lockout",
      "administrative_namespace_path", "enable_post_unseal_trace", "post_unseal_trace_directory",
      "replication", "sentinel", "hcp_link", "entropy",
      "kms_library", "enable_multiseal"};
  auto handle = [&](const Attribute& a) -> Result<bool> {
    const std::string& n = a.name;
    static const std::map<std::string, std::string ServerConfig::*> strings = {
        {"api_addr", &ServerConfig::api_addr},
        {"cluster_addr", &ServerConfig::cluster_addr},
        {"cluster_name", &ServerConfig::cluster_name},
        {"log_level", &ServerConfig::log_level},
        {"log_format", &ServerConfig::log_format},
        {"log_file", &ServerConfig::log_file},
        {"pid_file", &ServerConfig::pid_file},
        {"plugin_directory", &ServerConfig::plugin_directory},
    };
    static const std::map<std::string, bool ServerConfig::*> bools = {
        {"disable_mlock", &ServerConfig::disable_mlock},
        {"ui", &ServerConfig::ui},
        {"disable_cache", &ServerConfig::disable_cache},
        {"disable_clustering", &ServerConfig::disable_clustering},
        {"raw_storage_endpoint", &ServerConfig::raw_storage_endpoint},
        {"introspection_endpoint", &ServerConfig::introspection_endpoint},
        {"enable_response_header_hostname", &ServerConfig::enable_response_header_hostname},
        {"enable_response_header_raft_node_id", &ServerConfig::enable_response_header_raft_node_id},
    };
    static const std::map<std::string, int64_t ServerConfig::*> durations = {
        {"default_lease_ttl", &ServerConfig::default_lease_ttl},
        {"max_lease_ttl", &ServerConfig::max_lease_ttl},
        {"default_max_request_duration", &ServerConfig::default_max_request_duration},
    };
    if (auto it = strings.find(n); it != strings.end()) {
      RETURN_IF_ERROR(GetString(a, &(cfg->*(it->second))));
    } else if (auto b = bools.find(n); b != bools.end()) {
      RETURN_IF_ERROR(GetBool(a, &(cfg->*(b->second))));
    } else if (auto d = durations.find(n); d != durations.end()) {
      int64_t secs;
      RETURN_IF_ERROR(GetDuration(a, &secs));
      // 0 means "the default" for the lease TTLs, as in Vault.
      if (secs == 0 && n != "default_max_request_duration") secs = kDefaultLeaseTtlSeconds;
      cfg->*(d->second) = secs;
    } else if (n == "disable_performance_standby") {
      RETURN_IF_ERROR(GetBool(a, &cfg->disable_performance_standby));
    } else {
      return false;
    }
    return true;
  };
  RETURN_IF_ERROR(WalkAttributes(body, blocks, ignored, handle, &cfg->warnings));

  ASSIGN_OR_RETURN(auto listeners, body.BlocksOf("listener", 1));
  for (const auto& l : listeners) RETURN_IF_ERROR(ParseListener(l, cfg));

  ASSIGN_OR_RETURN(auto storage, SingleBlock(body, "storage", "backend"));
  if (!storage.empty()) RETURN_IF_ERROR(ParseStorage(storage[0], cfg));

  for (const char* ha : {"ha_storage", "ha_backend"}) {
    ASSIGN_OR_RETURN(auto has, body.BlocksOf(ha, 1));
    for (const auto& h : has) {
      cfg->warnings.push_back(std::string(ha) + " \"" + h.labels[0] + "\" at " + h.pos.ToString() +
                              " is not supported and was ignored (raft storage provides HA)");
    }
  }

  ASSIGN_OR_RETURN(auto sr, SingleBlock(body, "service_registration", ""));
  if (!sr.empty()) RETURN_IF_ERROR(ParseServiceRegistration(sr[0], cfg));

  ASSIGN_OR_RETURN(auto seals, body.BlocksOf("seal", 1));
  for (const auto& s : seals) {
    if (ToLower(s.labels[0]) != "shamir") {
      return ErrorAt(s.pos, "seal type \"" + s.labels[0] + "\" is not supported (only shamir)");
    }
  }
  return Status::Ok();
}

bool IsTemporaryFile(const std::string& name) {
  return (!name.empty() && name.back() == '~') || name.rfind(".#", 0) == 0 ||
         (name.size() > 1 && name.front() == '#' && name.back() == '#');
}

bool HasSuffix(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidRequest("error loading \"" + path + "\": cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::InvalidRequest("error loading \"" + path + "\": read failed");
  return ss.str();
}

// "scheme://host[:port]/..." -> "https://host:(port+1)/...", Vault's cluster address guess.
std::optional<std::string> ClusterAddrFromApiAddr(const std::string& api) {
  size_t scheme_end = api.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  size_t host_start = scheme_end + 3;
  size_t host_end = api.find_first_of("/?#", host_start);
  if (host_end == std::string::npos) host_end = api.size();
  std::string hostport = api.substr(host_start, host_end - host_start);
  if (hostport.empty()) return std::nullopt;
  std::string host, why;
  int port = 0;
  if (!SplitHostPort(hostport, &host, &port, &why)) {
    if (why != "missing port in address") return std::nullopt;
    host = hostport;
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    port = 443;
  }
  return "https://" + JoinHostPort(host, port + 1) + api.substr(host_end);
}

}  // namespace

std::map<std::string, std::string> StorageConfig::PhysicalOptions() const {
  std::map<std::string, std::string> o;
  if (type == "file") o["path"] = path;
  if (type == "raft") {
    o["path"] = raft.path;
    if (!raft.node_id.empty()) o["node_id"] = raft.node_id;
    o["performance_multiplier"] = std::to_string(raft.performance_multiplier);
    o["trailing_logs"] = std::to_string(raft.trailing_logs);
    o["snapshot_threshold"] = std::to_string(raft.snapshot_threshold);
    o["max_entry_size"] = std::to_string(raft.max_entry_size);
  }
  return o;
}

Result<ServerConfig> ParseConfigs(const std::vector<hcl::Body>& docs) {
  ServerConfig cfg;
  for (const auto& d : docs) {
    RETURN_IF_ERROR(Decode(d, &cfg));
    cfg.files.push_back(d.pos.filename());
  }
  return cfg;
}

Result<ServerConfig> ParseConfig(std::string_view text, std::string_view filename) {
  ASSIGN_OR_RETURN(hcl::Body body, hcl::Parse(text, filename));
  std::vector<hcl::Body> docs;
  docs.push_back(std::move(body));
  return ParseConfigs(docs);
}

Result<ServerConfig> LoadConfig(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return Status::InvalidRequest("error loading \"" + path + "\": no such file or directory");
  }
  std::vector<std::string> files;
  if (fs::is_directory(status)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_directory()) continue;
      std::string name = entry.path().filename().string();
      if (!(HasSuffix(name, ".hcl") || HasSuffix(name, ".json")) || IsTemporaryFile(name)) continue;
      files.push_back(entry.path().string());
    }
    if (ec) return Status::InvalidRequest("error loading \"" + path + "\": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      return Status::InvalidRequest("no configuration files (*.hcl, *.json) found in \"" + path + "\"");
    }
  } else {
    files.push_back(path);
  }
  std::vector<hcl::Body> docs;
  for (const auto& f : files) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(f));
    ASSIGN_OR_RETURN(hcl::Body body, hcl::Parse(text, f));
    docs.push_back(std::move(body));
  }
  return ParseConfigs(docs);
}

std::optional<std::string> ProcessEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

void ApplyEnvOverrides(ServerConfig& cfg, const EnvLookup& env) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto v = env(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  };
  for (const char* name : {"VAULT_API_ADDR", "VAULT_REDIRECT_ADDR", "VAULT_ADVERTISE_ADDR"}) {
    if (auto v = get(name)) {
      cfg.api_addr = *v;
      break;
    }
  }
  if (auto v = get("VAULT_CLUSTER_ADDR")) cfg.cluster_addr = *v;
  if (auto v = get("VAULT_LOG_LEVEL")) cfg.log_level = *v;
  if (auto v = get("VAULT_LOG_FORMAT")) cfg.log_format = *v;
  if (cfg.storage && cfg.storage->type == "raft") {
    RaftConfig& r = cfg.storage->raft;
    if (auto v = get("VAULT_RAFT_PATH")) r.path = *v;
    if (auto v = get("VAULT_RAFT_NODE_ID")) r.node_id = *v;
    // Vault treats any non-empty value as true here.
    if (get("VAULT_RAFT_RETRY_JOIN_AS_NON_VOTER")) r.retry_join_as_non_voter = true;
  }
  if (cfg.service_registration) {
    if (auto v = get("VAULT_K8S_NAMESPACE")) cfg.service_registration->k8s_namespace = *v;
    if (auto v = get("VAULT_K8S_POD_NAME")) cfg.service_registration->pod_name = *v;
  }
}

Status Validate(ServerConfig& cfg) {
  if (!cfg.storage) return Status::InvalidRequest("A storage backend must be specified");
  const StorageConfig& st = *cfg.storage;
  if (st.type == "file" && st.path.empty()) return ErrorAt(st.pos, "'path' must be set");
  if (st.type == "raft") {
    if (st.raft.path.empty()) return ErrorAt(st.pos, "'path' must be set");
    if (st.raft.retry_join_as_non_voter && st.raft.retry_join.empty()) {
      return ErrorAt(st.pos,
                     "setting retry_join_as_non_voter to true is only valid if at least one "
                     "retry_join stanza is specified");
    }
    if (cfg.cluster_addr.empty()) {
      return Status::InvalidRequest("Cluster address must be set when using raft storage");
    }
  }
  if (cfg.default_lease_ttl > cfg.max_lease_ttl) {
    return Status::InvalidRequest("cannot have DefaultLeaseTTL larger than MaxLeaseTTL");
  }
  if (cfg.cluster_addr.empty() && !cfg.api_addr.empty()) {
    if (auto c = ClusterAddrFromApiAddr(cfg.api_addr)) cfg.cluster_addr = *c;
  }
  return Status::Ok();
}

}  // namespace tresor::config
