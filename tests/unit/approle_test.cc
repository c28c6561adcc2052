#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "auth/approle/approle.h"
#include "storage/inmem_storage.h"

namespace tresor::approle {
namespace {

using json = nlohmann::json;
using logical::Operation;

class AppRoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    framework::BackendConfig cfg;
    cfg.storage = &storage_;
    cfg.mount_path = "auth/approle/";
    cfg.mount_type = "approle";
    auto b = Factory(cfg);
    ASSERT_TRUE(b.ok());
    backend_ = std::move(*b);
    ASSERT_TRUE(backend_->Initialize().ok());
  }

  Result<logical::ResponsePtr> Do(Operation op, const std::string& path, json data = json::object(),
                                  const std::string& remote = "127.0.0.1") {
    logical::Request r;
    r.operation = op;
    r.path = path;
    r.data = std::move(data);
    r.storage = &storage_;
    r.mount_point = "auth/approle/";
    r.remote_addr = remote;
    r.mount_max_ttl = 768 * 3600;
    if (op == Operation::kUpdate) {
      auto e = backend_->Exists(r);
      if (e.ok() && e->has_value() && !**e) r.operation = Operation::kCreate;
    }
    return backend_->HandleRequest(r);
  }

  json Read(const std::string& path) {
    auto r = Do(Operation::kRead, path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !*r) return nullptr;
    return (*r)->data;
  }

  void Ok(const Result<logical::ResponsePtr>& r) { ASSERT_TRUE(r.ok()) << r.status().ToString(); }

  void ExpectError(const Result<logical::ResponsePtr>& res, Code code, const std::string& msg) {
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.status().code(), code) << res.status().message();
    EXPECT_EQ(res.status().message(), msg);
  }

  std::string RoleId(const std::string& role) { return Read("role/" + role + "/role-id")["role_id"]; }

  json NewSecret(const std::string& role, json data = json::object()) {
    auto r = Do(Operation::kUpdate, "role/" + role + "/secret-id", std::move(data));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r ? (*r)->data : json();
  }

  Result<logical::ResponsePtr> Login(const std::string& role_id, const std::string& secret_id,
                                     const std::string& remote = "127.0.0.1") {
    return Do(Operation::kUpdate, "login", {{"role_id", role_id}, {"secret_id", secret_id}}, remote);
  }

  // Every key and value under the mount, for "never in the clear" checks.
  std::string DumpStorage(const std::string& prefix = "") {
    std::string out;
    auto keys = storage_.List(prefix);
    for (auto& k : *keys) {
      if (k.back() == '/') {
        out += DumpStorage(prefix + k);
      } else {
        auto v = storage_.Get(prefix + k);
        out += prefix + k + "=" + (**v) + "\n";
      }
    }
    return out;
  }

  InmemStorage storage_;
  std::unique_ptr<framework::Backend> backend_;
};

