#include "cli/base.h"

#include <cstdlib>

#include "common/duration.h"
#include "common/strings.h"

namespace tresor::cli {
namespace {

const char* kHopeDelim = "\xE2\x99\xA8";  // ♨, the delimiter Vault hopes is never in a secret

std::string Row(const std::string& k, const std::string& v) {
  return k + " " + kHopeDelim + " " + v;
}

int64_t IntOf(const Json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) return int64_t(v.get<double>());
  if (v.is_string()) {
    char* end = nullptr;
    const std::string& s = v.get_ref<const std::string&>();
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (end && *end == '\0') return n;
  }
  return 0;
}

std::string StrOf(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return "";
  return obj[key].get<std::string>();
}

bool BoolOf(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_boolean() && obj[key].get<bool>();
}

Json Get(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return Json();
  return obj[key];
}

// Go's time.Time.String() for an RFC 3339 timestamp (best effort).
std::string GoTimeString(const std::string& rfc3339) {
  auto tp = ParseRFC3339(rfc3339);
  if (!tp) return rfc3339;
  std::string s = FormatRFC3339Nano(*tp);  // 2006-01-02T15:04:05.999999999Z
  s[10] = ' ';
  s.pop_back();
  return s + " +0000 UTC";
}

}  // namespace

Result<Secret> Secret::Parse(const std::string& body) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const std::exception& e) {
    return Status::InvalidRequest(std::string("invalid character in response: ") + e.what());
  }
  if (!j.is_object()) return Status::InvalidRequest("json: cannot unmarshal into api.Secret");
  Json o = j;  // sorted keys, as Go's map decoding would print them
  Secret s;
  s.request_id = StrOf(o, "request_id");
  s.lease_id = StrOf(o, "lease_id");
  s.lease_duration = IntOf(Get(o, "lease_duration"));
  s.renewable = BoolOf(o, "renewable");
  s.data = Get(o, "data");
  if (!s.data.is_object()) s.data = Json();
  s.warnings = Get(o, "warnings");
  if (!s.warnings.is_array()) s.warnings = Json();
  s.auth = Get(o, "auth");
  if (!s.auth.is_object()) s.auth = Json();
  s.wrap_info = Get(o, "wrap_info");
  if (!s.wrap_info.is_object()) s.wrap_info = Json();
  return s;
}

Json Secret::ToJson() const {
  Json o = Json::object();
  o["request_id"] = request_id;
  o["lease_id"] = lease_id;
  o["lease_duration"] = lease_duration;
  o["renewable"] = renewable;
  o["data"] = Json(nlohmann::json(data));  // Go map: keys sorted at every level
  o["warnings"] = warnings;
  if (auth.is_object()) {
    Json a = Json::object();
    a["client_token"] = StrOf(auth, "client_token");
    a["accessor"] = StrOf(auth, "accessor");
    a["policies"] = Get(auth, "policies");
    a["token_policies"] = Get(auth, "token_policies");
    a["identity_policies"] = Get(auth, "identity_policies");
    a["metadata"] = Json(nlohmann::json(Get(auth, "metadata")));
    a["orphan"] = BoolOf(auth, "orphan");
    a["entity_id"] = StrOf(auth, "entity_id");
    a["lease_duration"] = IntOf(Get(auth, "lease_duration"));
    a["renewable"] = BoolOf(auth, "renewable");
    a["mfa_requirement"] = Get(auth, "mfa_requirement");
    o["auth"] = a;
  }
  if (wrap_info.is_object()) {
    Json w = Json::object();
    w["token"] = StrOf(wrap_info, "token");
    w["accessor"] = StrOf(wrap_info, "accessor");
    w["ttl"] = IntOf(Get(wrap_info, "ttl"));
    w["creation_time"] = StrOf(wrap_info, "creation_time");
    w["creation_path"] = StrOf(wrap_info, "creation_path");
    w["wrapped_accessor"] = StrOf(wrap_info, "wrapped_accessor");
    o["wrap_info"] = w;
  }
  return o;
}

