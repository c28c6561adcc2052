// Transit engine unit tests: every path through the framework backend with in-memory
// storage, Vault's error texts, key lifecycle across rotation, and interoperability with
// the openssl command line and Python's `cryptography` package.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/random.h"
#include "engines/transit/crypto.h"
#include "engines/transit/policy.h"
#include "engines/transit/transit.h"
#include "storage/inmem_storage.h"

namespace tresor::transit {
namespace {

using json = nlohmann::json;
using logical::Operation;
using logical::Request;
using logical::ResponsePtr;

std::string B64(const std::string& s) { return Base64Encode(s); }
std::string UnB64(const std::string& s) { return *Base64Decode(s); }

class TransitTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // A fresh backend over the same storage: nothing cached.
  void Reopen() {
    framework::BackendConfig cfg;
    cfg.storage = &store_;
    cfg.mount_path = "transit/";
    cfg.mount_type = "transit";
    auto b = Factory(cfg);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backend_ = std::move(*b);
    ASSERT_TRUE(backend_->Initialize().ok());
  }

  // Like core: a write to a path whose object does not exist is a create.
  Result<ResponsePtr> Do(Operation op, const std::string& path, json data = json::object()) {
    Request r;
    r.operation = op;
    r.path = path;
    r.data = std::move(data);
    r.storage = &store_;
    if (op == Operation::kUpdate) {
      auto e = backend_->Exists(r);
      if (e.ok() && e->has_value() && !e->value()) r.operation = Operation::kCreate;
    }
    return backend_->HandleRequest(r);
  }
  json Ok(Operation op, const std::string& path, json data = json::object()) {
    auto r = Do(op, path, std::move(data));
    EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
    if (!r.ok() || !*r) return json();
    last_warnings_ = (*r)->warnings;
    return (*r)->data;
  }
  json Write(const std::string& path, json data = json::object()) { return Ok(Operation::kUpdate, path, std::move(data)); }
  json Read(const std::string& path, json data = json::object()) { return Ok(Operation::kRead, path, std::move(data)); }
  std::string Err(Operation op, const std::string& path, json data = json::object(), Code code = Code::kInvalidRequest) {
    auto r = Do(op, path, std::move(data));
    EXPECT_FALSE(r.ok()) << path << " unexpectedly succeeded";
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    return r.status().message();
  }
  std::string WErr(const std::string& path, json data = json::object()) { return Err(Operation::kUpdate, path, std::move(data)); }

  std::string Encrypt(const std::string& key, const std::string& pt, json extra = json::object()) {
    extra["plaintext"] = B64(pt);
    return Write("encrypt/" + key, extra)["ciphertext"].get<std::string>();
  }
  std::string Decrypt(const std::string& key, const std::string& ct, json extra = json::object()) {
    extra["ciphertext"] = ct;
    return UnB64(Write("decrypt/" + key, extra)["plaintext"].get<std::string>());
  }