TEST_F(AppRoleTest, RoleCrudDefaultsAndList) {
  EXPECT_FALSE(*Do(Operation::kList, "role"));
  auto w = Do(Operation::kUpdate, "role/MyRole", {{"token_policies", "dev,ops"}, {"token_ttl", "20m"},
                                                  {"token_max_ttl", "30m"}, {"secret_id_ttl", "10m"},
                                                  {"secret_id_num_uses", 40}});
  Ok(w);
  EXPECT_FALSE(*w);  // 204
  Ok(Do(Operation::kUpdate, "role/other", json::object()));
  json d = Read("role/myrole");
  EXPECT_EQ(d["bind_secret_id"], true);
  EXPECT_EQ(d["local_secret_ids"], false);
  EXPECT_EQ(d["secret_id_bound_cidrs"], json::array());
  EXPECT_EQ(d["secret_id_num_uses"], 40);
  EXPECT_EQ(d["secret_id_ttl"], 600);
  EXPECT_EQ(d["token_policies"], json({"dev", "ops"}));
  EXPECT_EQ(d["token_ttl"], 1200);
  EXPECT_EQ(d["token_max_ttl"], 1800);
  EXPECT_EQ(d["token_type"], "default");
  EXPECT_EQ(d["token_bound_cidrs"], json::array());
  EXPECT_FALSE(d.contains("policies"));
  EXPECT_FALSE(d.contains("period"));
  EXPECT_FALSE(d.contains("role_id"));
  EXPECT_EQ(Read("role/MYROLE"), d);

  auto l = Do(Operation::kList, "role/");
  Ok(l);
  EXPECT_EQ((*l)->data["keys"], json({"myrole", "other"}));

  // Partial update keeps the rest; role_id is stable.
  std::string rid = RoleId("myrole");
  EXPECT_EQ(rid.size(), 36u);
  Ok(Do(Operation::kUpdate, "role/myrole", {{"token_num_uses", 3}}));
  d = Read("role/myrole");
  EXPECT_EQ(d["token_num_uses"], 3);
  EXPECT_EQ(d["token_policies"], json({"dev", "ops"}));
  EXPECT_EQ(RoleId("myrole"), rid);

  // Delete removes the role, its role_id index and its secret IDs.
  json s = NewSecret("myrole");
  Ok(Do(Operation::kDelete, "role/myrole"));
  EXPECT_TRUE(Read("role/myrole").is_null());
  ExpectError(Login(rid, s["secret_id"]), Code::kInvalidRequest, "invalid role ID");
  EXPECT_EQ(DumpStorage().find("secret_id/"), std::string::npos);
  EXPECT_EQ(DumpStorage().find("accessor/"), std::string::npos);
  Ok(Do(Operation::kDelete, "role/myrole"));  // idempotent
}

TEST_F(AppRoleTest, RoleWriteErrors) {
  ExpectError(Do(Operation::kUpdate, "role/r", {{"bind_secret_id", false}}), Code::kInvalidRequest,
              "at least one constraint should be enabled on the role");
  ExpectError(Do(Operation::kUpdate, "role/r", {{"secret_id_num_uses", -1}}), Code::kInvalidRequest,
              "secret_id_num_uses cannot be negative");
  ExpectError(Do(Operation::kUpdate, "role/r", {{"token_type", "bogus"}}), Code::kInvalidRequest,
              "invalid 'token_type' value \"bogus\"");
  ExpectError(Do(Operation::kUpdate, "role/r", {{"token_ttl", 100}, {"token_max_ttl", 50}}), Code::kInvalidRequest,
              "'token_ttl' cannot be greater than 'token_max_ttl'");
  ExpectError(Do(Operation::kUpdate, "role/r", {{"secret_id_bound_cidrs", "1.2.3"}}), Code::kInvalidRequest,
              "invalid CIDR block \"1.2.3\"");
  ExpectError(Do(Operation::kUpdate, "role/r", {{"token_period", "1000h"}}), Code::kInvalidRequest,
              "period of \"1000h0m0s\" is greater than the backend's maximum lease TTL of \"768h0m0s\"");
  EXPECT_TRUE(Read("role/r").is_null());

  Ok(Do(Operation::kUpdate, "role/r", {{"local_secret_ids", true}, {"role_id", "fixed-id"}}));
  EXPECT_EQ(Read("role/r")["local_secret_ids"], true);
  ExpectError(Do(Operation::kUpdate, "role/r", {{"local_secret_ids", false}}), Code::kInvalidRequest,
              "local_secret_ids can only be modified during role creation");
  ExpectError(Do(Operation::kUpdate, "role/r2", {{"role_id", "fixed-id"}}), Code::kInvalidRequest,
              "role_id already in use");
  // bind_secret_id=false is fine with a CIDR constraint.
  Ok(Do(Operation::kUpdate, "role/r3", {{"bind_secret_id", false}, {"secret_id_bound_cidrs", "127.0.0.0/8"}}));
  ExpectError(Do(Operation::kUpdate, "role/r3", {{"secret_id_bound_cidrs", ""}}), Code::kInvalidRequest,
              "at least one constraint should be enabled on the role");
  // A warning when token_max_ttl exceeds the mount's maximum.
  auto w = Do(Operation::kUpdate, "role/r4", {{"token_max_ttl", "1000h"}});
  Ok(w);
  ASSERT_TRUE(*w);
  ASSERT_EQ((*w)->warnings.size(), 1u);
  EXPECT_NE((*w)->warnings[0].find("token_max_ttl is greater"), std::string::npos);
}

