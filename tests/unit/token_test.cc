// Token store and auth/token backend: creation rules, liveness (expiry, parents, use counts),
// revocation, renewal and roles.
#include <gtest/gtest.h>

#include <thread>

#include "auth/token/token_backend.h"
#include "auth/token/token_store.h"
#include "common/duration.h"
#include "storage/inmem_storage.h"

namespace tresor::token {
namespace {

using logical::Operation;
using nlohmann::json;

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Load().ok());
    backend_ = NewTokenBackend(&store_, framework::BackendConfig{});
    TokenEntry root;
    root.id = "root";
    root.policies = {"root"};
    root.path = "auth/token/root";
    ASSERT_TRUE(store_.Create(&root).ok());
  }

  // Sends `op path data` to the backend as the holder of `token`.
  Result<logical::ResponsePtr> Call(const std::string& token, Operation op, const std::string& path,
                                    json data = json::object()) {
    logical::Request req;
    req.operation = op;
    req.path = path;
    req.mount_point = "auth/token/";
    req.data = std::move(data);
    req.client_token = token;
    req.mount_default_ttl = 768 * 3600;
    req.mount_max_ttl = 768 * 3600;
    auto te = store_.LookupInRequest(token);
    if (te.ok() && *te) req.token = TokenStore::ToInfo(**te);
    return backend_->HandleRequest(req);
  }

  // Creates a token and returns its id (fails the test on error).
  std::string Create(const std::string& parent, json data, const std::string& path = "create") {
    auto r = Call(parent, Operation::kUpdate, path, std::move(data));
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok() || !*r || !(*r)->auth) return "";
    return (*r)->auth->client_token;
  }

  std::string Error(const std::string& token, const std::string& path, json data) {
    auto r = Call(token, Operation::kUpdate, path, std::move(data));
    EXPECT_FALSE(r.ok()) << path << " " << data.dump();
    return r.ok() ? "" : r.status().message();
  }

  bool Alive(const std::string& id) {
    auto r = store_.Lookup(id);
    return r.ok() && r->has_value();
  }

  InmemStorage storage_;
  TokenStore store_{&storage_};
  std::unique_ptr<framework::Backend> backend_;
};

TEST(TokenPolicies, Sanitize) {
  EXPECT_EQ(SanitizePolicies({" Foo", "bar", "", "foo"}, false), (std::vector<std::string>{"bar", "foo"}));
  EXPECT_EQ(SanitizePolicies({"a"}, true), (std::vector<std::string>{"a", "default"}));
  EXPECT_EQ(SanitizePolicies({"a", " Root ", "b"}, true), (std::vector<std::string>{"root"}));
  EXPECT_EQ(SanitizePolicies({}, true), (std::vector<std::string>{"default"}));
}

TEST(TokenTTL, Calculate) {
  int64_t now = UnixNow();
  std::vector<std::string> w;
  EXPECT_EQ(*CalculateTTL(0, 0, 0, 3600, 7200, now, &w), 3600);
  EXPECT_EQ(*CalculateTTL(60, 0, 0, 3600, 7200, now, &w), 60);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(*CalculateTTL(10000, 0, 0, 3600, 7200, now, &w), 7200);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(*CalculateTTL(600, 0, 300, 3600, 7200, now, &w), 300);      // explicit max caps
  EXPECT_EQ(*CalculateTTL(0, 900, 0, 3600, 7200, now, &w), 900);        // period wins
  EXPECT_EQ(*CalculateTTL(0, 900, 600, 3600, 7200, now, &w), 600);      // ... within explicit max
  EXPECT_EQ(*CalculateTTL(600, 0, 0, 3600, 1000, now - 900, &w), 100);  // bounded from issue time
  EXPECT_FALSE(CalculateTTL(600, 0, 0, 3600, 1000, now - 2000, &w).ok());
}

