#include <gtest/gtest.h>

#include "hcl/hcl.h"

namespace tresor::hcl {
namespace {

Body MustParse(std::string_view text, std::string_view file = "") {
  auto r = Parse(text, file);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : Body{};
}

std::string ParseError(std::string_view text, std::string_view file = "") {
  auto r = Parse(text, file);
  EXPECT_FALSE(r.ok()) << "parsed unexpectedly: " << text;
  return r.ok() ? "" : r.status().message();
}

TEST(Hcl, AttributesOfEveryScalarType) {
  Body b = MustParse(R"(
a = "str"
b = 42
c = -7
d = 1.5
e = true
f = false
g = 0x1F
h = 1e3
"quoted key" = "v"
)");
  ASSERT_EQ(b.attributes.size(), 9u);
  EXPECT_EQ(b.Attr("a")->value.string_value, "str");
  EXPECT_EQ(b.Attr("b")->value.int_value, 42);
  EXPECT_TRUE(b.Attr("b")->value.is_int());
  EXPECT_EQ(b.Attr("c")->value.int_value, -7);
  EXPECT_TRUE(b.Attr("d")->value.is_float());
  EXPECT_DOUBLE_EQ(b.Attr("d")->value.float_value, 1.5);
  EXPECT_TRUE(b.Attr("e")->value.bool_value);
  EXPECT_TRUE(b.Attr("f")->value.is_bool());
  EXPECT_FALSE(b.Attr("f")->value.bool_value);
  EXPECT_EQ(b.Attr("g")->value.int_value, 31);
  EXPECT_DOUBLE_EQ(b.Attr("h")->value.float_value, 1000.0);
  EXPECT_EQ(b.Attr("quoted key")->value.string_value, "v");
  EXPECT_EQ(b.Attr("missing"), nullptr);
  // Positions: key at line 2 col 1, value at col 5.
  EXPECT_EQ(b.attributes[0].pos.line, 2);
  EXPECT_EQ(b.attributes[0].pos.column, 1);
  EXPECT_EQ(b.attributes[0].value.pos.column, 5);
  EXPECT_EQ(b.attributes[0].pos.ToString(), "<input>:2:1");
}

TEST(Hcl, StringEscapes) {
  Body b = MustParse(R"(s = "a\"b\\c\nd\te\u00e9\x41\101\/${var.x} and ${f("y")}")");
  EXPECT_EQ(b.Attr("s")->value.string_value, "a\"b\\c\nd\te\xC3\xA9" "AA/${var.x} and ${f(\"y\")}");
  Body u = MustParse(R"(s = "\U0001F600")");
  EXPECT_EQ(u.Attr("s")->value.string_value, "\xF0\x9F\x98\x80");
}

TEST(Hcl, Heredocs) {
  Body b = MustParse("a = <<EOF\nline one\n  line two\nEOF\nb = 1\n");
  EXPECT_EQ(b.Attr("a")->value.string_value, "line one\n  line two\n");
  EXPECT_EQ(b.Attr("b")->value.int_value, 1);

  Body c = MustParse("x {\n  p = <<-EOT\n    {\n      \"k\": 1\n    }\n    EOT\n}\n");
  auto blocks = c.BlocksOf("x", 0);
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ((*blocks)[0].content().Attr("p")->value.string_value, "{\n  \"k\": 1\n}\n");

  // Not every line indented as much as the marker: kept as written.
  Body d = MustParse("p = <<-EOT\n  a\n b\n  EOT\n");
  EXPECT_EQ(d.Attr("p")->value.string_value, "  a\n b\n");
  // An empty heredoc.
  Body e = MustParse("p = <<EOF\nEOF\n");
  EXPECT_EQ(e.Attr("p")->value.string_value, "");
}

TEST(Hcl, ListsAndObjects) {
  Body b = MustParse(R"(
l = ["a", 1, true,]
empty = []
nested = [[1, 2], ["x"]]
multi = [
  "read",
  "list",
]
obj = { a = 1, b = "x" }
objs = [{ a = 1 }, { a = 2 }]
)");
  const Value& l = b.Attr("l")->value;
  ASSERT_TRUE(l.is_list());
  ASSERT_EQ(l.list.size(), 3u);
  EXPECT_EQ(l.list[0].string_value, "a");
  EXPECT_EQ(l.list[1].int_value, 1);
  EXPECT_TRUE(l.list[2].bool_value);
  EXPECT_TRUE(b.Attr("empty")->value.list.empty());
  EXPECT_EQ(b.Attr("nested")->value.list[0].list[1].int_value, 2);
  EXPECT_EQ(b.Attr("multi")->value.list.size(), 2u);
  // Object values are not plain attributes; they are read as blocks.
  EXPECT_EQ(b.Attr("obj"), nullptr);
  auto obj = b.BlocksOf("obj", 0);
  ASSERT_TRUE(obj.ok());
  ASSERT_EQ(obj->size(), 1u);
  EXPECT_EQ((*obj)[0].content().Attr("a")->value.int_value, 1);
  EXPECT_EQ((*obj)[0].content().Attr("b")->value.string_value, "x");
  auto objs = b.BlocksOf("objs", 0);
  ASSERT_TRUE(objs.ok());
  ASSERT_EQ(objs->size(), 2u);
  EXPECT_EQ((*objs)[1].content().Attr("a")->value.int_value, 2);
}

TEST(Hcl, Comments) {
  Body b = MustParse(R"(
# hash comment
a = 1 // trailing
/* block
   comment */ b = 2
c = "# not a comment"
)");
  EXPECT_EQ(b.attributes.size(), 3u);
  EXPECT_EQ(b.Attr("b")->value.int_value, 2);
  EXPECT_EQ(b.Attr("c")->value.string_value, "# not a comment");
}

TEST(Hcl, BlocksWithLabelsAndRepeats) {
  Body b = MustParse(R"(
listener "tcp" {
  address = "[::]:8200"
}
listener "tcp" {
  address = "[::]:8300"
}
storage "raft" {
  path = "/vault/data"
  retry_join { leader_api_addr = "http://a:8200" }
  retry_join {
    leader_api_addr = "http://b:8200"
  }
}
service_registration "kubernetes" {}
telemetry {}
multi "a" b "c" { x = 1 }
)");
  ASSERT_EQ(b.blocks.size(), 6u);
  auto ls = b.BlocksOf("listener", 1);
  ASSERT_TRUE(ls.ok());
  ASSERT_EQ(ls->size(), 2u);
  EXPECT_EQ((*ls)[0].labels[0], "tcp");
  EXPECT_EQ((*ls)[1].content().Attr("address")->value.string_value, "[::]:8300");
  EXPECT_EQ((*ls)[1].pos.line, 5);
  auto st = b.BlocksOf("storage", 1);
  ASSERT_TRUE(st.ok());
  auto rj = (*st)[0].content().BlocksOf("retry_join", 0);
  ASSERT_TRUE(rj.ok());
  ASSERT_EQ(rj->size(), 2u);
  EXPECT_EQ((*rj)[1].content().Attr("leader_api_addr")->value.string_value, "http://b:8200");
  auto sr = b.BlocksOf("service_registration", 1);
  ASSERT_TRUE(sr.ok());
  EXPECT_TRUE((*sr)[0].content().empty());
  EXPECT_EQ(b.blocks[5].labels, (std::vector<std::string>{"a", "b", "c"}));
  // Reshaping: too many labels nest, too few are an error for an empty body.
  auto m = b.BlocksOf("multi", 1);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0].labels, std::vector<std::string>{"a"});
  auto inner = (*m)[0].content().BlocksOf("b", 1);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ((*inner)[0].labels[0], "c");
  auto tel = b.BlocksOf("telemetry", 1);
  ASSERT_FALSE(tel.ok());
  EXPECT_EQ(tel.status().message(), "<input>:16:1: block \"telemetry\" needs 1 label");
}

