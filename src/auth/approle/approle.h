// The AppRole auth method (Vault's `approle`): machine logins with a role ID and, unless the
// role says otherwise, a secret ID.
//
// Paths (relative to the mount, e.g. auth/approle/):
//   role/                          LIST role names
//   role/<name>                    create/update/read/delete (bind_secret_id,
//                                  secret_id_bound_cidrs, secret_id_num_uses, secret_id_ttl,
//                                  local_secret_ids, role_id, token_* and legacy
//                                  policies/period/bound_cidr_list)
//   role/<name>/<field>            read/update/delete one setting: policies, bind-secret-id,
//                                  secret-id-num-uses, secret-id-ttl, secret-id-bound-cidrs,
//                                  bound-cidr-list, token-bound-cidrs, token-num-uses,
//                                  token-ttl, token-max-ttl, period; local-secret-ids (read)
//   role/<name>/role-id            read / update (custom role ID)
//   role/<name>/secret-id          update: generate; LIST: accessors
//   role/<name>/custom-secret-id   update: register a caller-chosen secret ID
//   role/<name>/secret-id/lookup|destroy, role/<name>/secret-id-accessor/lookup|destroy
//   login                          update, unauthenticated: role_id, secret_id -> auth block
//   tidy/secret-id                 update: drop expired secret IDs and dangling accessors
// Role names are case-insensitive (stored lower-cased).
//
// Storage (the mount's view). Secret IDs, accessors and role IDs are only ever keys as
// HMAC-SHA256 under a random per-mount salt, never in the clear:
//   salt                                   32 random bytes (created on first use)
//   role/<name>                            role JSON (includes its role_id, which is an
//                                          identifier readable through role-id anyway)
//   role_id/<hmac(role_id)>                {"name": role}
//   secret_id/<hmac(name)>/<hmac(secret)>  secret ID entry (accessor, uses, ttl, times,
//                                          metadata, CIDR lists)
//   accessor/<hmac(accessor)>              {"role_hmac", "secret_id_hmac"}
//
// Threads: any worker thread may call. Role writes take an exclusive lock; secret-ID reads,
// writes and logins a shared one plus a stripe lock per secret ID, so a secret ID with
// num_uses=N yields at most N logins however many race.
#pragma once

#include <memory>

#include "common/status.h"
#include "framework/backend.h"

namespace tresor::approle {

// Factory for the "approle" auth type. Options are ignored.
Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config);

}  // namespace tresor::approle
