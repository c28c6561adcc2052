#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace tresor::crypto {
namespace {

const EVP_MD* Md(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return EVP_sha1();
    case HashAlg::kSha224: return EVP_sha224();
    case HashAlg::kSha256: return EVP_sha256();
    case HashAlg::kSha384: return EVP_sha384();
    case HashAlg::kSha512: return EVP_sha512();
  }
  return nullptr;
}

// Digest/HMAC failures mean a broken OpenSSL, not bad input: fail loudly rather than hand
// back an empty "hash" that could compare equal to another.
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "fatal: %s failed\n", what);
  std::abort();
}

}  // namespace

size_t HashSize(HashAlg alg) { return static_cast<size_t>(EVP_MD_get_size(Md(alg))); }

std::string Digest(HashAlg alg, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, Md(alg), nullptr) != 1) {
    Fatal("EVP_Digest");
  }
  out.resize(len);
  return out;
}

std::string Hmac(HashAlg alg, std::string_view key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  // HMAC() with a null key pointer would use a static buffer; give it a valid pointer.
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(Md(alg), k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr) {
    Fatal("HMAC");
  }
  out.resize(len);
  return out;
}

HmacKey::HmacKey(HashAlg alg, std::string_view key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) Fatal("EVP_MAC_fetch");
  ctx_ = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  if (!ctx_) Fatal("EVP_MAC_CTX_new");
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(Md(alg))), 0);
  params[1] = OSSL_PARAM_construct_end();
  static const unsigned char kEmpty = 0;
  const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx_, k, key.size(), params) != 1) Fatal("EVP_MAC_init");
}

HmacKey::~HmacKey() {
  for (EVP_MAC_CTX* c : pool_) EVP_MAC_CTX_free(c);
  EVP_MAC_CTX_free(ctx_);
}

std::string HmacKey::Sign(std::string_view data) const {
  EVP_MAC_CTX* c = nullptr;
  {
    std::lock_guard l(pool_mu_);
    if (!pool_.empty()) {
      c = pool_.back();
      pool_.pop_back();
    }
  }
  // A fresh copy is keyed and ready; a pooled one is re-armed with the key it holds.
  if (!c) {
    c = EVP_MAC_CTX_dup(ctx_);
    if (!c) Fatal("EVP_MAC_CTX_dup");
  } else if (EVP_MAC_init(c, nullptr, 0, nullptr) != 1) {
    Fatal("EVP_MAC_init");
  }
  std::string out(EVP_MAX_MD_SIZE, '\0');
  size_t len = 0;
  if (EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(c, reinterpret_cast<unsigned char*>(out.data()), &len, out.size()) != 1) {
    Fatal("HMAC");
  }
  out.resize(len);
  std::lock_guard l(pool_mu_);
  if (pool_.size() < 64) {
    pool_.push_back(c);
  } else {
    EVP_MAC_CTX_free(c);
  }
  return out;
}

Result<std::string> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info, size_t length) {
  if (length == 0 || length > 255 * 32) return Status::InvalidRequest("invalid HKDF output length");
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) return Status::Internal("HKDF unavailable");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!ctx) return Status::Internal("HKDF unavailable");
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size());
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size());
  }
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  std::string out(length, '\0');
  int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), length, params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) return Status::Internal("HKDF derivation failed");
  return out;
}

}  // namespace tresor::crypto
