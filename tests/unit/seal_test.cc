#include "seal/shamir_seal.h"

#include <gtest/gtest.h>

#include <memory>

#include "common/encoding.h"
#include "common/random.h"
#include "crypto/shamir.h"
#include "crypto_map_storage.h"

namespace tresor::seal {
namespace {

using testing::MapStorage;

// One server process: a barrier and a seal over a (shared) physical store.
struct Node {
  explicit Node(MapStorage* phys) : barrier(phys), seal(phys, &barrier) {}
  barrier::Barrier barrier;
  ShamirSeal seal;
};

std::vector<std::string> Raw(const std::vector<SecureString>& s) {
  std::vector<std::string> out;
  for (const auto& x : s) out.push_back(x.str());
  return out;
}

TEST(SealConfigValidation, VaultMessages) {
  auto msg = [](int n, int t) { return ValidateSealConfig(n, t).message(); };
  EXPECT_EQ(msg(0, 1), "invalid seal configuration: shares must be at least one");
  EXPECT_EQ(msg(5, 0), "invalid seal configuration: threshold must be at least one");
  EXPECT_EQ(msg(5, 1), "invalid seal configuration: threshold must be greater than one for multiple shares");
  EXPECT_EQ(msg(256, 3), "invalid seal configuration: shares must be less than 256");
  EXPECT_EQ(msg(255, 256), "invalid seal configuration: threshold must be less than 256");
  EXPECT_EQ(msg(3, 5), "invalid seal configuration: threshold cannot be larger than shares");
  EXPECT_EQ(ValidateSealConfig(0, 1).code(), Code::kInvalidRequest);
  EXPECT_TRUE(ValidateSealConfig(1, 1).ok());
  EXPECT_TRUE(ValidateSealConfig(5, 3).ok());
  EXPECT_TRUE(ValidateSealConfig(255, 255).ok());
  EXPECT_FALSE(ValidateSealConfig(5, 3, 2).ok());

  MapStorage phys;
  Node node(&phys);
  auto r = node.seal.Initialize(3, 5);
  EXPECT_EQ(r.status().message(), "invalid seal configuration: threshold cannot be larger than shares");
  EXPECT_TRUE(phys.Snapshot().empty());
}

TEST(SealConfigJson, RoundTrip) {
  SealConfig c;
  c.secret_shares = 5;
  c.secret_threshold = 3;
  auto j = c.ToJson();
  EXPECT_EQ(j["type"], "shamir");
  EXPECT_EQ(j["secret_shares"], 5);
  EXPECT_EQ(j["secret_threshold"], 3);
  auto back = SealConfig::FromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->secret_shares, 5);
  EXPECT_EQ(back->secret_threshold, 3);
  EXPECT_FALSE(SealConfig::FromJson(nlohmann::json::object()).ok());
  EXPECT_FALSE(SealConfig::FromJson(nlohmann::json{{"type", "shamir"}, {"secret_shares", 2}, {"secret_threshold", 3}}).ok());
}

TEST(DecodeUnsealKey, HexThenBase64) {
  std::string share = RandomBytes(33);
  EXPECT_EQ(DecodeUnsealKey(HexEncode(share))->str(), share);
  EXPECT_EQ(DecodeUnsealKey(Base64Encode(share))->str(), share);
  std::string key = RandomBytes(32);
  EXPECT_EQ(DecodeUnsealKey(HexEncode(key))->str(), key);
  EXPECT_EQ(DecodeUnsealKey(Base64Encode(key))->str(), key);
  // Valid hex of an implausible length is read as base64 instead.
  EXPECT_EQ(DecodeUnsealKey("abcd")->str(), *Base64Decode("abcd"));
  auto bad = DecodeUnsealKey("not a key!");
  EXPECT_EQ(bad.status().code(), Code::kInvalidRequest);
  EXPECT_EQ(bad.status().message(), "'key' must be a valid hex or base64 string");
  EXPECT_FALSE(DecodeUnsealKey(HexEncode(RandomBytes(34)) + "zz").ok());
}

class SealTest : public ::testing::Test {
 protected:
  // Initialises a 5/3 seal, writes a marker value, seals.
  void SetUp() override {
    Node node(&phys_);
    EXPECT_FALSE(*node.seal.Initialized());
    auto st = node.seal.State();
    ASSERT_TRUE(st.ok());
    EXPECT_FALSE(st->initialized);
    EXPECT_TRUE(st->sealed);
    EXPECT_EQ(st->threshold, 0);
    EXPECT_EQ(st->shares, 0);

    auto shares = node.seal.Initialize(5, 3);
    ASSERT_TRUE(shares.ok()) << shares.status().ToString();
    shares_ = Raw(*shares);
    ASSERT_FALSE(node.barrier.sealed());  // left unsealed for the caller's setup
    ASSERT_TRUE(node.barrier.Put("sys/marker", "still here").ok());
    node.seal.Seal();
    EXPECT_TRUE(node.barrier.sealed());
  }

