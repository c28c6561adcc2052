#include "crypto/password.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <charconv>
#include <cstdint>

#include "common/encoding.h"
#include "common/random.h"
#include "common/secure.h"
#include "common/strings.h"

namespace tresor::crypto {
namespace {

constexpr size_t kSaltSize = 16;
constexpr size_t kHashSize = 32;

bool SaneParams(const ScryptParams& p) {
  // Upper bounds keep a tampered or hostile encoding from costing more than ~1 GiB / 1 s.
  return p.log2_n >= 10 && p.log2_n <= 20 && p.r >= 1 && p.r <= 16 && p.p >= 1 && p.p <= 4;
}

Result<std::string> Scrypt(std::string_view password, std::string_view salt, const ScryptParams& prm, size_t len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (!kdf) return Status::Internal("scrypt unavailable");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!ctx) return Status::Internal("scrypt unavailable");
  uint64_t n = uint64_t{1} << prm.log2_n;
  uint32_t r = static_cast<uint32_t>(prm.r), p = static_cast<uint32_t>(prm.p);
  // 128*r*N bytes for the V array plus the B array; give headroom.
  uint64_t maxmem = 128ull * r * n * 2 + 128ull * r * p + (1ull << 20);
  static const char kEmpty = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        const_cast<char*>(password.empty() ? &kEmpty : password.data()),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  std::string out(len, '\0');
  int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), len, params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) return Status::Internal("scrypt derivation failed");
  return out;
}

bool ParseInt(std::string_view s, int* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

Result<std::string> PasswordHash(std::string_view password, const ScryptParams& params) {
  if (!SaneParams(params)) return Status::InvalidRequest("invalid scrypt parameters");
  std::string salt = RandomBytes(kSaltSize);
  ASSIGN_OR_RETURN(std::string hash, Scrypt(password, salt, params, kHashSize));
  std::string encoded = "$scrypt$ln=" + std::to_string(params.log2_n) + ",r=" + std::to_string(params.r) +
                        ",p=" + std::to_string(params.p) + "$" + Base64Encode(salt) + "$" + Base64Encode(hash);
  Wipe(hash);
  return encoded;
}

bool PasswordVerify(std::string_view password, std::string_view encoded) {
  // "", "scrypt", "ln=..,r=..,p=..", salt, hash
  std::vector<std::string> parts = Split(encoded, '$');
  if (parts.size() != 5 || !parts[0].empty() || parts[1] != "scrypt") return false;
  std::vector<std::string> kv = Split(parts[2], ',');
  if (kv.size() != 3) return false;
  ScryptParams prm;
  if (kv[0].rfind("ln=", 0) != 0 || !ParseInt(std::string_view(kv[0]).substr(3), &prm.log2_n)) return false;
  if (kv[1].rfind("r=", 0) != 0 || !ParseInt(std::string_view(kv[1]).substr(2), &prm.r)) return false;
  if (kv[2].rfind("p=", 0) != 0 || !ParseInt(std::string_view(kv[2]).substr(2), &prm.p)) return false;
  if (!SaneParams(prm)) return false;
  auto salt = Base64Decode(parts[3]);
  auto want = Base64Decode(parts[4]);
  if (!salt || !want || salt->empty() || want->size() < 16 || want->size() > 64) return false;
  auto got = Scrypt(password, *salt, prm, want->size());
  if (!got.ok()) return false;
  bool match = ConstantTimeEquals(*got, *want);
  Wipe(*got);
  return match;
}

}  // namespace tresor::crypto