  InmemStorage store_;
  std::unique_ptr<framework::Backend> backend_;
  std::vector<std::string> last_warnings_;
};

// ---------------------------------------------------------------- keys

TEST_F(TransitTest, CreateReadListDelete) {
  json d = Write("keys/k1");
  EXPECT_EQ(d["type"], "aes256-gcm96");
  d = Read("keys/k1");
  EXPECT_EQ(d["name"], "k1");
  EXPECT_EQ(d["type"], "aes256-gcm96");
  EXPECT_EQ(d["latest_version"], 1);
  EXPECT_EQ(d["min_decryption_version"], 1);
  EXPECT_EQ(d["min_encryption_version"], 0);
  EXPECT_EQ(d["min_available_version"], 0);
  EXPECT_EQ(d["deletion_allowed"], false);
  EXPECT_EQ(d["exportable"], false);
  EXPECT_EQ(d["allow_plaintext_backup"], false);
  EXPECT_EQ(d["supports_encryption"], true);
  EXPECT_EQ(d["supports_decryption"], true);
  EXPECT_EQ(d["supports_derivation"], true);
  EXPECT_EQ(d["supports_signing"], false);
  EXPECT_EQ(d["derived"], false);
  EXPECT_EQ(d["auto_rotate_period"], 0);
  ASSERT_TRUE(d["keys"]["1"].is_number_integer());
  EXPECT_NEAR(d["keys"]["1"].get<int64_t>(), UnixNow(), 5);

  Write("keys/k1");
  ASSERT_EQ(last_warnings_.size(), 1u);
  EXPECT_EQ(last_warnings_[0], "key k1 already existed");

  Write("keys/k2", {{"type", "ed25519"}});
  EXPECT_EQ(Ok(Operation::kList, "keys/")["keys"], json({"k1", "k2"}));

  EXPECT_EQ(Err(Operation::kDelete, "keys/k1"), "error deleting policy k1: deletion is not allowed for this key");
  Write("keys/k1/config", {{"deletion_allowed", true}});
  auto r = Do(Operation::kDelete, "keys/k1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, nullptr);
  EXPECT_EQ(Err(Operation::kDelete, "keys/k1"), "error deleting policy k1: could not delete key; not found");
  auto rd = Do(Operation::kRead, "keys/k1");
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(*rd, nullptr);  // 404
  EXPECT_EQ(Ok(Operation::kList, "keys")["keys"], json({"k2"}));
  Reopen();  // deletion reached storage
  EXPECT_EQ(*Do(Operation::kRead, "keys/k1"), nullptr);
}

TEST_F(TransitTest, CreateValidation) {
  EXPECT_EQ(WErr("keys/x", {{"type", "des"}}), "unknown key type des");
  EXPECT_EQ(WErr("keys/x", {{"convergent_encryption", true}}), "convergent encryption requires derivation to be enabled");
  EXPECT_EQ(WErr("keys/x", {{"auto_rotate_period", "30m"}}), "auto rotate period must be 0 to disable or at least an hour");
  EXPECT_EQ(WErr("keys/x", {{"key_size", 64}}), "key_size is not valid for algorithm aes256-gcm96");
  EXPECT_EQ(WErr("keys/x", {{"type", "hmac"}, {"key_size", 16}}), "invalid key_size 16");
  auto l = Do(Operation::kList, "keys");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, nullptr);  // nothing created
}

TEST_F(TransitTest, AllKeyTypesReadShape) {
  for (std::string t : {"aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "ed25519", "ecdsa-p256", "ecdsa-p384",
                        "ecdsa-p521", "rsa-2048", "rsa-3072", "hmac"}) {
    SCOPED_TRACE(t);
    Write("keys/t-" + t, {{"type", t}});
    json d = Read("keys/t-" + t);
    EXPECT_EQ(d["type"], t);
    bool asym = t.rfind("ecdsa", 0) == 0 || t.rfind("rsa", 0) == 0 || t == "ed25519";
    EXPECT_EQ(d["supports_signing"], asym);
    if (asym) {
      json k = d["keys"]["1"];
      EXPECT_FALSE(k["public_key"].get<std::string>().empty());
      EXPECT_FALSE(k["creation_time"].get<std::string>().empty());
      if (t == "ecdsa-p256") {
        EXPECT_EQ(k["name"], "P-256");
      }
      if (t == "ed25519") {
        EXPECT_EQ(k["name"], "ed25519");
        EXPECT_EQ(UnB64(k["public_key"]).size(), 32u);
      }
      if (t == "rsa-2048") {
        EXPECT_EQ(k["name"], "rsa-2048");
      }
    } else {
      EXPECT_TRUE(d["keys"]["1"].is_number_integer());
    }
    if (t == "hmac") {
      EXPECT_EQ(d["key_size"], 32);
    }
  }
  Reopen();  // every type survives a reload from storage
  for (std::string t : {"ed25519", "ecdsa-p384", "rsa-2048", "hmac"}) EXPECT_EQ(Read("keys/t-" + t)["type"], t);
}

TEST_F(TransitTest, ConfigRules) {
  Write("keys/k");
  EXPECT_EQ(WErr("keys/nope/config", {{"deletion_allowed", true}}), "no existing key named nope could be found");
  EXPECT_EQ(WErr("keys/k/config", {{"min_decryption_version", 2}}), "cannot set min decryption version of 2, latest key version is 1");
  EXPECT_EQ(WErr("keys/k/config", {{"min_encryption_version", -1}}), "min encryption version cannot be negative");
  EXPECT_EQ(WErr("keys/k/config", {{"auto_rotate_period", "10m"}}), "auto rotate period must be 0 to disable or at least an hour");
  Write("keys/k/rotate");
  Write("keys/k/rotate");
  EXPECT_EQ(WErr("keys/k/config", {{"min_decryption_version", 3}, {"min_encryption_version", 2}}),
            "cannot set min encryption/decryption values; min encryption version of 2 must be greater than or equal to "
            "min decryption version of 3");
  EXPECT_EQ(Read("keys/k")["min_decryption_version"], 1);  // failed config changed nothing
  json d = Write("keys/k/config", {{"min_decryption_version", 0}});
  ASSERT_EQ(last_warnings_.size(), 1u);
  EXPECT_EQ(last_warnings_[0], "since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1");
  d = Write("keys/k/config", {{"exportable", true}, {"allow_plaintext_backup", true}, {"auto_rotate_period", "2h"}});
  EXPECT_EQ(d["exportable"], true);
  EXPECT_EQ(d["auto_rotate_period"], 7200);
  d = Write("keys/k/config", {{"exportable", false}});  // cannot be unset
  EXPECT_EQ(d["exportable"], true);
  Reopen();
  EXPECT_EQ(Read("keys/k")["auto_rotate_period"], 7200);
}

// ---------------------------------------------------------------- encrypt/decrypt

TEST_F(TransitTest, EncryptDecryptRoundTripAllSymmetricTypes) {
  for (std::string t : {"aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "rsa-2048"}) {
    SCOPED_TRACE(t);
    Write("keys/" + t, {{"type", t}});
    std::string ct = Encrypt(t, "the quick brown fox");
    EXPECT_EQ(ct.rfind("vault:v1:", 0), 0u);
    EXPECT_EQ(Decrypt(t, ct), "the quick brown fox");
    EXPECT_NE(Encrypt(t, "the quick brown fox"), ct);  // random nonce
    EXPECT_EQ(Decrypt(t, Encrypt(t, "")), "");
  }
}

TEST_F(TransitTest, EncryptUpsertsKey) {
  json d = Write("encrypt/auto", {{"plaintext", B64("x")}});
  EXPECT_EQ(d["key_version"], 1);
  EXPECT_EQ(Read("keys/auto")["type"], "aes256-gcm96");
  Write("encrypt/auto2", {{"plaintext", B64("x")}, {"type", "chacha20-poly1305"}, {"context", B64("c")}});
  json k = Read("keys/auto2");
  EXPECT_EQ(k["type"], "chacha20-poly1305");
  EXPECT_EQ(k["derived"], true);
  EXPECT_EQ(WErr("encrypt/auto3", {{"plaintext", B64("x")}, {"type", "ecdsa-p256"}}),
            "key type ecdsa-p256 not supported for this operation");
  EXPECT_EQ(WErr("encrypt/auto3", {{"plaintext", B64("x")}, {"convergent_encryption", true}}),
            "convergent encryption requires derivation to be enabled, so context is required");
}

TEST_F(TransitTest, EncryptDecryptErrors) {
  Write("keys/k");
  EXPECT_EQ(WErr("encrypt/k"), "missing plaintext to encrypt");
  EXPECT_EQ(WErr("encrypt/k", {{"plaintext", "not base64!"}}), "illegal base64 data at input byte 3");
  EXPECT_EQ(WErr("decrypt/k"), "missing ciphertext to decrypt");
  EXPECT_EQ(WErr("decrypt/nokey", {{"ciphertext", "vault:v1:AAAA"}}), "encryption key not found");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "garbage"}}), "invalid ciphertext: no prefix");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "vault:v1"}}), "invalid ciphertext: wrong number of fields");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "vault:vx:AAAA"}}), "invalid ciphertext: version number could not be decoded");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "vault:v9:AAAA"}}), "invalid ciphertext: version is too new");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "vault:v1:%%%"}}), "invalid ciphertext: could not decode base64");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "vault:v1:AAAA"}}), "invalid ciphertext length");
  std::string ct = Encrypt("k", "secret");
  std::string raw = UnB64(ct.substr(9));
  raw[raw.size() - 1] ^= 1;
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", "vault:v1:" + B64(raw)}}), "cipher: message authentication failed");
  EXPECT_EQ(WErr("encrypt/k", {{"plaintext", B64("x")}, {"key_version", 2}}),
            "requested version for encryption is higher than the latest key version");
  EXPECT_EQ(WErr("encrypt/k", {{"plaintext", B64("x")}, {"key_version", -1}}),
            "requested version for encryption is negative");
  EXPECT_EQ(WErr("encrypt/k", {{"plaintext", B64("x")}, {"nonce", B64("short")}}),
            "base64-decoded nonce must be 12 bytes long but given 5 bytes");
  Write("keys/ed", {{"type", "ed25519"}});
  EXPECT_EQ(WErr("encrypt/ed", {{"plaintext", B64("x")}}), "message encryption not supported for key type ed25519");
  EXPECT_EQ(WErr("decrypt/ed", {{"ciphertext", "vault:v1:AAAA"}}), "message decryption not supported for key type ed25519");
}

TEST_F(TransitTest, AssociatedData) {
  Write("keys/k");
  std::string ct = Encrypt("k", "payload", {{"associated_data", B64("row-17")}});
  EXPECT_EQ(Decrypt("k", ct, {{"associated_data", B64("row-17")}}), "payload");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", ct}, {"associated_data", B64("row-18")}}), "cipher: message authentication failed");
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", ct}}), "cipher: message authentication failed");
  Write("keys/r", {{"type", "rsa-2048"}});
  EXPECT_EQ(WErr("encrypt/r", {{"plaintext", B64("x")}, {"associated_data", B64("a")}}),
            "'[0].associated_data' provided for non-AEAD cipher suite rsa-2048");
}

