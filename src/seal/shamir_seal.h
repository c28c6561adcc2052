// ShamirSeal: Vault's Shamir seal. Owns init (key generation and splitting) and the unseal
// progress, and hands the root key to the barrier.
//
// Keys: a random 32-byte root key opens the barrier keyring; a random 32-byte unseal key
// (Vault's "KEK") wraps the root key. The unseal key is split into the operator's shares
// (with one share, the share *is* the unseal key). Stored in the physical store, plain:
//   core/seal-config   JSON {type:"shamir", secret_shares, secret_threshold, stored_shares:1, ...}
//   core/root-key      [version 1][12-byte nonce][AES-256-GCM(unseal key, root key, aad "core/root-key")]
// Both are written in the same transaction as the barrier's keyring at init.
//
// Raft join: a joining node learns the seal config from the leader (SetJoinConfig) before its
// storage has replicated. Reaching the threshold then only recovers the unseal key (kept in
// memory; has_unseal_key()) so the node can answer the leader's challenge with
// UnwrapWithUnsealKey. If the challenge does not open, the shares were wrong: call
// ResetProgress() (which forgets the key) and report "Unseal failed, invalid key". Once
// core/root-key and the keyring have replicated, UnsealWithRecoveredKey() finishes the
// unseal. The leader encrypts the challenge with WrapWithUnsealKey (the unseal key stays in
// memory while unsealed, as in Vault).
//
// Ownership: physical storage and barrier are not owned and must outlive the seal.
// Thread-safety: all methods may be called from any thread; one mutex serialises them.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "barrier/barrier.h"
#include "common/secure.h"
#include "common/status.h"
#include "storage/storage.h"

namespace tresor::seal {

struct SealConfig {
  std::string type = "shamir";
  int secret_shares = 0;
  int secret_threshold = 0;
  int stored_shares = 1;

  // Vault's SealConfig JSON (also what the join challenge response carries).
  nlohmann::json ToJson() const;
  // Corruption if the JSON lacks the fields or they are out of range.
  static Result<SealConfig> FromJson(const nlohmann::json& j);
};

// sys/init's checks with Vault's messages, e.g. "invalid seal configuration: threshold
// cannot be larger than shares" (InvalidRequest). pgp_key_count = 0 when none are given.
Status ValidateSealConfig(int shares, int threshold, int pgp_key_count = 0);

// Decodes a sys/unseal "key": hex if it decodes to 16..33 bytes (Vault's barrier key length
// bounds plus the share byte), else standard padded base64. InvalidRequest
// "'key' must be a valid hex or base64 string" otherwise.
Result<SecureString> DecodeUnsealKey(std::string_view text);

// The seal-related fields of sys/seal-status.
struct SealState {
  std::string type = "shamir";
  bool initialized = false;
  bool sealed = true;
  int threshold = 0;  // "t"
  int shares = 0;     // "n"
  int progress = 0;
  std::string nonce;  // empty unless an unseal attempt is in progress
};

class ShamirSeal {
 public:
  static constexpr size_t kUnsealKeySize = 32;
  static constexpr size_t kMinKeyLength = 16;      // Vault's barrier key length bounds
  static constexpr size_t kMaxKeyLength = 32 + 1;  // plus the Shamir x byte

  ShamirSeal(Storage* physical, barrier::Barrier* barrier);
  ShamirSeal(const ShamirSeal&) = delete;
  ShamirSeal& operator=(const ShamirSeal&) = delete;

  // The stored seal config, else the join config, else nullopt (not initialised).
  Result<std::optional<SealConfig>> Config();
  Result<bool> Initialized();

  // Validates (ValidateSealConfig), generates the keys, writes config, wrapped root key and
  // keyring atomically, and returns the shares (raw bytes; 33 bytes each, or the 32-byte
  // unseal key when shares == 1). The barrier is left UNSEALED so the caller can write
  // initial state (root token, mount tables); a Vault-compatible Shamir init then calls
  // Seal(). InvalidRequest "Vault is already initialized" if a config exists.
  Result<std::vector<SecureString>> Initialize(int shares, int threshold);

  // Adds one unseal share (raw bytes, see DecodeUnsealKey) and returns the state after it.
  // Vault's rules: InvalidRequest "Vault is not initialized" without a config; length
  // outside [16, 33] → InvalidRequest "invalid key: key is shorter than minimum 16 bytes" /
  // "... longer than maximum 33 bytes"; already unsealed → no-op; a share already given in
  // this attempt is ignored. At the threshold the shares are combined and the barrier
  // unsealed; any failure there resets the progress and returns InvalidRequest
  // "Unseal failed, invalid key".
  Result<SealState> SubmitShare(std::string_view share);
  // Forgets the shares of the attempt in progress (and a recovered-but-unused unseal key).
  void ResetProgress();
  Result<SealState> State();

  // Seals the barrier, forgets progress and the unseal key. Idempotent.
  void Seal();

  // ---- raft join support (see the header comment) ----
  void SetJoinConfig(const SealConfig& config);
  void ClearJoinConfig();
  // The unseal key is in memory (after a successful unseal, or a join-mode threshold).
  bool has_unseal_key() const;
  // Unavailable while core/root-key or the keyring has not replicated yet (retry later);
  // InvalidRequest "Unseal failed, invalid key" (and the key is forgotten) if it does not
  // open the root key. No-op when already unsealed.
  Status UnsealWithRecoveredKey();
  // AES-256-GCM under the unseal key: [version 1][nonce][ct+tag]. InvalidRequest if no
  // unseal key is in memory; Unwrap gives Corruption if the blob does not open.
  Result<std::string> WrapWithUnsealKey(std::string_view plaintext, std::string_view aad);
  Result<std::string> UnwrapWithUnsealKey(std::string_view blob, std::string_view aad);

 private:
  Result<std::optional<SealConfig>> ConfigLocked();
  Result<SealState> StateLocked();
  void ResetProgressLocked();
  // Opens core/root-key with `kek` and unseals the barrier. Unavailable if not present.
  Status UnsealBarrierLocked(const SecureString& kek);

  Storage* const physical_;
  barrier::Barrier* const barrier_;
  mutable std::mutex mu_;
  std::vector<SecureString> parts_;  // guarded by mu_
  std::string nonce_;                // guarded by mu_
  SecureString unseal_key_;          // guarded by mu_; empty when not recovered
  std::optional<SealConfig> join_config_;  // guarded by mu_
};

}  // namespace tresor::seal
