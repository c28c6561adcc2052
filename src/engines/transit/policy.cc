#include "engines/transit/policy.h"

#include <chrono>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/random.h"

namespace tresor::transit {
namespace {

constexpr char kPrefix[] = "vault:v";

std::string VersionPrefix(int v) { return "vault:v" + std::to_string(v) + ":"; }

Result<int> ParseIntStrict(const std::string& s) {
  if (s.empty() || s.size() > 9) return Status::InvalidRequest("");
  int v = 0;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
    if (s.size() == 1) return Status::InvalidRequest("");
  }
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return Status::InvalidRequest("");
    v = v * 10 + (s[i] - '0');
  }
  return neg ? -v : v;
}

crypto::Aead AeadFor(KeyType t) {
  switch (t) {
    case KeyType::kAes128Gcm96: return crypto::Aead::kAes128Gcm;
    case KeyType::kChaCha20Poly1305: return crypto::Aead::kChaCha20Poly1305;
    default: return crypto::Aead::kAes256Gcm;
  }
}

size_t EncKeyBytes(KeyType t) { return t == KeyType::kAes128Gcm96 ? 16 : 32; }

std::optional<crypto::Curve> CurveFor(KeyType t) {
  switch (t) {
    case KeyType::kEcdsaP256: return crypto::Curve::kP256;
    case KeyType::kEcdsaP384: return crypto::Curve::kP384;
    case KeyType::kEcdsaP521: return crypto::Curve::kP521;
    default: return std::nullopt;
  }
}

int RsaBits(KeyType t) { return t == KeyType::kRsa3072 ? 3072 : t == KeyType::kRsa4096 ? 4096 : 2048; }

void StampNow(KeyVersion* kv) {
  auto now = std::chrono::system_clock::now();
  kv->creation_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  kv->creation_time = FormatRFC3339Nano(now);
}

// Fills pkey/public_key of an ed25519 version from its 64-byte private key.
Status FinishEd25519(KeyVersion* kv) {
  if (kv->key.size() != 64) return Status::Internal("invalid ed25519 key length");
  ASSIGN_OR_RETURN(kv->pkey, crypto::Ed25519FromSeed(kv->key.view().substr(0, 32)));
  ASSIGN_OR_RETURN(std::string pub, crypto::Ed25519PublicRaw(*kv->pkey));
  kv->public_key = Base64Encode(pub);
  return Status::Ok();
}

const char* CurveDisplayName(KeyType t) {
  switch (t) {
    case KeyType::kEcdsaP256: return "P-256";
    case KeyType::kEcdsaP384: return "P-384";
    case KeyType::kEcdsaP521: return "P-521";
    default: return "";
  }
}

}  // namespace

std::optional<KeyType> ParseKeyType(const std::string& s) {
  if (s == "aes128-gcm96") return KeyType::kAes128Gcm96;
  if (s == "aes256-gcm96") return KeyType::kAes256Gcm96;
  if (s == "chacha20-poly1305") return KeyType::kChaCha20Poly1305;
  if (s == "ecdsa-p256") return KeyType::kEcdsaP256;
  if (s == "ecdsa-p384") return KeyType::kEcdsaP384;
  if (s == "ecdsa-p521") return KeyType::kEcdsaP521;
  if (s == "ed25519") return KeyType::kEd25519;
  if (s == "rsa-2048") return KeyType::kRsa2048;
  if (s == "rsa-3072") return KeyType::kRsa3072;
  if (s == "rsa-4096") return KeyType::kRsa4096;
  if (s == "hmac") return KeyType::kHmac;
  return std::nullopt;
}

