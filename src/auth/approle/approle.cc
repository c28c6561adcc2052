#include "auth/approle/approle.h"

#include <array>
#include <chrono>
#include <mutex>
#include <shared_mutex>

#include "auth/tokenutil/cidr.h"
#include "auth/tokenutil/token_params.h"
#include "common/duration.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/log.h"
#include "common/random.h"
#include "common/strings.h"
#include "crypto/hash.h"

namespace tresor::approle {
namespace {

using framework::Field;
using framework::FieldData;
using framework::FieldSchema;
using framework::FieldType;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::Response;
using logical::ResponsePtr;
using tokenutil::ListKind;
using json = nlohmann::json;

constexpr size_t kMaxNameLength = 4096;
const char kZeroTime[] = "0001-01-01T00:00:00Z";

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatNanos(int64_t ns) {
  if (ns == 0) return kZeroTime;
  return FormatRFC3339Nano(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns))));
}

std::string Quote(const std::string& s) { return json(s).dump(); }

Status RoleMissing(const std::string& name) {
  return Status::InvalidRequest("role " + Quote(name) + " does not exist");
}

struct Role {
  std::string name;
  std::string role_id;
  bool bind_secret_id = true;
  std::vector<std::string> secret_id_bound_cidrs;
  int64_t secret_id_num_uses = 0;
  int64_t secret_id_ttl = 0;
  bool local_secret_ids = false;
  tokenutil::TokenParams token;
  // Deprecated keys, reported on read only while in use.
  std::vector<std::string> policies;
  int64_t period = 0;
  std::vector<std::string> bound_cidr_list;

  json ToJson() const {
    json j = token.ToJson();
    j["name"] = name;
    j["role_id"] = role_id;
    j["bind_secret_id"] = bind_secret_id;
    j["secret_id_bound_cidrs"] = secret_id_bound_cidrs;
    j["secret_id_num_uses"] = secret_id_num_uses;
    j["secret_id_ttl"] = secret_id_ttl;
    j["local_secret_ids"] = local_secret_ids;
    j["policies"] = policies;
    j["period"] = period;
    j["bound_cidr_list"] = bound_cidr_list;
    return j;
  }
  static Role FromJson(const json& j) {
    Role r;
    r.token = tokenutil::TokenParams::FromJson(j);
    r.name = j.value("name", std::string());
    r.role_id = j.value("role_id", std::string());
    r.bind_secret_id = j.value("bind_secret_id", true);
    r.secret_id_bound_cidrs = j.value("secret_id_bound_cidrs", std::vector<std::string>{});
    r.secret_id_num_uses = j.value("secret_id_num_uses", int64_t{0});
    r.secret_id_ttl = j.value("secret_id_ttl", int64_t{0});
    r.local_secret_ids = j.value("local_secret_ids", false);
    r.policies = j.value("policies", std::vector<std::string>{});
    r.period = j.value("period", int64_t{0});
    r.bound_cidr_list = j.value("bound_cidr_list", std::vector<std::string>{});
    return r;
  }
};

struct SecretIdEntry {
  std::string accessor;
  int64_t num_uses = 0;
  int64_t ttl = 0;
  int64_t creation_ns = 0;
  int64_t last_updated_ns = 0;
  int64_t expiration_ns = 0;  // 0: never
  std::map<std::string, std::string> metadata;
  std::vector<std::string> cidr_list;
  std::vector<std::string> token_bound_cidrs;

  json ToJson() const {
    return {{"secret_id_accessor", accessor}, {"secret_id_num_uses", num_uses}, {"secret_id_ttl", ttl},
            {"creation_time", creation_ns},   {"last_updated_time", last_updated_ns},
            {"expiration_time", expiration_ns}, {"metadata", metadata}, {"cidr_list", cidr_list},
            {"token_bound_cidrs", token_bound_cidrs}};
  }
  static SecretIdEntry FromJson(const json& j) {
    SecretIdEntry e;
    e.accessor = j.value("secret_id_accessor", std::string());
    e.num_uses = j.value("secret_id_num_uses", int64_t{0});
    e.ttl = j.value("secret_id_ttl", int64_t{0});
    e.creation_ns = j.value("creation_time", int64_t{0});
    e.last_updated_ns = j.value("last_updated_time", int64_t{0});
    e.expiration_ns = j.value("expiration_time", int64_t{0});
    e.metadata = j.value("metadata", std::map<std::string, std::string>{});
    e.cidr_list = j.value("cidr_list", std::vector<std::string>{});
    e.token_bound_cidrs = j.value("token_bound_cidrs", std::vector<std::string>{});
    return e;
  }
  // What lookups return.
  json View() const {
    return {{"cidr_list", cidr_list},
            {"creation_time", FormatNanos(creation_ns)},
            {"expiration_time", FormatNanos(expiration_ns)},
            {"last_updated_time", FormatNanos(last_updated_ns)},
            {"metadata", metadata},
            {"secret_id_accessor", accessor},
            {"secret_id_num_uses", num_uses},
            {"secret_id_ttl", ttl},
            {"token_bound_cidrs", token_bound_cidrs}};
  }
  bool Expired(int64_t now_ns) const { return expiration_ns != 0 && now_ns >= expiration_ns; }
};

Result<std::optional<json>> GetJson(Storage* s, const std::string& key) {
  ASSIGN_OR_RETURN(auto raw, s->Get(key));
  if (!raw) return std::optional<json>();
  json j = ParseJsonOrDiscarded(*raw);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("approle: malformed entry");
  return std::optional<json>(std::move(j));
}