TEST_F(TransitTest, BatchEncryptDecryptRewrap) {
  Write("keys/k");
  json in = json::array({{{"plaintext", B64("one")}, {"reference", "r1"}},
                         {{"plaintext", "!!bad"}},
                         {{"plaintext", B64("three")}, {"key_version", 1}}});
  json res = Write("encrypt/k", {{"batch_input", in}})["batch_results"];
  ASSERT_EQ(res.size(), 3u);
  EXPECT_EQ(res[0]["reference"], "r1");
  EXPECT_EQ(res[0]["key_version"], 1);
  EXPECT_EQ(res[1]["error"], "illegal base64 data at input byte 0");
  EXPECT_FALSE(res[1].contains("ciphertext"));
  json dec_in = json::array({{{"ciphertext", res[0]["ciphertext"]}, {"reference", "a"}},
                             {{"ciphertext", "vault:v1:AAAA"}},
                             {{"ciphertext", res[2]["ciphertext"]}}});
  json dec = Write("decrypt/k", {{"batch_input", dec_in}})["batch_results"];
  EXPECT_EQ(UnB64(dec[0]["plaintext"]), "one");
  EXPECT_EQ(dec[0]["reference"], "a");
  EXPECT_EQ(dec[1]["error"], "invalid ciphertext length");
  EXPECT_EQ(UnB64(dec[2]["plaintext"]), "three");

  Write("keys/k/rotate");
  json rw = Write("rewrap/k", {{"batch_input", json::array({{{"ciphertext", res[0]["ciphertext"]}}})}})["batch_results"];
  EXPECT_EQ(rw[0]["key_version"], 2);
  EXPECT_EQ(rw[0]["ciphertext"].get<std::string>().rfind("vault:v2:", 0), 0u);

  EXPECT_EQ(WErr("encrypt/k", {{"batch_input", json::array()}}), "missing batch input to process");
  EXPECT_EQ(WErr("encrypt/k", {{"batch_input", json::array({{{"plaintext", B64("a")}, {"context", B64("c")}},
                                                            {{"plaintext", B64("b")}}})}}),
            "context should be set either in all the request blocks or in none");
}

TEST_F(TransitTest, BatchFailureStatusCodes) {
  Write("keys/k");
  auto status_of = [&](const std::string& path, json body) {
    auto r = Do(Operation::kUpdate, path, std::move(body));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !*r) return -1;
    if (!(*r)->raw) return 200;
    json env = json::parse((*r)->raw->body);
    EXPECT_TRUE(env["data"]["batch_results"].is_array());
    EXPECT_TRUE(env.contains("request_id"));
    return (*r)->raw->status;
  };
  json good = {{"plaintext", B64("a")}};
  json bad = {{"plaintext", "!!"}};
  EXPECT_EQ(status_of("encrypt/k", {{"batch_input", json::array({good, good})}}), 200);
  EXPECT_EQ(status_of("encrypt/k", {{"batch_input", json::array({good, bad})}}), 400);
  EXPECT_EQ(status_of("encrypt/k", {{"batch_input", json::array({good, bad})}, {"partial_failure_response_code", 207}}), 207);
  EXPECT_EQ(status_of("encrypt/k", {{"batch_input", json::array({bad})}, {"partial_failure_response_code", 207}}), 400);
  std::string ct = Encrypt("k", "x");
  EXPECT_EQ(status_of("decrypt/k", {{"batch_input", json::array({{{"ciphertext", ct}}, {{"ciphertext", "vault:v1:AAAA"}}})}}), 400);
  EXPECT_EQ(status_of("rewrap/k", {{"batch_input", json::array({{{"ciphertext", ct}}, {{"ciphertext", "nope"}}})},
                                   {"partial_failure_response_code", 200}}), 200);
}

TEST_F(TransitTest, RotationAndMinDecryptionVersion) {
  Write("keys/k");
  std::string v1 = Encrypt("k", "data-1");
  Write("keys/k/rotate");
  json d = Read("keys/k");
  EXPECT_EQ(d["latest_version"], 2);
  EXPECT_EQ(d["keys"].size(), 2u);
  std::string v2 = Encrypt("k", "data-2");
  EXPECT_EQ(v2.rfind("vault:v2:", 0), 0u);
  EXPECT_EQ(Decrypt("k", v1), "data-1");  // old versions still decrypt
  // Encrypt with an explicit older version.
  EXPECT_EQ(Write("encrypt/k", {{"plaintext", B64("x")}, {"key_version", 1}})["key_version"], 1);

  // rewrap moves v1 ciphertext to the newest version
  json rw = Write("rewrap/k", {{"ciphertext", v1}});
  EXPECT_EQ(rw["key_version"], 2);
  std::string rewrapped = rw["ciphertext"];
  EXPECT_EQ(rewrapped.rfind("vault:v2:", 0), 0u);
  EXPECT_EQ(Decrypt("k", rewrapped), "data-1");

  Write("keys/k/config", {{"min_decryption_version", 2}});
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", v1}}), kErrTooOld);
  EXPECT_EQ(WErr("rewrap/k", {{"ciphertext", v1}}), kErrTooOld);
  EXPECT_EQ(Read("keys/k")["keys"].size(), 1u);  // only usable versions are listed
  EXPECT_EQ(Decrypt("k", v2), "data-2");
  // lowering it again brings v1 back (not trimmed)
  Write("keys/k/config", {{"min_decryption_version", 1}});
  EXPECT_EQ(Decrypt("k", v1), "data-1");

  Write("keys/k/config", {{"min_encryption_version", 2}});
  EXPECT_EQ(WErr("encrypt/k", {{"plaintext", B64("x")}, {"key_version", 1}}),
            "requested version for encryption is less than the minimum encryption key version");
  Reopen();
  EXPECT_EQ(Decrypt("k", v1), "data-1");
  EXPECT_EQ(Decrypt("k", rewrapped), "data-1");
}

TEST_F(TransitTest, Trim) {
  Write("keys/k");
  std::string v1 = Encrypt("k", "a");
  Write("keys/k/rotate");
  Write("keys/k/rotate");
  EXPECT_EQ(WErr("keys/nokey/trim", {{"min_available_version", 1}}), "invalid key name");
  EXPECT_EQ(WErr("keys/k/trim"), "missing min_available_version");
  EXPECT_EQ(WErr("keys/k/trim", {{"min_available_version", 1}}),
            "minimum available version cannot be set when minimum encryption version is not set");
  Write("keys/k/config", {{"min_encryption_version", 3}, {"min_decryption_version", 2}});
  EXPECT_EQ(WErr("keys/k/trim", {{"min_available_version", 3}}),
            "minimum available version cannot be greater than minimum decryption version");
  EXPECT_EQ(WErr("keys/k/trim", {{"min_available_version", 0}}), "minimum available version should be positive");
  json d = Write("keys/k/trim", {{"min_available_version", 2}});
  EXPECT_EQ(d["min_available_version"], 2);
  EXPECT_EQ(WErr("keys/k/trim", {{"min_available_version", 1}}), "minimum available version cannot be decremented");
  EXPECT_EQ(WErr("keys/k/config", {{"min_decryption_version", 1}}),
            "min decryption version should not be less then min available version");
  Reopen();
  EXPECT_EQ(Read("keys/k")["min_available_version"], 2);
  EXPECT_EQ(WErr("decrypt/k", {{"ciphertext", v1}}), kErrTooOld);
}

