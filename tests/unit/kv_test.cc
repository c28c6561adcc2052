// KV v1 and v2 through the backend interface, on an in-memory storage.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "engines/kv/kv.h"
#include "engines/kv/listing.h"
#include "storage/inmem_storage.h"

namespace tresor::kv {
namespace {

using logical::Operation;
using logical::Request;
using logical::ResponsePtr;
using json = nlohmann::json;

class KvFixture {
 public:
  std::function<bool(const std::string&)> can_list;  // the caller's ACL, for recursive LIST
  explicit KvFixture(const std::string& version) {
    framework::BackendConfig cfg;
    cfg.storage = &storage;
    cfg.mount_path = "secret/";
    cfg.mount_type = "kv";
    if (!version.empty()) cfg.options = {{"version", version}};
    auto b = Factory(cfg);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    backend = std::move(*b);
  }

  Result<ResponsePtr> Do(Operation op, const std::string& path, json data = json::object()) {
    Request r;
    r.operation = op;
    r.path = path;
    r.data = std::move(data);
    r.storage = &storage;
    r.mount_point = "secret/";
    r.request_id = "req-1";
    r.mount_default_ttl = 0;
    r.can_list = can_list;
    return backend->HandleRequest(r);
  }
  // The response must be a success with a body.
  json Ok(Operation op, const std::string& path, json data = json::object()) {
    auto r = Do(op, path, std::move(data));
    EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
    if (!r.ok() || !*r) return nullptr;
    return (*r)->data;
  }
  // The call must succeed with no response (204 / 404 for reads).
  void Nil(Operation op, const std::string& path, json data = json::object()) {
    auto r = Do(op, path, std::move(data));
    ASSERT_TRUE(r.ok()) << path << ": " << r.status().ToString();
    EXPECT_EQ(*r, nullptr) << path << ": " << (*r ? (*r)->data.dump() : "");
  }
  std::string Err(Operation op, const std::string& path, json data = json::object()) {
    auto r = Do(op, path, std::move(data));
    EXPECT_FALSE(r.ok()) << path;
    return r.ok() ? "" : r.status().message();
  }
  // A 404 carrying a body (deleted/destroyed versions): returns the envelope.
  json NotFoundBody(Operation op, const std::string& path, json data = json::object()) {
    auto r = Do(op, path, std::move(data));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !*r || !(*r)->raw) {
      ADD_FAILURE() << path << ": expected a raw 404";
      return nullptr;
    }
    EXPECT_EQ((*r)->raw->status, 404);
    return json::parse((*r)->raw->body);
  }
  std::optional<bool> Exists(const std::string& path) {
    Request r;
    r.path = path;
    r.storage = &storage;
    auto e = backend->Exists(r);
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : std::nullopt;
  }

  InmemStorage storage;
  std::unique_ptr<framework::Backend> backend;
};

// ---------------------------------------------------------------- factory

TEST(KvFactory, Versions) {
  InmemStorage s;
  framework::BackendConfig cfg;
  cfg.storage = &s;
  EXPECT_TRUE(Factory(cfg).ok());
  cfg.options = {{"version", "1"}};
  EXPECT_TRUE(Factory(cfg).ok());
  cfg.options = {{"version", 2}};
  EXPECT_TRUE(Factory(cfg).ok());
  cfg.options = {{"version", "3"}};
  EXPECT_EQ(Factory(cfg).status().code(), Code::kInvalidRequest);
}

// ---------------------------------------------------------------- v1

TEST(KvV1, CrudAndTtl) {
  KvFixture kv("1");
  kv.Nil(Operation::kRead, "foo");
  EXPECT_EQ(kv.Exists("foo"), std::optional<bool>(false));
  kv.Nil(Operation::kCreate, "foo", {{"bar", "baz"}, {"n", 3}, {"nested", {{"a", json::array({1, 2})}}}});
  EXPECT_EQ(kv.Exists("foo"), std::optional<bool>(true));
  auto r = kv.Do(Operation::kRead, "foo");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data, json({{"bar", "baz"}, {"n", 3}, {"nested", {{"a", json::array({1, 2})}}}}));
  ASSERT_TRUE((*r)->secret);
  EXPECT_FALSE((*r)->secret->leased);
  EXPECT_FALSE((*r)->secret->renewable);
  EXPECT_EQ((*r)->secret->ttl, 2764800);  // 768h: the system default

