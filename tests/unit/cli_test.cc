// Unit tests of the CLI's rendering rules and argument parsing (no server needed).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/base.h"
#include "cli/cli.h"
#include "cli/flags.h"
#include "cli/format.h"
#include "cli/kv_args.h"
#include "client/client.h"
#include "common/duration.h"

namespace tresor::cli {
namespace {

TEST(Columnize, Rules) {
  struct Case {
    std::vector<std::string> rows;
    std::string want;
  } cases[] = {
      {{"Key | Value", "Seal Type | shamir", "Unseal Nonce | "},
       "Key             Value\n"
       "---             -----\n"
       "Seal Type       shamir\n"
       "Unseal Nonce    n/a"},
      {{"Node | Address | State | Voter", "n1 | a:8201 | leader | true"},
       "Node    Address    State     Voter\n"
       "----    -------    -----     -----\n"
       "n1      a:8201     leader    true"},
      {{"Keys", "b", "a/"}, "Keys\n----\nb\na/"},
  };
  for (const auto& c : cases) EXPECT_EQ(TableOutput(c.rows, "|"), c.want);
  // Rows with fewer cells: the last cell of a row is never padded.
  EXPECT_EQ(Columnize({"a|bb|c", "aaaa"}, "|"), "a       bb    c\naaaa");
}

TEST(Columnize, StatusTableFromSpec) {
  std::vector<std::string> rows = {"Key | Value",           "Seal Type | shamir",
                                   "Initialized | false",   "Sealed | true",
                                   "Total Shares | 0",      "Threshold | 0",
                                   "Unseal Progress | 0/0", "Unseal Nonce | ",
                                   "Version | 1.13.1",      "Build Date | 2023-03-23T12:51:35Z",
                                   "Storage Type | raft",   "HA Enabled | true"};
  EXPECT_EQ(TableOutput(rows, "|"),
            "Key                Value\n"
            "---                -----\n"
            "Seal Type          shamir\n"
            "Initialized        false\n"
            "Sealed             true\n"
            "Total Shares       0\n"
            "Threshold          0\n"
            "Unseal Progress    0/0\n"
            "Unseal Nonce       n/a\n"
            "Version            1.13.1\n"
            "Build Date         2023-03-23T12:51:35Z\n"
            "Storage Type       raft\n"
            "HA Enabled         true");
}

TEST(TabWrite, ColumnsAreElasticPerRunOfLines) {
  // The b's and the d's sit in the second cell of their lines but in different column
  // blocks: the line between them has no second tab-terminated cell.
  EXPECT_EQ(TabWrite("a\tb\tc\naa\tbb\tcc\naaa\t\naaaa\tdddd\teeee\n", 0, 1),
            "a    b  c\naa   bb cc\naaa  \naaaa dddd eeee\n");
  // minimum width, and an empty cell still takes its column's width
  EXPECT_EQ(TabWrite(" ID\tx\n Version\t1\n\n a\t\tz", 8, 6), " ID           x\n Version      1\n\n a              z");
  EXPECT_EQ(TabWrite("no tabs\nat all", 8, 6), "no tabs\nat all");
}

TEST(HumanDuration, Table) {
  struct {
    int64_t secs;
    const char* want;
  } cases[] = {{0, "0s"},       {1, "1s"},         {600, "10m"},    {3599, "59m59s"},
               {3600, "1h"},    {2764800, "768h"}, {5400, "1h30m"}, {3601, "1h1s"},
               {86400, "24h"},  {90, "1m30s"}};
  for (const auto& c : cases) EXPECT_EQ(HumanDuration(c.secs), c.want) << c.secs;
  EXPECT_EQ(HumanDurationValue(Json(3600)), "1h");
  EXPECT_EQ(HumanDurationValue(Json("3600")), "3600");  // strings are not numbers in Go
  EXPECT_TRUE(LooksLikeDuration("ttl"));
  EXPECT_TRUE(LooksLikeDuration("token_max_ttl"));
  EXPECT_TRUE(LooksLikeDuration("period"));
  EXPECT_TRUE(LooksLikeDuration("lease_max"));
  EXPECT_FALSE(LooksLikeDuration("ttls"));
}

TEST(GoFormatting, QuoteAndValue) {
  EXPECT_EQ(GoQuoteList({}), "[]");
  EXPECT_EQ(GoQuoteList({"default", "dev"}), "[\"default\" \"dev\"]");
  EXPECT_EQ(GoQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\x01\"");
  EXPECT_EQ(GoValue(Json()), "<nil>");
  EXPECT_EQ(GoValue(Json::array({"a", "b"})), "[a b]");
  EXPECT_EQ(GoValue(Json::parse(R"({"b":1,"a":[true,"x"]})")), "map[a:[true x] b:1]");
  EXPECT_EQ(GoValue(Json(1.5)), "1.5");
  EXPECT_EQ(GoValue(Json(42)), "42");
}

TEST(GoFormatting, Json) {
  Json o = Json::object();
  o["b"] = "<x>&";
  o["a"] = Json::array();
  o["c"] = Json::object();
  o["d"] = Json::array({1, 2});
  o["e"] = nullptr;
  EXPECT_EQ(GoJson(o),
            "{\n  \"b\": \"\\u003cx\\u003e\\u0026\",\n  \"a\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n"
            "    2\n  ],\n  \"e\": null\n}");
}

TEST(GoFormatting, Yaml) {
  Json o = Json::parse(R"({"keys":["a","b"],"num":3,"s":"true","e":"","m":{"x":"y: z"},"l":[]})");
  EXPECT_EQ(GoYaml(o),
            "e: \"\"\nkeys:\n- a\n- b\nl: []\nm:\n  x: 'y: z'\nnum: 3\ns: \"true\"");
  EXPECT_EQ(GoYaml(Json::array({"a"})), "- a");
  EXPECT_EQ(GoYaml(Json{{"t", "2023-03-23T12:51:35Z"}, {"d", "2023-3-1x"}}),
            "d: 2023-3-1x\nt: \"2023-03-23T12:51:35Z\"");
}

TEST(Wrap, LoginParagraph) {
  EXPECT_EQ(WrapAtLength("Success! You are now authenticated. The token information displayed "
                         "below is already stored in the token helper. You do NOT need to run "
                         "\"vault login\" again. Future Vault requests will automatically use "
                         "this token."),
            "Success! You are now authenticated. The token information displayed below\n"
            "is already stored in the token helper. You do NOT need to run \"vault login\"\n"
            "again. Future Vault requests will automatically use this token.");
}

TEST(Wrap, InitParagraphs) {
  EXPECT_EQ(WrapAtLength("Vault initialized with 5 key shares and a key threshold of 3. Please "
                         "securely distribute the key shares printed above. When the Vault is "
                         "re-sealed, restarted, or stopped, you must supply at least 3 of these "
                         "keys to unseal it before it can start servicing requests."),
            "Vault initialized with 5 key shares and a key threshold of 3. Please securely\n"
            "distribute the key shares printed above. When the Vault is re-sealed,\n"
            "restarted, or stopped, you must supply at least 3 of these keys to unseal it\n"
            "before it can start servicing requests.");
  EXPECT_EQ(WrapAtLength("It is possible to generate new unseal keys, provided you have a quorum "
                         "of existing unseal keys shares. See \"vault operator rekey\" for more "
                         "information."),
            "It is possible to generate new unseal keys, provided you have a quorum of\n"
            "existing unseal keys shares. See \"vault operator rekey\" for more information.");
  EXPECT_EQ(WrapAtLength("* short warning", 2), "  * short warning");
  EXPECT_EQ(WrapText("", 10), "");
}

TEST(Flags, GoSemantics) {
  struct Case {
    std::vector<std::string> args;
    bool ok;
    std::string err;
    std::vector<std::string> rest;
  } cases[] = {
      {{"-n=3", "-t", "2", "x", "-f"}, true, "", {"x", "-f"}},
      {{"--n", "3", "--", "-t"}, true, "", {"-t"}},
      {{"-force", "-", "y"}, true, "", {"-", "y"}},
      {{"-force=false"}, true, "", {}},
      {{"-bogus"}, false, "flag provided but not defined: -bogus", {}},
      {{"-n"}, false, "flag needs an argument: -n", {}},
      {{"-n=x"}, false, "invalid value \"x\" for flag -n: parse error", {}},
      {{"-force=maybe"}, false, "invalid boolean value \"maybe\" for -force: parse error", {}},
      {{"---x"}, false, "bad flag syntax: ---x", {}},
  };
  for (const auto& c : cases) {
    FlagSet fs;
    int64_t n = 0, t = 0;
    bool force = false;
    fs.Int("key-shares", &n, {"n"});
    fs.Int("key-threshold", &t, {"t"});
    fs.Bool("force", &force, {"f"});
    auto r = fs.Parse(c.args);
    EXPECT_EQ(r.ok(), c.ok) << c.args[0];
    if (r.ok()) EXPECT_EQ(*r, c.rest);
    else EXPECT_EQ(r.status().message(), c.err);
  }
  FlagSet fs;
  int64_t secs = 0;
  fs.Duration("ttl", &secs);
  ASSERT_TRUE(fs.Parse({"-ttl=1h30m"}).ok());
  EXPECT_EQ(secs, 5400);
  EXPECT_TRUE(fs.IsSet("ttl"));
}

TEST(KeyValues, Parsing) {
  std::string path = ::testing::TempDir() + "/kv_args_file.txt";
  {
    std::ofstream f(path);
    f << "file-content";
  }
  std::istringstream in("stdin-value");
  auto r = ParseKeyValues({"a=1", "b=@" + path, "c=\\@lit", "d=-", "a=2", "e="}, &in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["a"], Json::array({"1", "2"}));
  EXPECT_EQ((*r)["b"], "file-content");
  EXPECT_EQ((*r)["c"], "@lit");
  EXPECT_EQ((*r)["d"], "stdin-value");
  EXPECT_EQ((*r)["e"], "");

  std::istringstream json_in(R"({"x": {"y": 1}, "n": 2})");
  auto j = ParseKeyValues({"-", "z=3"}, &json_in);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["x"]["y"], 1);
  EXPECT_EQ((*j)["z"], "3");

