// Rendering rules of the Vault CLI: columnized tables, wrapped paragraphs, Go-style value
// printing (%v, %q), Go-style JSON (encoding/json MarshalIndent) and YAML (ghodss/yaml).
// Pure functions; safe from any thread. Byte-exact output matters: scripts and tests parse it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tresor::cli {

using Json = nlohmann::ordered_json;

// columnize: each line split at `delim`, cells trimmed, empty cells -> `empty`, every column
// but a line's last padded to the column's width (in runes) and followed by `glue`.
// No trailing newline.
std::string Columnize(const std::vector<std::string>& lines, std::string_view delim,
                      std::string_view glue = "    ", std::string_view empty = "n/a");
// Columnize with row 0 as the header and a synthesised row of dashes under it.
std::string TableOutput(std::vector<std::string> lines, std::string_view delim = "|");

// Go's text/tabwriter (padchar ' ', no flags) over a whole text: '\t' ends a cell, and a
// column is padded to its widest cell + `padding` (at least `minwidth`) within each run of
// consecutive lines that have a cell in it. A line's last cell is not part of a column.
std::string TabWrite(std::string_view text, size_t minwidth, size_t padding);

// kr/text minimal-raggedness word wrap at `limit` runes (newlines become spaces).
std::string WrapText(std::string_view s, int limit);
// Vault's wrapAtLength: wrap at 78 - pad and indent every line by `pad` spaces.
std::string WrapAtLength(std::string_view s, int pad = 0);

// Go fmt "%v" of a decoded JSON value: strings raw, null "<nil>", arrays "[a b]",
// objects "map[k:v]" with sorted keys.
std::string GoValue(const Json& v);
// Go fmt "%q" of a string and of a []string ("[\"a\" \"b\"]"; empty "[]").
std::string GoQuote(std::string_view s);
std::string GoQuoteList(const std::vector<std::string>& list);

// Keys the table formatter shows as durations.
bool LooksLikeDuration(std::string_view key);
// humanDurationInt: integers (seconds) humanised, anything else returned as GoValue.
std::string HumanDurationValue(const Json& v);

// encoding/json MarshalIndent(v, "", "  "): HTML-safe escaping, keys in the order given.
std::string GoJson(const Json& v);
// ghodss/yaml Marshal (keys sorted), trimmed of surrounding whitespace.
std::string GoYaml(const Json& v);

// Strings of a JSON array of strings (non-strings skipped); empty for anything else.
std::vector<std::string> StringList(const Json& v);

}  // namespace tresor::cli
