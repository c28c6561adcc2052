// Storage: the key/value interface every layer below the router speaks.
//
// The same interface is implemented by physical backends (inmem, file, raft), by the
// barrier (which encrypts and then calls a physical backend) and by views (which confine a
// caller to a key prefix). Keys are '/'-separated paths with no leading '/'.
//
// Implementations are thread-safe: any worker thread may call any method concurrently.
// A successful Put/Delete/Transaction is durable (and, for raft, committed by a quorum)
// before it returns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tresor {

struct TxnOp {
  enum class Kind { kPut, kDelete };
  Kind kind;
  std::string key;
  std::string value;  // kPut only
};

struct ListOptions {
  std::string after;  // only keys sorting strictly after this child name
  int limit = -1;     // at most this many; -1 = all
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Value of `key`, or nullopt if absent.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual Status Put(std::string_view key, std::string_view value) = 0;
  // Deleting an absent key is not an error.
  virtual Status Delete(std::string_view key) = 0;
  // Immediate children of `prefix` (which is "" or ends in '/'), sorted, names relative to
  // the prefix; a child that has children of its own is reported once with a trailing '/'.
  virtual Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) = 0;
  // Applies every op atomically, in order.
  virtual Status Transaction(const std::vector<TxnOp>& ops) = 0;
};

}  // namespace tresor