void CommandEnv::AddHttpFlags(FlagSet& fs) {
  fs.String("address", &address);
  fs.String("agent-address", &address);
  fs.String("ca-cert", &ca_cert);
  fs.String("ca-path", &ca_path);
  fs.String("client-cert", &client_cert);
  fs.String("client-key", &client_key);
  fs.String("tls-server-name", &tls_server_name);
  fs.String("namespace", &ns, {"ns"});
  fs.String("wrap-ttl", &wrap_ttl);
  fs.Custom("tls-skip-verify", true, [this](const std::string& v) {
    if (!ParseGoBool(v, &tls_skip_verify)) return Status::InvalidRequest("parse error");
    tls_skip_verify_set = true;
    return Status::Ok();
  });
  // Accepted for compatibility; they change nothing here.
  static std::string ignored_s;
  static bool ignored_b;
  static std::vector<std::string> ignored_v;
  fs.String("policy-override", &ignored_s);
  fs.StringSlice("mfa", &ignored_v);
  fs.StringSlice("header", &ignored_v);
  fs.Bool("non-interactive", &ignored_b);
  fs.Bool("output-curl-string", &ignored_b);
  fs.Bool("output-policy", &ignored_b);
  fs.Bool("disable-redirects", &ignored_b);
  fs.String("unlock-key", &ignored_s);
}

void CommandEnv::AddOutputFlags(FlagSet& fs, bool with_field) {
  fs.String("format", &format);
  if (with_field) fs.String("field", &field);
  fs.Bool("detailed", &detailed);
}

std::optional<int> CommandEnv::Parse(FlagSet& fs, const std::vector<std::string>& args,
                                     std::vector<std::string>* positional) {
  auto r = fs.Parse(args);
  if (!r.ok()) {
    if (fs.help_requested()) {
      ui.Error("Usage: vault " + command_name + " [options] [args]\n\n  " + synopsis +
               "\n\n  See Vault's documentation of `vault " + command_name +
               "` for the flags; HTTP flags (-address, -ca-cert, -tls-skip-verify, ...) and "
               "output flags (-format, -field) are accepted as in Vault.");
      return 0;
    }
    ui.Error(r.status().message());
    return 1;
  }
  *positional = std::move(r).value();
  return std::nullopt;
}

std::string CommandEnv::Format() const {
  std::string f = format;
  if (f.empty()) {
    const char* e = std::getenv("VAULT_FORMAT");
    if (e && *e) f = e;
  }
  f = ToLower(TrimSpace(f));
  if (f.empty()) f = "table";
  if (f == "yml") f = "yaml";
  return f;
}

std::unique_ptr<client::Client> CommandEnv::NewClient() {
  client::Config cfg = client::Config::FromEnvironment();
  if (!address.empty()) cfg.address = address;
  if (!ca_cert.empty()) cfg.ca_cert = ca_cert;
  if (!ca_path.empty()) cfg.ca_path = ca_path;
  if (!client_cert.empty()) cfg.client_cert = client_cert;
  if (!client_key.empty()) cfg.client_key = client_key;
  if (!tls_server_name.empty()) cfg.tls_server_name = tls_server_name;
  if (!ns.empty()) cfg.ns = ns;
  if (!wrap_ttl.empty()) cfg.wrap_ttl = wrap_ttl;
  if (tls_skip_verify_set) cfg.tls_skip_verify = tls_skip_verify;
  return std::make_unique<client::Client>(std::move(cfg));
}

void CommandEnv::PrintWarnings(const Json& warnings) {
  if (!warnings.is_array() || warnings.empty()) return;
  ui.Warn("WARNING! The following warnings were returned from Vault:\n");
  for (const auto& w : warnings) {
    ui.Warn(WrapAtLength("* " + GoValue(w), 2));
    ui.Warn("");
  }
}

