#include "barrier/barrier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/random.h"
#include "crypto_map_storage.h"

namespace tresor::barrier {
namespace {

using testing::MapStorage;

class BarrierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = SecureString(RandomBytes(kRootKeySize));
    ASSERT_TRUE(barrier_.Initialize(root_).ok());
    ASSERT_TRUE(barrier_.sealed());
    ASSERT_TRUE(barrier_.Unseal(root_).ok());
    ASSERT_FALSE(barrier_.sealed());
  }

  MapStorage phys_;
  Barrier barrier_{&phys_};
  SecureString root_;
};

TEST_F(BarrierTest, RoundTrip) {
  ASSERT_TRUE(barrier_.Put("logical/abc/secret", "hunter2").ok());
  auto v = barrier_.Get("logical/abc/secret");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, "hunter2");
  auto missing = barrier_.Get("logical/abc/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(barrier_.Put("logical/abc/empty", "").ok());
  EXPECT_EQ(**barrier_.Get("logical/abc/empty"), "");
  ASSERT_TRUE(barrier_.Delete("logical/abc/secret").ok());
  EXPECT_FALSE(barrier_.Get("logical/abc/secret")->has_value());
}

TEST_F(BarrierTest, PhysicalBytesHideThePlaintext) {
  const std::string secret = "the-plaintext-marker-0123456789";
  ASSERT_TRUE(barrier_.Put("logical/x/y", secret).ok());
  auto snap = phys_.Snapshot();
  ASSERT_TRUE(snap.count("logical/x/y"));
  const std::string& stored = snap["logical/x/y"];
  EXPECT_EQ(stored.find(secret), std::string::npos);
  ASSERT_EQ(stored.size(), 4 + 1 + 12 + secret.size() + 16);
  EXPECT_EQ(stored.substr(0, 5), std::string("\0\0\0\1\2", 5));  // term 1, version 2
  for (const auto& [k, v] : snap) {
    EXPECT_EQ(v.find(secret), std::string::npos) << k;
    EXPECT_EQ(v.find(root_.str()), std::string::npos) << k;
  }
  // Same plaintext twice gives different ciphertexts (random nonce).
  ASSERT_TRUE(barrier_.Put("logical/x/z", secret).ok());
  EXPECT_NE(phys_.Snapshot()["logical/x/z"].substr(5), stored.substr(5));
}

TEST_F(BarrierTest, CiphertextMovedToAnotherPathFails) {
  ASSERT_TRUE(barrier_.Put("logical/a", "s3cr3t").ok());
  phys_.RawPut("logical/b", phys_.Snapshot()["logical/a"]);
  auto v = barrier_.Get("logical/b");
  EXPECT_EQ(v.status().code(), Code::kCorruption);
  EXPECT_EQ(v.status().message().find("s3cr3t"), std::string::npos);

  std::string flipped = phys_.Snapshot()["logical/a"];
  flipped[20] ^= 1;
  phys_.RawPut("logical/c", flipped);
  EXPECT_EQ(barrier_.Get("logical/c").status().code(), Code::kCorruption);
  phys_.RawPut("logical/d", "short");
  EXPECT_EQ(barrier_.Get("logical/d").status().code(), Code::kCorruption);
}

TEST_F(BarrierTest, RotateKeepsOldValuesReadable) {
  ASSERT_TRUE(barrier_.Put("logical/old", "v1").ok());
  auto before = barrier_.KeyStatus();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->term, 1u);
  EXPECT_EQ(before->encryptions, 1u);

  auto info = barrier_.Rotate();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->term, 2u);
  EXPECT_GE(info->install_time, before->install_time);
  ASSERT_TRUE(barrier_.Put("logical/new", "v2").ok());
  EXPECT_EQ(phys_.Snapshot()["logical/new"].substr(0, 4), std::string("\0\0\0\2", 4));
  EXPECT_EQ(**barrier_.Get("logical/old"), "v1");
  EXPECT_EQ(**barrier_.Get("logical/new"), "v2");
  EXPECT_EQ(barrier_.KeyStatus()->term, 2u);
  EXPECT_EQ(barrier_.KeyStatus()->encryptions, 1u);

  // The rotation is persisted: a fresh barrier over the same store reads both.
  Barrier again(&phys_);
  ASSERT_TRUE(again.Unseal(root_).ok());
  EXPECT_EQ(again.KeyStatus()->term, 2u);
  EXPECT_EQ(**again.Get("logical/old"), "v1");
  EXPECT_EQ(**again.Get("logical/new"), "v2");
}

TEST_F(BarrierTest, RotateFailureChangesNothing) {
  phys_.set_fail_writes(true);
  EXPECT_FALSE(barrier_.Rotate().ok());
  phys_.set_fail_writes(false);
  EXPECT_EQ(barrier_.KeyStatus()->term, 1u);
}

TEST_F(BarrierTest, FollowerPicksUpRotationByItself) {
  // A second barrier over the same store stands in for a standby that sees replicated data.
  Barrier follower(&phys_);
  ASSERT_TRUE(follower.Unseal(root_).ok());
  ASSERT_TRUE(barrier_.Rotate().ok());
  ASSERT_TRUE(barrier_.Put("logical/after", "rotated").ok());
  EXPECT_EQ(follower.KeyStatus()->term, 1u);
  EXPECT_EQ(**follower.Get("logical/after"), "rotated");  // unknown term -> reload
  EXPECT_EQ(follower.KeyStatus()->term, 2u);
  ASSERT_TRUE(barrier_.Rotate().ok());
  ASSERT_TRUE(follower.ReloadKeyring().ok());
  EXPECT_EQ(follower.KeyStatus()->term, 3u);
}

