// IP addresses and CIDR blocks for login bindings (token_bound_cidrs, secret_id_bound_cidrs,
// cidr_list). Accepts what Vault's parseutil.ParseAddrs accepts for these fields: a bare
// IPv4/IPv6 address (a single-host block) or "addr/prefix". IPv4-mapped IPv6 addresses
// ("::ffff:10.0.0.1", as a dual-stack listener reports IPv4 clients) compare as IPv4.
// Pure functions; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tresor::tokenutil {

struct IpAddr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // first 4 used for IPv4
};

struct CidrBlock {
  IpAddr net;  // as written; host bits are ignored when matching
  int prefix = 0;
};

std::optional<IpAddr> ParseIp(std::string_view s);
// InvalidRequest naming the bad value on failure.
Result<CidrBlock> ParseCidr(std::string_view s);
// Every entry parses (trimmed, empty entries dropped); returns the cleaned list.
Result<std::vector<std::string>> ValidateCidrs(const std::vector<std::string>& cidrs);

bool BlockContains(const CidrBlock& block, const IpAddr& ip);
// True if `remote_addr` (an IP, no port) lies in one of `cidrs`; false if it does not parse.
// An empty list allows everyone.
bool RemoteAddrAllowed(std::string_view remote_addr, const std::vector<std::string>& cidrs);
// True if every block of `inner` lies inside some block of `outer` (Vault's SubsetBlocks).
// Unparseable entries make it false.
bool CidrsSubset(const std::vector<std::string>& outer, const std::vector<std::string>& inner);

}  // namespace tresor::tokenutil
