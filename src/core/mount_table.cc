#include "core/mount_table.h"

namespace tresor::core {

bool IsSingletonType(const std::string& type) {
  return type == "system" || type == "token" || type == "cubbyhole" || type == "identity";
}

std::string MountEntry::StoragePrefix() const {
  if (type == "system") return "sys/";
  if (type == "token") return "sys/token/";
  return (table == TableKind::kAuth ? "auth/" : "logical/") + uuid + "/";
}

nlohmann::json MountEntry::ToJson() const {
  return {
      {"path", path},
      {"type", type},
      {"description", description},
      {"uuid", uuid},
      {"accessor", accessor},
      {"config",
       {{"default_lease_ttl", config.default_lease_ttl},
        {"max_lease_ttl", config.max_lease_ttl},
        {"force_no_cache", config.force_no_cache},
        {"listing_visibility", config.listing_visibility},
        {"audit_non_hmac_request_keys", config.audit_non_hmac_request_keys},
        {"audit_non_hmac_response_keys", config.audit_non_hmac_response_keys},
        {"passthrough_request_headers", config.passthrough_request_headers},
        {"allowed_response_headers", config.allowed_response_headers},
        {"token_type", config.token_type}}},
      {"options", options},
      {"local", local},
      {"seal_wrap", seal_wrap},
      {"external_entropy_access", external_entropy_access},
  };
}

MountEntry MountEntry::FromJson(TableKind table, const nlohmann::json& j) {
  MountEntry e;
  e.table = table;
  e.path = j.value("path", "");
  e.type = j.value("type", "");
  e.description = j.value("description", "");
  e.uuid = j.value("uuid", "");
  e.accessor = j.value("accessor", "");
  if (j.contains("config") && j["config"].is_object()) {
    const auto& c = j["config"];
    e.config.default_lease_ttl = c.value("default_lease_ttl", int64_t(0));
    e.config.max_lease_ttl = c.value("max_lease_ttl", int64_t(0));
    e.config.force_no_cache = c.value("force_no_cache", false);
    e.config.listing_visibility = c.value("listing_visibility", "");
    e.config.audit_non_hmac_request_keys = c.value("audit_non_hmac_request_keys", std::vector<std::string>{});
    e.config.audit_non_hmac_response_keys = c.value("audit_non_hmac_response_keys", std::vector<std::string>{});
    e.config.passthrough_request_headers = c.value("passthrough_request_headers", std::vector<std::string>{});
    e.config.allowed_response_headers = c.value("allowed_response_headers", std::vector<std::string>{});
    e.config.token_type = c.value("token_type", "");
  }
  e.options = j.contains("options") ? j["options"] : nlohmann::json(nullptr);
  e.local = j.value("local", false);
  e.seal_wrap = j.value("seal_wrap", false);
  e.external_entropy_access = j.value("external_entropy_access", false);
  return e;
}

nlohmann::json MountEntry::ApiJson(int64_t system_default_ttl, int64_t system_max_ttl) const {
  (void)system_default_ttl;
  (void)system_max_ttl;
  nlohmann::json cfg = {{"default_lease_ttl", config.default_lease_ttl},
                        {"max_lease_ttl", config.max_lease_ttl},
                        {"force_no_cache", config.force_no_cache}};
  if (!config.listing_visibility.empty()) cfg["listing_visibility"] = config.listing_visibility;
  if (!config.audit_non_hmac_request_keys.empty()) cfg["audit_non_hmac_request_keys"] = config.audit_non_hmac_request_keys;
  if (!config.audit_non_hmac_response_keys.empty())
    cfg["audit_non_hmac_response_keys"] = config.audit_non_hmac_response_keys;
  if (!config.passthrough_request_headers.empty()) cfg["passthrough_request_headers"] = config.passthrough_request_headers;
  if (!config.allowed_response_headers.empty()) cfg["allowed_response_headers"] = config.allowed_response_headers;
  if (table == TableKind::kAuth) cfg["token_type"] = config.token_type.empty() ? "default-service" : config.token_type;
  return {
      {"type", type},
      {"description", description},
      {"accessor", accessor},
      {"uuid", uuid},
      {"config", cfg},
      {"options", options},
      {"local", local},
      {"seal_wrap", seal_wrap},
      {"external_entropy_access", external_entropy_access},
      {"plugin_version", ""},
      {"running_plugin_version", ""},
      {"running_sha256", ""},
      {"deprecation_status", (type == "kv" || type == "generic" || type == "cubbyhole" || type == "transit" ||
                              type == "userpass" || type == "approle")
                                 ? nlohmann::json("supported")
                                 : nlohmann::json(nullptr)},
  };
}

}  // namespace tresor::core
