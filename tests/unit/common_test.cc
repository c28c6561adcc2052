#include <gtest/gtest.h>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/random.h"
#include "common/strings.h"

namespace tresor {

TEST(Encoding, HexRoundTrip) {
  EXPECT_EQ(HexEncode("\x01\xab\xff"), "01abff");
  EXPECT_EQ(*HexDecode("01ABff"), "\x01\xab\xff");
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(Encoding, Base64Rfc4648Vectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(Base64Encode(plain[i]), enc[i]);
    EXPECT_EQ(*Base64Decode(enc[i]), plain[i]);
  }
  EXPECT_FALSE(Base64Decode("Zm9vYg").has_value());
  EXPECT_EQ(*Base64Decode("Zm9vYg", true), "foob");
  EXPECT_FALSE(Base64Decode("Zm9v!!==").has_value());
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
}

TEST(Encoding, Base64RoundTripsEveryLengthAndRejectsNonCanonicalTails) {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    EXPECT_EQ(*Base64Decode(Base64Encode(bytes)), bytes) << n;
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(bytes)), bytes) << n;
    bytes += char(n * 37 + 11);
  }
  EXPECT_FALSE(Base64Decode("Zh==").has_value());  // leftover bits set
  EXPECT_FALSE(Base64Decode("Zm9=").has_value());
  EXPECT_FALSE(Base64Decode("Z===").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v=").has_value());
  EXPECT_FALSE(Base64Decode("Zm=v").has_value());
}

// The fast parser and writer must agree with nlohmann's own, value for value and byte for byte.
TEST(Json, ParseAndDumpMatchNlohmann) {
  const char* docs[] = {
      R"({})",
      R"({"a":1,"b":-2,"c":1.5,"d":"x","e":true,"f":null,"g":[1,"two",[3],{"k":false}]})",
      R"({"dup":1,"dup":2})",
      R"({"big":18446744073709551615,"neg":-9223372036854775808,"exp":1e3,"frac":0.1})",
      R"({"esc":"q\"b\\s\/\b\f\n\r\t\u0001\u001f\u007f","uni":"h\u00e9 \ud83d\ude00 Ã©","":""})",
      R"([1,2,3])",
      R"("just a string")",
      R"(  {"spaced" :  [ 1 , 2 ] }  )",
  };
  for (const char* d : docs) {
    auto want = nlohmann::json::parse(d);
    auto got = ParseJson(d);
    ASSERT_TRUE(got.has_value()) << d;
    EXPECT_EQ(*got, want) << d;
    EXPECT_EQ(got->dump(), want.dump()) << d;  // same number types, same key order
    EXPECT_EQ(DumpJson(want), want.dump()) << d;
    nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(d);
    EXPECT_EQ(DumpJson(ordered), ordered.dump()) << d;
  }
}

TEST(Json, RefusesWhatNlohmannRefuses) {
  const char* bad[] = {"", "{", R"({"a":})", R"({"a":1,})", "[1 2]", "{\"a\":\"\xff\"}", R"({"a":"\x"})", "nul",
                       R"({"a":1}x)"};
  for (const char* d : bad) {
    EXPECT_FALSE(ParseJson(d).has_value()) << d;
    EXPECT_TRUE(ParseJsonOrDiscarded(d).is_discarded()) << d;
  }
}

TEST(Json, EscapesFoundAtEveryOffsetOfLongStrings) {
  const std::string specials[] = {"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac"};
  for (const auto& sp : specials) {
    for (size_t pos = 0; pos < 24; ++pos) {
      std::string v(24, 'a');
      v.insert(pos, sp);
      nlohmann::json j = v;
      EXPECT_EQ(DumpJson(j), j.dump()) << pos;
    }
  }
}

TEST(Json, DepthLimit) {
  std::string deep;
  for (int i = 0; i < 10; ++i) deep += "[";
  for (int i = 0; i < 10; ++i) deep += "]";
  EXPECT_TRUE(ParseJson(deep, 10).has_value());
  EXPECT_FALSE(ParseJson(deep, 9).has_value());
}

TEST(Json, InvalidUtf8IsReplacedNotThrown) {
  nlohmann::json j = std::string("a\xff" "b\xc3");
  EXPECT_EQ(DumpJson(j), "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"");
  nlohmann::json ok = std::string("\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(DumpJson(ok), ok.dump());
  EXPECT_EQ(DumpJson(nlohmann::json(std::string("\xed\xa0\x80"))), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
}

TEST(Duration, ParsesGoAndSeconds) {
  EXPECT_EQ(*ParseDurationSeconds("3600"), 3600);
  EXPECT_EQ(*ParseDurationSeconds("10m"), 600);
  EXPECT_EQ(*ParseDurationSeconds("1h30m"), 5400);
  EXPECT_EQ(*ParseDurationSeconds("768h"), 2764800);
  EXPECT_EQ(*ParseDurationSeconds("1.5h"), 5400);
  EXPECT_FALSE(ParseDurationSeconds("ten").has_value());
  EXPECT_FALSE(ParseDurationSeconds("-5s").has_value());
  EXPECT_FALSE(ParseDurationSeconds("").has_value());
  EXPECT_EQ(*ParseDurationJson(nlohmann::json(42)), 42);
}

TEST(Duration, HumanisesLikeTheCli) {
  EXPECT_EQ(HumanDuration(0), "0s");
  EXPECT_EQ(HumanDuration(600), "10m");
  EXPECT_EQ(HumanDuration(3599), "59m59s");
  EXPECT_EQ(HumanDuration(3600), "1h");
  EXPECT_EQ(HumanDuration(2764800), "768h");
  EXPECT_EQ(HumanDuration(5400), "1h30m");
  EXPECT_EQ(GoDurationString(5400), "1h30m0s");
}

TEST(Duration, Rfc3339RoundTrip) {
  auto t = ParseRFC3339("2023-04-01T10:00:00.123456789Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatRFC3339Nano(*t), "2023-04-01T10:00:00.123456789Z");
  EXPECT_FALSE(ParseRFC3339("yesterday").has_value());
}

TEST(Random, Base62AndUuid) {
  std::string s = RandomBase62(24);
  EXPECT_EQ(s.size(), 24u);
  for (char c : s) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)));
  EXPECT_NE(RandomBase62(24), s);
  std::string u = NewUUID();
  EXPECT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
}

TEST(Strings, GenericName) {
  EXPECT_TRUE(IsGenericName("my-role.v1"));
  EXPECT_TRUE(IsGenericName("a"));
  EXPECT_FALSE(IsGenericName("-a"));
  EXPECT_FALSE(IsGenericName("a/b"));
  EXPECT_FALSE(IsGenericName(""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
}

}  // namespace tresor