  kv.Nil(Operation::kUpdate, "foo", {{"bar", "qux"}, {"ttl", "1h"}});
  r = kv.Do(Operation::kRead, "foo");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->data, json({{"bar", "qux"}, {"ttl", "1h"}}));  // replaced, not merged
  EXPECT_EQ((*r)->secret->ttl, 3600);
  kv.Nil(Operation::kUpdate, "foo", {{"lease", 90}});
  EXPECT_EQ((*kv.Do(Operation::kRead, "foo"))->secret->ttl, 90);
  kv.Nil(Operation::kUpdate, "foo", {{"ttl", "bogus"}});
  EXPECT_EQ((*kv.Do(Operation::kRead, "foo"))->secret->ttl, 2764800);

  kv.Nil(Operation::kDelete, "foo");
  kv.Nil(Operation::kRead, "foo");
  kv.Nil(Operation::kDelete, "foo");  // idempotent
}

TEST(KvV1, MountDefaultTtl) {
  KvFixture kv("");
  kv.Nil(Operation::kUpdate, "a", {{"k", "v"}});
  Request r;
  r.operation = Operation::kRead;
  r.path = "a";
  r.storage = &kv.storage;
  r.mount_default_ttl = 600;
  auto resp = kv.backend->HandleRequest(r);
  ASSERT_TRUE(resp.ok() && *resp);
  EXPECT_EQ((*resp)->secret->ttl, 600);
}

TEST(KvV1, Errors) {
  KvFixture kv("1");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "foo"), "missing data fields");
  EXPECT_EQ(kv.Err(Operation::kUpdate, ""), "missing path");
  // Listing parameters are not validated on writes: they are just data there.
  kv.Nil(Operation::kUpdate, "x", {{"limit", "lots"}, {"after", 3}, {"recursive", "maybe"}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "x")["limit"], "lots");
  EXPECT_EQ(kv.Err(Operation::kList, "", {{"limit", "lots"}}), "invalid value for 'limit': expected a positive integer");
  EXPECT_EQ(kv.Err(Operation::kList, "", {{"limit", "0"}}), "invalid value for 'limit': expected a positive integer");
  EXPECT_EQ(kv.Err(Operation::kList, "", {{"recursive", "maybe"}}), "invalid value for 'recursive': expected a boolean");
  kv.Nil(Operation::kRead, "");
}

