// Cryptographically secure randomness (OpenSSL's DRBG) and identifiers built from it.
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace tresor {

// `n` random bytes. Aborts if the DRBG fails: no secret may be made from bad randomness.
std::string RandomBytes(size_t n);
// `n` characters from [0-9A-Za-z], uniformly (rejection sampling).
std::string RandomBase62(size_t n);
// RFC 4122 version-4 UUID, lower-case.
std::string NewUUID();
// Uniform integer in [0, bound).
uint64_t RandomUint64(uint64_t bound);

}  // namespace tresor
