// Tests of the HTTP server over real sockets on 127.0.0.1 (port 0), plus the pure helpers
// (target decoding, JSON body limits, worker pool).
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <set>
#include <thread>

#include "http/http_server.h"
#include "http/json_body.h"
#include "http/url.h"
#include "http/worker_pool.h"

namespace tresor::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Pure helpers

TEST(Url, DecodePath) {
  EXPECT_EQ(*DecodePath("/v1/secret/a%20b%2Fc"), "/v1/secret/a b/c");
  EXPECT_EQ(*DecodePath("/v1/a+b"), "/v1/a+b");
  EXPECT_EQ(*DecodePath("/%e2%82%AC"), "/\xe2\x82\xac");
  auto bad = DecodePath("/v1/%zz");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidRequest);
  EXPECT_EQ(bad.status().message(), "invalid URL escape \"%zz\"");
  EXPECT_FALSE(DecodePath("/v1/%4").ok());
  EXPECT_FALSE(DecodePath("/v1/%").ok());
}

TEST(Url, ParseQueryLikeGo) {
  auto q = ParseQuery("list=true&a=1+2&a=%263&flag&bad=%zz&semi=1;2&&=empty");
  EXPECT_EQ(q.count("list"), 1u);
  EXPECT_EQ(q.find("list")->second, "true");
  auto [b, e] = q.equal_range("a");
  ASSERT_EQ(std::distance(b, e), 2);
  EXPECT_EQ(b->second, "1 2");
  EXPECT_EQ(std::next(b)->second, "&3");
  EXPECT_EQ(q.find("flag")->second, "");
  EXPECT_EQ(q.count("bad"), 0u);
  EXPECT_EQ(q.count("semi"), 0u);
  EXPECT_EQ(q.find("")->second, "empty");
}

TEST(Url, SplitTarget) {
  std::string p, q;
  ASSERT_TRUE(SplitTarget("/v1/sys/health?standbyok=true", &p, &q).ok());
  EXPECT_EQ(p, "/v1/sys/health");
  EXPECT_EQ(q, "standbyok=true");
  ASSERT_TRUE(SplitTarget("http://host:8200/v1/x?y", &p, &q).ok());
  EXPECT_EQ(p, "/v1/x");
  EXPECT_EQ(q, "y");
  EXPECT_FALSE(SplitTarget("v1/x", &p, &q).ok());
}

TEST(Url, CleanPathLikeGoServeMux) {
  EXPECT_EQ(CleanPath("/v1/auth/alicloud//login"), "/v1/auth/alicloud/login");
  EXPECT_EQ(CleanPath("/v1/./secret/"), "/v1/secret/");
  EXPECT_EQ(CleanPath("/v1/a/../b"), "/v1/b");
  EXPECT_EQ(CleanPath("/../.."), "/");
  EXPECT_EQ(CleanPath("/v1/secret/metadata/"), "/v1/secret/metadata/");
  EXPECT_EQ(CleanPath("/"), "/");
  EXPECT_EQ(CleanPath("//"), "/");
  EXPECT_EQ(CleanPath("/a//"), "/a/");
  EXPECT_EQ(EscapePath("/v1/a b/c+d@e%"), "/v1/a%20b/c+d@e%25");
}

TEST(JsonBody, EmptyAndNullAreEmptyObjects) {
  EXPECT_EQ(ParseJsonBody("").value(), json::object());
  EXPECT_EQ(ParseJsonBody("  \n").value(), json::object());
  EXPECT_EQ(ParseJsonBody("null").value(), json::object());
}