TEST(KvV1, ListPaginationAndScan) {
  KvFixture kv("1");
  kv.Nil(Operation::kList, "");
  for (std::string k : {"a", "b/c", "b/d/e", "b/d/f", "c", "b-x", "z/y/x/w"}) kv.Nil(Operation::kUpdate, k, {{"v", k}});
  EXPECT_EQ(kv.Ok(Operation::kList, "")["keys"], json({"a", "b-x", "b/", "c", "z/"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "b/")["keys"], json({"c", "d/"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "b")["keys"], json({"c", "d/"}));  // folder implied
  kv.Nil(Operation::kList, "nope/");
  kv.Nil(Operation::kList, "a/");  // a leaf is not a folder

  EXPECT_EQ(kv.Ok(Operation::kList, "", {{"limit", "2"}})["keys"], json({"a", "b-x"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "", {{"limit", 2}, {"after", "b-x"}})["keys"], json({"b/", "c"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "", {{"after", "c"}})["keys"], json({"z/"}));
  kv.Nil(Operation::kList, "", {{"after", "z/"}});

  EXPECT_EQ(kv.Ok(Operation::kList, "", {{"recursive", "true"}})["keys"],
            json({"a", "b-x", "b/c", "b/d/e", "b/d/f", "c", "z/y/x/w"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "b/", {{"recursive", true}})["keys"], json({"c", "d/e", "d/f"}));
  // Paging through a recursive listing, two at a time, resumes inside folders.
  std::vector<std::string> all;
  std::string after;
  for (int i = 0; i < 10; ++i) {
    json q = {{"recursive", "1"}, {"limit", "2"}};
    if (!after.empty()) q["after"] = after;
    auto r = kv.Do(Operation::kList, "", q);
    ASSERT_TRUE(r.ok());
    if (!*r) break;
    for (auto& k : (*r)->data["keys"]) all.push_back(k.get<std::string>());
    after = all.back();
  }
  EXPECT_EQ(all, (std::vector<std::string>{"a", "b-x", "b/c", "b/d/e", "b/d/f", "c", "z/y/x/w"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "", {{"recursive", "true"}, {"after", "b/d"}})["keys"],
            json({"b/d/e", "b/d/f", "c", "z/y/x/w"}));
}

TEST(KvV1, LargeFolderRecursive) {
  KvFixture kv("1");
  for (int i = 0; i < 2500; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "big/k%05d", i);
    kv.Nil(Operation::kUpdate, buf, {{"i", i}});
  }
  auto keys = kv.Ok(Operation::kList, "big/", {{"recursive", "true"}})["keys"];
  ASSERT_EQ(keys.size(), 2500u);
  EXPECT_EQ(keys[0], "k00000");
  EXPECT_EQ(keys[2499], "k02499");
  keys = kv.Ok(Operation::kList, "big/", {{"after", "k01000"}, {"limit", "3"}})["keys"];
  EXPECT_EQ(keys, json({"k01001", "k01002", "k01003"}));
  // DeleteTree removes everything below a folder.
  ASSERT_TRUE(DeleteTree(&kv.storage, "big/").ok());
  kv.Nil(Operation::kList, "big/");
}

// ---------------------------------------------------------------- v2

TEST(KvV2, ConfigDefaultsAndWrites) {
  KvFixture kv("2");
  EXPECT_EQ(kv.Ok(Operation::kRead, "config"),
            json({{"max_versions", 0}, {"cas_required", false}, {"delete_version_after", "0s"}}));
  kv.Nil(Operation::kUpdate, "config", {{"max_versions", 5}, {"cas_required", "true"}, {"delete_version_after", "1h30m"}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "config"),
            json({{"max_versions", 5}, {"cas_required", true}, {"delete_version_after", "1h30m0s"}}));
  kv.Nil(Operation::kUpdate, "config", {{"delete_version_after", "-1s"}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "config")["delete_version_after"], "-1s");
  EXPECT_EQ(kv.Ok(Operation::kRead, "config")["max_versions"], 5);  // untouched
  kv.Nil(Operation::kUpdate, "config", {{"delete_version_after", 0}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "config")["delete_version_after"], "0s");
  kv.Nil(Operation::kUpdate, "config");  // nothing to change
  EXPECT_NE(kv.Err(Operation::kUpdate, "config", {{"max_versions", "many"}}).find("Field validation failed"),
            std::string::npos);
  EXPECT_EQ(kv.Err(Operation::kUpdate, "config", {{"max_versions", -1}}), "max_versions must not be negative");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "config", {{"delete_version_after", "soon"}}),
            "invalid delete_version_after: expected a duration");
}

TEST(KvV2, WriteReadVersions) {
  KvFixture kv("2");
  kv.Nil(Operation::kRead, "data/app");
  EXPECT_EQ(kv.Exists("data/app"), std::optional<bool>(false));
  json w = kv.Ok(Operation::kCreate, "data/app", {{"data", {{"user", "u1"}, {"n", 1}}}});
  EXPECT_EQ(w["version"], 1);
  EXPECT_EQ(w["deletion_time"], "");
  EXPECT_EQ(w["destroyed"], false);
  EXPECT_TRUE(w["custom_metadata"].is_null());
  std::string ctime = w["created_time"];
  EXPECT_EQ(ctime.size() >= 20 && ctime.back() == 'Z', true) << ctime;
  EXPECT_EQ(kv.Exists("data/app"), std::optional<bool>(true));
  EXPECT_EQ(kv.Exists("metadata/app"), std::optional<bool>(true));

  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/app", {{"data", {{"user", "u2"}}}})["version"], 2);
  json r = kv.Ok(Operation::kRead, "data/app");
  EXPECT_EQ(r["data"], json({{"user", "u2"}}));
  EXPECT_EQ(r["metadata"]["version"], 2);
  EXPECT_EQ(r["metadata"].size(), 5u);
  r = kv.Ok(Operation::kRead, "data/app", {{"version", "1"}});
  EXPECT_EQ(r["data"], json({{"user", "u1"}, {"n", 1}}));
  EXPECT_EQ(r["metadata"]["created_time"], ctime);
  kv.Nil(Operation::kRead, "data/app", {{"version", 3}});
  kv.Nil(Operation::kRead, "data/other");
  // The data field may arrive as a JSON string (CLI-style), and options too.
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/app", {{"data", "{\"s\":\"t\"}"}, {"options", "{\"cas\":2}"}})["version"], 3);
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/app")["data"], json({{"s", "t"}}));
  // Nested paths and an empty data object are fine.
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/a/b/c", {{"data", json::object()}})["version"], 1);
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/a/b/c")["data"], json::object());
}

TEST(KvV2, WriteErrors) {
  KvFixture kv("2");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/x"), "no data provided");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/x", {{"data", nullptr}}), "no data provided");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/x", {{"options", {{"cas", 0}}}}), "no data provided");
  EXPECT_NE(kv.Err(Operation::kUpdate, "data/x", {{"data", "not json"}}).find("Field validation failed"),
            std::string::npos);
  // A trailing slash is not a secret; a list on data/ is not supported.
  EXPECT_EQ(kv.Do(Operation::kUpdate, "data/x/", {{"data", {{"a", 1}}}}).status().code(), Code::kUnsupportedPath);
  EXPECT_EQ(kv.Do(Operation::kList, "data/x").status().code(), Code::kUnsupportedOperation);
  EXPECT_EQ(kv.Do(Operation::kRead, "bogus/x").status().code(), Code::kUnsupportedPath);
}

