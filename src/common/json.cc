#include "common/json.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>

#include <simdjson.h>

namespace tresor {
namespace {

using nlohmann::json;

// Documents larger than this are parsed with a parser of their own, so a worker thread
// does not keep a huge buffer for the rest of its life after one big request.
constexpr size_t kReusableParserLimit = 1 << 20;

bool Convert(const simdjson::dom::element& el, json& out, int depth, int max_depth) {
  using simdjson::dom::element_type;
  switch (el.type()) {
    case element_type::OBJECT: {
      if (depth > max_depth) return false;
      out = json::object();
      auto& obj = out.get_ref<json::object_t&>();
      simdjson::dom::object fields;
      if (el.get_object().get(fields) != simdjson::SUCCESS) return false;
      for (simdjson::dom::key_value_pair field : fields) {
        // operator[] keeps the last of duplicate keys, as nlohmann's parser does.
        if (!Convert(field.value, obj[std::string(field.key)], depth + 1, max_depth)) return false;
      }
      return true;
    }
    case element_type::ARRAY: {
      if (depth > max_depth) return false;
      out = json::array();
      auto& arr = out.get_ref<json::array_t&>();
      simdjson::dom::array items;
      if (el.get_array().get(items) != simdjson::SUCCESS) return false;
      for (simdjson::dom::element child : items) {
        arr.emplace_back();
        if (!Convert(child, arr.back(), depth + 1, max_depth)) return false;
      }
      return true;
    }
    case element_type::INT64: {
      int64_t v = el.get_int64().value_unsafe();
      // nlohmann stores a number without a minus sign as unsigned.
      if (v >= 0) out = json::number_unsigned_t(v);
      else out = json::number_integer_t(v);
      return true;
    }
    case element_type::UINT64: out = json::number_unsigned_t(el.get_uint64().value_unsafe()); return true;
    case element_type::DOUBLE: out = el.get_double().value_unsafe(); return true;
    case element_type::STRING: {
      std::string_view s = el.get_string().value_unsafe();
      out = std::string(s);
      return true;
    }
    case element_type::BOOL: out = el.get_bool().value_unsafe(); return true;
    case element_type::NULL_VALUE: out = nullptr; return true;
  }
  return false;
}

constexpr char kHexDigits[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i] (i < n, s[i] >= 0x80), or 0.
size_t Utf8SequenceLength(const unsigned char* s, size_t i, size_t n) {
  unsigned char c = s[i];
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    unsigned char c1 = s[i + 1];
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    unsigned char c1 = s[i + 1];
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

template <class J>
void Append(std::string& out, const J& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: out += "null"; return;
    case nlohmann::json::value_t::boolean: out += v.template get<bool>() ? "true" : "false"; return;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: {
      char buf[24];
      auto res = v.type() == nlohmann::json::value_t::number_integer
                     ? std::to_chars(buf, buf + sizeof buf, v.template get<int64_t>())
                     : std::to_chars(buf, buf + sizeof buf, v.template get<uint64_t>());
      out.append(buf, res.ptr);
      return;
    }
    case nlohmann::json::value_t::number_float:
      out += v.dump();  // nlohmann's shortest round-trip form ("1.0", "2.5e-07")
      return;
    case nlohmann::json::value_t::string: AppendJsonString(out, v.template get_ref<const std::string&>()); return;
    case nlohmann::json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        Append(out, e);
      }
      out += ']';
      return;
    }
    case nlohmann::json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        AppendJsonString(out, it.key());
        out += ':';
        Append(out, it.value());
      }
      out += '}';
      return;
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      out += v.dump();
      return;
  }
}

}  // namespace

std::optional<json> ParseJson(std::string_view text, int max_depth) {
  thread_local simdjson::dom::parser reusable;
  std::unique_ptr<simdjson::dom::parser> own;
  simdjson::dom::parser* parser = &reusable;
  if (text.size() > kReusableParserLimit) {
    own = std::make_unique<simdjson::dom::parser>();
    parser = own.get();
  }
  simdjson::dom::element root;
  if (parser->parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root) != simdjson::SUCCESS)
    return std::nullopt;
  json out;
  if (!Convert(root, out, 1, max_depth)) return std::nullopt;
  return out;
}

json ParseJsonOrDiscarded(std::string_view text) {
  if (auto j = ParseJson(text, 10000)) return std::move(*j);
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// Whether any of the 8 bytes in `w` needs a closer look: a control character, '"', '\\'
// or a non-ASCII byte (classic SWAR byte tests).
inline bool AnySpecial(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto has_zero = [&](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) != 0;
}

void AppendJsonString(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out += '"';
  size_t run = 0;  // start of the pending span that needs no escaping
  size_t i = 0;
  while (i < n) {
    // Plain ASCII is most of every document (base64 above all): skip it 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (AnySpecial(w)) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = p[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (size_t len = Utf8SequenceLength(p, i, n)) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHexDigits[c >> 4];
          out += kHexDigits[c & 15];
        } else {
          out += "\xEF\xBF\xBD";  // an invalid UTF-8 byte becomes U+FFFD
        }
    }
    ++i;
    run = i;
  }
  out.append(s.data() + run, n - run);
  out += '"';
}

void AppendJson(std::string& out, const json& v) { Append(out, v); }
void AppendJson(std::string& out, const nlohmann::ordered_json& v) { Append(out, v); }

std::string DumpJson(const json& v) {
  std::string out;
  Append(out, v);
  return out;
}

std::string DumpJson(const nlohmann::ordered_json& v) {
  std::string out;
  Append(out, v);
  return out;
}

}  // namespace tresor