std::string KeyTypeName(KeyType t) {
  switch (t) {
    case KeyType::kAes128Gcm96: return "aes128-gcm96";
    case KeyType::kAes256Gcm96: return "aes256-gcm96";
    case KeyType::kChaCha20Poly1305: return "chacha20-poly1305";
    case KeyType::kEcdsaP256: return "ecdsa-p256";
    case KeyType::kEcdsaP384: return "ecdsa-p384";
    case KeyType::kEcdsaP521: return "ecdsa-p521";
    case KeyType::kEd25519: return "ed25519";
    case KeyType::kRsa2048: return "rsa-2048";
    case KeyType::kRsa3072: return "rsa-3072";
    case KeyType::kRsa4096: return "rsa-4096";
    case KeyType::kHmac: return "hmac";
  }
  return "[unknown]";
}

bool IsSymmetricAead(KeyType t) {
  return t == KeyType::kAes128Gcm96 || t == KeyType::kAes256Gcm96 || t == KeyType::kChaCha20Poly1305;
}
bool IsRsa(KeyType t) { return t == KeyType::kRsa2048 || t == KeyType::kRsa3072 || t == KeyType::kRsa4096; }
bool IsEcdsa(KeyType t) { return CurveFor(t).has_value(); }
bool SupportsEncryption(KeyType t) { return IsSymmetricAead(t) || IsRsa(t); }
bool SupportsSigning(KeyType t) { return IsEcdsa(t) || IsRsa(t) || t == KeyType::kEd25519; }
bool SupportsDerivation(KeyType t) { return IsSymmetricAead(t) || t == KeyType::kEd25519; }

Result<std::pair<int, std::string>> ParseVersioned(const std::string& value, const std::string& what) {
  if (value.compare(0, sizeof(kPrefix) - 1, kPrefix) != 0)
    return Status::InvalidRequest("invalid " + what + ": no prefix");
  std::string rest = value.substr(sizeof(kPrefix) - 1);
  size_t colon = rest.find(':');
  if (colon == std::string::npos) return Status::InvalidRequest("invalid " + what + ": wrong number of fields");
  auto ver = ParseIntStrict(rest.substr(0, colon));
  if (!ver.ok()) return Status::InvalidRequest("invalid " + what + ": version number could not be decoded");
  return std::make_pair(*ver, rest.substr(colon + 1));
}

const KeyVersion* Policy::Get(int v) const {
  auto it = keys.find(v);
  return it == keys.end() ? nullptr : it->second.get();
}

Status Policy::RotateInMemory() {
  if (imported && !allow_imported_key_rotation)
    return Status::InvalidRequest("imported key " + name + " does not allow rotation within Vault");
  auto kv = std::make_shared<KeyVersion>();
  StampNow(kv.get());
  kv->hmac_key = SecureString(RandomBytes(32));
  if (IsSymmetricAead(type)) {
    kv->key = SecureString(RandomBytes(EncKeyBytes(type)));
  } else if (type == KeyType::kHmac) {
    int n = key_size ? key_size : 32;
    if (n < kHmacMinKeySize || n > kHmacMaxKeySize)
      return Status::InvalidRequest("invalid key size for HMAC key, must be between 32 and 512 bytes");
    kv->key = SecureString(RandomBytes(size_t(n)));
  } else if (type == KeyType::kEd25519) {
    std::string seed = RandomBytes(32);
    ASSIGN_OR_RETURN(kv->pkey, crypto::Ed25519FromSeed(seed));
    ASSIGN_OR_RETURN(std::string pub, crypto::Ed25519PublicRaw(*kv->pkey));
    kv->key = SecureString(seed + pub);
    Wipe(seed);
    kv->public_key = Base64Encode(pub);
  } else if (auto c = CurveFor(type)) {
    ASSIGN_OR_RETURN(kv->pkey, crypto::GenerateEc(*c));
    ASSIGN_OR_RETURN(kv->public_key, crypto::PublicKeyToPem(*kv->pkey));
  } else if (IsRsa(type)) {
    ASSIGN_OR_RETURN(kv->pkey, crypto::GenerateRsa(RsaBits(type)));
    ASSIGN_OR_RETURN(kv->public_key, crypto::PublicKeyToPem(*kv->pkey));
  }
  if (convergent && (convergent_version == -1 || convergent_version > 1)) kv->convergent_version = kCurrentConvergentVersion;
  latest_version += 1;
  keys[latest_version] = std::move(kv);
  if (min_decryption_version == 0) min_decryption_version = 1;
  return Status::Ok();
}