TEST(KvV2, CheckAndSet) {
  KvFixture kv("2");
  const json d = {{"k", "v"}};
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", 1}}}}),
            "check-and-set parameter did not match the current version");
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", 0}}}})["version"], 1);
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", 0}}}}),
            "check-and-set parameter did not match the current version");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", 2}}}}),
            "check-and-set parameter did not match the current version");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", "x"}}}}),
            "error parsing check-and-set parameter");
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", "1"}}}})["version"], 2);

  // cas_required on the key.
  kv.Nil(Operation::kUpdate, "metadata/c", {{"cas_required", true}});
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/c", {{"data", d}}), "check-and-set parameter required for this call");
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/c", {{"data", d}, {"options", {{"cas", 2}}}})["version"], 3);
  // cas_required on the engine applies to every key.
  kv.Nil(Operation::kUpdate, "config", {{"cas_required", true}});
  EXPECT_EQ(kv.Err(Operation::kUpdate, "data/new", {{"data", d}}), "check-and-set parameter required for this call");
  EXPECT_EQ(kv.Err(Operation::kPatch, "data/c", {{"data", d}}), "check-and-set parameter required for this call");
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/new", {{"data", d}, {"options", {{"cas", 0}}}})["version"], 1);
  // Turning it off on a key while the engine mandates it warns.
  auto r = kv.Do(Operation::kUpdate, "metadata/c", {{"cas_required", false}});
  ASSERT_TRUE(r.ok() && *r);
  ASSERT_EQ((*r)->warnings.size(), 1u);
  EXPECT_EQ((*r)->warnings[0],
            "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored.");
}

