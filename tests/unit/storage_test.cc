// Tests for the physical storage backends: the Storage contract against inmem, file and a
// view over inmem; LmdbStore specifics; persistence and crash durability of FileStorage.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "storage/file_storage.h"
#include "storage/inmem_storage.h"
#include "storage/lmdb_store.h"
#include "storage/physical.h"
#include "storage/storage_view.h"

namespace tresor {
namespace {

using Strings = std::vector<std::string>;

std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/tresor-storage-XXXXXX";
  char* d = mkdtemp(tmpl.data());
  if (d == nullptr) std::abort();
  return tmpl;
}

class TempDir {
 public:
  TempDir() : path_(MakeTempDir()) {}
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- The Storage contract, run against every backend --------------------------------

struct Backend {
  std::string name;
  // Builds a fresh, empty storage; `keep` holds whatever must outlive it.
  std::function<std::unique_ptr<Storage>(std::vector<std::shared_ptr<void>>* keep)> make;
};

std::vector<Backend> Backends() {
  return {
      {"inmem", [](std::vector<std::shared_ptr<void>>*) { return std::make_unique<InmemStorage>(); }},
      {"file",
       [](std::vector<std::shared_ptr<void>>* keep) -> std::unique_ptr<Storage> {
         auto dir = std::make_shared<TempDir>();
         keep->push_back(dir);
         FileStorageOptions o;
         o.path = dir->path() + "/data";
         o.no_sync = true;  // the contract does not depend on fsync; durability is tested below
         auto fs = FileStorage::Open(o);
         if (!fs.ok()) std::abort();
         return std::move(fs).value();
       }},
      {"view",
       [](std::vector<std::shared_ptr<void>>* keep) -> std::unique_ptr<Storage> {
         auto base = std::make_shared<InmemStorage>();
         keep->push_back(base);
         // Neighbours outside the view that must never show through.
         (void)base->Put("logical/other/a", "x");
         (void)base->Put("logical/abc", "x");
         (void)base->Put("logical/abc-d/a", "x");
         (void)base->Put("core/mounts", "x");
         return std::make_unique<StorageView>(base.get(), "logical/abc/");
       }},
  };
}

class StorageContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { s_ = GetParam().make(&keep_); }
  void TearDown() override {
    s_.reset();
    keep_.clear();
  }
  std::string MustGet(std::string_view key) {
    auto r = s_->Get(key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r->has_value()) return "<absent>";
    return **r;
  }
  bool Has(std::string_view key) {
    auto r = s_->Get(key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->has_value();
  }
  Strings MustList(std::string_view prefix, ListOptions opts = {}) {
    auto r = s_->List(prefix, opts);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Strings{"<error>"};
  }

  std::vector<std::shared_ptr<void>> keep_;
  std::unique_ptr<Storage> s_;
};

TEST_P(StorageContract, GetPutDelete) {
  EXPECT_FALSE(Has("a/b"));
  ASSERT_TRUE(s_->Put("a/b", "one").ok());
  EXPECT_EQ(MustGet("a/b"), "one");
  ASSERT_TRUE(s_->Put("a/b", "two").ok());
  EXPECT_EQ(MustGet("a/b"), "two");
  std::string binary("\0\x01\xff zero", 8);
  ASSERT_TRUE(s_->Put("bin", binary).ok());
  EXPECT_EQ(MustGet("bin"), binary);
  ASSERT_TRUE(s_->Put("empty", "").ok());
  EXPECT_TRUE(Has("empty"));
  EXPECT_EQ(MustGet("empty"), "");
  ASSERT_TRUE(s_->Delete("a/b").ok());
  EXPECT_FALSE(Has("a/b"));
  std::string big(1 << 20, 'z');
  ASSERT_TRUE(s_->Put("big", big).ok());
  EXPECT_EQ(MustGet("big"), big);
}

TEST_P(StorageContract, DeleteAbsentIsOk) {
  EXPECT_TRUE(s_->Delete("never/was").ok());
  EXPECT_TRUE(s_->Delete("never/was").ok());
}

TEST_P(StorageContract, EmptyKeyRefused) {
  EXPECT_EQ(s_->Put("", "v").code(), Code::kInvalidRequest);
  EXPECT_EQ(s_->Get("").status().code(), Code::kInvalidRequest);
  EXPECT_EQ(s_->Delete("").code(), Code::kInvalidRequest);
}

TEST_P(StorageContract, ListImmediateChildren) {
  EXPECT_EQ(MustList(""), Strings{});
  for (const char* k : {"sys/policy/default", "sys/policy/root", "sys/token/id/x", "sys/token/id/y",
                        "sys/a", "sys/a/b", "sys/z!", "sys/policy", "top", "sys0"}) {
    ASSERT_TRUE(s_->Put(k, "v").ok()) << k;
  }
  EXPECT_EQ(MustList(""), (Strings{"sys/", "sys0", "top"}));
  EXPECT_EQ(MustList("sys/"), (Strings{"a", "a/", "policy", "policy/", "token/", "z!"}));
  EXPECT_EQ(MustList("sys/policy/"), (Strings{"default", "root"}));
  EXPECT_EQ(MustList("sys/token/"), (Strings{"id/"}));
  EXPECT_EQ(MustList("sys/token/id/"), (Strings{"x", "y"}));
  EXPECT_EQ(MustList("nothing/"), Strings{});
  ASSERT_TRUE(s_->Delete("sys/token/id/x").ok());
  ASSERT_TRUE(s_->Delete("sys/token/id/y").ok());
  EXPECT_EQ(MustList("sys/"), (Strings{"a", "a/", "policy", "policy/", "z!"}));
}

TEST_P(StorageContract, ListSortedBytewise) {
  for (const char* k : {"p/b", "p/B", "p/a", "p/a-b/c", "p/a.b", "p/a/c", "p/\xc3\xa9"}) {
    ASSERT_TRUE(s_->Put(k, "v").ok());
  }
  EXPECT_EQ(MustList("p/"), (Strings{"B", "a", "a-b/", "a.b", "a/", "b", "\xc3\xa9"}));
}

TEST_P(StorageContract, ListPagination) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(s_->Put("k/" + std::to_string(i), "v").ok());
    ASSERT_TRUE(s_->Put("k/" + std::to_string(i) + "/sub/deep", "v").ok());
  }
  EXPECT_EQ(MustList("k/", {.after = "", .limit = 3}), (Strings{"0", "0/", "1"}));
  EXPECT_EQ(MustList("k/", {.after = "1", .limit = 3}), (Strings{"1/", "2", "2/"}));
  EXPECT_EQ(MustList("k/", {.after = "2/", .limit = 2}), (Strings{"3", "3/"}));
  EXPECT_EQ(MustList("k/", {.after = "8/", .limit = 100}), (Strings{"9", "9/"}));
  EXPECT_EQ(MustList("k/", {.after = "9/", .limit = 100}), Strings{});
  EXPECT_EQ(MustList("k/", {.after = "45", .limit = -1}), (Strings{"5", "5/", "6", "6/", "7", "7/", "8", "8/", "9", "9/"}));
  // Walk the whole folder page by page.
  Strings all, page;
  std::string after;
  do {
    page = MustList("k/", {.after = after, .limit = 3});
    all.insert(all.end(), page.begin(), page.end());
    if (!page.empty()) after = page.back();
  } while (!page.empty());
  EXPECT_EQ(all.size(), 20u);
  EXPECT_EQ(all, MustList("k/"));
}