TEST_F(AppRoleTest, LegacyFields) {
  Ok(Do(Operation::kUpdate, "role/old", {{"policies", "B,a"}, {"period", "1h"}, {"bound_cidr_list", "10.0.0.0/8"}}));
  json d = Read("role/old");
  EXPECT_EQ(d["policies"], json({"a", "b"}));
  EXPECT_EQ(d["token_policies"], json({"a", "b"}));
  EXPECT_EQ(d["period"], 3600);
  EXPECT_EQ(d["token_period"], 3600);
  EXPECT_EQ(d["bound_cidr_list"], json({"10.0.0.0/8"}));
  EXPECT_EQ(d["secret_id_bound_cidrs"], json({"10.0.0.0/8"}));
  Ok(Do(Operation::kUpdate, "role/old", {{"token_policies", "c"}, {"token_period", 60}}));
  d = Read("role/old");
  EXPECT_FALSE(d.contains("policies"));
  EXPECT_FALSE(d.contains("period"));
  EXPECT_EQ(d["token_policies"], json({"c"}));
}

TEST_F(AppRoleTest, RoleId) {
  Ok(Do(Operation::kUpdate, "role/web", json::object()));
  std::string old_id = RoleId("web");
  json s = NewSecret("web");
  Ok(Do(Operation::kUpdate, "role/web/role-id", {{"role_id", "custom-role-id"}}));
  EXPECT_EQ(RoleId("web"), "custom-role-id");
  ExpectError(Login(old_id, s["secret_id"]), Code::kInvalidRequest, "invalid role ID");
  Ok(Login("custom-role-id", s["secret_id"]));
  ExpectError(Do(Operation::kUpdate, "role/web/role-id", json::object()), Code::kInvalidRequest, "missing role_id");
  ExpectError(Do(Operation::kUpdate, "role/ghost/role-id", {{"role_id", "x"}}), Code::kInvalidRequest,
              "role \"ghost\" does not exist");
  EXPECT_TRUE(Read("role/ghost/role-id").is_null());
  Ok(Do(Operation::kUpdate, "role/api", json::object()));
  ExpectError(Do(Operation::kUpdate, "role/api/role-id", {{"role_id", "custom-role-id"}}), Code::kInvalidRequest,
              "role_id already in use");
  // Role IDs are not kept as index keys in the clear.
  EXPECT_EQ(DumpStorage().find("role_id/custom-role-id"), std::string::npos);
}

TEST_F(AppRoleTest, SecretIdLoginAndAuthBlock) {
  Ok(Do(Operation::kUpdate, "role/app", {{"token_policies", "app"}, {"token_ttl", 1200}, {"token_max_ttl", 1800},
                                         {"token_num_uses", 4}}));
  json s = NewSecret("app", {{"metadata", "{\"tag1\": \"production\"}"}});
  ASSERT_TRUE(s["secret_id"].is_string());
  EXPECT_EQ(s["secret_id"].get<std::string>().size(), 36u);
  EXPECT_TRUE(s["secret_id_accessor"].is_string());
  EXPECT_EQ(s["secret_id_ttl"], 0);
  EXPECT_EQ(s["secret_id_num_uses"], 0);

  auto res = Login(RoleId("app"), s["secret_id"]);
  Ok(res);
  ASSERT_TRUE(*res && (*res)->auth);
  const auto& a = *(*res)->auth;
  EXPECT_EQ(a.policies, std::vector<std::string>{"app"});
  EXPECT_EQ(a.metadata.at("role_name"), "app");
  EXPECT_EQ(a.metadata.at("tag1"), "production");
  EXPECT_EQ(a.display_name, "approle");
  EXPECT_EQ(a.ttl, 1200);
  EXPECT_EQ(a.max_ttl, 1800);
  EXPECT_EQ(a.num_uses, 4);
  EXPECT_TRUE(a.renewable);
  EXPECT_EQ(a.internal_data["role_name"], "app");
  // Unlimited uses by default.
  Ok(Login(RoleId("app"), s["secret_id"]));
  Ok(Login(RoleId("app"), s["secret_id"]));
  // metadata may also be a JSON object or k=v pairs.
  json s2 = NewSecret("app", {{"metadata", {{"a", "1"}}}});
  EXPECT_EQ((*Login(RoleId("app"), s2["secret_id"]))->auth->metadata.at("a"), "1");
  json s3 = NewSecret("app", {{"metadata", "x=1,y=2"}});
  EXPECT_EQ((*Login(RoleId("app"), s3["secret_id"]))->auth->metadata.at("y"), "2");
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id", {{"metadata", "not json"}}), Code::kInvalidRequest,
              "failed to parse metadata: expected a JSON object or key=value pairs");
}