Status Policy::ImportVersion(const std::string& material) {
  auto kv = std::make_shared<KeyVersion>();
  StampNow(kv.get());
  if (type != KeyType::kHmac) kv->hmac_key = SecureString(RandomBytes(32));
  if (IsSymmetricAead(type) || type == KeyType::kHmac) {
    size_t n = material.size();
    bool bad = (type == KeyType::kAes128Gcm96 && n != 16) ||
               ((type == KeyType::kAes256Gcm96 || type == KeyType::kChaCha20Poly1305) && n != 32) ||
               (type == KeyType::kHmac && (n < size_t(kHmacMinKeySize) || n > size_t(kHmacMaxKeySize)));
    if (bad)
      return Status::InvalidRequest("invalid key size " + std::to_string(n) + " bytes for key type " + KeyTypeName(type));
    kv->key = SecureString(material);
    if (type == KeyType::kHmac) key_size = int(n);
  } else {
    ASSIGN_OR_RETURN(crypto::PKeyPtr k, crypto::PrivateKeyFromPkcs8Der(material));
    if (type == KeyType::kEd25519) {
      if (!crypto::IsEd25519(*k)) return Status::InvalidRequest("invalid key type: expected ed25519");
      // Vault keeps the Go-style 64-byte private key (seed || public).
      ASSIGN_OR_RETURN(std::string seed, crypto::Ed25519SeedRaw(*k));
      ASSIGN_OR_RETURN(std::string pub, crypto::Ed25519PublicRaw(*k));
      kv->key = SecureString(seed + pub);
      Wipe(seed);
      kv->pkey = k;
      kv->public_key = Base64Encode(pub);
    } else if (auto c = CurveFor(type)) {
      auto got = crypto::EcCurve(*k);
      if (!got) return Status::InvalidRequest("invalid key type: expected " + KeyTypeName(type));
      if (*got != *c) return Status::InvalidRequest("invalid curve: expected " + std::string(CurveDisplayName(type)));
      kv->pkey = k;
      ASSIGN_OR_RETURN(kv->public_key, crypto::PublicKeyToPem(*k));
    } else if (IsRsa(type)) {
      if (!crypto::IsRsa(*k)) return Status::InvalidRequest("invalid key type: expected " + KeyTypeName(type));
      int want = RsaBits(type);
      if (crypto::KeyBits(*k) != want)
        return Status::InvalidRequest("invalid key size: expected " + std::to_string(want / 8) + " bytes, got " +
                                      std::to_string((crypto::KeyBits(*k) + 7) / 8) + " bytes");
      kv->pkey = k;
      ASSIGN_OR_RETURN(kv->public_key, crypto::PublicKeyToPem(*k));
    }
  }
  latest_version += 1;
  keys[latest_version] = std::move(kv);
  if (min_decryption_version == 0) min_decryption_version = 1;
  return Status::Ok();
}

Result<SecureString> Policy::EncKey(const std::string& context, int ver, size_t n) const {
  const KeyVersion* kv = Get(ver);
  if (!derived) {
    if (!kv) return Status::InvalidRequest("no such key version");
    return kv->key;
  }
  if (!SupportsDerivation(type)) return Status::InvalidRequest("derivation not supported for key type " + KeyTypeName(type));
  if (ver <= 0 || ver > latest_version) return Status::InvalidRequest("invalid key version");
  if (context.empty())
    return Status::InvalidRequest(
        "missing 'context' for key derivation; the key was created using a derived key, which means additional, "
        "per-request information must be included in order to perform operations with the key");
  if (!kv) return Status::InvalidRequest("no such key version");
  if (kdf != 1) return Status::Internal("unsupported key derivation mode");
  ASSIGN_OR_RETURN(std::string out, crypto::HkdfSha256(kv->key.view(), "", context, n));
  return SecureString(std::move(out));
}

