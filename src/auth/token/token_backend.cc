#include "auth/token/token_backend.h"

#include <algorithm>
#include <chrono>

#include "common/duration.h"
#include "common/log.h"
#include "common/strings.h"

namespace tresor::token {

using framework::FieldData;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using nlohmann::json;

namespace {

std::string Rfc3339(int64_t unix) { return FormatRFC3339Nano(std::chrono::system_clock::from_time_t(unix)); }

std::string QuotedList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " \"" : "\"") + v[i] + "\"";
  return out + "]";
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool Subset(const std::vector<std::string>& super, const std::vector<std::string>& sub) {
  for (const auto& s : sub)
    if (!Contains(super, s)) return false;
  return true;
}

// Vault's policy-name globs for token roles: '*' matches any run of characters.
bool GlobMatch(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool MatchesAnyGlob(const std::vector<std::string>& globs, const std::string& s) {
  for (const auto& g : globs)
    if (GlobMatch(g, s)) return true;
  return false;
}

std::string SanitizeDisplayName(const std::string& name) {
  std::string full = "token-" + name;
  for (char& c : full)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) c = '-';
  if (!full.empty() && full.back() == '-') full.pop_back();
  return full;
}

std::vector<std::string> JsonStrings(const json& role, const char* key) {
  std::vector<std::string> out;
  if (role.contains(key) && role[key].is_array())
    for (const auto& s : role[key])
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

// --- token roles --------------------------------------------------------------------

framework::FieldSchema RoleFields() {
  return {
      {"role_name", {FieldType::kString}},
      {"allowed_policies", {FieldType::kCommaStringSlice}},
      {"disallowed_policies", {FieldType::kCommaStringSlice}},
      {"allowed_policies_glob", {FieldType::kCommaStringSlice}},
      {"disallowed_policies_glob", {FieldType::kCommaStringSlice}},
      {"orphan", {FieldType::kBool}},
      {"renewable", {FieldType::kBool, "", true}},
      {"path_suffix", {FieldType::kString}},
      {"allowed_entity_aliases", {FieldType::kCommaStringSlice}},
      {"period", {FieldType::kDurationSecond}},
      {"token_period", {FieldType::kDurationSecond}},
      {"explicit_max_ttl", {FieldType::kDurationSecond}},
      {"token_explicit_max_ttl", {FieldType::kDurationSecond}},
      {"bound_cidrs", {FieldType::kCommaStringSlice}},
      {"token_bound_cidrs", {FieldType::kCommaStringSlice}},
      {"token_type", {FieldType::kString, "", "default-service"}},
      {"token_no_default_policy", {FieldType::kBool}},
      {"token_num_uses", {FieldType::kInt}},
  };
}

json RoleReadData(const json& r) {
  auto list_or_empty = [&](const char* k) { return json(JsonStrings(r, k)); };
  json d = {
      {"allowed_entity_aliases", r.contains("allowed_entity_aliases") && !JsonStrings(r, "allowed_entity_aliases").empty()
                                     ? list_or_empty("allowed_entity_aliases")
                                     : json(nullptr)},
      {"allowed_policies", list_or_empty("allowed_policies")},
      {"allowed_policies_glob", list_or_empty("allowed_policies_glob")},
      {"disallowed_policies", list_or_empty("disallowed_policies")},
      {"disallowed_policies_glob", list_or_empty("disallowed_policies_glob")},
      {"explicit_max_ttl", r.value("token_explicit_max_ttl", int64_t(0))},
      {"name", r.value("name", "")},
      {"orphan", r.value("orphan", false)},
      {"path_suffix", r.value("path_suffix", "")},
      {"period", r.value("token_period", int64_t(0))},
      {"renewable", r.value("renewable", true)},
      {"token_explicit_max_ttl", r.value("token_explicit_max_ttl", int64_t(0))},
      {"token_no_default_policy", r.value("token_no_default_policy", false)},
      {"token_period", r.value("token_period", int64_t(0))},
      {"token_type", r.value("token_type", "default-service")},
  };
  auto cidrs = JsonStrings(r, "token_bound_cidrs");
  if (!cidrs.empty()) {
    d["bound_cidrs"] = cidrs;
    d["token_bound_cidrs"] = cidrs;
  }
  return d;
}

Result<ResponsePtr> RoleWrite(TokenStore* store, Request& req, FieldData& d) {
  std::string name = d.GetString("role_name");
  if (name.empty()) return Status::InvalidRequest("role name cannot be empty");
  ASSIGN_OR_RETURN(auto existing, store->GetRole(name));
  json r = existing ? *existing : json::object();
  bool create = !existing;
  r["name"] = name;
  auto set_list = [&](const char* key, const char* field) {
    if (auto v = d.GetOk(field)) {
      std::vector<std::string> out;
      for (const auto& s : *v) out.push_back(s.get<std::string>());
      if (std::string(key).find("policies") != std::string::npos && std::string(key).find("glob") == std::string::npos)
        out = SanitizePolicies(out, false);
      r[key] = out;
    } else if (create) {
      r[key] = json::array();
    }
  };
  set_list("allowed_policies", "allowed_policies");
  set_list("disallowed_policies", "disallowed_policies");
  set_list("allowed_policies_glob", "allowed_policies_glob");
  set_list("disallowed_policies_glob", "disallowed_policies_glob");
  set_list("allowed_entity_aliases", "allowed_entity_aliases");
  // Newer token_* names win over the deprecated ones.
  auto set_dur = [&](const char* key, const char* modern, const char* legacy) {
    if (auto v = d.GetOk(modern)) r[key] = *v;
    else if (auto l = d.GetOk(legacy)) r[key] = *l;
    else if (create) r[key] = 0;
  };
  set_dur("token_period", "token_period", "period");
  set_dur("token_explicit_max_ttl", "token_explicit_max_ttl", "explicit_max_ttl");
  if (auto v = d.GetOk("token_bound_cidrs")) r["token_bound_cidrs"] = *v;
  else if (auto l = d.GetOk("bound_cidrs")) r["token_bound_cidrs"] = *l;
  else if (create) r["token_bound_cidrs"] = json::array();
  for (const char* b : {"orphan", "renewable", "token_no_default_policy"}) {
    if (auto v = d.GetOk(b)) r[b] = *v;
    else if (create) r[b] = d.Get(b);
  }
  if (auto v = d.GetOk("path_suffix")) {
    std::string s = v->get<std::string>();
    if (s.find("..") != std::string::npos) return Status::InvalidRequest("error registering path suffix: path cannot contain parent references");
    r["path_suffix"] = s;
  } else if (create) {
    r["path_suffix"] = "";
  }
  if (auto v = d.GetOk("token_type")) {
    std::string t = v->get<std::string>();
    if (t == "default") t = "default-service";
    if (t != "service" && t != "batch" && t != "default-service" && t != "default-batch")
      return Status::InvalidRequest("invalid 'token_type' value \"" + t + "\"");
    r["token_type"] = t;
  } else if (create) {
    r["token_type"] = "default-service";
  }
  std::vector<std::string> warnings;
  int64_t emax = r.value("token_explicit_max_ttl", int64_t(0));
  if (emax > req.mount_max_ttl && req.mount_max_ttl > 0)
    warnings.push_back("Given explicit max TTL of " + std::to_string(emax) +
                       " is greater than system/mount allowed value of " + std::to_string(req.mount_max_ttl) +
                       " seconds; until this is fixed attempting to create tokens against this role will result in an error");
  std::string type = r.value("token_type", "default-service");
  if (type == "batch" && (r.value("token_period", int64_t(0)) || emax))
    return Status::InvalidRequest("batch tokens cannot have a period or explicit max TTL");
  RETURN_IF_ERROR(store->PutRole(name, r));
  if (warnings.empty()) return framework::NoContent();
  auto resp = std::make_unique<logical::Response>();
  resp->warnings = std::move(warnings);
  return resp;
}

// --- token creation ------------------------------------------------------------------

framework::FieldSchema CreateFields() {
  return {
      {"role_name", {FieldType::kString}},
      {"id", {FieldType::kString}},
      {"policies", {FieldType::kCommaStringSlice}},
      {"meta", {FieldType::kKVPairs}},
      {"no_parent", {FieldType::kBool}},
      {"no_default_policy", {FieldType::kBool}},
      {"lease", {FieldType::kDurationSecond}},
      {"ttl", {FieldType::kDurationSecond}},
      {"explicit_max_ttl", {FieldType::kDurationSecond}},
      {"display_name", {FieldType::kString}},
      {"num_uses", {FieldType::kInt}},
      {"renewable", {FieldType::kBool, "", true}},
      {"period", {FieldType::kDurationSecond}},
      {"type", {FieldType::kString}},
      {"entity_alias", {FieldType::kString}},
  };
}

Result<ResponsePtr> HandleCreate(TokenStore* store, Request& req, FieldData& d, bool orphan, bool with_role) {
  if (!req.token) return Status::PermissionDenied();
  ASSIGN_OR_RETURN(auto parent_opt, store->LookupInRequest(req.token->id));
  if (!parent_opt) return Status::InvalidRequest("parent token lookup failed: no parent found");
  const TokenEntry& parent = *parent_opt;
  if (parent.IsBatch()) return Status::InvalidRequest("batch tokens cannot create more tokens");
  if (parent.num_uses != 0) return Status::InvalidRequest("restricted use token cannot generate child tokens");
  bool is_sudo = store->HasSudo(parent.policies, req.mount_point + req.path);

  std::optional<json> role;
  std::string role_name;
  if (with_role) {
    role_name = d.GetString("role_name");
    ASSIGN_OR_RETURN(role, store->GetRole(role_name));
    if (!role) return Status::InvalidRequest("unknown role " + role_name);
  }

  bool renewable = d.GetBool("renewable");
  std::string type = d.GetString("type");
  if (role) {
    std::string rt = role->value("token_type", "default-service");
    if (rt == "default-batch" && type.empty()) type = "batch";
    else if (rt == "service" || rt == "batch") type = rt;
  }
  int64_t num_uses = d.GetInt("num_uses");
  TokenEntry te;
  if (type.empty() || type == "service") {
    te.type = "service";
  } else if (type == "batch") {
    if (d.GetOk("explicit_max_ttl") && d.GetInt("explicit_max_ttl") != 0)
      return Status::InvalidRequest("batch tokens cannot have \"explicit_max_ttl\" set");
    if (num_uses != 0) return Status::InvalidRequest("batch tokens cannot have \"num_uses\" set");
    if (d.GetOk("period") && d.GetInt("period") != 0) return Status::InvalidRequest("batch tokens cannot have \"period\" set");
    te.type = "batch";
    renewable = false;
  } else {
    return Status::InvalidRequest("invalid 'token_type' value");
  }
  if (num_uses < 0) return Status::InvalidRequest("number of uses cannot be negative");

  te.parent = store->SaltedId(parent.id);
  te.path = "auth/token/" + req.path;
  te.meta = d.GetStringMap("meta");
  te.display_name = "token";
  te.num_uses = num_uses;
  if (role) {
    te.role_name = role_name;
    if (renewable && !role->value("renewable", true)) renewable = false;
    std::string suffix = role->value("path_suffix", "");
    if (!suffix.empty()) te.path += "/" + suffix;
  }
  if (std::string dn = d.GetString("display_name"); !dn.empty()) te.display_name = SanitizeDisplayName(dn);

  if (std::string id = d.GetString("id"); !id.empty()) {
    if (!is_sudo) return Status::InvalidRequest("root or sudo privileges required to specify token id");
    if (id.rfind("hvs.", 0) == 0) return Status::InvalidRequest("custom token ID cannot have the 'hvs.' prefix");
    if (id.rfind("s.", 0) == 0) return Status::InvalidRequest("custom token ID cannot have the 's.' prefix");
    if (id.find('.') != std::string::npos) return Status::InvalidRequest("custom token ID cannot have a '.' in the value");
    if (te.type == "batch") return Status::InvalidRequest("batch tokens cannot have a custom ID");
    te.id = id;
  }

  std::vector<std::string> requested = d.GetStrings("policies");
  bool no_default = d.GetBool("no_default_policy");
  bool add_default = false;
  std::vector<std::string> allowed = role ? JsonStrings(*role, "allowed_policies") : std::vector<std::string>{};
  std::vector<std::string> disallowed = role ? JsonStrings(*role, "disallowed_policies") : std::vector<std::string>{};
  std::vector<std::string> allowed_glob = role ? JsonStrings(*role, "allowed_policies_glob") : std::vector<std::string>{};
  std::vector<std::string> disallowed_glob =
      role ? JsonStrings(*role, "disallowed_policies_glob") : std::vector<std::string>{};
  if (role && (!allowed.empty() || !disallowed.empty() || !allowed_glob.empty() || !disallowed_glob.empty())) {
    bool local_default = !no_default && !Contains(disallowed, "default");
    std::vector<std::string> final_policies;
    if (!requested.empty()) final_policies = SanitizePolicies(requested, local_default);
    if (!allowed.empty() || !allowed_glob.empty()) {
      auto role_policies = SanitizePolicies(allowed, local_default);
      if (final_policies.empty()) {
        final_policies = role_policies;
      } else {
        for (const auto& p : final_policies)
          if (!Contains(role_policies, p) && !MatchesAnyGlob(allowed_glob, p))
            return Status::InvalidRequest("token policies (" + QuotedList(final_policies) +
                                          ") must be subset of the role's allowed policies (" +
                                          QuotedList(role_policies) + ") or glob policies (" +
                                          QuotedList(allowed_glob) + ")");
      }
    } else if (final_policies.empty()) {
      final_policies = SanitizePolicies(parent.policies, local_default);
    }
    for (const auto& p : final_policies)
      if (Contains(disallowed, p) || MatchesAnyGlob(disallowed_glob, p))
        return Status::InvalidRequest("token policy \"" + p + "\" is disallowed by this role");
    requested = final_policies;
  } else if (requested.empty()) {
    requested = SanitizePolicies(parent.policies, false);
  } else if (!is_sudo) {
    auto in = SanitizePolicies(requested, false);
    auto par = SanitizePolicies(parent.policies, false);
    if (!Subset(par, in)) return Status::InvalidRequest("child policies must be subset of parent");
    add_default = !no_default && Contains(parent.policies, "default");
  } else {
    add_default = !no_default;
  }
  te.policies = SanitizePolicies(requested, add_default);
  if (no_default) te.policies.erase(std::remove(te.policies.begin(), te.policies.end(), "default"), te.policies.end());
  for (const auto& p : te.policies)
    if (p == "response-wrapping" || p == "control-group")
      return Status::InvalidRequest("cannot assign policy \"" + p + "\"");
  if (te.IsRoot()) {
    if (!parent.IsRoot()) return Status::InvalidRequest("root tokens may not be created without parent token being root");
    if (te.IsBatch()) return Status::InvalidRequest("batch tokens cannot be root tokens");
  }

  if (role) {
    if (role->value("orphan", false)) te.parent.clear();
    auto cidrs = JsonStrings(*role, "token_bound_cidrs");
    if (!cidrs.empty()) te.bound_cidrs = cidrs;
  } else if (d.GetBool("no_parent")) {
    if (!is_sudo) return Status::InvalidRequest("root or sudo privileges required to create orphan token");
    te.parent.clear();
  } else if (orphan) {
    te.parent.clear();
  }
  if (!te.parent.empty()) {
    te.entity_id = parent.entity_id;
    if (!role) te.bound_cidrs = parent.bound_cidrs;
  }

  auto resp = std::make_unique<logical::Response>();
  int64_t explicit_max = d.GetInt("explicit_max_ttl");
  te.explicit_max_ttl = explicit_max;
  int64_t period = 0;
  if (int64_t p = d.GetInt("period"); p > 0) {
    if (!is_sudo) return Status::InvalidRequest("root or sudo privileges required to create periodic token");
    te.period = period = p;
  }
  te.ttl = d.GetOk("ttl") ? d.GetInt("ttl") : d.GetInt("lease");
  if (role && !te.IsBatch()) {
    int64_t rmax = role->value("token_explicit_max_ttl", int64_t(0));
    if (rmax) {
      if (explicit_max == 0) {
        explicit_max = rmax;
      } else {
        explicit_max = std::min(explicit_max, rmax);
        resp->warnings.push_back("Explicit max TTL specified both during creation call and in role; using the lesser value of " +
                                 std::to_string(explicit_max) + " seconds");
      }
    }
    int64_t rperiod = role->value("token_period", int64_t(0));
    if (rperiod) {
      if (period == 0) {
        period = rperiod;
      } else {
        period = std::min(period, rperiod);
        resp->warnings.push_back("Period specified both during creation call and in role; using the lesser value of " +
                                 std::to_string(period) + " seconds");
      }
    }
    te.period = period;
    te.explicit_max_ttl = explicit_max;
  }
  if (period > 0 || te.ttl > 0 || !te.IsRoot()) {
    ASSIGN_OR_RETURN(te.ttl, CalculateTTL(te.ttl, period, explicit_max, req.mount_default_ttl, req.mount_max_ttl,
                                          UnixNow(), &resp->warnings));
  }
  if (te.ttl == 0 && explicit_max > 0) te.ttl = explicit_max;
  if (te.ttl == 0) {
    if (parent.expire_ms != 0)
      return Status::InvalidRequest("expiring root tokens cannot create non-expiring root tokens");
    renewable = false;
    te.bound_cidrs.clear();
  }
  te.renewable = renewable;
  RETURN_IF_ERROR(store->Create(&te));
  resp->auth = AuthFor(te, te.ttl);
  return resp;
}

// --- lookup / renew / revoke ----------------------------------------------------------

Result<ResponsePtr> RenewResponse(TokenStore* store, Request& req, const TokenEntry& te, int64_t increment,
                                  bool hide_token) {
  auto resp = std::make_unique<logical::Response>();
  int64_t ttl = 0;
  ASSIGN_OR_RETURN(TokenEntry renewed,
                   store->Renew(te, increment, req.mount_default_ttl, req.mount_max_ttl, &resp->warnings, &ttl));
  resp->auth = AuthFor(renewed, ttl);
  if (hide_token) resp->auth->client_token.clear();
  return resp;
}

Status RevokeCommon(TokenStore* store, const std::string& id, bool in_request) {
  ASSIGN_OR_RETURN(auto te, in_request ? store->LookupInRequest(id) : store->Lookup(id));
  if (!te) return Status::Ok();
  if (te->IsBatch()) return Status::InvalidRequest("batch tokens cannot be revoked");
  return store->RevokeTree(id);
}

class TokenBackend : public framework::FrameworkBackend {
 public:
  TokenBackend(TokenStore* store, std::vector<Path> paths) : FrameworkBackend(std::move(paths)), store_(store) {
    framework::SpecialPaths sp;
    sp.root = {"revoke-orphan/*", "accessors*"};
    SetSpecialPaths(std::move(sp));
  }
  // Revokes expired tokens and drops dangling index entries in the background.
  void Periodic() override {
    auto r = store_->Tidy();
    if (!r.ok()) LOG_WARN("token: periodic tidy failed: {}", r.status().ToString());
  }

 private:
  TokenStore* store_;
};

}  // namespace

json LookupData(const TokenEntry& e, bool include_id) {
  json d = {
      {"accessor", e.accessor},
      {"creation_time", e.creation_time},
      {"creation_ttl", e.ttl},
      {"display_name", e.display_name},
      {"entity_id", e.entity_id},
      {"expire_time", e.expire_time ? json(Rfc3339(e.expire_time)) : json(nullptr)},
      {"explicit_max_ttl", e.explicit_max_ttl},
      {"id", include_id ? e.id : ""},
      {"meta", e.meta.empty() ? json(nullptr) : json(e.meta)},
      {"num_uses", std::max<int64_t>(0, e.num_uses)},
      {"orphan", e.parent.empty()},
      {"path", e.path},
      {"policies", e.policies},
      {"ttl", e.RemainingTTL()},
      {"type", e.type},
  };
  if (e.expire_ms != 0) {
    d["issue_time"] = Rfc3339(e.creation_time);
    d["renewable"] = e.renewable && !e.IsBatch();
  }
  if (e.last_renewal_time) {
    d["last_renewal_time"] = e.last_renewal_time;
    d["last_renewal"] = Rfc3339(e.last_renewal_time);
  }
  if (e.period) d["period"] = e.period;
  if (!e.role_name.empty()) d["role"] = e.role_name;
  if (!e.bound_cidrs.empty()) d["bound_cidrs"] = e.bound_cidrs;
  return d;
}

logical::Auth AuthFor(const TokenEntry& e, int64_t lease_duration) {
  logical::Auth a;
  a.client_token = e.id;
  a.accessor = e.accessor;
  a.policies = e.policies;
  a.token_policies = e.policies;
  a.metadata = e.meta;
  a.ttl = e.ttl;
  a.lease_duration = lease_duration;
  a.renewable = e.renewable && !e.IsBatch() && e.expire_ms != 0;
  a.entity_id = e.entity_id;
  a.token_type = e.type;
  a.orphan = e.parent.empty();
  a.num_uses = std::max<int64_t>(0, e.num_uses);
  a.period = e.period;
  a.explicit_max_ttl = e.explicit_max_ttl;
  a.display_name = e.display_name;
  return a;
}

std::unique_ptr<framework::Backend> NewTokenBackend(TokenStore* store, const framework::BackendConfig&) {
  std::vector<Path> paths;
  const std::string role_re = framework::GenericNameRegex("role_name");
  framework::FieldSchema token_field = {{"token", {FieldType::kString}}};
  framework::FieldSchema accessor_field = {{"accessor", {FieldType::kString}}};
  framework::FieldSchema renew_fields = {{"token", {FieldType::kString}},
                                         {"increment", {FieldType::kDurationSecond}}};
  framework::FieldSchema renew_acc_fields = {{"accessor", {FieldType::kString}},
                                             {"increment", {FieldType::kDurationSecond}}};
  auto add = [&](std::string pattern, framework::FieldSchema fields, std::map<Operation, framework::Handler> ops) {
    Path p;
    p.pattern = std::move(pattern);
    p.fields = std::move(fields);
    p.operations = std::move(ops);
    paths.push_back(std::move(p));
  };

  // Roles
  {
    Path list;
    list.pattern = "roles/?";
    list.operations[Operation::kList] = [store](Request&, FieldData&) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(auto names, store->ListRoles());
      return framework::ListResponse(names);
    };
    paths.push_back(std::move(list));
    Path role;
    role.pattern = "roles/" + role_re;
    role.fields = RoleFields();
    role.exists = [store](Request&, FieldData& d) -> Result<bool> {
      ASSIGN_OR_RETURN(auto r, store->GetRole(d.GetString("role_name")));
      return r.has_value();
    };
    role.operations[Operation::kRead] = [store](Request&, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(auto r, store->GetRole(d.GetString("role_name")));
      if (!r) return framework::NoContent();
      return framework::Data(RoleReadData(*r));
    };
    role.operations[Operation::kCreate] = [store](Request& req, FieldData& d) { return RoleWrite(store, req, d); };
    role.operations[Operation::kUpdate] = role.operations[Operation::kCreate];
    role.operations[Operation::kDelete] = [store](Request&, FieldData& d) -> Result<ResponsePtr> {
      RETURN_IF_ERROR(store->DeleteRole(d.GetString("role_name")));
      return framework::NoContent();
    };
    paths.push_back(std::move(role));
  }

