#include "http/url.h"

#include <algorithm>
#include <vector>

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

std::string CleanPath(std::string_view p) {
  if (p.empty()) return "/";
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view seg = p.substr(i, j - i);
    if (seg.empty() || seg == ".") {
      // skip
    } else if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out;
  out.reserve(p.size() + 1);
  for (auto seg : parts) {
    out.push_back('/');
    out.append(seg);
  }
  if (out.empty()) return "/";
  if (p.back() == '/') out.push_back('/');
  return out;
}

std::string EscapePath(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                std::string_view("-_.~$&+,/:;=@").find(static_cast<char>(c)) != std::string_view::npos;
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace tresor::http