TEST_F(AppRoleTest, LoginErrors) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  json s = NewSecret("app");
  ExpectError(Do(Operation::kUpdate, "login", json::object()), Code::kInvalidRequest, "missing role_id");
  ExpectError(Login("nope", s["secret_id"]), Code::kInvalidRequest, "invalid role ID");
  ExpectError(Do(Operation::kUpdate, "login", {{"role_id", RoleId("app")}}), Code::kInvalidRequest,
              "missing secret_id");
  ExpectError(Do(Operation::kUpdate, "login", {{"role_id", RoleId("app")}, {"secret_id", nullptr}}),
              Code::kInvalidRequest, "missing secret_id");
  ExpectError(Login(RoleId("app"), "wrong"), Code::kInvalidRequest, "invalid secret id");
  // A secret ID of another role does not open this one.
  Ok(Do(Operation::kUpdate, "role/other", json::object()));
  json o = NewSecret("other");
  ExpectError(Login(RoleId("app"), o["secret_id"]), Code::kInvalidRequest, "invalid secret id");
  EXPECT_TRUE(framework::MatchesSpecialPath(backend_->special_paths().unauthenticated, "login"));
  EXPECT_FALSE(framework::MatchesSpecialPath(backend_->special_paths().unauthenticated, "role/app"));
  EXPECT_EQ(Do(Operation::kRead, "login").status().code(), Code::kUnsupportedOperation);
}

TEST_F(AppRoleTest, NumUses) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  json once = NewSecret("app", {{"num_uses", 1}});
  EXPECT_EQ(once["secret_id_num_uses"], 1);
  Ok(Login(RoleId("app"), once["secret_id"]));
  ExpectError(Login(RoleId("app"), once["secret_id"]), Code::kInvalidRequest, "invalid secret id");
  // The accessor went with it.
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id-accessor/lookup",
                 {{"secret_id_accessor", once["secret_id_accessor"]}}),
              Code::kInvalidRequest,
              "failed to find accessor entry for secret_id_accessor: " + once["secret_id_accessor"].dump());

  json twice = NewSecret("app", {{"num_uses", 2}});
  Ok(Login(RoleId("app"), twice["secret_id"]));
  json look = (*Do(Operation::kUpdate, "role/app/secret-id/lookup", {{"secret_id", twice["secret_id"]}}))->data;
  EXPECT_EQ(look["secret_id_num_uses"], 1);
  Ok(Login(RoleId("app"), twice["secret_id"]));
  EXPECT_FALSE(Login(RoleId("app"), twice["secret_id"]).ok());

  // Role default and its ceiling.
  Ok(Do(Operation::kUpdate, "role/capped", {{"secret_id_num_uses", 3}}));
  EXPECT_EQ(NewSecret("capped")["secret_id_num_uses"], 3);
  EXPECT_EQ(NewSecret("capped", {{"num_uses", 2}})["secret_id_num_uses"], 2);
  ExpectError(Do(Operation::kUpdate, "role/capped/secret-id", {{"num_uses", 4}}), Code::kInvalidRequest,
              "num_uses cannot be higher than the role's secret_id_num_uses");
  ExpectError(Do(Operation::kUpdate, "role/capped/secret-id", {{"num_uses", 0}}), Code::kInvalidRequest,
              "num_uses cannot be higher than the role's secret_id_num_uses");
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id", {{"num_uses", -1}}), Code::kInvalidRequest,
              "num_uses cannot be negative");
}