namespace {
int ConvergentVersionOf(const Policy& p, int ver) {
  if (!p.convergent) return 0;
  int cv = p.convergent_version == 0 ? 1 : p.convergent_version;
  const KeyVersion* kv = p.Get(ver);
  if (kv && kv->convergent_version != 0) cv = kv->convergent_version;
  return cv;
}
}  // namespace

Result<std::string> Policy::Encrypt(int ver, const std::string& context, const std::string& nonce_in,
                                    const std::string& plaintext, const std::string& aad) const {
  if (!SupportsEncryption(type))
    return Status::InvalidRequest("message encryption not supported for key type " + KeyTypeName(type));
  if (ver == 0) ver = latest_version;
  else if (ver < 0) return Status::InvalidRequest("requested version for encryption is negative");
  else if (ver > latest_version)
    return Status::InvalidRequest("requested version for encryption is higher than the latest key version");
  else if (ver < min_encryption_version)
    return Status::InvalidRequest("requested version for encryption is less than the minimum encryption key version");

  std::string out;
  if (IsSymmetricAead(type)) {
    int cv = ConvergentVersionOf(*this, ver);
    size_t enc_bytes = EncKeyBytes(type);
    size_t hmac_bytes = cv > 2 ? 32 : 0;
    ASSIGN_OR_RETURN(SecureString key, EncKey(context, ver, enc_bytes + hmac_bytes));
    if (key.size() < enc_bytes + hmac_bytes) return Status::Internal("could not derive key, length too small");
    std::string_view enc_key = key.view().substr(0, enc_bytes);
    std::string nonce = nonce_in;
    if (convergent) {
      if (cv == 1) {
        if (nonce.size() != crypto::kNonceSize)
          return Status::InvalidRequest(
              "base64-decoded nonce must be 12 bytes long when using convergent encryption with this key");
      } else {
        std::string_view hk = cv > 2 ? key.view().substr(enc_bytes) : std::string_view(context);
        ASSIGN_OR_RETURN(std::string sum, crypto::Hmac(crypto::Hash::kSha256, hk, plaintext));
        nonce = sum.substr(0, crypto::kNonceSize);
      }
    } else if (nonce.empty()) {
      nonce = RandomBytes(crypto::kNonceSize);
    } else if (nonce.size() != crypto::kNonceSize) {
      return Status::InvalidRequest("base64-decoded nonce must be 12 bytes long but given " +
                                    std::to_string(nonce.size()) + " bytes");
    }
    ASSIGN_OR_RETURN(std::string sealed, crypto::AeadSeal(AeadFor(type), enc_key, nonce, plaintext, aad));
    out = (convergent && cv == 1) ? std::move(sealed) : nonce + sealed;
  } else {
    const KeyVersion* kv = Get(ver);
    if (!kv || !kv->pkey) return Status::InvalidRequest("no such key version");
    ASSIGN_OR_RETURN(out, crypto::RsaOaepEncrypt(*kv->pkey, crypto::Hash::kSha256, plaintext));
  }
  return VersionPrefix(ver) + Base64Encode(out);
}

