// Small string helpers shared by every layer. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tresor {

std::vector<std::string> Split(std::string_view s, char sep);  // keeps empty pieces
std::string_view TrimSpace(std::string_view s);
std::string ToLower(std::string_view s);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
// Constant-time equality for secrets (length is not hidden).
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// Vault's framework GenericNameRegex: \w(([\w-.]+)?\w)?
bool IsGenericName(std::string_view s);

}  // namespace tresor
