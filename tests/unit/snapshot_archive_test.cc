#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/random.h"
#include "crypto/aead.h"
#include "snapshot/archive.h"

namespace tresor::snapshot {
namespace {

// A stand-in for the seal: AES-GCM under a key of the test's choosing.
struct TestSeal {
  std::string key = RandomBytes(32);
  SealFn seal() const {
    return [k = key](std::string_view pt) -> Result<std::string> {
      std::string nonce = RandomBytes(crypto::kAeadNonceSize);
      ASSIGN_OR_RETURN(std::string ct, crypto::AeadSeal(crypto::AeadAlg::kAes256Gcm, k, nonce, pt, "sums"));
      return nonce + ct;
    };
  }
  OpenFn open() const {
    return [k = key](std::string_view blob) -> Result<std::string> {
      if (blob.size() < crypto::kAeadNonceSize) return Status::Corruption("short");
      return crypto::AeadOpen(crypto::AeadAlg::kAes256Gcm, k, blob.substr(0, crypto::kAeadNonceSize),
                              blob.substr(crypto::kAeadNonceSize), "sums");
    };
  }
};

std::vector<std::pair<std::string, std::string>> Entries(std::string_view state) {
  std::vector<std::pair<std::string, std::string>> out;
  Status st = ForEachEntry(state, [&](const Entry& e) {
    out.emplace_back(e.key, e.value);
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

std::string SampleState(std::vector<std::pair<std::string, std::string>>* want) {
  *want = {{"core/keyring", RandomBytes(300)},
           {"logical/abc/empty", ""},
           {std::string("bin\0key", 7), std::string(200, '\xff')},
           {"big", RandomBytes(70000)}};  // lengths above one varint byte
  std::string state;
  for (const auto& [k, v] : *want) AppendEntry(&state, k, v);
  return state;
}

Meta SampleMeta() {
  Meta m;
  m.index = 1234;
  m.term = 7;
  m.configuration_index = 12;
  m.servers = {{"n0", "127.0.0.1:8201", true}, {"n1", "127.0.0.2:8201", false}};
  return m;
}

TEST(SnapshotArchive, RoundTripsStateAndMeta) {
  TestSeal seal;
  std::vector<std::pair<std::string, std::string>> want;
  const std::string state = SampleState(&want);
  auto file = Write(SampleMeta(), state, seal.seal());
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_TRUE(HasSealedSums(*file));

  OpenFn open = seal.open();
  auto c = Read(*file, &open);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->state, state);
  EXPECT_EQ(Entries(c->state), want);
  EXPECT_EQ(c->meta.index, 1234u);
  EXPECT_EQ(c->meta.term, 7u);
  EXPECT_EQ(c->meta.configuration_index, 12u);
  EXPECT_EQ(c->meta.size, state.size());
  ASSERT_EQ(c->meta.servers.size(), 2u);
  EXPECT_EQ(c->meta.servers[1].id, "n1");
  EXPECT_EQ(c->meta.servers[1].address, "127.0.0.2:8201");
  EXPECT_TRUE(c->meta.servers[0].voter);
  EXPECT_FALSE(c->meta.servers[1].voter);
}

TEST(SnapshotArchive, AnotherSealIsToldApartAndForceSkipsTheSealedSums) {
  TestSeal mine, theirs;
  std::vector<std::pair<std::string, std::string>> want;
  auto file = Write(SampleMeta(), SampleState(&want), theirs.seal());
  ASSERT_TRUE(file.ok());
  OpenFn open = mine.open();
  auto c = Read(*file, &open);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(SealedSumsDidNotOpen(c.status())) << c.status().message();

  auto forced = Read(*file, nullptr);
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_EQ(Entries(forced->state), want);
}

TEST(SnapshotArchive, ChangedStateFailsTheSumsEvenWithAValidGzipStream) {
  TestSeal seal;
  std::vector<std::pair<std::string, std::string>> want;
  const std::string state = SampleState(&want);
  auto file = Write(SampleMeta(), state, seal.seal());
  ASSERT_TRUE(file.ok());
  auto tar = Gunzip(*file, 1 << 30);
  ASSERT_TRUE(tar.ok());
  // Flip one byte of the value of "core/keyring" inside the tar, then compress again.
  const std::string& keyring = want[0].second;
  size_t at = tar->find(keyring);
  ASSERT_NE(at, std::string::npos);
  (*tar)[at + 10] ^= 1;
  auto tampered = Gzip(*tar);
  ASSERT_TRUE(tampered.ok());
  for (bool force : {false, true}) {
    OpenFn open = seal.open();
    auto c = Read(*tampered, force ? nullptr : &open);
    ASSERT_FALSE(c.ok());
    EXPECT_FALSE(SealedSumsDidNotOpen(c.status()));
    EXPECT_EQ(c.status().message(),
              "failed to read snapshot file: failed checking integrity of snapshot: hash check failed for "
              "\"state.bin\"");
  }
}

TEST(SnapshotArchive, TruncatedOrCorruptFilesAreRefused) {
  TestSeal seal;
  std::vector<std::pair<std::string, std::string>> want;
  auto file = Write(SampleMeta(), SampleState(&want), seal.seal());
  ASSERT_TRUE(file.ok());
  OpenFn open = seal.open();
  for (size_t len : {size_t(0), size_t(5), size_t(10), size_t(100), file->size() / 2, file->size() - 9,
                     file->size() - 1}) {
    auto c = Read(std::string_view(*file).substr(0, len), &open);
    EXPECT_FALSE(c.ok()) << "accepted the first " << len << " of " << file->size() << " bytes";
    EXPECT_FALSE(HasSealedSums(std::string_view(*file).substr(0, len)));
  }
  for (size_t pos : {size_t(20), file->size() / 3, file->size() - 6}) {
    std::string bad = *file;
    bad[pos] ^= 0x40;
    EXPECT_FALSE(Read(bad, &open).ok()) << "accepted a flipped byte at " << pos;
    EXPECT_FALSE(Read(bad, nullptr).ok()) << "accepted a flipped byte at " << pos << " (force)";
  }
  auto plain = Read("TRSNAP1\nnot an archive", &open);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().message(), "failed to decompress snapshot: gzip: invalid header");
}

TEST(SnapshotArchive, EmptySealedSumsIsAnIncompleteSnapshot) {
  std::vector<std::pair<std::string, std::string>> want;
  auto file = Write(SampleMeta(), SampleState(&want), [](std::string_view) { return Result<std::string>(""); });
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(HasSealedSums(*file));
  auto failing = Write(SampleMeta(), "", [](std::string_view) { return Result<std::string>(Status::Unavailable("seal down")); });
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.status().message(), "failed to seal snapshot hashes: seal down");
}

TEST(SnapshotArchive, GunzipStopsAtItsLimit) {
  auto z = Gzip(std::string(10 << 20, 'a'));
  ASSERT_TRUE(z.ok());
  EXPECT_LT(z->size(), 200u * 1024);
  EXPECT_FALSE(Gunzip(*z, 1 << 20).ok());
  auto all = Gunzip(*z, 11 << 20);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, std::string(10 << 20, 'a'));
}

TEST(SnapshotArchive, ADecompressionBombIsRefused) {
  auto bomb = Gzip(std::string(100 << 20, '\0'));  // ~100 KiB that would inflate to 100 MiB
  ASSERT_TRUE(bomb.ok());
  auto c = Read(*bomb, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("uncompressed"), std::string::npos) << c.status().message();
  EXPECT_FALSE(HasSealedSums(*bomb));
}

TEST(SnapshotArchive, EntrySizesAreTheMessageLengths) {
  std::string state;
  AppendEntry(&state, "k", "value");    // 0a 01 'k' 12 05 "value": 10 bytes
  AppendEntry(&state, "", "");          // an empty message
  AppendEntry(&state, "big", std::string(200, 'v'));  // value length takes two varint bytes
  std::vector<size_t> sizes;
  ASSERT_TRUE(ForEachEntry(state, [&](const Entry& e) {
                sizes.push_back(e.encoded_size);
                return Status::Ok();
              }).ok());
  EXPECT_EQ(sizes, (std::vector<size_t>{10, 0, 1 + 1 + 3 + 1 + 2 + 200}));
  EXPECT_EQ(state.size(), 1 + 10 + 1 + 0 + 2 + 208u);  // plus each message's length prefix
}

TEST(SnapshotArchive, MalformedStateIsCorruption) {
  std::string state;
  AppendEntry(&state, "k", "value");
  for (size_t len = 1; len < state.size(); ++len) {
    Status st = ForEachEntry(std::string_view(state).substr(0, len), [](const Entry&) { return Status::Ok(); });
    EXPECT_EQ(st.code(), Code::kCorruption) << len;
  }
}

}  // namespace
}  // namespace tresor::snapshot
