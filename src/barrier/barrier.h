// Barrier: the encrypting Storage that sits between everything logical and the physical
// backend. Every value is sealed with AES-256-GCM before it reaches the physical store and
// opened after it comes back; the storage key (path) is the associated data, so a value
// copied to another path does not decrypt.
//
// Stored value layout (Vault's "version 2" shape):
//   [4-byte big-endian key term][1 version byte = 2][12-byte random nonce][ciphertext+tag]
//
// Keys live in a keyring of terms {term, 32-byte key, install time}. The newest (active)
// term encrypts; every term decrypts, so Rotate() never makes old data unreadable. The
// keyring itself is stored at core/keyring, sealed with the root key (same layout with
// term 0, associated data "core/keyring"). The root key is handed in by the seal at
// Initialize/Unseal and kept only in memory while unsealed (Rotate re-seals the keyring).
//
// Plain paths: core/keyring, core/root-key and core/seal-config are written to the physical
// store directly (the keyring by this class, the other two by the seal); they are not
// reachable through the Storage methods here, which refuse them with InvalidRequest so a
// stray Put cannot clobber the keys. List still shows them.
//
// Ownership: the physical Storage is not owned and must outlive the barrier.
// Thread-safety: every method may be called from any thread. The keyring is guarded by a
// shared_mutex: encryption and decryption take it shared (so they run in parallel);
// Unseal/Seal/Rotate/ReloadKeyring take it exclusively. While sealed, every Storage method
// and Encrypt/Decrypt return Status::Sealed().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure.h"
#include "common/status.h"
#include "storage/storage.h"

namespace tresor::barrier {

inline constexpr std::string_view kKeyringPath = "core/keyring";
inline constexpr std::string_view kRootKeyPath = "core/root-key";
inline constexpr std::string_view kSealConfigPath = "core/seal-config";

// True for the plain paths above.
bool IsReservedPath(std::string_view key);

inline constexpr size_t kRootKeySize = 32;

struct KeyInfo {
  uint32_t term = 0;
  std::chrono::system_clock::time_point install_time;
  uint64_t encryptions = 0;  // with this term, since this process unsealed (not persisted)
};

class Barrier : public Storage {
 public:
  explicit Barrier(Storage* physical);
  ~Barrier() override;
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Whether a keyring exists in the physical store.
  Result<bool> Initialized();

  // Creates the keyring with term 1 and writes it, together with `extra_plain_ops` (written
  // as given, unencrypted: the seal's config and wrapped root key), in one physical
  // transaction, so an interrupted init leaves nothing behind. The barrier stays sealed.
  // InvalidRequest "Vault is already initialized" if a keyring exists; `root_key` must be
  // kRootKeySize bytes.
  Status Initialize(const SecureString& root_key, const std::vector<TxnOp>& extra_plain_ops = {});

  // Loads the keyring with `root_key`. No-op if already unsealed. InvalidRequest
  // "Vault is not initialized" without a keyring, "Unseal failed, invalid key" if the root
  // key does not open it, Corruption if it opens but does not parse.
  Status Unseal(const SecureString& root_key);

  // Forgets every key (wiped). Idempotent.
  void Seal();
  bool sealed() const { return sealed_.load(std::memory_order_acquire); }

  // Adds term active+1 with a fresh key, persists the keyring, then switches encryption to
  // it. Returns the new term's info. On a persist failure nothing changes.
  Result<KeyInfo> Rotate();
  // The active term (sys/key-status).
  Result<KeyInfo> KeyStatus() const;
  // Re-reads core/keyring (a standby after the active node rotated and the keyring
  // replicated). Decrypt also does this by itself on meeting an unknown newer term.
  Status ReloadKeyring();

  // Seals/opens a blob with the active keyring as if it were stored at `path`, for sealed
  // data that does not live in storage (snapshot checksums and the like).
  Result<std::string> Encrypt(std::string_view path, std::string_view plaintext);
  Result<std::string> Decrypt(std::string_view path, std::string_view ciphertext);

  // Storage. Keys under the reserved plain paths are refused (see above).
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Put(std::string_view key, std::string_view value) override;
  Status Delete(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& opts = {}) override;
  Status Transaction(const std::vector<TxnOp>& ops) override;

 private:
  struct Term {
    SecureString key;
    int64_t install_unix_nanos = 0;
  };
  struct Keyring {
    uint32_t active = 0;
    std::map<uint32_t, Term> terms;
  };

  // Serialised keyring, sealed with the root key.
  static Result<std::string> SealKeyring(const Keyring& kr, const SecureString& root_key);
  static Result<Keyring> OpenKeyring(std::string_view blob, const SecureString& root_key);

  // Callers hold mu_ (shared is enough).
  Result<std::string> EncryptLocked(std::string_view path, std::string_view plaintext);
  // Returns Corruption with `unknown_term` set when the term is not in the keyring.
  Result<std::string> DecryptLocked(std::string_view path, std::string_view ciphertext, bool* unknown_term) const;
  Result<std::string> DecryptWithReload(std::string_view path, std::string_view ciphertext);
  Status ReloadKeyringLocked();

  Storage* const physical_;
  mutable std::shared_mutex mu_;
  std::atomic<bool> sealed_{true};    // written under mu_ (exclusive)
  SecureString root_key_;             // guarded by mu_
  Keyring keyring_;                   // guarded by mu_
  std::atomic<uint64_t> encryptions_{0};  // with keyring_.active; reset under mu_ (exclusive)
};

}  // namespace tresor::barrier
