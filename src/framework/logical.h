// The logical request and response every backend (engine, auth method, sys) sees.
//
// core/ builds a Request from an HTTP request after the seal, standby, token and ACL checks,
// routes it to the mount's Backend, and turns the Response into Vault's JSON envelope. A
// Request lives on one worker thread for the duration of one call; backends must not keep
// pointers into it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/http_types.h"
#include "storage/storage.h"

namespace tresor::logical {

using json = nlohmann::json;

enum class Operation { kRead, kCreate, kUpdate, kPatch, kDelete, kList, kHelp, kRenew, kRevoke };
const char* OperationName(Operation op);

// The caller's token as resolved by core's token store. Immutable once built.
struct TokenInfo {
  std::string id;  // the raw client token (cubbyhole and lookup-self need it); never log
  std::string accessor;
  std::vector<std::string> policies;
  std::map<std::string, std::string> meta;
  std::string display_name;
  std::string entity_id;
  std::string path;        // the login path that created it, e.g. auth/token/root
  std::string type = "service";
  bool root = false;       // holds the root policy
  bool orphan = false;
  int64_t ttl = 0;         // seconds left at lookup time; 0 = no expiry
  int64_t creation_time = 0;
  int64_t num_uses = 0;    // remaining, 0 = unlimited
  std::string cubbyhole_id;  // names this token's cubbyhole storage (random, not the token)
};

// A login's result: core's token store mints the token from it.
struct Auth {
  std::string client_token;  // filled by core
  std::string accessor;      // filled by core
  std::vector<std::string> policies;
  std::vector<std::string> token_policies;
  std::vector<std::string> identity_policies;
  std::map<std::string, std::string> metadata;
  int64_t ttl = 0;               // requested lease duration (0 = mount/system default)
  int64_t max_ttl = 0;           // cap (0 = mount/system max)
  int64_t explicit_max_ttl = 0;
  int64_t period = 0;
  int64_t num_uses = 0;
  bool renewable = true;
  bool no_default_policy = false;
  std::string display_name;
  std::string entity_id;
  std::string token_type = "service";
  bool orphan = true;
  std::vector<std::string> bound_cidrs;
  json internal_data = json::object();  // kept with the token for renewals; never returned
  // Set by core after minting:
  int64_t lease_duration = 0;
};

// A dynamic secret's lease. Core generates the lease id and calls the backend's revoke.
struct Secret {
  int64_t ttl = 0;
  int64_t max_ttl = 0;
  bool renewable = true;
  json internal_data = json::object();
  std::string lease_id;  // filled by core
  // False for secrets that only carry a refresh interval (KV's ttl): no lease is created.
  bool leased = true;
};

struct Request {
  Operation operation = Operation::kRead;
  std::string path;         // relative to the mount, no leading '/'
  std::string mount_point;  // "secret/", "auth/userpass/", "sys/"
  std::string mount_type;
  std::string mount_accessor;
  json data = json::object();  // body fields (write) or query parameters (read/list)
  std::string raw_body;        // the undecoded body; set only for endpoints that take binary input
  std::map<std::string, std::string> headers;  // lower-case names
  std::string client_token;  // as sent; empty if none
  std::shared_ptr<const TokenInfo> token;  // null on unauthenticated paths
  std::string remote_addr;
  std::string request_id;
  Storage* storage = nullptr;  // the mount's own view
  // Lease being renewed or revoked (kRenew / kRevoke of a secret or auth).
  std::optional<Secret> secret;
  std::optional<Auth> auth;
  // TTL bounds in force for this mount (seconds), resolved by core.
  int64_t mount_default_ttl = 0;
  int64_t mount_max_ttl = 0;
  // The X-Vault-Wrap-TTL the caller asked for (seconds; 0 = the response is not wrapped).
  // Core does the wrapping; only sys/wrapping/wrap needs to look at it.
  int64_t wrap_ttl = 0;
  // For recursive listings: may the caller LIST the folder `path` (relative to the mount,
  // ending in '/')? Set by core from the caller's ACL; null when every folder may be listed
  // (root tokens). Valid for the duration of the call only.
  std::function<bool(const std::string& path)> can_list;
  // A backend's path match kept between its Exists() and HandleRequest() calls for this
  // request, so the path is matched once. Owned and read only by that backend.
  struct RouteMatch {
    const void* owner = nullptr;  // the backend that matched
    const void* route = nullptr;  // its compiled path
    std::string path;             // the path it matched (a handler may not change it)
    std::map<std::string, std::string> captures;
  };
  std::optional<RouteMatch> route_match;
};

struct Response {
  json data;  // null or an object
  std::optional<Auth> auth;
  std::optional<Secret> secret;
  std::vector<std::string> warnings;
  // A response that is not Vault's JSON envelope (binary downloads, flat sys objects).
  std::optional<http::HttpResponse> raw;

  static std::unique_ptr<Response> WithData(json d) {
    auto r = std::make_unique<Response>();
    r->data = std::move(d);
    return r;
  }
};

// Null means "nothing": 404 for read/list, 204 for writes.
using ResponsePtr = std::unique_ptr<Response>;

}  // namespace tresor::logical
