// Mount tables: which backend serves which path prefix.
//
// Two tables, as in Vault: secrets mounts (`core/mounts`, paths like "secret/") and auth
// mounts (`core/auth`, paths like "userpass/", routed under "auth/"). Each entry has a UUID
// that names its storage prefix (logical/<uuid>/ or auth/<uuid>/) and an accessor.
// MountEntry is immutable once published in the Router; changes (tune) publish a copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/backend.h"
#include "storage/storage_view.h"

namespace tresor::core {

enum class TableKind { kSecrets, kAuth };

struct MountConfig {
  int64_t default_lease_ttl = 0;  // 0: inherit the system value
  int64_t max_lease_ttl = 0;
  bool force_no_cache = false;
  std::string listing_visibility;
  std::vector<std::string> audit_non_hmac_request_keys;
  std::vector<std::string> audit_non_hmac_response_keys;
  std::vector<std::string> passthrough_request_headers;
  std::vector<std::string> allowed_response_headers;
  std::string token_type;  // auth mounts
};

struct MountEntry {
  TableKind table = TableKind::kSecrets;
  std::string path;  // relative to the table: "secret/", "userpass/" (always ends in '/')
  std::string type;
  std::string description;
  std::string uuid;
  std::string accessor;
  MountConfig config;
  nlohmann::json options = nullptr;  // string map or null
  bool local = false;
  bool seal_wrap = false;
  bool external_entropy_access = false;

  // Runtime, not persisted.
  std::shared_ptr<StorageView> view;
  std::shared_ptr<framework::Backend> backend;
  std::shared_ptr<framework::SystemView> system_view;

  // Path as routed: "secret/" or "auth/userpass/".
  std::string RoutePath() const { return table == TableKind::kAuth ? "auth/" + path : path; }
  // Storage prefix: "logical/<uuid>/" or "auth/<uuid>/"; system mounts use fixed prefixes.
  std::string StoragePrefix() const;

  nlohmann::json ToJson() const;  // persisted form
  static MountEntry FromJson(TableKind table, const nlohmann::json& j);
  // The shape sys/mounts and sys/auth list for an entry.
  nlohmann::json ApiJson(int64_t system_default_ttl, int64_t system_max_ttl) const;
};

// Types whose mounts are built in and cannot be unmounted/moved.
bool IsSingletonType(const std::string& type);

}  // namespace tresor::core