  MapStorage phys_;
  std::vector<std::string> shares_;
};

TEST_F(SealTest, InitProducesVaultShapedShares) {
  ASSERT_EQ(shares_.size(), 5u);
  for (const auto& s : shares_) {
    EXPECT_EQ(s.size(), 33u);
    EXPECT_EQ(HexEncode(s).size(), 66u);
    EXPECT_EQ(Base64Encode(s).size(), 44u);
  }
  auto snap = phys_.Snapshot();
  EXPECT_TRUE(snap.count("core/seal-config"));
  EXPECT_TRUE(snap.count("core/root-key"));
  EXPECT_TRUE(snap.count("core/keyring"));
  auto cfg = nlohmann::json::parse(snap["core/seal-config"]);
  EXPECT_EQ(cfg["type"], "shamir");
  EXPECT_EQ(cfg["secret_shares"], 5);
  EXPECT_EQ(cfg["secret_threshold"], 3);
  // Neither a share nor the unseal key they combine to is stored anywhere.
  auto kek = crypto::ShamirCombine(std::vector<std::string_view>{shares_[0], shares_[1], shares_[2]});
  ASSERT_TRUE(kek.ok());
  for (const auto& [k, v] : snap) {
    EXPECT_EQ(v.find(kek->str()), std::string::npos) << k;
    for (const auto& s : shares_) EXPECT_EQ(v.find(s.substr(0, 32)), std::string::npos) << k;
    EXPECT_EQ(v.find("still here"), std::string::npos) << k;
  }
}

TEST_F(SealTest, AlreadyInitialized) {
  Node node(&phys_);
  auto r = node.seal.Initialize(5, 3);
  EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
  EXPECT_EQ(r.status().message(), "Vault is already initialized");
}

TEST_F(SealTest, EveryThreeOfFiveUnseals) {
  int subsets = 0;
  for (int a = 0; a < 5; ++a) {
    for (int b = a + 1; b < 5; ++b) {
      for (int c = b + 1; c < 5; ++c) {
        ++subsets;
        Node node(&phys_);  // a restarted process: comes back sealed
        auto st0 = node.seal.State();
        ASSERT_TRUE(st0.ok());
        EXPECT_TRUE(st0->initialized);
        EXPECT_TRUE(st0->sealed);
        EXPECT_EQ(st0->threshold, 3);
        EXPECT_EQ(st0->shares, 5);
        EXPECT_EQ(st0->progress, 0);
        EXPECT_EQ(st0->nonce, "");

        auto s1 = node.seal.SubmitShare(shares_[a]);
        ASSERT_TRUE(s1.ok());
        EXPECT_EQ(s1->progress, 1);
        EXPECT_TRUE(s1->sealed);
        EXPECT_EQ(s1->nonce.size(), 36u);
        auto s2 = node.seal.SubmitShare(shares_[b]);
        ASSERT_TRUE(s2.ok());
        EXPECT_EQ(s2->progress, 2);
        EXPECT_EQ(s2->nonce, s1->nonce);
        auto s3 = node.seal.SubmitShare(shares_[c]);
        ASSERT_TRUE(s3.ok()) << s3.status().ToString();
        EXPECT_FALSE(s3->sealed);
        EXPECT_EQ(s3->progress, 0);
        EXPECT_EQ(s3->nonce, "");
        EXPECT_FALSE(node.barrier.sealed());
        EXPECT_EQ(**node.barrier.Get("sys/marker"), "still here");
      }
    }
  }
  EXPECT_EQ(subsets, 10);
}

TEST_F(SealTest, RepeatedShareIsIgnored) {
  Node node(&phys_);
  ASSERT_TRUE(node.seal.SubmitShare(shares_[0]).ok());
  auto again = node.seal.SubmitShare(shares_[0]);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->progress, 1);
  ASSERT_TRUE(node.seal.SubmitShare(shares_[1]).ok());
  auto done = node.seal.SubmitShare(shares_[2]);
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(done->sealed);
  // Unsealed: more shares are a no-op.
  auto more = node.seal.SubmitShare(shares_[3]);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(more->sealed);
  EXPECT_EQ(more->progress, 0);
}

