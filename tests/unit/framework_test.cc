#include <gtest/gtest.h>

#include "framework/backend.h"

namespace tresor::framework {
namespace {

using logical::Operation;

std::unique_ptr<FrameworkBackend> MakeBackend() {
  Path role;
  role.pattern = "roles/" + GenericNameRegex("name");
  role.fields = {{"name", {FieldType::kString}},
                 {"ttl", {FieldType::kDurationSecond}},
                 {"policies", {FieldType::kCommaStringSlice}},
                 {"count", {FieldType::kInt, "", 7}},
                 {"enabled", {FieldType::kBool}}};
  role.operations[Operation::kRead] = [](Request&, FieldData& d) -> Result<ResponsePtr> {
    return Data({{"name", d.GetString("name")}, {"count", d.GetInt("count")}});
  };
  role.operations[Operation::kUpdate] = [](Request&, FieldData& d) -> Result<ResponsePtr> {
    return Data({{"ttl", d.GetInt("ttl")}, {"policies", d.GetStrings("policies")}, {"enabled", d.GetBool("enabled")}});
  };
  role.exists = [](Request&, FieldData& d) -> Result<bool> { return d.GetString("name") == "there"; };
  Path data;
  data.pattern = "data/(?P<path>.+)";
  data.fields = {{"path", {FieldType::kString}}};
  data.operations[Operation::kRead] = [](Request&, FieldData& d) -> Result<ResponsePtr> {
    return Data({{"path", d.GetString("path")}});
  };
  return std::make_unique<FrameworkBackend>(std::vector<Path>{role, data});
}

TEST(Framework, RoutesAndCaptures) {
  auto b = MakeBackend();
  Request r;
  r.operation = Operation::kRead;
  r.path = "roles/my-role.v1";
  auto res = b->HandleRequest(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)->data["name"], "my-role.v1");
  EXPECT_EQ((*res)->data["count"], 7);  // default
  r.path = "data/a/b/c";
  res = b->HandleRequest(r);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ((*res)->data["path"], "a/b/c");
}

TEST(Framework, UnknownPathAndOperation) {
  auto b = MakeBackend();
  Request r;
  r.operation = Operation::kRead;
  r.path = "roles/-bad";
  EXPECT_EQ(b->HandleRequest(r).status().code(), Code::kUnsupportedPath);
  r.path = "nothing";
  EXPECT_EQ(b->HandleRequest(r).status().code(), Code::kUnsupportedPath);
  r.path = "data/x";
  r.operation = Operation::kDelete;
  EXPECT_EQ(b->HandleRequest(r).status().code(), Code::kUnsupportedOperation);
}

TEST(Framework, ConvertsFieldsAndWarnsOnUnknown) {
  auto b = MakeBackend();
  Request r;
  r.operation = Operation::kCreate;  // falls back to the update handler
  r.path = "roles/x";
  r.data = {{"ttl", "1h"}, {"policies", "a, b"}, {"enabled", "true"}, {"bogus", 1}};
  auto res = b->HandleRequest(r);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ((*res)->data["ttl"], 3600);
  EXPECT_EQ((*res)->data["policies"], nlohmann::json({"a", "b"}));
  EXPECT_EQ((*res)->data["enabled"], true);
  ASSERT_EQ((*res)->warnings.size(), 1u);
  EXPECT_EQ((*res)->warnings[0], "Endpoint ignored these unrecognized parameters: [bogus]");
}

TEST(Framework, ValidationFailureIs400) {
  auto b = MakeBackend();
  Request r;
  r.operation = Operation::kUpdate;
  r.path = "roles/x";
  r.data = {{"ttl", "forever"}};
  auto res = b->HandleRequest(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kInvalidRequest);
  EXPECT_NE(res.status().message().find("Field validation failed"), std::string::npos);
}

TEST(Framework, ExistenceCheck) {
  auto b = MakeBackend();
  Request r;
  r.path = "roles/there";
  auto e = b->Exists(r);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->value());
  r.path = "roles/absent";
  EXPECT_FALSE(b->Exists(r)->value());
  r.path = "data/x";
  EXPECT_FALSE(b->Exists(r)->has_value());
}

TEST(Framework, FieldConversions) {
  EXPECT_EQ(*ConvertField(FieldType::kStringSlice, "a,b"), nlohmann::json({"a,b"}));
  EXPECT_EQ(*ConvertField(FieldType::kStringSlice, ""), nlohmann::json::array());
  EXPECT_EQ(*ConvertField(FieldType::kKVPairs, nlohmann::json({"a=1", "b=2"})), nlohmann::json({{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(*ConvertField(FieldType::kLowerCaseString, "AbC"), "abc");
  EXPECT_FALSE(ConvertField(FieldType::kInt, "12x").ok());
  EXPECT_EQ(*ConvertField(FieldType::kInt, "12"), 12);
  EXPECT_FALSE(ConvertField(FieldType::kBool, "maybe").ok());
  EXPECT_TRUE(MatchesSpecialPath({"login", "login/*"}, "login/bob"));
  EXPECT_FALSE(MatchesSpecialPath({"login"}, "login/bob"));
}

}  // namespace
}  // namespace tresor::framework
