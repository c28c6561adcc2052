// Shamir secret sharing over GF(2^8), the share layout Vault uses.
//
// A share is the secret's length in y-bytes (one polynomial per secret byte, evaluated at
// the share's x) followed by one byte holding x, so a 32-byte secret gives 33-byte shares
// and Vault's shares and ours are interchangeable. x coordinates are random, distinct and
// non-zero. The field arithmetic is constant-time: no branch or table index depends on
// secret bytes (multiply is shift-and-xor over all 8 bits, inverse is a^254).
//
// Shamir has no integrity: a tampered share combines to a wrong secret, not an error.
// Callers authenticate the result (the seal decrypts the root key with it).
//
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/secure.h"
#include "common/status.h"

namespace tresor::crypto {

// Bytes a share adds to the secret (the x coordinate).
inline constexpr size_t kShamirShareOverhead = 1;

// Splits a non-empty `secret` into `parts` shares, any `threshold` of which recover it.
// Requires 2 <= threshold <= parts <= 255 (a single "share" is the secret itself and is the
// caller's business); otherwise InvalidRequest.
Result<std::vector<SecureString>> ShamirSplit(std::string_view secret, int parts, int threshold);

// Recovers the secret from at least two shares. InvalidRequest on fewer than two shares,
// shares shorter than two bytes or of different lengths, or a repeated x coordinate.
// With fewer shares than the threshold the result is simply wrong (not detectable).
Result<SecureString> ShamirCombine(const std::vector<std::string_view>& shares);
Result<SecureString> ShamirCombine(const std::vector<SecureString>& shares);

namespace internal {
// Exposed for tests: GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1.
uint8_t GfMul(uint8_t a, uint8_t b);
uint8_t GfInverse(uint8_t a);  // 0 maps to 0
}  // namespace internal

}  // namespace tresor::crypto