  std::istringstream twice("x");
  auto t = ParseKeyValues({"a=-", "b=-"}, &twice);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "stdin already consumed");

  auto bad = ParseKeyValues({"novalue"}, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "format must be key=value");

  auto q = ToQueryPairs(*r);
  EXPECT_EQ(client::EncodeQuery(q), "a=1&a=2&b=file-content&c=%40lit&d=stdin-value&e=");
}

TEST(ApiError, Formatting) {
  client::Response r;
  r.status = 400;
  r.method = "PUT";
  r.url = "http://127.0.0.1:8200/v1/sys/init";
  r.body = R"({"errors":["Vault is already initialized"]})";
  EXPECT_EQ(client::FormatApiError(r),
            "Error making API request.\n\nURL: PUT http://127.0.0.1:8200/v1/sys/init\n"
            "Code: 400. Errors:\n\n* Vault is already initialized");
  r.body = R"({"errors":["a","b"]})";
  EXPECT_TRUE(client::FormatApiError(r).ends_with("Errors:\n\n* a* b"));
  r.body = "not json";
  r.status = 502;
  EXPECT_EQ(client::FormatApiError(r),
            "Error making API request.\n\nURL: PUT http://127.0.0.1:8200/v1/sys/init\n"
            "Code: 502. Raw Message:\n\nnot json");
}

