#include "auth/userpass/userpass.h"

#include "auth/tokenutil/cidr.h"
#include "auth/tokenutil/token_params.h"
#include "common/json.h"
#include "common/random.h"
#include "common/secure.h"
#include "common/strings.h"
#include "crypto/password.h"

namespace tresor::userpass {
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
using json = nlohmann::json;

struct UserEntry {
  std::string password_hash;
  tokenutil::TokenParams token;
  // Deprecated keys, reported on read only while they are in use.
  std::vector<std::string> policies;
  int64_t ttl = 0;
  int64_t max_ttl = 0;
  std::vector<std::string> bound_cidrs;

  json ToJson() const {
    json j = token.ToJson();
    j["password_hash"] = password_hash;
    j["policies"] = policies;
    j["ttl"] = ttl;
    j["max_ttl"] = max_ttl;
    j["bound_cidrs"] = bound_cidrs;
    return j;
  }
  static UserEntry FromJson(const json& j) {
    UserEntry e;
    e.token = tokenutil::TokenParams::FromJson(j);
    e.password_hash = j.value("password_hash", std::string());
    e.policies = j.value("policies", std::vector<std::string>{});
    e.ttl = j.value("ttl", int64_t{0});
    e.max_ttl = j.value("max_ttl", int64_t{0});
    e.bound_cidrs = j.value("bound_cidrs", std::vector<std::string>{});
    return e;
  }
};

// Hash a login for an unknown user is checked against: same KDF and cost as real users, so
// "no such user" costs what "wrong password" costs. Built once per process.
const std::string& DummyHash() {
  static const std::string hash = [] {
    auto h = crypto::PasswordHash(RandomBase62(32));
    return h.ok() ? *h : std::string();
  }();
  return hash;
}

std::string StorageKey(const std::string& username) { return "user/" + ToLower(username); }

Result<std::optional<UserEntry>> LoadUser(Storage* s, const std::string& username) {
  if (username.empty()) return Status::InvalidRequest("missing username");
  ASSIGN_OR_RETURN(auto raw, s->Get(StorageKey(username)));
  if (!raw) return std::optional<UserEntry>();
  json j = ParseJsonOrDiscarded(*raw);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("userpass: malformed user entry");
  return std::optional<UserEntry>(UserEntry::FromJson(j));
}

Status SaveUser(Storage* s, const std::string& username, const UserEntry& e) {
  return s->Put(StorageKey(username), e.ToJson().dump());
}

// Hashes the request's password into `e`; InvalidRequest "missing password" if it is empty.
Status SetPassword(const FieldData& d, UserEntry* e) {
  SecureString pw(d.GetString("password"));
  if (pw.empty()) return Status::InvalidRequest("missing password");
  ASSIGN_OR_RETURN(e->password_hash, crypto::PasswordHash(pw.view()));
  return Status::Ok();
}

class UserpassBackend : public framework::FrameworkBackend {
 public:
  UserpassBackend() {
    FieldSchema user_fields = {
        {"username", Field(FieldType::kLowerCaseString, "Username for this user.")},
        {"password", Field(FieldType::kString, "Password for this user.")},
        {"policies", Field(FieldType::kCommaStringSlice, "Deprecated: use token_policies")},
        {"ttl", Field(FieldType::kDurationSecond, "Deprecated: use token_ttl")},
        {"max_ttl", Field(FieldType::kDurationSecond, "Deprecated: use token_max_ttl")},
        {"bound_cidrs", Field(FieldType::kCommaStringSlice, "Deprecated: use token_bound_cidrs")},
    };
    tokenutil::AddTokenFields(&user_fields);
    const std::string name = framework::GenericNameRegex("username");

    Path list;
    list.pattern = "users/?";
    list.operations[Operation::kList] = [](Request& r, FieldData&) { return ListUsers(r); };
    list.help_synopsis = "List the users of this method.";

    Path user;
    user.pattern = "users/" + name;
    user.fields = user_fields;
    user.operations[Operation::kRead] = [](Request& r, FieldData& d) { return ReadUser(r, d); };
    user.operations[Operation::kCreate] = [](Request& r, FieldData& d) { return WriteUser(r, d); };
    user.operations[Operation::kUpdate] = [](Request& r, FieldData& d) { return WriteUser(r, d); };
    user.operations[Operation::kDelete] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      RETURN_IF_ERROR(r.storage->Delete(StorageKey(d.GetString("username"))));
      return framework::NoContent();
    };
    user.exists = [](Request& r, FieldData& d) -> Result<bool> {
      ASSIGN_OR_RETURN(auto e, LoadUser(r.storage, d.GetString("username")));
      return e.has_value();
    };
    user.help_synopsis = "Manage users allowed to authenticate.";

    Path password;
    password.pattern = "users/" + name + "/password";
    password.fields = {{"username", Field(FieldType::kLowerCaseString)},
                       {"password", Field(FieldType::kString, "New password for the user.")}};
    password.operations[Operation::kUpdate] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      std::string username = d.GetString("username");
      ASSIGN_OR_RETURN(auto e, LoadUser(r.storage, username));
      if (!e) return Status::Internal("username does not exist");
      RETURN_IF_ERROR(SetPassword(d, &*e));
      RETURN_IF_ERROR(SaveUser(r.storage, username, *e));
      return framework::NoContent();
    };
    password.help_synopsis = "Reset a user's password.";

