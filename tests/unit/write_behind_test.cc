// WriteBehindStore: applied data is readable at once, reaches LMDB (with its meta) on a
// flush, a listing, a snapshot, the interval or the destructor, and readers never see a
// value go back while the layers move to LMDB.
#include "raft/write_behind.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace tresor::raft {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class WriteBehindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/write_behind_test_XXXXXX";
    dir_ = mkdtemp(tmpl);
    LmdbOptions o;
    o.no_sync = true;  // what is committed is what matters here, not fsync
    auto s = LmdbStore::Open(dir_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    lmdb_ = std::move(s).value();
  }
  void TearDown() override {
    lmdb_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Never commits on its own within a test: only what the test asks for reaches LMDB.
  static WriteBehindStore::Options Manual() {
    WriteBehindStore::Options o;
    o.interval = 1h;
    return o;
  }
  static Status Put(WriteBehindStore& wb, std::string k, std::string v, WriteBehindStore::Meta meta = {}) {
    std::vector<TxnOp> ops{{TxnOp::Kind::kPut, std::move(k), std::move(v)}};
    return wb.Apply({&ops}, std::move(meta));
  }
  std::optional<std::string> InLmdb(std::string_view k) { return lmdb_->Get(k).value(); }

  std::string dir_;
  std::unique_ptr<LmdbStore> lmdb_;
};

TEST_F(WriteBehindTest, AppliedIsReadableBeforeItsCommit) {
  WriteBehindStore wb(lmdb_.get(), Manual());
  ASSERT_TRUE(Put(wb, "a", "1", {{"raft/applied_index", "7"}}).ok());
  EXPECT_EQ(wb.Get("a").value(), "1");
  EXPECT_EQ(InLmdb("a"), std::nullopt);
  EXPECT_EQ(wb.CommittedMeta("raft/applied_index").value(), std::nullopt);
  EXPECT_EQ(wb.commits(), 0u);
  ASSERT_TRUE(wb.Flush().ok());
  EXPECT_EQ(InLmdb("a"), "1");
  EXPECT_EQ(wb.CommittedMeta("raft/applied_index").value(), "7");  // same transaction
  EXPECT_EQ(wb.commits(), 1u);
  ASSERT_TRUE(wb.Flush().ok());  // nothing pending: no empty commit
  EXPECT_EQ(wb.commits(), 1u);
}

TEST_F(WriteBehindTest, GroupsApplyInOrderAndOneCommitTakesThemAll) {
  WriteBehindStore wb(lmdb_.get(), Manual());
  ASSERT_TRUE(lmdb_->Write({{TxnOp::Kind::kPut, "old", "x"}}).ok());
  std::vector<TxnOp> g1{{TxnOp::Kind::kPut, "k", "1"}, {TxnOp::Kind::kPut, "j", "1"}};
  std::vector<TxnOp> g2{{TxnOp::Kind::kPut, "k", "2"}, {TxnOp::Kind::kDelete, "old", ""}};
  ASSERT_TRUE(wb.Apply({&g1, &g2}, {{"raft/applied_index", "2"}}).ok());
  std::vector<TxnOp> g3{{TxnOp::Kind::kDelete, "j", ""}};
  ASSERT_TRUE(wb.Apply({&g3}, {{"raft/applied_index", "3"}}).ok());
  EXPECT_EQ(wb.Get("k").value(), "2");
  EXPECT_EQ(wb.Get("j").value(), std::nullopt);    // deleted in memory
  EXPECT_EQ(wb.Get("old").value(), std::nullopt);  // hides the committed value
  EXPECT_EQ(InLmdb("old"), "x");
  ASSERT_TRUE(wb.Flush().ok());
  EXPECT_EQ(wb.commits(), 1u);
  EXPECT_EQ(InLmdb("k"), "2");
  EXPECT_EQ(InLmdb("j"), std::nullopt);
  EXPECT_EQ(InLmdb("old"), std::nullopt);
  EXPECT_EQ(wb.CommittedMeta("raft/applied_index").value(), "3");  // the latest meta wins
}

TEST_F(WriteBehindTest, ListingSeesPendingWritesUnderItsPrefixOnly) {
  WriteBehindStore wb(lmdb_.get(), Manual());
  ASSERT_TRUE(Put(wb, "p/x", "1").ok());
  ASSERT_TRUE(Put(wb, "q/y", "1").ok());
  auto keys = wb.List("p/", {});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, std::vector<std::string>{"x"});
  EXPECT_EQ(InLmdb("p/x"), "1");  // flushed for the listing (q/y with it: one commit)
  EXPECT_EQ(wb.commits(), 1u);
  ASSERT_TRUE(Put(wb, "q/z", "1").ok());
  EXPECT_EQ(wb.List("p/", {}).value(), std::vector<std::string>{"x"});
  EXPECT_EQ(wb.commits(), 1u);  // nothing pending under p/: no commit
  EXPECT_EQ(InLmdb("q/z"), std::nullopt);
}

