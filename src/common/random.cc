#include "common/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/encoding.h"

namespace tresor {

namespace {

void Fill(unsigned char* p, size_t n) {
  if (n > 0 && RAND_bytes(p, int(n)) != 1) {
    std::fprintf(stderr, "fatal: RAND_bytes failed\n");
    std::abort();
  }
}

// Small requests (nonces, ids: several per HTTP request) are served from a per-thread
// block drawn from the DRBG in one call; each call to RAND_bytes costs more than the bytes.
// Served bytes are wiped from the block at once, so it never holds used material.
class SmallPool {
 public:
  static constexpr size_t kMax = 64;
  ~SmallPool() { OPENSSL_cleanse(buf_, sizeof buf_); }
  void Take(unsigned char* out, size_t n) {
    if (n > sizeof buf_ - pos_) {
      Fill(buf_, sizeof buf_);
      pos_ = 0;
    }
    std::memcpy(out, buf_ + pos_, n);
    OPENSSL_cleanse(buf_ + pos_, n);
    pos_ += n;
  }

 private:
  unsigned char buf_[1024];
  size_t pos_ = sizeof buf_;
};

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (n <= SmallPool::kMax) {
    thread_local SmallPool pool;
    pool.Take(p, n);
  } else {
    Fill(p, n);
  }
  return out;
}

std::string RandomBase62(size_t n) {
  static constexpr char kAlpha[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    std::string buf = RandomBytes(n * 2);
    for (unsigned char c : buf) {
      if (c >= 248) continue;  // 248 = 62*4: reject to stay uniform
      out += kAlpha[c % 62];
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string NewUUID() {
  std::string b = RandomBytes(16);
  b[6] = char((uint8_t(b[6]) & 0x0f) | 0x40);
  b[8] = char((uint8_t(b[8]) & 0x3f) | 0x80);
  std::string h = HexEncode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
         h.substr(20, 12);
}

uint64_t RandomUint64(uint64_t bound) {
  if (bound <= 1) return 0;
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    std::string b = RandomBytes(8);
    uint64_t v = 0;
    for (unsigned char c : b) v = (v << 8) | c;
    if (v < limit) return v % bound;
  }
}

}  // namespace tresor