TEST_F(AppRoleTest, NumUsesUnderConcurrency) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  json s = NewSecret("app", {{"num_uses", 3}});
  std::string rid = RoleId("app");
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 4; ++i)
        if (Login(rid, s["secret_id"]).ok()) wins++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 3);
}

TEST_F(AppRoleTest, SecretIdTtl) {
  Ok(Do(Operation::kUpdate, "role/app", {{"secret_id_ttl", "1h"}}));
  json s = NewSecret("app");
  EXPECT_EQ(s["secret_id_ttl"], 3600);
  json look = (*Do(Operation::kUpdate, "role/app/secret-id/lookup", {{"secret_id", s["secret_id"]}}))->data;
  EXPECT_NE(look["expiration_time"], "0001-01-01T00:00:00Z");
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id", {{"ttl", "2h"}}), Code::kInvalidRequest,
              "ttl cannot be longer than the role's secret_id_ttl");
  json shortlived = NewSecret("app", {{"ttl", 1}});
  EXPECT_EQ(shortlived["secret_id_ttl"], 1);
  json expires = NewSecret("app", {{"ttl", 1}});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ExpectError(Login(RoleId("app"), shortlived["secret_id"]), Code::kInvalidRequest, "invalid secret id");
  Ok(Login(RoleId("app"), s["secret_id"]));
  // Tidy drops the other expired one; the live one stays.
  auto t = Do(Operation::kUpdate, "tidy/secret-id");
  Ok(t);
  ASSERT_TRUE(*t);
  EXPECT_EQ((*t)->warnings.size(), 1u);
  auto l = Do(Operation::kList, "role/app/secret-id");
  Ok(l);
  EXPECT_EQ((*l)->data["keys"], json({s["secret_id_accessor"]}));
  // No TTL on the role: secret IDs never expire.
  Ok(Do(Operation::kUpdate, "role/forever", json::object()));
  json f = NewSecret("forever");
  look = (*Do(Operation::kUpdate, "role/forever/secret-id/lookup", {{"secret_id", f["secret_id"]}}))->data;
  EXPECT_EQ(look["expiration_time"], "0001-01-01T00:00:00Z");
}

