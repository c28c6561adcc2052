// Cubbyhole through the backend interface, on an in-memory storage.
#include <gtest/gtest.h>

#include "engines/cubbyhole/cubbyhole.h"
#include "engines/kv/listing.h"
#include "storage/inmem_storage.h"

namespace tresor::cubbyhole {
namespace {

using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using json = nlohmann::json;

std::shared_ptr<logical::TokenInfo> Token(const std::string& id, const std::string& cubby = "",
                                          const std::string& type = "service") {
  auto t = std::make_shared<logical::TokenInfo>();
  t->id = id;
  t->cubbyhole_id = cubby;
  t->type = type;
  return t;
}

class Cubby : public ::testing::Test {
 protected:
  void SetUp() override {
    framework::BackendConfig cfg;
    cfg.storage = &storage_;
    auto b = Factory(cfg);
    ASSERT_TRUE(b.ok());
    backend_ = std::move(*b);
  }
  Result<ResponsePtr> Do(std::shared_ptr<logical::TokenInfo> tok, Operation op, const std::string& path,
                         json data = json::object()) {
    Request r;
    r.operation = op;
    r.path = path;
    r.data = std::move(data);
    r.storage = &storage_;
    if (tok) r.client_token = tok->id;
    r.token = std::move(tok);
    return backend_->HandleRequest(r);
  }
  std::vector<std::string> AllStorageKeys() {
    kv::ListParams p;
    p.recursive = true;
    auto k = kv::ListKeys(&storage_, "", "", p);
    EXPECT_TRUE(k.ok());
    return k.ok() ? *k : std::vector<std::string>{};
  }

  InmemStorage storage_;
  std::unique_ptr<framework::Backend> backend_;
};

TEST_F(Cubby, CrudIsPerToken) {
  auto a = Token("hvs.AAAA", "cubbyA"), b = Token("hvs.BBBB", "cubbyB");
  auto r = Do(a, Operation::kRead, "secret");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  ASSERT_TRUE(Do(a, Operation::kCreate, "secret", {{"k", "va"}, {"n", 1}}).ok());
  ASSERT_TRUE(Do(b, Operation::kUpdate, "secret", {{"k", "vb"}}).ok());
  r = Do(a, Operation::kRead, "secret");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data, json({{"k", "va"}, {"n", 1}}));
  EXPECT_FALSE((*r)->secret);  // no lease_duration, unlike kv v1
  r = Do(b, Operation::kRead, "secret");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data, json({{"k", "vb"}}));
  // Another token cannot see it.
  r = Do(Token("hvs.CCCC", "cubbyC"), Operation::kRead, "secret");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  // Delete.
  ASSERT_TRUE(Do(a, Operation::kDelete, "secret").ok());
  r = Do(a, Operation::kRead, "secret");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  EXPECT_TRUE(Do(b, Operation::kRead, "secret").value() != nullptr);
}

TEST_F(Cubby, NoRawTokenInStorageKeys) {
  auto t = Token("hvs.SuperSecretTokenValue");  // no cubbyhole_id: hashed token id
  ASSERT_TRUE(Do(t, Operation::kUpdate, "x/y", {{"a", "b"}}).ok());
  auto keys = AllStorageKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].find("SuperSecret"), std::string::npos);
  EXPECT_EQ(keys[0], NamespaceFor("", "hvs.SuperSecretTokenValue") + "/x/y");
  EXPECT_EQ(NamespaceFor("", "hvs.SuperSecretTokenValue").size(), 65u);
  EXPECT_EQ(NamespaceFor("abc", "hvs.x"), "abc");
  auto r = Do(t, Operation::kRead, "x/y");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data["a"], "b");
}

TEST_F(Cubby, ListPaginationAndScan) {
  auto a = Token("hvs.A", "ca");
  auto r = Do(a, Operation::kList, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  for (std::string k : {"one", "dir/two", "dir/sub/three", "four"})
    ASSERT_TRUE(Do(a, Operation::kUpdate, k, {{"v", k}}).ok());
  ASSERT_TRUE(Do(Token("hvs.B", "cb"), Operation::kUpdate, "other", {{"v", 1}}).ok());
  r = Do(a, Operation::kList, "");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data["keys"], json({"dir/", "four", "one"}));
  r = Do(a, Operation::kList, "dir");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data["keys"], json({"sub/", "two"}));
  r = Do(a, Operation::kList, "", {{"after", "dir/"}, {"limit", "1"}});
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data["keys"], json({"four"}));
  r = Do(a, Operation::kList, "", {{"recursive", "true"}});
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data["keys"], json({"dir/sub/three", "dir/two", "four", "one"}));
  EXPECT_EQ(Do(a, Operation::kList, "", {{"limit", "-3"}}).status().code(), Code::kInvalidRequest);
}

TEST_F(Cubby, Errors) {
  auto a = Token("hvs.A", "ca");
  auto r = Do(a, Operation::kUpdate, "k");
  EXPECT_EQ(r.status().message(), "missing data fields");
  r = Do(a, Operation::kUpdate, "", {{"a", 1}});
  EXPECT_EQ(r.status().message(), "missing path");
  r = Do(a, Operation::kRead, "");
  EXPECT_EQ(r.status().message(), "missing path");
  r = Do(nullptr, Operation::kRead, "k");
  EXPECT_EQ(r.status().message(), "client token empty");
  r = Do(Token("hvb.batch", "", "batch"), Operation::kUpdate, "k", {{"a", 1}});
  EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
  EXPECT_EQ(r.status().message(), "cubbyhole operations are only supported by \"service\" type tokens");
}

TEST_F(Cubby, ExistenceCheck) {
  auto a = Token("hvs.A", "ca");
  Request r;
  r.path = "k";
  r.storage = &storage_;
  r.token = a;
  EXPECT_EQ(*backend_->Exists(r), std::optional<bool>(false));
  ASSERT_TRUE(Do(a, Operation::kUpdate, "k", {{"a", 1}}).ok());
  EXPECT_EQ(*backend_->Exists(r), std::optional<bool>(true));
  r.token = Token("hvs.B", "cb");
  EXPECT_EQ(*backend_->Exists(r), std::optional<bool>(false));
}

TEST_F(Cubby, DestroyTokenStorage) {
  auto a = Token("hvs.A", "ca"), b = Token("hvs.B", "cb"), h = Token("hvs.H");
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(Do(a, Operation::kUpdate, "d/k" + std::to_string(i), {{"i", i}}).ok());
  ASSERT_TRUE(Do(a, Operation::kUpdate, "top", {{"i", 1}}).ok());
  ASSERT_TRUE(Do(b, Operation::kUpdate, "keep", {{"i", 1}}).ok());
  ASSERT_TRUE(Do(h, Operation::kUpdate, "hashed", {{"i", 1}}).ok());
  ASSERT_TRUE(DestroyTokenStorage(&storage_, "ca", "hvs.A").ok());
  auto r = Do(a, Operation::kList, "", {{"recursive", "true"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  ASSERT_TRUE(DestroyTokenStorage(&storage_, "", "hvs.H").ok());
  EXPECT_EQ(AllStorageKeys(), std::vector<std::string>{"cb/keep"});
  ASSERT_TRUE(DestroyTokenStorage(&storage_, "ca", "hvs.A").ok());  // idempotent
  ASSERT_TRUE(DestroyTokenStorage(&storage_, "", "").ok());
}

}  // namespace
}  // namespace tresor::cubbyhole
