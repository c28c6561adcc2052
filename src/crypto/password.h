// Password hashing for auth methods that keep passwords (userpass): scrypt with a random
// salt, encoded with its parameters so they can be raised later without breaking old hashes.
//
// Encoding: "$scrypt$ln=<log2 N>,r=<r>,p=<p>$<base64 salt>$<base64 hash>" (std base64).
// Deliberately slow (~50-100 ms, 32 MiB): call from worker threads, never from an I/O loop.
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tresor::crypto {

struct ScryptParams {
  int log2_n = 15;  // N = 32768
  int r = 8;
  int p = 1;
};

// Internal only if OpenSSL fails.
Result<std::string> PasswordHash(std::string_view password, const ScryptParams& params = {});
// True iff `password` matches `encoded`. A malformed encoding, or parameters outside sane
// bounds (which would let a stored value burn CPU/memory), is simply a mismatch.
bool PasswordVerify(std::string_view password, std::string_view encoded);

}  // namespace tresor::crypto