TEST(JsonBody, ParsesObject) {
  auto r = ParseJsonBody(R"({"a":1,"b":{"c":[1,2,{"d":"x"}]},"e":"768h"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["a"], 1);
  EXPECT_EQ((*r)["b"]["c"][2]["d"], "x");
}

TEST(JsonBody, MalformedNamesProblemAndPositionWithoutEchoingInput) {
  auto r = ParseJsonBody("{\"password\": hunter2}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind("failed to parse JSON input: ", 0), 0u) << m;
  EXPECT_NE(m.find("line 1, column"), std::string::npos) << m;
  EXPECT_EQ(m.find("hunter"), std::string::npos) << m;
  EXPECT_EQ(m.find("json.exception"), std::string::npos) << m;

  auto r2 = ParseJsonBody("{\"a\":1,}");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("expected"), std::string::npos) << r2.status().message();

  EXPECT_FALSE(ParseJsonBody("{\"a\":1} trailing").ok());
  EXPECT_FALSE(ParseJsonBody("{\"a\":\"unterminated").ok());
}

TEST(JsonBody, TopLevelMustBeObject) {
  for (const char* body : {"[1,2]", "\"str\"", "42", "true"}) {
    auto r = ParseJsonBody(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kInvalidRequest);
    EXPECT_NE(r.status().message().find("expected a JSON object"), std::string::npos) << r.status().message();
  }
}

TEST(JsonBody, DepthLimit) {
  auto nested = [](int depth) {
    std::string s;
    for (int i = 1; i < depth; ++i) s += "{\"a\":";
    s += "{}";
    for (int i = 1; i < depth; ++i) s += "}";
    return s;
  };
  EXPECT_TRUE(ParseJsonBody(nested(10), 10).ok());
  auto r = ParseJsonBody(nested(11), 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("depth"), std::string::npos);
  // Arrays count too, and a hostile 100k-deep body fails fast without a huge tree.
  EXPECT_FALSE(ParseJsonBody("{\"a\":" + std::string(100000, '[')).ok());
  EXPECT_FALSE(ParseJsonBody("{\"a\":[[[1]]]}", 3).ok());
  EXPECT_TRUE(ParseJsonBody("{\"a\":[[1]]}", 3).ok());
}

TEST(WorkerPool, RunsTasksAndRefusesWhenFull) {
  WorkerPool pool(1, 1);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::latch started(1);
  ASSERT_TRUE(pool.Submit([&] {
    started.count_down();
    released.wait();
  }));
  started.wait();
  std::atomic<int> ran{0};
  EXPECT_TRUE(pool.Submit([&] { ++ran; }));   // queued
  EXPECT_FALSE(pool.Submit([&] { ++ran; }));  // queue full
  release.set_value();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_FALSE(pool.Submit([] {}));
}

TEST(Tls, ParseVersion) {
  EXPECT_EQ(*ParseTlsVersion("tls13"), TlsVersion::kTls13);
  EXPECT_EQ(*ParseTlsVersion("tls10"), TlsVersion::kTls10);
  EXPECT_FALSE(ParseTlsVersion("ssl3").ok());
}

// ---------------------------------------------------------------------------------------
// Client side helpers

struct Reply {
  int status = 0;
  std::string body;
  bhttp::fields headers;
  bool keep_alive = false;
  json Json() const { return json::parse(body); }
};

bhttp::request<bhttp::string_body> MakeRequest(const std::string& method, const std::string& target,
                                               const std::string& body = "") {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, "127.0.0.1");
  if (!body.empty() || method == "PUT" || method == "POST") {
    req.body() = body;
    req.prepare_payload();
  }
  return req;
}

// A synchronous client over one connection (plain or TLS), for keep-alive tests.
template <class Stream>
class Conn {
 public:
  Conn(net::io_context& ioc, std::uint16_t port, ssl::context* tls = nullptr);
  Stream& stream() { return *stream_; }

  Reply Do(bhttp::request<bhttp::string_body> req) {
    bool head = req.method() == bhttp::verb::head;
    bhttp::write(*stream_, req);
    return Read(head);
  }
  Reply Read(bool head = false) {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(boost::none);
    p.skip(head);
    bhttp::read(*stream_, buf_, p);
    auto res = p.release();
    Reply r;
    r.status = res.result_int();
    r.body = res.body();
    r.keep_alive = res.keep_alive();
    r.headers = res.base();
    return r;
  }
  // True if the server closed the connection (EOF or reset) within the timeout.
  bool ClosedByPeer() {
    auto& sock = beast::get_lowest_layer(*stream_);
    timeval tv{3, 0};
    setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    beast::error_code ec;
    std::size_t n = sock.read_some(net::buffer(&c, 1), ec);
    return n == 0 && ec && ec != net::error::would_block && ec != net::error::try_again;
  }

 private:
  std::unique_ptr<Stream> stream_;
  beast::flat_buffer buf_;
};

