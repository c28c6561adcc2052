// The `auth/token/` mount: the token store's HTTP API in the framework idiom.
//
// create, create-orphan, create/<role>, lookup, lookup-self, lookup-accessor, renew,
// renew-self, renew-accessor, revoke, revoke-self, revoke-orphan, revoke-accessor,
// roles/<name> CRUD and LIST roles, LIST accessors (sudo), tidy.
//
// Responses that carry a token (create, renew) return an Auth with client_token or accessor
// already filled; core must not mint another token for them.
#pragma once

#include <memory>

#include "auth/token/token_store.h"
#include "framework/backend.h"

namespace tresor::token {

// `store` outlives the backend (both are owned by core).
std::unique_ptr<framework::Backend> NewTokenBackend(TokenStore* store, const framework::BackendConfig& config);

// The `data` of a token lookup response.
nlohmann::json LookupData(const TokenEntry& e, bool include_id);
// The `auth` block describing an existing token (create and renew responses).
logical::Auth AuthFor(const TokenEntry& e, int64_t lease_duration);

}  // namespace tresor::token