Result<std::string> Policy::Decrypt(const std::string& context, const std::string& nonce, const std::string& value,
                                    const std::string& aad, int* version_out) const {
  if (!SupportsEncryption(type))
    return Status::InvalidRequest("message decryption not supported for key type " + KeyTypeName(type));
  ASSIGN_OR_RETURN(auto parsed, ParseVersioned(value, "ciphertext"));
  int ver = parsed.first == 0 ? 1 : parsed.first;
  if (ver > latest_version) return Status::InvalidRequest("invalid ciphertext: version is too new");
  if (min_decryption_version > 0 && ver < min_decryption_version) return Status::InvalidRequest(kErrTooOld);
  int cv = ConvergentVersionOf(*this, ver);
  if (cv == 1 && nonce.empty()) return Status::InvalidRequest("invalid convergent nonce supplied");
  auto decoded = Base64Decode(parsed.second);
  if (!decoded) return Status::InvalidRequest("invalid ciphertext: could not decode base64");
  if (version_out) *version_out = ver;
  if (IsSymmetricAead(type)) {
    size_t enc_bytes = EncKeyBytes(type);
    ASSIGN_OR_RETURN(SecureString key, EncKey(context, ver, enc_bytes));
    if (key.size() != enc_bytes) return Status::Internal("could not derive enc key, length not correct");
    if (cv == 1) return crypto::AeadOpen(AeadFor(type), key.view(), nonce, *decoded, aad);
    if (decoded->size() < crypto::kNonceSize) return Status::InvalidRequest("invalid ciphertext length");
    std::string_view d(*decoded);
    return crypto::AeadOpen(AeadFor(type), key.view(), d.substr(0, crypto::kNonceSize), d.substr(crypto::kNonceSize),
                            aad);
  }
  const KeyVersion* kv = Get(ver);
  if (!kv || !kv->pkey) return Status::InvalidRequest("no such key version");
  if (kv->public_only) return Status::InvalidRequest("cannot decrypt: key version has no private key");
  return crypto::RsaOaepDecrypt(*kv->pkey, crypto::Hash::kSha256, *decoded);
}

Result<Policy::SignResult> Policy::Sign(int ver, const std::string& context, const std::string& input_in,
                                        const SignOptions& o) const {
  if (!SupportsSigning(type))
    return Status::InvalidRequest("message signing not supported for key type " + KeyTypeName(type));
  if (ver == 0) ver = latest_version;
  else if (ver < 0) return Status::InvalidRequest("requested version for signing is negative");
  else if (ver > latest_version)
    return Status::InvalidRequest("requested version for signing is higher than the latest key version");
  else if (min_encryption_version > 0 && ver < min_encryption_version)
    return Status::InvalidRequest("requested version for signing is less than the minimum encryption key version");
  const KeyVersion* kv = Get(ver);
  if (!kv) return Status::InvalidRequest("no such key version");
  if (kv->public_only) return Status::InvalidRequest("cannot sign: key version has no private key");

  SignResult res;
  res.version = ver;
  std::string input = input_in;
  std::string sig;
  if (type == KeyType::kEd25519) {
    crypto::PKeyPtr k = kv->pkey;
    if (derived) {
      ASSIGN_OR_RETURN(SecureString seed, EncKey(context, ver, 32));
      ASSIGN_OR_RETURN(k, crypto::Ed25519FromSeed(seed.view()));
      ASSIGN_OR_RETURN(res.public_key, crypto::Ed25519PublicRaw(*k));
    }
    ASSIGN_OR_RETURN(sig, crypto::Sign(*k, input));
  } else {
    if (!o.prehashed && o.hash != crypto::Hash::kNone) {
      ASSIGN_OR_RETURN(input, crypto::Digest(o.hash, input));
    }
    if (IsEcdsa(type)) {
      ASSIGN_OR_RETURN(sig, crypto::Sign(*kv->pkey, input));
      if (o.jws) {
        ASSIGN_OR_RETURN(sig, crypto::EcdsaDerToRaw(sig, crypto::CurveBytes(*CurveFor(type))));
      }
    } else {
      if (o.pss && o.hash == crypto::Hash::kNone)
        return Status::InvalidRequest("unsupported hash algorithm none for pss signatures");
      if (o.pss) {
        int max_salt = (crypto::KeyBits(*kv->pkey) - 1 + 7) / 8 - 2 - int(crypto::HashSize(o.hash));
        if (o.salt_len != -2 && (o.salt_len < -1 || o.salt_len > max_salt))
          return Status::InvalidRequest("requested salt length " + std::to_string(o.salt_len) + " is invalid");
      }
      if (o.prehashed && o.hash != crypto::Hash::kNone && input.size() != crypto::HashSize(o.hash))
        return Status::InvalidRequest("input length does not match the hash algorithm's digest size");
      crypto::RsaOptions ro{o.pss, o.hash, o.salt_len};
      ASSIGN_OR_RETURN(sig, crypto::Sign(*kv->pkey, input, ro));
    }
  }
  res.signature = VersionPrefix(ver) + (o.jws ? Base64UrlEncode(sig) : Base64Encode(sig));
  return res;
}