TEST(SecretTable, LoginShape) {
  Ui ui;
  CommandEnv env(ui);
  Secret s;
  s.auth = Json::parse(R"({"client_token":"hvs.abc","accessor":"acc","policies":["root"],
                           "token_policies":["root"],"identity_policies":null,"metadata":null,
                           "lease_duration":0,"renewable":false})");
  EXPECT_EQ(env.SecretTable(s),
            "Key                  Value\n"
            "---                  -----\n"
            "token                hvs.abc\n"
            "token_accessor       acc\n"
            "token_duration       \xE2\x88\x9E\n"
            "token_renewable      false\n"
            "token_policies       [\"root\"]\n"
            "identity_policies    []\n"
            "policies             [\"root\"]");
  Secret d;
  d.lease_duration = 2764800;
  d.data = Json::parse(R"({"ttl":3600,"foo":"bar","list":["a","b"],"empty":""})");
  EXPECT_EQ(env.SecretTable(d),
            "Key                 Value\n"
            "---                 -----\n"
            "refresh_interval    768h\n"
            "empty               n/a\n"
            "foo                 bar\n"
            "list                [a b]\n"
            "ttl                 1h");
  EXPECT_EQ(GoJson(d.ToJson()),
            "{\n  \"request_id\": \"\",\n  \"lease_id\": \"\",\n  \"lease_duration\": 2764800,\n"
            "  \"renewable\": false,\n  \"data\": {\n    \"empty\": \"\",\n    \"foo\": \"bar\",\n"
            "    \"list\": [\n      \"a\",\n      \"b\"\n    ],\n    \"ttl\": 3600\n  },\n"
            "  \"warnings\": null\n}");
}

