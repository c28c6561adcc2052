// Response wrapping, as Vault does it with cubbyhole.
//
// A request carrying `X-Vault-Wrap-TTL` gets its response replaced by `wrap_info`: the real
// response (the JSON envelope a client would have seen) is stored in the cubbyhole of a new
// single-use token (policy `response-wrapping`, TTL = explicit max TTL = the wrap TTL, no
// parent), under `response`, with `wrapinfo` (creation_ttl, creation_time, creation_path)
// next to it. sys/wrapping/{wrap,unwrap,lookup,rewrap} (SysWrappingPaths, declared in
// sys_backend.h) work on such tokens; revoking one destroys its cubbyhole like any token's.
//
// Core calls these from its request pipeline (http_dispatch.cc). Stateless; any worker
// thread, with core's state lock held shared (unsealed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "framework/logical.h"
#include "http/http_types.h"

namespace tresor::core {

class Core;

namespace wrapping {

// The policy a wrapping token holds (built into the policy store).
inline constexpr const char* kPolicyName = "response-wrapping";

// X-Vault-Wrap-TTL as seconds (a Go duration or integer seconds); 0 when absent.
// InvalidRequest with Vault's text when malformed or negative.
Result<int64_t> ParseWrapTtlHeader(const http::HttpRequest& req);

// For sys/wrapping/{unwrap,rewrap,lookup}: the wrapping token (body `token`, else the
// client token) must be a live wrapping token before any other check, as in Vault. Returns
// the 400 error response when it is not; nullopt when it is or `api_path` is another path.
std::optional<http::HttpResponse> VerifyWrappingToken(Core* core, const std::string& api_path,
                                                      const logical::Request& req);

// Wraps a backend's response (after MintToken/leases): renders it, stores it behind a new
// wrapping token of `req.wrap_ttl` seconds, and returns the envelope with `wrap_info`.
// Responses that do not render as a 200 JSON envelope are returned unwrapped.
http::HttpResponse WrapResponse(Core* core, const logical::Request& req, const std::string& api_path,
                                const logical::Response& resp);

}  // namespace wrapping
}  // namespace tresor::core