  // Creation
  add("create-orphan", CreateFields(),
      {{Operation::kUpdate, [store](Request& req, FieldData& d) { return HandleCreate(store, req, d, true, false); }}});
  add("create/" + role_re, CreateFields(),
      {{Operation::kUpdate, [store](Request& req, FieldData& d) { return HandleCreate(store, req, d, false, true); }}});
  add("create", CreateFields(),
      {{Operation::kUpdate, [store](Request& req, FieldData& d) { return HandleCreate(store, req, d, false, false); }}});

  // Lookup
  framework::Handler lookup_self = [store](Request& req, FieldData&) -> Result<ResponsePtr> {
    if (!req.token) return Status::PermissionDenied();
    ASSIGN_OR_RETURN(auto te, store->LookupInRequest(req.token->id));
    if (!te) return Status::PermissionDenied("bad token");
    return framework::Data(LookupData(*te, true));
  };
  add("lookup-self", token_field, {{Operation::kRead, lookup_self}, {Operation::kUpdate, lookup_self}});
  framework::Handler lookup = [store](Request& req, FieldData& d) -> Result<ResponsePtr> {
    std::string id = d.GetString("token");
    if (id.empty() && req.token) id = req.token->id;
    if (id.empty()) return Status::InvalidRequest("missing token ID");
    ASSIGN_OR_RETURN(auto te, req.token && id == req.token->id ? store->LookupInRequest(id) : store->Lookup(id));
    if (!te) return Status::PermissionDenied("bad token");
    return framework::Data(LookupData(*te, true));
  };
  add("lookup", token_field, {{Operation::kRead, lookup}, {Operation::kUpdate, lookup}});
  add("lookup/(?P<token>.+)", token_field, {{Operation::kRead, lookup}, {Operation::kUpdate, lookup}});
  framework::Handler lookup_acc = [store](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string a = d.GetString("accessor");
    if (a.empty()) return Status::InvalidRequest("missing accessor");
    ASSIGN_OR_RETURN(auto te, store->LookupByAccessor(a));
    if (!te) return Status::InvalidRequest("invalid accessor");
    return framework::Data(LookupData(*te, false));
  };
  add("lookup-accessor", accessor_field, {{Operation::kUpdate, lookup_acc}});
  add("lookup-accessor/(?P<accessor>.+)", accessor_field, {{Operation::kUpdate, lookup_acc}});