TEST(KvV2, MaxVersionsPruning) {
  KvFixture kv("2");
  for (int i = 1; i <= 12; ++i) kv.Ok(Operation::kUpdate, "data/p", {{"data", {{"i", i}}}});
  json m = kv.Ok(Operation::kRead, "metadata/p");
  EXPECT_EQ(m["current_version"], 12);
  EXPECT_EQ(m["oldest_version"], 3);  // default max_versions 10
  EXPECT_EQ(m["versions"].size(), 10u);
  EXPECT_FALSE(m["versions"].contains("2"));
  kv.Nil(Operation::kRead, "data/p", {{"version", 2}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/p", {{"version", 3}})["data"]["i"], 3);

  // Engine-wide max_versions.
  kv.Nil(Operation::kUpdate, "config", {{"max_versions", 3}});
  kv.Ok(Operation::kUpdate, "data/p", {{"data", {{"i", 13}}}});
  m = kv.Ok(Operation::kRead, "metadata/p");
  EXPECT_EQ(m["oldest_version"], 11);
  EXPECT_EQ(m["versions"].size(), 3u);
  // The pruned records are gone from storage too: only 3 version records remain.
  auto all = ListKeys(&kv.storage, "ver/", "", ListParams{"", -1, true, nullptr});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);

  // A key's own max_versions wins over the engine's.
  kv.Nil(Operation::kUpdate, "metadata/p", {{"max_versions", 1}});
  kv.Ok(Operation::kUpdate, "data/p", {{"data", {{"i", 14}}}});
  m = kv.Ok(Operation::kRead, "metadata/p");
  EXPECT_EQ(m["versions"].size(), 1u);
  EXPECT_EQ(m["oldest_version"], 14);
  EXPECT_EQ(m["max_versions"], 1);
  EXPECT_EQ(ListKeys(&kv.storage, "ver/", "", ListParams{"", -1, true, nullptr})->size(), 1u);

  // Vault's oldest_version bookkeeping for a fresh key with max 2.
  kv.Nil(Operation::kUpdate, "metadata/q", {{"max_versions", 2}});
  kv.Ok(Operation::kUpdate, "data/q", {{"data", {{"i", 1}}}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "metadata/q")["oldest_version"], 0);
  kv.Ok(Operation::kUpdate, "data/q", {{"data", {{"i", 2}}}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "metadata/q")["oldest_version"], 1);
  kv.Ok(Operation::kUpdate, "data/q", {{"data", {{"i", 3}}}});
  m = kv.Ok(Operation::kRead, "metadata/q");
  EXPECT_EQ(m["oldest_version"], 2);
  EXPECT_EQ(m["versions"].size(), 2u);
}

TEST(KvV2, DeleteUndeleteDestroy) {
  KvFixture kv("2");
  for (int i = 1; i <= 3; ++i) kv.Ok(Operation::kUpdate, "data/d", {{"data", {{"i", i}}}});
  // DELETE data/ soft-deletes the latest version.
  kv.Nil(Operation::kDelete, "data/d");
  json body = kv.NotFoundBody(Operation::kRead, "data/d");
  EXPECT_EQ(body["request_id"], "req-1");
  EXPECT_TRUE(body["data"]["data"].is_null());
  EXPECT_EQ(body["data"]["metadata"]["version"], 3);
  EXPECT_NE(body["data"]["metadata"]["deletion_time"], "");
  EXPECT_EQ(body["data"]["metadata"]["destroyed"], false);
  std::string dtime = body["data"]["metadata"]["deletion_time"];
  kv.Nil(Operation::kDelete, "data/d");  // already deleted: unchanged
  EXPECT_EQ(kv.NotFoundBody(Operation::kRead, "data/d")["data"]["metadata"]["deletion_time"], dtime);
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/d", {{"version", 2}})["data"]["i"], 2);
  // A patch of a deleted latest version is a 404 with the version's metadata.
  json pb = kv.NotFoundBody(Operation::kPatch, "data/d", {{"data", {{"x", 1}}}});
  EXPECT_EQ(pb["data"]["version"], 3);

  // delete/ with explicit versions.
  EXPECT_EQ(kv.Err(Operation::kUpdate, "delete/d"), "No version number provided");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "delete/d", {{"versions", json::array()}}), "No version number provided");
  kv.Nil(Operation::kUpdate, "delete/d", {{"versions", "1,2"}});
  kv.NotFoundBody(Operation::kRead, "data/d", {{"version", 1}});
  kv.NotFoundBody(Operation::kRead, "data/d", {{"version", 2}});
  kv.Nil(Operation::kUpdate, "delete/nothing", {{"versions", json::array({1})}});  // absent key: no-op

  // undelete/ restores.
  EXPECT_EQ(kv.Err(Operation::kUpdate, "undelete/d"), "No version number provided");
  kv.Nil(Operation::kUpdate, "undelete/d", {{"versions", json::array({2, 3, 99})}});
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/d")["data"]["i"], 3);
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/d")["metadata"]["deletion_time"], "");
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/d", {{"version", 2}})["data"]["i"], 2);
  kv.NotFoundBody(Operation::kRead, "data/d", {{"version", 1}});

  // destroy/ removes the data for good.
  EXPECT_EQ(kv.Err(Operation::kUpdate, "destroy/d"), "no version number provided");
  size_t before = ListKeys(&kv.storage, "ver/", "", ListParams{"", -1, true, nullptr})->size();
  kv.Nil(Operation::kUpdate, "destroy/d", {{"versions", json::array({1, 3})}});
  EXPECT_EQ(ListKeys(&kv.storage, "ver/", "", ListParams{"", -1, true, nullptr})->size(), before - 2);
  body = kv.NotFoundBody(Operation::kRead, "data/d");
  EXPECT_EQ(body["data"]["metadata"]["destroyed"], true);
  json m = kv.Ok(Operation::kRead, "metadata/d");
  EXPECT_EQ(m["versions"]["1"]["destroyed"], true);
  EXPECT_EQ(m["versions"]["2"]["destroyed"], false);
  EXPECT_EQ(m["versions"]["3"]["destroyed"], true);
  // Undeleting or deleting a destroyed version does nothing.
  kv.Nil(Operation::kUpdate, "undelete/d", {{"versions", json::array({3})}});
  kv.NotFoundBody(Operation::kRead, "data/d");
  kv.Nil(Operation::kDelete, "data/d");
  EXPECT_EQ(kv.Ok(Operation::kRead, "metadata/d")["versions"]["3"]["deletion_time"], "");
  // Writing again continues the numbering.
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/d", {{"data", {{"i", 4}}}})["version"], 4);
}

TEST(KvV2, DeleteVersionAfter) {
  KvFixture kv("2");
  kv.Nil(Operation::kUpdate, "metadata/t", {{"delete_version_after", "1h"}});
  json w = kv.Ok(Operation::kUpdate, "data/t", {{"data", {{"a", 1}}}});
  EXPECT_NE(w["deletion_time"], "");  // scheduled, in the future
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/t")["data"]["a"], 1);
  EXPECT_EQ(kv.Ok(Operation::kRead, "metadata/t")["delete_version_after"], "1h0m0s");
  // The engine's smaller value wins; a disabled engine setting turns it off.
  kv.Nil(Operation::kUpdate, "config", {{"delete_version_after", "-1"}});
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/t", {{"data", {{"a", 2}}}})["deletion_time"], "");
  kv.Nil(Operation::kUpdate, "config", {{"delete_version_after", "0s"}});
  // Deleting a scheduled version deletes it now; undelete reschedules it.
  kv.Nil(Operation::kUpdate, "delete/t", {{"versions", json::array({1})}});
  kv.NotFoundBody(Operation::kRead, "data/t", {{"version", 1}});
  kv.Nil(Operation::kUpdate, "undelete/t", {{"versions", json::array({1})}});
  json r = kv.Ok(Operation::kRead, "data/t", {{"version", 1}});
  EXPECT_NE(r["metadata"]["deletion_time"], "");
  // A zero-second setting is "unset"; a tiny one makes versions expire right away.
  kv.Nil(Operation::kUpdate, "metadata/t", {{"delete_version_after", "1s"}});
  kv.Ok(Operation::kUpdate, "data/t", {{"data", {{"a", 3}}}});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  kv.NotFoundBody(Operation::kRead, "data/t");
  EXPECT_NE(kv.Err(Operation::kUpdate, "metadata/t", {{"delete_version_after", "-5s"}}).find("Field validation failed"),
            std::string::npos);
}