std::string CommandEnv::SecretTable(const Secret& s) const {
  std::vector<std::string> out;
  if (s.lease_duration > 0) {
    if (!s.lease_id.empty()) {
      out.push_back(Row("lease_id", s.lease_id));
      out.push_back(Row("lease_duration", HumanDuration(s.lease_duration)));
      out.push_back(Row("lease_renewable", s.renewable ? "true" : "false"));
    } else {
      out.push_back(Row("refresh_interval", HumanDuration(s.lease_duration)));
    }
  }
  if (s.auth.is_object()) {
    const Json& a = s.auth;
    Json mfa = Get(a, "mfa_requirement");
    if (mfa.is_object()) {
      out.push_back(Row("mfa_request_id", StrOf(mfa, "mfa_request_id")));
    } else {
      out.push_back(Row("token", StrOf(a, "client_token")));
      out.push_back(Row("token_accessor", StrOf(a, "accessor")));
      int64_t ld = IntOf(Get(a, "lease_duration"));
      out.push_back(Row("token_duration", ld == 0 ? "\xE2\x88\x9E" : HumanDuration(ld)));
      out.push_back(Row("token_renewable", BoolOf(a, "renewable") ? "true" : "false"));
      out.push_back(Row("token_policies", GoQuoteList(StringList(Get(a, "token_policies")))));
      out.push_back(Row("identity_policies", GoQuoteList(StringList(Get(a, "identity_policies")))));
      out.push_back(Row("policies", GoQuoteList(StringList(Get(a, "policies")))));
      Json meta = Get(a, "metadata");
      if (meta.is_object()) {
        std::map<std::string, std::string> sorted;
        for (auto it = meta.begin(); it != meta.end(); ++it) sorted[it.key()] = GoValue(it.value());
        for (const auto& [k, v] : sorted) out.push_back(Row("token_meta_" + k, v));
      }
    }
  }
  if (s.wrap_info.is_object()) {
    const Json& w = s.wrap_info;
    out.push_back(Row("wrapping_token:", StrOf(w, "token")));
    out.push_back(Row("wrapping_accessor:", StrOf(w, "accessor")));
    out.push_back(Row("wrapping_token_ttl:", HumanDuration(IntOf(Get(w, "ttl")))));
    out.push_back(Row("wrapping_token_creation_time:", GoTimeString(StrOf(w, "creation_time"))));
    out.push_back(Row("wrapping_token_creation_path:", StrOf(w, "creation_path")));
    if (!StrOf(w, "wrapped_accessor").empty())
      out.push_back(Row("wrapped_accessor:", StrOf(w, "wrapped_accessor")));
  }
  if (s.data.is_object() && !s.data.empty()) {
    std::map<std::string, Json> sorted;
    for (auto it = s.data.begin(); it != s.data.end(); ++it) sorted[it.key()] = it.value();
    for (const auto& [k, v] : sorted)
      out.push_back(Row(k, LooksLikeDuration(k) ? HumanDurationValue(v) : GoValue(v)));
  }
  if (out.empty()) return "";
  out.insert(out.begin(), std::string("Key") + kHopeDelim + "Value");
  return TableOutput(out, kHopeDelim);
}

int CommandEnv::OutputSecret(const Secret& s) {
  std::string f = Format();
  if (f == "table") {
    PrintWarnings(s.warnings);
    std::string t = SecretTable(s);
    if (!t.empty()) ui.Output(t);
    return 0;
  }
  if (f == "json") {
    ui.Output(GoJson(s.ToJson()));
    return 0;
  }
  if (f == "yaml") {
    ui.Output(GoYaml(s.ToJson()));
    return 0;
  }
  ui.Error("Invalid output format: " + f);
  return 1;
}

