// The userpass auth method (Vault's `userpass`): users with a password and token settings,
// and a login that turns a correct username/password into a token.
//
// Paths (relative to the mount, e.g. auth/userpass/):
//   users/             LIST
//   users/<name>       create/update/read/delete: password, token_* fields, legacy
//                      policies/ttl/max_ttl/bound_cidrs
//   users/<name>/password   update: password
//   users/<name>/policies   update: token_policies (or legacy policies)
//   login/<name>       update, unauthenticated: password -> auth block
// Usernames are lower-cased. Passwords are stored only as scrypt hashes
// (crypto::PasswordHash). A login for a user that does not exist verifies the password
// against a fixed dummy hash of the same cost, so its timing matches a wrong password.
//
// Storage (the mount's view): user/<lower-cased name> -> JSON.
// Threads: stateless apart from the dummy hash (built once); any worker thread may call.
#pragma once

#include <memory>

#include "common/status.h"
#include "framework/backend.h"

namespace tresor::userpass {

// Factory for the "userpass" auth type. Options are ignored.
Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config);

}  // namespace tresor::userpass