    Path policies;
    policies.pattern = "users/" + name + "/policies";
    policies.fields = {{"username", Field(FieldType::kLowerCaseString)},
                       {"policies", Field(FieldType::kCommaStringSlice, "Deprecated: use token_policies")},
                       {"token_policies", Field(FieldType::kCommaStringSlice, "Policies of the user's tokens")}};
    policies.operations[Operation::kUpdate] = [](Request& r, FieldData& d) -> Result<ResponsePtr> {
      std::string username = d.GetString("username");
      ASSIGN_OR_RETURN(auto e, LoadUser(r.storage, username));
      if (!e) return Status::Internal("username does not exist");
      if (d.Has("token_policies")) e->token.policies = tokenutil::ParsePolicies(d.GetStrings("token_policies"));
      RETURN_IF_ERROR(tokenutil::UpgradeList(d, "policies", "token_policies", tokenutil::ListKind::kPolicies,
                                             &e->policies, &e->token.policies));
      RETURN_IF_ERROR(SaveUser(r.storage, username, *e));
      return framework::NoContent();
    };
    policies.help_synopsis = "Update the policies of a user's tokens.";

    Path login;
    login.pattern = "login/" + name;
    login.fields = {{"username", Field(FieldType::kLowerCaseString, "Username of the user.")},
                    {"password", Field(FieldType::kString, "Password of the user.")}};
    login.operations[Operation::kUpdate] = [](Request& r, FieldData& d) { return Login(r, d); };
    login.help_synopsis = "Log in with a username and password.";

    SetPaths({list, user, password, policies, login});
    SetSpecialPaths({.unauthenticated = {"login/*"}, .root = {}});
  }

 private:
  static Result<ResponsePtr> ListUsers(Request& r) {
    ASSIGN_OR_RETURN(auto keys, r.storage->List("user/"));
    std::vector<std::string> users;
    for (auto& k : keys)
      if (!k.empty() && k.back() != '/') users.push_back(k);
    return framework::ListResponse(users);
  }

  static Result<ResponsePtr> ReadUser(Request& r, FieldData& d) {
    ASSIGN_OR_RETURN(auto e, LoadUser(r.storage, d.GetString("username")));
    if (!e) return ResponsePtr();
    json data = json::object();
    e->token.Populate(&data);
    if (e->ttl > 0) data["ttl"] = e->ttl;
    if (e->max_ttl > 0) data["max_ttl"] = e->max_ttl;
    if (!e->policies.empty()) data["policies"] = data["token_policies"];
    if (!e->bound_cidrs.empty()) data["bound_cidrs"] = e->bound_cidrs;
    return framework::Data(std::move(data));
  }

  static Result<ResponsePtr> WriteUser(Request& r, FieldData& d) {
    std::string username = d.GetString("username");
    ASSIGN_OR_RETURN(auto existing, LoadUser(r.storage, username));
    // Decided here rather than by the operation so a racing create cannot skip the check.
    if (!existing && d.GetString("password").empty()) return Status::InvalidRequest("missing password");
    UserEntry e = existing ? std::move(*existing) : UserEntry();
    RETURN_IF_ERROR(e.token.Parse(d));
    if (d.Has("password")) RETURN_IF_ERROR(SetPassword(d, &e));
    using tokenutil::ListKind;
    RETURN_IF_ERROR(tokenutil::UpgradeList(d, "policies", "token_policies", ListKind::kPolicies, &e.policies,
                                           &e.token.policies));
    RETURN_IF_ERROR(tokenutil::UpgradeDuration(d, "ttl", "token_ttl", &e.ttl, &e.token.ttl));
    RETURN_IF_ERROR(tokenutil::UpgradeDuration(d, "max_ttl", "token_max_ttl", &e.max_ttl, &e.token.max_ttl));
    RETURN_IF_ERROR(tokenutil::UpgradeList(d, "bound_cidrs", "token_bound_cidrs", ListKind::kCidrs, &e.bound_cidrs,
                                           &e.token.bound_cidrs));
    RETURN_IF_ERROR(e.token.Validate());
    RETURN_IF_ERROR(SaveUser(r.storage, username, e));
    return framework::NoContent();
  }

  static Result<ResponsePtr> Login(Request& r, FieldData& d) {
    std::string username = d.GetString("username");
    SecureString pw(d.GetString("password"));
    if (pw.empty()) return Status::InvalidRequest("missing password");
    ASSIGN_OR_RETURN(auto e, LoadUser(r.storage, username));
    // Exactly one scrypt verification whether or not the user exists.
    bool match = crypto::PasswordVerify(pw.view(), e ? e->password_hash : DummyHash());
    pw.Wipe();
    if (!e || !match) return Status::InvalidRequest("invalid username or password");
    if (!tokenutil::RemoteAddrAllowed(r.remote_addr, e->token.bound_cidrs)) return Status::PermissionDenied();

    auto resp = std::make_unique<Response>();
    logical::Auth auth;
    e->token.PopulateAuth(&auth);
    auth.metadata = {{"username", username}};
    auth.display_name = tokenutil::LoginDisplayName(r.mount_point, username);
    auth.internal_data = {{"username", username}};
    resp->auth = std::move(auth);
    return resp;
  }
};

}  // namespace

Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config) {
  (void)config;
  (void)DummyHash();  // pay the one-time cost at mount, not on the first login
  return std::unique_ptr<framework::Backend>(std::make_unique<UserpassBackend>());
}

}  // namespace tresor::userpass