int CommandEnv::OutputData(const Json& data) {
  std::string f = Format();
  if (f == "table") {
    if (!data.is_object()) {
      ui.Error("Could not parse output: cannot use the table formatter for this type");
      return 1;
    }
    std::map<std::string, Json> sorted;
    for (auto it = data.begin(); it != data.end(); ++it) sorted[it.key()] = it.value();
    std::vector<std::string> out;
    for (const auto& [k, v] : sorted)
      out.push_back(Row(k, LooksLikeDuration(k) ? HumanDurationValue(v) : GoValue(v)));
    if (out.empty()) return 0;
    out.insert(out.begin(), std::string("Key") + kHopeDelim + "Value");
    ui.Output(TableOutput(out, kHopeDelim));
    return 0;
  }
  if (f == "json") {
    ui.Output(GoJson(data));
    return 0;
  }
  if (f == "yaml") {
    ui.Output(GoYaml(data));
    return 0;
  }
  ui.Error("Invalid output format: " + f);
  return 1;
}

int CommandEnv::OutputList(const Secret& s) {
  std::string f = Format();
  Json keys = s.data.is_object() && s.data.contains("keys") ? s.data["keys"] : Json();
  if (f == "table") {
    PrintWarnings(s.warnings);
    if (!keys.is_array()) {
      ui.Error("Could not parse output: error: table formatter cannot output list for this data type");
      return 1;
    }
    std::vector<std::string> list;
    for (const auto& k : keys) {
      if (!k.is_string()) {
        ui.Error("Could not parse output: " + GoValue(k) + " is not a string");
        return 1;
      }
      list.push_back(k.get<std::string>());
    }
    std::sort(list.begin(), list.end());
    if (list.empty()) return 0;
    std::vector<std::string> rows{"Keys"};
    rows.insert(rows.end(), list.begin(), list.end());
    ui.Output(TableOutput(rows, kHopeDelim));
    return 0;
  }
  const Json& payload = detailed ? s.ToJson() : keys;
  if (f == "json") {
    ui.Output(GoJson(payload));
    return 0;
  }
  if (f == "yaml") {
    ui.Output(GoYaml(payload));
    return 0;
  }
  ui.Error("Invalid output format: " + f);
  return 1;
}

int CommandEnv::PrintRawValue(const Json& val) {
  std::string f = Format();
  std::string text;
  if (f == "table" || f == "raw" || f.empty()) {
    text = GoValue(val);
  } else if (f == "json") {
    text = GoJson(val);
  } else if (f == "yaml") {
    text = GoYaml(val) + "\n";
  } else {
    ui.Error("Invalid output format: " + f);
    return 1;
  }
  if (ui.stdout_is_tty) ui.Output(text);
  else ui.Raw(text);
  return 0;
}

int CommandEnv::PrintRawField(const Secret& s, const std::string& f) {
  Json val;
  const Json& data = s.data;
  auto data_field = [&](const std::string& k) {
    return data.is_object() && data.contains(k) ? data[k] : Json();
  };
  if (s.auth.is_object()) {
    const Json& a = s.auth;
    if (f == "token") val = StrOf(a, "client_token");
    else if (f == "token_accessor") val = StrOf(a, "accessor");
    else if (f == "token_duration") val = IntOf(Get(a, "lease_duration"));
    else if (f == "token_renewable") val = BoolOf(a, "renewable");
    else if (f == "token_policies") val = Get(a, "token_policies");
    else if (f == "identity_policies") val = Get(a, "identity_policies");
    else if (f == "policies") val = Get(a, "policies");
    else val = data_field(f);
  } else if (s.wrap_info.is_object()) {
    const Json& w = s.wrap_info;
    if (f == "wrapping_token") val = StrOf(w, "token");
    else if (f == "wrapping_accessor") val = StrOf(w, "accessor");
    else if (f == "wrapping_token_ttl") val = IntOf(Get(w, "ttl"));
    else if (f == "wrapping_token_creation_time") val = StrOf(w, "creation_time");
    else if (f == "wrapping_token_creation_path") val = StrOf(w, "creation_path");
    else if (f == "wrapped_accessor") val = StrOf(w, "wrapped_accessor");
    else val = data_field(f);
  } else {
    if (f == "lease_duration" || f == "refresh_interval") val = s.lease_duration;
    else if (f == "lease_id") val = s.lease_id;
    else if (f == "request_id") val = s.request_id;
    else if (f == "renewable") val = s.renewable;
    else if (f == "data") val = data.is_object() && data.contains("data") ? data["data"] : data;
    else val = data_field(f);
  }
  if (val.is_null()) {
    ui.Error("Field " + GoQuote(f) + " not present in secret");
    return 1;
  }
  return PrintRawValue(val);
}

