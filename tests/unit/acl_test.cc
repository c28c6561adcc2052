// ACL policy parsing, path matching and precedence (Vault's rules), parameter constraints,
// and the PolicyStore's CRUD and caching.
#include <gtest/gtest.h>

#include "acl/acl.h"
#include "acl/policy.h"
#include "acl/policy_store.h"
#include "storage/inmem_storage.h"

namespace tresor::acl {
namespace {

using logical::Operation;
using nlohmann::json;

std::shared_ptr<const Policy> P(const std::string& name, const std::string& text) {
  auto r = ParsePolicy(name, text);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.status().message();
  return r.ok() ? std::make_shared<const Policy>(std::move(r).value()) : nullptr;
}

std::shared_ptr<const Acl> Build(const std::vector<std::string>& texts) {
  std::vector<std::shared_ptr<const Policy>> ps;
  int i = 0;
  for (const auto& t : texts) ps.push_back(P("p" + std::to_string(i++), t));
  return Acl::Build(ps);
}

std::string Caps(const Acl& a, const std::string& path) {
  std::string out;
  for (const auto& c : a.Capabilities(path)) out += (out.empty() ? "" : ",") + c;
  return out;
}

// ---------------------------------------------------------------------------------------
// Parsing

TEST(AclParse, CapabilitiesAndShorthand) {
  auto p = P("x", R"(
path "secret/*" { capabilities = ["read", "list"] }
path "/leading" { capabilities = ["create"] }
path "old/read" { policy = "read" }
path "old/write" { policy = "write" }
path "old/sudo" { policy = "sudo" }
path "old/deny" { policy = "deny" }
path "both" { policy = "read"  capabilities = ["update"] }
path "denied" { capabilities = ["read", "deny"] }
)");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->paths.size(), 8u);
  EXPECT_EQ(p->paths[0].path, "secret/");
  EXPECT_TRUE(p->paths[0].is_prefix);
  EXPECT_EQ(p->paths[0].perms.caps, kRead | kList);
  EXPECT_EQ(p->paths[1].path, "leading");
  EXPECT_FALSE(p->paths[1].is_prefix);
  EXPECT_EQ(p->paths[2].perms.caps, kRead | kList);
  EXPECT_EQ(p->paths[3].perms.caps, kCreate | kRead | kUpdate | kDelete | kList);
  EXPECT_EQ(p->paths[4].perms.caps, kCreate | kRead | kUpdate | kDelete | kList | kSudo);
  EXPECT_EQ(p->paths[5].perms.caps, kDeny);
  EXPECT_EQ(p->paths[6].perms.caps, kRead | kList | kUpdate);
  EXPECT_EQ(p->paths[7].perms.caps, kDeny);
}

TEST(AclParse, JsonForm) {
  auto p = P("j", R"({"path": {"secret/data/*": {"capabilities": ["read","patch"]},
                      "sys/mounts": {"policy": "read"}}})");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->paths.size(), 2u);
  auto a = Acl::Build({p});
  EXPECT_TRUE(a->Allow(Operation::kPatch, "secret/data/x", json::object()).allowed);
  EXPECT_TRUE(a->Allow(Operation::kRead, "sys/mounts", json::object()).allowed);
}

TEST(AclParse, SegmentWildcardsAndParameters) {
  auto p = P("x", R"(
path "secret/+/config" { capabilities = ["read"] }
path "secret/+/team*" { capabilities = ["read"] }
path "+" { capabilities = ["read"] }
path "kv/foo+bar" { capabilities = ["read"] }
path "secret/params" {
  capabilities = ["create"]
  allowed_parameters = { "Foo" = ["a", "b*"], "bar" = [] }
  denied_parameters = { "baz" = [] }
  required_parameters = ["foo"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 3600
}
)");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->paths[0].has_segment_wildcards);
  EXPECT_FALSE(p->paths[0].is_prefix);
  EXPECT_TRUE(p->paths[1].has_segment_wildcards);
  EXPECT_EQ(p->paths[1].path, "secret/+/team*");  // '*' kept on wildcard patterns
  EXPECT_TRUE(p->paths[2].has_segment_wildcards);
  EXPECT_FALSE(p->paths[3].has_segment_wildcards);  // '+' inside a segment is literal
  const auto& perms = p->paths[4].perms;
  ASSERT_TRUE(perms.allowed_parameters);
  EXPECT_EQ(perms.allowed_parameters->count("foo"), 1u);  // keys lower-cased
  EXPECT_EQ(perms.allowed_parameters->at("foo").size(), 2u);
  EXPECT_TRUE(perms.allowed_parameters->at("bar").empty());
  ASSERT_TRUE(perms.denied_parameters);
  EXPECT_EQ(perms.required_parameters, std::vector<std::string>{"foo"});
  EXPECT_EQ(perms.min_wrapping_ttl, 60);
  EXPECT_EQ(perms.max_wrapping_ttl, 3600);
}

TEST(AclParse, Errors) {
  struct Case {
    const char* text;
    const char* want;  // substring of the error
  } cases[] = {
      {R"(path "a" { capabilities = ["reed"] })", "path \"a\": invalid capability \"reed\""},
      {R"(path "a" { policy = "admin" })", "path \"a\": invalid policy \"admin\""},
      {R"(path "a" { capabilities = ["read"] bogus = 1 })", "invalid key \"bogus\""},
      {R"(paths "a" { capabilities = ["read"] })", "invalid key \"paths\" on line 1"},
      {R"(path "a/+*" { capabilities = ["read"] })", "invalid use of wildcards ('+*' is forbidden)"},
      {R"(path "a" { capabilities = ["read"] min_wrapping_ttl = "2h" max_wrapping_ttl = "1h" })",
       "max_wrapping_ttl cannot be less than min_wrapping_ttl"},
      {R"(path "a" { capabilities = ["read"] min_wrapping_ttl = "soon" })", "error parsing min_wrapping_ttl"},
      {R"(path "a" { capabilities = "read" )", "failed to parse policy"},
      {R"(path "a" { capabilities = [1] })", "capabilities must be a list of strings"},
      {R"({"path": )", "failed to parse policy"},
  };
  for (const auto& c : cases) {
    auto r = ParsePolicy("x", c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << c.text << " -> " << r.status().message();
    EXPECT_EQ(r.status().message().rfind("failed to parse policy: ", 0), 0u) << r.status().message();
  }
}

TEST(AclParse, EmptyPolicyIsValidAndGrantsNothing) {
  auto a = Build({""});
  EXPECT_FALSE(a->Allow(Operation::kRead, "secret/x", json::object()).allowed);
  EXPECT_EQ(Caps(*a, "secret/x"), "deny");
}

// ---------------------------------------------------------------------------------------
// Matching and precedence: one table per rule of Vault's policy documentation.

struct MatchCase {
  const char* path;
  Operation op;
  bool allowed;
};

void RunTable(const std::vector<std::string>& policies, const std::vector<MatchCase>& cases) {
  auto a = Build(policies);
  for (const auto& c : cases) {
    EXPECT_EQ(a->Allow(c.op, c.path, json::object()).allowed, c.allowed)
        << logical::OperationName(c.op) << " " << c.path;
  }
}

TEST(AclMatch, ExactPathOnlyMatchesItself) {
  RunTable({R"(path "secret/foo" { capabilities = ["read"] })"},
           {{"secret/foo", Operation::kRead, true},
            {"secret/foo/", Operation::kRead, false},
            {"secret/foobar", Operation::kRead, false},
            {"secret/fo", Operation::kRead, false},
            {"Secret/foo", Operation::kRead, false},  // case-sensitive
            {"secret/foo", Operation::kUpdate, false},
            {"/secret/foo", Operation::kRead, true}});  // leading slashes are ignored
}

TEST(AclMatch, GlobIsAPlainPrefix) {
  RunTable({R"(path "secret/foo*" { capabilities = ["read"] })"},
           {{"secret/foo", Operation::kRead, true},
            {"secret/foobar", Operation::kRead, true},
            {"secret/foo/bar/baz", Operation::kRead, true},
            {"secret/fo", Operation::kRead, false},
            {"secret/", Operation::kRead, false}});
}

TEST(AclMatch, LongestPrefixWins) {
  RunTable({R"(path "secret/*" { capabilities = ["read"] }
               path "secret/super/*" { capabilities = ["deny"] }
               path "secret/super/public/*" { capabilities = ["read", "list"] })"},
           {{"secret/a", Operation::kRead, true},
            {"secret/super/x", Operation::kRead, false},
            {"secret/super/", Operation::kList, false},
            {"secret/super/public/x", Operation::kRead, true},
            {"secret/super/public/", Operation::kList, true},
            {"secret/superx", Operation::kRead, true}});
}

TEST(AclMatch, ExactBeatsGlob) {
  RunTable({R"(path "secret/*" { capabilities = ["read"] }
               path "secret/locked" { capabilities = ["deny"] })"},
           {{"secret/locked", Operation::kRead, false},
            {"secret/locked/child", Operation::kRead, true},
            {"secret/lockedx", Operation::kRead, true}});
  // ... and the exact rule decides alone: no fallback to a broader grant.
  RunTable({R"(path "secret/*" { capabilities = ["read", "update"] }
               path "secret/exact" { capabilities = ["update"] })"},
           {{"secret/exact", Operation::kRead, false}, {"secret/exact", Operation::kUpdate, true}});
}

TEST(AclMatch, ListUsesExactPathWithoutTrailingSlash) {
  RunTable({R"(path "secret/dir" { capabilities = ["list"] })"},
           {{"secret/dir/", Operation::kList, true},
            {"secret/dir", Operation::kList, true},
            {"secret/dir/", Operation::kRead, false}});
}

TEST(AclMatch, ListDoesNotSeePastMoreSpecificDeny) {
  RunTable({R"(path "secret/*" { capabilities = ["read", "list"] })",
            R"(path "secret/private/*" { capabilities = ["deny"] })"},
           {{"secret/", Operation::kList, true},
            {"secret/private/", Operation::kList, false},
            {"secret/private/sub/", Operation::kList, false},
            {"secret/private/x", Operation::kRead, false},
            {"secret/privatex/", Operation::kList, true}});
  RunTable({R"(path "secret/metadata/*" { capabilities = ["list"] }
               path "secret/metadata/team-b" { capabilities = ["deny"] })"},
           {{"secret/metadata/team-b/", Operation::kList, false},
            {"secret/metadata/team-a/", Operation::kList, true}});
}

TEST(AclMatch, PlusMatchesExactlyOneSegment) {
  RunTable({R"(path "secret/+/teamb" { capabilities = ["read"] })"},
           {{"secret/foo/teamb", Operation::kRead, true},
            {"secret/bar/teamb", Operation::kRead, true},
            {"secret/teamb", Operation::kRead, false},
            {"secret/a/b/teamb", Operation::kRead, false},
            {"secret/foo/teamb/x", Operation::kRead, false},
            {"secret//teamb", Operation::kRead, true}});  // an empty segment is a segment (core cleans paths first)
  RunTable({R"(path "secret/+/+/x" { capabilities = ["read"] })"},
           {{"secret/a/b/x", Operation::kRead, true}, {"secret/a/x", Operation::kRead, false}});
  RunTable({R"(path "+/data/x" { capabilities = ["read"] })", R"(path "+" { capabilities = ["list"] })"},
           {{"kv/data/x", Operation::kRead, true},
            {"anything", Operation::kList, true},
            {"a/b", Operation::kList, false}});
}

TEST(AclMatch, PlusWithTrailingGlob) {
  RunTable({R"(path "secret/+/team*" { capabilities = ["read"] })"},
           {{"secret/a/team", Operation::kRead, true},
            {"secret/a/teamb", Operation::kRead, true},
            {"secret/a/teamb/deeper", Operation::kRead, true},
            {"secret/a/tea", Operation::kRead, false},
            {"secret/team", Operation::kRead, false}});
}

// Priority rule 1: the pattern whose first wildcard/glob comes later wins.
TEST(AclPrecedence, LaterFirstWildcardWins) {
  RunTable({R"(path "secret/+/bar/baz" { capabilities = ["read"] }
               path "secret/foo/+/baz" { capabilities = ["deny"] })"},
           {{"secret/foo/bar/baz", Operation::kRead, false}});
  RunTable({R"(path "secret/+/bar/baz" { capabilities = ["deny"] }
               path "secret/foo/+/baz" { capabilities = ["read"] })"},
           {{"secret/foo/bar/baz", Operation::kRead, true}});
  // A glob later than the '+' wins over the '+' pattern: foo/a* beats foo/+.
  RunTable({R"(path "foo/a*" { capabilities = ["read"] } path "foo/+" { capabilities = ["deny"] })"},
           {{"foo/abc", Operation::kRead, true}, {"foo/xyz", Operation::kRead, false}});
}

// Priority rule 2: with the first wildcard at the same place, a non-glob pattern wins.
TEST(AclPrecedence, NonPrefixBeatsPrefix) {
  RunTable({R"(path "foo/+/bar" { capabilities = ["read"] } path "foo/+/ba*" { capabilities = ["deny"] })"},
           {{"foo/x/bar", Operation::kRead, true}, {"foo/x/baz", Operation::kRead, false}});
  // foo/+ over foo/*: both have their wildcard at index 4.
  RunTable({R"(path "foo/+" { capabilities = ["read"] } path "foo/*" { capabilities = ["deny"] })"},
           {{"foo/x", Operation::kRead, true}, {"foo/x/y", Operation::kRead, false}});
}

// Priority rule 3: fewer '+' segments win.
TEST(AclPrecedence, FewerWildcardsWin) {
  RunTable({R"(path "foo/+/bar/+" { capabilities = ["read"] } path "foo/+/+/baz" { capabilities = ["deny"] })"},
           {{"foo/a/bar/baz", Operation::kRead, true}});
  RunTable({R"(path "foo/+/bar/+" { capabilities = ["deny"] } path "foo/+/+/baz" { capabilities = ["read"] })"},
           {{"foo/a/bar/baz", Operation::kRead, false}});
}

// Priority rule 4: the longer pattern wins.
TEST(AclPrecedence, LongerWins) {
  RunTable({R"(path "foo/+/bar/ba*" { capabilities = ["read"] } path "foo/+/bar/b*" { capabilities = ["deny"] })"},
           {{"foo/x/bar/baz", Operation::kRead, true}, {"foo/x/bar/bz", Operation::kRead, false}});
}

// Priority rule 5: lexicographically larger wins (only reachable for equal-length patterns).
TEST(AclPrecedence, LexicographicTieBreak) {
  RunTable({R"(path "foo/+/a*" { capabilities = ["deny"] } path "foo/+/+" { capabilities = ["read"] })"},
           // first wildcard equal (4); "foo/+/a*" is a prefix pattern -> "foo/+/+" wins rule 2.
           {{"foo/x/abc", Operation::kRead, true}});
  RunTable({R"(path "x/+/b" { capabilities = ["deny"] } path "x/+/+" { capabilities = ["read"] })"},
           {{"x/a/b", Operation::kRead, false}});  // fewer '+' wins before length/lexicographic
}

TEST(AclPrecedence, PlusVersusLongestGlob) {
  // secret/+/x (first wildcard at 7) vs secret/foo/* (glob at 11): the glob wins.
  RunTable({R"(path "secret/+/x" { capabilities = ["read"] } path "secret/foo/*" { capabilities = ["deny"] })"},
           {{"secret/foo/x", Operation::kRead, false}, {"secret/bar/x", Operation::kRead, true}});
  // secret/* (glob at 7) vs secret/+/x (wildcard at 7): equal; the non-prefix '+' wins.
  RunTable({R"(path "secret/*" { capabilities = ["deny"] } path "secret/+/x" { capabilities = ["read"] })"},
           {{"secret/foo/x", Operation::kRead, true}, {"secret/foo/y", Operation::kRead, false}});
}

// ---------------------------------------------------------------------------------------
// Merging across policies

TEST(AclMerge, CapabilitiesAreUnioned) {
  auto a = Build({R"(path "secret/x" { capabilities = ["read"] })", R"(path "secret/x" { capabilities = ["update"] })"});
  EXPECT_TRUE(a->Allow(Operation::kRead, "secret/x", json::object()).allowed);
  EXPECT_TRUE(a->Allow(Operation::kUpdate, "secret/x", json::object()).allowed);
  EXPECT_EQ(Caps(*a, "secret/x"), "read,update");
}

TEST(AclMerge, DenyWinsRegardlessOfOrder) {
  for (bool deny_first : {true, false}) {
    std::string allow = R"(path "secret/*" { capabilities = ["read", "list", "sudo"] })";
    std::string deny = R"(path "secret/*" { capabilities = ["deny"] })";
    auto a = deny_first ? Build({deny, allow}) : Build({allow, deny});
    EXPECT_FALSE(a->Allow(Operation::kRead, "secret/x", json::object()).allowed);
    EXPECT_FALSE(a->Allow(Operation::kRead, "secret/x", json::object()).sudo);
    EXPECT_EQ(Caps(*a, "secret/x"), "deny");
  }
}

TEST(AclMerge, DifferentPatternsDoNotMerge) {
  // The most specific pattern decides even if a broader one in another policy grants more.
  auto a = Build({R"(path "secret/*" { capabilities = ["read", "update"] })",
                  R"(path "secret/app/*" { capabilities = ["read"] })"});
  EXPECT_FALSE(a->Allow(Operation::kUpdate, "secret/app/x", json::object()).allowed);
  EXPECT_TRUE(a->Allow(Operation::kUpdate, "secret/other", json::object()).allowed);
}

TEST(AclMerge, ParameterListsCombine) {
  auto a = Build({R"(path "p" { capabilities = ["update"] allowed_parameters = { "color" = ["red"] } })",
                  R"(path "p" { capabilities = ["update"] allowed_parameters = { "color" = ["blue"] } })"});
  EXPECT_TRUE(a->Allow(Operation::kUpdate, "p", {{"color", "red"}}).allowed);
  EXPECT_TRUE(a->Allow(Operation::kUpdate, "p", {{"color", "blue"}}).allowed);
  EXPECT_FALSE(a->Allow(Operation::kUpdate, "p", {{"color", "green"}}).allowed);
  // An empty list (any value) absorbs the other policy's list.
  auto b = Build({R"(path "p" { capabilities = ["update"] allowed_parameters = { "color" = ["red"] } })",
                  R"(path "p" { capabilities = ["update"] allowed_parameters = { "color" = [] } })"});
  EXPECT_TRUE(b->Allow(Operation::kUpdate, "p", {{"color", "green"}}).allowed);
}

TEST(AclRoot, RootPolicyAllowsEverything) {
  auto a = Acl::Build({std::make_shared<const Policy>(Policy{"root", "", {}})});
  auto d = a->Allow(Operation::kDelete, "sys/anything", json::object());
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.sudo);
  EXPECT_EQ(Caps(*a, "x"), "root");
}

// ---------------------------------------------------------------------------------------
// Parameter constraints

TEST(AclParams, AllowedDeniedRequired) {
  auto a = Build({R"(
path "secret/allowed" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = { "foo" = [] "bar" = ["zip", "zap*", "*-suffix", 7, true] }
}
path "secret/denied" {
  capabilities = ["create", "update"]
  denied_parameters = { "secret" = [] "color" = ["red", "*ish"] }
}
path "secret/deny-all" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
path "secret/allow-all-but" {
  capabilities = ["update"]
  allowed_parameters = { "*" = [] "mode" = ["safe"] }
}
path "secret/required" {
  capabilities = ["update"]
  required_parameters = ["Name", "id"]
}
path "secret/list-only" {
  capabilities = ["list", "delete"]
  allowed_parameters = { "x" = ["1"] }
}
)"});
  struct Case {
    const char* path;
    Operation op;
    json data;
    bool allowed;
  } cases[] = {
      {"secret/allowed", Operation::kUpdate, json::object(), true},
      {"secret/allowed", Operation::kUpdate, {{"foo", "anything"}}, true},
      {"secret/allowed", Operation::kUpdate, {{"FOO", "anything"}}, true},  // names are case-insensitive
      {"secret/allowed", Operation::kUpdate, {{"bar", "zip"}}, true},
      {"secret/allowed", Operation::kUpdate, {{"bar", "zap-123"}}, true},
      {"secret/allowed", Operation::kUpdate, {{"bar", "x-suffix"}}, true},
      {"secret/allowed", Operation::kUpdate, {{"bar", 7}}, true},
      {"secret/allowed", Operation::kUpdate, {{"bar", true}}, true},
      {"secret/allowed", Operation::kUpdate, {{"bar", "zipper"}}, false},
      {"secret/allowed", Operation::kUpdate, {{"bar", 8}}, false},
      {"secret/allowed", Operation::kUpdate, {{"bar", json::array({"zip", "zap"})}}, true},
      {"secret/allowed", Operation::kUpdate, {{"bar", json::array({"zip", "nope"})}}, false},
      {"secret/allowed", Operation::kUpdate, {{"bar", "zip,zap1"}}, true},
      {"secret/allowed", Operation::kUpdate, {{"other", "x"}}, false},
      {"secret/allowed", Operation::kCreate, {{"foo", 1}, {"other", 2}}, false},
      {"secret/allowed", Operation::kRead, {{"other", 1}}, false},  // reads are checked too (query params)
      {"secret/denied", Operation::kUpdate, {{"secret", "x"}}, false},
      {"secret/denied", Operation::kUpdate, {{"color", "red"}}, false},
      {"secret/denied", Operation::kUpdate, {{"color", "reddish"}}, false},
      {"secret/denied", Operation::kUpdate, {{"color", "blue,red"}}, false},
      {"secret/denied", Operation::kUpdate, {{"color", json::array({"blue", "red"})}}, false},
      {"secret/denied", Operation::kUpdate, {{"color", "blue"}}, true},
      {"secret/denied", Operation::kUpdate, {{"other", "x"}}, true},
      {"secret/deny-all", Operation::kUpdate, {{"a", 1}}, false},
      {"secret/deny-all", Operation::kUpdate, json::object(), true},
      {"secret/allow-all-but", Operation::kUpdate, {{"whatever", 1}}, true},
      {"secret/allow-all-but", Operation::kUpdate, {{"mode", "safe"}}, true},
      {"secret/allow-all-but", Operation::kUpdate, {{"mode", "unsafe"}}, false},
      {"secret/required", Operation::kUpdate, {{"name", "a"}, {"id", 1}}, true},
      {"secret/required", Operation::kUpdate, {{"name", "a"}}, false},
      {"secret/required", Operation::kUpdate, json::object(), false},
      {"secret/list-only", Operation::kList, {{"y", "2"}}, true},   // list is not parameter-checked
      {"secret/list-only", Operation::kDelete, {{"y", "2"}}, true},  // nor delete
  };
  for (const auto& c : cases) {
    EXPECT_EQ(a->Allow(c.op, c.path, c.data).allowed, c.allowed)
        << logical::OperationName(c.op) << " " << c.path << " " << c.data.dump();
  }
}

TEST(AclParams, WrappingTtlBounds) {
  auto a = Build({R"(path "w" { capabilities = ["update"] min_wrapping_ttl = "1m" max_wrapping_ttl = "1h" })"});
  EXPECT_FALSE(a->Allow(Operation::kUpdate, "w", json::object(), 0).allowed);  // must be wrapped
  EXPECT_FALSE(a->Allow(Operation::kUpdate, "w", json::object(), 30).allowed);
  EXPECT_TRUE(a->Allow(Operation::kUpdate, "w", json::object(), 600).allowed);
  EXPECT_FALSE(a->Allow(Operation::kUpdate, "w", json::object(), 7200).allowed);
}

TEST(AclCaps, ReportedSortedAndSudo) {
  auto a = Build({R"(path "sys/mounts/*" { capabilities = ["update", "sudo", "read", "create", "list", "delete", "patch"] })"});
  EXPECT_EQ(Caps(*a, "sys/mounts/x"), "create,delete,list,patch,read,sudo,update");
  EXPECT_TRUE(a->Allow(Operation::kUpdate, "sys/mounts/x", json::object()).sudo);
  EXPECT_EQ(Caps(*a, "sys/other"), "deny");
}

TEST(GlobbedStrings, Match) {
  EXPECT_TRUE(GlobbedStringsMatch("abc", "abc"));
  EXPECT_FALSE(GlobbedStringsMatch("abc", "abcd"));
  EXPECT_TRUE(GlobbedStringsMatch("ab*", "abcd"));
  EXPECT_TRUE(GlobbedStringsMatch("*cd", "abcd"));
  EXPECT_FALSE(GlobbedStringsMatch("*cd", "d"));
  EXPECT_TRUE(GlobbedStringsMatch("*bc*", "abcd"));
  EXPECT_TRUE(GlobbedStringsMatch("*", "*"));
  EXPECT_FALSE(GlobbedStringsMatch("*", "x"));
}

// ---------------------------------------------------------------------------------------
// PolicyStore

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Load().ok()); }
  InmemStorage storage_;
  PolicyStore store_{&storage_};
};

TEST_F(PolicyStoreTest, DefaultPolicyExistsAndGrantsSelfService) {
  auto names = store_.List();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"default"});
  auto d = store_.Check({"default"}, Operation::kRead, "auth/token/lookup-self", json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->allowed);
  EXPECT_TRUE(store_.Check({"default"}, Operation::kCreate, "cubbyhole/x", json::object())->allowed);
  EXPECT_FALSE(store_.Check({"default"}, Operation::kRead, "secret/data/x", json::object())->allowed);
  EXPECT_FALSE(store_.Delete("default").ok());
  EXPECT_TRUE(store_.Set("default", R"(path "x" { capabilities = ["read"] })").ok());  // editable
}

TEST_F(PolicyStoreTest, RootIsBuiltInAndImmutable) {
  EXPECT_EQ(store_.Set("root", "").message(), "cannot update \"root\" policy");
  EXPECT_EQ(store_.Set("Root", "").message(), "cannot update \"root\" policy");
  EXPECT_EQ(store_.Delete("ROOT").message(), "cannot delete \"root\" policy");
  EXPECT_FALSE(store_.Set(" root", R"(path "*" { capabilities = ["sudo"] })").ok());
  auto r = store_.Get("root");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->raw, "");
  EXPECT_TRUE(store_.Check({"root"}, Operation::kDelete, "sys/x", json::object())->allowed);
  // Names that merely look like root are ordinary (absent) policies.
  EXPECT_FALSE(store_.Check({" root"}, Operation::kRead, "secret/x", json::object())->allowed);
  EXPECT_FALSE(store_.Check({"Root"}, Operation::kRead, "secret/x", json::object())->allowed);
  EXPECT_EQ(store_.Capabilities({"rooT"}, "secret/x").value(), std::vector<std::string>{"deny"});
}

TEST_F(PolicyStoreTest, CrudNamesAreLowercasedAndCacheInvalidated) {
  ASSERT_TRUE(store_.Set("MyPol", R"(path "secret/*" { capabilities = ["read"] })").ok());
  EXPECT_TRUE(store_.Check({"mypol"}, Operation::kRead, "secret/x", json::object())->allowed);
  auto g = store_.Get("MYPOL");
  ASSERT_TRUE(g.ok() && *g);
  EXPECT_EQ((*g)->name, "mypol");
  // Rewrite: the cached ACL for {"mypol"} must not survive.
  ASSERT_TRUE(store_.Set("mypol", R"(path "secret/*" { capabilities = ["deny"] })").ok());
  EXPECT_FALSE(store_.Check({"mypol"}, Operation::kRead, "secret/x", json::object())->allowed);
  ASSERT_TRUE(store_.Set("mypol", R"(path "secret/*" { capabilities = ["list"] })").ok());
  EXPECT_TRUE(store_.Check({"mypol", "default"}, Operation::kList, "secret/", json::object())->allowed);
  ASSERT_TRUE(store_.Delete("mypol").ok());
  EXPECT_FALSE(store_.Check({"mypol", "default"}, Operation::kList, "secret/", json::object())->allowed);
  auto gone = store_.Get("mypol");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
  EXPECT_TRUE(store_.Delete("never-existed").ok());
  // An invalid policy is refused and leaves nothing behind.
  EXPECT_FALSE(store_.Set("bad", R"(path "x" { capabilities = ["nope"] })").ok());
  EXPECT_EQ(store_.List().value(), std::vector<std::string>{"default"});
}

TEST_F(PolicyStoreTest, PolicyWrittenBehindTheCacheIsSeenAfterReload) {
  ASSERT_TRUE(store_.Check({"late"}, Operation::kRead, "a", json::object()).ok());  // caches "absent"
  ASSERT_TRUE(storage_.Put("late", json({{"name", "late"}, {"raw", R"(path "a" { capabilities = ["read"] })"}}).dump()).ok());
  EXPECT_FALSE(store_.Check({"late"}, Operation::kRead, "a", json::object())->allowed);
  ASSERT_TRUE(store_.Load().ok());
  EXPECT_TRUE(store_.Check({"late"}, Operation::kRead, "a", json::object())->allowed);
}

TEST_F(PolicyStoreTest, CachedAclIsShared) {
  ASSERT_TRUE(store_.Set("a", R"(path "x" { capabilities = ["read"] })").ok());
  auto x = store_.AclFor({"a", "default"});
  auto y = store_.AclFor({"default", "a", "a"});
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(x->get(), y->get());
}

}  // namespace
}  // namespace tresor::acl