TEST_F(BarrierTest, SealedRefusesEverything) {
  ASSERT_TRUE(barrier_.Put("logical/a", "v").ok());
  barrier_.Seal();
  EXPECT_TRUE(barrier_.sealed());
  EXPECT_EQ(barrier_.Get("logical/a").status().code(), Code::kSealed);
  EXPECT_EQ(barrier_.Put("logical/a", "w").code(), Code::kSealed);
  EXPECT_EQ(barrier_.Delete("logical/a").code(), Code::kSealed);
  EXPECT_EQ(barrier_.List("").status().code(), Code::kSealed);
  EXPECT_EQ(barrier_.Transaction({{TxnOp::Kind::kPut, "logical/b", "x"}}).code(), Code::kSealed);
  EXPECT_EQ(barrier_.Encrypt("p", "x").status().code(), Code::kSealed);
  EXPECT_EQ(barrier_.Decrypt("p", "x").status().code(), Code::kSealed);
  EXPECT_EQ(barrier_.Rotate().status().code(), Code::kSealed);
  EXPECT_EQ(barrier_.KeyStatus().status().code(), Code::kSealed);
  EXPECT_EQ(barrier_.Get("logical/a").status().message(), "Vault is sealed");
  ASSERT_TRUE(barrier_.Unseal(root_).ok());
  EXPECT_EQ(**barrier_.Get("logical/a"), "v");
}

TEST_F(BarrierTest, WrongRootKey) {
  barrier_.Seal();
  Status st = barrier_.Unseal(SecureString(RandomBytes(kRootKeySize)));
  EXPECT_EQ(st.code(), Code::kInvalidRequest);
  EXPECT_EQ(st.message(), "Unseal failed, invalid key");
  EXPECT_TRUE(barrier_.sealed());
}

TEST_F(BarrierTest, InitializeTwiceAndUninitialized) {
  Status st = barrier_.Initialize(root_);
  EXPECT_EQ(st.code(), Code::kInvalidRequest);
  EXPECT_EQ(st.message(), "Vault is already initialized");
  MapStorage empty;
  Barrier b(&empty);
  EXPECT_FALSE(*b.Initialized());
  EXPECT_EQ(b.Unseal(root_).message(), "Vault is not initialized");
  EXPECT_FALSE(b.Initialize(SecureString(std::string("short"))).ok());
}

TEST_F(BarrierTest, InitializeWritesExtraOpsAtomically) {
  MapStorage store;
  Barrier b(&store);
  ASSERT_TRUE(b.Initialize(root_, {{TxnOp::Kind::kPut, std::string(kSealConfigPath), "{}"}}).ok());
  auto snap = store.Snapshot();
  EXPECT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[std::string(kSealConfigPath)], "{}");
  EXPECT_TRUE(snap.count(std::string(kKeyringPath)));
}

TEST_F(BarrierTest, ReservedPathsAreRefused) {
  EXPECT_EQ(barrier_.Put(kKeyringPath, "x").code(), Code::kInvalidRequest);
  EXPECT_EQ(barrier_.Delete(kRootKeyPath).code(), Code::kInvalidRequest);
  EXPECT_EQ(barrier_.Get(kSealConfigPath).status().code(), Code::kInvalidRequest);
  EXPECT_EQ(barrier_.Transaction({{TxnOp::Kind::kPut, std::string(kKeyringPath), "x"}}).code(),
            Code::kInvalidRequest);
  ASSERT_TRUE(barrier_.Put("core/mounts", "m").ok());
  auto l = barrier_.List("core/");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::string>{"keyring", "mounts"}));
}

TEST_F(BarrierTest, TransactionEncryptsEachValue) {
  ASSERT_TRUE(barrier_.Put("logical/gone", "x").ok());
  ASSERT_TRUE(barrier_
                  .Transaction({{TxnOp::Kind::kPut, "logical/t1", "one"},
                                {TxnOp::Kind::kPut, "logical/t2", "two"},
                                {TxnOp::Kind::kDelete, "logical/gone", ""}})
                  .ok());
  EXPECT_EQ(**barrier_.Get("logical/t1"), "one");
  EXPECT_EQ(**barrier_.Get("logical/t2"), "two");
  EXPECT_FALSE(barrier_.Get("logical/gone")->has_value());
  EXPECT_EQ(phys_.Snapshot()["logical/t1"].find("one"), std::string::npos);
}

TEST_F(BarrierTest, RawEncryptDecrypt) {
  auto ct = barrier_.Encrypt("raft/challenge", "nonce-bytes");
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(*barrier_.Decrypt("raft/challenge", *ct), "nonce-bytes");
  EXPECT_FALSE(barrier_.Decrypt("other", *ct).ok());
}

TEST_F(BarrierTest, ConcurrentReadersWritersAndRotation) {
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = "logical/t" + std::to_string(t) + "/" + std::to_string(i);
        std::string val = "v" + std::to_string(i);
        if (!barrier_.Put(key, val).ok()) failed = true;
        auto got = barrier_.Get(key);
        if (!got.ok() || !got->has_value() || **got != val) failed = true;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 10; ++i) {
      if (!barrier_.Rotate().ok()) failed = true;
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(barrier_.KeyStatus()->term, 11u);
  EXPECT_EQ(**barrier_.Get("logical/t0/0"), "v0");
}

}  // namespace
}  // namespace tresor::barrier