template <>
Conn<tcp::socket>::Conn(net::io_context& ioc, std::uint16_t port, ssl::context*)
    : stream_(std::make_unique<tcp::socket>(ioc)) {
  stream_->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
}

template <>
Conn<ssl::stream<tcp::socket>>::Conn(net::io_context& ioc, std::uint16_t port, ssl::context* tls)
    : stream_(std::make_unique<ssl::stream<tcp::socket>>(ioc, *tls)) {
  stream_->next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  stream_->handshake(ssl::stream_base::client);
}

using PlainConn = Conn<tcp::socket>;
using TlsConn = Conn<ssl::stream<tcp::socket>>;

// A handler that reports what it saw.
HttpResponse Echo(HttpRequest& r) {
  json q = json::object();
  for (auto& [k, v] : r.query) q[k].push_back(v);
  json h = json::object();
  for (auto& [k, v] : r.headers) h[k] = v;
  HttpResponse resp;
  resp.body = json{{"method", r.method}, {"target", r.target}, {"path", r.path}, {"raw_path", r.raw_path},
                   {"raw_query", r.raw_query}, {"query", q}, {"headers", h}, {"body", r.body},
                   {"remote_addr", r.remote_addr}, {"tls", r.tls}}
                  .dump();
  resp.headers.emplace_back("X-Test", "yes");
  return resp;
}

HttpServerOptions OneListener(ListenerOptions l = {}) {
  l.address = "127.0.0.1:0";
  HttpServerOptions o;
  o.listeners.push_back(l);
  o.worker_threads = 4;
  return o;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions o, HttpHandler h = Echo) {
    server_ = std::make_unique<HttpServer>(std::move(o), std::move(h));
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->BoundPort();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  net::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------
// Plain HTTP

TEST_F(ServerTest, GetAndPutWithBody) {
  StartServer(OneListener());
  PlainConn c(ioc_, port_);
  auto get_req = MakeRequest("GET", "/v1/sys/health");
  get_req.set("X-Vault-Token", "s.secret");
  get_req.set("Authorization", "Bearer abc");
  Reply r = c.Do(get_req);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers[bhttp::field::content_type], "application/json");
  EXPECT_EQ(r.headers["X-Test"], "yes");
  EXPECT_FALSE(r.headers[bhttp::field::date].empty());
  json j = r.Json();
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/v1/sys/health");
  EXPECT_EQ(j["headers"]["x-vault-token"], "s.secret");
  EXPECT_EQ(j["headers"]["authorization"], "Bearer abc");
  EXPECT_EQ(j["remote_addr"], "127.0.0.1");
  EXPECT_EQ(j["tls"], false);

  r = c.Do(MakeRequest("PUT", "/v1/secret/data/x", R"({"data":{"k":"v"}})"));
  ASSERT_EQ(r.status, 200);
  j = r.Json();
  EXPECT_EQ(j["method"], "PUT");
  EXPECT_EQ(j["body"], R"({"data":{"k":"v"}})");
}

TEST_F(ServerTest, CustomVerbsAndStatuses) {
  StartServer(OneListener(), [](HttpRequest& r) {
    HttpResponse resp;
    if (r.method == "LIST") {
      resp.body = R"({"keys":["a"]})";
    } else if (r.method == "DELETE") {
      resp.status = 204;
      resp.content_type.clear();
    } else {
      resp.status = 405;
      resp.body = R"({"errors":[]})";
    }
    return resp;
  });
  PlainConn c(ioc_, port_);
  Reply r = c.Do(MakeRequest("LIST", "/v1/secret/metadata/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"keys":["a"]})");
  r = c.Do(MakeRequest("DELETE", "/v1/secret/data/x"));
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.headers.count(bhttp::field::content_type), 0u);
  r = c.Do(MakeRequest("PATCH", "/v1/x"));
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(r.keep_alive);
}