TEST(KvV2, Patch) {
  KvFixture kv("2");
  auto st = kv.Do(Operation::kPatch, "data/p", {{"data", {{"a", 1}}}});
  EXPECT_EQ(st.status().code(), Code::kNotFound);
  EXPECT_EQ(kv.Err(Operation::kPatch, "data/p"), "no data provided");
  kv.Ok(Operation::kUpdate, "data/p", {{"data", {{"a", 1}, {"b", {{"c", 2}, {"d", 3}}}, {"e", 5}}}});
  json w = kv.Ok(Operation::kPatch, "data/p", {{"data", {{"a", "one"}, {"b", {{"c", nullptr}, {"x", 9}}}, {"e", nullptr}}}});
  EXPECT_EQ(w["version"], 2);
  EXPECT_EQ(kv.Ok(Operation::kRead, "data/p")["data"], json({{"a", "one"}, {"b", {{"d", 3}, {"x", 9}}}}));
  EXPECT_EQ(kv.Err(Operation::kPatch, "data/p", {{"data", {{"a", 2}}}, {"options", {{"cas", 1}}}}),
            "check-and-set parameter did not match the current version");
  EXPECT_EQ(kv.Ok(Operation::kPatch, "data/p", {{"data", {{"a", 2}}}, {"options", {{"cas", 2}}}})["version"], 3);
  // A key with metadata but no versions: 404.
  kv.Nil(Operation::kUpdate, "metadata/empty", {{"max_versions", 2}});
  EXPECT_EQ(kv.Do(Operation::kPatch, "data/empty", {{"data", {{"a", 1}}}}).status().code(), Code::kNotFound);
  kv.Nil(Operation::kRead, "data/empty");
}

TEST(KvV2, Metadata) {
  KvFixture kv("2");
  kv.Nil(Operation::kRead, "metadata/m");
  EXPECT_EQ(kv.Err(Operation::kUpdate, "metadata/", {{"max_versions", 2}}), "missing path");
  kv.Nil(Operation::kUpdate, "metadata/m");  // nothing given: no-op
  kv.Nil(Operation::kRead, "metadata/m");
  kv.Nil(Operation::kCreate, "metadata/m",
         {{"max_versions", 4}, {"cas_required", true}, {"delete_version_after", "3h"},
          {"custom_metadata", {{"owner", "ops"}, {"n", 7}}}});
  json m = kv.Ok(Operation::kRead, "metadata/m");
  EXPECT_EQ(m["max_versions"], 4);
  EXPECT_EQ(m["cas_required"], true);
  EXPECT_EQ(m["delete_version_after"], "3h0m0s");
  EXPECT_EQ(m["custom_metadata"], json({{"owner", "ops"}, {"n", "7"}}));
  EXPECT_EQ(m["current_version"], 0);
  EXPECT_EQ(m["oldest_version"], 0);
  EXPECT_EQ(m["versions"], json::object());
  EXPECT_NE(m["created_time"], "");
  EXPECT_EQ(m["created_time"], m["updated_time"]);
  EXPECT_EQ(m.size(), 9u);
  // Versions carry the key's custom_metadata.
  json w = kv.Ok(Operation::kUpdate, "data/m", {{"data", {{"a", 1}}}, {"options", {{"cas", 0}}}});
  EXPECT_EQ(w["custom_metadata"], json({{"owner", "ops"}, {"n", "7"}}));
  m = kv.Ok(Operation::kRead, "metadata/m");
  EXPECT_EQ(m["current_version"], 1);
  EXPECT_EQ(m["updated_time"], m["versions"]["1"]["created_time"]);
  EXPECT_EQ(m["versions"]["1"].size(), 3u);
  // Updating one field leaves the others alone; custom_metadata is replaced whole.
  kv.Nil(Operation::kUpdate, "metadata/m", {{"custom_metadata", {{"team", "x"}}}});
  m = kv.Ok(Operation::kRead, "metadata/m");
  EXPECT_EQ(m["custom_metadata"], json({{"team", "x"}}));
  EXPECT_EQ(m["max_versions"], 4);

  // PATCH merges custom_metadata (null removes) and leaves the rest.
  EXPECT_EQ(kv.Do(Operation::kPatch, "metadata/none", {{"max_versions", 1}}).status().code(), Code::kNotFound);
  kv.Nil(Operation::kPatch, "metadata/m", {{"custom_metadata", {{"team", nullptr}, {"env", "prod"}}}, {"max_versions", 6}});
  m = kv.Ok(Operation::kRead, "metadata/m");
  EXPECT_EQ(m["custom_metadata"], json({{"env", "prod"}}));
  EXPECT_EQ(m["max_versions"], 6);
  EXPECT_EQ(m["cas_required"], true);

  // custom_metadata validation, in Vault's multierror format.
  EXPECT_EQ(kv.Err(Operation::kUpdate, "metadata/m", {{"custom_metadata", {{"k", ""}}}}),
            "1 error occurred:\n\t* custom_metadata validation failed: length of value for key \"k\" is 0 but must be "
            "0 < len(value) <= 512\n\n");
  json many = json::object();
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(kv.Err(Operation::kUpdate, "metadata/m", {{"custom_metadata", many}}),
            "1 error occurred:\n\t* custom_metadata validation failed: payload must contain at most 64 keys, provided "
            "65\n\n");
  std::string msg = kv.Err(Operation::kUpdate, "metadata/m", {{"custom_metadata", {{std::string(129, 'a'), "v\x01"}}}});
  EXPECT_EQ(msg.rfind("2 errors occurred:\n", 0), 0u) << msg;
  EXPECT_NE(msg.find("but must be 0 < len(key) <= 128"), std::string::npos);
  EXPECT_NE(msg.find("contains unprintable characters"), std::string::npos);
  EXPECT_EQ(kv.Err(Operation::kUpdate, "metadata/m", {{"max_versions", -2}}), "max_versions must not be negative");

  // DELETE metadata removes every version and the key.
  kv.Nil(Operation::kDelete, "metadata/m");
  kv.Nil(Operation::kRead, "metadata/m");
  kv.Nil(Operation::kRead, "data/m");
  EXPECT_EQ(ListKeys(&kv.storage, "ver/", "", ListParams{"", -1, true, nullptr})->size(), 0u);
  kv.Nil(Operation::kDelete, "metadata/m");
  // A recreated key starts again at version 1.
  EXPECT_EQ(kv.Ok(Operation::kUpdate, "data/m", {{"data", {{"a", 1}}}})["version"], 1);
}

