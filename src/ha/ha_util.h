// Small HTTP helpers shared by the HA endpoint files (raft_ha.cc, autopilot.cc,
// snapshot_auto.cc, members.cc). Pure functions; any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/random.h"
#include "http/http_types.h"

namespace tresor::ha {

inline http::HttpResponse NoContent() {
  http::HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

// Vault's response envelope around `data`.
inline http::HttpResponse DataEnvelope(const nlohmann::ordered_json& data) {
  nlohmann::ordered_json j;
  j["request_id"] = NewUUID();
  j["lease_id"] = "";
  j["renewable"] = false;
  j["lease_duration"] = 0;
  j["data"] = data;
  j["wrap_info"] = nullptr;
  j["warnings"] = nullptr;
  j["auth"] = nullptr;
  http::HttpResponse r;
  r.body = j.dump();
  return r;
}

inline bool IsWrite(const std::string& m) { return m == "PUT" || m == "POST"; }

// "https://host:port" -> "host:port".
inline std::string HostPort(const std::string& url) {
  std::string s = url;
  auto p = s.find("://");
  if (p != std::string::npos) s = s.substr(p + 3);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace tresor::ha