// metadata arrives as a JSON-encoded string (Vault's API), a JSON object, or "k=v,k2=v2".
Result<std::map<std::string, std::string>> ParseMetadata(const json& raw) {
  std::map<std::string, std::string> out;
  json obj;
  if (raw.is_null()) return out;
  if (raw.is_object()) {
    obj = raw;
  } else if (raw.is_string()) {
    std::string s(TrimSpace(raw.get<std::string>()));
    if (s.empty()) return out;
    obj = ParseJsonOrDiscarded(s);
    if (obj.is_discarded() || !obj.is_object()) {
      obj = json::object();
      for (auto& part : Split(s, ',')) {
        auto eq = part.find('=');
        if (eq == std::string::npos)
          return Status::InvalidRequest("failed to parse metadata: expected a JSON object or key=value pairs");
        obj[std::string(TrimSpace(part.substr(0, eq)))] = std::string(TrimSpace(part.substr(eq + 1)));
      }
    }
  } else {
    return Status::InvalidRequest("failed to parse metadata: expected a JSON object");
  }
  for (auto& [k, v] : obj.items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

class AppRoleBackend : public framework::FrameworkBackend {
 public:
  explicit AppRoleBackend(const framework::BackendConfig& cfg) : storage_(cfg.storage) { BuildPaths(); }

  Status Initialize() override {
    if (!storage_) return Status::Ok();
    return GetKeys(storage_).status();
  }

  void Periodic() override {
    if (!storage_) return;
    auto st = Tidy(storage_);
    if (!st.ok()) LOG_WARN("approle: periodic tidy failed: {}", st.message());
  }

 private:
  struct Keys {
    std::string role_id, role_name, secret_id, accessor;
  };

  // ------------------------------------------------------------------ salt and hashing

  Result<const Keys*> GetKeys(Storage* s) {
    std::lock_guard lock(keys_mu_);
    if (keys_) return keys_.get();
    ASSIGN_OR_RETURN(auto stored, s->Get("salt"));
    std::string salt;
    if (stored) {
      auto dec = HexDecode(*stored);
      if (!dec || dec->size() != 32) return Status::Corruption("approle: malformed salt");
      salt = *dec;
    } else {
      salt = RandomBytes(32);
      RETURN_IF_ERROR(s->Put("salt", HexEncode(salt)));
    }
    auto k = std::make_unique<Keys>();
    ASSIGN_OR_RETURN(k->role_id, crypto::HkdfSha256(salt, "", "approle role_id", 32));
    ASSIGN_OR_RETURN(k->role_name, crypto::HkdfSha256(salt, "", "approle role name", 32));
    ASSIGN_OR_RETURN(k->secret_id, crypto::HkdfSha256(salt, "", "approle secret_id", 32));
    ASSIGN_OR_RETURN(k->accessor, crypto::HkdfSha256(salt, "", "approle secret_id accessor", 32));
    keys_ = std::move(k);
    return keys_.get();
  }

  static std::string Mac(const std::string& key, std::string_view v) { return HexEncode(crypto::HmacSha256(key, v)); }

  std::mutex& StripeFor(const std::string& secret_hmac) {
    return stripes_[std::hash<std::string>{}(secret_hmac) % stripes_.size()];
  }

  // ------------------------------------------------------------------ storage helpers

  static Result<std::optional<Role>> LoadRole(Storage* s, const std::string& name) {
    if (name.empty()) return Status::InvalidRequest("missing role_name");
    ASSIGN_OR_RETURN(auto j, GetJson(s, "role/" + ToLower(name)));
    if (!j) return std::optional<Role>();
    return std::optional<Role>(Role::FromJson(*j));
  }

  // Validates and stores a role, moving its role_id index if the ID changed. Caller holds
  // mu_ exclusively. `previous_role_id` is empty for a new role.
  Status SaveRole(Storage* s, const Keys& k, const Role& r, const std::string& previous_role_id) {
    if (!r.bind_secret_id && r.secret_id_bound_cidrs.empty() && r.token.bound_cidrs.empty())
      return Status::InvalidRequest("at least one constraint should be enabled on the role");
    if (r.role_id.empty()) return Status::InvalidRequest("invalid role_id supplied, or failed to generate a role_id");
    std::vector<TxnOp> ops;
    if (r.role_id != previous_role_id) {
      std::string idx = "role_id/" + Mac(k.role_id, r.role_id);
      ASSIGN_OR_RETURN(auto owner, GetJson(s, idx));
      if (owner && owner->value("name", "") != r.name) return Status::InvalidRequest("role_id already in use");
      if (!previous_role_id.empty())
        ops.push_back({TxnOp::Kind::kDelete, "role_id/" + Mac(k.role_id, previous_role_id), ""});
      ops.push_back({TxnOp::Kind::kPut, idx, json{{"name", r.name}}.dump()});
    }
    ops.push_back({TxnOp::Kind::kPut, "role/" + r.name, r.ToJson().dump()});
    return s->Transaction(ops);
  }

  std::string SecretDir(const Keys& k, const std::string& role) { return "secret_id/" + Mac(k.role_name, role) + "/"; }

  Status DeleteSecret(Storage* s, const Keys& k, const std::string& secret_key, const SecretIdEntry& e) {
    return s->Transaction({{TxnOp::Kind::kDelete, secret_key, ""},
                           {TxnOp::Kind::kDelete, "accessor/" + Mac(k.accessor, e.accessor), ""}});
  }

  // ------------------------------------------------------------------ paths

  void BuildPaths() {
    std::vector<Path> paths;
    const std::string name = framework::GenericNameRegex("role_name");
    const Field role_name(FieldType::kLowerCaseString, "Name of the role.");

    Path list;
    list.pattern = "role/?";
    list.operations[Operation::kList] = [this](Request& r, FieldData&) { return ListRoles(r); };
    list.help_synopsis = "List the AppRoles.";
    paths.push_back(list);

    Path role;
    role.pattern = "role/" + name;
    role.fields = {
        {"role_name", role_name},
        {"bind_secret_id", Field(FieldType::kBool, "Require a secret_id at login.", true)},
        {"secret_id_bound_cidrs", Field(FieldType::kCommaStringSlice, "CIDR blocks allowed to log in.")},
        {"bound_cidr_list", Field(FieldType::kCommaStringSlice, "Deprecated: use secret_id_bound_cidrs")},
        {"secret_id_num_uses", Field(FieldType::kInt, "Default uses of a secret ID; 0 is unlimited.")},
        {"secret_id_ttl", Field(FieldType::kDurationSecond, "Default lifetime of a secret ID; 0 is forever.")},
        {"local_secret_ids", Field(FieldType::kBool, "Secret IDs are cluster-local (set at creation only).")},
        {"role_id", Field(FieldType::kString, "Custom role ID; generated if absent.")},
        {"policies", Field(FieldType::kCommaStringSlice, "Deprecated: use token_policies")},
        {"period", Field(FieldType::kDurationSecond, "Deprecated: use token_period")},
    };
    tokenutil::AddTokenFields(&role.fields);
    role.operations[Operation::kRead] = [this](Request& r, FieldData& d) { return ReadRole(r, d); };
    role.operations[Operation::kCreate] = [this](Request& r, FieldData& d) { return WriteRole(r, d); };
    role.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return WriteRole(r, d); };
    role.operations[Operation::kDelete] = [this](Request& r, FieldData& d) { return DeleteRole(r, d); };
    role.exists = [](Request& r, FieldData& d) -> Result<bool> {
      ASSIGN_OR_RETURN(auto e, LoadRole(r.storage, d.GetString("role_name")));
      return e.has_value();
    };
    role.help_synopsis = "Manage an AppRole.";
    paths.push_back(role);

    AddFieldPaths(&paths, name, role_name);

    Path role_id;
    role_id.pattern = "role/" + name + "/role-id";
    role_id.fields = {{"role_name", role_name}, {"role_id", Field(FieldType::kString, "Role ID to set.")}};
    role_id.operations[Operation::kRead] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, d.GetString("role_name")));
      if (!role) return ResponsePtr();
      return framework::Data({{"role_id", role->role_id}});
    };
    role_id.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) -> Result<ResponsePtr> {
      std::string id(TrimSpace(d.GetString("role_id")));
      if (id.empty()) return Status::InvalidRequest("missing role_id");
      return UpdateRole(r, d, [&](Role* role) {
        role->role_id = id;
        return Status::Ok();
      });
    };
    role_id.help_synopsis = "Read or set the role ID of an AppRole.";
    paths.push_back(role_id);

    FieldSchema secret_fields = {
        {"role_name", role_name},
        {"metadata", Field(FieldType::kRaw, "JSON object of string metadata for tokens from this secret ID.")},
        {"cidr_list", Field(FieldType::kCommaStringSlice, "CIDR blocks this secret ID may log in from.")},
        {"token_bound_cidrs", Field(FieldType::kCommaStringSlice, "CIDR blocks the issued tokens are bound to.")},
        {"num_uses", Field(FieldType::kInt, "Uses of this secret ID; 0 is unlimited.")},
        {"ttl", Field(FieldType::kDurationSecond, "Lifetime of this secret ID; 0 is forever.")},
    };
    Path secret;
    secret.pattern = "role/" + name + "/secret-id/?";
    secret.fields = secret_fields;
    secret.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) {
      return CreateSecretId(r, d, RandomSecretId());
    };
    secret.operations[Operation::kList] = [this](Request& r, FieldData& d) { return ListAccessors(r, d); };
    secret.help_synopsis = "Generate a secret ID, or list the accessors of a role's secret IDs.";
    paths.push_back(secret);

    Path custom;
    custom.pattern = "role/" + name + "/custom-secret-id";
    custom.fields = secret_fields;
    custom.fields["secret_id"] = Field(FieldType::kString, "The secret ID to register.");
    custom.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) -> Result<ResponsePtr> {
      std::string sid = d.GetString("secret_id");
      if (sid.empty()) return Status::InvalidRequest("missing secret_id");
      return CreateSecretId(r, d, sid);
    };
    custom.help_synopsis = "Register a caller-chosen secret ID.";
    paths.push_back(custom);

    FieldSchema by_secret = {{"role_name", role_name}, {"secret_id", Field(FieldType::kString, "The secret ID.")}};
    Path lookup;
    lookup.pattern = "role/" + name + "/secret-id/lookup/?";
    lookup.fields = by_secret;
    lookup.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return SecretIdOp(r, d, false); };
    paths.push_back(lookup);
    Path destroy;
    destroy.pattern = "role/" + name + "/secret-id/destroy/?";
    destroy.fields = by_secret;
    destroy.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return SecretIdOp(r, d, true); };
    destroy.operations[Operation::kDelete] = destroy.operations[Operation::kUpdate];
    paths.push_back(destroy);

    FieldSchema by_accessor = {{"role_name", role_name},
                               {"secret_id_accessor", Field(FieldType::kString, "Accessor of the secret ID.")}};
    Path acc_lookup;
    acc_lookup.pattern = "role/" + name + "/secret-id-accessor/lookup/?";
    acc_lookup.fields = by_accessor;
    acc_lookup.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return AccessorOp(r, d, false); };
    paths.push_back(acc_lookup);
    Path acc_destroy;
    acc_destroy.pattern = "role/" + name + "/secret-id-accessor/destroy/?";
    acc_destroy.fields = by_accessor;
    acc_destroy.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return AccessorOp(r, d, true); };
    acc_destroy.operations[Operation::kDelete] = acc_destroy.operations[Operation::kUpdate];
    paths.push_back(acc_destroy);

    Path login;
    login.pattern = "login/?";
    login.fields = {{"role_id", Field(FieldType::kString, "Role ID of the AppRole.")},
                    {"secret_id", Field(FieldType::kString, "Secret ID of the AppRole.")}};
    login.operations[Operation::kUpdate] = [this](Request& r, FieldData& d) { return Login(r, d); };
    login.help_synopsis = "Log in with a role ID and secret ID.";
    paths.push_back(login);

    Path tidy;
    tidy.pattern = "tidy/secret-id/?";
    tidy.operations[Operation::kUpdate] = [this](Request& r, FieldData&) -> Result<ResponsePtr> {
      RETURN_IF_ERROR(Tidy(r.storage));
      auto resp = std::make_unique<Response>();
      resp->warnings.push_back(
          "Tidy operation successfully started. Any information from the operation will be printed to Vault's "
          "server logs.");
      return resp;
    };
    tidy.help_synopsis = "Remove expired secret IDs and dangling accessors.";
    paths.push_back(tidy);

    SetPaths(std::move(paths));
    SetSpecialPaths({.unauthenticated = {"login", "login/"}, .root = {}});
  }

  // One path per role setting, as Vault offers them for fine-grained ACLs.
  struct FieldPath {
    std::string suffix;
    FieldSchema fields;
    std::function<json(const Role&)> read;
    std::function<Status(Role*, const FieldData&)> update;  // null: read-only
    std::function<void(Role*)> reset;
  };

  static Status NeedField(const FieldData& d, const std::string& f) {
    return d.Has(f) ? Status::Ok() : Status::InvalidRequest("missing " + f);
  }

  void AddFieldPaths(std::vector<Path>* paths, const std::string& name, const Field& role_name) {
    std::vector<FieldPath> fps;
    fps.push_back({"local-secret-ids", {}, [](const Role& r) { return json{{"local_secret_ids", r.local_secret_ids}}; },
                   nullptr, nullptr});
    fps.push_back({"policies",
                   {{"policies", Field(FieldType::kCommaStringSlice)}, {"token_policies", Field(FieldType::kCommaStringSlice)}},
                   [](const Role& r) {
                     json j = {{"token_policies", r.token.policies}};
                     if (!r.policies.empty()) j["policies"] = r.policies;
                     return j;
                   },
                   [](Role* r, const FieldData& d) -> Status {
                     if (!d.Has("token_policies") && !d.Has("policies"))
                       return Status::InvalidRequest("missing token_policies");
                     if (d.Has("token_policies")) r->token.policies = tokenutil::ParsePolicies(d.GetStrings("token_policies"));
                     return tokenutil::UpgradeList(d, "policies", "token_policies", ListKind::kPolicies, &r->policies,
                                                   &r->token.policies);
                   },
                   [](Role* r) {
                     r->token.policies.clear();
                     r->policies.clear();
                   }});
    auto cidr_path = [](std::string suffix, std::string field, bool legacy) {
      FieldPath fp;
      fp.suffix = suffix;
      fp.fields = {{field, Field(FieldType::kCommaStringSlice)}};
      fp.read = [field, legacy](const Role& r) {
        if (field == "token_bound_cidrs") return json{{field, r.token.bound_cidrs}};
        return json{{field, legacy ? r.bound_cidr_list : r.secret_id_bound_cidrs}};
      };
      fp.update = [field](Role* r, const FieldData& d) -> Status {
        RETURN_IF_ERROR(NeedField(d, field));
        ASSIGN_OR_RETURN(auto cidrs, tokenutil::ValidateCidrs(d.GetStrings(field)));
        if (field == "token_bound_cidrs") {
          r->token.bound_cidrs = cidrs;
        } else {
          r->secret_id_bound_cidrs = cidrs;
          r->bound_cidr_list.clear();
        }
        return Status::Ok();
      };
      fp.reset = [field](Role* r) {
        if (field == "token_bound_cidrs") r->token.bound_cidrs.clear();
        else r->secret_id_bound_cidrs.clear(), r->bound_cidr_list.clear();
      };
      return fp;
    };
    fps.push_back(cidr_path("secret-id-bound-cidrs", "secret_id_bound_cidrs", false));
    fps.push_back(cidr_path("bound-cidr-list", "bound_cidr_list", true));
    fps.push_back(cidr_path("token-bound-cidrs", "token_bound_cidrs", false));
    fps.push_back({"bind-secret-id", {{"bind_secret_id", Field(FieldType::kBool)}},
                   [](const Role& r) { return json{{"bind_secret_id", r.bind_secret_id}}; },
                   [](Role* r, const FieldData& d) -> Status {
                     RETURN_IF_ERROR(NeedField(d, "bind_secret_id"));
                     r->bind_secret_id = d.GetBool("bind_secret_id");
                     return Status::Ok();
                   },
                   [](Role* r) { r->bind_secret_id = true; }});
    fps.push_back({"secret-id-num-uses", {{"secret_id_num_uses", Field(FieldType::kInt)}},
                   [](const Role& r) { return json{{"secret_id_num_uses", r.secret_id_num_uses}}; },
                   [](Role* r, const FieldData& d) -> Status {
                     RETURN_IF_ERROR(NeedField(d, "secret_id_num_uses"));
                     int64_t v = d.GetInt("secret_id_num_uses");
                     if (v < 0) return Status::InvalidRequest("secret_id_num_uses cannot be negative");
                     r->secret_id_num_uses = v;
                     return Status::Ok();
                   },
                   [](Role* r) { r->secret_id_num_uses = 0; }});
    fps.push_back({"secret-id-ttl", {{"secret_id_ttl", Field(FieldType::kDurationSecond)}},
                   [](const Role& r) { return json{{"secret_id_ttl", r.secret_id_ttl}}; },
                   [](Role* r, const FieldData& d) -> Status {
                     RETURN_IF_ERROR(NeedField(d, "secret_id_ttl"));
                     r->secret_id_ttl = d.GetInt("secret_id_ttl");
                     return Status::Ok();
                   },
                   [](Role* r) { r->secret_id_ttl = 0; }});
    fps.push_back({"period",
                   {{"period", Field(FieldType::kDurationSecond)}, {"token_period", Field(FieldType::kDurationSecond)}},
                   [](const Role& r) {
                     json j = {{"token_period", r.token.period}};
                     if (r.period > 0) j["period"] = r.period;
                     return j;
                   },
                   [](Role* r, const FieldData& d) -> Status {
                     if (!d.Has("token_period") && !d.Has("period")) return Status::InvalidRequest("missing period");
                     if (d.Has("token_period")) r->token.period = d.GetInt("token_period");
                     RETURN_IF_ERROR(tokenutil::UpgradeDuration(d, "period", "token_period", &r->period, &r->token.period));
                     return r->token.Validate();
                   },
                   [](Role* r) { r->token.period = 0, r->period = 0; }});
    fps.push_back({"token-num-uses", {{"token_num_uses", Field(FieldType::kInt)}},
                   [](const Role& r) { return json{{"token_num_uses", r.token.num_uses}}; },
                   [](Role* r, const FieldData& d) -> Status {
                     RETURN_IF_ERROR(NeedField(d, "token_num_uses"));
                     r->token.num_uses = d.GetInt("token_num_uses");
                     if (r->token.num_uses < 0) return Status::InvalidRequest("token_num_uses cannot be negative");
                     return r->token.Validate();
                   },
                   [](Role* r) { r->token.num_uses = 0; }});
    fps.push_back({"token-ttl", {{"token_ttl", Field(FieldType::kDurationSecond)}},
                   [](const Role& r) { return json{{"token_ttl", r.token.ttl}}; },
                   [](Role* r, const FieldData& d) -> Status {
                     RETURN_IF_ERROR(NeedField(d, "token_ttl"));
                     int64_t v = d.GetInt("token_ttl");
                     if (r->token.max_ttl > 0 && v > r->token.max_ttl)
                       return Status::InvalidRequest("token_ttl should not be greater than token_max_ttl");
                     r->token.ttl = v;
                     return Status::Ok();
                   },
                   [](Role* r) { r->token.ttl = 0; }});
    fps.push_back({"token-max-ttl", {{"token_max_ttl", Field(FieldType::kDurationSecond)}},
                   [](const Role& r) { return json{{"token_max_ttl", r.token.max_ttl}}; },
                   [](Role* r, const FieldData& d) -> Status {
                     RETURN_IF_ERROR(NeedField(d, "token_max_ttl"));
                     int64_t v = d.GetInt("token_max_ttl");
                     if (v > 0 && r->token.ttl > v)
                       return Status::InvalidRequest("token_max_ttl should be greater than or equal to token_ttl");
                     r->token.max_ttl = v;
                     return Status::Ok();
                   },
                   [](Role* r) { r->token.max_ttl = 0; }});

    for (auto& fp : fps) {
      Path p;
      p.pattern = "role/" + name + "/" + fp.suffix;
      p.fields = fp.fields;
      p.fields["role_name"] = role_name;
      auto read = fp.read;
      p.operations[Operation::kRead] = [read](Request& r, FieldData& d) -> Result<ResponsePtr> {
        ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, d.GetString("role_name")));
        if (!role) return ResponsePtr();
        return framework::Data(read(*role));
      };
      if (fp.update) {
        auto update = fp.update;
        auto reset = fp.reset;
        p.operations[Operation::kUpdate] = [this, update](Request& r, FieldData& d) {
          return UpdateRole(r, d, [&](Role* role) { return update(role, d); });
        };
        p.operations[Operation::kDelete] = [this, reset](Request& r, FieldData& d) -> Result<ResponsePtr> {
          ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, d.GetString("role_name")));
          if (!role) return ResponsePtr();
          return UpdateRole(r, d, [&](Role* role) {
            reset(role);
            return Status::Ok();
          });
        };
      }
      p.help_synopsis = "Read or change one setting of an AppRole.";
      paths->push_back(std::move(p));
    }
  }

  // ------------------------------------------------------------------ roles

  Result<ResponsePtr> ListRoles(Request& r) {
    ASSIGN_OR_RETURN(auto keys, r.storage->List("role/"));
    std::vector<std::string> names;
    for (auto& k : keys)
      if (!k.empty() && k.back() != '/') names.push_back(k);
    return framework::ListResponse(names);
  }

  Result<ResponsePtr> ReadRole(Request& r, FieldData& d) {
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, d.GetString("role_name")));
    if (!role) return ResponsePtr();
    json data = {{"bind_secret_id", role->bind_secret_id},
                 {"secret_id_bound_cidrs", role->secret_id_bound_cidrs},
                 {"secret_id_num_uses", role->secret_id_num_uses},
                 {"secret_id_ttl", role->secret_id_ttl},
                 {"local_secret_ids", role->local_secret_ids}};
    role->token.Populate(&data);
    if (role->period > 0) data["period"] = role->period;
    if (!role->policies.empty()) data["policies"] = role->policies;
    if (!role->bound_cidr_list.empty()) data["bound_cidr_list"] = role->bound_cidr_list;
    return framework::Data(std::move(data));
  }

  Result<ResponsePtr> WriteRole(Request& r, FieldData& d) {
    std::string name = d.GetString("role_name");
    if (name.size() > kMaxNameLength) return Status::InvalidRequest("role_name is longer than maximum of 4096 bytes");
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::unique_lock lock(mu_);
    ASSIGN_OR_RETURN(auto existing, LoadRole(r.storage, name));
    bool creating = !existing;
    Role role = existing ? std::move(*existing) : Role();
    std::string previous_role_id = role.role_id;
    if (creating) role.name = ToLower(name);

    if (d.Has("local_secret_ids")) {
      bool v = d.GetBool("local_secret_ids");
      if (creating) role.local_secret_ids = v;
      else if (v != role.local_secret_ids)
        return Status::InvalidRequest("local_secret_ids can only be modified during role creation");
    }
    if (d.Has("role_id")) role.role_id = std::string(TrimSpace(d.GetString("role_id")));
    else if (creating) role.role_id = NewUUID();
    if (d.Has("bind_secret_id")) role.bind_secret_id = d.GetBool("bind_secret_id");

    if (d.Has("secret_id_bound_cidrs")) {
      ASSIGN_OR_RETURN(role.secret_id_bound_cidrs, tokenutil::ValidateCidrs(d.GetStrings("secret_id_bound_cidrs")));
      role.bound_cidr_list.clear();
    } else if (d.Has("bound_cidr_list")) {
      ASSIGN_OR_RETURN(role.bound_cidr_list, tokenutil::ValidateCidrs(d.GetStrings("bound_cidr_list")));
      role.secret_id_bound_cidrs = role.bound_cidr_list;
    }
    if (d.Has("secret_id_num_uses")) {
      role.secret_id_num_uses = d.GetInt("secret_id_num_uses");
      if (role.secret_id_num_uses < 0) return Status::InvalidRequest("secret_id_num_uses cannot be negative");
    }
    if (d.Has("secret_id_ttl")) role.secret_id_ttl = d.GetInt("secret_id_ttl");

    RETURN_IF_ERROR(role.token.Parse(d));
    RETURN_IF_ERROR(tokenutil::UpgradeList(d, "policies", "token_policies", ListKind::kPolicies, &role.policies,
                                           &role.token.policies));
    RETURN_IF_ERROR(tokenutil::UpgradeDuration(d, "period", "token_period", &role.period, &role.token.period));
    RETURN_IF_ERROR(role.token.Validate());
    if (role.token.period > 0 && r.mount_max_ttl > 0 && role.token.period > r.mount_max_ttl)
      return Status::InvalidRequest("period of " + Quote(GoDurationString(role.token.period)) +
                                    " is greater than the backend's maximum lease TTL of " +
                                    Quote(GoDurationString(r.mount_max_ttl)));

    RETURN_IF_ERROR(SaveRole(r.storage, *keys, role, previous_role_id));
    if (r.mount_max_ttl > 0 && role.token.max_ttl > r.mount_max_ttl) {
      auto resp = std::make_unique<Response>();
      resp->warnings.push_back(
          "token_max_ttl is greater than the system or backend mount's maximum TTL value; issued tokens' max TTL "
          "value will be truncated");
      return resp;
    }
    return framework::NoContent();
  }

  // Loads the role, applies `change`, validates and saves, under the exclusive lock.
  Result<ResponsePtr> UpdateRole(Request& r, FieldData& d, const std::function<Status(Role*)>& change) {
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::string name = d.GetString("role_name");
    std::unique_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, name));
    if (!role) return RoleMissing(name);
    std::string previous = role->role_id;
    RETURN_IF_ERROR(change(&*role));
    RETURN_IF_ERROR(SaveRole(r.storage, *keys, *role, previous));
    return framework::NoContent();
  }

  Result<ResponsePtr> DeleteRole(Request& r, FieldData& d) {
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::unique_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, d.GetString("role_name")));
    if (!role) return framework::NoContent();
    std::string dir = SecretDir(*keys, role->name);
    ASSIGN_OR_RETURN(auto secrets, r.storage->List(dir));
    for (auto& s : secrets) {
      ASSIGN_OR_RETURN(auto j, GetJson(r.storage, dir + s));
      if (j) RETURN_IF_ERROR(DeleteSecret(r.storage, *keys, dir + s, SecretIdEntry::FromJson(*j)));
    }
    RETURN_IF_ERROR(r.storage->Transaction({{TxnOp::Kind::kDelete, "role_id/" + Mac(keys->role_id, role->role_id), ""},
                                            {TxnOp::Kind::kDelete, "role/" + role->name, ""}}));
    return framework::NoContent();
  }

  // ------------------------------------------------------------------ secret IDs

  static std::string RandomSecretId() { return NewUUID(); }

  Result<ResponsePtr> CreateSecretId(Request& r, FieldData& d, const std::string& secret_id) {
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::string name = d.GetString("role_name");
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, name));
    if (!role) return RoleMissing(name);
    if (!role->bind_secret_id) return Status::InvalidRequest("bind_secret_id is not set on the role");

    SecretIdEntry e;
    ASSIGN_OR_RETURN(e.cidr_list, tokenutil::ValidateCidrs(d.GetStrings("cidr_list")));
    if (!role->secret_id_bound_cidrs.empty() && !tokenutil::CidrsSubset(role->secret_id_bound_cidrs, e.cidr_list))
      return Status::InvalidRequest("failed to verify subset relationship between CIDR blocks on the role " +
                                    json(role->secret_id_bound_cidrs).dump() + " and CIDR blocks on the secret ID " +
                                    json(e.cidr_list).dump());
    ASSIGN_OR_RETURN(e.token_bound_cidrs, tokenutil::ValidateCidrs(d.GetStrings("token_bound_cidrs")));
    if (!role->token.bound_cidrs.empty() && !tokenutil::CidrsSubset(role->token.bound_cidrs, e.token_bound_cidrs))
      return Status::InvalidRequest("failed to verify subset relationship between token bound CIDR blocks on the role " +
                                    json(role->token.bound_cidrs).dump() +
                                    " and token bound CIDR blocks on the secret ID " +
                                    json(e.token_bound_cidrs).dump());
    ASSIGN_OR_RETURN(e.metadata, ParseMetadata(d.Get("metadata")));

    e.num_uses = role->secret_id_num_uses;
    if (d.Has("num_uses")) {
      e.num_uses = d.GetInt("num_uses");
      if (e.num_uses < 0) return Status::InvalidRequest("num_uses cannot be negative");
      if (role->secret_id_num_uses > 0 && (e.num_uses == 0 || e.num_uses > role->secret_id_num_uses))
        return Status::InvalidRequest("num_uses cannot be higher than the role's secret_id_num_uses");
    }
    e.ttl = role->secret_id_ttl;
    if (d.Has("ttl")) {
      e.ttl = d.GetInt("ttl");
      if (role->secret_id_ttl > 0 && (e.ttl == 0 || e.ttl > role->secret_id_ttl))
        return Status::InvalidRequest("ttl cannot be longer than the role's secret_id_ttl");
    }
    e.creation_ns = e.last_updated_ns = NowNanos();
    if (e.ttl > 0) e.expiration_ns = e.creation_ns + e.ttl * 1000000000LL;

    std::string secret_hmac = Mac(keys->secret_id, secret_id);
    std::string key = SecretDir(*keys, role->name) + secret_hmac;
    std::lock_guard stripe(StripeFor(secret_hmac));
    ASSIGN_OR_RETURN(auto exists, r.storage->Get(key));
    if (exists) return Status::InvalidRequest("SecretID is already registered");
    std::string acc_key;
    for (int attempt = 0;; ++attempt) {
      e.accessor = NewUUID();
      acc_key = "accessor/" + Mac(keys->accessor, e.accessor);
      ASSIGN_OR_RETURN(auto taken, r.storage->Get(acc_key));
      if (!taken) break;
      if (attempt > 3) return Status::Internal("failed to generate a unique secret ID accessor");
    }
    json acc = {{"role_hmac", Mac(keys->role_name, role->name)}, {"secret_id_hmac", secret_hmac}};
    RETURN_IF_ERROR(r.storage->Transaction(
        {{TxnOp::Kind::kPut, key, e.ToJson().dump()}, {TxnOp::Kind::kPut, acc_key, acc.dump()}}));
    return framework::Data({{"secret_id", secret_id},
                            {"secret_id_accessor", e.accessor},
                            {"secret_id_ttl", e.ttl},
                            {"secret_id_num_uses", e.num_uses}});
  }

  Result<ResponsePtr> ListAccessors(Request& r, FieldData& d) {
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::string name = d.GetString("role_name");
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, name));
    if (!role) return RoleMissing(name);
    std::string dir = SecretDir(*keys, role->name);
    ASSIGN_OR_RETURN(auto secrets, r.storage->List(dir));
    std::vector<std::string> accessors;
    for (auto& s : secrets) {
      ASSIGN_OR_RETURN(auto j, GetJson(r.storage, dir + s));
      if (j) accessors.push_back(SecretIdEntry::FromJson(*j).accessor);
    }
    std::sort(accessors.begin(), accessors.end());
    return framework::ListResponse(accessors);
  }

  // lookup (destroy=false) or destroy by secret ID.
  Result<ResponsePtr> SecretIdOp(Request& r, FieldData& d, bool destroy) {
    std::string sid(TrimSpace(d.GetString("secret_id")));
    if (sid.empty()) return Status::InvalidRequest("missing secret_id");
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::string name = d.GetString("role_name");
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, name));
    if (!role) return RoleMissing(name);
    std::string secret_hmac = Mac(keys->secret_id, sid);
    std::string key = SecretDir(*keys, role->name) + secret_hmac;
    std::lock_guard stripe(StripeFor(secret_hmac));
    ASSIGN_OR_RETURN(auto j, GetJson(r.storage, key));
    if (!j) return ResponsePtr();
    SecretIdEntry e = SecretIdEntry::FromJson(*j);
    if (destroy) {
      RETURN_IF_ERROR(DeleteSecret(r.storage, *keys, key, e));
      return framework::NoContent();
    }
    return framework::Data(e.View());
  }

  Result<ResponsePtr> AccessorOp(Request& r, FieldData& d, bool destroy) {
    std::string accessor(TrimSpace(d.GetString("secret_id_accessor")));
    if (accessor.empty()) return Status::InvalidRequest("missing secret_id_accessor");
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::string name = d.GetString("role_name");
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, name));
    if (!role) return RoleMissing(name);
    auto not_found = [&] {
      return Status::InvalidRequest("failed to find accessor entry for secret_id_accessor: " + Quote(accessor));
    };
    ASSIGN_OR_RETURN(auto acc, GetJson(r.storage, "accessor/" + Mac(keys->accessor, accessor)));
    if (!acc || acc->value("role_hmac", "") != Mac(keys->role_name, role->name)) return not_found();
    std::string secret_hmac = acc->value("secret_id_hmac", "");
    std::string key = SecretDir(*keys, role->name) + secret_hmac;
    std::lock_guard stripe(StripeFor(secret_hmac));
    ASSIGN_OR_RETURN(auto j, GetJson(r.storage, key));
    if (!j) {
      if (destroy) RETURN_IF_ERROR(r.storage->Delete("accessor/" + Mac(keys->accessor, accessor)));
      return destroy ? framework::NoContent() : Result<ResponsePtr>(not_found());
    }
    SecretIdEntry e = SecretIdEntry::FromJson(*j);
    if (destroy) {
      RETURN_IF_ERROR(DeleteSecret(r.storage, *keys, key, e));
      return framework::NoContent();
    }
    return framework::Data(e.View());
  }

  // ------------------------------------------------------------------ login

  Result<ResponsePtr> Login(Request& r, FieldData& d) {
    std::string role_id(TrimSpace(d.GetString("role_id")));
    if (role_id.empty()) return Status::InvalidRequest("missing role_id");
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(r.storage));
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(auto idx, GetJson(r.storage, "role_id/" + Mac(keys->role_id, role_id)));
    if (!idx) return Status::InvalidRequest("invalid role ID");
    ASSIGN_OR_RETURN(auto role, LoadRole(r.storage, idx->value("name", "")));
    if (!role || role->role_id != role_id) return Status::InvalidRequest("invalid role ID");

    // Every check happens before a use of the secret ID is spent.
    if (!role->secret_id_bound_cidrs.empty() && !tokenutil::RemoteAddrAllowed(r.remote_addr, role->secret_id_bound_cidrs))
      return Status::InvalidRequest("source address " + Quote(r.remote_addr) +
                                    " unauthorized by CIDR restrictions on the role");

    std::map<std::string, std::string> metadata;
    std::vector<std::string> token_cidrs = role->token.bound_cidrs;
    if (role->bind_secret_id) {
      std::string sid(TrimSpace(d.GetString("secret_id")));
      if (sid.empty()) return Status::InvalidRequest("missing secret_id");
      std::string secret_hmac = Mac(keys->secret_id, sid);
      std::string key = SecretDir(*keys, role->name) + secret_hmac;
      std::lock_guard stripe(StripeFor(secret_hmac));
      ASSIGN_OR_RETURN(auto j, GetJson(r.storage, key));
      if (!j) return Status::InvalidRequest("invalid secret id");
      SecretIdEntry e = SecretIdEntry::FromJson(*j);
      int64_t now = NowNanos();
      if (e.Expired(now)) {
        RETURN_IF_ERROR(DeleteSecret(r.storage, *keys, key, e));
        return Status::InvalidRequest("invalid secret id");
      }
      if (!e.cidr_list.empty() && !tokenutil::RemoteAddrAllowed(r.remote_addr, e.cidr_list))
        return Status::InvalidRequest("source address " + Quote(r.remote_addr) +
                                      " unauthorized through CIDR restrictions on the secret ID");
      if (!e.token_bound_cidrs.empty()) token_cidrs = e.token_bound_cidrs;
      if (!tokenutil::RemoteAddrAllowed(r.remote_addr, token_cidrs)) return Status::PermissionDenied();
      if (e.num_uses == 1) {
        RETURN_IF_ERROR(DeleteSecret(r.storage, *keys, key, e));
      } else if (e.num_uses > 1) {
        e.num_uses--;
        e.last_updated_ns = now;
        RETURN_IF_ERROR(r.storage->Put(key, e.ToJson().dump()));
      }
      metadata = e.metadata;
    } else if (!tokenutil::RemoteAddrAllowed(r.remote_addr, token_cidrs)) {
      return Status::PermissionDenied();
    }
    metadata["role_name"] = role->name;

    auto resp = std::make_unique<Response>();
    logical::Auth auth;
    role->token.PopulateAuth(&auth);
    auth.bound_cidrs = token_cidrs;
    auth.metadata = std::move(metadata);
    auth.internal_data = {{"role_name", role->name}};
    auth.display_name = tokenutil::LoginDisplayName(r.mount_point, "");
    resp->auth = std::move(auth);
    return resp;
  }

  // ------------------------------------------------------------------ tidy

  Status Tidy(Storage* s) {
    ASSIGN_OR_RETURN(const Keys* keys, GetKeys(s));
    std::unique_lock lock(mu_);
    int64_t now = NowNanos();
    size_t removed = 0;
    ASSIGN_OR_RETURN(auto dirs, s->List("secret_id/"));
    for (auto& dir : dirs) {
      if (dir.empty() || dir.back() != '/') continue;
      ASSIGN_OR_RETURN(auto secrets, s->List("secret_id/" + dir));
      for (auto& sec : secrets) {
        std::string key = "secret_id/" + dir + sec;
        ASSIGN_OR_RETURN(auto j, GetJson(s, key));
        if (!j) continue;
        SecretIdEntry e = SecretIdEntry::FromJson(*j);
        if (!e.Expired(now)) continue;
        RETURN_IF_ERROR(DeleteSecret(s, *keys, key, e));
        ++removed;
      }
    }
    // Accessors whose secret ID is gone.
    ASSIGN_OR_RETURN(auto accs, s->List("accessor/"));
    for (auto& a : accs) {
      ASSIGN_OR_RETURN(auto j, GetJson(s, "accessor/" + a));
      if (!j) continue;
      std::string key = "secret_id/" + j->value("role_hmac", "") + "/" + j->value("secret_id_hmac", "");
      ASSIGN_OR_RETURN(auto target, s->Get(key));
      if (!target) {
        RETURN_IF_ERROR(s->Delete("accessor/" + a));
        ++removed;
      }
    }
    if (removed) LOG_INFO("approle: tidy removed {} expired secret IDs or dangling accessors", removed);
    return Status::Ok();
  }

  Storage* storage_;
  std::mutex keys_mu_;
  std::unique_ptr<Keys> keys_;  // guarded by keys_mu_; immutable once set
  std::shared_mutex mu_;        // exclusive: role changes and tidy; shared: everything else
  std::array<std::mutex, 64> stripes_;  // per secret ID (by HMAC), under a shared mu_
};

}  // namespace

Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config) {
  return std::unique_ptr<framework::Backend>(std::make_unique<AppRoleBackend>(config));
}

}  // namespace tresor::approle