TEST(KvV2, MetadataListPaginationAndScan) {
  KvFixture kv("2");
  kv.Nil(Operation::kList, "metadata/");
  for (std::string k : {"app/db", "app/web/cfg", "app/web/tls", "root", "zeta/a"})
    kv.Ok(Operation::kUpdate, "data/" + k, {{"data", {{"k", k}}}});
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/")["keys"], json({"app/", "root", "zeta/"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata")["keys"], json({"app/", "root", "zeta/"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/app/")["keys"], json({"db", "web/"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/app")["keys"], json({"db", "web/"}));
  kv.Nil(Operation::kList, "metadata/nothing/");
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/", {{"limit", "1"}, {"after", "app/"}})["keys"], json({"root"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/", {{"recursive", "true"}})["keys"],
            json({"app/db", "app/web/cfg", "app/web/tls", "root", "zeta/a"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/app/", {{"recursive", "true"}, {"after", "web/cfg"}})["keys"],
            json({"web/tls"}));
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/", {{"recursive", "true"}, {"limit", 2}, {"after", "app/db"}})["keys"],
            json({"app/web/cfg", "app/web/tls"}));
  // Soft-deleted secrets are still listed (their metadata exists); deleted metadata is not.
  kv.Nil(Operation::kDelete, "data/root");
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/")["keys"], json({"app/", "root", "zeta/"}));
  kv.Nil(Operation::kDelete, "metadata/root");
  EXPECT_EQ(kv.Ok(Operation::kList, "metadata/")["keys"], json({"app/", "zeta/"}));
}

TEST(KvV2, RecursiveListSkipsRefusedFolders) {
  KvFixture kv("2");
  for (std::string k : {"a", "hide/x", "hide/deep/y", "open/b", "open/hide/c", "z"})
    kv.Ok(Operation::kUpdate, "data/" + k, {{"data", {{"k", k}}}});
  std::vector<std::string> asked;
  ListParams p{"", -1, true, [&](const std::string& rel) {
                 asked.push_back(rel);
                 return rel != "hide/" && rel != "open/hide/";
               }};
  auto keys = ListKeys(&kv.storage, "meta/", "", p);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{"a", "open/b", "z"}));
  // Refused folders are not entered, so nothing below them is even asked about.
  EXPECT_EQ(asked, (std::vector<std::string>{"hide/", "open/", "open/hide/"}));
  // Paging continues across a refused folder.
  p.after = "a";
  p.limit = 1;
  EXPECT_EQ(*ListKeys(&kv.storage, "meta/", "", p), (std::vector<std::string>{"open/b"}));
  // Through the backend: the request's can_list sees mount-relative API paths.
  KvFixture kv2("2");
  for (std::string k : {"app/db", "app/secret/k", "top"})
    kv2.Ok(Operation::kUpdate, "data/" + k, {{"data", {{"k", k}}}});
  std::vector<std::string> paths;
  kv2.can_list = [&](const std::string& path) {
    paths.push_back(path);
    return path != "metadata/app/secret/";
  };
  EXPECT_EQ(kv2.Ok(Operation::kList, "metadata/", {{"recursive", "true"}})["keys"], json({"app/db", "top"}));
  EXPECT_EQ(paths, (std::vector<std::string>{"metadata/app/", "metadata/app/secret/"}));
}