TEST_F(AppRoleTest, LookupDestroyAccessors) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  json a = NewSecret("app", {{"metadata", "{\"k\":\"v\"}"}, {"cidr_list", "127.0.0.0/8"}});
  json b = NewSecret("app");
  auto l = Do(Operation::kList, "role/app/secret-id/");
  Ok(l);
  json keys = (*l)->data["keys"];
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_NE(std::find(keys.begin(), keys.end(), a["secret_id_accessor"]), keys.end());

  auto look = Do(Operation::kUpdate, "role/app/secret-id/lookup", {{"secret_id", a["secret_id"]}});
  Ok(look);
  json d = (*look)->data;
  EXPECT_EQ(d["secret_id_accessor"], a["secret_id_accessor"]);
  EXPECT_EQ(d["metadata"], json({{"k", "v"}}));
  EXPECT_EQ(d["cidr_list"], json({"127.0.0.0/8"}));
  EXPECT_EQ(d["token_bound_cidrs"], json::array());
  EXPECT_EQ(d["secret_id_num_uses"], 0);
  EXPECT_EQ(d["secret_id_ttl"], 0);
  EXPECT_TRUE(d["creation_time"].is_string());
  EXPECT_TRUE(d["last_updated_time"].is_string());
  EXPECT_FALSE(d.contains("secret_id"));

  auto acc = Do(Operation::kUpdate, "role/app/secret-id-accessor/lookup",
                {{"secret_id_accessor", a["secret_id_accessor"]}});
  Ok(acc);
  EXPECT_EQ((*acc)->data, d);

  // Unknown secret: nothing (204); errors for missing fields and roles.
  auto none = Do(Operation::kUpdate, "role/app/secret-id/lookup", {{"secret_id", "nope"}});
  Ok(none);
  EXPECT_FALSE(*none);
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id/lookup", json::object()), Code::kInvalidRequest,
              "missing secret_id");
  ExpectError(Do(Operation::kUpdate, "role/ghost/secret-id/lookup", {{"secret_id", "x"}}), Code::kInvalidRequest,
              "role \"ghost\" does not exist");
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id-accessor/lookup", json::object()), Code::kInvalidRequest,
              "missing secret_id_accessor");
  ExpectError(Do(Operation::kUpdate, "role/ghost/secret-id", json::object()), Code::kInvalidRequest,
              "role \"ghost\" does not exist");
  ExpectError(Do(Operation::kList, "role/ghost/secret-id"), Code::kInvalidRequest, "role \"ghost\" does not exist");
  // An accessor from another role is not found through this one.
  Ok(Do(Operation::kUpdate, "role/other", json::object()));
  json o = NewSecret("other");
  EXPECT_FALSE(Do(Operation::kUpdate, "role/app/secret-id-accessor/lookup",
                  {{"secret_id_accessor", o["secret_id_accessor"]}})
                   .ok());
  EXPECT_FALSE(Do(Operation::kUpdate, "role/app/secret-id-accessor/destroy",
                  {{"secret_id_accessor", o["secret_id_accessor"]}})
                   .ok());
  Ok(Login(RoleId("other"), o["secret_id"]));

  // Destroy by secret ID and by accessor (update and delete verbs).
  Ok(Do(Operation::kUpdate, "role/app/secret-id/destroy", {{"secret_id", a["secret_id"]}}));
  ExpectError(Login(RoleId("app"), a["secret_id"]), Code::kInvalidRequest, "invalid secret id");
  Ok(Do(Operation::kDelete, "role/app/secret-id-accessor/destroy", {{"secret_id_accessor", b["secret_id_accessor"]}}));
  ExpectError(Login(RoleId("app"), b["secret_id"]), Code::kInvalidRequest, "invalid secret id");
  EXPECT_FALSE(*Do(Operation::kList, "role/app/secret-id"));
  json c = NewSecret("app");
  Ok(Do(Operation::kDelete, "role/app/secret-id/destroy", {{"secret_id", c["secret_id"]}}));
  EXPECT_FALSE(Login(RoleId("app"), c["secret_id"]).ok());
}

TEST_F(AppRoleTest, CustomSecretId) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  auto r = Do(Operation::kUpdate, "role/app/custom-secret-id", {{"secret_id", "my-own-secret"}, {"num_uses", 5}});
  Ok(r);
  EXPECT_EQ((*r)->data["secret_id"], "my-own-secret");
  EXPECT_EQ((*r)->data["secret_id_num_uses"], 5);
  EXPECT_TRUE((*r)->data["secret_id_accessor"].is_string());
  Ok(Login(RoleId("app"), "my-own-secret"));
  ExpectError(Do(Operation::kUpdate, "role/app/custom-secret-id", {{"secret_id", "my-own-secret"}}),
              Code::kInvalidRequest, "SecretID is already registered");
  ExpectError(Do(Operation::kUpdate, "role/app/custom-secret-id", json::object()), Code::kInvalidRequest,
              "missing secret_id");
}

TEST_F(AppRoleTest, BindSecretIdOff) {
  Ok(Do(Operation::kUpdate, "role/open", {{"bind_secret_id", false}, {"secret_id_bound_cidrs", "127.0.0.1/32"}}));
  ExpectError(Do(Operation::kUpdate, "role/open/secret-id", json::object()), Code::kInvalidRequest,
              "bind_secret_id is not set on the role");
  auto res = Do(Operation::kUpdate, "login", {{"role_id", RoleId("open")}});
  Ok(res);
  EXPECT_EQ((*res)->auth->metadata.at("role_name"), "open");
  ExpectError(Do(Operation::kUpdate, "login", {{"role_id", RoleId("open")}}, "10.0.0.1"), Code::kInvalidRequest,
              "source address \"10.0.0.1\" unauthorized by CIDR restrictions on the role");
}

