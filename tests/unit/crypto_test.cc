#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/random.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/password.h"
#include "crypto/shamir.h"

namespace tresor::crypto {
namespace {

std::string H(std::string_view hex) {
  auto d = HexDecode(hex);
  EXPECT_TRUE(d.has_value()) << hex;
  return d.value_or("");
}

// ---- GF(2^8) ----

uint8_t SlowMul(uint8_t a, uint8_t b) {  // textbook reference, branches allowed in tests
  uint8_t p = 0;
  while (b) {
    if (b & 1) p ^= a;
    a = static_cast<uint8_t>((a & 0x80) ? (a << 1) ^ 0x1b : a << 1);
    b >>= 1;
  }
  return p;
}

TEST(Gf256, MultiplyMatchesReferenceEverywhere) {
  EXPECT_EQ(internal::GfMul(0x57, 0x83), 0xc1);  // FIPS-197 §4.2 example
  EXPECT_EQ(internal::GfMul(0x53, 0xca), 0x01);
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      ASSERT_EQ(internal::GfMul(uint8_t(a), uint8_t(b)), SlowMul(uint8_t(a), uint8_t(b)));
    }
  }
}

TEST(Gf256, InverseOfEveryNonZeroElement) {
  EXPECT_EQ(internal::GfInverse(0), 0);
  for (int a = 1; a < 256; ++a) EXPECT_EQ(internal::GfMul(uint8_t(a), internal::GfInverse(uint8_t(a))), 1) << a;
}

// ---- Shamir ----

std::vector<std::string_view> Views(const std::vector<SecureString>& shares, const std::vector<int>& idx) {
  std::vector<std::string_view> v;
  for (int i : idx) v.push_back(shares[i].view());
  return v;
}

TEST(Shamir, ShareLayoutIsSecretPlusXByte) {
  std::string secret = RandomBytes(32);
  auto shares = ShamirSplit(secret, 5, 3);
  ASSERT_TRUE(shares.ok());
  ASSERT_EQ(shares->size(), 5u);
  std::set<uint8_t> xs;
  for (const auto& s : *shares) {
    EXPECT_EQ(s.size(), 33u);
    uint8_t x = static_cast<uint8_t>(s.str()[32]);
    EXPECT_NE(x, 0);
    xs.insert(x);
  }
  EXPECT_EQ(xs.size(), 5u);  // distinct
}

TEST(Shamir, EverySubsetOfEveryShapeUpToSix) {
  for (int n = 2; n <= 6; ++n) {
    for (int k = 2; k <= n; ++k) {
      std::string secret = RandomBytes(32);
      auto shares = ShamirSplit(secret, n, k);
      ASSERT_TRUE(shares.ok());
      for (int mask = 1; mask < (1 << n); ++mask) {
        std::vector<int> idx;
        for (int i = 0; i < n; ++i) {
          if (mask & (1 << i)) idx.push_back(i);
        }
        if (idx.size() < 2) continue;
        auto got = ShamirCombine(Views(*shares, idx));
        ASSERT_TRUE(got.ok());
        if (int(idx.size()) >= k) {
          EXPECT_EQ(got->str(), secret) << "n=" << n << " k=" << k << " mask=" << mask;
        } else {
          // Below threshold the result is (overwhelmingly likely) not the secret.
          EXPECT_NE(got->str(), secret) << "n=" << n << " k=" << k << " mask=" << mask;
        }
      }
    }
  }
}

TEST(Shamir, OrderOfSharesDoesNotMatter) {
  std::string secret = "attack at dawn";
  auto shares = ShamirSplit(secret, 5, 3);
  ASSERT_TRUE(shares.ok());
  auto got = ShamirCombine(Views(*shares, {4, 0, 2}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->str(), secret);
}

TEST(Shamir, MaximumParts) {
  std::string secret = RandomBytes(16);
  auto shares = ShamirSplit(secret, 255, 255);
  ASSERT_TRUE(shares.ok());
  std::set<char> xs;
  for (const auto& s : *shares) xs.insert(s.str().back());
  EXPECT_EQ(xs.size(), 255u);
  auto got = ShamirCombine(*shares);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->str(), secret);
}

