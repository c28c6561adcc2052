#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "auth/userpass/userpass.h"
#include "storage/inmem_storage.h"

namespace tresor::userpass {
namespace {

using json = nlohmann::json;
using logical::Operation;

class UserpassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    framework::BackendConfig cfg;
    cfg.storage = &storage_;
    cfg.mount_path = "auth/userpass/";
    cfg.mount_type = "userpass";
    auto b = Factory(cfg);
    ASSERT_TRUE(b.ok());
    backend_ = std::move(*b);
  }

  // Like core: a write becomes create when the existence check says the object is absent.
  Result<logical::ResponsePtr> Do(Operation op, const std::string& path, json data = json::object(),
                                  const std::string& remote = "127.0.0.1") {
    logical::Request r;
    r.operation = op;
    r.path = path;
    r.data = std::move(data);
    r.storage = &storage_;
    r.mount_point = "auth/userpass/";
    r.remote_addr = remote;
    if (op == Operation::kUpdate) {
      auto e = backend_->Exists(r);
      if (e.ok() && e->has_value() && !**e) r.operation = Operation::kCreate;
    }
    return backend_->HandleRequest(r);
  }

  void ExpectError(const Result<logical::ResponsePtr>& res, Code code, const std::string& msg) {
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.status().code(), code);
    EXPECT_EQ(res.status().message(), msg);
  }

  InmemStorage storage_;
  std::unique_ptr<framework::Backend> backend_;
};

TEST_F(UserpassTest, UserCrudAndList) {
  EXPECT_FALSE(*Do(Operation::kList, "users/"));  // empty list -> nothing (404)
  auto w = Do(Operation::kUpdate, "users/Bob", {{"password", "s3cret"}, {"token_policies", "dev,ops"},
                                                 {"token_ttl", "1h"}, {"token_max_ttl", "2h"}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FALSE(*w);  // 204
  ASSERT_TRUE(Do(Operation::kUpdate, "users/alice", {{"password", "x"}}).ok());

  auto r = Do(Operation::kRead, "users/bob");
  ASSERT_TRUE(r.ok() && *r);
  const json& d = (*r)->data;
  EXPECT_EQ(d["token_policies"], json({"dev", "ops"}));
  EXPECT_EQ(d["token_ttl"], 3600);
  EXPECT_EQ(d["token_max_ttl"], 7200);
  EXPECT_EQ(d["token_bound_cidrs"], json::array());
  EXPECT_EQ(d["token_type"], "default");
  EXPECT_EQ(d["token_num_uses"], 0);
  EXPECT_EQ(d["token_no_default_policy"], false);
  EXPECT_FALSE(d.contains("password"));
  EXPECT_FALSE(d.contains("password_hash"));
  EXPECT_FALSE(d.contains("policies"));  // legacy keys only when used

  auto l = Do(Operation::kList, "users");
  ASSERT_TRUE(l.ok() && *l);
  EXPECT_EQ((*l)->data["keys"], json({"alice", "bob"}));

  // An update keeps what it does not mention, including the password.
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"token_num_uses", 5}}).ok());
  r = Do(Operation::kRead, "users/BOB");
  EXPECT_EQ((*r)->data["token_num_uses"], 5);
  EXPECT_EQ((*r)->data["token_policies"], json({"dev", "ops"}));
  ASSERT_TRUE(Do(Operation::kUpdate, "login/bob", {{"password", "s3cret"}}).ok());

  ASSERT_TRUE(Do(Operation::kDelete, "users/bob").ok());
  EXPECT_FALSE(*Do(Operation::kRead, "users/bob"));
  l = Do(Operation::kList, "users/");
  EXPECT_EQ((*l)->data["keys"], json({"alice"}));
  EXPECT_TRUE(Do(Operation::kDelete, "users/nobody").ok());
}

