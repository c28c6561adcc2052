#include "ha/cluster_tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace tresor::ha {

namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using CertPtr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;

Status SslError(const std::string& what) { return Status::Internal("cluster tls: " + what + " failed"); }

std::string BioString(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return std::string(p, static_cast<size_t>(n));
}

Result<KeyPtr> NewKey() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return SslError("key generation");
  return k;
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return SslError("key encoding");
  std::string s = BioString(b.get());
  return s;
}

Result<std::string> CertPem(X509* c) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) return SslError("certificate encoding");
  return BioString(b.get());
}

bool AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named `cn`, signed by `signer` (issuer = `issuer`, or itself).
Result<CertPtr> MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* signer, bool ca,
                         long valid_secs) {
  CertPtr c(X509_new());
  if (!c) return SslError("certificate");
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return SslError("serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()))) {
    BN_free(bn);
    return SslError("serial");
  }
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), valid_secs);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : name);
  if (X509_set_pubkey(c.get(), key) != 1) return SslError("certificate key");
  X509* iss = issuer ? issuer : c.get();
  bool ok = ca ? AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE") &&
                     AddExt(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                     AddExt(c.get(), iss, NID_subject_key_identifier, "hash")
               : AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
                     AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature") &&
                     AddExt(c.get(), iss, NID_ext_key_usage, "serverAuth,clientAuth") &&
                     AddExt(c.get(), iss, NID_authority_key_identifier, "keyid:always");
  if (!ok) return SslError("certificate extensions");
  if (X509_sign(c.get(), signer, EVP_sha256()) <= 0) return SslError("certificate signing");
  return c;
}

}  // namespace

Result<ClusterKeyring> GenerateClusterKeyring() {
  ASSIGN_OR_RETURN(KeyPtr key, NewKey());
  ASSIGN_OR_RETURN(CertPtr cert, MakeCert(key.get(), "tresor-cluster-ca", nullptr, key.get(), true, 10L * 365 * 86400));
  ClusterKeyring k;
  ASSIGN_OR_RETURN(k.ca_cert_pem, CertPem(cert.get()));
  ASSIGN_OR_RETURN(std::string kp, KeyPem(key.get()));
  k.ca_key_pem = SecureString(std::move(kp));
  return k;
}

SecureString KeyringToJson(const ClusterKeyring& k) {
  nlohmann::json j = {{"ca_cert", k.ca_cert_pem}, {"ca_key", k.ca_key_pem.str()}};
  SecureString s(j.dump());
  std::string& key = j["ca_key"].get_ref<std::string&>();
  OPENSSL_cleanse(key.data(), key.size());
  return s;
}

Result<ClusterKeyring> KeyringFromJson(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("ca_cert") || !j["ca_cert"].is_string() || !j.contains("ca_key") ||
      !j["ca_key"].is_string())
    return Status::Corruption("cluster tls keyring is not valid");
  ClusterKeyring k;
  k.ca_cert_pem = j["ca_cert"].get<std::string>();
  std::string& key = j["ca_key"].get_ref<std::string&>();
  k.ca_key_pem = SecureString(key);
  OPENSSL_cleanse(key.data(), key.size());
  return k;
}

Result<NodeCert> IssueNodeCert(const ClusterKeyring& k, const std::string& node_id) {
  BioPtr cb(BIO_new_mem_buf(k.ca_cert_pem.data(), static_cast<int>(k.ca_cert_pem.size())));
  CertPtr ca(cb ? PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr) : nullptr);
  BioPtr kb(BIO_new_mem_buf(k.ca_key_pem.data(), static_cast<int>(k.ca_key_pem.size())));
  KeyPtr ca_key(kb ? PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!ca || !ca_key) return Status::Corruption("cluster tls keyring does not parse");
  ASSIGN_OR_RETURN(KeyPtr key, NewKey());
  ASSIGN_OR_RETURN(CertPtr cert, MakeCert(key.get(), node_id.empty() ? "tresor-node" : node_id, ca.get(),
                                          ca_key.get(), false, 365L * 86400));
  NodeCert out;
  ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert.get()));
  ASSIGN_OR_RETURN(std::string kp, KeyPem(key.get()));
  out.key_pem = SecureString(std::move(kp));
  return out;
}

}  // namespace tresor::ha