Result<bool> Policy::Verify(const std::string& context, const std::string& input_in, const std::string& sigstr,
                            const SignOptions& o) const {
  if (!SupportsSigning(type))
    return Status::InvalidRequest("message verification not supported for key type " + KeyTypeName(type));
  ASSIGN_OR_RETURN(auto parsed, ParseVersioned(sigstr, "signature"));
  int ver = parsed.first;
  if (ver > latest_version) return Status::InvalidRequest("invalid signature: version is too new");
  if (min_decryption_version > 0 && ver < min_decryption_version) return Status::InvalidRequest(kErrTooOld);
  auto sig = o.jws ? Base64UrlDecode(parsed.second) : Base64Decode(parsed.second);
  if (!sig) return Status::InvalidRequest("invalid base64 signature value");
  const KeyVersion* kv = Get(ver);
  if (!kv) return Status::InvalidRequest("no such key version");
  std::string input = input_in;
  if (type == KeyType::kEd25519) {
    crypto::PKeyPtr k = kv->pkey;
    if (derived) {
      ASSIGN_OR_RETURN(SecureString seed, EncKey(context, ver, 32));
      ASSIGN_OR_RETURN(k, crypto::Ed25519FromSeed(seed.view()));
    }
    return crypto::Verify(*k, input, *sig);
  }
  if (!o.prehashed && o.hash != crypto::Hash::kNone) {
    ASSIGN_OR_RETURN(input, crypto::Digest(o.hash, input));
  }
  if (IsEcdsa(type)) {
    std::string der = *sig;
    if (o.jws) {
      size_t n = crypto::CurveBytes(*CurveFor(type));
      if (sig->size() != 2 * n) return false;
      ASSIGN_OR_RETURN(der, crypto::EcdsaRawToDer(*sig));
    } else {
      auto raw = crypto::EcdsaDerToRaw(*sig, crypto::CurveBytes(*CurveFor(type)));
      if (!raw.ok()) return Status::InvalidRequest("supplied signature is invalid");
    }
    return crypto::Verify(*kv->pkey, input, der);
  }
  if (o.pss && o.hash == crypto::Hash::kNone)
    return Status::InvalidRequest("unsupported hash algorithm none for pss signatures");
  if (o.pss) {
    int max_salt = (crypto::KeyBits(*kv->pkey) - 1 + 7) / 8 - 2 - int(crypto::HashSize(o.hash));
    if (o.salt_len != -2 && (o.salt_len < -1 || o.salt_len > max_salt))
      return Status::InvalidRequest("requested salt length " + std::to_string(o.salt_len) + " is invalid");
  }
  crypto::RsaOptions ro{o.pss, o.hash, o.salt_len};
  return crypto::Verify(*kv->pkey, input, *sig, ro);
}

Result<std::string> Policy::HmacKeyFor(int ver) const {
  if (ver < 0) return Status::InvalidRequest("key version does not exist (cannot be negative)");
  if (ver > latest_version)
    return Status::InvalidRequest("key version does not exist; latest key version is " + std::to_string(latest_version));
  const KeyVersion* kv = Get(ver);
  if (!kv) return Status::InvalidRequest("no such key version");
  if (type == KeyType::kHmac) return kv->key.str();
  if (kv->hmac_key.empty()) return Status::InvalidRequest("no HMAC key exists for that key version");
  return kv->hmac_key.str();
}

