// `vault secrets enable|disable|list|tune|move` and `vault auth enable|disable|list|tune`.
#include <algorithm>

#include "cli/commands.h"
#include "common/duration.h"
#include "common/strings.h"

namespace tresor::cli {
namespace {

// Flags shared by enable and tune.
struct MountFlags {
  std::string description, path, plugin_name, listing_visibility, token_type, plugin_version;
  int64_t default_ttl = 0, max_ttl = 0, version = 0;
  bool force_no_cache = false, local = false, seal_wrap = false, external_entropy = false;
  std::map<std::string, std::string> options;
  std::vector<std::string> audit_req, audit_resp, passthrough, allowed_resp, managed_keys;

  void Add(FlagSet& fs, bool enable, bool auth) {
    fs.String("description", &description);
    fs.Duration("default-lease-ttl", &default_ttl);
    fs.Duration("max-lease-ttl", &max_ttl);
    fs.StringMap("options", &options);
    fs.Int("version", &version);
    fs.String("plugin-version", &plugin_version);
    fs.StringSlice("audit-non-hmac-request-keys", &audit_req);
    fs.StringSlice("audit-non-hmac-response-keys", &audit_resp);
    fs.String("listing-visibility", &listing_visibility);
    fs.StringSlice("passthrough-request-headers", &passthrough);
    fs.StringSlice("allowed-response-headers", &allowed_resp);
    fs.StringSlice("allowed-managed-keys", &managed_keys);
    if (auth) fs.String("token-type", &token_type);
    if (enable) {
      fs.String("path", &path);
      fs.String("plugin-name", &plugin_name);
      fs.Bool("force-no-cache", &force_no_cache);
      fs.Bool("local", &local);
      fs.Bool("seal-wrap", &seal_wrap);
      fs.Bool("external-entropy-access", &external_entropy);
    }
  }

  // Optional config keys, added only when their flag was given.
  void AddOptionalConfig(const FlagSet& fs, Json* config) const {
    if (fs.IsSet("audit-non-hmac-request-keys")) (*config)["audit_non_hmac_request_keys"] = audit_req;
    if (fs.IsSet("audit-non-hmac-response-keys")) (*config)["audit_non_hmac_response_keys"] = audit_resp;
    if (fs.IsSet("listing-visibility")) (*config)["listing_visibility"] = listing_visibility;
    if (fs.IsSet("passthrough-request-headers")) (*config)["passthrough_request_headers"] = passthrough;
    if (fs.IsSet("allowed-response-headers")) (*config)["allowed_response_headers"] = allowed_resp;
    if (fs.IsSet("allowed-managed-keys")) (*config)["allowed_managed_keys"] = managed_keys;
    if (fs.IsSet("token-type")) (*config)["token_type"] = token_type;
    if (fs.IsSet("plugin-version")) (*config)["plugin_version"] = plugin_version;
  }
};

Json OptionsJson(const std::map<std::string, std::string>& m) {
  if (m.empty()) return Json();
  Json o = Json::object();
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

int Enable(CommandEnv& env, const std::vector<std::string>& args, bool auth) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  MountFlags mf;
  mf.Add(fs, true, auth);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::string type(TrimSpace(pos[0]));
  if (type == "plugin") type = mf.plugin_name;
  std::string mount_path = mf.path.empty() ? type : mf.path;
  if (mf.version > 0) mf.options["version"] = std::to_string(mf.version);
  mount_path = EnsureTrailingSlash(mount_path);
  Json config = Json::object();
  config["options"] = nullptr;
  config["default_lease_ttl"] = GoDurationString(mf.default_ttl);
  config["max_lease_ttl"] = GoDurationString(mf.max_ttl);
  config["force_no_cache"] = mf.force_no_cache;
  mf.AddOptionalConfig(fs, &config);
  Json body = Json::object();
  body["type"] = type;
  body["description"] = mf.description;
  body["config"] = config;
  body["local"] = mf.local;
  body["seal_wrap"] = mf.seal_wrap;
  body["external_entropy_access"] = mf.external_entropy;
  body["options"] = OptionsJson(mf.options);
  auto c = env.NewClient();
  auto r = c->Call({.method = "POST",
                    .path = std::string(auth ? "/v1/sys/auth/" : "/v1/sys/mounts/") + mount_path,
                    .body = body.dump()});
  if (!r.ok()) {
    env.ui.Error(auth ? "Error enabling " + type + " auth: " + r.status().message()
                      : "Error enabling: " + r.status().message());
    return 2;
  }
  std::string thing = type;
  if (!mf.plugin_version.empty()) thing += " version " + mf.plugin_version;
  if (auth) env.ui.Output("Success! Enabled " + thing + " auth method at: " + mount_path);
  else env.ui.Output("Success! Enabled the " + thing + " secrets engine at: " + mount_path);
  return 0;
}

int Disable(CommandEnv& env, const std::vector<std::string>& args, bool auth) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  std::string path = EnsureTrailingSlash(SanitizePath(pos[0]));
  auto c = env.NewClient();
  auto r = c->Call({.method = "DELETE",
                    .path = std::string(auth ? "/v1/sys/auth/" : "/v1/sys/mounts/") + path});
  if (!r.ok()) {
    env.ui.Error(std::string(auth ? "Error disabling auth method at " : "Error disabling secrets engine at ") +
                 path + ": " + r.status().message());
    return 2;
  }
  env.ui.Output(std::string(auth ? "Success! Disabled the auth method (if it existed) at: "
                                 : "Success! Disabled the secrets engine (if it existed) at: ") + path);
  return 0;
}

int Tune(CommandEnv& env, const std::vector<std::string>& args, bool auth) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  MountFlags mf;
  mf.Add(fs, false, auth);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  if (mf.version > 0) mf.options["version"] = std::to_string(mf.version);
  std::string path = EnsureTrailingSlash(SanitizePath(pos[0]));
  Json body = Json::object();
  if (fs.IsSet("default-lease-ttl"))
    body["default_lease_ttl"] = mf.default_ttl == 0 ? std::string("") : GoDurationString(mf.default_ttl);
  if (fs.IsSet("max-lease-ttl"))
    body["max_lease_ttl"] = mf.max_ttl == 0 ? std::string("") : GoDurationString(mf.max_ttl);
  if (fs.IsSet("description")) body["description"] = mf.description;
  if (!mf.options.empty()) body["options"] = OptionsJson(mf.options);
  mf.AddOptionalConfig(fs, &body);
  auto c = env.NewClient();
  auto r = c->Call({.method = "POST",
                    .path = std::string(auth ? "/v1/sys/auth/" : "/v1/sys/mounts/") + path + "tune",
                    .body = body.dump()});
  if (!r.ok()) {
    env.ui.Error(std::string(auth ? "Error tuning auth method " : "Error tuning secrets engine ") + path +
                 ": " + r.status().message());
    return 2;
  }
  env.ui.Output(std::string(auth ? "Success! Tuned the auth method at: "
                                 : "Success! Tuned the secrets engine at: ") + path);
  return 0;
}