TEST(KvV2, Subkeys) {
  KvFixture kv("2");
  kv.Nil(Operation::kRead, "subkeys/s");
  kv.Ok(Operation::kUpdate, "data/s",
        {{"data", {{"foo", "abc"}, {"bar", {{"baz", "def"}, {"qux", {{"deep", 1}}}}}, {"empty", json::object()},
                   {"list", json::array({1, 2})}}}});
  kv.Ok(Operation::kUpdate, "data/s", {{"data", {{"only", "v2"}}}});
  json r = kv.Ok(Operation::kRead, "subkeys/s", {{"version", 1}});
  EXPECT_EQ(r["subkeys"], json({{"foo", nullptr},
                                {"bar", {{"baz", nullptr}, {"qux", {{"deep", nullptr}}}}},
                                {"empty", nullptr},
                                {"list", nullptr}}));
  EXPECT_EQ(r["metadata"]["version"], 1);
  r = kv.Ok(Operation::kRead, "subkeys/s", {{"version", "1"}, {"depth", "1"}});
  EXPECT_EQ(r["subkeys"], json({{"foo", nullptr}, {"bar", nullptr}, {"empty", nullptr}, {"list", nullptr}}));
  r = kv.Ok(Operation::kRead, "subkeys/s", {{"version", "1"}, {"depth", 2}});
  EXPECT_EQ(r["subkeys"]["bar"], json({{"baz", nullptr}, {"qux", nullptr}}));
  EXPECT_EQ(kv.Ok(Operation::kRead, "subkeys/s")["subkeys"], json({{"only", nullptr}}));
  kv.Nil(Operation::kRead, "subkeys/s", {{"version", 5}});
  EXPECT_EQ(kv.Err(Operation::kRead, "subkeys/s", {{"depth", -1}}), "depth must be a non-negative integer");
  kv.Nil(Operation::kDelete, "data/s");
  json body = kv.NotFoundBody(Operation::kRead, "subkeys/s");
  EXPECT_TRUE(body["data"]["subkeys"].is_null());
  EXPECT_EQ(body["data"]["metadata"]["version"], 2);
}

TEST(KvV2, ConcurrentWritersOnOneKey) {
  KvFixture kv("2");  // default max_versions (10): pruning runs concurrently too
  constexpr int kThreads = 8, kWrites = 50;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> versions;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        auto r = kv.Do(Operation::kUpdate, "data/hot", {{"data", {{"t", t}, {"i", i}}}});
        if (!r.ok() || !*r) {
          ++failures;
          continue;
        }
        std::lock_guard l(mu);
        versions.insert((*r)->data["version"].get<int64_t>());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(versions.size(), size_t(kThreads * kWrites));  // every write got its own version
  EXPECT_EQ(*versions.rbegin(), kThreads * kWrites);
  EXPECT_EQ(kv.Ok(Operation::kRead, "metadata/hot")["current_version"], kThreads * kWrites);

  // Concurrent check-and-set: of N writers all sending the same cas, exactly one wins.
  std::atomic<int> wins{0}, mismatches{0};
  threads.clear();
  int64_t cur = kThreads * kWrites;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = kv.Do(Operation::kUpdate, "data/hot", {{"data", {{"t", t}}}, {"options", {{"cas", cur}}}});
      if (r.ok()) ++wins;
      else if (r.status().message() == "check-and-set parameter did not match the current version") ++mismatches;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(mismatches.load(), kThreads - 1);
}

TEST(KvV2, ExistenceChecks) {
  KvFixture kv("2");
  EXPECT_EQ(kv.Exists("data/e"), std::optional<bool>(false));
  EXPECT_EQ(kv.Exists("metadata/e"), std::optional<bool>(false));
  EXPECT_EQ(kv.Exists("config"), std::nullopt);
  kv.Nil(Operation::kUpdate, "metadata/e", {{"max_versions", 3}});
  EXPECT_EQ(kv.Exists("data/e"), std::optional<bool>(true));
}

}  // namespace
}  // namespace tresor::kv
