// Vault's raft snapshot file: what `GET sys/storage/raft/snapshot` returns, what `POST`
// restores and what scheduled snapshots write, so files move between Tresor and the tools
// built for Vault's (`vault operator raft snapshot save|restore|inspect`).
//
// A gzip-compressed tar of, in this order:
//   meta.json          raft snapshot metadata (index, term, configuration, state size)
//   state.bin          every key/value: varint length + protobuf StorageEntry{1 key, 2 value}
//   SHA256SUMS         "<sha256 hex>  <name>\n" for meta.json and state.bin
//   SHA256SUMS.sealed  SHA256SUMS sealed by the cluster's seal (Shamir: the unseal key)
// Reading checks both lists of sums; the sealed one only when an opener is given (a
// restore without -force), which is how a snapshot of another cluster is told apart.
// Error texts are Vault's, so operators and scripts see the same messages.
//
// Pure functions over in-memory buffers; safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tresor::snapshot {

struct Server {
  std::string id;
  std::string address;
  bool voter = true;
};

struct Meta {
  std::string id = "bolt-snapshot";  // Vault's name for a snapshot taken from the FSM
  uint64_t version = 1;               // raft snapshot format version
  uint64_t index = 0;  // last raft index applied to the state
  uint64_t term = 0;
  uint64_t configuration_index = 0;
  std::vector<Server> servers;
  uint64_t size = 0;  // bytes of state.bin (Write sets it; Read gives what meta.json says)
};

// Seals / opens the SHA256SUMS text for SHA256SUMS.sealed.
using SealFn = std::function<Result<std::string>(std::string_view plaintext)>;
using OpenFn = std::function<Result<std::string>(std::string_view sealed)>;

// Appends one key/value to a state.bin being built.
void AppendEntry(std::string* state, std::string_view key, std::string_view value);

struct Entry {
  std::string_view key;    // views into the state passed to ForEachEntry
  std::string_view value;
  size_t encoded_size = 0;  // bytes of the StorageEntry message (what `inspect` sums)
};
// Calls `fn` for each entry of state.bin in order. Corruption if the encoding is broken;
// stops at fn's first error and returns it.
Status ForEachEntry(std::string_view state, const std::function<Status(const Entry&)>& fn);

// The compressed archive. `meta.size` is ignored (taken from `state`).
Result<std::string> Write(const Meta& meta, std::string_view state, const SealFn& seal);

// What Read found. `state` points into the decompressed archive this object owns (on the
// heap, so moving the object keeps it valid); copying is not allowed.
class Contents {
 public:
  Meta meta;
  std::string_view state;

 private:
  friend Result<Contents> Read(std::string_view, const OpenFn*);
  std::unique_ptr<const std::string> tar_;
};

// Decompresses and verifies `file`. `open` null skips the sealed sums (snapshot-force).
// Refuses more than kMaxStateBytes, or 64 times the file's size + 64 MiB, of decompressed
// data.
Result<Contents> Read(std::string_view file, const OpenFn* open);
// True for a Read error that means SHA256SUMS.sealed did not open with this cluster's
// seal (Vault answers 400 and suggests snapshot-force); other errors are 500s.
bool SealedSumsDidNotOpen(const Status& st);
// The client's check after a download: the archive ends with a non-empty
// SHA256SUMS.sealed (a snapshot cut short by a failing seal does not).
bool HasSealedSums(std::string_view file);

inline constexpr uint64_t kMaxStateBytes = 4ull << 30;

// gzip (RFC 1952) of `data`, and its inverse (at most `limit` bytes out; the CRC and
// length in the trailer are checked). Used by Write/Read; exposed for tests.
Result<std::string> Gzip(std::string_view data);
Result<std::string> Gunzip(std::string_view data, uint64_t limit);

}  // namespace tresor::snapshot
