#include "auth/tokenutil/cidr.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/strings.h"

namespace tresor::tokenutil {

std::optional<IpAddr> ParseIp(std::string_view s) {
  std::string str(TrimSpace(s));
  IpAddr ip;
  if (str.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, str.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    return ip;
  }
  if (inet_pton(AF_INET6, str.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, ip.bytes.begin())) {
    std::array<uint8_t, 16> v4{};
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.begin());
    ip.bytes = v4;
    return ip;
  }
  ip.v6 = true;
  return ip;
}

Result<CidrBlock> ParseCidr(std::string_view s) {
  std::string_view t = TrimSpace(s);
  auto bad = [&] { return Status::InvalidRequest("invalid CIDR block \"" + std::string(t) + "\""); };
  CidrBlock b;
  size_t slash = t.find('/');
  auto ip = ParseIp(t.substr(0, slash));
  if (!ip) return bad();
  b.net = *ip;
  int max = ip->v6 ? 128 : 32;
  if (slash == std::string_view::npos) {
    b.prefix = max;
    return b;
  }
  std::string_view p = t.substr(slash + 1);
  int prefix = -1;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || prefix < 0 || prefix > max) return bad();
  // "::ffff:10.0.0.0/104" style prefixes count the 96 mapped bits.
  if (!ip->v6 && t.substr(0, slash).find(':') != std::string_view::npos) {
    if (prefix < 96) return bad();
    prefix -= 96;
  }
  b.prefix = prefix;
  return b;
}

Result<std::vector<std::string>> ValidateCidrs(const std::vector<std::string>& cidrs) {
  std::vector<std::string> out;
  for (const auto& c : cidrs) {
    std::string t(TrimSpace(c));
    if (t.empty()) continue;
    RETURN_IF_ERROR(ParseCidr(t).status());
    out.push_back(t);
  }
  return out;
}

namespace {
bool PrefixEqual(const IpAddr& a, const IpAddr& b, int bits) {
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a.bytes[i] & mask) != (b.bytes[i] & mask)) return false;
  }
  return true;
}
}  // namespace

bool BlockContains(const CidrBlock& block, const IpAddr& ip) {
  if (block.net.v6 != ip.v6) return false;
  return PrefixEqual(block.net, ip, block.prefix);
}

bool RemoteAddrAllowed(std::string_view remote_addr, const std::vector<std::string>& cidrs) {
  if (cidrs.empty()) return true;
  auto ip = ParseIp(remote_addr);
  if (!ip) return false;
  for (const auto& c : cidrs) {
    auto b = ParseCidr(c);
    if (b.ok() && BlockContains(*b, *ip)) return true;
  }
  return false;
}

bool CidrsSubset(const std::vector<std::string>& outer, const std::vector<std::string>& inner) {
  for (const auto& in : inner) {
    auto ib = ParseCidr(in);
    if (!ib.ok()) return false;
    bool found = false;
    for (const auto& out : outer) {
      auto ob = ParseCidr(out);
      if (ob.ok() && ob->prefix <= ib->prefix && BlockContains(*ob, ib->net)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace tresor::tokenutil