TEST_F(AppRoleTest, CidrBindings) {
  Ok(Do(Operation::kUpdate, "role/app", {{"secret_id_bound_cidrs", "10.0.0.0/8"},
                                         {"token_bound_cidrs", "10.0.0.0/8"}}));
  json s = NewSecret("app");
  std::string rid = RoleId("app");
  ExpectError(Login(rid, s["secret_id"], "192.168.1.1"), Code::kInvalidRequest,
              "source address \"192.168.1.1\" unauthorized by CIDR restrictions on the role");
  auto ok = Login(rid, s["secret_id"], "10.1.2.3");
  Ok(ok);
  EXPECT_EQ((*ok)->auth->bound_cidrs, std::vector<std::string>{"10.0.0.0/8"});

  // Secret-ID CIDRs must lie within the role's, and restrict further.
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id", {{"cidr_list", "11.0.0.0/8"}}), Code::kInvalidRequest,
              "failed to verify subset relationship between CIDR blocks on the role [\"10.0.0.0/8\"] and CIDR "
              "blocks on the secret ID [\"11.0.0.0/8\"]");
  EXPECT_FALSE(Do(Operation::kUpdate, "role/app/secret-id", {{"token_bound_cidrs", "11.0.0.0/8"}}).ok());
  json narrow = NewSecret("app", {{"cidr_list", "10.1.0.0/16"}, {"token_bound_cidrs", "10.1.2.0/24"}, {"num_uses", 1}});
  ExpectError(Login(rid, narrow["secret_id"], "10.2.0.1"), Code::kInvalidRequest,
              "source address \"10.2.0.1\" unauthorized through CIDR restrictions on the secret ID");
  // A refused address does not spend the single use; the token CIDRs are the secret ID's.
  auto res = Login(rid, narrow["secret_id"], "10.1.2.3");
  Ok(res);
  EXPECT_EQ((*res)->auth->bound_cidrs, std::vector<std::string>{"10.1.2.0/24"});

  // token_bound_cidrs alone: a login from elsewhere is a 403.
  Ok(Do(Operation::kUpdate, "role/tok", {{"token_bound_cidrs", "10.0.0.0/8"}}));
  json t = NewSecret("tok", {{"num_uses", 1}});
  auto denied = Login(RoleId("tok"), t["secret_id"], "127.0.0.1");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), Code::kPermissionDenied);
  Ok(Login(RoleId("tok"), t["secret_id"], "::ffff:10.0.0.5"));
}