  // Renewal
  framework::Handler renew_self = [store](Request& req, FieldData& d) -> Result<ResponsePtr> {
    if (!req.token) return Status::PermissionDenied();
    ASSIGN_OR_RETURN(auto te, store->LookupInRequest(req.token->id));
    if (!te) return Status::InvalidRequest("token not found");
    return RenewResponse(store, req, *te, d.GetInt("increment"), false);
  };
  add("renew-self", renew_fields, {{Operation::kUpdate, renew_self}});
  framework::Handler renew = [store](Request& req, FieldData& d) -> Result<ResponsePtr> {
    std::string id = d.GetString("token");
    if (id.empty()) return Status::InvalidRequest("missing token ID");
    ASSIGN_OR_RETURN(auto te, req.token && id == req.token->id ? store->LookupInRequest(id) : store->Lookup(id));
    if (!te) return Status::InvalidRequest("token not found");
    return RenewResponse(store, req, *te, d.GetInt("increment"), false);
  };
  add("renew", renew_fields, {{Operation::kUpdate, renew}});
  add("renew/(?P<token>.+)", renew_fields, {{Operation::kUpdate, renew}});
  add("renew-accessor", renew_acc_fields,
      {{Operation::kUpdate, [store](Request& req, FieldData& d) -> Result<ResponsePtr> {
          std::string a = d.GetString("accessor");
          if (a.empty()) return Status::InvalidRequest("missing accessor");
          ASSIGN_OR_RETURN(auto te, store->LookupByAccessor(a));
          if (!te) return Status::InvalidRequest("invalid accessor");
          return RenewResponse(store, req, *te, d.GetInt("increment"), true);
        }}});

