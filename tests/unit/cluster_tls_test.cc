// Cluster TLS keyring: generation, the stored JSON form, and leaf certificates that chain to
// the keyring's CA and to no other.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <string>

#include "ha/cluster_tls.h"

namespace tresor::ha {
namespace {

X509* ParseCert(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return c;
}

// Whether `leaf_pem` verifies against `ca_pem` as the only trust anchor.
bool Verifies(const std::string& leaf_pem, const std::string& ca_pem) {
  X509* leaf = ParseCert(leaf_pem);
  X509* ca = ParseCert(ca_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(ca);
  X509_free(leaf);
  return ok;
}

TEST(ClusterTls, LeafChainsToItsOwnCaOnly) {
  auto k1 = GenerateClusterKeyring();
  auto k2 = GenerateClusterKeyring();
  ASSERT_TRUE(k1.ok() && k2.ok());
  EXPECT_NE(k1->ca_cert_pem, k2->ca_cert_pem);
  EXPECT_NE(k1->ca_key_pem.str().find("PRIVATE KEY"), std::string::npos);
  auto leaf = IssueNodeCert(*k1, "vault-0");
  ASSERT_TRUE(leaf.ok()) << leaf.status().ToString();
  EXPECT_TRUE(Verifies(leaf->cert_pem, k1->ca_cert_pem));
  EXPECT_FALSE(Verifies(leaf->cert_pem, k2->ca_cert_pem));
}

TEST(ClusterTls, JsonRoundTrip) {
  auto k = GenerateClusterKeyring();
  ASSERT_TRUE(k.ok());
  SecureString j = KeyringToJson(*k);
  auto back = KeyringFromJson(j.view());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ca_cert_pem, k->ca_cert_pem);
  EXPECT_EQ(back->ca_key_pem.str(), k->ca_key_pem.str());
  auto leaf = IssueNodeCert(*back, "n");
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(Verifies(leaf->cert_pem, k->ca_cert_pem));
  EXPECT_FALSE(KeyringFromJson("{}").ok());
  EXPECT_FALSE(KeyringFromJson("not json").ok());
  ClusterKeyring bad{"x", SecureString(std::string("y"))};
  EXPECT_FALSE(IssueNodeCert(bad, "n").ok());
}

}  // namespace
}  // namespace tresor::ha
