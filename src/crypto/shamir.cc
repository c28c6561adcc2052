#include "crypto/shamir.h"

#include <openssl/crypto.h>

#include <cstdint>

#include "common/random.h"

namespace tresor::crypto {
namespace internal {

uint8_t GfMul(uint8_t a, uint8_t b) {
  uint8_t r = 0;
  for (int i = 0; i < 8; ++i) {
    // Masks instead of branches: every bit of b costs the same.
    r ^= static_cast<uint8_t>(-(b & 1)) & a;
    uint8_t carry = static_cast<uint8_t>(-(a >> 7));
    a = static_cast<uint8_t>((a << 1) ^ (carry & 0x1b));
    b = static_cast<uint8_t>(b >> 1);
  }
  return r;
}

uint8_t GfInverse(uint8_t a) {
  // a^254 = a^-1 for a != 0 (the multiplicative group has order 255); 0^254 = 0.
  // 254 = 2+4+8+16+32+64+128: multiply the successive squares.
  uint8_t sq = GfMul(a, a);  // a^2
  uint8_t r = sq;
  for (int i = 0; i < 6; ++i) {
    sq = GfMul(sq, sq);
    r = GfMul(r, sq);
  }
  return r;
}

}  // namespace internal

using internal::GfInverse;
using internal::GfMul;

Result<std::vector<SecureString>> ShamirSplit(std::string_view secret, int parts, int threshold) {
  if (secret.empty()) return Status::InvalidRequest("cannot split an empty secret");
  if (parts < 2 || parts > 255) return Status::InvalidRequest("parts must be between 2 and 255");
  if (threshold < 2 || threshold > parts) {
    return Status::InvalidRequest("threshold must be at least 2 and at most the number of parts");
  }

  // Distinct non-zero x coordinates: the first `parts` entries of a random permutation of 1..255.
  uint8_t xs[255];
  for (int i = 0; i < 255; ++i) xs[i] = static_cast<uint8_t>(i + 1);
  for (int i = 254; i > 0; --i) {
    int j = static_cast<int>(RandomUint64(static_cast<uint64_t>(i) + 1));
    std::swap(xs[i], xs[j]);
  }

  std::vector<std::string> out(parts, std::string(secret.size() + 1, '\0'));
  for (int p = 0; p < parts; ++p) out[p][secret.size()] = static_cast<char>(xs[p]);

  // One polynomial per secret byte: coefficient 0 is the byte, the rest are random.
  std::string coeffs;
  for (size_t i = 0; i < secret.size(); ++i) {
    coeffs = RandomBytes(static_cast<size_t>(threshold));
    coeffs[0] = secret[i];
    for (int p = 0; p < parts; ++p) {
      // Horner's rule from the highest coefficient down.
      uint8_t y = static_cast<uint8_t>(coeffs[threshold - 1]);
      for (int c = threshold - 2; c >= 0; --c) y = GfMul(y, xs[p]) ^ static_cast<uint8_t>(coeffs[c]);
      out[p][i] = static_cast<char>(y);
    }
    OPENSSL_cleanse(coeffs.data(), coeffs.size());
  }

  std::vector<SecureString> shares;
  shares.reserve(parts);
  for (auto& s : out) {
    shares.emplace_back(std::move(s));
    Wipe(s);
  }
  return shares;
}

Result<SecureString> ShamirCombine(const std::vector<std::string_view>& shares) {
  if (shares.size() < 2) return Status::InvalidRequest("less than two shares cannot be used to reconstruct the secret");
  const size_t len = shares[0].size();
  if (len < 2) return Status::InvalidRequest("shares must be at least two bytes long");
  for (const auto& s : shares) {
    if (s.size() != len) return Status::InvalidRequest("all shares must be the same length");
  }
  const size_t n = shares.size();
  std::vector<uint8_t> xs(n);
  for (size_t i = 0; i < n; ++i) {
    xs[i] = static_cast<uint8_t>(shares[i][len - 1]);
    for (size_t j = 0; j < i; ++j) {
      if (xs[j] == xs[i]) return Status::InvalidRequest("duplicate share detected");
    }
  }

  // Lagrange basis at x = 0: l_i = prod_{j != i} x_j / (x_i - x_j); subtraction is xor.
  std::vector<uint8_t> basis(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t num = 1, den = 1;
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      num = GfMul(num, xs[j]);
      den = GfMul(den, xs[i] ^ xs[j]);
    }
    basis[i] = GfMul(num, GfInverse(den));
  }

  std::string secret(len - 1, '\0');
  for (size_t b = 0; b + 1 < len; ++b) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; ++i) acc ^= GfMul(static_cast<uint8_t>(shares[i][b]), basis[i]);
    secret[b] = static_cast<char>(acc);
  }
  SecureString result(std::move(secret));
  Wipe(secret);
  return result;
}

Result<SecureString> ShamirCombine(const std::vector<SecureString>& shares) {
  std::vector<std::string_view> views;
  views.reserve(shares.size());
  for (const auto& s : shares) views.push_back(s.view());
  return ShamirCombine(views);
}

}  // namespace tresor::crypto