  // Revocation
  add("revoke-self", {}, {{Operation::kUpdate, [store](Request& req, FieldData&) -> Result<ResponsePtr> {
                            if (!req.token) return Status::PermissionDenied();
                            RETURN_IF_ERROR(RevokeCommon(store, req.token->id, true));
                            return framework::NoContent();
                          }}});
  framework::Handler revoke = [store](Request& req, FieldData& d) -> Result<ResponsePtr> {
    std::string id = d.GetString("token");
    if (id.empty()) return Status::InvalidRequest("missing token ID");
    RETURN_IF_ERROR(RevokeCommon(store, id, req.token && id == req.token->id));
    return framework::NoContent();
  };
  add("revoke", token_field, {{Operation::kUpdate, revoke}});
  add("revoke/(?P<token>.+)", token_field, {{Operation::kUpdate, revoke}});
  framework::Handler revoke_orphan = [store](Request& req, FieldData& d) -> Result<ResponsePtr> {
    std::string id = d.GetString("token");
    if (id.empty()) return Status::InvalidRequest("missing token ID");
    if (!req.token || !store->HasSudo(req.token->policies, req.mount_point + req.path))
      return Status::InvalidRequest("root or sudo privileges required to revoke and orphan");
    ASSIGN_OR_RETURN(auto te, store->Lookup(id));
    if (!te) return Status::InvalidRequest("token to revoke not found");
    if (te->IsBatch()) return Status::InvalidRequest("batch tokens cannot be revoked");
    RETURN_IF_ERROR(store->RevokeOrphan(id));
    return framework::NoContent();
  };
  add("revoke-orphan", token_field, {{Operation::kUpdate, revoke_orphan}});
  add("revoke-orphan/(?P<token>.+)", token_field, {{Operation::kUpdate, revoke_orphan}});
  framework::Handler revoke_acc = [store](Request&, FieldData& d) -> Result<ResponsePtr> {
    std::string a = d.GetString("accessor");
    if (a.empty()) return Status::InvalidRequest("missing accessor");
    ASSIGN_OR_RETURN(auto te, store->LookupByAccessor(a));
    if (!te) return Status::InvalidRequest("invalid accessor");
    RETURN_IF_ERROR(store->RevokeTreeByAccessor(a));
    return framework::NoContent();
  };
  add("revoke-accessor", accessor_field, {{Operation::kUpdate, revoke_acc}});
  add("revoke-accessor/(?P<accessor>.+)", accessor_field, {{Operation::kUpdate, revoke_acc}});