TEST_F(WriteBehindTest, SnapshotOverlaysWhatIsAppliedWithoutACommit) {
  ASSERT_TRUE(lmdb_->Write({{TxnOp::Kind::kPut, "a", "1"}, {TxnOp::Kind::kPut, "c", "1"}, {TxnOp::Kind::kPut, "e", "1"}},
                           {{"raft/applied_index", "3"}, {"raft/nodes", "{}"}})
                  .ok());
  WriteBehindStore wb(lmdb_.get(), Manual());
  std::vector<TxnOp> ops{{TxnOp::Kind::kPut, "b", "2"},
                         {TxnOp::Kind::kDelete, "c", ""},
                         {TxnOp::Kind::kPut, "e", "2"},
                         {TxnOp::Kind::kPut, "f", "2"},
                         {TxnOp::Kind::kDelete, "g", ""}};
  ASSERT_TRUE(wb.Apply({&ops}, {{"raft/applied_index", "9"}}).ok());
  auto snap = wb.Snapshot();
  ASSERT_TRUE(snap.ok());
  std::vector<std::pair<std::string, std::string>> seen;
  ASSERT_TRUE((*snap)->ForEach([&](std::string_view k, std::string_view v) {
                       seen.emplace_back(k, v);
                       return Status::Ok();
                     })
                  .ok());
  std::vector<std::pair<std::string, std::string>> want{{"a", "1"}, {"b", "2"}, {"e", "2"}, {"f", "2"}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ((*snap)->GetMeta("raft/applied_index").value(), "9");  // the layer's
  EXPECT_EQ((*snap)->GetMeta("raft/nodes").value(), "{}");         // LMDB's
  EXPECT_EQ(wb.commits(), 0u);
  // A point in time: later applies do not show up in it.
  ASSERT_TRUE(Put(wb, "0", "late").ok());
  int n = 0;
  ASSERT_TRUE((*snap)->ForEach([&](std::string_view, std::string_view) {
                       n++;
                       return Status::Ok();
                     })
                  .ok());
  EXPECT_EQ(n, 4);
}

TEST_F(WriteBehindTest, SnapshotsStayConsistentWhileCommitsRun) {
  WriteBehindStore::Options o;
  o.interval = 1ms;
  WriteBehindStore wb(lmdb_.get(), o);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, taken{0};
  // Apply i adds key i and sets the meta index to i: a view that mixed two moments (say, an
  // LMDB state from before a commit with layers from after it) would count fewer keys.
  std::thread snapper([&] {
    while (!done) {
      auto snap = wb.Snapshot();
      ASSERT_TRUE(snap.ok());
      long keys = 0;
      ASSERT_TRUE((*snap)->ForEach([&](std::string_view, std::string_view) {
                           keys++;
                           return Status::Ok();
                         })
                      .ok());
      auto idx = (*snap)->GetMeta("raft/applied_index").value();
      if (keys != (idx ? std::stol(*idx) : 0)) bad++;
      taken++;
    }
  });
  for (int i = 1; i <= 20000; i++) {
    ASSERT_TRUE(Put(wb, "k/" + std::to_string(i), "v", {{"raft/applied_index", std::to_string(i)}}).ok());
    if (i % 500 == 0) {
      ASSERT_TRUE(wb.Flush().ok());
    }
  }
  done = true;
  snapper.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(taken.load(), 0);
}

TEST_F(WriteBehindTest, CommitsOnItsOwnAndAtDestruction) {
  {
    WriteBehindStore::Options o;
    o.interval = 5ms;
    WriteBehindStore wb(lmdb_.get(), o);
    ASSERT_TRUE(Put(wb, "timed", "1").ok());
    // Liveness only: the committer gets there without being asked.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!InLmdb("timed") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
    EXPECT_EQ(InLmdb("timed"), "1");
  }
  {
    WriteBehindStore wb(lmdb_.get(), Manual());
    ASSERT_TRUE(Put(wb, "at-exit", "1").ok());
  }
  EXPECT_EQ(InLmdb("at-exit"), "1");
}

TEST_F(WriteBehindTest, RefusedKeyAppliesNothing) {
  WriteBehindStore wb(lmdb_.get(), Manual());
  std::vector<TxnOp> ops{{TxnOp::Kind::kPut, "fine", "1"},
                         {TxnOp::Kind::kPut, std::string(lmdb_->max_key_size() + 1, 'k'), "1"}};
  EXPECT_FALSE(wb.Apply({&ops}, {}).ok());
  EXPECT_EQ(wb.Get("fine").value(), std::nullopt);
  std::vector<TxnOp> empty_key{{TxnOp::Kind::kPut, "", "1"}};
  EXPECT_FALSE(wb.Apply({&empty_key}, {}).ok());
  ASSERT_TRUE(wb.Flush().ok());
  EXPECT_EQ(wb.commits(), 0u);
}

TEST_F(WriteBehindTest, ReadersNeverSeeAValueGoBackWhileLayersMove) {
  WriteBehindStore::Options o;
  o.interval = 1ms;  // commits all the time, so reads cross every hand-over
  WriteBehindStore wb(lmdb_.get(), o);
  constexpr int kWrites = 20000;
  std::atomic<bool> done{false};
  std::atomic<int> regressions{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; t++) {
    readers.emplace_back([&] {
      long last = 0;
      while (!done) {
        auto v = wb.Get("counter");
        ASSERT_TRUE(v.ok());
        long now = v->has_value() ? std::stol(**v) : 0;
        if (now < last) regressions++;
        last = now;
        reads++;
      }
    });
  }
  for (int i = 1; i <= kWrites; i++) {
    ASSERT_TRUE(Put(wb, "counter", std::to_string(i), {{"raft/applied_index", std::to_string(i)}}).ok());
    if (i % 1000 == 0) {
      ASSERT_TRUE(Put(wb, "other/" + std::to_string(i), "x").ok());
    }
    if (i % 500 == 0) {
      ASSERT_TRUE(wb.Flush().ok());  // hand-overs even if the timer is slow
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_GT(reads.load(), 0);
  ASSERT_TRUE(wb.Flush().ok());
  EXPECT_EQ(InLmdb("counter"), std::to_string(kWrites));
  EXPECT_EQ(wb.CommittedMeta("raft/applied_index").value(), std::to_string(kWrites));
  EXPECT_GE(wb.commits(), static_cast<uint64_t>(kWrites / 500));
}

}  // namespace
}  // namespace tresor::raft
