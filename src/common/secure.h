// Secret bytes in memory. SecureString wipes its buffer (OPENSSL_cleanse) when destroyed or
// reassigned, so keys and shares do not linger in freed heap. Not thread-safe; owned by one
// holder at a time like std::string.
#pragma once

#include <openssl/crypto.h>

#include <string>
#include <string_view>
#include <utility>

namespace tresor {

class SecureString {
 public:
  SecureString() = default;
  explicit SecureString(std::string s) : s_(std::move(s)) {}
  explicit SecureString(std::string_view s) : s_(s) {}
  SecureString(const SecureString& o) : s_(o.s_) {}
  SecureString(SecureString&& o) noexcept : s_(std::move(o.s_)) { o.Wipe(); }
  SecureString& operator=(const SecureString& o) {
    if (this != &o) {
      Wipe();
      s_ = o.s_;
    }
    return *this;
  }
  SecureString& operator=(SecureString&& o) noexcept {
    if (this != &o) {
      Wipe();
      s_ = std::move(o.s_);
      o.Wipe();
    }
    return *this;
  }
  ~SecureString() { Wipe(); }

  const std::string& str() const { return s_; }
  std::string_view view() const { return s_; }
  const char* data() const { return s_.data(); }
  size_t size() const { return s_.size(); }
  bool empty() const { return s_.empty(); }
  bool operator==(const SecureString& o) const { return s_ == o.s_; }

  void Wipe() {
    if (!s_.empty()) OPENSSL_cleanse(s_.data(), s_.size());
    s_.clear();
  }

 private:
  std::string s_;
};

// Wipes a plain std::string in place (for temporaries that held secrets).
inline void Wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace tresor