TEST(Cli, VersionAndUsageErrors) {
  std::ostringstream out, err;
  Ui ui;
  ui.out = &out;
  ui.err = &err;
  EXPECT_EQ(RunWithUi({"version"}, ui), 0);
  EXPECT_EQ(out.str().rfind("Vault v1.13.1 (tresor ", 0), 0u);
  EXPECT_EQ(RunWithUi({"status", "extra"}, ui), 1);
  EXPECT_NE(err.str().find("Too many arguments (expected 0, got 1)"), std::string::npos);
  err.str("");
  EXPECT_EQ(RunWithUi({"write", "secret/x"}, ui), 1);
  EXPECT_EQ(err.str(), "Must supply data or use -force\n");
  err.str("");
  EXPECT_EQ(RunWithUi({"status", "-bogus"}, ui), 1);
  EXPECT_EQ(err.str(), "flag provided but not defined: -bogus\n");
}

TEST(Cli, UnreachableServer) {
  std::ostringstream out, err;
  Ui ui;
  ui.out = &out;
  ui.err = &err;
  setenv("VAULT_MAX_RETRIES", "0", 1);
  EXPECT_EQ(RunWithUi({"status", "-address=http://127.0.0.1:1"}, ui), 1);
  EXPECT_EQ(err.str(),
            "Error checking seal status: Get \"http://127.0.0.1:1/v1/sys/seal-status\": dial tcp "
            "127.0.0.1:1: connect: connection refused\n");
  unsetenv("VAULT_MAX_RETRIES");
}

}  // namespace
}  // namespace tresor::cli

#include "cli/kv_paths.h"

namespace tresor::cli {
namespace {

TEST(KvPaths, PrefixAndBanners) {
  EXPECT_EQ(AddPrefix("secret/foo", "secret/", "data"), "secret/data/foo");
  EXPECT_EQ(AddPrefix("secret/a/b", "secret/", "metadata"), "secret/metadata/a/b");
  EXPECT_EQ(AddPrefix("secret", "secret/", "metadata"), "secret/metadata");
  EXPECT_EQ(AddPrefix("team/kv/x", "team/kv/", "data"), "team/kv/data/x");
  EXPECT_EQ(PathJoin({"secret/", "", "data", "/x/"}), "secret/data/x");
  // The examples of Vault's `kv get` documentation.
  EXPECT_EQ(PadEqualSigns("Secret Path", std::string("secret/data/creds").size()), "== Secret Path ==");
  EXPECT_EQ(HeaderForMap("Metadata", Json{{"custom_metadata", nullptr}, {"version", 1}}),
            "======= Metadata =======");
  EXPECT_EQ(HeaderForMap("Data", Json{{"passcode", "x"}}), "====== Data ======");
  EXPECT_EQ(PadEqualSigns("X", 0), "== X ==");
}

}  // namespace
}  // namespace tresor::cli
