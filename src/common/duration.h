// Durations as Vault accepts and prints them. Pure functions; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tresor {

// Parses a Go duration string ("90s", "10m", "1h30m", "1.5h", "300ms") or a bare integer
// number of seconds ("3600"). Returns whole seconds (fractions truncated); nullopt if invalid
// or negative.
std::optional<int64_t> ParseDurationSeconds(std::string_view s);
// Same, from a JSON value: a number (seconds) or a string as above.
std::optional<int64_t> ParseDurationJson(const nlohmann::json& v);

// Go's time.Duration.String() for whole seconds: 0 -> "0s", 5400 -> "1h30m0s".
std::string GoDurationString(int64_t seconds);
// The CLI's humanised form: 5400 -> "1h30m", 600 -> "10m", 3600 -> "1h".
std::string HumanDuration(int64_t seconds);

// RFC 3339 with nanoseconds in UTC, as Go's time.RFC3339Nano (trailing zeros trimmed).
std::string FormatRFC3339Nano(std::chrono::system_clock::time_point t);
// RFC 3339 seconds precision in UTC: 2023-03-23T12:51:35Z.
std::string FormatRFC3339(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> ParseRFC3339(std::string_view s);

int64_t UnixNow();

}  // namespace tresor
