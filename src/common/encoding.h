// Byte encodings used on the wire: hex, base64 (standard and URL-safe), base62.
// Pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tresor {

std::string HexEncode(std::string_view bytes);
// Accepts upper or lower case; nullopt on odd length or a non-hex character.
std::optional<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view bytes);     // standard alphabet, padded
std::string Base64UrlEncode(std::string_view bytes);  // URL alphabet, no padding
// Standard alphabet; padding required unless `allow_unpadded`. nullopt on bad input.
std::optional<std::string> Base64Decode(std::string_view b64, bool allow_unpadded = false);
// URL alphabet, padding optional.
std::optional<std::string> Base64UrlDecode(std::string_view b64);

}  // namespace tresor
