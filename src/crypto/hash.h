// Message digests, HMAC and HKDF (OpenSSL EVP underneath). Outputs are raw bytes; encode
// with common/encoding.h. Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX

namespace tresor::crypto {

enum class HashAlg { kSha1, kSha224, kSha256, kSha384, kSha512 };

size_t HashSize(HashAlg alg);  // output bytes

std::string Digest(HashAlg alg, std::string_view data);
std::string Hmac(HashAlg alg, std::string_view key, std::string_view data);

inline std::string Sha256(std::string_view data) { return Digest(HashAlg::kSha256, data); }
inline std::string Sha512(std::string_view data) { return Digest(HashAlg::kSha512, data); }
inline std::string HmacSha256(std::string_view key, std::string_view data) {
  return Hmac(HashAlg::kSha256, key, data);
}

// An HMAC key set up once for many messages: the token store salts every request's token
// with one key, and keying OpenSSL's HMAC afresh each time cost more than the hash.
// Sign() is const and may be called from many threads at once; each call borrows a keyed
// context from a small pool (copying one per call was most of the cost) and re-arms it with
// the key it already holds. Every context, pooled or not, belongs to this object; OpenSSL
// clears their key material when this is destroyed.
class HmacKey {
 public:
  HmacKey(HashAlg alg, std::string_view key);
  ~HmacKey();
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;
  std::string Sign(std::string_view data) const;

 private:
  ::evp_mac_ctx_st* ctx_;  // keyed, never updated itself: the template for pooled copies
  mutable std::mutex pool_mu_;
  mutable std::vector<::evp_mac_ctx_st*> pool_;  // idle keyed copies; guarded by pool_mu_
};

// RFC 5869 HKDF-SHA256 (extract then expand) giving `length` bytes (at most 255*32).
// Use distinct `info` strings to derive independent per-purpose keys from one secret.
Result<std::string> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info, size_t length);

}  // namespace tresor::crypto