TEST(Shamir, TamperedShareGivesWrongSecret) {
  std::string secret = RandomBytes(32);
  auto shares = ShamirSplit(secret, 3, 3);
  ASSERT_TRUE(shares.ok());
  std::string bad = (*shares)[1].str();
  bad[7] ^= 0x01;
  std::vector<std::string_view> v = {(*shares)[0].view(), bad, (*shares)[2].view()};
  auto got = ShamirCombine(v);
  ASSERT_TRUE(got.ok());
  EXPECT_NE(got->str(), secret);
  EXPECT_EQ(got->str().substr(0, 7), secret.substr(0, 7));  // only that byte's polynomial is off
  EXPECT_NE(got->str()[7], secret[7]);
}

TEST(Shamir, RejectsBadInput) {
  auto shares = ShamirSplit("secret", 3, 2);
  ASSERT_TRUE(shares.ok());
  EXPECT_FALSE(ShamirCombine(Views(*shares, {0})).ok());
  EXPECT_FALSE(ShamirCombine(Views(*shares, {1, 1})).ok());  // duplicate x
  std::string shorter = (*shares)[1].str().substr(1);
  EXPECT_FALSE(ShamirCombine(std::vector<std::string_view>{(*shares)[0].view(), shorter}).ok());
  EXPECT_FALSE(ShamirCombine(std::vector<std::string_view>{"a", "b"}).ok());

  EXPECT_FALSE(ShamirSplit("", 3, 2).ok());
  EXPECT_FALSE(ShamirSplit("x", 1, 1).ok());
  EXPECT_FALSE(ShamirSplit("x", 3, 1).ok());
  EXPECT_FALSE(ShamirSplit("x", 3, 4).ok());
  EXPECT_FALSE(ShamirSplit("x", 256, 3).ok());
}

// ---- AEAD ----

struct GcmVector {
  const char* key;
  const char* iv;
  const char* pt;
  const char* aad;
  const char* ct;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 3, 4 (AES-128) and
// 13-16 (AES-256); the same values appear in NIST's GCM validation set.
const GcmVector kGcm[] = {
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(Aead, GcmKnownAnswers) {
  for (const auto& v : kGcm) {
    std::string key = H(v.key);
    AeadAlg alg = key.size() == 16 ? AeadAlg::kAes128Gcm : AeadAlg::kAes256Gcm;
    auto sealed = AeadSeal(alg, key, H(v.iv), H(v.pt), H(v.aad));
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(HexEncode(*sealed), std::string(v.ct) + v.tag);
    auto opened = AeadOpen(alg, key, H(v.iv), *sealed, H(v.aad));
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(*opened, H(v.pt));
  }
}

TEST(Aead, ChaCha20Poly1305Rfc8439) {
  std::string key = H("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  std::string nonce = H("070000004041424344454647");
  std::string aad = H("50515253c0c1c2c3c4c5c6c7");
  std::string pt =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen "
      "would be it.";
  std::string want =
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
      "3ff4def08e4b7a9de576d26586cec64b6116"
      "1ae10b594f09e26a7e902ecbd0600691";
  auto sealed = AeadSeal(AeadAlg::kChaCha20Poly1305, key, nonce, pt, aad);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed), want);
  auto opened = AeadOpen(AeadAlg::kChaCha20Poly1305, key, nonce, *sealed, aad);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, pt);
}

