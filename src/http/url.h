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

// Go's ServeMux cleanPath: path.Clean ("//" -> "/", "." and ".." resolved, never above
// "/"), keeping a trailing slash. Vault answers a request whose decoded path is not clean
// with a 301 to the cleaned one.
std::string CleanPath(std::string_view path);

// Percent-encodes a decoded path for a Location header (Go's url.PathEscape rules for a
// path: unreserved characters and $&+,/:;=@ stay as they are).
std::string EscapePath(std::string_view path);

}  // namespace tresor::http