  // Accessor listing (sudo) and tidy
  add("accessors/?", {}, {{Operation::kList, [store](Request&, FieldData&) -> Result<ResponsePtr> {
                            ASSIGN_OR_RETURN(auto keys, store->ListAccessors());
                            return framework::Data({{"keys", keys}});
                          }}});
  add("tidy", {}, {{Operation::kUpdate, [store](Request& req, FieldData&) -> Result<ResponsePtr> {
                     ASSIGN_OR_RETURN(int revoked, store->Tidy());
                     (void)revoked;
                     // Vault answers 202 Accepted with a warning (tidy runs in the background there).
                     nlohmann::ordered_json body;
                     body["request_id"] = req.request_id;
                     body["lease_id"] = "";
                     body["renewable"] = false;
                     body["lease_duration"] = 0;
                     body["data"] = nullptr;
                     body["wrap_info"] = nullptr;
                     body["warnings"] = {"Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs."};
                     body["auth"] = nullptr;
                     auto resp = std::make_unique<logical::Response>();
                     http::HttpResponse raw;
                     raw.status = 202;
                     raw.body = body.dump();
                     resp->raw = std::move(raw);
                     return resp;
                   }}});

  return std::make_unique<TokenBackend>(store, std::move(paths));
}

}  // namespace tresor::token
