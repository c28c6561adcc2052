#include "auth/tokenutil/token_params.h"

#include <algorithm>

#include "auth/tokenutil/cidr.h"
#include "common/strings.h"

namespace tresor::tokenutil {

using framework::Field;
using framework::FieldType;
using json = nlohmann::json;

void AddTokenFields(framework::FieldSchema* s) {
  (*s)["token_bound_cidrs"] = Field(FieldType::kCommaStringSlice, "CIDR blocks allowed to use the generated token");
  (*s)["token_explicit_max_ttl"] = Field(FieldType::kDurationSecond, "Hard cap on the generated token's lifetime");
  (*s)["token_max_ttl"] = Field(FieldType::kDurationSecond, "Maximum lifetime of the generated token");
  (*s)["token_no_default_policy"] = Field(FieldType::kBool, "Do not attach the 'default' policy");
  (*s)["token_num_uses"] = Field(FieldType::kInt, "Uses allowed for the generated token; 0 is unlimited");
  (*s)["token_period"] = Field(FieldType::kDurationSecond, "Renewal period of a periodic token");
  (*s)["token_policies"] = Field(FieldType::kCommaStringSlice, "Policies of the generated token");
  (*s)["token_type"] = Field(FieldType::kString, "default, service or batch");
  (*s)["token_ttl"] = Field(FieldType::kDurationSecond, "Initial TTL of the generated token");
}

namespace {
std::vector<std::string> NonEmptyTrimmed(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    std::string t(TrimSpace(s));
    if (!t.empty()) out.push_back(std::move(t));
  }
  return out;
}
}  // namespace

Status TokenParams::Parse(const framework::FieldData& d) {
  if (d.Has("token_bound_cidrs")) {
    ASSIGN_OR_RETURN(bound_cidrs, ValidateCidrs(d.GetStrings("token_bound_cidrs")));
  }
  if (d.Has("token_explicit_max_ttl")) explicit_max_ttl = d.GetInt("token_explicit_max_ttl");
  if (d.Has("token_max_ttl")) max_ttl = d.GetInt("token_max_ttl");
  if (d.Has("token_no_default_policy")) no_default_policy = d.GetBool("token_no_default_policy");
  if (d.Has("token_period")) period = d.GetInt("token_period");
  if (d.Has("token_policies")) policies = NonEmptyTrimmed(d.GetStrings("token_policies"));
  if (d.Has("token_type")) {
    std::string t = d.GetString("token_type");
    if (t.empty() || t == "default") type = "default";
    else if (t == "service" || t == "batch") type = t;
    else return Status::InvalidRequest("invalid 'token_type' value \"" + t + "\"");
  }
  if (d.Has("token_ttl")) ttl = d.GetInt("token_ttl");
  if (d.Has("token_num_uses")) num_uses = d.GetInt("token_num_uses");
  return Validate();
}

Status TokenParams::Validate() const {
  if (max_ttl < 0) return Status::InvalidRequest("'token_max_ttl' cannot be negative");
  if (period < 0) return Status::InvalidRequest("'token_period' cannot be negative");
  if (ttl < 0) return Status::InvalidRequest("'token_ttl' cannot be negative");
  if (explicit_max_ttl < 0) return Status::InvalidRequest("'token_explicit_max_ttl' cannot be negative");
  if (num_uses < 0) return Status::InvalidRequest("'token_num_uses' cannot be negative");
  if (type == "batch") {
    if (period != 0)
      return Status::InvalidRequest(
          "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens");
    if (num_uses != 0)
      return Status::InvalidRequest(
          "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count");
  }
  if (ttl > 0 && max_ttl > 0 && ttl > max_ttl)
    return Status::InvalidRequest("'token_ttl' cannot be greater than 'token_max_ttl'");
  return Status::Ok();
}

void TokenParams::Populate(json* data) const {
  json& m = *data;
  m["token_bound_cidrs"] = bound_cidrs;
  m["token_explicit_max_ttl"] = explicit_max_ttl;
  m["token_max_ttl"] = max_ttl;
  m["token_no_default_policy"] = no_default_policy;
  m["token_num_uses"] = num_uses;
  m["token_period"] = period;
  m["token_policies"] = policies;
  m["token_type"] = type;
  m["token_ttl"] = ttl;
}

void TokenParams::PopulateAuth(logical::Auth* auth) const {
  auth->bound_cidrs = bound_cidrs;
  auth->explicit_max_ttl = explicit_max_ttl;
  auth->max_ttl = max_ttl;
  auth->no_default_policy = no_default_policy;
  auth->period = period;
  auth->policies = policies;
  auth->renewable = true;
  auth->token_type = type == "default" ? "" : type;  // empty: the mount's default decides
  auth->ttl = ttl;
  auth->num_uses = num_uses;
}

json TokenParams::ToJson() const {
  json j = json::object();
  Populate(&j);
  return j;
}

TokenParams TokenParams::FromJson(const json& j) {
  TokenParams t;
  if (!j.is_object()) return t;
  t.bound_cidrs = j.value("token_bound_cidrs", std::vector<std::string>{});
  t.explicit_max_ttl = j.value("token_explicit_max_ttl", int64_t{0});
  t.max_ttl = j.value("token_max_ttl", int64_t{0});
  t.no_default_policy = j.value("token_no_default_policy", false);
  t.num_uses = j.value("token_num_uses", int64_t{0});
  t.period = j.value("token_period", int64_t{0});
  t.policies = j.value("token_policies", std::vector<std::string>{});
  t.type = j.value("token_type", std::string("default"));
  t.ttl = j.value("token_ttl", int64_t{0});
  return t;
}

std::vector<std::string> ParsePolicies(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    std::string p = ToLower(TrimSpace(s));
    if (!p.empty()) out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (std::find(out.begin(), out.end(), "root") != out.end()) return {"root"};
  return out;
}

Status UpgradeDuration(const framework::FieldData& d, std::string_view old_key, std::string_view new_key,
                       int64_t* old_val, int64_t* new_val) {
  std::string ok(old_key), nk(new_key);
  if (!d.Has(nk)) {
    if (d.Has(ok)) {
      *old_val = d.GetInt(ok);
      *new_val = *old_val;
    }
  } else {
    *old_val = d.Has(ok) ? *new_val : 0;
  }
  return Status::Ok();
}

Status UpgradeList(const framework::FieldData& d, std::string_view old_key, std::string_view new_key,
                   ListKind kind, std::vector<std::string>* old_val, std::vector<std::string>* new_val) {
  std::string ok(old_key), nk(new_key);
  if (!d.Has(nk)) {
    if (d.Has(ok)) {
      std::vector<std::string> v = d.GetStrings(ok);
      switch (kind) {
        case ListKind::kPolicies: v = ParsePolicies(v); break;
        case ListKind::kCidrs: {
          ASSIGN_OR_RETURN(v, ValidateCidrs(v));
          break;
        }
        case ListKind::kPlain: v = NonEmptyTrimmed(v); break;
      }
      *old_val = v;
      *new_val = std::move(v);
    }
  } else if (d.Has(ok)) {
    *old_val = *new_val;
  } else {
    old_val->clear();
  }
  return Status::Ok();
}

std::string LoginDisplayName(std::string_view mount_point, std::string_view name) {
  std::string_view src = mount_point;
  if (src.substr(0, 5) == "auth/") src.remove_prefix(5);
  std::string out(src);
  std::replace(out.begin(), out.end(), '/', '-');
  out += name;
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

}  // namespace tresor::tokenutil
