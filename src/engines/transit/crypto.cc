#include "engines/transit/crypto.h"

#include "crypto/aead.h"
#include "crypto/hash.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <vector>

namespace tresor::transit::crypto {
namespace {

const unsigned char* U(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

Status Fail(const std::string& what) {
  ERR_clear_error();
  return Status::Internal(what);
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(BIO* b) const { BIO_free(b); }
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
template <typename T>
using Owned = std::unique_ptr<T, CtxFree>;

const EVP_MD* MdFor(Hash h) {
  static const EVP_MD* sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  static const EVP_MD* sha224 = EVP_MD_fetch(nullptr, "SHA224", nullptr);
  static const EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static const EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  static const EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  static const EVP_MD* sha3_224 = EVP_MD_fetch(nullptr, "SHA3-224", nullptr);
  static const EVP_MD* sha3_256 = EVP_MD_fetch(nullptr, "SHA3-256", nullptr);
  static const EVP_MD* sha3_384 = EVP_MD_fetch(nullptr, "SHA3-384", nullptr);
  static const EVP_MD* sha3_512 = EVP_MD_fetch(nullptr, "SHA3-512", nullptr);
  switch (h) {
    case Hash::kNone: return nullptr;
    case Hash::kSha1: return sha1;
    case Hash::kSha224: return sha224;
    case Hash::kSha256: return sha256;
    case Hash::kSha384: return sha384;
    case Hash::kSha512: return sha512;
    case Hash::kSha3_224: return sha3_224;
    case Hash::kSha3_256: return sha3_256;
    case Hash::kSha3_384: return sha3_384;
    case Hash::kSha3_512: return sha3_512;
  }
  return nullptr;
}

Result<PKeyPtr> Wrap(EVP_PKEY* k, const char* what) {
  if (!k) return Fail(what);
  return PKeyPtr(std::make_shared<PKey>(k));
}

Result<std::string> BioToString(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  if (n < 0) return Fail("could not read encoded key");
  return std::string(data, size_t(n));
}

}  // namespace

namespace {
constexpr uint64_t kEdCtx = uint64_t(1) << 63;  // EVP_MD_CTX for Ed25519; otherwise EVP_PKEY_CTX
constexpr size_t kMaxPooled = 16;

void FreeCtx(uint64_t kind, void* ctx) {
  if (kind & kEdCtx) EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx));
  else EVP_PKEY_CTX_free(static_cast<EVP_PKEY_CTX*>(ctx));
}
}  // namespace

PKey::~PKey() {
  for (auto& [kind, ctx] : pool_) FreeCtx(kind, ctx);
  EVP_PKEY_free(k_);
}

void* PKey::TakeCtx(uint64_t kind) const {
  std::lock_guard lk(pool_mu_);
  for (size_t i = pool_.size(); i-- > 0;) {
    if (pool_[i].first == kind) {
      void* c = pool_[i].second;
      pool_.erase(pool_.begin() + long(i));
      return c;
    }
  }
  return nullptr;
}

void PKey::GiveCtx(uint64_t kind, void* ctx) const {
  {
    std::lock_guard lk(pool_mu_);
    if (pool_.size() < kMaxPooled) {
      pool_.emplace_back(kind, ctx);
      return;
    }
  }
  FreeCtx(kind, ctx);
}

// AEAD and HKDF come from the shared crypto module; transit only maps error codes.
namespace {
tresor::crypto::AeadAlg SharedAlg(Aead a) {
  switch (a) {
    case Aead::kAes128Gcm: return tresor::crypto::AeadAlg::kAes128Gcm;
    case Aead::kAes256Gcm: return tresor::crypto::AeadAlg::kAes256Gcm;
    case Aead::kChaCha20Poly1305: return tresor::crypto::AeadAlg::kChaCha20Poly1305;
  }
  return tresor::crypto::AeadAlg::kAes256Gcm;
}
}  // namespace

Result<std::string> AeadSeal(Aead alg, std::string_view key, std::string_view nonce, std::string_view plaintext,
                             std::string_view aad) {
  auto r = tresor::crypto::AeadSeal(SharedAlg(alg), key, nonce, plaintext, aad);
  if (!r.ok()) return Status::Internal("encryption failed: " + r.status().message());
  return r;
}

Result<std::string> AeadOpen(Aead alg, std::string_view key, std::string_view nonce, std::string_view sealed,
                             std::string_view aad) {
  auto r = tresor::crypto::AeadOpen(SharedAlg(alg), key, nonce, sealed, aad);
  if (!r.ok()) {
    if (r.status().code() == Code::kInternal) return r.status();
    return Status::InvalidRequest("cipher: message authentication failed");
  }
  return r;
}

std::optional<Hash> ParseHash(std::string_view n) {
  if (n == "none") return Hash::kNone;
  if (n == "sha1") return Hash::kSha1;
  if (n == "sha2-224") return Hash::kSha224;
  if (n == "sha2-256") return Hash::kSha256;
  if (n == "sha2-384") return Hash::kSha384;
  if (n == "sha2-512") return Hash::kSha512;
  if (n == "sha3-224") return Hash::kSha3_224;
  if (n == "sha3-256") return Hash::kSha3_256;
  if (n == "sha3-384") return Hash::kSha3_384;
  if (n == "sha3-512") return Hash::kSha3_512;
  return std::nullopt;
}

size_t HashSize(Hash h) {
  const EVP_MD* md = MdFor(h);
  return md ? size_t(EVP_MD_get_size(md)) : 0;
}

Result<std::string> Digest(Hash h, std::string_view data) {
  const EVP_MD* md = MdFor(h);
  if (!md) return Fail("unsupported hash");
  std::string out(size_t(EVP_MD_get_size(md)), '\0');
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), U(out), &n, md, nullptr) != 1) return Fail("digest failed");
  return out;
}