json Policy::ToJson() const {
  json ks = json::object();
  for (const auto& [v, kv] : keys) {
    json e = {{"time", kv->creation_time},
              {"creation_time", kv->creation_unix},
              {"public_key", kv->public_key},
              {"convergent_version", kv->convergent_version}};
    if (!kv->key.empty()) e["key"] = Base64Encode(kv->key.view());
    if (!kv->hmac_key.empty()) e["hmac_key"] = Base64Encode(kv->hmac_key.view());
    if ((IsRsa(type) || IsEcdsa(type)) && kv->pkey && !kv->public_only) {
      auto der = crypto::PrivateKeyToPkcs8Der(*kv->pkey);
      if (der.ok()) {
        e["private_key_pkcs8"] = Base64Encode(*der);
        Wipe(*der);
      }
    }
    if (kv->public_only) e["public_key_imported"] = true;
    ks[std::to_string(v)] = std::move(e);
  }
  return json{{"name", name},
              {"type", int(type)},
              {"keys", std::move(ks)},
              {"derived", derived},
              {"kdf", kdf},
              {"convergent_encryption", convergent},
              {"convergent_version", convergent_version},
              {"exportable", exportable},
              {"deletion_allowed", deletion_allowed},
              {"allow_plaintext_backup", allow_plaintext_backup},
              {"min_decryption_version", min_decryption_version},
              {"min_encryption_version", min_encryption_version},
              {"min_available_version", min_available_version},
              {"latest_version", latest_version},
              {"archive_version", latest_version},
              // Vault stores a Go time.Duration (nanoseconds).
              {"auto_rotate_period", auto_rotate_period * int64_t(1000000000)},
              {"key_size", key_size},
              {"Imported", imported},
              {"AllowImportedKeyRotation", allow_imported_key_rotation},
              {"backup_info", backup_info},
              {"restore_info", restore_info}};
}

Result<std::shared_ptr<Policy>> Policy::FromJson(const json& j) {
  auto bad = [](const std::string& why) { return Status::Corruption("invalid stored transit key: " + why); };
  if (!j.is_object()) return bad("not an object");
  auto p = std::make_shared<Policy>();
  try {
    p->name = j.value("name", "");
    int t = j.value("type", 0);
    auto kt = static_cast<KeyType>(t);
    if (KeyTypeName(kt) == "[unknown]") return bad("unsupported key type");
    p->type = kt;
    p->derived = j.value("derived", false);
    p->kdf = j.value("kdf", 1);
    p->convergent = j.value("convergent_encryption", false);
    p->convergent_version = j.value("convergent_version", -1);
    p->exportable = j.value("exportable", false);
    p->deletion_allowed = j.value("deletion_allowed", false);
    p->allow_plaintext_backup = j.value("allow_plaintext_backup", false);
    p->min_decryption_version = j.value("min_decryption_version", 1);
    p->min_encryption_version = j.value("min_encryption_version", 0);
    p->min_available_version = j.value("min_available_version", 0);
    p->latest_version = j.value("latest_version", 0);
    p->auto_rotate_period = j.value("auto_rotate_period", int64_t(0)) / int64_t(1000000000);
    p->key_size = j.value("key_size", 0);
    p->imported = j.value("Imported", false);
    p->allow_imported_key_rotation = j.value("AllowImportedKeyRotation", false);
    if (j.contains("backup_info")) p->backup_info = j["backup_info"];
    if (j.contains("restore_info")) p->restore_info = j["restore_info"];
    if (p->min_decryption_version == 0) p->min_decryption_version = 1;
    for (auto& [vs, e] : j.at("keys").items()) {
      auto v = ParseIntStrict(vs);
      if (!v.ok() || *v <= 0) return bad("bad version number");
      auto kv = std::make_shared<KeyVersion>();
      kv->creation_time = e.value("time", "");
      kv->creation_unix = e.value("creation_time", int64_t(0));
      kv->public_key = e.value("public_key", "");
      kv->convergent_version = e.value("convergent_version", 0);
      kv->public_only = e.value("public_key_imported", false);
      if (e.contains("key") && e["key"].is_string()) {
        auto k = Base64Decode(e["key"].get<std::string>());
        if (!k) return bad("key is not base64");
        kv->key = SecureString(std::move(*k));
      }
      if (e.contains("hmac_key") && e["hmac_key"].is_string()) {
        auto k = Base64Decode(e["hmac_key"].get<std::string>());
        if (!k) return bad("hmac_key is not base64");
        kv->hmac_key = SecureString(std::move(*k));
      }
      if (p->type == KeyType::kEd25519) {
        RETURN_IF_ERROR(FinishEd25519(kv.get()));
      } else if (IsRsa(p->type) || IsEcdsa(p->type)) {
        if (e.contains("private_key_pkcs8")) {
          auto der = Base64Decode(e["private_key_pkcs8"].get<std::string>());
          if (!der) return bad("private key is not base64");
          auto k = crypto::PrivateKeyFromPkcs8Der(*der);
          Wipe(*der);
          if (!k.ok()) return bad("private key does not parse");
          kv->pkey = *k;
        } else if (!kv->public_key.empty()) {
          ASSIGN_OR_RETURN(kv->pkey, crypto::PublicKeyFromPem(kv->public_key));
          kv->public_only = true;
        } else {
          return bad("asymmetric key version without key material");
        }
      }
      if (kv->creation_time.empty() && kv->creation_unix)
        kv->creation_time = FormatRFC3339Nano(std::chrono::system_clock::from_time_t(kv->creation_unix));
      p->keys[*v] = std::move(kv);
    }
  } catch (const std::exception&) {
    return bad("malformed JSON fields");
  }
  if (p->latest_version == 0 && !p->keys.empty()) p->latest_version = p->keys.rbegin()->first;
  return p;
}

