#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "common/secure.h"

namespace tresor::crypto {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// Fetched once: implicit fetching by name on every call takes a global lock in OpenSSL 3.
const EVP_CIPHER* Cipher(AeadAlg alg) {
  static EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  switch (alg) {
    case AeadAlg::kAes128Gcm: return aes128;
    case AeadAlg::kAes256Gcm: return aes256;
    case AeadAlg::kChaCha20Poly1305: return chacha;
  }
  return nullptr;
}

const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Status CheckSizes(AeadAlg alg, std::string_view key, std::string_view nonce) {
  if (key.size() != AeadKeySize(alg)) return Status::InvalidRequest("invalid key size");
  if (nonce.size() != kAeadNonceSize) return Status::InvalidRequest("invalid nonce size");
  return Status::Ok();
}

}  // namespace

size_t AeadKeySize(AeadAlg alg) { return alg == AeadAlg::kAes128Gcm ? 16 : 32; }

Result<std::string> AeadSeal(AeadAlg alg, std::string_view key, std::string_view nonce,
                             std::string_view plaintext, std::string_view aad) {
  RETURN_IF_ERROR(CheckSizes(alg, key, nonce));
  const EVP_CIPHER* cipher = Cipher(alg);
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!cipher || !ctx) return Status::Internal("cipher unavailable");
  if (EVP_EncryptInit_ex2(ctx.get(), cipher, U(key), U(nonce), nullptr) != 1) {
    return Status::Internal("cipher initialisation failed");
  }
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1) {
    return Status::Internal("encryption failed");
  }
  std::string out(plaintext.size() + kAeadTagSize, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int total = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), o, &len, U(plaintext), static_cast<int>(plaintext.size())) != 1) {
      return Status::Internal("encryption failed");
    }
    total = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), o + total, &len) != 1) return Status::Internal("encryption failed");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagSize), o + total) != 1) {
    return Status::Internal("encryption failed");
  }
  out.resize(static_cast<size_t>(total) + kAeadTagSize);
  return out;
}

Result<std::string> AeadOpen(AeadAlg alg, std::string_view key, std::string_view nonce,
                             std::string_view ciphertext_and_tag, std::string_view aad) {
  RETURN_IF_ERROR(CheckSizes(alg, key, nonce));
  if (ciphertext_and_tag.size() < kAeadTagSize) return Status::Corruption("cipher: message authentication failed");
  const std::string_view ct = ciphertext_and_tag.substr(0, ciphertext_and_tag.size() - kAeadTagSize);
  const std::string_view tag = ciphertext_and_tag.substr(ct.size());
  const EVP_CIPHER* cipher = Cipher(alg);
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!cipher || !ctx) return Status::Internal("cipher unavailable");
  if (EVP_DecryptInit_ex2(ctx.get(), cipher, U(key), U(nonce), nullptr) != 1) {
    return Status::Internal("cipher initialisation failed");
  }
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1) {
    return Status::Internal("decryption failed");
  }
  std::string out(ct.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int total = 0;
  if (!ct.empty()) {
    if (EVP_DecryptUpdate(ctx.get(), o, &len, U(ct), static_cast<int>(ct.size())) != 1) {
      Wipe(out);
      return Status::Internal("decryption failed");
    }
    total = len;
  }
  // EVP wants a mutable tag buffer.
  unsigned char tagbuf[kAeadTagSize];
  std::copy(tag.begin(), tag.end(), tagbuf);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagSize), tagbuf) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + total, &len) != 1) {
    Wipe(out);
    return Status::Corruption("cipher: message authentication failed");
  }
  out.resize(static_cast<size_t>(total + len));
  return out;
}

}  // namespace tresor::crypto
