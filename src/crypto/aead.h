// Authenticated encryption with associated data (OpenSSL EVP underneath).
//
// The output of AeadSeal is ciphertext || 16-byte tag (Go's cipher.AEAD layout); AeadOpen
// takes the same. The nonce is the caller's: it must never repeat under one key (random
// 12-byte nonces are fine for up to ~2^32 messages per key). Pure functions; safe from any
// thread. Plaintext results may be secret: callers wipe them when done.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tresor::crypto {

enum class AeadAlg {
  kAes128Gcm,
  kAes256Gcm,
  kChaCha20Poly1305,
};

inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;

size_t AeadKeySize(AeadAlg alg);  // 16 or 32

// InvalidRequest on a wrong key or nonce size; Internal if OpenSSL fails.
Result<std::string> AeadSeal(AeadAlg alg, std::string_view key, std::string_view nonce,
                             std::string_view plaintext, std::string_view aad);
// Corruption("cipher: message authentication failed") if the tag does not verify (wrong
// key, nonce, associated data, or tampered input); InvalidRequest on bad sizes.
Result<std::string> AeadOpen(AeadAlg alg, std::string_view key, std::string_view nonce,
                             std::string_view ciphertext_and_tag, std::string_view aad);

}  // namespace tresor::crypto