TEST_P(StorageContract, TransactionAppliesInOrder) {
  ASSERT_TRUE(s_->Put("t/old", "1").ok());
  std::vector<TxnOp> ops = {
      {TxnOp::Kind::kPut, "t/a", "A"},
      {TxnOp::Kind::kDelete, "t/old", ""},
      {TxnOp::Kind::kPut, "t/b", "B1"},
      {TxnOp::Kind::kPut, "t/b", "B2"},
      {TxnOp::Kind::kPut, "t/c", "C"},
      {TxnOp::Kind::kDelete, "t/c", ""},
      {TxnOp::Kind::kDelete, "t/absent", ""},
  };
  ASSERT_TRUE(s_->Transaction(ops).ok());
  EXPECT_EQ(MustGet("t/a"), "A");
  EXPECT_EQ(MustGet("t/b"), "B2");
  EXPECT_FALSE(Has("t/c"));
  EXPECT_FALSE(Has("t/old"));
  EXPECT_TRUE(s_->Transaction({}).ok());
}

TEST_P(StorageContract, TransactionIsAllOrNothing) {
  ASSERT_TRUE(s_->Put("t/keep", "1").ok());
  std::vector<TxnOp> ops = {
      {TxnOp::Kind::kPut, "t/a", "A"},
      {TxnOp::Kind::kDelete, "t/keep", ""},
      {TxnOp::Kind::kPut, "", "bad key"},
  };
  EXPECT_FALSE(s_->Transaction(ops).ok());
  EXPECT_FALSE(Has("t/a"));
  EXPECT_EQ(MustGet("t/keep"), "1");
}