TEST_F(SealTest, WrongShareAtThresholdResets) {
  Node node(&phys_);
  ASSERT_TRUE(node.seal.SubmitShare(shares_[0]).ok());
  ASSERT_TRUE(node.seal.SubmitShare(shares_[1]).ok());
  std::string bad = shares_[2];
  bad[5] ^= 0x5a;
  auto r = node.seal.SubmitShare(bad);
  EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
  EXPECT_EQ(r.status().message(), "Unseal failed, invalid key");
  auto st = node.seal.State();
  EXPECT_EQ(st->progress, 0);
  EXPECT_EQ(st->nonce, "");
  EXPECT_TRUE(st->sealed);
  // A share from another cluster fails the same way.
  MapStorage other;
  Node foreign(&other);
  auto foreign_shares = foreign.seal.Initialize(5, 3);
  ASSERT_TRUE(foreign_shares.ok());
  ASSERT_TRUE(node.seal.SubmitShare(shares_[0]).ok());
  ASSERT_TRUE(node.seal.SubmitShare(shares_[1]).ok());
  EXPECT_EQ(node.seal.SubmitShare((*foreign_shares)[2].str()).status().message(), "Unseal failed, invalid key");
  // Then the right shares still work.
  for (int i : {4, 3, 2}) ASSERT_TRUE(node.seal.SubmitShare(shares_[i]).ok());
  EXPECT_FALSE(node.barrier.sealed());
}

TEST_F(SealTest, MismatchedShareLengthFailsAtThreshold) {
  Node node(&phys_);
  ASSERT_TRUE(node.seal.SubmitShare(shares_[0]).ok());
  ASSERT_TRUE(node.seal.SubmitShare(shares_[1]).ok());
  auto r = node.seal.SubmitShare(shares_[2].substr(0, 20));
  EXPECT_EQ(r.status().message(), "Unseal failed, invalid key");
  EXPECT_EQ(node.seal.State()->progress, 0);
}

TEST_F(SealTest, KeyLengthBounds) {
  Node node(&phys_);
  EXPECT_EQ(node.seal.SubmitShare(std::string(15, 'x')).status().message(),
            "invalid key: key is shorter than minimum 16 bytes");
  EXPECT_EQ(node.seal.SubmitShare(std::string(34, 'x')).status().message(),
            "invalid key: key is longer than maximum 33 bytes");
  EXPECT_EQ(node.seal.State()->progress, 0);
}

TEST_F(SealTest, ResetForgetsProgress) {
  Node node(&phys_);
  ASSERT_TRUE(node.seal.SubmitShare(shares_[0]).ok());
  ASSERT_TRUE(node.seal.SubmitShare(shares_[1]).ok());
  node.seal.ResetProgress();
  auto st = node.seal.State();
  EXPECT_EQ(st->progress, 0);
  EXPECT_EQ(st->nonce, "");
  // Two more shares are not enough after a reset.
  ASSERT_TRUE(node.seal.SubmitShare(shares_[2]).ok());
  auto s = node.seal.SubmitShare(shares_[3]);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->sealed);
  EXPECT_EQ(s->progress, 2);
}

TEST_F(SealTest, SealAfterUnsealAndUnsealAgain) {
  Node node(&phys_);
  for (int i : {0, 1, 2}) ASSERT_TRUE(node.seal.SubmitShare(shares_[i]).ok());
  ASSERT_FALSE(node.barrier.sealed());
  EXPECT_TRUE(node.seal.has_unseal_key());
  node.seal.Seal();
  EXPECT_TRUE(node.barrier.sealed());
  EXPECT_FALSE(node.seal.has_unseal_key());
  EXPECT_EQ(node.barrier.Get("sys/marker").status().code(), Code::kSealed);
  for (int i : {2, 3, 4}) ASSERT_TRUE(node.seal.SubmitShare(shares_[i]).ok());
  EXPECT_EQ(**node.barrier.Get("sys/marker"), "still here");
}

TEST(Seal, NotInitialized) {
  MapStorage phys;
  Node node(&phys);
  auto r = node.seal.SubmitShare(RandomBytes(33));
  EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
  EXPECT_EQ(r.status().message(), "Vault is not initialized");
}