Result<json> Policy::Describe(const std::string& context) const {
  json d = {{"name", name},
            {"type", KeyTypeName(type)},
            {"derived", derived},
            {"deletion_allowed", deletion_allowed},
            {"min_available_version", min_available_version},
            {"min_decryption_version", min_decryption_version},
            {"min_encryption_version", min_encryption_version},
            {"latest_version", latest_version},
            {"exportable", exportable},
            {"allow_plaintext_backup", allow_plaintext_backup},
            {"supports_encryption", SupportsEncryption(type)},
            {"supports_decryption", SupportsEncryption(type)},
            {"supports_signing", SupportsSigning(type)},
            {"supports_derivation", SupportsDerivation(type)},
            {"auto_rotate_period", auto_rotate_period},
            {"imported_key", imported}};
  if (key_size) d["key_size"] = key_size;
  if (imported) d["imported_key_allow_rotation"] = allow_imported_key_rotation;
  if (!backup_info.is_null()) d["backup_info"] = backup_info;
  if (!restore_info.is_null()) d["restore_info"] = restore_info;
  if (derived) {
    d["kdf"] = kdf == 1 ? "hkdf_sha256" : "hmac-sha256-counter";
    d["convergent_encryption"] = convergent;
    if (convergent) d["convergent_encryption_version"] = convergent_version;
  }
  json ks = json::object();
  for (const auto& [v, kv] : keys) {
    if (v < min_decryption_version) continue;  // archived in Vault's layout: not listed
    if (!SupportsSigning(type)) {
      ks[std::to_string(v)] = kv->creation_unix;
      continue;
    }
    json e = {{"creation_time", kv->creation_time}, {"public_key", kv->public_key}};
    if (type == KeyType::kEd25519) {
      e["name"] = "ed25519";
      if (derived) {
        if (context.empty()) {
          e["public_key"] = "";
        } else {
          ASSIGN_OR_RETURN(SecureString seed, EncKey(context, v, 32));
          ASSIGN_OR_RETURN(crypto::PKeyPtr k, crypto::Ed25519FromSeed(seed.view()));
          ASSIGN_OR_RETURN(std::string pub, crypto::Ed25519PublicRaw(*k));
          e["public_key"] = Base64Encode(pub);
        }
      }
    } else if (IsRsa(type)) {
      e["name"] = KeyTypeName(type);
    } else {
      e["name"] = CurveDisplayName(type);
    }
    ks[std::to_string(v)] = std::move(e);
  }
  d["keys"] = std::move(ks);
  return d;
}

}  // namespace tresor::transit
