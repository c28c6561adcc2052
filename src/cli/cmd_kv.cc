// `vault kv ...`: KV v1/v2 helpers. The version and mount are found with
// GET sys/internal/ui/mounts/<path> (data.path, data.options.version), as Vault does.
#include <algorithm>

#include "cli/commands.h"
#include "cli/kv_paths.h"
#include "cli/kv_args.h"
#include "common/strings.h"

namespace tresor::cli {

// Go's path.Join for the simple relative paths used here (no ".." handling).
std::string PathJoin(const std::vector<std::string>& parts) {
  std::vector<std::string> segs;
  for (const auto& p : parts)
    for (const auto& s : Split(p, '/'))
      if (!s.empty() && s != ".") segs.push_back(s);
  return Join(segs, "/");
}

std::string AddPrefix(const std::string& p, std::string mount, const std::string& prefix) {
  std::string trimmed_mount = mount;
  while (!trimmed_mount.empty() && trimmed_mount.back() == '/') trimmed_mount.pop_back();
  if (p == mount || p == trimmed_mount) return PathJoin({mount, prefix});
  std::string tp = p.rfind(mount, 0) == 0 ? p.substr(mount.size()) : p;
  while (tp == p) {
    auto slash = mount.find('/');
    if (slash == std::string::npos || slash + 1 >= mount.size()) break;
    mount = mount.substr(slash + 1);
    while (!mount.empty() && mount.back() == '/') mount.pop_back();
    if (tp.rfind(mount, 0) == 0) tp = tp.substr(mount.size());
  }
  return PathJoin({mount, prefix, tp});
}

std::string PadEqualSigns(const std::string& header, size_t total) {
  long signs = long(total) - long(header.size() + 2);
  if (signs <= 0) signs = 4;
  if (signs % 2) ++signs;
  return std::string(size_t(signs / 2), '=') + " " + header + " " + std::string(size_t(signs / 2), '=');
}

std::string HeaderForMap(const std::string& header, const Json& data) {
  size_t max_key = 0;
  if (data.is_object())
    for (auto it = data.begin(); it != data.end(); ++it) max_key = std::max(max_key, it.key().size());
  return PadEqualSigns(header, max_key + 4 + 5);
}

namespace {

struct KvTarget {
  std::string mount_path;  // e.g. "secret/"
  bool v2 = false;
  std::string partial;     // path as given (v2: including the mount)
};

Result<KvTarget> Preflight(client::Client& c, const std::string& path) {
  auto r = c.Send({.method = "GET", .path = "/v1/sys/internal/ui/mounts/" + path});
  if (!r.ok()) return r.status();
  if (r->status == 404) return KvTarget{"", false, ""};
  if (r->status >= 400) {
    if (r->status == 403)
      return Status::PermissionDenied("preflight capability check returned 403, please ensure client's "
                                      "policies grant access to path \"" + path + "/\"");
    return Status::InvalidRequest(client::FormatApiError(*r));
  }
  auto s = Secret::Parse(r->body);
  if (!s.ok()) return s.status();
  KvTarget t;
  if (s->data.is_object()) {
    if (s->data.contains("path") && s->data["path"].is_string()) t.mount_path = s->data["path"];
    const Json& opts = s->data.contains("options") ? s->data["options"] : Json();
    if (opts.is_object() && opts.contains("version") && opts["version"].is_string())
      t.v2 = opts["version"].get<std::string>() == "2";
  } else {
    return Status::InvalidRequest("nil response from pre-flight request");
  }
  return t;
}

// Resolves the mount and version for `arg` (path form) or `-mount=` form.
// Prints the error and returns nullopt on failure.
std::optional<KvTarget> Resolve(CommandEnv& env, client::Client& c, const std::string& mount_flag,
                                const std::string& arg) {
  KvTarget t;
  std::string partial = SanitizePath(arg);
  if (!mount_flag.empty()) {
    auto r = Preflight(c, SanitizePath(mount_flag));
    if (!r.ok()) {
      env.ui.Error(r.status().message());
      return std::nullopt;
    }
    t = *r;
    if (t.v2) partial = PathJoin({t.mount_path, partial});
    else partial = PathJoin({SanitizePath(mount_flag), partial});
  } else {
    auto r = Preflight(c, partial);
    if (!r.ok()) {
      env.ui.Error(r.status().message());
      return std::nullopt;
    }
    t = *r;
  }
  t.partial = partial;
  return t;
}

void OutputPath(CommandEnv& env, const std::string& path, const std::string& title) {
  env.ui.Output(PadEqualSigns(title, path.size()));
  env.ui.Output(path);
  env.ui.Output("");
}

struct KvFlags {
  std::string mount;
};

std::optional<int> ParseKv(CommandEnv& env, FlagSet& fs, KvFlags& kf, const std::vector<std::string>& args,
                           std::vector<std::string>* pos, bool output = true) {
  env.AddHttpFlags(fs);
  if (output) env.AddOutputFlags(fs, true);
  fs.String("mount", &kf.mount);
  return env.Parse(fs, args, pos);
}

int KvGet(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  KvFlags kf;
  int64_t version = 0;
  fs.Int("version", &version);
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  std::string full;
  std::vector<std::pair<std::string, std::string>> query;
  if (t->v2) {
    full = AddPrefix(t->partial, t->mount_path, "data");
    if (version > 0) query.emplace_back("version", std::to_string(version));
  } else {
    full = t->partial;
  }
  auto s = ReadSecret(*c, {.method = "GET", .path = "/v1/" + full, .query = query});
  if (!s.ok()) {
    env.ui.Error("Error reading " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    env.ui.Error("No value found at " + full);
    return 2;
  }
  Secret& sec = **s;
  if (!env.field.empty()) {
    if (!t->v2) return env.PrintRawField(sec, env.field);
    Json data = sec.data.is_object() && sec.data.contains("data") ? sec.data["data"] : Json();
    if (data.is_null()) {
      env.ui.Error("No data found at " + full);
      return 2;
    }
    if (env.field == "data" && !(data.is_object() && data.contains("data")))
      return env.PrintRawField(sec, env.field);
    Json v = data.is_object() && data.contains(env.field) ? data[env.field] : Json();
    if (v.is_null()) {
      env.ui.Error("Field " + GoQuote(env.field) + " not present in secret");
      return 1;
    }
    return env.PrintRawValue(v);
  }
  if (sec.wrap_info.is_object() || env.Format() != "table") return env.OutputSecret(sec);
  env.PrintWarnings(sec.warnings);
  if (t->v2) OutputPath(env, full, "Secret Path");
  if (sec.data.is_object() && sec.data.contains("metadata") && sec.data["metadata"].is_object()) {
    env.ui.Output(HeaderForMap("Metadata", sec.data["metadata"]));
    env.OutputData(sec.data["metadata"]);
    env.ui.Output("");
  }
  Json data = sec.data;
  if (t->v2 && data.is_object()) data = data.contains("data") ? data["data"] : Json();
  if (data.is_object()) {
    env.ui.Output(HeaderForMap("Data", data));
    env.OutputData(data);
  }
  return 0;
}

int KvWriteLike(CommandEnv& env, const std::vector<std::string>& args, bool patch) {
  FlagSet fs;
  KvFlags kf;
  int64_t cas = -1;
  std::string method;
  fs.Int("cas", &cas);
  if (patch) fs.String("method", &method);
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.empty()) {
    env.ui.Error("Not enough arguments (expected >1, got 0)");
    return 1;
  }
  if (pos.size() == 1) {
    env.ui.Error("Must supply data");
    return 1;
  }
  auto data = ParseKeyValues({pos.begin() + 1, pos.end()}, env.ui.in);
  if (!data.ok()) {
    env.ui.Error("Failed to parse K=V data: " + data.status().message());
    return 1;
  }
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  if (patch && !t->v2) {
    env.ui.Error("K/V engine mount must be version 2 for patch support");
    return 2;
  }
  std::string full = t->v2 ? AddPrefix(t->partial, t->mount_path, "data") : t->partial;
  Json body = *data;
  if (t->v2) {
    Json opts = Json::object();
    if (cas > -1) opts["cas"] = cas;
    body = Json{{"data", *data}, {"options", opts}};
  }
  Result<std::optional<Secret>> s = Status::Internal("unset");
  if (patch && method != "rw") {
    s = WriteSecret(*c, {.method = "PATCH", .path = "/v1/" + full, .body = body.dump(),
                         .headers = {"Content-Type: application/merge-patch+json"}});
    if (!s.ok() && c->last_error_status() == 405 && method.empty()) method = "rw";
    else method = "patch";
  }
  if (patch && method == "rw") {
    // Read, merge, write back with check-and-set on the version read.
    auto cur = ReadSecret(*c, {.method = "GET", .path = "/v1/" + full});
    if (!cur.ok()) {
      env.ui.Error("Error reading " + full + ": " + cur.status().message());
      return 2;
    }
    if (!cur->has_value()) {
      env.ui.Error("No value found at " + full);
      return 2;
    }
    Json existing = (*cur)->data.is_object() && (*cur)->data.contains("data") ? (*cur)->data["data"] : Json::object();
    if (!existing.is_object()) existing = Json::object();
    for (auto it = data->begin(); it != data->end(); ++it) existing[it.key()] = it.value();
    Json opts = Json::object();
    if ((*cur)->data.contains("metadata") && (*cur)->data["metadata"].is_object())
      opts["cas"] = (*cur)->data["metadata"].value("version", 0);
    if (cas > -1) opts["cas"] = cas;
    s = WriteSecret(*c, {.method = "PUT", .path = "/v1/" + full,
                         .body = Json{{"data", existing}, {"options", opts}}.dump()});
  } else if (!patch) {
    s = WriteSecret(*c, {.method = "PUT", .path = "/v1/" + full, .body = body.dump()});
  }
  if (!s.ok()) {
    env.ui.Error("Error writing data to " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Success! Data written to: " + full);
    return 0;
  }
  Secret& sec = **s;
  if (!env.field.empty()) return env.PrintRawField(sec, env.field);
  if (env.Format() == "table") {
    OutputPath(env, full, "Secret Path");
    env.ui.Output(HeaderForMap("Metadata", sec.data));
    return env.OutputData(sec.data.is_object() ? sec.data : Json::object());
  }
  return env.OutputSecret(sec);
}

int KvDelete(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  KvFlags kf;
  std::vector<std::string> versions;
  fs.CommaSlice("versions", &versions);
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  std::string full;
  client::Request req{.method = "DELETE"};
  if (t->v2 && !versions.empty()) {
    full = AddPrefix(t->partial, t->mount_path, "delete");
    req.method = "PUT";
    req.body = Json{{"versions", versions}}.dump();
  } else if (t->v2) {
    full = AddPrefix(t->partial, t->mount_path, "data");
  } else {
    full = t->partial;
  }
  req.path = "/v1/" + full;
  auto s = WriteSecret(*c, req);
  if (!s.ok()) {
    env.ui.Error("Error deleting " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Success! Data deleted (if it existed) at: " + full);
    return 0;
  }
  return env.OutputSecret(**s);
}

int KvVersionsOp(CommandEnv& env, const std::vector<std::string>& args, const std::string& op) {
  FlagSet fs;
  KvFlags kf;
  std::vector<std::string> versions;
  fs.CommaSlice("versions", &versions);
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  if (versions.empty()) {
    env.ui.Error("No versions provided, use the \"-versions\" flag to specify the version to " + op + ".");
    return 1;
  }
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  if (!t->v2) {
    env.ui.Error(std::string(op == "undelete" ? "Undelete" : "Destroy") + " not supported on KV Version 1");
    return 1;
  }
  std::string full = AddPrefix(t->partial, t->mount_path, op);
  auto s = WriteSecret(*c, {.method = "PUT", .path = "/v1/" + full, .body = Json{{"versions", versions}}.dump()});
  if (!s.ok()) {
    env.ui.Error("Error writing data to " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Success! Data written to: " + full);
    return 0;
  }
  return env.OutputSecret(**s);
}

int KvList(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  KvFlags kf;
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1 && !(pos.empty() && !kf.mount.empty()))
    return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos.empty() ? "" : pos[0]);
  if (!t) return 2;
  std::string full = t->v2 ? AddPrefix(t->partial, t->mount_path, "metadata") : t->partial;
  full = EnsureTrailingSlash(full);
  auto s = ReadSecret(*c, {.method = "GET", .path = "/v1/" + full, .query = {{"list", "true"}}});
  if (!s.ok()) {
    env.ui.Error("Error listing " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value() || !(*s)->data.is_object() || !(*s)->data.contains("keys")) {
    env.ui.Error("No value found at " + full);
    return 2;
  }
  return env.OutputList(**s);
}

int KvMetadataGet(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  KvFlags kf;
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  if (!t->v2) {
    env.ui.Error("Metadata not supported on KV Version 1");
    return 1;
  }
  std::string full = AddPrefix(t->partial, t->mount_path, "metadata");
  auto s = ReadSecret(*c, {.method = "GET", .path = "/v1/" + full});
  if (!s.ok()) {
    env.ui.Error("Error reading " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    env.ui.Error("No value found at " + full);
    return 2;
  }
  Secret sec = **s;
  if (!env.field.empty()) return env.PrintRawField(sec, env.field);
  if (sec.wrap_info.is_object() || env.Format() != "table") return env.OutputSecret(sec);
  Json versions = sec.data.is_object() && sec.data.contains("versions") ? sec.data["versions"] : Json();
  if (!versions.is_object()) {
    env.ui.Error("No value found at " + full);
    env.OutputSecret(sec);
    return 2;
  }
  sec.data.erase("versions");
  OutputPath(env, full, "Metadata Path");
  env.ui.Output(HeaderForMap("Metadata", sec.data));
  env.OutputSecret(sec);
  std::vector<long> keys;
  for (auto it = versions.begin(); it != versions.end(); ++it) keys.push_back(std::atol(it.key().c_str()));
  std::sort(keys.begin(), keys.end());
  for (long v : keys) {
    const Json& ver = versions[std::to_string(v)];
    env.ui.Output("\n" + HeaderForMap("Version " + std::to_string(v), ver));
    env.OutputData(ver);
  }
  return 0;
}

int KvMetadataPut(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  KvFlags kf;
  int64_t max_versions = 0, delete_after = 0;
  bool cas_required = false;
  std::map<std::string, std::string> custom;
  fs.Int("max-versions", &max_versions);
  fs.Bool("cas-required", &cas_required);
  fs.Duration("delete-version-after", &delete_after);
  fs.StringMap("custom-metadata", &custom);
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  if (!t->v2) {
    env.ui.Error("Metadata not supported on KV Version 1");
    return 1;
  }
  std::string full = AddPrefix(t->partial, t->mount_path, "metadata");
  Json body = Json::object();
  if (fs.IsSet("max-versions")) body["max_versions"] = max_versions;
  if (fs.IsSet("cas-required")) body["cas_required"] = cas_required;
  if (fs.IsSet("delete-version-after")) body["delete_version_after"] = std::to_string(delete_after) + "s";
  if (fs.IsSet("custom-metadata")) body["custom_metadata"] = custom;
  auto s = WriteSecret(*c, {.method = "PUT", .path = "/v1/" + full, .body = body.dump()});
  if (!s.ok()) {
    env.ui.Error("Error writing data to " + full + ": " + s.status().message());
    return 2;
  }
  if (!s->has_value()) {
    if (env.Format() == "table") env.ui.Output("Success! Data written to: " + full);
    return 0;
  }
  return env.OutputSecret(**s);
}

int KvMetadataDelete(CommandEnv& env, const std::vector<std::string>& args) {
  FlagSet fs;
  KvFlags kf;
  std::vector<std::string> pos;
  if (auto rc = ParseKv(env, fs, kf, args, &pos)) return *rc;
  if (pos.size() != 1) return ArgCountError(env.ui, 1, pos.size(), pos.size() > 1);
  auto c = env.NewClient();
  auto t = Resolve(env, *c, kf.mount, pos[0]);
  if (!t) return 2;
  if (!t->v2) {
    env.ui.Error("Metadata not supported on KV Version 1");
    return 1;
  }
  std::string full = AddPrefix(t->partial, t->mount_path, "metadata");
  auto s = WriteSecret(*c, {.method = "DELETE", .path = "/v1/" + full});
  if (!s.ok()) {
    env.ui.Error("Error deleting " + full + ": " + s.status().message());
    return 2;
  }
  env.ui.Output("Success! Data deleted (if it existed) at: " + full);
  return 0;
}

}  // namespace

void RegisterKvCommands(std::vector<CommandSpec>* out) {
  out->push_back({"kv get", "Retrieves data from the KV store", KvGet});
  out->push_back({"kv put", "Sets or updates data in the KV store",
                  [](CommandEnv& e, const std::vector<std::string>& a) { return KvWriteLike(e, a, false); }});
  out->push_back({"kv patch", "Sets or updates data in the KV store without overwriting",
                  [](CommandEnv& e, const std::vector<std::string>& a) { return KvWriteLike(e, a, true); }});
  out->push_back({"kv delete", "Deletes versions in the KV store", KvDelete});
  out->push_back({"kv undelete", "Undeletes versions in the KV store",
                  [](CommandEnv& e, const std::vector<std::string>& a) { return KvVersionsOp(e, a, "undelete"); }});
  out->push_back({"kv destroy", "Permanently removes one or more versions in the KV store",
                  [](CommandEnv& e, const std::vector<std::string>& a) { return KvVersionsOp(e, a, "destroy"); }});
  out->push_back({"kv list", "List data or secrets", KvList});
  out->push_back({"kv metadata get", "Retrieves key metadata from the KV store", KvMetadataGet});
  out->push_back({"kv metadata put", "Sets or updates key settings in the KV store", KvMetadataPut});
  out->push_back({"kv metadata delete", "Deletes all versions and metadata for a key in the KV store",
                  KvMetadataDelete});
}

}  // namespace tresor::cli
