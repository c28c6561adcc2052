// sys/mounts, sys/auth, sys/remount, sys/internal/ui/mounts: the mount tables over HTTP.
#include "common/duration.h"
#include "common/random.h"
#include "core/core.h"
#include "core/sys_backend.h"

namespace tresor::core {

using framework::Field;
using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using nlohmann::json;

namespace {

Result<int64_t> TtlValue(const json& cfg, const char* name) {
  if (!cfg.contains(name) || cfg[name].is_null()) return int64_t(0);
  const json& v = cfg[name];
  if (v.is_string() && (v.get<std::string>() == "system" || v.get<std::string>().empty())) return int64_t(0);
  auto secs = ParseDurationJson(v);
  if (!secs) return Status::InvalidRequest(std::string("unable to parse ") + name);
  return *secs;
}

Result<MountConfig> ParseMountConfig(const json& cfg, MountConfig base) {
  if (!cfg.is_object()) return base;
  if (cfg.contains("default_lease_ttl")) {
    ASSIGN_OR_RETURN(base.default_lease_ttl, TtlValue(cfg, "default_lease_ttl"));
  }
  if (cfg.contains("max_lease_ttl")) {
    ASSIGN_OR_RETURN(base.max_lease_ttl, TtlValue(cfg, "max_lease_ttl"));
  }
  auto strings = [&](const char* name, std::vector<std::string>* out) -> Status {
    if (!cfg.contains(name) || cfg[name].is_null()) return Status::Ok();
    auto v = framework::ConvertField(FieldType::kCommaStringSlice, cfg[name]);
    if (!v.ok()) return v.status();
    *out = v->get<std::vector<std::string>>();
    return Status::Ok();
  };
  if (cfg.contains("force_no_cache") && cfg["force_no_cache"].is_boolean()) base.force_no_cache = cfg["force_no_cache"];
  if (cfg.contains("listing_visibility") && cfg["listing_visibility"].is_string()) {
    std::string lv = cfg["listing_visibility"];
    if (!lv.empty() && lv != "unauth" && lv != "hidden") return Status::InvalidRequest("invalid listing_visibility " + lv);
    base.listing_visibility = lv;
  }
  if (cfg.contains("token_type") && cfg["token_type"].is_string()) base.token_type = cfg["token_type"];
  RETURN_IF_ERROR(strings("audit_non_hmac_request_keys", &base.audit_non_hmac_request_keys));
  RETURN_IF_ERROR(strings("audit_non_hmac_response_keys", &base.audit_non_hmac_response_keys));
  RETURN_IF_ERROR(strings("passthrough_request_headers", &base.passthrough_request_headers));
  RETURN_IF_ERROR(strings("allowed_response_headers", &base.allowed_response_headers));
  return base;
}

json TuneJson(const MountEntry& e, Core* core) {
  int64_t def = e.config.default_lease_ttl ? e.config.default_lease_ttl : core->SystemDefaultTTL();
  int64_t max = e.config.max_lease_ttl ? e.config.max_lease_ttl : core->SystemMaxTTL();
  json j = {{"description", e.description},
            {"default_lease_ttl", def},
            {"max_lease_ttl", max},
            {"force_no_cache", e.config.force_no_cache}};
  if (e.options.is_object()) j["options"] = e.options;
  if (!e.config.listing_visibility.empty()) j["listing_visibility"] = e.config.listing_visibility;
  if (!e.config.audit_non_hmac_request_keys.empty()) j["audit_non_hmac_request_keys"] = e.config.audit_non_hmac_request_keys;
  if (!e.config.audit_non_hmac_response_keys.empty())
    j["audit_non_hmac_response_keys"] = e.config.audit_non_hmac_response_keys;
  if (!e.config.passthrough_request_headers.empty()) j["passthrough_request_headers"] = e.config.passthrough_request_headers;
  if (!e.config.allowed_response_headers.empty()) j["allowed_response_headers"] = e.config.allowed_response_headers;
  if (e.table == TableKind::kAuth) j["token_type"] = e.config.token_type.empty() ? "default-service" : e.config.token_type;
  return j;
}

std::string Normalize(std::string p) {
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  if (!p.empty() && p.back() != '/') p += '/';
  return p;
}

framework::FieldSchema EnableFields() {
  return {{"path", {FieldType::kString}},
          {"type", {FieldType::kString}},
          {"description", {FieldType::kString}},
          {"config", {FieldType::kMap}},
          {"options", {FieldType::kKVPairs}},
          {"local", {FieldType::kBool}},
          {"seal_wrap", {FieldType::kBool}},
          {"external_entropy_access", {FieldType::kBool}},
          {"plugin_name", {FieldType::kString}},
          {"plugin_version", {FieldType::kString}}};
}

framework::FieldSchema TuneFields() {
  return {{"path", {FieldType::kString}},
          {"default_lease_ttl", {FieldType::kRaw}},
          {"max_lease_ttl", {FieldType::kRaw}},
          {"description", {FieldType::kString}},
          {"options", {FieldType::kKVPairs}},
          {"listing_visibility", {FieldType::kString}},
          {"audit_non_hmac_request_keys", {FieldType::kCommaStringSlice}},
          {"audit_non_hmac_response_keys", {FieldType::kCommaStringSlice}},
          {"passthrough_request_headers", {FieldType::kCommaStringSlice}},
          {"allowed_response_headers", {FieldType::kCommaStringSlice}},
          {"token_type", {FieldType::kString}},
          {"force_no_cache", {FieldType::kBool}}};
}

void AddTablePaths(std::vector<Path>* out, Core* core, TableKind table, const std::string& prefix) {
  Path tune;
  tune.pattern = prefix + "/(?P<path>.+?)/tune/?";
  tune.fields = TuneFields();
  tune.operations[Operation::kRead] = [core, table](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string path = Normalize(d.GetString("path"));
    for (auto& e : core->Mounts(table))
      if (e->path == path) return framework::Data(TuneJson(*e, core));
    return Status::InvalidRequest("cannot fetch sysview for path \"" + path + "\"");
  };
  tune.operations[Operation::kUpdate] = [core, table](Request& req, FieldData& d) -> Result<ResponsePtr> {
    std::string path = Normalize(d.GetString("path"));
    std::shared_ptr<const MountEntry> cur;
    for (auto& e : core->Mounts(table))
      if (e->path == path) cur = e;
    if (!cur) return Status::InvalidRequest("no mount entry found at " + path);
    ASSIGN_OR_RETURN(MountConfig cfg, ParseMountConfig(req.data, cur->config));
    std::optional<std::string> desc;
    if (d.Has("description")) desc = d.GetString("description");
    std::optional<json> opts;
    if (d.Has("options")) opts = d.Get("options");
    RETURN_IF_ERROR(core->Tune(table, path, cfg, desc, opts));
    return framework::NoContent();
  };

  Path one;
  one.pattern = prefix + "/(?P<path>.+)";
  one.fields = EnableFields();
  one.operations[Operation::kRead] = [core, table](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string path = Normalize(d.GetString("path"));
    for (auto& e : core->Mounts(table))
      if (e->path == path) return framework::Data(e->ApiJson(core->SystemDefaultTTL(), core->SystemMaxTTL()));
    return Status::InvalidRequest("No " + std::string(table == TableKind::kAuth ? "auth" : "secret") +
                                  " engine mount at " + path);
  };
  one.operations[Operation::kUpdate] = [core, table](Request&, FieldData& d) -> Result<ResponsePtr> {
    MountEntry e;
    e.path = Normalize(d.GetString("path"));
    e.type = d.GetString("type");
    if (e.type.empty() && d.Has("plugin_name")) e.type = d.GetString("plugin_name");
    if (e.type.empty()) return Status::InvalidRequest("backend type must be specified as a string");
    e.description = d.GetString("description");
    ASSIGN_OR_RETURN(e.config, ParseMountConfig(d.Get("config"), MountConfig{}));
    json opts = d.Get("options");
    e.options = opts.empty() ? json(nullptr) : opts;
    if (d.Has("config") && d.Get("config").contains("options") && d.Get("config")["options"].is_object()) {
      if (!e.options.is_object()) e.options = json::object();
      for (auto& [k, v] : d.Get("config")["options"].items()) e.options[k] = v;
    }
    e.local = d.GetBool("local");
    e.seal_wrap = d.GetBool("seal_wrap");
    e.external_entropy_access = d.GetBool("external_entropy_access");
    RETURN_IF_ERROR(core->Mount(table, std::move(e)));
    return framework::NoContent();
  };
  one.operations[Operation::kDelete] = [core, table](Request&, FieldData& d) -> Result<ResponsePtr> {
    RETURN_IF_ERROR(core->Unmount(table, Normalize(d.GetString("path"))));
    return framework::NoContent();
  };

  Path all;
  all.pattern = prefix + "/?";
  all.operations[Operation::kRead] = [core, table](Request&, FieldData&) -> Result<ResponsePtr> {
    json data = json::object();
    for (auto& e : core->Mounts(table)) data[e->path] = e->ApiJson(core->SystemDefaultTTL(), core->SystemMaxTTL());
    return framework::Data(data);
  };
  out->push_back(std::move(tune));
  out->push_back(std::move(one));
  out->push_back(std::move(all));
}

}  // namespace

std::vector<Path> SysMountPaths(Core* core) {
  std::vector<Path> out;
  AddTablePaths(&out, core, TableKind::kSecrets, "mounts");
  AddTablePaths(&out, core, TableKind::kAuth, "auth");

  Path remount;
  remount.pattern = "remount";
  remount.fields = {{"from", {FieldType::kString}}, {"to", {FieldType::kString}}};
  remount.operations[Operation::kUpdate] = [core](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string from = d.GetString("from"), to = d.GetString("to");
    if (from.empty() || to.empty()) return Status::InvalidRequest("both 'from' and 'to' path must be specified as a string");
    RETURN_IF_ERROR(core->Remount(from, to));
    return framework::Data({{"migration_id", NewUUID()}});
  };
  out.push_back(std::move(remount));

  // What the CLI's kv helper uses to find a mount and its version; also lists mounts a token
  // may see.
  Path ui_one;
  ui_one.pattern = "internal/ui/mounts/(?P<path>.+)";
  ui_one.fields = {{"path", {FieldType::kString}}};
  ui_one.operations[Operation::kRead] = [core](Request& req, FieldData& d) -> Result<ResponsePtr> {
    if (!req.token) return Status::PermissionDenied();
    std::string path = d.GetString("path");
    auto e = core->MountFor(path);
    if (!e) return Status::InvalidRequest("no mount entry found at " + path);
    json j = e->ApiJson(core->SystemDefaultTTL(), core->SystemMaxTTL());
    j["path"] = e->RoutePath();
    if (e->table == TableKind::kAuth) j["path"] = e->path;
    return framework::Data(j);
  };
  Path ui_all;
  ui_all.pattern = "internal/ui/mounts/?";
  ui_all.operations[Operation::kRead] = [core](Request& req, FieldData&) -> Result<ResponsePtr> {
    json secret = json::object(), auth = json::object();
    for (auto& e : core->Mounts(TableKind::kSecrets)) {
      if (!req.token && e->config.listing_visibility != "unauth") continue;
      secret[e->path] = e->ApiJson(core->SystemDefaultTTL(), core->SystemMaxTTL());
    }
    for (auto& e : core->Mounts(TableKind::kAuth)) {
      if (!req.token && e->config.listing_visibility != "unauth") continue;
      auth[e->path] = e->ApiJson(core->SystemDefaultTTL(), core->SystemMaxTTL());
    }
    return framework::Data({{"secret", secret}, {"auth", auth}});
  };
  out.push_back(std::move(ui_one));
  out.push_back(std::move(ui_all));
  return out;
}

}  // namespace tresor::core
