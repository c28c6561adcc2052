// Vault's wire format for logical responses and errors.
//
// Turns a logical::Response (or a Status) into the HTTP status code and JSON body Vault
// would send: the response envelope, the "data injection" of some sys paths, 204/404 for
// nil responses, and the {"errors":[...]} body with Vault's multierror wording. Pure
// functions; safe from any thread.
#pragma once

#include <string>

#include "common/status.h"
#include "framework/logical.h"
#include "http/http_types.h"

namespace tresor::core {

// Status → HTTP status + {"errors":[...]} body.
http::HttpResponse ErrorResponse(const Status& st);
// A JSON body with the given status code.
http::HttpResponse JsonResponse(int status, const nlohmann::json& body);

// Renders a logical response. `resp` may be null (nil). `path` is the full API path after
// /v1/ (used for the sys data-injection rule).
http::HttpResponse RenderLogical(const logical::Response* resp, logical::Operation op, const std::string& path,
                                 const std::string& request_id);

// The `auth` block as Vault emits it.
nlohmann::json AuthJson(const logical::Auth& auth);

}  // namespace tresor::core