std::string CalcTtl(const std::string& type, const Json& v, bool auth) {
  if (!auth && (type == "system" || type == "cubbyhole")) return "";
  int64_t ttl = v.is_number() ? int64_t(v.get<double>()) : 0;
  if (ttl != 0) return std::to_string(ttl);
  return "system";
}

std::string S(const Json& o, const char* k) {
  return o.is_object() && o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : "";
}
bool B(const Json& o, const char* k) {
  return o.is_object() && o.contains(k) && o[k].is_boolean() && o[k].get<bool>();
}

// api.MountOutput / api.AuthMount as the Go client re-encodes them (struct field order).
Json MountOutputJson(const Json& m, bool auth) {
  Json cfg_in = m.is_object() && m.contains("config") && m["config"].is_object() ? m["config"] : Json::object();
  Json cfg = Json::object();
  auto num = [](const Json& v) { return v.is_number() ? int64_t(v.get<double>()) : int64_t(0); };
  cfg["default_lease_ttl"] = num(cfg_in.value("default_lease_ttl", Json()));
  cfg["max_lease_ttl"] = num(cfg_in.value("max_lease_ttl", Json()));
  if (!auth) cfg["force_no_cache"] = B(cfg_in, "force_no_cache");
  for (const char* k : {"audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "listing_visibility",
                        "passthrough_request_headers", "allowed_response_headers", "token_type",
                        "allowed_managed_keys", "plugin_name"}) {
    if (!cfg_in.contains(k)) continue;
    const Json& v = cfg_in[k];
    bool empty = v.is_null() || ((v.is_array() || v.is_string()) && v.empty());
    if (!empty) cfg[k] = v;
  }
  Json options = m.is_object() && m.contains("options") && m["options"].is_object()
                     ? Json(nlohmann::json(m["options"]))
                     : Json();
  Json o = Json::object();
  o["uuid"] = S(m, "uuid");
  o["type"] = S(m, "type");
  o["description"] = S(m, "description");
  o["accessor"] = S(m, "accessor");
  o["config"] = cfg;
  if (!auth) o["options"] = options;
  o["local"] = B(m, "local");
  o["seal_wrap"] = B(m, "seal_wrap");
  o["external_entropy_access"] = B(m, "external_entropy_access");
  if (auth) o["options"] = options;
  o["plugin_version"] = S(m, "plugin_version");
  o["running_plugin_version"] = S(m, "running_plugin_version");
  o["running_sha256"] = S(m, "running_sha256");
  o["deprecation_status"] = S(m, "deprecation_status");
  return o;
}

