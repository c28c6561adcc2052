// In-process transit throughput: the engine's ceiling without HTTP, core or TLS.
// Calls the backend's HandleRequest from N threads (default 2) for a fixed time per case.
//   transit_inproc_bench [seconds] [threads]
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/random.h"
#include "engines/transit/transit.h"
#include "storage/inmem_storage.h"

using tresor::logical::Operation;
using tresor::logical::Request;
using json = nlohmann::json;

namespace {

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

json Call(tresor::framework::Backend& b, const std::string& path, json data) {
  Request r;
  r.operation = Operation::kUpdate;
  r.path = path;
  r.data = std::move(data);
  auto res = b.HandleRequest(r);
  if (!res.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), res.status().ToString().c_str());
    std::exit(1);
  }
  return *res ? (*res)->data : json();
}

void Case(tresor::framework::Backend& b, const char* name, const std::string& path, const json& body, double secs,
          int threads) {
  std::atomic<bool> stop{false};
  std::atomic<long> ops{0};
  std::vector<std::thread> ts;
  auto start = std::chrono::steady_clock::now();
  double cpu0 = CpuSeconds();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        Call(b, path, body);
        ++n;
      }
      ops += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  stop = true;
  for (auto& t : ts) t.join();
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = CpuSeconds() - cpu0;
  // ops per CPU-second is what the code costs; wall ops/s depends on what else the machine runs.
  std::printf("%-28s %10.0f ops/s wall  %10.0f ops/cpu-s\n", name, double(ops.load()) / el, double(ops.load()) / cpu);
}

}  // namespace

int main(int argc, char** argv) {
  double secs = argc > 1 ? std::atof(argv[1]) : 5;
  int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  tresor::InmemStorage store;
  tresor::framework::BackendConfig cfg;
  cfg.storage = &store;
  auto b = tresor::transit::Factory(cfg);
  if (!b.ok()) return 1;
  auto& be = **b;
  Call(be, "keys/aes", {{"type", "aes256-gcm96"}});
  Call(be, "keys/ed", {{"type", "ed25519"}});
  Call(be, "keys/rsa", {{"type", "rsa-2048"}});
  std::string plain = tresor::Base64Encode(tresor::RandomBytes(1024));
  std::string ct = Call(be, "encrypt/aes", {{"plaintext", plain}})["ciphertext"];
  std::string msg = tresor::Base64Encode(tresor::RandomBytes(256));
  std::printf("in-process transit, %d threads, %.0fs per case\n", threads, secs);
  Case(be, "encrypt aes256-gcm96 1KiB", "encrypt/aes", {{"plaintext", plain}}, secs, threads);
  Case(be, "decrypt aes256-gcm96 1KiB", "decrypt/aes", {{"ciphertext", ct}}, secs, threads);
  Case(be, "sign ed25519", "sign/ed", {{"input", msg}}, secs, threads);
  Case(be, "sign rsa-2048 (pss)", "sign/rsa", {{"input", msg}}, secs, threads);
  return 0;
}
