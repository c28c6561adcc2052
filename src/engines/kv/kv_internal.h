// Internals shared by the KV v1/v2 and cubbyhole backends. Not part of the public interface.
#pragma once

#include <array>
#include <functional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "framework/backend.h"

namespace tresor::kv::internal {

// Striped reader/writer locks keyed by secret path: writers to one key serialize, writers
// to different keys rarely contend. Thread-safe.
class KeyLocks {
 public:
  std::shared_mutex& For(std::string_view key) { return mu_[std::hash<std::string_view>{}(key) % mu_.size()]; }

 private:
  std::array<std::shared_mutex, 128> mu_;
};

// A 404 that still carries a body (Vault's RespondWithStatusCode): KV v2 answers a read of
// a deleted or destroyed version with its metadata and status 404.
logical::ResponsePtr NotFoundWithData(const logical::Request& req, nlohmann::json data);

// The TTL a KV v1 read reports when the secret has no "ttl" key: the mount's default.
int64_t DefaultTTL(const logical::Request& req, const framework::SystemView* system);

}  // namespace tresor::kv::internal
