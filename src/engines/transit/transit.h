// Vault's transit secrets engine ("encryption as a service"): named keys kept in the mount's
// storage, and encrypt/decrypt/rewrap/datakey/sign/verify/hmac/hash/random/export/backup/
// restore/import on them, with Vault 1.13's paths, fields, responses and error texts.
//
// Keys are stored as JSON under "policy/<name>" in the mount's view (the barrier encrypts
// them) and cached in memory after first use; see backend.cc for the cache and locking.
// The backend is thread-safe: requests on different keys never contend, and requests on
// the same key only contend with writers (rotate/config/trim/import) of that key.
#pragma once

#include <memory>

#include "common/status.h"
#include "framework/backend.h"

namespace tresor::transit {

// Creates a transit backend for one mount. `config.storage` must outlive it.
Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config);

}  // namespace tresor::transit
