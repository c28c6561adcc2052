// Decoding of JSON request bodies with limits, shared by every endpoint.
//
// Vault's request bodies are JSON objects. This parser enforces a nesting limit while it
// parses (SAX), so a hostile body cannot exhaust the stack or build a huge tree first.
// Error messages describe the problem and its position but never echo body content, since
// bodies carry secrets. Pure function; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "common/status.h"

namespace tresor::http {

// Newer Vault versions default their listener's max_json_depth to 500; 1.13 had no limit
// beyond Go's own (10000). 500 is generous for any real request.
inline constexpr int kDefaultMaxJsonDepth = 500;

// Parses a request body that must be a JSON object.
//  - empty or whitespace-only body, or `null` -> empty object (Vault treats these as "no
//    parameters");
//  - malformed JSON -> InvalidRequest("failed to parse JSON input: <what, line, column>");
//  - nesting deeper than max_depth (the top-level object is depth 1) -> InvalidRequest;
//  - a top-level value that is not an object -> InvalidRequest.
Result<nlohmann::json> ParseJsonBody(std::string_view body, int max_depth = kDefaultMaxJsonDepth);

}  // namespace tresor::http