TEST(Seal, SingleShareIsTheUnsealKey) {
  MapStorage phys;
  std::string key;
  {
    Node node(&phys);
    auto shares = node.seal.Initialize(1, 1);
    ASSERT_TRUE(shares.ok());
    ASSERT_EQ(shares->size(), 1u);
    key = (*shares)[0].str();
    EXPECT_EQ(key.size(), 32u);
    ASSERT_TRUE(node.barrier.Put("logical/x", "y").ok());
  }
  Node node(&phys);
  auto st = node.seal.State();
  EXPECT_EQ(st->threshold, 1);
  EXPECT_EQ(st->shares, 1);
  auto bad = node.seal.SubmitShare(RandomBytes(32));
  EXPECT_EQ(bad.status().message(), "Unseal failed, invalid key");
  auto ok = node.seal.SubmitShare(key);
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->sealed);
  EXPECT_EQ(**node.barrier.Get("logical/x"), "y");
}

TEST_F(SealTest, RaftJoinRecoversKeyThenUnsealsAfterReplication) {
  // Leader: unsealed, wraps a challenge with its unseal key.
  Node leader(&phys_);
  for (int i : {0, 1, 2}) ASSERT_TRUE(leader.seal.SubmitShare(shares_[i]).ok());
  auto challenge = leader.seal.WrapWithUnsealKey("sixteen-byte-abc", "raft-challenge");
  ASSERT_TRUE(challenge.ok());

  // Joiner: empty storage, seal config from the leader.
  MapStorage joiner_phys;
  Node joiner(&joiner_phys);
  EXPECT_FALSE(*joiner.seal.Initialized());
  joiner.seal.SetJoinConfig(*SealConfig::FromJson(nlohmann::json::parse(phys_.Snapshot()["core/seal-config"])));
  auto st = joiner.seal.State();
  EXPECT_TRUE(st->initialized);
  EXPECT_EQ(st->threshold, 3);
  EXPECT_EQ(st->shares, 5);
  EXPECT_FALSE(joiner.seal.UnwrapWithUnsealKey(*challenge, "raft-challenge").ok());

  for (int i : {4, 1, 3}) {
    auto s = joiner.seal.SubmitShare(shares_[i]);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE(s->sealed);
  }
  EXPECT_TRUE(joiner.seal.has_unseal_key());
  EXPECT_EQ(joiner.seal.State()->progress, 0);
  auto answer = joiner.seal.UnwrapWithUnsealKey(*challenge, "raft-challenge");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(*answer, "sixteen-byte-abc");
  EXPECT_EQ(joiner.seal.UnsealWithRecoveredKey().code(), Code::kUnavailable);

  // Replication arrives.
  for (const auto& [k, v] : phys_.Snapshot()) joiner_phys.RawPut(k, v);
  ASSERT_TRUE(joiner.seal.UnsealWithRecoveredKey().ok());
  EXPECT_FALSE(joiner.barrier.sealed());
  EXPECT_EQ(**joiner.barrier.Get("sys/marker"), "still here");
}

TEST_F(SealTest, RaftJoinWithWrongSharesIsCaughtByTheChallenge) {
  Node leader(&phys_);
  for (int i : {0, 1, 2}) ASSERT_TRUE(leader.seal.SubmitShare(shares_[i]).ok());
  auto challenge = leader.seal.WrapWithUnsealKey("challenge-bytes!", "raft-challenge");
  ASSERT_TRUE(challenge.ok());

  MapStorage other_phys;
  Node other(&other_phys);
  auto wrong = other.seal.Initialize(5, 3);
  ASSERT_TRUE(wrong.ok());

  MapStorage joiner_phys;
  Node joiner(&joiner_phys);
  SealConfig cfg;
  cfg.secret_shares = 5;
  cfg.secret_threshold = 3;
  joiner.seal.SetJoinConfig(cfg);
  for (int i : {0, 1, 2}) ASSERT_TRUE(joiner.seal.SubmitShare((*wrong)[i].str()).ok());
  ASSERT_TRUE(joiner.seal.has_unseal_key());
  EXPECT_EQ(joiner.seal.UnwrapWithUnsealKey(*challenge, "raft-challenge").status().code(), Code::kCorruption);
  joiner.seal.ResetProgress();
  EXPECT_FALSE(joiner.seal.has_unseal_key());
  // The right shares afterwards succeed.
  for (int i : {0, 1, 2}) ASSERT_TRUE(joiner.seal.SubmitShare(shares_[i]).ok());
  EXPECT_EQ(*joiner.seal.UnwrapWithUnsealKey(*challenge, "raft-challenge"), "challenge-bytes!");
}

}  // namespace
}  // namespace tresor::seal