Result<std::string> Hmac(Hash h, std::string_view key, std::string_view data) {
  const EVP_MD* md = MdFor(h);
  if (!md) return Fail("unsupported hash");
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  Owned<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac));
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(md)), 0);
  params[1] = OSSL_PARAM_construct_end();
  // HMAC accepts an empty key; OpenSSL needs a non-null pointer for it.
  static const unsigned char kEmpty[1] = {0};
  if (!ctx || EVP_MAC_init(ctx.get(), key.empty() ? kEmpty : U(key), key.size(), params) != 1)
    return Fail("hmac initialisation failed");
  if (EVP_MAC_update(ctx.get(), U(data), data.size()) != 1) return Fail("hmac failed");
  std::string out(size_t(EVP_MD_get_size(md)), '\0');
  size_t n = 0;
  if (EVP_MAC_final(ctx.get(), U(out), &n, out.size()) != 1) return Fail("hmac failed");
  out.resize(n);
  return out;
}

Result<std::string> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info, size_t n) {
  return tresor::crypto::HkdfSha256(ikm, salt, info, n);
}

Result<PKeyPtr> GenerateEc(Curve c) {
  const char* name = c == Curve::kP256 ? "P-256" : c == Curve::kP384 ? "P-384" : "P-521";
  return Wrap(EVP_EC_gen(name), "EC key generation failed");
}

Result<PKeyPtr> GenerateRsa(int bits) {
  return Wrap(EVP_RSA_gen(static_cast<unsigned int>(bits)), "RSA key generation failed");
}

Result<PKeyPtr> Ed25519FromSeed(std::string_view seed) {
  if (seed.size() != 32) return Fail("invalid ed25519 seed length");
  return Wrap(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, U(seed), seed.size()),
              "ed25519 key creation failed");
}