std::string EnsureNoTrailingSlash(const std::string& s) {
  std::string t(TrimSpace(s));
  while (!t.empty() && t.back() == '/') t.pop_back();
  return t;
}

std::string EnsureNoLeadingSlash(const std::string& s) {
  std::string t(TrimSpace(s));
  size_t i = 0;
  while (i < t.size() && t[i] == '/') ++i;
  return t.substr(i);
}

std::string SanitizePath(const std::string& s) {
  return EnsureNoTrailingSlash(EnsureNoLeadingSlash(s));
}

std::string EnsureTrailingSlash(const std::string& s) {
  std::string t(TrimSpace(s));
  if (t.empty()) return t;
  if (t.back() != '/') t += '/';
  return t;
}

int ArgCountError(const Ui& ui, size_t expected, size_t got, bool too_many) {
  ui.Error(std::string(too_many ? "Too many" : "Not enough") + " arguments (expected " +
           std::to_string(expected) + ", got " + std::to_string(got) + ")");
  return 1;
}

int OutputSealStatus(CommandEnv& env, client::Client& c, const Json& st) {
  Json leader;
  auto lr = c.Call({.method = "GET", .path = "/v1/sys/leader"});
  if (!lr.ok()) {
    if (lr.status().message().find("Vault is sealed") != std::string::npos) {
      leader = Json{{"ha_enabled", true}};
    } else {
      env.ui.Error("Error checking leader status: " + lr.status().message());
      return 1;
    }
  } else {
    try {
      leader = Json::parse(lr->body);
    } catch (...) {
      env.ui.Error("Error checking leader status: invalid JSON in response");
      return 1;
    }
  }
  std::string type = StrOf(st, "type");
  bool initialized = BoolOf(st, "initialized");
  bool sealed = BoolOf(st, "sealed");
  int64_t t = IntOf(Get(st, "t")), n = IntOf(Get(st, "n")), progress = IntOf(Get(st, "progress"));
  std::string nonce = StrOf(st, "nonce");
  std::string version = StrOf(st, "version"), build_date = StrOf(st, "build_date");
  bool migration = BoolOf(st, "migration"), recovery_seal = BoolOf(st, "recovery_seal");
  std::string cluster_name = StrOf(st, "cluster_name"), cluster_id = StrOf(st, "cluster_id");
  std::string storage_type = StrOf(st, "storage_type");
  std::string hcp_status = StrOf(st, "hcp_link_status");
  std::string hcp_id = StrOf(st, "hcp_link_resource_ID");
  Json warnings = Get(st, "warnings");
  bool ha_enabled = BoolOf(leader, "ha_enabled");
  bool is_self = BoolOf(leader, "is_self");
  std::string active_time = StrOf(leader, "active_time");
  if (active_time.empty()) active_time = "0001-01-01T00:00:00Z";
  bool active_zero = active_time.rfind("0001-01-01T00:00:00", 0) == 0;
  std::string leader_address = StrOf(leader, "leader_address");
  std::string leader_cluster = StrOf(leader, "leader_cluster_address");
  bool perf_standby = BoolOf(leader, "performance_standby");
  int64_t perf_wal = IntOf(Get(leader, "performance_standby_last_remote_wal"));
  int64_t last_wal = IntOf(Get(leader, "last_wal"));
  int64_t committed = IntOf(Get(leader, "raft_committed_index"));
  int64_t applied = IntOf(Get(leader, "raft_applied_index"));

  std::string f = env.Format();
  if (f == "json" || f == "yaml") {
    Json o = Json::object();
    o["type"] = type;
    o["initialized"] = initialized;
    o["sealed"] = sealed;
    o["t"] = t;
    o["n"] = n;
    o["progress"] = progress;
    o["nonce"] = nonce;
    o["version"] = version;
    o["build_date"] = build_date;
    o["migration"] = migration;
    if (!cluster_name.empty()) o["cluster_name"] = cluster_name;
    if (!cluster_id.empty()) o["cluster_id"] = cluster_id;
    o["recovery_seal"] = recovery_seal;
    if (!storage_type.empty()) o["storage_type"] = storage_type;
    if (!hcp_status.empty()) o["hcp_link_status"] = hcp_status;
    if (!hcp_id.empty()) o["hcp_link_resource_ID"] = hcp_id;
    if (warnings.is_array() && !warnings.empty()) o["warnings"] = warnings;
    o["ha_enabled"] = ha_enabled;
    if (is_self) o["is_self"] = true;
    o["active_time"] = active_time;
    if (!leader_address.empty()) o["leader_address"] = leader_address;
    if (!leader_cluster.empty()) o["leader_cluster_address"] = leader_cluster;
    if (perf_standby) o["performance_standby"] = true;
    if (perf_wal) o["performance_standby_last_remote_wal"] = perf_wal;
    if (last_wal) o["last_wal"] = last_wal;
    if (committed) o["raft_committed_index"] = committed;
    if (applied) o["raft_applied_index"] = applied;
    env.ui.Output(f == "json" ? GoJson(o) : GoYaml(o));
    return 0;
  }
  if (f != "table") {
    env.ui.Error("Invalid output format: " + f);
    return 1;
  }
  std::string prefix = recovery_seal ? "Recovery " : "";
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  std::vector<std::string> out{"Key | Value"};
  out.push_back(prefix + "Seal Type | " + type);
  out.push_back("Initialized | " + b(initialized));
  out.push_back("Sealed | " + b(sealed));
  out.push_back("Total " + prefix + "Shares | " + std::to_string(n));
  out.push_back("Threshold | " + std::to_string(t));
  if (sealed) {
    out.push_back("Unseal Progress | " + std::to_string(progress) + "/" + std::to_string(t));
    out.push_back("Unseal Nonce | " + nonce);
  }
  if (migration) out.push_back("Seal Migration in Progress | true");
  out.push_back("Version | " + version);
  out.push_back("Build Date | " + build_date);
  out.push_back("Storage Type | " + storage_type);
  if (!cluster_name.empty() && !cluster_id.empty()) {
    out.push_back("Cluster Name | " + cluster_name);
    out.push_back("Cluster ID | " + cluster_id);
  }
  if (!hcp_status.empty()) {
    out.push_back("HCP Link Status | " + hcp_status);
    out.push_back("HCP Link Resource ID | " + hcp_id);
  }
  out.push_back("HA Enabled | " + b(ha_enabled));
  if (ha_enabled && !sealed) {
    out.push_back("HA Cluster | " + leader_cluster);
    out.push_back(std::string("HA Mode | ") + (is_self ? "active" : "standby"));
    if (is_self && !active_zero) out.push_back("Active Since | " + active_time);
    if (!is_self) out.push_back("Active Node Address | " + (leader_address.empty() ? std::string("<none>") : leader_address));
    if (perf_standby) {
      out.push_back("Performance Standby Node | true");
      out.push_back("Performance Standby Last Remote WAL | " + std::to_string(perf_wal));
    }
  }
  if (committed > 0) out.push_back("Raft Committed Index | " + std::to_string(committed));
  if (applied > 0) out.push_back("Raft Applied Index | " + std::to_string(applied));
  if (last_wal != 0) out.push_back("Last WAL | " + std::to_string(last_wal));
  if (warnings.is_array() && !warnings.empty()) out.push_back("Warnings | " + GoValue(warnings));
  env.ui.Output(TableOutput(out, "|"));
  return 0;
}

}  // namespace tresor::cli