int ListMounts(CommandEnv& env, const std::vector<std::string>& args, bool auth) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  env.AddOutputFlags(fs, false);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (!pos.empty()) return ArgCountError(env.ui, 0, pos.size(), true);
  auto c = env.NewClient();
  auto r = CallJson(*c, {.method = "GET", .path = auth ? "/v1/sys/auth" : "/v1/sys/mounts"});
  if (!r.ok()) {
    env.ui.Error(std::string(auth ? "Error listing enabled authentications: "
                                  : "Error listing secrets engines: ") + r.status().message());
    return 2;
  }
  Json mounts = r->is_object() && r->contains("data") && (*r)["data"].is_object() ? (*r)["data"] : Json::object();
  std::vector<std::string> paths;
  for (auto it = mounts.begin(); it != mounts.end(); ++it) paths.push_back(it.key());
  std::sort(paths.begin(), paths.end());
  if (env.Format() != "table") {
    Json out = Json::object();
    for (const auto& p : paths) out[p] = MountOutputJson(mounts[p], auth);
    return env.OutputData(out);
  }
  std::vector<std::string> out;
  if (!env.detailed) {
    out.push_back("Path | Type | Accessor | Description");
    for (const auto& p : paths) {
      const Json& m = mounts[p];
      out.push_back(p + " | " + S(m, "type") + " | " + S(m, "accessor") + " | " + S(m, "description"));
    }
  } else {
    out.push_back(std::string("Path | Plugin | Accessor | Default TTL | Max TTL | ") +
                  (auth ? "Token Type" : "Force No Cache") +
                  " | Replication | Seal Wrap | External Entropy Access | Options | Description | "
                  "UUID | Version | Running Version | Running SHA256 | Deprecation Status");
    for (const auto& p : paths) {
      const Json& m = mounts[p];
      Json cfg = m.is_object() && m.contains("config") ? m["config"] : Json::object();
      std::string type = S(m, "type");
      std::string plugin = type == "plugin" ? S(cfg, "plugin_name") : type;
      Json options = m.is_object() && m.contains("options") ? m["options"] : Json();
      std::string opts = options.is_object() ? GoValue(options) : "map[]";
      out.push_back(p + " | " + plugin + " | " + S(m, "accessor") + " | " +
                    CalcTtl(type, cfg.value("default_lease_ttl", Json()), auth) + " | " +
                    CalcTtl(type, cfg.value("max_lease_ttl", Json()), auth) + " | " +
                    (auth ? S(cfg, "token_type") : std::string(B(cfg, "force_no_cache") ? "true" : "false")) +
                    " | " + (B(m, "local") ? "local" : "replicated") + " | " +
                    (B(m, "seal_wrap") ? "true" : "false") + " | " +
                    (B(m, "external_entropy_access") ? "true" : "false") + " | " + opts + " | " +
                    S(m, "description") + " | " + S(m, "uuid") + " | " + S(m, "plugin_version") + " | " +
                    S(m, "running_plugin_version") + " | " + S(m, "running_sha256") + " | " +
                    S(m, "deprecation_status"));
    }
  }
  env.ui.Output(TableOutput(out, "|"));
  return 0;
}

int Move(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  env.AddHttpFlags(fs);
  std::vector<std::string> pos;
  if (auto rc = env.Parse(fs, args, &pos)) return *rc;
  if (pos.size() != 2) return ArgCountError(env.ui, 2, pos.size(), pos.size() > 2);
  std::string from = EnsureTrailingSlash(SanitizePath(pos[0]));
  std::string to = EnsureTrailingSlash(SanitizePath(pos[1]));
  auto c = env.NewClient();
  auto r = CallJson(*c, {.method = "POST", .path = "/v1/sys/remount",
                         .body = Json{{"from", from}, {"to", to}}.dump()});
  if (!r.ok()) {
    env.ui.Error("Error moving secrets engine " + from + " to " + to + ": " + r.status().message());
    return 2;
  }
  std::string id;
  if (r->is_object()) {
    if (r->contains("migration_id") && (*r)["migration_id"].is_string()) id = (*r)["migration_id"];
    else if (r->contains("data") && (*r)["data"].is_object()) id = S((*r)["data"], "migration_id");
  }
  env.ui.Output("Success! Started moving secrets engine " + from + " to " + to +
                ", with migration ID " + id);
  return 0;
}

CommandFn Bind(int (*f)(CommandEnv&, const std::vector<std::string>&, bool), bool auth) {
  return [f, auth](CommandEnv& e, const std::vector<std::string>& a) { return f(e, a, auth); };
}

}  // namespace

void RegisterMountCommands(std::vector<CommandSpec>* out) {
  out->push_back({"secrets enable", "Enable a secrets engine", Bind(Enable, false)});
  out->push_back({"secrets disable", "Disable a secrets engine", Bind(Disable, false)});
  out->push_back({"secrets list", "List enabled secrets engines", Bind(ListMounts, false)});
  out->push_back({"secrets tune", "Tune a secrets engine configuration", Bind(Tune, false)});
  out->push_back({"secrets move", "Move a secrets engine to a new path", Move});
  out->push_back({"auth enable", "Enables a new auth method", Bind(Enable, true)});
  out->push_back({"auth disable", "Disables an auth method", Bind(Disable, true)});
  out->push_back({"auth list", "Lists enabled auth methods", Bind(ListMounts, true)});
  out->push_back({"auth tune", "Tunes an auth method configuration", Bind(Tune, true)});
}

}  // namespace tresor::cli