TEST_F(ServerTest, PercentDecodingAndQuery) {
  StartServer(OneListener());
  PlainConn c(ioc_, port_);
  Reply r = c.Do(MakeRequest("GET", "/v1/secret/a%20b%2Fc+d?list=true&x=1+2&x=%C3%A9"));
  ASSERT_EQ(r.status, 200);
  json j = r.Json();
  EXPECT_EQ(j["path"], "/v1/secret/a b/c+d");
  EXPECT_EQ(j["raw_path"], "/v1/secret/a%20b%2Fc+d");
  EXPECT_EQ(j["raw_query"], "list=true&x=1+2&x=%C3%A9");
  EXPECT_EQ(j["query"]["list"], json::array({"true"}));
  EXPECT_EQ(j["query"]["x"], json::array({"1 2", "\xc3\xa9"}));

  std::atomic<int> calls{0};
  server_->Stop();
  StartServer(OneListener(), [&](HttpRequest&) {
    ++calls;
    return HttpResponse{};
  });
  PlainConn c2(ioc_, port_);
  r = c2.Do(MakeRequest("GET", "/v1/bad%zzescape"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["errors"][0], "invalid URL escape \"%zz\"");
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, UncleanPathRedirects) {
  std::atomic<int> calls{0};
  StartServer(OneListener(), [&](HttpRequest&) {
    ++calls;
    return HttpResponse{};
  });
  PlainConn c(ioc_, port_);
  Reply r = c.Do(MakeRequest("PUT", "/v1/auth/alicloud//login?x=1", "{}"));
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.headers[bhttp::field::location], "/v1/auth/alicloud/login?x=1");
  EXPECT_TRUE(r.body.empty());
  r = c.Do(MakeRequest("GET", "/v1/./a%20b"));
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.headers[bhttp::field::location], "/v1/a%20b");
  EXPECT_NE(r.body.find("Moved Permanently"), std::string::npos);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(c.Do(MakeRequest("LIST", "/v1/secret/metadata/")).status, 200);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ServerTest, KeepAliveAndPipelining) {
  std::atomic<int> calls{0};
  StartServer(OneListener(), [&](HttpRequest& r) {
    ++calls;
    if (r.path == "/slow") std::this_thread::sleep_for(50ms);
    HttpResponse resp;
    resp.body = r.path;
    return resp;
  });
  PlainConn c(ioc_, port_);
  for (int i = 0; i < 5; ++i) {
    Reply r = c.Do(MakeRequest("GET", "/req" + std::to_string(i)));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "/req" + std::to_string(i));
    EXPECT_TRUE(r.keep_alive);
  }
  // Three requests in one write; answers must come back in order even though the first
  // is the slowest.
  std::string batch;
  for (const char* p : {"/slow", "/b", "/c"}) {
    batch += std::string("GET ") + p + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  net::write(c.stream(), net::buffer(batch));
  EXPECT_EQ(c.Read().body, "/slow");
  EXPECT_EQ(c.Read().body, "/b");
  EXPECT_EQ(c.Read().body, "/c");
  EXPECT_EQ(calls.load(), 8);
}