TEST_F(TokenTest, CreateServiceTokenInheritsAndReports) {
  auto r = Call("root", Operation::kUpdate, "create",
                {{"policies", "a,b"}, {"ttl", "1h"}, {"display_name", "my app!"}, {"meta", {{"k", "v"}}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& auth = *(*r)->auth;
  EXPECT_EQ(auth.client_token.rfind("hvs.", 0), 0u);
  EXPECT_EQ(auth.client_token.size(), 28u);
  EXPECT_EQ(auth.accessor.size(), 24u);
  EXPECT_EQ(auth.policies, (std::vector<std::string>{"a", "b", "default"}));  // root parent: sudo adds default
  EXPECT_EQ(auth.lease_duration, 3600);
  EXPECT_TRUE(auth.renewable);
  EXPECT_FALSE(auth.orphan);
  EXPECT_EQ(auth.token_type, "service");
  auto te = store_.Lookup(auth.client_token);
  ASSERT_TRUE(te.ok() && *te);
  EXPECT_EQ((*te)->display_name, "token-my-app");
  EXPECT_EQ((*te)->path, "auth/token/create");
  EXPECT_EQ((*te)->meta.at("k"), "v");
  auto data = LookupData(**te, true);
  EXPECT_EQ(data["id"], auth.client_token);
  EXPECT_EQ(data["creation_ttl"], 3600);
  EXPECT_TRUE(data["ttl"].get<int64_t>() >= 3599);
  EXPECT_TRUE(data.contains("issue_time"));
}

TEST_F(TokenTest, RootParentWithoutPoliciesMakesRootToken) {
  auto id = Create("root", json::object());
  auto te = store_.Lookup(id);
  ASSERT_TRUE(te.ok() && *te);
  EXPECT_EQ((*te)->policies, std::vector<std::string>{"root"});
  EXPECT_EQ((*te)->expire_ms, 0);  // non-expiring
}

TEST_F(TokenTest, ChildPoliciesMustBeSubsetOfParent) {
  auto parent = Create("root", {{"policies", "a,b"}});
  EXPECT_EQ(Error(parent, "create", {{"policies", "c"}}), "child policies must be subset of parent");
  // Spellings of root are root after sanitising, which the parent does not hold.
  EXPECT_EQ(Error(parent, "create", {{"policies", "Root"}}), "child policies must be subset of parent");
  EXPECT_EQ(Error(parent, "create", {{"policies", " root"}}), "child policies must be subset of parent");
  auto child = Create(parent, {{"policies", "A"}});
  auto te = store_.Lookup(child);
  ASSERT_TRUE(te.ok() && *te);
  EXPECT_EQ((*te)->policies, (std::vector<std::string>{"a", "default"}));
  EXPECT_EQ(Error(parent, "create", {{"no_parent", true}}), "root or sudo privileges required to create orphan token");
  EXPECT_EQ(Error(parent, "create", {{"id", "custom"}}), "root or sudo privileges required to specify token id");
  EXPECT_EQ(Error(parent, "create", {{"period", "1h"}}), "root or sudo privileges required to create periodic token");
  EXPECT_EQ(Error(parent, "create", {{"num_uses", -1}}), "number of uses cannot be negative");
  EXPECT_EQ(Error(parent, "create", {{"type", "weird"}}), "invalid 'token_type' value");
}

TEST_F(TokenTest, BatchTokens) {
  auto r = Call("root", Operation::kUpdate, "create", {{"type", "batch"}, {"policies", "a"}, {"ttl", "10m"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string batch = (*r)->auth->client_token;
  EXPECT_EQ(batch.rfind("hvb.", 0), 0u);
  EXPECT_TRUE((*r)->auth->accessor.empty());
  EXPECT_FALSE((*r)->auth->renewable);
  EXPECT_EQ(Error(batch, "create", {{"policies", "a"}}), "batch tokens cannot create more tokens");
  EXPECT_EQ(Error(batch, "renew-self", json::object()), "batch tokens cannot be renewed");
  EXPECT_EQ(Error("root", "revoke", {{"token", batch}}), "batch tokens cannot be revoked");
  EXPECT_EQ(Error("root", "create", {{"type", "batch"}, {"num_uses", 2}}), "batch tokens cannot have \"num_uses\" set");
  EXPECT_EQ(Error("root", "create", {{"type", "batch"}, {"period", "1h"}}), "batch tokens cannot have \"period\" set");
  EXPECT_EQ(Error("root", "create", {{"type", "batch"}}), "batch tokens cannot be root tokens");
}

TEST_F(TokenTest, ExpiryIsEnforcedToTheSecond) {
  auto id = Create("root", {{"policies", "a"}, {"ttl", 1}});
  EXPECT_TRUE(Alive(id));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_FALSE(Alive(id));
  auto r = Call(id, Operation::kRead, "lookup-self");
  EXPECT_FALSE(r.ok());
}

TEST_F(TokenTest, ChildDiesWithParent) {
  auto parent = Create("root", {{"policies", "a"}});
  auto child = Create(parent, {{"policies", "a"}});
  auto grandchild = Create(child, {{"policies", "a"}});
  auto orphan = Create(parent, {{"policies", "a"}}, "create-orphan");
  ASSERT_TRUE(Alive(grandchild));
  ASSERT_TRUE(Call("root", Operation::kUpdate, "revoke", {{"token", parent}}).ok());
  EXPECT_FALSE(Alive(parent));
  EXPECT_FALSE(Alive(child));
  EXPECT_FALSE(Alive(grandchild));
  EXPECT_TRUE(Alive(orphan));
}

TEST_F(TokenTest, ChildDiesWhenParentExpires) {
  auto parent = Create("root", {{"policies", "a"}, {"ttl", 1}});
  auto child = Create(parent, {{"policies", "a"}, {"ttl", "1h"}});
  ASSERT_TRUE(Alive(child));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_FALSE(Alive(child));  // looked up before anyone touched the parent
  EXPECT_FALSE(Alive(parent));
}

TEST_F(TokenTest, RevokeOrphanKeepsChildren) {
  auto parent = Create("root", {{"policies", "a"}});
  auto child = Create(parent, {{"policies", "a"}});
  EXPECT_EQ(Error(parent, "revoke-orphan", {{"token", child}}), "root or sudo privileges required to revoke and orphan");
  ASSERT_TRUE(Call("root", Operation::kUpdate, "revoke-orphan", {{"token", parent}}).ok());
  EXPECT_FALSE(Alive(parent));
  ASSERT_TRUE(Alive(child));
  EXPECT_TRUE((*store_.Lookup(child))->parent.empty());
}

TEST_F(TokenTest, NumUsesWorkExactlyOnce) {
  auto id = Create("root", {{"policies", "a"}, {"num_uses", 1}});
  auto te = store_.Lookup(id);
  ASSERT_TRUE(te.ok() && *te);
  EXPECT_TRUE(*store_.UseToken(**te));
  auto self = Call(id, Operation::kRead, "lookup-self");  // the same request may still read itself
  EXPECT_TRUE(self.ok()) << self.status().message();
  EXPECT_FALSE(Alive(id));  // no second request can use it
  EXPECT_FALSE(*store_.UseToken(**te));
  store_.FinishUse(**te);
  EXPECT_FALSE(store_.LookupInRequest(id)->has_value());
  // A limited-use token cannot create children.
  auto two = Create("root", {{"policies", "a"}, {"num_uses", 2}});
  EXPECT_EQ(Error(two, "create", {{"policies", "a"}}), "restricted use token cannot generate child tokens");
}

TEST_F(TokenTest, AccessorOperations) {
  auto r = Call("root", Operation::kUpdate, "create", {{"policies", "a"}, {"ttl", "1h"}});
  ASSERT_TRUE(r.ok());
  std::string id = (*r)->auth->client_token, acc = (*r)->auth->accessor;
  auto look = Call("root", Operation::kUpdate, "lookup-accessor", {{"accessor", acc}});
  ASSERT_TRUE(look.ok());
  EXPECT_EQ((*look)->data["id"], "");
  EXPECT_EQ((*look)->data["accessor"], acc);
  auto renew = Call("root", Operation::kUpdate, "renew-accessor", {{"accessor", acc}, {"increment", "2h"}});
  ASSERT_TRUE(renew.ok()) << renew.status().message();
  EXPECT_TRUE((*renew)->auth->client_token.empty());
  EXPECT_EQ((*renew)->auth->accessor, acc);
  EXPECT_EQ(Error("root", "lookup-accessor", {{"accessor", "nope"}}), "invalid accessor");
  EXPECT_EQ(Error("root", "lookup-accessor", json::object()), "missing accessor");
  ASSERT_TRUE(Call("root", Operation::kUpdate, "revoke-accessor", {{"accessor", acc}}).ok());
  EXPECT_FALSE(Alive(id));
}

TEST_F(TokenTest, RenewRespectsMaxAndRenewable) {
  auto id = Create("root", {{"policies", "a"}, {"ttl", "10m"}, {"explicit_max_ttl", "30m"}});
  auto r = Call(id, Operation::kUpdate, "renew-self", {{"increment", "1h"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LE((*r)->auth->lease_duration, 1800);
  EXPECT_GE((*r)->auth->lease_duration, 1790);
  EXPECT_EQ((*r)->auth->client_token, id);
  auto fixed = Create("root", {{"policies", "a"}, {"renewable", false}});
  EXPECT_EQ(Error(fixed, "renew-self", json::object()), "lease is not renewable");
  EXPECT_EQ(Error("root", "renew", {{"token", "hvs.unknown"}}), "token not found");
  EXPECT_EQ(Error("root", "renew", json::object()), "missing token ID");
}

TEST_F(TokenTest, LookupErrors) {
  auto r = Call("root", Operation::kUpdate, "lookup", {{"token", "hvs.nope"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
}

TEST_F(TokenTest, Roles) {
  auto w = Call("root", Operation::kCreate, "roles/app",
                {{"allowed_policies", "a,b"}, {"orphan", true}, {"token_period", "1h"}, {"path_suffix", "v1"}});
  ASSERT_TRUE(w.ok()) << w.status().message();
  auto rd = Call("root", Operation::kRead, "roles/app");
  ASSERT_TRUE(rd.ok() && *rd);
  const json& d = (*rd)->data;
  EXPECT_EQ(d["allowed_policies"], json::array({"a", "b"}));
  EXPECT_EQ(d["orphan"], true);
  EXPECT_EQ(d["period"], 3600);
  EXPECT_EQ(d["token_period"], 3600);
  EXPECT_EQ(d["renewable"], true);
  EXPECT_EQ(d["token_type"], "default-service");
  auto list = Call("root", Operation::kList, "roles/");
  ASSERT_TRUE(list.ok() && *list);
  EXPECT_EQ((*list)->data["keys"], json::array({"app"}));

  auto parent = Create("root", {{"policies", "zzz"}});
  // With allowed_policies, a role lets a token holder issue policies it lacks itself.
  auto r = Call(parent, Operation::kUpdate, "create/app", {{"policies", "a"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->auth->policies, (std::vector<std::string>{"a", "default"}));
  EXPECT_TRUE((*r)->auth->orphan);
  auto te = store_.Lookup((*r)->auth->client_token);
  EXPECT_EQ((*te)->path, "auth/token/create/app/v1");
  EXPECT_EQ((*te)->role_name, "app");
  EXPECT_EQ((*te)->period, 3600);
  EXPECT_NE(Error(parent, "create/app", {{"policies", "c"}}).find("must be subset of the role's allowed policies"),
            std::string::npos);
  EXPECT_EQ(Error(parent, "create/nope", json::object()), "unknown role nope");
  EXPECT_EQ(Error("root", "roles/bad", {{"token_type", "odd"}}), "invalid 'token_type' value \"odd\"");
  ASSERT_TRUE(Call("root", Operation::kDelete, "roles/app").ok());
  auto gone = Call("root", Operation::kRead, "roles/app");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
}

TEST_F(TokenTest, TidyRemovesExpiredAndDangling) {
  auto id = Create("root", {{"policies", "a"}, {"ttl", 1}});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto n = store_.Tidy();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto ids = storage_.List("id/");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), 1u);  // only root is left
  (void)id;
}

TEST_F(TokenTest, TokensAreNotStoredInTheClear) {
  auto id = Create("root", {{"policies", "a"}});
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    std::string p = stack.back();
    stack.pop_back();
    auto keys = storage_.List(p);
    ASSERT_TRUE(keys.ok());
    for (const auto& k : *keys) {
      EXPECT_EQ(k.find(id), std::string::npos);
      if (k.back() == '/') {
        stack.push_back(p + k);
      } else {
        auto v = storage_.Get(p + k);
        EXPECT_EQ(v->value_or("").find(id), std::string::npos) << p + k;
      }
    }
  }
}

}  // namespace
}  // namespace tresor::token
