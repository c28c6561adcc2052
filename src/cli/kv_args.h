// K=V argument parsing for `vault write|read|login|kv put` (Vault's kv-builder rules):
//   key=value       string value; a repeated key turns into a list
//   key=@file       the file's content;  key=\@x  the literal "@x"
//   key=-           the whole of stdin (once)
//   -               stdin parsed as a JSON object and merged (once)
//   @file           the file parsed as a JSON object and merged
// Error texts match Vault's ("format must be key=value", "stdin already consumed").
#pragma once

#include <istream>
#include <map>
#include <string>
#include <vector>

#include "cli/format.h"
#include "common/status.h"

namespace tresor::cli {

// Returns a JSON object. `stdin_stream` may be null (then "-" is an error).
Result<Json> ParseKeyValues(const std::vector<std::string>& args, std::istream* stdin_stream);

// Values flattened to string lists (for query parameters); non-strings rendered as %v.
std::vector<std::pair<std::string, std::string>> ToQueryPairs(const Json& data);

// Values as strings (for login method handlers); lists are joined with ",".
std::map<std::string, std::string> ToStringMap(const Json& data);

}  // namespace tresor::cli
