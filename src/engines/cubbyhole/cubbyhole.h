// Cubbyhole: per-token private storage (Vault's cubbyhole/ mount).
//
// Every token sees its own namespace and nothing else; the API is KV v1's (read, write,
// delete, LIST with Tresor's pagination and recursion) without TTLs. A token's namespace is
// named by TokenInfo::cubbyhole_id, a random id the token store keeps with the token; if a
// caller's token has none, by the hex SHA-256 of the token id. The raw token never appears
// in a storage key. Batch tokens have no cubbyhole.
//
// Core destroys a token's cubbyhole when the token is revoked by calling
// DestroyTokenStorage with the cubbyhole mount's storage view (e.g. from the token store's
// OnRevoke hook).
//
// Threads: the backend is stateless; any worker thread may call it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "framework/backend.h"
#include "storage/storage.h"

namespace tresor::cubbyhole {

// Factory for the "cubbyhole" secrets type. Options are ignored.
Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config);

// The storage namespace (no '/') of a token: `cubbyhole_id` if non-empty, else
// "h" + hex(SHA-256(token_id)).
std::string NamespaceFor(std::string_view cubbyhole_id, std::string_view token_id);

// Deletes everything the token stored in its cubbyhole. `mount_storage` is the cubbyhole
// mount's view. Pass the revoked token's cubbyhole_id and its raw id (either may be empty);
// both possible namespaces are wiped. Idempotent.
Status DestroyTokenStorage(Storage* mount_storage, std::string_view cubbyhole_id, std::string_view token_id);

}  // namespace tresor::cubbyhole