TEST_F(ServerTest, ConnectionCloseHonoured) {
  StartServer(OneListener());
  PlainConn c(ioc_, port_);
  auto req = MakeRequest("GET", "/x");
  req.keep_alive(false);
  Reply r = c.Do(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, Http10AndHeaderInjection) {
  StartServer(OneListener(), [](HttpRequest&) {
    HttpResponse resp;
    resp.body = "{}";
    resp.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x=1");
    resp.headers.emplace_back("X-Fine", "ok");
    return resp;
  });
  {
    PlainConn c(ioc_, port_);
    auto req = MakeRequest("GET", "/x");
    req.version(10);
    Reply r = c.Do(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(c.ClosedByPeer());
  }
  PlainConn c(ioc_, port_);
  auto req = MakeRequest("GET", "/x");
  req.version(10);
  req.set(bhttp::field::connection, "keep-alive");
  Reply r = c.Do(req);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.headers["X-Fine"], "ok");
  EXPECT_EQ(r.headers.count("X-Evil"), 0u);
  EXPECT_EQ(r.headers.count(bhttp::field::set_cookie), 0u);
  EXPECT_EQ(c.Do(req).body, "{}");  // still open
}

TEST_F(ServerTest, HeadHasNoBody) {
  StartServer(OneListener(), [](HttpRequest&) {
    HttpResponse resp;
    resp.body = R"({"initialized":true})";
    return resp;
  });
  PlainConn c(ioc_, port_);
  Reply r = c.Do(MakeRequest("HEAD", "/v1/sys/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.headers[bhttp::field::content_length], "20");
  // The connection is still in sync: no stray body bytes precede the next answer.
  r = c.Do(MakeRequest("GET", "/v1/sys/health"));
  EXPECT_EQ(r.body, R"({"initialized":true})");
}

TEST_F(ServerTest, OversizedBodyGets413AndClose) {
  ListenerOptions l;
  l.max_request_size = 1024;
  std::atomic<int> calls{0};
  StartServer(OneListener(l), [&](HttpRequest&) {
    ++calls;
    return HttpResponse{};
  });
  {
    PlainConn c(ioc_, port_);
    Reply r = c.Do(MakeRequest("PUT", "/v1/x", std::string(1024, 'a')));
    EXPECT_EQ(r.status, 200);  // exactly at the limit is fine
    r = c.Do(MakeRequest("PUT", "/v1/x", std::string(4096, 'a')));
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.Json()["errors"][0], "http: request body too large");
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    // Chunked: the limit is only seen while the body streams in.
    PlainConn c(ioc_, port_);
    auto req = MakeRequest("PUT", "/v1/x", std::string(4096, 'b'));
    req.chunked(true);
    Reply r = c.Do(req);
    EXPECT_EQ(r.status, 413);
    EXPECT_TRUE(c.ClosedByPeer());
  }
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ServerTest, MalformedRequestGets400) {
  StartServer(OneListener());
  PlainConn c(ioc_, port_);
  net::write(c.stream(), net::buffer(std::string("GET /x HTTP/1.1\r\nBad Header\r\n\r\n")));
  Reply r = c.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(c.ClosedByPeer());
}

size_t CurlDiscard(char*, size_t size, size_t n, void*) { return size * n; }

TEST_F(ServerTest, ExpectContinueIsAnsweredPromptly) {
  StartServer(OneListener());
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  std::string body(200000, 'z');
  std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/v1/x";
  curl_slist* hdrs = curl_slist_append(nullptr, "Expect: 100-continue");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CurlDiscard);
  curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 5000L);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  EXPECT_EQ(code, 200);
  EXPECT_LT(elapsed, 3s);  // curl would wait the full 5 s without a 100 Continue
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(curl);
}

