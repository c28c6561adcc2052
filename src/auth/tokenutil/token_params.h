// The token_* settings every login method stores with its roles/users (Vault's tokenutil):
// declaring the fields, parsing and validating a write, rendering a read, and copying the
// settings into a login's logical::Auth. Shared by userpass, approle and later methods so
// the rules and error texts exist once.
//
// Plain values; no shared state. Safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "framework/field.h"
#include "framework/logical.h"

namespace tresor::tokenutil {

struct TokenParams {
  std::vector<std::string> bound_cidrs;  // token_bound_cidrs, validated
  int64_t explicit_max_ttl = 0;          // seconds
  int64_t max_ttl = 0;
  bool no_default_policy = false;
  int64_t num_uses = 0;
  int64_t period = 0;
  std::vector<std::string> policies;
  std::string type = "default";  // "default" (mount decides), "service" or "batch"
  int64_t ttl = 0;

  // Applies the token_* fields present in `d` over the current values and validates the
  // result (Vault's ParseTokenFields). Failures are InvalidRequest with Vault's wording.
  Status Parse(const framework::FieldData& d);
  // The cross-field rules alone (for callers that changed values through legacy keys).
  Status Validate() const;
  // Adds the token_* keys to a read response (empty lists render as []).
  void Populate(nlohmann::json* data) const;
  // Copies the settings into a login result; core mints the token from it.
  void PopulateAuth(logical::Auth* auth) const;

  nlohmann::json ToJson() const;
  static TokenParams FromJson(const nlohmann::json& j);
};

// Declares token_bound_cidrs, token_explicit_max_ttl, token_max_ttl, token_no_default_policy,
// token_num_uses, token_period, token_policies, token_type and token_ttl in `schema`.
void AddTokenFields(framework::FieldSchema* schema);

// Vault's policyutil.ParsePolicies: trimmed, lower-cased, without empties, sorted, unique;
// a list holding "root" collapses to just "root".
std::vector<std::string> ParsePolicies(const std::vector<std::string>& in);

// Deprecated keys (policies, ttl, max_ttl, bound_cidrs, period, ...) next to their token_*
// replacements, as Vault's tokenutil.UpgradeValue does it: if only the old key was sent, its
// value lands in both slots; if the new key was sent, the legacy slot mirrors it when the
// old key was sent too and is cleared otherwise. Call after TokenParams::Parse.
Status UpgradeDuration(const framework::FieldData& d, std::string_view old_key, std::string_view new_key,
                       int64_t* old_val, int64_t* new_val);
// For lists: policies are normalised with ParsePolicies, CIDR lists are validated.
enum class ListKind { kPolicies, kCidrs, kPlain };
Status UpgradeList(const framework::FieldData& d, std::string_view old_key, std::string_view new_key,
                   ListKind kind, std::vector<std::string>* old_val, std::vector<std::string>* new_val);

// A login token's display name as Vault's core builds it: the mount path below "auth/" with
// '/' turned into '-', then `name` ("auth/userpass/", "bob" -> "userpass-bob";
// "auth/approle/", "" -> "approle").
std::string LoginDisplayName(std::string_view mount_point, std::string_view name);

}  // namespace tresor::tokenutil