TEST_P(StorageContract, TransactionsAreAtomicToReaders) {
  // Writers move a pair of keys together; readers must never see them disagree.
  ASSERT_TRUE(s_->Transaction({{TxnOp::Kind::kPut, "pair/x", "0"}, {TxnOp::Kind::kPut, "pair/y", "0"}}).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> mismatches{0};
  std::thread reader([&] {
    while (!stop) {
      auto l = s_->List("pair/");
      if (!l.ok() || l->size() != 2) ++mismatches;
    }
  });
  for (int i = 1; i <= 200; ++i) {
    std::string v = std::to_string(i);
    ASSERT_TRUE(s_->Transaction({{TxnOp::Kind::kDelete, "pair/x", ""}, {TxnOp::Kind::kDelete, "pair/y", ""},
                                 {TxnOp::Kind::kPut, "pair/x", v}, {TxnOp::Kind::kPut, "pair/y", v}})
                    .ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(MustGet("pair/x"), "200");
}

TEST_P(StorageContract, ConcurrentWritersAllAckedWritesReadable) {
  constexpr int kThreads = 16, kPerThread = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string k = "c/" + std::to_string(t) + "/" + std::to_string(i);
        if (!s_->Put(k, "v" + std::to_string(t * 1000 + i)).ok()) ++failures;
        if (i % 10 == 0) {
          auto r = s_->Get(k);
          if (!r.ok() || !r->has_value()) ++failures;
        }
        if (i % 3 == 0 && !s_->Delete("c/" + std::to_string(t) + "/gone").ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(MustList("c/" + std::to_string(t) + "/").size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_EQ(MustGet("c/" + std::to_string(t) + "/" + std::to_string(i)), "v" + std::to_string(t * 1000 + i));
    }
  }
  EXPECT_EQ(MustList("c/").size(), static_cast<size_t>(kThreads));
}

INSTANTIATE_TEST_SUITE_P(All, StorageContract, ::testing::ValuesIn(Backends()),
                         [](const ::testing::TestParamInfo<Backend>& i) { return i.param.name; });

// ---- StorageView ------------------------------------------------------------------

TEST(StorageViewTest, TranslatesKeysBothWays) {
  InmemStorage base;
  StorageView view(&base, "logical/1234/");
  ASSERT_TRUE(view.Put("secret/foo", "v").ok());
  auto r = base.Get("logical/1234/secret/foo");
  ASSERT_TRUE(r.ok() && r->has_value());
  ASSERT_TRUE(base.Put("logical/1234/secret/bar", "w").ok());
  ASSERT_TRUE(base.Put("logical/12345/secret/baz", "w").ok());
  auto l = view.List("secret/");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (Strings{"bar", "foo"}));
  auto root = view.List("");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, Strings{"secret/"});
  ASSERT_TRUE(view.Transaction({{TxnOp::Kind::kDelete, "secret/foo", ""}, {TxnOp::Kind::kPut, "x", "y"}}).ok());
  EXPECT_FALSE(base.Get("logical/1234/secret/foo")->has_value());
  EXPECT_TRUE(base.Get("logical/1234/x")->has_value());
  // Nested views compose.
  StorageView inner(&view, "secret/");
  auto g = inner.Get("bar");
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ(**g, "w");
}

TEST(StorageViewTest, RefusesEscapingKeys) {
  InmemStorage base;
  ASSERT_TRUE(base.Put("core/keyring", "k").ok());
  StorageView view(&base, "logical/1234/");
  for (const char* bad : {"..", "../core/keyring", "../../core/keyring", "a/../../x", "a/..", "/abs"}) {
    EXPECT_EQ(view.Get(bad).status().code(), Code::kInvalidRequest) << bad;
    EXPECT_EQ(view.Put(bad, "v").code(), Code::kInvalidRequest) << bad;
    EXPECT_EQ(view.Delete(bad).code(), Code::kInvalidRequest) << bad;
    EXPECT_EQ(view.List(std::string(bad) + "/").status().code(), Code::kInvalidRequest) << bad;
    EXPECT_EQ(view.Transaction({{TxnOp::Kind::kPut, "ok", "v"}, {TxnOp::Kind::kPut, bad, "v"}}).code(),
              Code::kInvalidRequest)
        << bad;
  }
  EXPECT_EQ(view.Put(std::string("a\0b", 3), "v").code(), Code::kInvalidRequest);
  EXPECT_FALSE(view.Get("ok")->has_value());  // the refused transaction applied nothing
  // Names that merely contain dots are fine.
  EXPECT_TRUE(view.Put("a..b/...", "v").ok());
  EXPECT_TRUE(view.Put(".hidden/.x", "v").ok());
}

// ---- LmdbStore --------------------------------------------------------------------

LmdbOptions FastOpts() {
  LmdbOptions o;
  o.no_sync = true;
  o.map_size = 1ull << 30;
  return o;
}

TEST(LmdbStoreTest, CreatesDirectoryPrivate) {
  TempDir tmp;
  std::string dir = tmp.path() + "/a/b/c";
  auto s = LmdbStore::Open(dir, FastOpts());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST(LmdbStoreTest, RefusesSecondOpenInProcess) {
  TempDir tmp;
  auto a = LmdbStore::Open(tmp.path(), FastOpts());
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(LmdbStore::Open(tmp.path() + "/.", FastOpts()).ok());
  LmdbOptions other = FastOpts();
  other.file_name = "other.mdb";
  EXPECT_TRUE(LmdbStore::Open(tmp.path(), other).ok());  // a different file in the same dir is fine
  a->reset();
  EXPECT_TRUE(LmdbStore::Open(tmp.path(), FastOpts()).ok());
}

TEST(LmdbStoreTest, MetaWrittenWithData) {
  TempDir tmp;
  auto s = LmdbStore::Open(tmp.path(), FastOpts());
  ASSERT_TRUE(s.ok());
  auto& store = **s;
  EXPECT_FALSE(store.GetMeta("applied_index")->has_value());
  ASSERT_TRUE(store.Write({{TxnOp::Kind::kPut, "k", "v"}}, {{"applied_index", "7"}}).ok());
  EXPECT_EQ(**store.GetMeta("applied_index"), "7");
  EXPECT_EQ(**store.Get("k"), "v");
  EXPECT_FALSE(store.Get("applied_index")->has_value());  // separate DBI
  // A refused write changes neither data nor meta.
  EXPECT_FALSE(store.Write({{TxnOp::Kind::kPut, "k", "v2"}, {TxnOp::Kind::kPut, "", "x"}}, {{"applied_index", "8"}}).ok());
  EXPECT_EQ(**store.GetMeta("applied_index"), "7");
  EXPECT_EQ(**store.Get("k"), "v");
}

TEST(LmdbStoreTest, LongKeys) {
  TempDir tmp;
  auto s = LmdbStore::Open(tmp.path(), FastOpts());
  ASSERT_TRUE(s.ok());
  auto& store = **s;
  size_t max = store.max_key_size();
  EXPECT_GE(max, 500u);
  std::string longest = "p/" + std::string(max - 2, 'x');
  ASSERT_TRUE(store.Write({{TxnOp::Kind::kPut, longest, "v"}}).ok());
  EXPECT_EQ(**store.Get(longest), "v");
  EXPECT_EQ(*store.List("p/", {}), Strings{longest.substr(2)});
  EXPECT_EQ(store.List("p/", {.after = longest.substr(2) + "zz", .limit = -1})->size(), 0u);
  std::string too_long = longest + "y";
  EXPECT_EQ(store.Write({{TxnOp::Kind::kPut, too_long, "v"}}).code(), Code::kInvalidRequest);
  auto g = store.Get(too_long);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
}

TEST(LmdbStoreTest, SnapshotIsPointInTimeAndCrossThread) {
  TempDir tmp;
  auto s = LmdbStore::Open(tmp.path(), FastOpts());
  ASSERT_TRUE(s.ok());
  auto& store = **s;
  ASSERT_TRUE(store.Write({{TxnOp::Kind::kPut, "a", "1"}, {TxnOp::Kind::kPut, "b", "2"}}, {{"idx", "2"}}).ok());
  auto snap = store.BeginSnapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(store.Write({{TxnOp::Kind::kPut, "c", "3"}, {TxnOp::Kind::kDelete, "a", ""}}, {{"idx", "3"}}).ok());
  std::vector<std::pair<std::string, std::string>> seen;
  std::optional<std::string> idx;
  std::thread other([&] {
    ASSERT_TRUE((*snap)->ForEach([&](std::string_view k, std::string_view v) {
                  seen.emplace_back(k, v);
                  return Status::Ok();
                }).ok());
    idx = *(*snap)->GetMeta("idx");
  });
  other.join();
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(idx, "2");
  EXPECT_EQ(**store.GetMeta("idx"), "3");
  // ForEach stops at the callback's first error.
  int calls = 0;
  Status st = (*snap)->ForEach([&](std::string_view, std::string_view) {
    ++calls;
    return Status::Internal("stop");
  });
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_EQ(calls, 1);
  snap->reset();
}

TEST(LmdbStoreTest, ReplaceAll) {
  TempDir tmp;
  auto s = LmdbStore::Open(tmp.path(), FastOpts());
  ASSERT_TRUE(s.ok());
  auto& store = **s;
  ASSERT_TRUE(store.Write({{TxnOp::Kind::kPut, "old/1", "x"}, {TxnOp::Kind::kPut, "old/2", "y"}}, {{"idx", "5"}, {"term", "1"}}).ok());

  std::vector<std::pair<std::string, std::string>> src = {{"new/b", "B"}, {"new/a", "A"}};
  size_t pos = 0;
  auto next = [&](std::string* k, std::string* v) -> Result<bool> {
    if (pos == src.size()) return false;
    *k = src[pos].first;
    *v = src[pos].second;
    ++pos;
    return true;
  };
  // A failing source leaves everything as it was.
  int n = 0;
  EXPECT_EQ(store.ReplaceAll([&](std::string* k, std::string* v) -> Result<bool> {
                  if (n++ == 1) return Status::Corruption("bad snapshot");
                  *k = "new/z";
                  *v = "Z";
                  return true;
                }, {{"idx", "9"}}).code(), Code::kCorruption);
  EXPECT_EQ(**store.Get("old/1"), "x");
  EXPECT_EQ(**store.GetMeta("idx"), "5");

  ASSERT_TRUE(store.ReplaceAll(next, {{"idx", "9"}}).ok());
  EXPECT_FALSE(store.Get("old/1")->has_value());
  EXPECT_EQ(**store.Get("new/a"), "A");
  EXPECT_EQ(*store.List("", {}), Strings{"new/"});
  EXPECT_EQ(**store.GetMeta("idx"), "9");
  EXPECT_FALSE(store.GetMeta("term")->has_value());
}

TEST(LmdbStoreTest, ConcurrentReadersDuringWrites) {
  TempDir tmp;
  auto s = LmdbStore::Open(tmp.path(), FastOpts());
  ASSERT_TRUE(s.ok());
  auto& store = **s;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        if (!store.Get("x").ok() || !store.List("", {}).ok()) ++errors;
      }
    });
  }
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(store.Write({{TxnOp::Kind::kPut, "x", std::to_string(i)}}).ok());
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
}