TEST_F(UserpassTest, WriteErrors) {
  ExpectError(Do(Operation::kUpdate, "users/bob", json::object()), Code::kInvalidRequest, "missing password");
  ExpectError(Do(Operation::kUpdate, "users/bob", {{"password", ""}}), Code::kInvalidRequest, "missing password");
  ExpectError(Do(Operation::kUpdate, "users/bob", {{"password", "p"}, {"token_type", "weird"}}),
              Code::kInvalidRequest, "invalid 'token_type' value \"weird\"");
  ExpectError(Do(Operation::kUpdate, "users/bob", {{"password", "p"}, {"token_ttl", 10}, {"token_max_ttl", 5}}),
              Code::kInvalidRequest, "'token_ttl' cannot be greater than 'token_max_ttl'");
  ExpectError(Do(Operation::kUpdate, "users/bob", {{"password", "p"}, {"token_bound_cidrs", "300.0.0.0/8"}}),
              Code::kInvalidRequest, "invalid CIDR block \"300.0.0.0/8\"");
  auto bad = Do(Operation::kUpdate, "users/bob", {{"password", "p"}, {"token_ttl", "soon"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidRequest);
  EXPECT_NE(bad.status().message().find("Field validation failed"), std::string::npos);
  EXPECT_FALSE(*Do(Operation::kRead, "users/bob"));  // nothing was stored
  // Existing user: an explicitly empty password is refused too.
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "p"}}).ok());
  ExpectError(Do(Operation::kUpdate, "users/bob", {{"password", ""}}), Code::kInvalidRequest, "missing password");
  EXPECT_EQ(Do(Operation::kRead, "users/bad name").status().code(), Code::kUnsupportedPath);
  EXPECT_EQ(Do(Operation::kPatch, "users/bob").status().code(), Code::kUnsupportedOperation);
}

TEST_F(UserpassTest, LegacyFields) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/old", {{"password", "p"}, {"policies", "B,a"}, {"ttl", "10m"},
                                                    {"max_ttl", "1h"}, {"bound_cidrs", "10.0.0.0/8"}})
                  .ok());
  auto r = Do(Operation::kRead, "users/old");
  const json& d = (*r)->data;
  EXPECT_EQ(d["policies"], json({"a", "b"}));
  EXPECT_EQ(d["token_policies"], json({"a", "b"}));
  EXPECT_EQ(d["ttl"], 600);
  EXPECT_EQ(d["token_ttl"], 600);
  EXPECT_EQ(d["max_ttl"], 3600);
  EXPECT_EQ(d["token_max_ttl"], 3600);
  EXPECT_EQ(d["bound_cidrs"], json({"10.0.0.0/8"}));
  EXPECT_EQ(d["token_bound_cidrs"], json({"10.0.0.0/8"}));
  // Writing the new key retires the legacy one.
  ASSERT_TRUE(Do(Operation::kUpdate, "users/old", {{"token_policies", "c"}, {"token_ttl", 60}}).ok());
  r = Do(Operation::kRead, "users/old");
  EXPECT_FALSE((*r)->data.contains("policies"));
  EXPECT_FALSE((*r)->data.contains("ttl"));
  EXPECT_EQ((*r)->data["token_policies"], json({"c"}));
  EXPECT_EQ((*r)->data["max_ttl"], 3600);
}

TEST_F(UserpassTest, LoginIssuesAuth) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob",
                 {{"password", "pw"}, {"token_policies", "dev"}, {"token_ttl", 600}, {"token_max_ttl", 1200},
                  {"token_num_uses", 2}, {"token_period", 0}, {"token_explicit_max_ttl", 3000}})
                  .ok());
  auto res = Do(Operation::kUpdate, "login/BOB", {{"password", "pw"}});
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_TRUE(*res && (*res)->auth);
  const auto& a = *(*res)->auth;
  EXPECT_EQ(a.policies, std::vector<std::string>{"dev"});
  EXPECT_EQ(a.metadata.at("username"), "bob");
  EXPECT_EQ(a.display_name, "userpass-bob");
  EXPECT_EQ(a.ttl, 600);
  EXPECT_EQ(a.max_ttl, 1200);
  EXPECT_EQ(a.explicit_max_ttl, 3000);
  EXPECT_EQ(a.num_uses, 2);
  EXPECT_TRUE(a.renewable);
  EXPECT_EQ(a.token_type, "");  // default: the mount decides
  EXPECT_TRUE(a.client_token.empty());  // core mints it
  EXPECT_TRUE((*res)->warnings.empty());

  ASSERT_TRUE(Do(Operation::kUpdate, "users/bat", {{"password", "pw"}, {"token_type", "batch"}}).ok());
  res = Do(Operation::kUpdate, "login/bat", {{"password", "pw"}});
  ASSERT_TRUE(res.ok());
  EXPECT_EQ((*res)->auth->token_type, "batch");
}

TEST_F(UserpassTest, LoginFailures) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "pw"}}).ok());
  ExpectError(Do(Operation::kUpdate, "login/bob", {{"password", "nope"}}), Code::kInvalidRequest,
              "invalid username or password");
  ExpectError(Do(Operation::kUpdate, "login/ghost", {{"password", "pw"}}), Code::kInvalidRequest,
              "invalid username or password");
  ExpectError(Do(Operation::kUpdate, "login/bob", json::object()), Code::kInvalidRequest, "missing password");
  EXPECT_EQ(Do(Operation::kRead, "login/bob").status().code(), Code::kUnsupportedOperation);
  EXPECT_TRUE(framework::MatchesSpecialPath(backend_->special_paths().unauthenticated, "login/bob"));
  EXPECT_FALSE(framework::MatchesSpecialPath(backend_->special_paths().unauthenticated, "users/bob"));
}