Result<std::string> Ed25519PublicRaw(const PKey& k) {
  std::string out(32, '\0');
  size_t n = out.size();
  if (EVP_PKEY_get_raw_public_key(k.get(), U(out), &n) != 1 || n != 32) return Fail("no ed25519 public key");
  return out;
}

Result<std::string> Ed25519SeedRaw(const PKey& k) {
  std::string out(32, '\0');
  size_t n = out.size();
  if (EVP_PKEY_get_raw_private_key(k.get(), U(out), &n) != 1 || n != 32) return Fail("no ed25519 private key");
  return out;
}

Result<std::string> PrivateKeyToPkcs8Der(const PKey& k) {
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(k.get());
  if (!p8) return Fail("could not encode private key");
  unsigned char* der = nullptr;
  int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (n <= 0) return Fail("could not encode private key");
  std::string out(reinterpret_cast<char*>(der), size_t(n));
  OPENSSL_clear_free(der, size_t(n));
  return out;
}

Result<PKeyPtr> PrivateKeyFromPkcs8Der(std::string_view der) {
  const unsigned char* p = U(der);
  PKCS8_PRIV_KEY_INFO* p8 = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, long(der.size()));
  if (!p8) return Status::InvalidRequest("error parsing asymmetric key: not a PKCS#8 private key");
  EVP_PKEY* k = EVP_PKCS82PKEY(p8);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (!k) {
    ERR_clear_error();
    return Status::InvalidRequest("error parsing asymmetric key: unsupported private key");
  }
  return PKeyPtr(std::make_shared<PKey>(k));
}

Result<PKeyPtr> PublicKeyFromDer(std::string_view der) {
  const unsigned char* p = U(der);
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, long(der.size()));
  if (!k) {
    ERR_clear_error();
    return Status::InvalidRequest("error parsing public key");
  }
  return PKeyPtr(std::make_shared<PKey>(k));
}

Result<PKeyPtr> PublicKeyFromPem(std::string_view pem) {
  Owned<BIO> b(BIO_new_mem_buf(pem.data(), int(pem.size())));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(b.get(), nullptr, nullptr, nullptr);
  if (!k) {
    ERR_clear_error();
    return Status::InvalidRequest("error parsing public key");
  }
  return PKeyPtr(std::make_shared<PKey>(k));
}

Result<std::string> PublicKeyToPem(const PKey& k) {
  Owned<BIO> b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PUBKEY(b.get(), k.get()) != 1) return Fail("could not encode public key");
  return BioToString(b.get());
}

