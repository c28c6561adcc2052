// Request-target decoding (RFC 3986 percent-encoding, Go net/url semantics). Pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tresor::http {

// Percent-decodes a path. '+' stays '+'. A '%' not followed by two hex digits is an
// InvalidRequest naming the bad escape (Go: `invalid URL escape "%zz"`).
Result<std::string> DecodePath(std::string_view raw);

// Decodes one query component: percent escapes and '+' -> ' '. False on a bad escape.
bool DecodeQueryComponent(std::string_view raw, std::string* out);

// Parses a raw query like Go's url.ParseQuery: pairs split on '&', "k" alone means value "",
// '+' is a space; pairs with a bad escape or a ';' are skipped (as Go does).
std::multimap<std::string, std::string> ParseQuery(std::string_view raw);

// Splits an origin-form ("/p?q") or absolute-form ("http://h/p?q") target into its raw path
// and raw query (without '?'). Anything else (except "*") is an InvalidRequest.
Status SplitTarget(std::string_view target, std::string* raw_path, std::string* raw_query);

}  // namespace tresor::http
