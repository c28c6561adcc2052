#include "common/encoding.h"

#include <array>
#include <cstdint>

namespace tresor {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Encode64(std::string_view in, const char* alphabet, bool pad) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t n = in.size();
  const size_t full = n / 3, rest = n % 3;
  std::string out(full * 4 + (rest == 0 ? 0 : pad ? 4 : rest + 1), '\0');
  char* o = out.data();
  for (size_t i = 0; i < full; ++i, p += 3) {
    uint32_t v = (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = alphabet[v & 63];
  }
  if (rest != 0) {
    uint32_t v = uint32_t(p[0]) << 16;
    if (rest == 2) v |= uint32_t(p[1]) << 8;
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    if (rest == 2) *o++ = alphabet[(v >> 6) & 63];
    if (pad) {
      *o++ = '=';
      if (rest == 1) *o++ = '=';
    }
  }
  return out;
}

// Maps a character to its 6-bit value in `alphabet`, or -1.
struct ReverseTable {
  explicit ReverseTable(const char* alphabet) {
    v.fill(-1);
    for (int i = 0; i < 64; ++i) v[uint8_t(alphabet[i])] = int8_t(i);
  }
  std::array<int8_t, 256> v;
};

std::optional<std::string> Decode64(std::string_view in, const ReverseTable& table, bool require_pad) {
  const auto& rev = table.v;
  size_t len = in.size();
  size_t pad = 0;
  while (len > 0 && in[len - 1] == '=') {
    --len;
    ++pad;
  }
  if (pad > 2) return std::nullopt;
  if (require_pad && in.size() % 4 != 0) return std::nullopt;
  if (pad > 0 && in.size() % 4 != 0) return std::nullopt;
  if (len % 4 == 1) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t quads = len / 4, tail = len % 4;
  std::string out(quads * 3 + (tail == 0 ? 0 : tail - 1), '\0');
  char* o = out.data();
  for (size_t i = 0; i < quads; ++i, p += 4) {
    int a = rev[p[0]], b = rev[p[1]], c = rev[p[2]], d = rev[p[3]];
    if ((a | b | c | d) < 0) return std::nullopt;
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6) | uint32_t(d);
    *o++ = char(v >> 16);
    *o++ = char(v >> 8);
    *o++ = char(v);
  }
  if (tail != 0) {
    int a = rev[p[0]], b = rev[p[1]], c = tail == 3 ? rev[p[2]] : 0;
    if ((a | b | c) < 0) return std::nullopt;
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c) << 6);
    *o++ = char(v >> 16);
    if (tail == 3) *o++ = char(v >> 8);
    // Leftover bits must be zero (a canonical encoding), so round trips are exact.
    if ((tail == 2 ? (v & 0xFFFF) : (v & 0xFF)) != 0) return std::nullopt;
  }
  return out;
}

const ReverseTable& StdTable() {
  static const ReverseTable t(kStd);
  return t;
}
const ReverseTable& UrlTable() {
  static const ReverseTable t(kUrl);
  return t;
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexVal(hex[i]), lo = HexVal(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += char((hi << 4) | lo);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) { return Encode64(bytes, kStd, true); }
std::string Base64UrlEncode(std::string_view bytes) { return Encode64(bytes, kUrl, false); }
std::optional<std::string> Base64Decode(std::string_view b64, bool allow_unpadded) {
  return Decode64(b64, StdTable(), !allow_unpadded);
}
std::optional<std::string> Base64UrlDecode(std::string_view b64) { return Decode64(b64, UrlTable(), false); }

}  // namespace tresor