TEST_F(UserpassTest, BoundCidrs) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "pw"}, {"token_bound_cidrs", "10.0.0.0/8"}}).ok());
  auto res = Do(Operation::kUpdate, "login/bob", {{"password", "pw"}}, "127.0.0.1");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kPermissionDenied);
  res = Do(Operation::kUpdate, "login/bob", {{"password", "pw"}}, "10.9.8.7");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)->auth->bound_cidrs, std::vector<std::string>{"10.0.0.0/8"});
  // A wrong password from outside the block still reads as a wrong password.
  ExpectError(Do(Operation::kUpdate, "login/bob", {{"password", "x"}}, "127.0.0.1"), Code::kInvalidRequest,
              "invalid username or password");
}

TEST_F(UserpassTest, PasswordChange) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "old"}}).ok());
  ASSERT_TRUE(Do(Operation::kUpdate, "users/Bob/password", {{"password", "new"}}).ok());
  EXPECT_FALSE(Do(Operation::kUpdate, "login/bob", {{"password", "old"}}).ok());
  EXPECT_TRUE(Do(Operation::kUpdate, "login/bob", {{"password", "new"}}).ok());
  ExpectError(Do(Operation::kUpdate, "users/bob/password", json::object()), Code::kInvalidRequest,
              "missing password");
  ExpectError(Do(Operation::kUpdate, "users/ghost/password", {{"password", "x"}}), Code::kInternal,
              "username does not exist");
  // The password change through users/<name> works as well.
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "newer"}}).ok());
  EXPECT_TRUE(Do(Operation::kUpdate, "login/bob", {{"password", "newer"}}).ok());
}

TEST_F(UserpassTest, PoliciesPath) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "pw"}, {"token_policies", "a"}}).ok());
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob/policies", {{"token_policies", "X, y"}}).ok());
  auto r = Do(Operation::kRead, "users/bob");
  EXPECT_EQ((*r)->data["token_policies"], json({"x", "y"}));
  EXPECT_FALSE((*r)->data.contains("policies"));
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob/policies", {{"policies", "p1,p2"}}).ok());
  r = Do(Operation::kRead, "users/bob");
  EXPECT_EQ((*r)->data["token_policies"], json({"p1", "p2"}));
  EXPECT_EQ((*r)->data["policies"], json({"p1", "p2"}));
  auto res = Do(Operation::kUpdate, "login/bob", {{"password", "pw"}});
  EXPECT_EQ((*res)->auth->policies, (std::vector<std::string>{"p1", "p2"}));
  ExpectError(Do(Operation::kUpdate, "users/ghost/policies", {{"policies", "a"}}), Code::kInternal,
              "username does not exist");
}

TEST_F(UserpassTest, PasswordNeverStoredInClear) {
  const std::string pw = "correct-horse-battery-staple";
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", pw}}).ok());
  auto raw = storage_.Get("user/bob");
  ASSERT_TRUE(raw.ok() && raw->has_value());
  EXPECT_EQ((*raw)->find(pw), std::string::npos);
  EXPECT_NE((*raw)->find("$scrypt$"), std::string::npos);
}

// Timing must not reveal whether a user exists: a missing user costs one scrypt verification
// against a dummy hash, like a wrong password for a real user. Without the dummy verification
// the missing-user path is a storage miss (~microseconds) against ~tens of ms of scrypt, so
// even a generous ratio bound catches it.
TEST_F(UserpassTest, LoginTimingDoesNotRevealUsers) {
  ASSERT_TRUE(Do(Operation::kUpdate, "users/bob", {{"password", "right"}}).ok());
  auto time_login = [&](const std::string& user) {
    auto t0 = std::chrono::steady_clock::now();
    auto res = Do(Operation::kUpdate, "login/" + user, {{"password", "wrong"}});
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_FALSE(res.ok());
    return std::chrono::duration<double, std::milli>(t1 - t0).count();
  };
  time_login("bob");  // warm up
  time_login("ghost");
  std::vector<double> existing, missing;
  for (int i = 0; i < 7; ++i) {
    existing.push_back(time_login("bob"));
    missing.push_back(time_login("ghost" + std::to_string(i)));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double me = median(existing), mm = median(missing);
  EXPECT_GT(mm, me * 0.5) << "missing user " << mm << " ms vs wrong password " << me << " ms";
  EXPECT_LT(mm, me * 2.0) << "missing user " << mm << " ms vs wrong password " << me << " ms";
}

}  // namespace
}  // namespace tresor::userpass
