#include <unistd.h>

#include "common/version.h"
#include "core/ha.h"

namespace tresor::core {

nlohmann::ordered_json HaStatusNode(const std::string& hostname, const std::string& api_address,
                                    const std::string& cluster_address, bool active,
                                    const std::optional<std::string>& last_echo) {
  nlohmann::ordered_json o;
  o["hostname"] = hostname;
  o["api_address"] = api_address;
  o["cluster_address"] = cluster_address;
  o["active_node"] = active;
  o["last_echo"] = last_echo ? nlohmann::ordered_json(*last_echo) : nlohmann::ordered_json(nullptr);
  o["version"] = kVaultApiVersion;
  return o;
}

std::string LocalHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace tresor::core