TEST_F(ServerTest, ConcurrentClients) {
  std::atomic<int> calls{0};
  StartServer(OneListener(), [&](HttpRequest& r) {
    ++calls;
    std::this_thread::sleep_for(1ms);
    HttpResponse resp;
    resp.body = r.body;
    return resp;
  });
  constexpr int kThreads = 16, kPerThread = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      net::io_context ioc;
      PlainConn c(ioc, port_);
      for (int i = 0; i < kPerThread; ++i) {
        std::string body = std::to_string(t) + ":" + std::to_string(i);
        Reply r = c.Do(MakeRequest("PUT", "/x", body));
        if (r.status == 200 && r.body == body) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(calls.load(), kThreads * kPerThread);
}

TEST_F(ServerTest, OverloadGets503) {
  auto o = OneListener();
  o.worker_threads = 1;
  o.max_queued_requests = 1;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> entered{0};
  StartServer(o, [&](HttpRequest&) {
    ++entered;
    released.wait();
    return HttpResponse{};
  });
  // First request occupies the only worker, second waits in the queue, third is refused.
  std::vector<std::unique_ptr<PlainConn>> conns;
  for (int i = 0; i < 3; ++i) {
    conns.push_back(std::make_unique<PlainConn>(ioc_, port_));
    bhttp::write(conns.back()->stream(), MakeRequest("GET", "/x"));
    if (i == 0) {
      while (entered.load() == 0) std::this_thread::sleep_for(1ms);
    } else {
      std::this_thread::sleep_for(100ms);
    }
  }
  std::this_thread::sleep_for(200ms);
  release.set_value();
  EXPECT_EQ(conns[0]->Read().status, 200);
  // Whichever of the other two reached the server second was refused.
  Reply second = conns[1]->Read();
  Reply third = conns[2]->Read();
  std::multiset<int> statuses{second.status, third.status};
  EXPECT_EQ(statuses, (std::multiset<int>{200, 503}));
  EXPECT_TRUE(second.keep_alive && third.keep_alive);
}

TEST_F(ServerTest, MaxRequestDurationAnswers503AndCloses) {
  ListenerOptions l;
  l.max_request_duration = 200ms;
  StartServer(OneListener(l), [](HttpRequest& r) {
    if (r.path == "/slow") std::this_thread::sleep_for(1500ms);
    return HttpResponse{};
  });
  PlainConn c(ioc_, port_);
  auto t0 = std::chrono::steady_clock::now();
  Reply r = c.Do(MakeRequest("GET", "/slow"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.ClosedByPeer());
  PlainConn c2(ioc_, port_);
  EXPECT_EQ(c2.Do(MakeRequest("GET", "/fast")).status, 200);
}

TEST_F(ServerTest, IdleTimeoutClosesConnection) {
  auto o = OneListener();
  o.idle_timeout = 200ms;
  o.read_header_timeout = 200ms;
  StartServer(o);
  PlainConn c(ioc_, port_);
  EXPECT_EQ(c.Do(MakeRequest("GET", "/x")).status, 200);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerTest, HandlerExceptionIs500) {
  StartServer(OneListener(), [](HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  PlainConn c(ioc_, port_);
  Reply r = c.Do(MakeRequest("GET", "/x"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Json()["errors"][0], "internal error");
}

TEST_F(ServerTest, MultipleListeners) {
  HttpServerOptions o;
  ListenerOptions a, b;
  a.address = "127.0.0.1:0";
  b.address = "localhost:0";
  o.listeners = {a, b};
  StartServer(o);
  auto addrs = server_->BoundAddresses();
  ASSERT_EQ(addrs.size(), 2u);
  EXPECT_EQ(addrs[0], "127.0.0.1:" + std::to_string(server_->BoundPort(0)));
  for (std::size_t i = 0; i < 2; ++i) {
    std::uint16_t port = server_->BoundPort(i);
    ASSERT_NE(port, 0);
    tcp::socket s(ioc_);
    tcp::resolver res(ioc_);
    net::connect(s, res.resolve(i == 0 ? "127.0.0.1" : "localhost", std::to_string(port)));
    bhttp::write(s, MakeRequest("GET", "/x"));
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> resp;
    bhttp::read(s, buf, resp);
    EXPECT_EQ(resp.result_int(), 200);
  }
}

TEST(ServerStartup, BadAddressesFail) {
  for (const char* addr : {"127.0.0.1", "::1:80", "127.0.0.1:99999", "[::1:80"}) {
    HttpServerOptions o;
    ListenerOptions l;
    l.address = addr;
    o.listeners.push_back(l);
    HttpServer s(o, Echo);
    EXPECT_FALSE(s.Start().ok()) << addr;
  }
  // A port already taken.
  HttpServerOptions o;
  ListenerOptions l;
  l.address = "127.0.0.1:0";
  o.listeners.push_back(l);
  HttpServer first(o, Echo);
  ASSERT_TRUE(first.Start().ok());
  o.listeners[0].address = "127.0.0.1:" + std::to_string(first.BoundPort());
  HttpServer second(o, Echo);
  EXPECT_FALSE(second.Start().ok());
}

TEST(ServerStartup, DualStackAny) {
  HttpServerOptions o;
  ListenerOptions l;
  l.address = "[::]:0";
  o.listeners.push_back(l);
  HttpServer s(o, Echo);
  Status st = s.Start();
  if (!st.ok()) GTEST_SKIP() << "no IPv6 here: " << st.message();
  EXPECT_EQ(s.BoundAddresses()[0].rfind("[::]:", 0), 0u);
  net::io_context ioc;
  PlainConn c(ioc, s.BoundPort());  // IPv4 client on a [::] listener
  Reply r = c.Do(MakeRequest("GET", "/x"));
  EXPECT_EQ(r.Json()["remote_addr"], "127.0.0.1");
}

TEST_F(ServerTest, GracefulStopFinishesInFlight) {
  std::atomic<int> entered{0};
  StartServer(OneListener(), [&](HttpRequest&) {
    ++entered;
    std::this_thread::sleep_for(300ms);
    HttpResponse resp;
    resp.body = "done";
    return resp;
  });
  PlainConn busy(ioc_, port_);
  PlainConn idle(ioc_, port_);
  EXPECT_EQ(idle.Do(MakeRequest("GET", "/warm")).status, 200);
  entered = 0;
  bhttp::write(busy.stream(), MakeRequest("GET", "/x"));
  while (entered.load() == 0) std::this_thread::sleep_for(1ms);
  std::thread stopper([&] { server_->Stop(); });
  Reply r = busy.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "done");
  EXPECT_FALSE(r.keep_alive);
  stopper.join();
  EXPECT_TRUE(idle.ClosedByPeer());
  tcp::socket s(ioc_);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  EXPECT_TRUE(ec);  // no longer listening
  server_.reset();  // destroy after Stop
}

TEST(ServerLifetime, DestroyWithOpenConnectionsAndWithoutStart) {
  { HttpServer never_started(OneListener(), Echo); }
  net::io_context ioc;
  auto o = OneListener();
  o.shutdown_grace = 100ms;
  auto s = std::make_unique<HttpServer>(o, Echo);
  ASSERT_TRUE(s->Start().ok());
  PlainConn c(ioc, s->BoundPort());
  PlainConn half(ioc, s->BoundPort());
  net::write(half.stream(), net::buffer(std::string("GET /x HTTP/1.1\r\nHost:")));  // partial request
  EXPECT_EQ(c.Do(MakeRequest("GET", "/x")).status, 200);
  s.reset();
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_TRUE(half.ClosedByPeer());
}

// ---------------------------------------------------------------------------------------
// TLS, with certificates made on the fly

struct KeyPair {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~KeyPair() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Issues a P-256 certificate for `cn`, signed by `issuer` (self-signed when null).
void Issue(const char* cn, bool is_ca, const KeyPair* issuer, KeyPair* out) {
  out->key = EVP_EC_gen("P-256");
  ASSERT_NE(out->key, nullptr);
  out->cert = X509_new();
  X509_set_version(out->cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(out->cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out->cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out->cert), 86400);
  X509_set_pubkey(out->cert, out->key);
  X509_NAME* name = X509_get_subject_name(out->cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert : out->cert;
  X509_set_issuer_name(out->cert, X509_get_subject_name(issuer_cert));
  AddExt(out->cert, issuer_cert, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (is_ca) {
    AddExt(out->cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else {
    AddExt(out->cert, issuer_cert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  }
  ASSERT_GT(X509_sign(out->cert, issuer ? issuer->key : out->key, EVP_sha256()), 0);
}

void WritePem(const std::string& path, const KeyPair& kp, bool key) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  if (key) {
    PEM_write_PrivateKey(f, kp.key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_X509(f, kp.cert);
  }
  std::fclose(f);
}

class TlsTest : public ServerTest {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tresor-http-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Issue("server-ca", true, nullptr, &server_ca_);
    Issue("127.0.0.1", false, &server_ca_, &server_);
    Issue("client-ca", true, nullptr, &client_ca_);
    Issue("client", false, &client_ca_, &client_);
    Issue("rogue-ca", true, nullptr, &rogue_ca_);
    Issue("rogue", false, &rogue_ca_, &rogue_);
    WritePem(dir_ + "/server-ca.pem", server_ca_, false);
    WritePem(dir_ + "/server.pem", server_, false);
    WritePem(dir_ + "/server-key.pem", server_, true);
    WritePem(dir_ + "/client-ca.pem", client_ca_, false);
  }
  void TearDown() override {
    ServerTest::TearDown();
    std::filesystem::remove_all(dir_);
  }
  ListenerOptions TlsListener() {
    ListenerOptions l;
    l.tls.enabled = true;
    l.tls.cert_file = dir_ + "/server.pem";
    l.tls.key_file = dir_ + "/server-key.pem";
    return l;
  }
  // A client context trusting the server CA, optionally presenting a certificate.
  std::unique_ptr<ssl::context> ClientContext(const KeyPair* cert = nullptr,
                                              ssl::context::method m = ssl::context::tls_client) {
    auto ctx = std::make_unique<ssl::context>(m);
    ctx->load_verify_file(dir_ + "/server-ca.pem");
    ctx->set_verify_mode(ssl::verify_peer);
    if (cert) {
      SSL_CTX_use_certificate(ctx->native_handle(), cert->cert);
      SSL_CTX_use_PrivateKey(ctx->native_handle(), cert->key);
    }
    return ctx;
  }
  std::string dir_;
  KeyPair server_ca_, server_, client_ca_, client_, rogue_ca_, rogue_;
};

TEST_F(TlsTest, ServesOverTlsWithKeepAlive) {
  StartServer(OneListener(TlsListener()));
  auto ctx = ClientContext();
  TlsConn c(ioc_, port_, ctx.get());
  for (int i = 0; i < 3; ++i) {
    Reply r = c.Do(MakeRequest("PUT", "/v1/x", "{\"i\":" + std::to_string(i) + "}"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Json()["tls"], true);
    EXPECT_EQ(r.Json()["body"], "{\"i\":" + std::to_string(i) + "}");
  }
  auto req = MakeRequest("GET", "/x");
  req.keep_alive(false);
  EXPECT_FALSE(c.Do(req).keep_alive);
  // The server says goodbye with close_notify.
  beast::error_code ec;
  char ch;
  c.stream().read_some(net::buffer(&ch, 1), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == ssl::error::stream_truncated) << ec.message();
}

TEST_F(TlsTest, MinimumVersionEnforced) {
  auto l = TlsListener();
  l.tls.min_version = TlsVersion::kTls13;
  StartServer(OneListener(l));
  auto old_client = ClientContext();
  SSL_CTX_set_max_proto_version(old_client->native_handle(), TLS1_2_VERSION);
  EXPECT_THROW(TlsConn(ioc_, port_, old_client.get()), boost::system::system_error);
  auto new_client = ClientContext();
  TlsConn c(ioc_, port_, new_client.get());
  EXPECT_EQ(c.Do(MakeRequest("GET", "/x")).status, 200);
}

TEST_F(TlsTest, ClientCertificatesVerifiedWhenCaConfigured) {
  auto l = TlsListener();
  l.tls.client_ca_file = dir_ + "/client-ca.pem";
  l.tls.require_client_cert = true;
  StartServer(OneListener(l));
  auto good = ClientContext(&client_);
  TlsConn c(ioc_, port_, good.get());
  EXPECT_EQ(c.Do(MakeRequest("GET", "/x")).status, 200);

  // TLS 1.3 reports a client-certificate rejection after the client's handshake
  // returns, so the failure may surface on the first request instead.
  auto attempt = [&](ssl::context* ctx) {
    try {
      TlsConn bad(ioc_, port_, ctx);
      return bad.Do(MakeRequest("GET", "/x")).status == 200;
    } catch (const boost::system::system_error&) {
      return false;
    }
  };
  auto rogue = ClientContext(&rogue_);
  EXPECT_FALSE(attempt(rogue.get()));
  auto none = ClientContext();
  EXPECT_FALSE(attempt(none.get()));
}

TEST_F(TlsTest, OptionalClientCertificates) {
  auto l = TlsListener();
  l.tls.client_ca_file = dir_ + "/client-ca.pem";
  StartServer(OneListener(l));
  auto none = ClientContext();
  TlsConn c(ioc_, port_, none.get());
  EXPECT_EQ(c.Do(MakeRequest("GET", "/x")).status, 200);
  auto rogue = ClientContext(&rogue_);
  bool rogue_ok = false;
  try {
    TlsConn bad(ioc_, port_, rogue.get());
    rogue_ok = bad.Do(MakeRequest("GET", "/x")).status == 200;
  } catch (const boost::system::system_error&) {
  }
  EXPECT_FALSE(rogue_ok);
}

TEST_F(TlsTest, BadTlsMaterialFailsStart) {
  auto l = TlsListener();
  l.tls.key_file = dir_ + "/missing.pem";
  HttpServer s(OneListener(l), Echo);
  Status st = s.Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing.pem"), std::string::npos);
  auto l2 = TlsListener();
  WritePem(dir_ + "/other-key.pem", rogue_, true);
  l2.tls.key_file = dir_ + "/other-key.pem";
  HttpServer s2(OneListener(l2), Echo);
  EXPECT_FALSE(s2.Start().ok());
}

TEST_F(TlsTest, PlainHttpToTlsListenerIsDropped) {
  StartServer(OneListener(TlsListener()));
  PlainConn c(ioc_, port_);
  bhttp::write(c.stream(), MakeRequest("GET", "/x"));
  EXPECT_TRUE(c.ClosedByPeer());
}

}  // namespace
}  // namespace tresor::http