TEST(Hcl, NestedObjectSpellingsAreEquivalent) {
  Body a = MustParse("listener \"tcp\" { address = \"x\" }");
  Body b = MustParse("listener { tcp { address = \"x\" } }");
  Body c = MustParse("listener = { tcp = { address = \"x\" } }");
  for (const Body* body : {&a, &b, &c}) {
    auto ls = body->BlocksOf("listener", 1);
    ASSERT_TRUE(ls.ok()) << ls.status().message();
    ASSERT_EQ(ls->size(), 1u);
    EXPECT_EQ((*ls)[0].labels[0], "tcp");
    EXPECT_EQ((*ls)[0].content().Attr("address")->value.string_value, "x");
  }
  Body bad = MustParse("listener { address = \"x\" }");
  EXPECT_FALSE(bad.BlocksOf("listener", 1).ok());
  Body scalar = MustParse("listener = 5");
  auto r = scalar.BlocksOf("listener", 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "<input>:1:1: \"listener\" must be a block, not a number");
}

TEST(Hcl, JsonPolicyFormMatchesHcl) {
  Body h = MustParse(R"(
path "secret/*" {
  capabilities = ["read", "list"]
}
path "sys/mounts" {
  capabilities = ["read"]
  allowed_parameters = { "ttl" = [] }
}
)");
  Body j = MustParse(R"({
  "path": {
    "secret/*": {"capabilities": ["read", "list"]},
    "sys/mounts": {"capabilities": ["read"], "allowed_parameters": {"ttl": []}}
  }
})");
  auto hp = h.BlocksOf("path", 1);
  auto jp = j.BlocksOf("path", 1);
  ASSERT_TRUE(hp.ok());
  ASSERT_TRUE(jp.ok()) << jp.status().message();
  ASSERT_EQ(hp->size(), 2u);
  ASSERT_EQ(jp->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*hp)[i].labels, (*jp)[i].labels);
    EXPECT_EQ(ToJson((*hp)[i].content()), ToJson((*jp)[i].content()));
  }
  auto ap = (*jp)[1].content().BlocksOf("allowed_parameters", 0);
  ASSERT_TRUE(ap.ok());
  EXPECT_TRUE((*ap)[0].content().Attr("ttl")->value.list.empty());
  EXPECT_EQ(ToJson(h), ToJson(MustParse(R"(path "secret/*" { capabilities = ["read", "list"] }
path "sys/mounts" {
  capabilities = ["read"]
  allowed_parameters = { "ttl" = [] }
})")));
}

TEST(Hcl, JsonConfigFormMatchesHcl) {
  Body h = MustParse(R"(
ui = true
listener "tcp" { address = "a" }
listener "tcp" { address = "b" }
storage "raft" {
  path = "/d"
  retry_join { leader_api_addr = "http://x" }
  retry_join { leader_api_addr = "http://y" }
}
)");
  const char* variants[] = {
      R"({"ui": true,
          "listener": [{"tcp": {"address": "a"}}, {"tcp": {"address": "b"}}],
          "storage": {"raft": {"path": "/d",
                      "retry_join": [{"leader_api_addr": "http://x"}, {"leader_api_addr": "http://y"}]}}})",
      R"({"ui": true,
          "listener": {"tcp": [{"address": "a"}, {"address": "b"}]},
          "storage": {"raft": {"path": "/d",
                      "retry_join": [{"leader_api_addr": "http://x"}, {"leader_api_addr": "http://y"}]}}})",
  };
  for (const char* text : variants) {
    Body j = MustParse(text, "c.json");
    EXPECT_TRUE(j.Attr("ui")->value.bool_value);
    auto hl = h.BlocksOf("listener", 1);
    auto jl = j.BlocksOf("listener", 1);
    ASSERT_TRUE(jl.ok()) << jl.status().message();
    ASSERT_EQ(jl->size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ((*jl)[i].labels, std::vector<std::string>{"tcp"});
      EXPECT_EQ(ToJson((*hl)[i].content()), ToJson((*jl)[i].content()));
    }
    auto js = j.BlocksOf("storage", 1);
    ASSERT_TRUE(js.ok());
    ASSERT_EQ(js->size(), 1u);
    EXPECT_EQ((*js)[0].labels[0], "raft");
    auto rj = (*js)[0].content().BlocksOf("retry_join", 0);
    ASSERT_TRUE(rj.ok());
    ASSERT_EQ(rj->size(), 2u);
    EXPECT_EQ((*rj)[1].content().Attr("leader_api_addr")->value.string_value, "http://y");
    EXPECT_EQ((*js)[0].pos.filename(), "c.json");
  }
  // A JSON body with only a nested empty object.
  Body k = MustParse(R"({"service_registration": {"kubernetes": {}}})");
  auto sr = k.BlocksOf("service_registration", 1);
  ASSERT_TRUE(sr.ok());
  EXPECT_EQ((*sr)[0].labels[0], "kubernetes");
}

TEST(Hcl, JsonScalars) {
  Body j = MustParse(R"({"a": null, "b": -1.25, "c": "\u00e9\ud83d\ude00", "d": [1, "x"], "e": [], "f": 7})");
  EXPECT_TRUE(j.Attr("a")->value.is_null());
  EXPECT_DOUBLE_EQ(j.Attr("b")->value.float_value, -1.25);
  EXPECT_EQ(j.Attr("c")->value.string_value, "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(j.Attr("d")->value.list.size(), 2u);
  EXPECT_TRUE(j.Attr("e")->value.is_list());
  EXPECT_EQ(j.Attr("f")->value.int_value, 7);
}

TEST(Hcl, ToJsonShape) {
  Body b = MustParse(R"(
a = 1
listener "tcp" { address = "x" }
listener "tcp" { address = "y" }
storage "raft" { path = "/p" }
)");
  nlohmann::json want = nlohmann::json::parse(R"({
    "a": 1,
    "listener": [{"tcp": {"address": "x"}}, {"tcp": {"address": "y"}}],
    "storage": {"raft": {"path": "/p"}}
  })");
  EXPECT_EQ(ToJson(b), want);
}

TEST(Hcl, EmptyDocuments) {
  EXPECT_TRUE(MustParse("").empty());
  EXPECT_TRUE(MustParse("# only a comment\n").empty());
  EXPECT_TRUE(MustParse("{}").empty());
}

TEST(HclErrors, UnterminatedString) {
  EXPECT_EQ(ParseError("a = 1\nb = \"abc\nc = 2\n", "f.hcl"), "f.hcl:2:5: unterminated string");
  EXPECT_EQ(ParseError("x = \"abc"), "<input>:1:5: unterminated string");
}

TEST(HclErrors, MissingEquals) {
  EXPECT_EQ(ParseError("listener \"tcp\" {\n  address \"x\"\n}\n", "c.hcl"),
            "c.hcl:2:11: expected '=' after key \"address\"");
  EXPECT_EQ(ParseError("ui true\n"), "<input>:1:4: expected '=' after key \"ui\"");
  EXPECT_EQ(ParseError("a = 1\nb\n"),
            "<input>:3:1: expected '=' or '{' after \"b\", found end of input");
  EXPECT_EQ(ParseError("a = \n"), "<input>:2:1: expected a value, found end of input");
}

TEST(HclErrors, UnbalancedBraces) {
  EXPECT_EQ(ParseError("storage \"raft\" {\n  path = \"/d\"\n", "c.hcl"),
            "c.hcl:1:16: unclosed '{': reached end of input");
  EXPECT_EQ(ParseError("a = 1\n}\n"), "<input>:2:1: unexpected '}'");
  EXPECT_EQ(ParseError("a = [1, 2\n"), "<input>:1:5: unclosed '[': reached end of input");
  EXPECT_EQ(ParseError("a = [1 2]\n"), "<input>:1:8: expected ',' or ']' in list, found number 2");
  EXPECT_EQ(ParseError("x {\n  y {\n  }\n"), "<input>:1:3: unclosed '{': reached end of input");
}

TEST(HclErrors, BadHeredoc) {
  EXPECT_EQ(ParseError("a = 1\np = <<EOF\nno end\n"),
            "<input>:2:5: unterminated heredoc: no closing \"EOF\" line");
  EXPECT_EQ(ParseError("p = << EOF\nx\nEOF\n"),
            "<input>:1:5: invalid heredoc: expected a marker after '<<'");
  EXPECT_EQ(ParseError("p = <<EOF x\nEOF\n"),
            "<input>:1:5: invalid heredoc: the marker must be followed by a newline");
}

TEST(HclErrors, OtherMalformedInput) {
  EXPECT_EQ(ParseError("a = \"\\q\"\n"), "<input>:1:6: invalid escape sequence in string");
  EXPECT_EQ(ParseError("a = 1\n/* open\n"), "<input>:2:1: unterminated comment");
  EXPECT_EQ(ParseError("a = @\n"), "<input>:1:5: unexpected character '@'");
  EXPECT_EQ(ParseError("a = yes\n"),
            "<input>:1:5: unexpected identifier \"yes\": strings must be quoted");
  EXPECT_EQ(ParseError("a = 99999999999999999999\n"),
            "<input>:1:5: number out of range: 99999999999999999999");
  // Columns count characters, not bytes.
  EXPECT_EQ(ParseError("a = \"\xC3\xA9\" @\n"), "<input>:1:9: unexpected character '@'");
}

TEST(HclErrors, Json) {
  EXPECT_EQ(ParseError("{\"a\": 1,\n \"b\" 2}", "p.json"),
            "p.json:2:6: expected ':' after object key \"b\", found number 2");
  EXPECT_EQ(ParseError("{\"a\": [1,\n"), "<input>:1:7: unclosed '[': reached end of input");
  EXPECT_EQ(ParseError("{\"a\": {\"b\": 1}\n"), "<input>:1:1: unclosed '{': reached end of input");
  EXPECT_EQ(ParseError("{\"a\": 1} x"),
            "<input>:1:10: unexpected identifier \"x\" after the JSON object");
  EXPECT_EQ(ParseError("{a: 1}"), "<input>:1:2: expected a quoted object key, found identifier \"a\"");
  EXPECT_EQ(ParseError("{\"a\": yes}"), "<input>:1:7: invalid JSON value identifier \"yes\"");
}

TEST(HclErrors, EveryPrefixFailsCleanly) {
  // Truncated documents of every length must parse or fail with a positioned error.
  const std::string docs[] = {
      "a = \"x\\ny\" # c\nl = [1, -2.5, 0x10, true]\nb \"l\" x {\n  h = <<-EOT\n    t\n    EOT\n"
      "  o = { k = \"v\", n = [{ z = 1 }] }\n}\n/* c */ // d\n",
      "{\"a\": [1, {\"b\": null}], \"c\": {\"d\": \"\\u00e9\\ud83d\\ude00\"}, \"e\": -1e3}",
  };
  for (const auto& doc : docs) {
    ASSERT_TRUE(Parse(doc).ok()) << doc;
    for (size_t n = 0; n < doc.size(); ++n) {
      auto r = Parse(std::string_view(doc).substr(0, n), "t");
      if (r.ok()) {
        (void)ToJson(*r);
      } else {
        EXPECT_EQ(r.status().message().rfind("t:", 0), 0u) << r.status().message();
      }
    }
  }
  EXPECT_EQ(ParseError("a = 0x\n"), "<input>:1:5: invalid number 0x");
  EXPECT_EQ(ParseError("a = -\n"), "<input>:1:5: unexpected character '-'");
}

TEST(HclErrors, NestingIsBounded) {
  std::string deep_list = "a = " + std::string(5000, '[') + std::string(5000, ']');
  EXPECT_NE(ParseError(deep_list).find("nesting too deep"), std::string::npos);
  std::string deep_blocks;
  for (int i = 0; i < 5000; ++i) deep_blocks += "b {";
  deep_blocks += std::string(5000, '}');
  EXPECT_NE(ParseError(deep_blocks).find("nesting too deep"), std::string::npos);
  std::string deep_json = std::string(5000, '[');
  deep_json = "{\"a\": " + deep_json + std::string(5000, ']') + "}";
  EXPECT_NE(ParseError(deep_json).find("nesting too deep"), std::string::npos);
  // Reasonable nesting is fine.
  std::string ok = "a = " + std::string(40, '[') + std::string(40, ']');
  EXPECT_TRUE(Parse(ok).ok());
}

}  // namespace
}  // namespace tresor::hcl
