// Fast JSON text <-> nlohmann::json for the request path.
//
// nlohmann's own lexer and serializer handle one character at a time, which made them the
// largest cost of a request carrying a kilobyte of base64 (transit, KV). These functions
// produce and accept the same documents: ParseJson parses with simdjson and builds the
// same DOM nlohmann's parser builds (non-negative integers as number_unsigned, the last of
// duplicate keys wins); AppendJson writes the same text as dump() with no indent.
// Differences, on purpose: a string holding invalid UTF-8 is written with U+FFFD in place
// of each bad byte (dump() throws).
//
// Pure functions; thread-safe (ParseJson keeps one reusable parser per thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tresor {

// The document as nlohmann's parser would build it, or nullopt if `text` is not valid
// JSON (bad syntax, invalid UTF-8, a number out of range) or nests deeper than max_depth
// (the top-level value is depth 1). Callers that must describe the error re-parse with
// nlohmann, which words it.
std::optional<nlohmann::json> ParseJson(std::string_view text, int max_depth = 500);

// Like nlohmann::json::parse(text, nullptr, false): a discarded value on any error.
nlohmann::json ParseJsonOrDiscarded(std::string_view text);

// Appends the compact text of `v` (same bytes as v.dump()).
void AppendJson(std::string& out, const nlohmann::json& v);
void AppendJson(std::string& out, const nlohmann::ordered_json& v);
// Appends `s` as a JSON string literal, quotes included.
void AppendJsonString(std::string& out, std::string_view s);

std::string DumpJson(const nlohmann::json& v);
std::string DumpJson(const nlohmann::ordered_json& v);

}  // namespace tresor
