#include "http/url.h"

#include <algorithm>

namespace tresor::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes percent escapes; returns the offset of a bad '%' or npos on success.
std::size_t Unescape(std::string_view raw, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      int hi = i + 2 < raw.size() ? HexValue(raw[i + 1]) : -1;
      int lo = hi >= 0 ? HexValue(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) return i;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::string> DecodePath(std::string_view raw) {
  std::string out;
  if (raw.find('%') == std::string_view::npos) return std::string(raw);
  std::size_t bad = Unescape(raw, /*plus_is_space=*/false, &out);
  if (bad != std::string_view::npos) {
    std::string_view esc = raw.substr(bad, 3);
    return Status::InvalidRequest("invalid URL escape \"" + std::string(esc) + "\"");
  }
  return out;
}

bool DecodeQueryComponent(std::string_view raw, std::string* out) {
  return Unescape(raw, /*plus_is_space=*/true, out) == std::string_view::npos;
}

std::multimap<std::string, std::string> ParseQuery(std::string_view raw) {
  std::multimap<std::string, std::string> result;
  while (!raw.empty()) {
    std::size_t amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    std::size_t eq = pair.find('=');
    std::string key, value;
    if (!DecodeQueryComponent(pair.substr(0, eq), &key)) continue;
    if (eq != std::string_view::npos && !DecodeQueryComponent(pair.substr(eq + 1), &value)) continue;
    result.emplace(std::move(key), std::move(value));
  }
  return result;
}

Status SplitTarget(std::string_view target, std::string* raw_path, std::string* raw_query) {
  if (target == "*") {
    *raw_path = "*";
    raw_query->clear();
    return Status::Ok();
  }
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() &&
        std::equal(scheme.begin(), scheme.end(), target.begin(),
                   [](char a, char b) { return a == (b | 0x20); })) {
      target.remove_prefix(scheme.size());
      std::size_t slash = target.find_first_of("/?");
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.front() == '?') {
        *raw_path = "/";
        *raw_query = std::string(target.substr(1));
        return Status::Ok();
      }
      break;
    }
  }
  if (target.empty() || target.front() != '/') {
    return Status::InvalidRequest("invalid request target");
  }
  std::size_t q = target.find('?');
  *raw_path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) {
    raw_query->clear();
  } else {
    *raw_query = std::string(target.substr(q + 1));
  }
  return Status::Ok();
}

}  // namespace tresor::http