TEST(Aead, TamperingIsDetected) {
  std::string key = RandomBytes(32), nonce = RandomBytes(12);
  for (AeadAlg alg : {AeadAlg::kAes256Gcm, AeadAlg::kChaCha20Poly1305}) {
    auto ct = AeadSeal(alg, key, nonce, "hello world", "path/a");
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(AeadOpen(alg, key, nonce, *ct, "path/b").status().code(), Code::kCorruption);
    std::string flipped = *ct;
    flipped[3] ^= 0x40;
    EXPECT_EQ(AeadOpen(alg, key, nonce, flipped, "path/a").status().code(), Code::kCorruption);
    std::string tagflip = *ct;
    tagflip.back() ^= 0x01;
    EXPECT_EQ(AeadOpen(alg, key, nonce, tagflip, "path/a").status().code(), Code::kCorruption);
    EXPECT_EQ(AeadOpen(alg, RandomBytes(32), nonce, *ct, "path/a").status().code(), Code::kCorruption);
    EXPECT_EQ(AeadOpen(alg, key, nonce, "short", "path/a").status().code(), Code::kCorruption);
  }
  EXPECT_EQ(AeadSeal(AeadAlg::kAes256Gcm, RandomBytes(16), nonce, "x", "").status().code(), Code::kInvalidRequest);
  EXPECT_EQ(AeadSeal(AeadAlg::kAes256Gcm, key, RandomBytes(8), "x", "").status().code(), Code::kInvalidRequest);
}

// ---- hashes, HMAC, HKDF ----

TEST(Hash, Fips180Abc) {
  EXPECT_EQ(HexEncode(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha512("abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
            "454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(HexEncode(Digest(HashAlg::kSha1, "abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(HashSize(HashAlg::kSha384), 48u);
}

TEST(Hash, HmacSha256Rfc4231) {
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// The pooled contexts are re-armed between messages: every reuse, and reuse from many
// threads at once, must give what a freshly keyed HMAC gives.
TEST(Hash, HmacKeyReusedContextsMatchOneShotHmac) {
  const std::string key(131, '\xaa');  // longer than a block: hashed first
  HmacKey k(HashAlg::kSha256, key);
  EXPECT_EQ(HexEncode(k.Sign("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  for (int i = 0; i < 200; ++i) {
    std::string msg(static_cast<size_t>(i), static_cast<char>('a' + i % 26));
    ASSERT_EQ(k.Sign(msg), HmacSha256(key, msg)) << i;
  }
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::string msg = std::to_string(t) + ":" + std::to_string(i);
        if (k.Sign(msg) != HmacSha256(key, msg)) bad++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Hash, HkdfSha256Rfc5869) {
  auto okm = HkdfSha256(std::string(22, '\x0b'), H("000102030405060708090a0b0c"), H("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(HexEncode(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  // Test case 3: empty salt and info.
  auto okm3 = HkdfSha256(std::string(22, '\x0b'), "", "", 42);
  ASSERT_TRUE(okm3.ok());
  EXPECT_EQ(HexEncode(*okm3),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  EXPECT_FALSE(HkdfSha256("k", "", "", 0).ok());
}

// ---- password hashing ----

TEST(Password, HashAndVerify) {
  auto enc = PasswordHash("correct horse");
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->rfind("$scrypt$ln=15,r=8,p=1$", 0), 0u) << *enc;
  EXPECT_EQ(enc->find("correct horse"), std::string::npos);
  EXPECT_TRUE(PasswordVerify("correct horse", *enc));
  EXPECT_FALSE(PasswordVerify("correct horsf", *enc));
  EXPECT_FALSE(PasswordVerify("", *enc));
  auto enc2 = PasswordHash("correct horse");
  ASSERT_TRUE(enc2.ok());
  EXPECT_NE(*enc, *enc2);  // salted
}

TEST(Password, CheaperParamsAndMalformedEncodings) {
  ScryptParams cheap{10, 8, 1};
  auto enc = PasswordHash("pw", cheap);
  ASSERT_TRUE(enc.ok());
  EXPECT_TRUE(PasswordVerify("pw", *enc));
  EXPECT_FALSE(PasswordVerify("pw", ""));
  EXPECT_FALSE(PasswordVerify("pw", "$scrypt$ln=10,r=8,p=1$$"));
  EXPECT_FALSE(PasswordVerify("pw", "$bcrypt$xx"));
  std::string huge = *enc;
  huge.replace(huge.find("ln=10"), 5, "ln=30");  // would cost 128 GiB: refused, not run
  EXPECT_FALSE(PasswordVerify("pw", huge));
  EXPECT_FALSE(PasswordHash("pw", ScryptParams{2, 8, 1}).ok());
}

}  // namespace
}  // namespace tresor::crypto
