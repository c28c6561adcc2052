// The OpenSSL 3 primitives the transit engine needs, behind a small value-typed interface.
// Every OpenSSL call of the module lives in crypto.cc; AEAD and HKDF delegate to the shared
// src/crypto module (which has no SHA-3, asymmetric keys or key wrap, hence the rest here).
//
// Thread-safety: all functions are reentrant. A PKey is immutable after creation and may be
// used for signing/verifying/decrypting from many threads at once (each call makes its own
// EVP_PKEY_CTX). Secret outputs come back as std::string; callers wipe them (tresor::Wipe or
// SecureString) when done. Failures are Status values whose messages never carry key bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace tresor::transit::crypto {

enum class Aead { kAes128Gcm, kAes256Gcm, kChaCha20Poly1305 };
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

// Returns ciphertext || tag (no nonce).
Result<std::string> AeadSeal(Aead alg, std::string_view key, std::string_view nonce, std::string_view plaintext,
                             std::string_view aad);
// `sealed` is ciphertext || tag. InvalidRequest("cipher: message authentication failed") on a bad tag.
Result<std::string> AeadOpen(Aead alg, std::string_view key, std::string_view nonce, std::string_view sealed,
                             std::string_view aad);

enum class Hash { kNone, kSha1, kSha224, kSha256, kSha384, kSha512, kSha3_224, kSha3_256, kSha3_384, kSha3_512 };
// "sha2-256" etc. as Vault names them ("sha1", "sha3-384", "none"); nullopt if unknown.
std::optional<Hash> ParseHash(std::string_view name);
size_t HashSize(Hash h);
Result<std::string> Digest(Hash h, std::string_view data);
Result<std::string> Hmac(Hash h, std::string_view key, std::string_view data);
// HKDF-SHA256 (RFC 5869) with an empty salt when `salt` is empty.
Result<std::string> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info, size_t n);

// An asymmetric key (private, or public only). Shared, immutable. Keeps a small pool of
// initialised signing contexts: setting one up costs OpenSSL 3 as much as an Ed25519
// signature, so Sign() reuses them. The pool (and with it every reference to the key
// material) is freed with the PKey.
class PKey {
 public:
  explicit PKey(EVP_PKEY* k) : k_(k) {}
  ~PKey();
  PKey(const PKey&) = delete;
  PKey& operator=(const PKey&) = delete;
  EVP_PKEY* get() const { return k_; }

  // Context pool, used by crypto.cc only. `kind` identifies the context type and options.
  void* TakeCtx(uint64_t kind) const;
  void GiveCtx(uint64_t kind, void* ctx) const;

 private:
  EVP_PKEY* k_;
  mutable std::mutex pool_mu_;
  mutable std::vector<std::pair<uint64_t, void*>> pool_;  // guarded by pool_mu_
};
using PKeyPtr = std::shared_ptr<const PKey>;

enum class Curve { kP256, kP384, kP521 };
Result<PKeyPtr> GenerateEc(Curve c);
Result<PKeyPtr> GenerateRsa(int bits);
// Ed25519 from its 32-byte seed.
Result<PKeyPtr> Ed25519FromSeed(std::string_view seed);
// Raw 32-byte seed (private) of an Ed25519 key. Secret.
Result<std::string> Ed25519SeedRaw(const PKey& k);
// Raw 32-byte public key of an Ed25519 key.
Result<std::string> Ed25519PublicRaw(const PKey& k);

// Encodings. DER/PEM outputs of private keys are secret.
Result<std::string> PrivateKeyToPkcs8Der(const PKey& k);
Result<PKeyPtr> PrivateKeyFromPkcs8Der(std::string_view der);
Result<PKeyPtr> PublicKeyFromDer(std::string_view spki_der);
Result<PKeyPtr> PublicKeyFromPem(std::string_view pem);
Result<std::string> PublicKeyToPem(const PKey& k);       // "-----BEGIN PUBLIC KEY-----" (PKIX)
Result<std::string> RsaPrivateKeyToPkcs1Pem(const PKey& k);  // "RSA PRIVATE KEY"
Result<std::string> EcPrivateKeyToSec1Pem(const PKey& k);    // "EC PRIVATE KEY"
// Key facts.
int KeyBits(const PKey& k);
bool IsRsa(const PKey& k);
bool IsEd25519(const PKey& k);
// Curve of an EC key, nullopt for non-EC keys or other curves.
std::optional<Curve> EcCurve(const PKey& k);
// Bytes of a curve's field element (32, 48, 66).
size_t CurveBytes(Curve c);

// Signatures. For EC and RSA `input` is the digest (hash already applied), for Ed25519 the message.
// RSA: pss=false means PKCS#1 v1.5; Hash::kNone with PKCS#1 v1.5 signs the raw input.
// salt_len: OpenSSL convention (-1 = digest length, -2 = auto (verify) / max (sign), >=0 explicit).
struct RsaOptions {
  bool pss = true;
  Hash hash = Hash::kSha256;
  int salt_len = -2;
};
Result<std::string> Sign(const PKey& k, std::string_view input, const RsaOptions& rsa = {});
// false for a mismatching or malformed signature.
bool Verify(const PKey& k, std::string_view input, std::string_view sig, const RsaOptions& rsa = {});

// ECDSA signature conversions between DER (ASN.1 SEQUENCE{r,s}) and JWS (r||s fixed width).
Result<std::string> EcdsaDerToRaw(std::string_view der, size_t n);
Result<std::string> EcdsaRawToDer(std::string_view raw);

// RSA-OAEP with the same hash for OAEP and MGF1.
Result<std::string> RsaOaepEncrypt(const PKey& k, Hash h, std::string_view plaintext);
Result<std::string> RsaOaepDecrypt(const PKey& k, Hash h, std::string_view ciphertext);

// AES key wrap with padding (RFC 5649), key 16/24/32 bytes.
Result<std::string> AesKwpWrap(std::string_view kek, std::string_view plaintext);
Result<std::string> AesKwpUnwrap(std::string_view kek, std::string_view wrapped);

}  // namespace tresor::transit::crypto
