// tresor_bench_storage: write throughput and latency of FileStorage (fsync on) under
// concurrent writers, i.e. how well group commit works.
//
// usage: tresor_bench_storage [--threads=64] [--seconds=5] [--value-bytes=256] [--dir=PATH]
//                             [--no-sync]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/file_storage.h"

namespace {

bool Flag(const char* arg, const char* name, std::string* out) {
  std::string prefix = std::string("--") + name + "=";
  if (std::string(arg).rfind(prefix, 0) != 0) return false;
  *out = std::string(arg).substr(prefix.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 64;
  double seconds = 5;
  size_t value_bytes = 256;
  std::string dir;
  bool no_sync = false;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (Flag(argv[i], "threads", &v)) {
      threads = std::atoi(v.c_str());
    } else if (Flag(argv[i], "seconds", &v)) {
      seconds = std::atof(v.c_str());
    } else if (Flag(argv[i], "value-bytes", &v)) {
      value_bytes = static_cast<size_t>(std::atol(v.c_str()));
    } else if (Flag(argv[i], "dir", &v)) {
      dir = v;
    } else if (std::string(argv[i]) == "--no-sync") {
      no_sync = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = "/tmp/tresor-bench-storage-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return 1;
    dir = tmpl;
  }

  tresor::FileStorageOptions opts;
  opts.path = dir;
  opts.no_sync = no_sync;
  auto fs = tresor::FileStorage::Open(opts);
  if (!fs.ok()) {
    std::fprintf(stderr, "open: %s\n", fs.status().ToString().c_str());
    return 1;
  }
  tresor::FileStorage& storage = **fs;

  using Clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> latencies(threads);  // microseconds, one vector per thread
  std::vector<std::thread> workers;
  const std::string value(value_bytes, 'v');
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& lat = latencies[t];
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        std::string key = "bench/" + std::to_string(t) + "/" + std::to_string(i % 1000);
        auto t0 = Clock::now();
        if (!storage.Put(key, value).ok()) ++errors;
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  uint64_t commits = storage.commits();
  std::printf("FileStorage puts: threads=%d value=%zuB fsync=%s\n", threads, value_bytes, no_sync ? "off" : "on");
  std::printf("  writes: %zu in %.2fs = %.0f writes/s (errors %d)\n", all.size(), elapsed, all.size() / elapsed,
              errors.load());
  std::printf("  latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", pct(0.50) / 1000, pct(0.99) / 1000,
              (all.empty() ? 0.0 : all.back()) / 1000);
  std::printf("  commits: %lu (%.1f writes per fsync)\n", static_cast<unsigned long>(commits),
              commits ? static_cast<double>(all.size()) / commits : 0.0);
  fs->reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return errors.load() == 0 ? 0 : 1;
}