TEST_F(TransitTest, DerivedKeys) {
  Write("keys/d", {{"derived", true}});
  json k = Read("keys/d");
  EXPECT_EQ(k["derived"], true);
  EXPECT_EQ(k["kdf"], "hkdf_sha256");
  EXPECT_EQ(k["convergent_encryption"], false);
  EXPECT_NE(WErr("encrypt/d", {{"plaintext", B64("x")}}).find("missing 'context' for key derivation"), std::string::npos);
  std::string ct = Encrypt("d", "hello", {{"context", B64("user-1")}});
  EXPECT_EQ(Decrypt("d", ct, {{"context", B64("user-1")}}), "hello");
  EXPECT_EQ(WErr("decrypt/d", {{"ciphertext", ct}, {"context", B64("user-2")}}), "cipher: message authentication failed");
  EXPECT_NE(WErr("decrypt/d", {{"ciphertext", ct}}).find("missing 'context'"), std::string::npos);

  // derivation is HKDF-SHA256(key, no salt, info=context), as Vault's keysutil
  Write("keys/dx", {{"derived", true}, {"exportable", true}});
  std::string key = UnB64(Read("export/encryption-key/dx/1")["keys"]["1"]);
  auto derived = crypto::HkdfSha256(key, "", "ctx", 32);
  ASSERT_TRUE(derived.ok());
  std::string ct2 = Encrypt("dx", "msg", {{"context", B64("ctx")}});
  std::string raw = UnB64(ct2.substr(9));
  auto pt = crypto::AeadOpen(crypto::Aead::kAes256Gcm, *derived, raw.substr(0, 12), raw.substr(12), "");
  ASSERT_TRUE(pt.ok());
  EXPECT_EQ(*pt, "msg");
}

