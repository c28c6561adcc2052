#include <gtest/gtest.h>

#include "auth/tokenutil/cidr.h"
#include "auth/tokenutil/token_params.h"

namespace tresor::tokenutil {
namespace {

using framework::FieldData;
using framework::FieldSchema;
using json = nlohmann::json;

FieldSchema Schema() {
  FieldSchema s;
  AddTokenFields(&s);
  s["policies"] = {framework::FieldType::kCommaStringSlice};
  s["ttl"] = {framework::FieldType::kDurationSecond};
  s["bound_cidrs"] = {framework::FieldType::kCommaStringSlice};
  return s;
}

TEST(Cidr, ParseAndContain) {
  EXPECT_TRUE(RemoteAddrAllowed("10.1.2.3", {"10.0.0.0/8"}));
  EXPECT_FALSE(RemoteAddrAllowed("11.1.2.3", {"10.0.0.0/8"}));
  EXPECT_TRUE(RemoteAddrAllowed("127.0.0.1", {"127.0.0.1"}));
  EXPECT_FALSE(RemoteAddrAllowed("127.0.0.2", {"127.0.0.1"}));
  EXPECT_TRUE(RemoteAddrAllowed("::ffff:127.0.0.1", {"127.0.0.0/8"}));
  EXPECT_TRUE(RemoteAddrAllowed("2001:db8::1", {"2001:db8::/32"}));
  EXPECT_FALSE(RemoteAddrAllowed("2001:db9::1", {"2001:db8::/32"}));
  EXPECT_FALSE(RemoteAddrAllowed("10.0.0.1", {"::/0"}));
  EXPECT_TRUE(RemoteAddrAllowed("anything", {}));
  EXPECT_FALSE(RemoteAddrAllowed("garbage", {"0.0.0.0/0"}));
  EXPECT_TRUE(RemoteAddrAllowed("1.2.3.4", {"0.0.0.0/0"}));
  EXPECT_TRUE(RemoteAddrAllowed("10.200.0.9", {"10.128.0.0/9"}));
  EXPECT_FALSE(RemoteAddrAllowed("10.100.0.9", {"10.128.0.0/9"}));
  EXPECT_FALSE(ParseCidr("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseCidr("10.0.0/8").ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/").ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/x").ok());
  EXPECT_FALSE(ParseCidr("").ok());
  EXPECT_EQ(ParseCidr("nope").status().message(), "invalid CIDR block \"nope\"");
}

TEST(Cidr, Subset) {
  EXPECT_TRUE(CidrsSubset({"10.0.0.0/8"}, {"10.1.0.0/16", "10.2.3.4"}));
  EXPECT_FALSE(CidrsSubset({"10.0.0.0/16"}, {"10.0.0.0/8"}));
  EXPECT_FALSE(CidrsSubset({"10.0.0.0/8"}, {"11.0.0.0/16"}));
  EXPECT_TRUE(CidrsSubset({"10.0.0.0/8", "192.168.0.0/16"}, {"192.168.1.0/24"}));
  EXPECT_TRUE(CidrsSubset({}, {}));
}

TEST(TokenParams, ParseValidateRender) {
  FieldSchema s = Schema();
  json raw = {{"token_policies", "a, b"}, {"token_ttl", "1h"}, {"token_max_ttl", 7200},
              {"token_bound_cidrs", "10.0.0.0/8,127.0.0.1"}, {"token_num_uses", 3}, {"token_type", "service"}};
  FieldData d(&s, raw, {});
  TokenParams t;
  ASSERT_TRUE(t.Parse(d).ok());
  json out = json::object();
  t.Populate(&out);
  EXPECT_EQ(out["token_policies"], json({"a", "b"}));
  EXPECT_EQ(out["token_ttl"], 3600);
  EXPECT_EQ(out["token_max_ttl"], 7200);
  EXPECT_EQ(out["token_bound_cidrs"], json({"10.0.0.0/8", "127.0.0.1"}));
  EXPECT_EQ(out["token_type"], "service");
  EXPECT_EQ(out["token_num_uses"], 3);
  EXPECT_EQ(TokenParams::FromJson(t.ToJson()).ToJson(), t.ToJson());

  logical::Auth a;
  t.PopulateAuth(&a);
  EXPECT_EQ(a.ttl, 3600);
  EXPECT_EQ(a.num_uses, 3);
  EXPECT_EQ(a.token_type, "service");
  TokenParams def;
  def.PopulateAuth(&a);
  EXPECT_EQ(a.token_type, "");

  json empty = json::object();
  def.Populate(&empty);
  EXPECT_EQ(empty["token_policies"], json::array());
  EXPECT_EQ(empty["token_bound_cidrs"], json::array());
  EXPECT_EQ(empty["token_type"], "default");
}

TEST(TokenParams, Errors) {
  FieldSchema s = Schema();
  auto err = [&](json raw) {
    FieldData d(&s, raw, {});
    TokenParams t;
    return t.Parse(d).message();
  };
  EXPECT_EQ(err({{"token_type", "x"}}), "invalid 'token_type' value \"x\"");
  EXPECT_EQ(err({{"token_ttl", 10}, {"token_max_ttl", 5}}), "'token_ttl' cannot be greater than 'token_max_ttl'");
  EXPECT_EQ(err({{"token_num_uses", -1}}), "'token_num_uses' cannot be negative");
  EXPECT_EQ(err({{"token_type", "batch"}, {"token_period", 5}}),
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens");
  EXPECT_EQ(err({{"token_type", "batch"}, {"token_num_uses", 5}}),
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count");
  EXPECT_EQ(err({{"token_bound_cidrs", "1.2.3.4/99"}}), "invalid CIDR block \"1.2.3.4/99\"");
  EXPECT_EQ(err({{"token_type", ""}}), "");
}

TEST(TokenParams, Upgrades) {
  FieldSchema s = Schema();
  {
    json raw = {{"policies", "B,a,a, "}, {"ttl", "10m"}};
    FieldData d(&s, raw, {});
    TokenParams t;
    std::vector<std::string> old;
    int64_t old_ttl = 0;
    ASSERT_TRUE(UpgradeList(d, "policies", "token_policies", ListKind::kPolicies, &old, &t.policies).ok());
    ASSERT_TRUE(UpgradeDuration(d, "ttl", "token_ttl", &old_ttl, &t.ttl).ok());
    EXPECT_EQ(old, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(t.policies, old);
    EXPECT_EQ(old_ttl, 600);
    EXPECT_EQ(t.ttl, 600);
  }
  {
    json raw = {{"token_policies", "x"}};
    FieldData d(&s, raw, {});
    TokenParams t;
    ASSERT_TRUE(t.Parse(d).ok());
    std::vector<std::string> old = {"stale"};
    ASSERT_TRUE(UpgradeList(d, "policies", "token_policies", ListKind::kPolicies, &old, &t.policies).ok());
    EXPECT_TRUE(old.empty());
    EXPECT_EQ(t.policies, std::vector<std::string>{"x"});
  }
  {
    json raw = {{"bound_cidrs", "bad"}};
    FieldData d(&s, raw, {});
    TokenParams t;
    std::vector<std::string> old;
    EXPECT_FALSE(UpgradeList(d, "bound_cidrs", "token_bound_cidrs", ListKind::kCidrs, &old, &t.bound_cidrs).ok());
  }
  EXPECT_EQ(ParsePolicies({"a", "Root", "b"}), std::vector<std::string>{"root"});
  EXPECT_EQ(LoginDisplayName("auth/userpass/", "bob"), "userpass-bob");
  EXPECT_EQ(LoginDisplayName("auth/approle/", ""), "approle");
  EXPECT_EQ(LoginDisplayName("auth/team/up/", "x"), "team-up-x");
}

}  // namespace
}  // namespace tresor::tokenutil