Result<std::string> RsaPrivateKeyToPkcs1Pem(const PKey& k) {
  Owned<BIO> b(BIO_new(BIO_s_mem()));
  // "type-specific" structure for RSA is PKCS#1: "-----BEGIN RSA PRIVATE KEY-----".
  if (!b || PEM_write_bio_PrivateKey_traditional(b.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Fail("could not encode private key");
  auto s = BioToString(b.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  if (n > 0) OPENSSL_cleanse(data, size_t(n));
  return s;
}

Result<std::string> EcPrivateKeyToSec1Pem(const PKey& k) { return RsaPrivateKeyToPkcs1Pem(k); }

int KeyBits(const PKey& k) { return EVP_PKEY_get_bits(k.get()); }
bool IsRsa(const PKey& k) { return EVP_PKEY_is_a(k.get(), "RSA") == 1; }
bool IsEd25519(const PKey& k) { return EVP_PKEY_is_a(k.get(), "ED25519") == 1; }

std::optional<Curve> EcCurve(const PKey& k) {
  if (EVP_PKEY_is_a(k.get(), "EC") != 1) return std::nullopt;
  char name[64] = {0};
  size_t n = 0;
  if (EVP_PKEY_get_utf8_string_param(k.get(), OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &n) != 1)
    return std::nullopt;
  std::string_view g(name, n);
  if (g == "prime256v1" || g == "P-256") return Curve::kP256;
  if (g == "secp384r1" || g == "P-384") return Curve::kP384;
  if (g == "secp521r1" || g == "P-521") return Curve::kP521;
  return std::nullopt;
}

size_t CurveBytes(Curve c) { return c == Curve::kP256 ? 32 : c == Curve::kP384 ? 48 : 66; }

namespace {
Status ApplyRsa(EVP_PKEY_CTX* ctx, const RsaOptions& o, bool signing) {
  if (EVP_PKEY_CTX_set_rsa_padding(ctx, o.pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1)
    return Fail("rsa setup failed");
  if (o.hash != Hash::kNone && EVP_PKEY_CTX_set_signature_md(ctx, MdFor(o.hash)) != 1) return Fail("rsa setup failed");
  if (o.pss) {
    int salt = o.salt_len;
    if (salt == -2 && signing) salt = RSA_PSS_SALTLEN_MAX;
    if (salt == -2 && !signing) salt = RSA_PSS_SALTLEN_AUTO;
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) != 1) return Fail("rsa setup failed");
  }
  return Status::Ok();
}
}  // namespace

Result<std::string> Sign(const PKey& k, std::string_view input, const RsaOptions& rsa) {
  if (IsEd25519(k)) {
    auto* md = static_cast<EVP_MD_CTX*>(k.TakeCtx(kEdCtx));
    if (!md) {
      md = EVP_MD_CTX_new();
      if (!md || EVP_DigestSignInit(md, nullptr, nullptr, nullptr, k.get()) != 1) {
        EVP_MD_CTX_free(md);
        return Fail("signing failed");
      }
    }
    std::string sig(64, '\0');
    size_t n = sig.size();
    if (EVP_DigestSign(md, U(sig), &n, U(input), input.size()) != 1) {
      EVP_MD_CTX_free(md);
      return Fail("signing failed");
    }
    k.GiveCtx(kEdCtx, md);  // one-shot EdDSA contexts may sign again
    sig.resize(n);
    return sig;
  }
  bool is_rsa = IsRsa(k);
  uint64_t kind = is_rsa ? (uint64_t(rsa.pss) << 40) | (uint64_t(rsa.hash) << 32) | uint32_t(rsa.salt_len) : 1;
  auto* ctx = static_cast<EVP_PKEY_CTX*>(k.TakeCtx(kind));
  if (!ctx) {
    ctx = EVP_PKEY_CTX_new(k.get(), nullptr);
    if (!ctx || EVP_PKEY_sign_init(ctx) != 1 || (is_rsa && !ApplyRsa(ctx, rsa, true).ok())) {
      EVP_PKEY_CTX_free(ctx);
      return Fail("signing failed");
    }
  }
  size_t n = 0;
  std::string sig;
  bool ok = EVP_PKEY_sign(ctx, nullptr, &n, U(input), input.size()) == 1;
  if (ok) {
    sig.resize(n);
    ok = EVP_PKEY_sign(ctx, U(sig), &n, U(input), input.size()) == 1;
  }
  if (!ok) {
    EVP_PKEY_CTX_free(ctx);
    return Fail("signing failed");
  }
  k.GiveCtx(kind, ctx);
  sig.resize(n);
  return sig;
}

bool Verify(const PKey& k, std::string_view input, std::string_view sig, const RsaOptions& rsa) {
  bool ok = false;
  if (IsEd25519(k)) {
    Owned<EVP_MD_CTX> md(EVP_MD_CTX_new());
    ok = md && EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, k.get()) == 1 &&
         EVP_DigestVerify(md.get(), U(sig), sig.size(), U(input), input.size()) == 1;
  } else {
    Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(k.get(), nullptr));
    ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 && (!IsRsa(k) || ApplyRsa(ctx.get(), rsa, false).ok()) &&
         EVP_PKEY_verify(ctx.get(), U(sig), sig.size(), U(input), input.size()) == 1;
  }
  ERR_clear_error();
  return ok;
}