// ---- FileStorage persistence and durability ----------------------------------------

TEST(FileStorageTest, PersistsAcrossReopen) {
  TempDir tmp;
  FileStorageOptions o;
  o.path = tmp.path();
  {
    auto fs = FileStorage::Open(o);
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    ASSERT_TRUE((*fs)->Put("core/seal-config", "cfg").ok());
    ASSERT_TRUE((*fs)->Transaction({{TxnOp::Kind::kPut, "a/1", "one"}, {TxnOp::Kind::kPut, "a/2", "two"}}).ok());
    ASSERT_TRUE((*fs)->Delete("a/2").ok());
  }
  auto fs = FileStorage::Open(o);
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(**(*fs)->Get("core/seal-config"), "cfg");
  EXPECT_EQ(**(*fs)->Get("a/1"), "one");
  EXPECT_FALSE((*fs)->Get("a/2")->has_value());
  EXPECT_EQ(*(*fs)->List(""), (Strings{"a/", "core/"}));
}

TEST(FileStorageTest, GroupCommitBatchesConcurrentWriters) {
  TempDir tmp;
  FileStorageOptions o;
  o.path = tmp.path();  // fsync on: batching is what keeps this fast
  auto fs = FileStorage::Open(o);
  ASSERT_TRUE(fs.ok());
  constexpr int kThreads = 32, kPer = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        if (!(*fs)->Put("g/" + std::to_string(t) + "/" + std::to_string(i), "v").ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ((*fs)->batched_calls(), static_cast<uint64_t>(kThreads * kPer));
  EXPECT_LT((*fs)->commits(), (*fs)->batched_calls());
  // A bad key from one caller is refused before it can join (and fail) a batch.
  EXPECT_EQ((*fs)->Put(std::string(1000, 'k'), "v").code(), Code::kInvalidRequest);
}

TEST(FileStorageTest, ShutdownDrainsQueuedWrites) {
  TempDir tmp;
  FileStorageOptions o;
  o.path = tmp.path();
  std::atomic<int> acked{0};
  {
    auto fs = FileStorage::Open(o);
    ASSERT_TRUE(fs.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          if ((*fs)->Put("d/" + std::to_string(t) + "/" + std::to_string(i), "v").ok()) ++acked;
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  auto fs = FileStorage::Open(o);
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(acked.load(), 160);
  EXPECT_EQ((*fs)->List("d/")->size(), 8u);
}

TEST(FileStorageTest, FullStoreFailsBatchCleanlyAndRecovers) {
  TempDir tmp;
  FileStorageOptions o;
  o.path = tmp.path();
  o.no_sync = true;
  o.map_size = 2 << 20;  // 2 MiB: fills up quickly
  auto fs = FileStorage::Open(o);
  ASSERT_TRUE(fs.ok());
  const std::string value(16 << 10, 'f');
  std::atomic<int> full{0}, other{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> acked(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string k = "f/" + std::to_string(t) + "/" + std::to_string(i);
        Status st = (*fs)->Put(k, value);
        if (st.ok()) {
          acked[t].push_back(k);
        } else if (st.code() == Code::kIOError) {
          ++full;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(full.load(), 0);
  EXPECT_EQ(other.load(), 0);
  size_t total = 0;
  for (auto& keys : acked) {
    for (auto& k : keys) ASSERT_TRUE((*fs)->Get(k)->has_value()) << k;
    total += keys.size();
  }
  EXPECT_EQ(total + static_cast<size_t>(full.load()), 400u);
  auto listed = (*fs)->List("f/0/");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), acked[0].size());  // failed writes left nothing behind
  // Freeing space makes the store writable again.
  for (auto& keys : acked) {
    for (auto& k : keys) ASSERT_TRUE((*fs)->Delete(k).ok());
  }
  EXPECT_TRUE((*fs)->Put("after", value).ok());
}

// A child process writes through FileStorage from many threads and reports each
// acknowledged key through a pipe; the parent kills it with SIGKILL mid-stream, reopens the
// directory and requires every acknowledged key to be there with its value.
struct Ack {
  uint32_t thread;
  uint32_t index;
};

std::string CrashKey(const Ack& a) { return "crash/" + std::to_string(a.thread) + "/" + std::to_string(a.index); }
std::string CrashValue(const Ack& a) {
  return "value-" + std::to_string(a.thread) + "-" + std::to_string(a.index) + std::string(100, 'p');
}

[[noreturn]] void CrashChild(const std::string& dir, int fd) {
  FileStorageOptions o;
  o.path = dir;
  auto fs = FileStorage::Open(o);
  if (!fs.ok()) _exit(2);
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t i = 0;; ++i) {
        Ack a{t, i};
        Status st = (i % 5 == 4) ? (*fs)->Transaction({{TxnOp::Kind::kPut, CrashKey(a), CrashValue(a)}})
                                 : (*fs)->Put(CrashKey(a), CrashValue(a));
        if (!st.ok()) _exit(3);
        if (write(fd, &a, sizeof a) != static_cast<ssize_t>(sizeof a)) _exit(4);
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

TEST(FileStorageTest, CrashDurabilityNoAckedWriteLost) {
  TempDir tmp;
  std::string dir = tmp.path() + "/store";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    CrashChild(dir, fds[1]);
  }
  close(fds[1]);

  std::vector<Ack> acks;
  std::string buf;
  bool killed = false;
  char chunk[4096];
  while (true) {
    if (!killed && acks.size() >= 1500) {
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    int pr = poll(&p, 1, 60000);
    ASSERT_GT(pr, 0) << "child stalled";
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;  // EOF: the child is gone
    buf.append(chunk, static_cast<size_t>(n));
    size_t whole = buf.size() / sizeof(Ack);
    for (size_t i = 0; i < whole; ++i) {
      Ack a;
      std::memcpy(&a, buf.data() + i * sizeof(Ack), sizeof a);
      acks.push_back(a);
    }
    buf.erase(0, whole * sizeof(Ack));
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(killed) << "child exited on its own, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_GE(acks.size(), 1500u);

  FileStorageOptions o;
  o.path = dir;
  auto fs = FileStorage::Open(o);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  size_t missing = 0;
  for (const Ack& a : acks) {
    auto r = (*fs)->Get(CrashKey(a));
    ASSERT_TRUE(r.ok());
    if (!r->has_value() || **r != CrashValue(a)) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << acks.size() << " acknowledged writes";
  // The store is still writable after recovery.
  EXPECT_TRUE((*fs)->Put("after/crash", "ok").ok());
}

// ---- OpenPhysical -------------------------------------------------------------------

TEST(OpenPhysicalTest, BuiltinsAndUnknown) {
  auto inmem = OpenPhysical("inmem", {});
  ASSERT_TRUE(inmem.ok());
  EXPECT_TRUE((*inmem)->Put("a", "b").ok());

  TempDir tmp;
  auto file = OpenPhysical("file", {{"path", tmp.path() + "/vault"}});
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE((*file)->Put("a", "b").ok());
  EXPECT_EQ(**(*file)->Get("a"), "b");

  auto nopath = OpenPhysical("file", {});
  EXPECT_EQ(nopath.status().code(), Code::kInvalidRequest);

  auto unknown = OpenPhysical("consul", {});
  EXPECT_EQ(unknown.status().code(), Code::kInvalidRequest);
  EXPECT_NE(unknown.status().message().find("consul"), std::string::npos);

  RegisterPhysicalFactory("test-backend", [](const PhysicalOptions&) -> Result<std::unique_ptr<Storage>> {
    return std::unique_ptr<Storage>(std::make_unique<InmemStorage>());
  });
  EXPECT_TRUE(OpenPhysical("test-backend", {}).ok());
}

}  // namespace
}  // namespace tresor
