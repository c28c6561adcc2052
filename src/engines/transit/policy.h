// A transit key ("policy" in Vault's terms): its type, settings and versions, and the
// cryptographic operations on it (encrypt/decrypt/sign/verify/HMAC) in Vault's formats.
//
// Ownership and threads: a Policy is an immutable snapshot. Writers (rotate, config, trim,
// import) copy it, change the copy and publish the new snapshot (see KeyStore in
// backend.cc); readers hold a shared_ptr<const Policy> for the duration of one request and
// never block each other. Key versions are shared between snapshots (shared_ptr<const
// KeyVersion>) and wipe their material when the last snapshot using them goes away.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/secure.h"
#include "common/status.h"
#include "engines/transit/crypto.h"

namespace tresor::transit {

using json = nlohmann::json;

// Numbering follows Vault's keysutil so stored policies and backups read the same.
enum class KeyType {
  kAes256Gcm96 = 0,
  kEcdsaP256 = 1,
  kEd25519 = 2,
  kRsa2048 = 3,
  kRsa4096 = 4,
  kChaCha20Poly1305 = 5,
  kEcdsaP384 = 6,
  kEcdsaP521 = 7,
  kAes128Gcm96 = 8,
  kRsa3072 = 9,
  kHmac = 11,
};

std::optional<KeyType> ParseKeyType(const std::string& s);
std::string KeyTypeName(KeyType t);
bool SupportsEncryption(KeyType t);
bool SupportsSigning(KeyType t);
bool SupportsDerivation(KeyType t);
bool IsSymmetricAead(KeyType t);
bool IsRsa(KeyType t);
bool IsEcdsa(KeyType t);

constexpr int kHmacMinKeySize = 32;
constexpr int kHmacMaxKeySize = 512;
constexpr int kCurrentConvergentVersion = 3;
constexpr char kErrTooOld[] = "ciphertext or signature version is disallowed by policy (too old)";

// One version of a key. Immutable; secrets wiped on destruction.
struct KeyVersion {
  SecureString key;       // symmetric key, HMAC-type key, or 64-byte ed25519 private key (seed||pub)
  SecureString hmac_key;  // per-version HMAC key (all types but hmac)
  crypto::PKeyPtr pkey;   // parsed RSA/EC/Ed25519 key (private, or public-only if imported so)
  std::string public_key; // Vault's formatted public key: PEM for RSA/EC, base64 raw for ed25519
  bool public_only = false;
  int64_t creation_unix = 0;
  std::string creation_time;  // RFC 3339 nano
  int convergent_version = 0;
};
using KeyVersionPtr = std::shared_ptr<const KeyVersion>;

struct Policy {
  std::string name;
  KeyType type = KeyType::kAes256Gcm96;
  bool derived = false;
  int kdf = 1;  // 1 = HKDF-SHA256 (0 = Vault's legacy counter mode, not supported)
  bool convergent = false;
  int convergent_version = -1;
  bool exportable = false;
  bool deletion_allowed = false;
  bool allow_plaintext_backup = false;
  int min_decryption_version = 1;
  int min_encryption_version = 0;
  int min_available_version = 0;
  int latest_version = 0;
  int64_t auto_rotate_period = 0;  // seconds
  int key_size = 0;                // hmac only
  bool imported = false;
  bool allow_imported_key_rotation = false;
  json backup_info;   // null or {"time":..., "version":...}
  json restore_info;
  std::map<int, KeyVersionPtr> keys;  // every stored version >= min_available_version

  // Version `v` or nullptr.
  const KeyVersion* Get(int v) const;

  // Appends a freshly generated version (the policy must be a private copy).
  Status RotateInMemory();
  // Appends an imported version: raw symmetric/HMAC key bytes, or PKCS#8 DER for asymmetric.
  Status ImportVersion(const std::string& material);

  // Encryption key for version `ver` (derived from `context` when the key is derived).
  // `n` bytes are produced for derived keys (HKDF output is prefix-stable).
  Result<SecureString> EncKey(const std::string& context, int ver, size_t n) const;

  // Vault-format operations. Inputs/outputs are raw bytes except the "vault:vN:..." strings.
  Result<std::string> Encrypt(int ver, const std::string& context, const std::string& nonce,
                              const std::string& plaintext, const std::string& aad) const;
  Result<std::string> Decrypt(const std::string& context, const std::string& nonce, const std::string& value,
                              const std::string& aad, int* version_out = nullptr) const;
  struct SignOptions {
    crypto::Hash hash = crypto::Hash::kSha256;
    bool prehashed = false;
    bool jws = false;
    bool pss = true;
    int salt_len = -2;  // OpenSSL convention (see crypto::RsaOptions)
  };
  struct SignResult {
    std::string signature;
    std::string public_key;  // derived ed25519 only (raw bytes)
    int version = 0;
  };
  Result<SignResult> Sign(int ver, const std::string& context, const std::string& input, const SignOptions& o) const;
  Result<bool> Verify(const std::string& context, const std::string& input, const std::string& sig,
                      const SignOptions& o) const;
  Result<std::string> HmacKeyFor(int ver) const;

  // Storage form (JSON) and back.
  json ToJson() const;
  static Result<std::shared_ptr<Policy>> FromJson(const json& j);

  // The body of a "read key" response. `context` derives ed25519 public keys of derived keys.
  Result<json> Describe(const std::string& context) const;
};
using PolicyPtr = std::shared_ptr<const Policy>;

// Splits "vault:v<N>:<rest>"; `what` is "ciphertext" or "signature" for the error messages.
Result<std::pair<int, std::string>> ParseVersioned(const std::string& value, const std::string& what);

}  // namespace tresor::transit