TEST_F(AppRoleTest, FieldPaths) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  struct Case {
    std::string suffix, field;
    json value, expect, reset;
  };
  std::vector<Case> cases = {
      {"policies", "token_policies", "a,B", json({"a", "b"}), json::array()},
      {"secret-id-num-uses", "secret_id_num_uses", 7, 7, 0},
      {"secret-id-ttl", "secret_id_ttl", "10m", 600, 0},
      {"token-ttl", "token_ttl", "5m", 300, 0},
      {"token-max-ttl", "token_max_ttl", "1h", 3600, 0},
      {"token-num-uses", "token_num_uses", 3, 3, 0},
      {"token-bound-cidrs", "token_bound_cidrs", "10.0.0.0/8", json({"10.0.0.0/8"}), json::array()},
      {"secret-id-bound-cidrs", "secret_id_bound_cidrs", "10.0.0.0/8", json({"10.0.0.0/8"}), json::array()},
      {"period", "token_period", "2h", 7200, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.suffix);
    std::string path = "role/app/" + c.suffix;
    Ok(Do(Operation::kUpdate, path, {{c.field, c.value}}));
    EXPECT_EQ(Read(path)[c.field], c.expect);
    EXPECT_EQ(Read("role/app")[c.field], c.expect);
    Ok(Do(Operation::kDelete, path));
    EXPECT_EQ(Read(path)[c.field], c.reset);
    ExpectError(Do(Operation::kUpdate, path, json::object()), Code::kInvalidRequest,
                c.suffix == "policies" ? "missing token_policies"
                                       : (c.suffix == "period" ? "missing period" : "missing " + c.field));
    EXPECT_TRUE(Read("role/ghost/" + c.suffix).is_null());
    ExpectError(Do(Operation::kUpdate, "role/ghost/" + c.suffix, {{c.field, c.value}}), Code::kInvalidRequest,
                "role \"ghost\" does not exist");
  }
  // Legacy keys through the field paths.
  Ok(Do(Operation::kUpdate, "role/app/policies", {{"policies", "x"}}));
  EXPECT_EQ(Read("role/app/policies"), json({{"policies", {"x"}}, {"token_policies", {"x"}}}));
  Ok(Do(Operation::kUpdate, "role/app/period", {{"period", 60}}));
  EXPECT_EQ(Read("role/app/period"), json({{"period", 60}, {"token_period", 60}}));
  Ok(Do(Operation::kUpdate, "role/app/bound-cidr-list", {{"bound_cidr_list", "127.0.0.0/8"}}));
  EXPECT_EQ(Read("role/app/secret-id-bound-cidrs")["secret_id_bound_cidrs"], json({"127.0.0.0/8"}));

  // bind-secret-id: turning it off needs a constraint; delete restores true.
  Ok(Do(Operation::kDelete, "role/app/secret-id-bound-cidrs"));
  ExpectError(Do(Operation::kUpdate, "role/app/bind-secret-id", {{"bind_secret_id", false}}), Code::kInvalidRequest,
              "at least one constraint should be enabled on the role");
  Ok(Do(Operation::kUpdate, "role/app/token-bound-cidrs", {{"token_bound_cidrs", "127.0.0.1"}}));
  Ok(Do(Operation::kUpdate, "role/app/bind-secret-id", {{"bind_secret_id", false}}));
  EXPECT_EQ(Read("role/app/bind-secret-id")["bind_secret_id"], false);
  Ok(Do(Operation::kDelete, "role/app/bind-secret-id"));
  EXPECT_EQ(Read("role/app/bind-secret-id")["bind_secret_id"], true);
  EXPECT_EQ(Read("role/app/local-secret-ids")["local_secret_ids"], false);
  EXPECT_EQ(Do(Operation::kUpdate, "role/app/local-secret-ids", {{"x", 1}}).status().code(),
            Code::kUnsupportedOperation);

  // Value checks on the field paths.
  ExpectError(Do(Operation::kUpdate, "role/app/secret-id-num-uses", {{"secret_id_num_uses", -2}}),
              Code::kInvalidRequest, "secret_id_num_uses cannot be negative");
  Ok(Do(Operation::kUpdate, "role/app/token-max-ttl", {{"token_max_ttl", 100}}));
  ExpectError(Do(Operation::kUpdate, "role/app/token-ttl", {{"token_ttl", 200}}), Code::kInvalidRequest,
              "token_ttl should not be greater than token_max_ttl");
  Ok(Do(Operation::kUpdate, "role/app/token-ttl", {{"token_ttl", 50}}));
  ExpectError(Do(Operation::kUpdate, "role/app/token-max-ttl", {{"token_max_ttl", 10}}), Code::kInvalidRequest,
              "token_max_ttl should be greater than or equal to token_ttl");
}

TEST_F(AppRoleTest, SecretsNeverStoredInClear) {
  Ok(Do(Operation::kUpdate, "role/app", json::object()));
  json s = NewSecret("app");
  auto custom = Do(Operation::kUpdate, "role/app/custom-secret-id", {{"secret_id", "push-model-secret-value"}});
  Ok(custom);
  std::string dump = DumpStorage();
  EXPECT_EQ(dump.find(s["secret_id"].get<std::string>()), std::string::npos);
  EXPECT_EQ(dump.find("push-model-secret-value"), std::string::npos);
  // Accessors are only keys as HMACs too (they are stored inside the secret's entry).
  std::string acc = s["secret_id_accessor"];
  EXPECT_EQ(dump.find("accessor/" + acc), std::string::npos);
  EXPECT_NE(dump.find("salt="), std::string::npos);
  // A second backend on the same storage reuses the salt and still finds the secret.
  framework::BackendConfig cfg;
  cfg.storage = &storage_;
  auto again = Factory(cfg);
  ASSERT_TRUE(again.ok());
  backend_ = std::move(*again);
  Ok(Login(RoleId("app"), s["secret_id"]));
}

}  // namespace
}  // namespace tresor::approle