TEST_F(TransitTest, ConvergentEncryption) {
  Write("keys/c", {{"derived", true}, {"convergent_encryption", true}});
  json k = Read("keys/c");
  EXPECT_EQ(k["convergent_encryption"], true);
  EXPECT_EQ(k["convergent_encryption_version"], -1);
  std::string a = Encrypt("c", "same", {{"context", B64("ctx")}});
  std::string b = Encrypt("c", "same", {{"context", B64("ctx")}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, Encrypt("c", "same", {{"context", B64("other")}}));
  EXPECT_NE(a, Encrypt("c", "different", {{"context", B64("ctx")}}));
  EXPECT_EQ(Decrypt("c", a, {{"context", B64("ctx")}}), "same");
  Write("keys/c/rotate");
  std::string c = Encrypt("c", "same", {{"context", B64("ctx")}});
  EXPECT_EQ(c.rfind("vault:v2:", 0), 0u);
  EXPECT_NE(c.substr(9), a.substr(9));
  // Version 3 scheme: derive enc key || hmac key (64 bytes) with HKDF; nonce = HMAC(hmac key, pt)[:12].
  Write("keys/cx", {{"derived", true}, {"convergent_encryption", true}, {"exportable", true}});
  std::string key = UnB64(Read("export/encryption-key/cx")["keys"]["1"]);
  auto km = crypto::HkdfSha256(key, "", "ctx", 64);
  auto mac = crypto::Hmac(crypto::Hash::kSha256, km->substr(32), "pt");
  std::string ct = UnB64(Encrypt("cx", "pt", {{"context", B64("ctx")}}).substr(9));
  EXPECT_EQ(ct.substr(0, 12), mac->substr(0, 12));
}

TEST_F(TransitTest, DataKey) {
  Write("keys/k");
  json d = Write("datakey/plaintext/k");
  std::string pt = UnB64(d["plaintext"]);
  EXPECT_EQ(pt.size(), 32u);
  EXPECT_EQ(d["key_version"], 1);
  EXPECT_EQ(Decrypt("k", d["ciphertext"]), pt);
  d = Write("datakey/wrapped/k", {{"bits", 512}});
  EXPECT_FALSE(d.contains("plaintext"));
  EXPECT_EQ(Decrypt("k", d["ciphertext"]).size(), 64u);
  EXPECT_EQ(Decrypt("k", Write("datakey/plaintext/k", {{"bits", 128}})["ciphertext"]).size(), 16u);
  EXPECT_EQ(WErr("datakey/plaintext/k", {{"bits", 100}}), "invalid bits value");
  EXPECT_EQ(WErr("datakey/bogus/k"), "Invalid path");
  EXPECT_EQ(WErr("datakey/plaintext/none"), "encryption key not found");
}

// ---------------------------------------------------------------- random / hash / hmac

TEST_F(TransitTest, Random) {
  EXPECT_EQ(UnB64(Write("random")["random_bytes"]).size(), 32u);
  EXPECT_EQ(Write("random/16", {{"format", "hex"}})["random_bytes"].get<std::string>().size(), 32u);
  EXPECT_EQ(UnB64(Write("random", {{"bytes", 64}})["random_bytes"]).size(), 64u);
  EXPECT_EQ(UnB64(Write("random/seal/8")["random_bytes"]).size(), 8u);
  EXPECT_EQ(UnB64(Write("random/all")["random_bytes"]).size(), 32u);
  EXPECT_EQ(WErr("random", {{"format", "base32"}}), "unsupported encoding format \"base32\"; must be \"hex\" or \"base64\"");
  EXPECT_EQ(WErr("random", {{"bytes", 0}}), "\"bytes\" cannot be less than 1");
  EXPECT_EQ(WErr("random", {{"bytes", 200000}}), "\"bytes\" should be less than 131072");
  EXPECT_EQ(WErr("random/cosmic/8"), "unsupported entropy source \"cosmic\"; must be \"platform\" or \"seal\", or \"all\"");
}

TEST_F(TransitTest, Hash) {
  // NIST: SHA-256("abc"), SHA3-256("abc")
  EXPECT_EQ(Write("hash", {{"input", B64("abc")}})["sum"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Write("hash/sha3-256", {{"input", B64("abc")}})["sum"],
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
  EXPECT_EQ(Write("hash", {{"input", B64("abc")}, {"algorithm", "sha2-512"}, {"format", "base64"}})["sum"].get<std::string>().size(), 88u);
  for (std::string a : {"sha2-224", "sha2-384", "sha3-224", "sha3-384", "sha3-512"}) Write("hash/" + a, {{"input", B64("x")}});
  EXPECT_EQ(WErr("hash", {{"input", B64("x")}, {"algorithm", "md5"}}), "unsupported algorithm md5");
  EXPECT_EQ(WErr("hash", {{"input", B64("x")}, {"format", "raw"}}), "unsupported encoding format raw; must be \"hex\" or \"base64\"");
  EXPECT_EQ(WErr("hash", {{"input", "@@"}}), "unable to decode input as base64: illegal base64 data at input byte 0");
}

TEST_F(TransitTest, HmacAndVerify) {
  Write("keys/k", {{"exportable", true}});
  json d = Write("hmac/k", {{"input", B64("message")}});
  std::string mac = d["hmac"];
  EXPECT_EQ(mac.rfind("vault:v1:", 0), 0u);
  std::string key = UnB64(Read("export/hmac-key/k/1")["keys"]["1"]);
  auto want = crypto::Hmac(crypto::Hash::kSha256, key, "message");
  EXPECT_EQ(mac, "vault:v1:" + B64(*want));
  EXPECT_EQ(Write("verify/k", {{"input", B64("message")}, {"hmac", mac}})["valid"], true);
  EXPECT_EQ(Write("verify/k", {{"input", B64("other")}, {"hmac", mac}})["valid"], false);
  std::string mac512 = Write("hmac/k/sha2-512", {{"input", B64("message")}})["hmac"];
  EXPECT_EQ(Write("verify/k/sha2-512", {{"input", B64("message")}, {"hmac", mac512}})["valid"], true);
  EXPECT_EQ(Write("verify/k", {{"input", B64("message")}, {"hmac", mac512}, {"algorithm", "sha2-512"}})["valid"], true);
  EXPECT_EQ(WErr("hmac/k", {{"input", B64("m")}, {"algorithm", "md5"}}), "unsupported algorithm md5");
  EXPECT_EQ(WErr("verify/k", {{"input", B64("m")}, {"hmac", "nope"}}), "invalid HMAC to verify: no prefix");
  EXPECT_EQ(WErr("verify/k", {{"input", B64("m")}}), "neither a 'signature' nor an 'hmac' were given to verify");
  // Like Vault, a single request with both is taken as a signature verification.
  EXPECT_EQ(WErr("verify/k", {{"input", B64("m")}, {"hmac", mac}, {"signature", mac}}),
            "key type aes256-gcm96 does not support verification");
  EXPECT_EQ(WErr("hmac/none", {{"input", B64("m")}}), "encryption key not found");

  // batch
  json res = Write("hmac/k", {{"batch_input", json::array({{{"input", B64("a")}, {"reference", "x"}}, {{"input", "**"}}})}})["batch_results"];
  EXPECT_EQ(res[0]["reference"], "x");
  EXPECT_TRUE(res[1].contains("error"));
  json vres = Write("verify/k", {{"batch_input", json::array({{{"input", B64("a")}, {"hmac", res[0]["hmac"]}},
                                                              {{"input", B64("b")}, {"hmac", res[0]["hmac"]}}})}})["batch_results"];
  EXPECT_EQ(vres[0]["valid"], true);
  EXPECT_EQ(vres[1]["valid"], false);

  // version policy
  Write("keys/k/rotate");
  Write("keys/k/config", {{"min_decryption_version", 2}});
  EXPECT_EQ(WErr("verify/k", {{"input", B64("message")}, {"hmac", mac}}), "cannot verify HMAC: version is too old (disallowed by policy)");

  // hmac-type key with custom size
  Write("keys/h", {{"type", "hmac"}, {"key_size", 64}, {"exportable", true}});
  EXPECT_EQ(UnB64(Read("export/hmac-key/h")["keys"]["1"]).size(), 64u);
  std::string hm = Write("hmac/h", {{"input", B64("z")}})["hmac"];
  EXPECT_EQ(Write("verify/h", {{"input", B64("z")}, {"hmac", hm}})["valid"], true);
  EXPECT_EQ(WErr("encrypt/h", {{"plaintext", B64("z")}}), "message encryption not supported for key type hmac");
}

// ---------------------------------------------------------------- sign / verify

TEST_F(TransitTest, SignVerifyAllTypes) {
  struct Case {
    std::string type;
    json opts;
  };
  std::vector<Case> cases = {
      {"ed25519", json::object()},
      {"ecdsa-p256", json::object()},
      {"ecdsa-p384", {{"hash_algorithm", "sha2-384"}}},
      {"ecdsa-p521", {{"hash_algorithm", "sha2-512"}, {"marshaling_algorithm", "jws"}}},
      {"ecdsa-p256", {{"marshaling_algorithm", "jws"}}},
      {"rsa-2048", json::object()},
      {"rsa-2048", {{"signature_algorithm", "pkcs1v15"}}},
      {"rsa-2048", {{"signature_algorithm", "pss"}, {"salt_length", "hash"}, {"hash_algorithm", "sha3-256"}}},
      {"rsa-2048", {{"salt_length", "20"}, {"hash_algorithm", "sha1"}}},
      {"rsa-3072", {{"marshaling_algorithm", "jws"}}},
  };
  int n = 0;
  for (auto& c : cases) {
    SCOPED_TRACE(c.type + " " + c.opts.dump());
    std::string name = "s" + std::to_string(n++);
    Write("keys/" + name, {{"type", c.type}});
    json req = c.opts;
    req["input"] = B64("sign me");
    json s = Write("sign/" + name, req);
    std::string sig = s["signature"];
    EXPECT_EQ(sig.rfind("vault:v1:", 0), 0u);
    EXPECT_EQ(s["key_version"], 1);
    json v = c.opts;
    v["input"] = B64("sign me");
    v["signature"] = sig;
    EXPECT_EQ(Write("verify/" + name, v)["valid"], true);
    v["input"] = B64("sign me!");
    EXPECT_EQ(Write("verify/" + name, v)["valid"], false);
  }
}

TEST_F(TransitTest, SignVerifyErrorsAndVersions) {
  Write("keys/e", {{"type", "ecdsa-p256"}});
  Write("keys/a");
  EXPECT_EQ(WErr("sign/a", {{"input", B64("x")}}), "key type aes256-gcm96 does not support signing");
  EXPECT_EQ(WErr("sign/none", {{"input", B64("x")}}), "encryption key not found");
  EXPECT_EQ(WErr("sign/e", {{"input", B64("x")}, {"hash_algorithm", "md5"}}), "invalid hash algorithm \"md5\"");
  EXPECT_EQ(WErr("sign/e", {{"input", B64("x")}, {"marshaling_algorithm", "xml"}}), "invalid marshaling type \"xml\"");
  EXPECT_EQ(WErr("sign/e", {{"input", "%%"}}), "unable to decode input as base64: illegal base64 data at input byte 0");
  EXPECT_EQ(WErr("sign/e", {{"input", B64("x")}, {"key_version", 5}}),
            "requested version for signing is higher than the latest key version");
  EXPECT_EQ(WErr("verify/e", {{"input", B64("x")}, {"signature", "bad"}}), "invalid signature: no prefix");
  EXPECT_EQ(WErr("verify/e", {{"input", B64("x")}, {"signature", "vault:v1:@@"}}), "invalid base64 signature value");
  EXPECT_EQ(WErr("verify/e", {{"input", B64("x")}, {"signature", "vault:v3:AAAA"}}), "invalid signature: version is too new");

  std::string s1 = Write("sign/e", {{"input", B64("x")}})["signature"];
  Write("keys/e/rotate");
  std::string s2 = Write("sign/e", {{"input", B64("x")}})["signature"];
  EXPECT_EQ(s2.rfind("vault:v2:", 0), 0u);
  EXPECT_EQ(Write("verify/e", {{"input", B64("x")}, {"signature", s1}})["valid"], true);
  Write("keys/e/config", {{"min_decryption_version", 2}});
  EXPECT_EQ(WErr("verify/e", {{"input", B64("x")}, {"signature", s1}}), kErrTooOld);
  Write("keys/e/config", {{"min_encryption_version", 2}});
  EXPECT_EQ(WErr("sign/e", {{"input", B64("x")}, {"key_version", 1}}),
            "requested version for signing is less than the minimum encryption key version");

  // prehashed input
  Write("keys/r", {{"type", "rsa-2048"}});
  std::string digest = *crypto::Digest(crypto::Hash::kSha256, "doc");
  std::string ps = Write("sign/r", {{"input", B64(digest)}, {"prehashed", true}})["signature"];
  EXPECT_EQ(Write("verify/r", {{"input", B64("doc")}, {"signature", ps}})["valid"], true);
  EXPECT_EQ(WErr("sign/r", {{"input", B64("x")}, {"signature_algorithm", "rsa-oaep"}}), "unsupported rsa signature algorithm rsa-oaep");
  EXPECT_EQ(WErr("sign/r", {{"input", B64("x")}, {"salt_length", "300"}}), "requested salt length 300 is invalid");

  // batch sign / verify
  json res = Write("sign/r", {{"batch_input", json::array({{{"input", B64("a")}, {"reference", "1"}}, {{"input", "%"}}})}})["batch_results"];
  EXPECT_EQ(res[0]["reference"], "1");
  EXPECT_TRUE(res[1].contains("error"));
  json vres = Write("verify/r", {{"batch_input", json::array({{{"input", B64("a")}, {"signature", res[0]["signature"]}},
                                                              {{"input", B64("b")}, {"signature", res[0]["signature"]}}})}})["batch_results"];
  EXPECT_EQ(vres[0]["valid"], true);
  EXPECT_EQ(vres[1]["valid"], false);
  EXPECT_EQ(WErr("verify/r", {{"batch_input", json::array({{{"input", B64("a")}, {"signature", "x"}}, {{"input", B64("b")}}})}}),
            "some elements of batch_input are missing 'signature'");
}

TEST_F(TransitTest, DerivedEd25519) {
  Write("keys/dk", {{"type", "ed25519"}, {"derived", true}});
  json s = Write("sign/dk", {{"input", B64("m")}, {"context", B64("alice")}});
  std::string pub = s["public_key"];
  EXPECT_EQ(UnB64(pub).size(), 32u);
  EXPECT_EQ(Write("verify/dk", {{"input", B64("m")}, {"context", B64("alice")}, {"signature", s["signature"]}})["valid"], true);
  EXPECT_EQ(Write("verify/dk", {{"input", B64("m")}, {"context", B64("bob")}, {"signature", s["signature"]}})["valid"], false);
  EXPECT_EQ(Read("keys/dk", {{"context", B64("alice")}})["keys"]["1"]["public_key"], pub);
  EXPECT_EQ(Read("keys/dk")["keys"]["1"]["public_key"], "");
}

// ---------------------------------------------------------------- export / backup / restore

TEST_F(TransitTest, Export) {
  Write("keys/n");
  EXPECT_EQ(Err(Operation::kRead, "export/encryption-key/n"), "private key material is not exportable");
  EXPECT_EQ(Err(Operation::kRead, "export/bogus-key/n"), "invalid export type: bogus-key");
  EXPECT_EQ(*Do(Operation::kRead, "export/encryption-key/missing"), nullptr);
  Write("keys/x", {{"exportable", true}});
  Write("keys/x/rotate");
  json d = Read("export/encryption-key/x");
  EXPECT_EQ(d["name"], "x");
  EXPECT_EQ(d["type"], "aes256-gcm96");
  EXPECT_EQ(d["keys"].size(), 2u);
  EXPECT_EQ(UnB64(d["keys"]["2"]).size(), 32u);
  EXPECT_EQ(Read("export/encryption-key/x/latest")["keys"].begin().key(), "2");
  EXPECT_EQ(Read("export/encryption-key/x/v1")["keys"].begin().key(), "1");
  EXPECT_EQ(Err(Operation::kRead, "export/encryption-key/x/9"), "version does not exist or cannot be found");
  EXPECT_EQ(Err(Operation::kRead, "export/encryption-key/x/abc"), "invalid key version");
  EXPECT_EQ(Err(Operation::kRead, "export/signing-key/x"), "signing not supported for the key");
  Write("keys/x/config", {{"min_decryption_version", 2}});
  EXPECT_EQ(Err(Operation::kRead, "export/encryption-key/x/1"), "version for export is below minimum decryption version");

  Write("keys/ec", {{"type", "ecdsa-p256"}, {"exportable", true}});
  std::string pem = Read("export/signing-key/ec/1")["keys"]["1"];
  EXPECT_EQ(pem.rfind("-----BEGIN EC PRIVATE KEY-----", 0), 0u);
  Write("keys/rsa", {{"type", "rsa-2048"}, {"exportable", true}});
  EXPECT_EQ(Read("export/encryption-key/rsa")["keys"]["1"].get<std::string>().rfind("-----BEGIN RSA PRIVATE KEY-----", 0), 0u);
  EXPECT_EQ(Read("export/public-key/rsa")["keys"]["1"].get<std::string>().rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  Write("keys/ed", {{"type", "ed25519"}});  // public keys export without exportable
  EXPECT_EQ(UnB64(Read("export/public-key/ed")["keys"]["1"]).size(), 32u);
  EXPECT_EQ(Err(Operation::kRead, "export/signing-key/ed"), "private key material is not exportable");
}

TEST_F(TransitTest, BackupRestore) {
  Write("keys/b");
  EXPECT_EQ(Err(Operation::kRead, "backup/b", {}, Code::kInternal), "exporting is disallowed on the policy");
  Write("keys/b/config", {{"exportable", true}});
  EXPECT_EQ(Err(Operation::kRead, "backup/b", {}, Code::kInternal), "plaintext backup is disallowed on the policy");
  Write("keys/b/config", {{"allow_plaintext_backup", true}});
  std::string v1 = Encrypt("b", "old");
  Write("keys/b/rotate");
  std::string backup = Read("backup/b")["backup"];
  EXPECT_EQ(Read("keys/b")["backup_info"]["version"], 2);

  EXPECT_EQ(WErr("restore"), "'backup' must be supplied");
  EXPECT_EQ(Err(Operation::kUpdate, "restore", {{"backup", backup}}, Code::kInternal), "key \"b\" already exists");
  Write("restore/b2", {{"backup", backup}});
  EXPECT_EQ(Decrypt("b2", v1), "old");
  json k = Read("keys/b2");
  EXPECT_EQ(k["latest_version"], 2);
  EXPECT_EQ(k["restore_info"]["version"], 2);
  // force overwrites
  Write("keys/b/config", {{"deletion_allowed", true}});
  ASSERT_TRUE(Do(Operation::kDelete, "keys/b").ok());
  Write("restore", {{"backup", backup}});
  EXPECT_EQ(Decrypt("b", v1), "old");
  Write("restore", {{"backup", backup}, {"force", true}});
  for (std::string t : {"ed25519", "ecdsa-p384", "rsa-2048", "hmac"}) {  // asymmetric material survives
    SCOPED_TRACE(t);
    Write("keys/bk-" + t, {{"type", t}, {"exportable", true}, {"allow_plaintext_backup", true}});
    std::string bk = Read("backup/bk-" + t)["backup"];
    Write("restore/rs-" + t, {{"backup", bk}});
    if (t == "hmac") continue;
    std::string sig = Write("sign/bk-" + t, {{"input", B64("q")}})["signature"];
    EXPECT_EQ(Write("verify/rs-" + t, {{"input", B64("q")}, {"signature", sig}})["valid"], true);
  }
}

TEST_F(TransitTest, RestoresVaultFormatBackupOfSymmetricKey) {
  // The shape Vault 1.13 writes for an aes256-gcm96 key (Go field names and encodings).
  std::string key = RandomBytes(32);
  json policy = {{"name", "fromvault"},
                 {"keys",
                  {{"1",
                    {{"key", B64(key)},
                     {"hmac_key", B64(RandomBytes(32))},
                     {"time", "2023-03-01T10:00:00.123456789Z"},
                     {"ec_x", nullptr},
                     {"ec_y", nullptr},
                     {"ec_d", nullptr},
                     {"rsa_key", nullptr},
                     {"public_key", ""},
                     {"convergent_version", 0},
                     {"creation_time", 1677664800}}}}},
                 {"derived", false},
                 {"kdf", 0},
                 {"convergent_encryption", false},
                 {"exportable", true},
                 {"min_decryption_version", 1},
                 {"min_encryption_version", 0},
                 {"latest_version", 1},
                 {"archive_version", 1},
                 {"archive_min_version", 0},
                 {"min_available_version", 0},
                 {"deletion_allowed", false},
                 {"convergent_version", 0},
                 {"type", 0},
                 {"backup_info", {{"time", "2023-03-01T11:00:00Z"}, {"version", 1}}},
                 {"restore_info", nullptr},
                 {"allow_plaintext_backup", true},
                 {"version_template", ""},
                 {"storage_prefix", ""},
                 {"auto_rotate_period", 0},
                 {"Imported", false},
                 {"AllowImportedKeyRotation", false}};
  json backup = {{"policy", policy}, {"archived_keys", {{"keys", json::array()}}}};
  Write("restore", {{"backup", B64(backup.dump())}});
  std::string nonce = RandomBytes(12);
  auto sealed = crypto::AeadSeal(crypto::Aead::kAes256Gcm, key, nonce, "made by vault", "");
  EXPECT_EQ(Decrypt("fromvault", "vault:v1:" + B64(nonce + *sealed)), "made by vault");
  EXPECT_EQ(Read("keys/fromvault")["keys"]["1"], 1677664800);
}

// ---------------------------------------------------------------- BYOK

std::string WrapForImport(const std::string& wrapping_pem, const std::string& target, crypto::Hash h = crypto::Hash::kSha256) {
  auto pub = crypto::PublicKeyFromPem(wrapping_pem);
  EXPECT_TRUE(pub.ok());
  std::string eph = RandomBytes(32);
  auto wrapped_eph = crypto::RsaOaepEncrypt(**pub, h, eph);
  auto wrapped_key = crypto::AesKwpWrap(eph, target);
  EXPECT_TRUE(wrapped_eph.ok() && wrapped_key.ok());
  return Base64Encode(*wrapped_eph + *wrapped_key);
}

TEST_F(TransitTest, ImportAndWrappingKey) {
  std::string pem = Read("wrapping_key")["public_key"];
  EXPECT_EQ(pem.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  EXPECT_EQ(Read("wrapping_key")["public_key"], pem);  // stable
  Reopen();
  EXPECT_EQ(Read("wrapping_key")["public_key"], pem);  // persisted
  auto pub = crypto::PublicKeyFromPem(pem);
  EXPECT_EQ(crypto::KeyBits(**pub), 4096);

  std::string aes = RandomBytes(32);
  auto r = Do(Operation::kUpdate, "keys/imp/import", {{"ciphertext", WrapForImport(pem, aes)}, {"exportable", true}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  json k = Read("keys/imp");
  EXPECT_EQ(k["imported_key"], true);
  EXPECT_EQ(k["imported_key_allow_rotation"], false);
  EXPECT_EQ(UnB64(Read("export/encryption-key/imp")["keys"]["1"]), aes);
  // A ciphertext made outside with the same key decrypts inside.
  std::string nonce = RandomBytes(12);
  auto sealed = crypto::AeadSeal(crypto::Aead::kAes256Gcm, aes, nonce, "outside", "");
  EXPECT_EQ(Decrypt("imp", "vault:v1:" + B64(nonce + *sealed)), "outside");
  EXPECT_EQ(WErr("keys/imp/rotate"), "imported key imp does not allow rotation within Vault");
  EXPECT_EQ(WErr("keys/imp/import", {{"ciphertext", WrapForImport(pem, aes)}}),
            "the import path cannot be used with an existing key; use import-version to rotate an existing imported key");
  EXPECT_EQ(WErr("keys/imp/import_version", {{"ciphertext", WrapForImport(pem, aes)}}), "rotation is disabled for this key");

  // allow_rotation + import_version, SHA1 OAEP
  Write("keys/imp2/import", {{"ciphertext", WrapForImport(pem, aes, crypto::Hash::kSha1)}, {"hash_function", "SHA1"},
                             {"allow_rotation", true}});
  Write("keys/imp2/import_version", {{"ciphertext", WrapForImport(pem, RandomBytes(32))}});
  EXPECT_EQ(Read("keys/imp2")["latest_version"], 2);
  Write("keys/imp2/rotate");
  EXPECT_EQ(Read("keys/imp2")["latest_version"], 3);

  // asymmetric import (PKCS#8)
  auto ec = crypto::GenerateEc(crypto::Curve::kP256);
  std::string der = *crypto::PrivateKeyToPkcs8Der(**ec);
  Write("keys/impec/import", {{"type", "ecdsa-p256"}, {"ciphertext", WrapForImport(pem, der)}});
  EXPECT_EQ(Read("keys/impec")["keys"]["1"]["public_key"], *crypto::PublicKeyToPem(**ec));
  auto ed = crypto::Ed25519FromSeed(RandomBytes(32));
  Write("keys/imped/import", {{"type", "ed25519"}, {"ciphertext", WrapForImport(pem, *crypto::PrivateKeyToPkcs8Der(**ed))}});
  EXPECT_EQ(UnB64(Read("keys/imped")["keys"]["1"]["public_key"]), *crypto::Ed25519PublicRaw(**ed));

  EXPECT_EQ(WErr("keys/bad/import", {{"ciphertext", WrapForImport(pem, der)}, {"type", "rsa-2048"}}),
            "invalid key type: expected rsa-2048");
  EXPECT_EQ(WErr("keys/bad/import", {{"ciphertext", WrapForImport(pem, RandomBytes(16))}}),
            "invalid key size 16 bytes for key type aes256-gcm96");
  EXPECT_EQ(WErr("keys/bad/import", {{"ciphertext", WrapForImport(pem, aes)}, {"hash_function", "MD5"}}),
            "unsupported hash function: MD5");
  EXPECT_EQ(WErr("keys/bad/import"), "ciphertext must be provided");
  EXPECT_EQ(WErr("keys/none/import_version", {{"ciphertext", "AAAA"}}),
            "no key found with name none; to import a new key, use the import/ endpoint");
  EXPECT_EQ(*Do(Operation::kRead, "keys/bad"), nullptr);
}

// ---------------------------------------------------------------- cache / periodic / concurrency

TEST_F(TransitTest, CacheConfig) {
  EXPECT_EQ(Read("cache-config")["size"], 0);
  EXPECT_EQ(WErr("cache-config", {{"size", 5}}), "size must be 0 or a value greater or equal to 10");
  Write("cache-config", {{"size", 10}});
  EXPECT_EQ(Read("cache-config")["size"], 10);
  for (int i = 0; i < 25; ++i) Write("keys/c" + std::to_string(i));
  std::string ct = Encrypt("c3", "still here");  // evicted keys reload from storage
  for (int i = 0; i < 25; ++i) Read("keys/c" + std::to_string(i));
  EXPECT_EQ(Decrypt("c3", ct), "still here");
}

TEST_F(TransitTest, AutoRotation) {
  Write("keys/ar", {{"auto_rotate_period", "1h"}});
  backend_->Periodic();
  EXPECT_EQ(Read("keys/ar")["latest_version"], 1);
  // Age the key by rewriting its stored creation time an hour and a bit into the past.
  auto raw = store_.Get("policy/ar");
  json j = json::parse(**raw);
  j["keys"]["1"]["creation_time"] = UnixNow() - 3700;
  ASSERT_TRUE(store_.Put("policy/ar", j.dump()).ok());
  Reopen();
  backend_->Periodic();
  EXPECT_EQ(Read("keys/ar")["latest_version"], 2);
  backend_->Periodic();
  EXPECT_EQ(Read("keys/ar")["latest_version"], 2);  // the new version is fresh
}

TEST_F(TransitTest, ConcurrentEncryptDuringRotation) {
  Write("keys/k");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      while (!stop) {
        Request r;
        r.operation = Operation::kUpdate;
        r.path = "encrypt/k";
        r.data = {{"plaintext", B64("payload")}};
        auto e = backend_->HandleRequest(r);
        if (!e.ok()) { ++failures; continue; }
        Request d;
        d.operation = Operation::kUpdate;
        d.path = "decrypt/k";
        d.data = {{"ciphertext", (*e)->data["ciphertext"]}};
        auto p = backend_->HandleRequest(d);
        if (!p.ok() || UnB64((*p)->data["plaintext"]) != "payload") ++failures;
      }
    });
  }
  for (int i = 0; i < 20; ++i) Write("keys/k/rotate");
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Read("keys/k")["latest_version"], 21);
}

TEST_F(TransitTest, StorageHoldsNoPlaintextOutsideKeyJson) {
  Write("keys/k");
  auto keys = store_.List("policy/");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, std::vector<std::string>({"k"}));
  auto raw = store_.Get("policy/k");
  json j = json::parse(**raw);
  EXPECT_EQ(j["latest_version"], 1);
  EXPECT_EQ(j["type"], 0);  // Vault's numbering
}

// ---------------------------------------------------------------- interoperability

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("transit-test-" + RandomBase62(10));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name, const std::string& content) const {
    std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

int Shell(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Ed25519SpkiPem(const std::string& raw_pub) {
  // SubjectPublicKeyInfo for Ed25519: fixed 12-byte header then the 32-byte key.
  static const char kHeader[] = "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00";
  std::string der(kHeader, 12);
  der += raw_pub;
  return "-----BEGIN PUBLIC KEY-----\n" + Base64Encode(der) + "\n-----END PUBLIC KEY-----\n";
}

TEST_F(TransitTest, OpensslCliVerifiesSignatures) {
  if (Shell("openssl version") != 0) GTEST_SKIP() << "openssl CLI not available";
  TempDir dir;
  std::string msg = "interop message " + RandomBase62(8);
  std::string msg_file = dir.File("msg", msg);

  // ed25519: pkeyutl -rawin over the message
  Write("keys/ed", {{"type", "ed25519"}});
  std::string ed_pub = Read("export/public-key/ed")["keys"]["1"];
  std::string ed_sig = Write("sign/ed", {{"input", B64(msg)}})["signature"];
  std::string ed_pem = dir.File("ed.pem", Ed25519SpkiPem(UnB64(ed_pub)));
  std::string ed_sigf = dir.File("ed.sig", UnB64(ed_sig.substr(9)));
  EXPECT_EQ(Shell("openssl pkeyutl -verify -pubin -inkey " + ed_pem + " -rawin -in " + msg_file + " -sigfile " + ed_sigf), 0);
  std::string bad_file = dir.File("bad", msg + "x");
  EXPECT_NE(Shell("openssl pkeyutl -verify -pubin -inkey " + ed_pem + " -rawin -in " + bad_file + " -sigfile " + ed_sigf), 0);

  // ecdsa-p256: dgst -sha256 -verify with the DER signature
  Write("keys/ec", {{"type", "ecdsa-p256"}});
  std::string ec_pem = dir.File("ec.pem", Read("export/public-key/ec")["keys"]["1"].get<std::string>() + "\n");
  std::string ec_sig = Write("sign/ec", {{"input", B64(msg)}})["signature"];
  std::string ec_sigf = dir.File("ec.sig", UnB64(ec_sig.substr(9)));
  EXPECT_EQ(Shell("openssl dgst -sha256 -verify " + ec_pem + " -signature " + ec_sigf + " " + msg_file), 0);
  EXPECT_NE(Shell("openssl dgst -sha256 -verify " + ec_pem + " -signature " + ec_sigf + " " + bad_file), 0);

  // rsa-2048 PSS (default, salt length auto = max) and PKCS#1 v1.5
  Write("keys/rsa", {{"type", "rsa-2048"}});
  std::string rsa_pem = dir.File("rsa.pem", Read("export/public-key/rsa")["keys"]["1"].get<std::string>());
  std::string pss = Write("sign/rsa", {{"input", B64(msg)}})["signature"];
  std::string pss_f = dir.File("pss.sig", UnB64(pss.substr(9)));
  EXPECT_EQ(Shell("openssl dgst -sha256 -verify " + rsa_pem + " -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-2 "
                "-signature " + pss_f + " " + msg_file), 0);
  EXPECT_NE(Shell("openssl dgst -sha256 -verify " + rsa_pem + " -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-2 "
                "-signature " + pss_f + " " + bad_file), 0);
  std::string pk1 = Write("sign/rsa", {{"input", B64(msg)}, {"signature_algorithm", "pkcs1v15"}})["signature"];
  std::string pk1_f = dir.File("pk1.sig", UnB64(pk1.substr(9)));
  EXPECT_EQ(Shell("openssl dgst -sha256 -verify " + rsa_pem + " -signature " + pk1_f + " " + msg_file), 0);
  EXPECT_NE(Shell("openssl dgst -sha256 -verify " + rsa_pem + " -signature " + pk1_f + " " + bad_file), 0);

  // and the other way: openssl signs, transit verifies (PSS with digest-length salt)
  Write("keys/rsax", {{"type", "rsa-2048"}, {"exportable", true}});
  std::string priv = dir.File("rsax.key", Read("export/signing-key/rsax")["keys"]["1"].get<std::string>());
  std::string out_sig = dir.Path("ext.sig");
  ASSERT_EQ(Shell("openssl dgst -sha256 -sign " + priv + " -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -out " +
                out_sig + " " + msg_file), 0);
  std::ifstream in(out_sig, std::ios::binary);
  std::string ext((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(Write("verify/rsax", {{"input", B64(msg)}, {"signature", "vault:v1:" + B64(ext)}})["valid"], true);
}

TEST_F(TransitTest, ExportedKeyDecryptsCiphertextInPython) {
  if (Shell("python3 -c 'import cryptography'") != 0) GTEST_SKIP() << "python3 cryptography not available";
  TempDir dir;
  Write("keys/py", {{"exportable", true}});
  std::string ct = Encrypt("py", "decrypted by python");
  std::string key = Read("export/encryption-key/py/1")["keys"]["1"];
  std::string script = dir.File("d.py",
                                "import base64,sys\n"
                                "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
                                "key=base64.b64decode(sys.argv[1]); ct=sys.argv[2]\n"
                                "assert ct.startswith('vault:v1:')\n"
                                "raw=base64.b64decode(ct.split(':',2)[2])\n"
                                "pt=AESGCM(key).decrypt(raw[:12], raw[12:], None)\n"
                                "sys.exit(0 if pt==b'decrypted by python' else 1)\n");
  EXPECT_EQ(Shell("python3 " + script + " " + key + " " + ct), 0);
  EXPECT_NE(Shell("python3 " + script + " " + B64(RandomBytes(32)) + " " + ct), 0);
}

}  // namespace
}  // namespace tresor::transit