Result<std::string> EcdsaDerToRaw(std::string_view der, size_t n) {
  const unsigned char* p = U(der);
  Owned<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, long(der.size())));
  if (!sig) return Fail("malformed ECDSA signature");
  std::string out(2 * n, '\0');
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), U(out), int(n)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), U(out) + n, int(n)) < 0)
    return Fail("malformed ECDSA signature");
  return out;
}

Result<std::string> EcdsaRawToDer(std::string_view raw) {
  size_t half = raw.size() / 2;
  Owned<ECDSA_SIG> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(U(raw), int(half), nullptr);
  BIGNUM* s = BN_bin2bn(U(raw) + half, int(raw.size() - half), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return Fail("malformed ECDSA signature");
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return Fail("malformed ECDSA signature");
  std::string out(reinterpret_cast<char*>(der), size_t(len));
  OPENSSL_free(der);
  return out;
}

Result<std::string> RsaOaepEncrypt(const PKey& k, Hash h, std::string_view plaintext) {
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(k.get(), nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), MdFor(h)) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), MdFor(h)) != 1)
    return Fail("rsa encryption setup failed");
  size_t n = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &n, U(plaintext), plaintext.size()) != 1)
    return Fail("failed to RSA encrypt the plaintext");
  std::string out(n, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), U(out), &n, U(plaintext), plaintext.size()) != 1) {
    ERR_clear_error();
    return Status::InvalidRequest("failed to RSA encrypt the plaintext: message too long for RSA key size");
  }
  out.resize(n);
  return out;
}

Result<std::string> RsaOaepDecrypt(const PKey& k, Hash h, std::string_view ciphertext) {
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(k.get(), nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), MdFor(h)) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), MdFor(h)) != 1)
    return Fail("rsa decryption setup failed");
  size_t n = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &n, U(ciphertext), ciphertext.size()) != 1) {
    ERR_clear_error();
    return Status::InvalidRequest("failed to RSA decrypt the ciphertext: crypto/rsa: decryption error");
  }
  std::string out(n, '\0');
  if (EVP_PKEY_decrypt(ctx.get(), U(out), &n, U(ciphertext), ciphertext.size()) != 1) {
    ERR_clear_error();
    return Status::InvalidRequest("failed to RSA decrypt the ciphertext: crypto/rsa: decryption error");
  }
  out.resize(n);
  return out;
}

namespace {
Result<std::string> Kwp(bool wrap, std::string_view kek, std::string_view in) {
  const char* name = kek.size() == 16 ? "AES-128-WRAP-PAD" : kek.size() == 24 ? "AES-192-WRAP-PAD" : "AES-256-WRAP-PAD";
  if (kek.size() != 16 && kek.size() != 24 && kek.size() != 32) return Status::InvalidRequest("invalid wrapping key length");
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (!c) return Fail("key wrap unavailable");
  Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  std::string out(in.size() + 16, '\0');
  int len = 0, fin = 0;
  bool ok = ctx && EVP_CipherInit_ex2(ctx.get(), c, U(kek), nullptr, wrap ? 1 : 0, nullptr) == 1 &&
            EVP_CipherUpdate(ctx.get(), U(out), &len, U(in), int(in.size())) == 1 &&
            EVP_CipherFinal_ex(ctx.get(), U(out) + len, &fin) == 1;
  EVP_CIPHER_free(c);
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    ERR_clear_error();
    return Status::InvalidRequest(wrap ? "failed to wrap key" : "failed to unwrap key: authentication failed");
  }
  out.resize(size_t(len + fin));
  return out;
}
}  // namespace

Result<std::string> AesKwpWrap(std::string_view kek, std::string_view plaintext) { return Kwp(true, kek, plaintext); }
Result<std::string> AesKwpUnwrap(std::string_view kek, std::string_view wrapped) { return Kwp(false, kek, wrapped); }

}  // namespace tresor::transit::crypto
