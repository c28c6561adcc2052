#include "barrier/barrier.h"

#include <mutex>

#include "common/random.h"
#include "crypto/aead.h"

namespace tresor::barrier {
namespace {

using crypto::AeadAlg;

constexpr uint8_t kValueVersion = 2;  // path as associated data
constexpr size_t kHeaderSize = 4 + 1 + crypto::kAeadNonceSize;
constexpr uint8_t kKeyringFormat = 1;

void PutU32(std::string* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}
uint64_t GetBE(std::string_view in, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// term || version || nonce || AEAD(key, plaintext, aad = path)
Result<std::string> SealValue(uint32_t term, const SecureString& key, std::string_view path,
                              std::string_view plaintext) {
  std::string nonce = RandomBytes(crypto::kAeadNonceSize);
  ASSIGN_OR_RETURN(std::string ct, crypto::AeadSeal(AeadAlg::kAes256Gcm, key.view(), nonce, plaintext, path));
  std::string out;
  out.reserve(kHeaderSize + ct.size());
  PutU32(&out, term);
  out.push_back(static_cast<char>(kValueVersion));
  out += nonce;
  out += ct;
  return out;
}

Status CheckHeader(std::string_view blob) {
  if (blob.size() < kHeaderSize + crypto::kAeadTagSize) return Status::Corruption("barrier: ciphertext too short");
  if (static_cast<uint8_t>(blob[4]) != kValueVersion) return Status::Corruption("barrier: unsupported version");
  return Status::Ok();
}

Result<std::string> OpenValue(const SecureString& key, std::string_view path, std::string_view blob) {
  auto pt = crypto::AeadOpen(AeadAlg::kAes256Gcm, key.view(), blob.substr(5, crypto::kAeadNonceSize),
                             blob.substr(kHeaderSize), path);
  if (!pt.ok()) return Status::Corruption("barrier: failed to decrypt value");
  return pt;
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::system_clock::time_point FromNanos(int64_t n) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(n)));
}

Status RefuseReserved(std::string_view key) {
  if (IsReservedPath(key)) return Status::InvalidRequest("path is reserved by the barrier");
  return Status::Ok();
}

}  // namespace

bool IsReservedPath(std::string_view key) {
  return key == kKeyringPath || key == kRootKeyPath || key == kSealConfigPath;
}

Barrier::Barrier(Storage* physical) : physical_(physical) {}
Barrier::~Barrier() { Seal(); }

// ---- keyring (de)serialisation ----
//   format(1) active(4) count(4) { term(4) install_nanos(8) keylen(1) key }*

Result<std::string> Barrier::SealKeyring(const Keyring& kr, const SecureString& root_key) {
  std::string plain;
  plain.push_back(static_cast<char>(kKeyringFormat));
  PutU32(&plain, kr.active);
  PutU32(&plain, static_cast<uint32_t>(kr.terms.size()));
  for (const auto& [term, t] : kr.terms) {
    PutU32(&plain, term);
    PutU64(&plain, static_cast<uint64_t>(t.install_unix_nanos));
    plain.push_back(static_cast<char>(t.key.size()));
    plain += t.key.view();
  }
  auto sealed = SealValue(0, root_key, kKeyringPath, plain);
  Wipe(plain);
  return sealed;
}

Result<Barrier::Keyring> Barrier::OpenKeyring(std::string_view blob, const SecureString& root_key) {
  if (!CheckHeader(blob).ok() || GetBE(blob, 4) != 0) return Status::Corruption("barrier: keyring is malformed");
  auto opened = crypto::AeadOpen(AeadAlg::kAes256Gcm, root_key.view(), blob.substr(5, crypto::kAeadNonceSize),
                                 blob.substr(kHeaderSize), kKeyringPath);
  if (!opened.ok()) return Status::InvalidRequest("Unseal failed, invalid key");
  SecureString plain(std::move(*opened));
  std::string_view in = plain.view();
  auto corrupt = [] { return Status::Corruption("barrier: keyring is malformed"); };
  if (in.size() < 9 || static_cast<uint8_t>(in[0]) != kKeyringFormat) return corrupt();
  Keyring kr;
  kr.active = static_cast<uint32_t>(GetBE(in.substr(1), 4));
  uint32_t count = static_cast<uint32_t>(GetBE(in.substr(5), 4));
  in.remove_prefix(9);
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() < 13) return corrupt();
    uint32_t term = static_cast<uint32_t>(GetBE(in, 4));
    int64_t installed = static_cast<int64_t>(GetBE(in.substr(4), 8));
    size_t keylen = static_cast<uint8_t>(in[12]);
    in.remove_prefix(13);
    if (in.size() < keylen || keylen != crypto::AeadKeySize(AeadAlg::kAes256Gcm) || term == 0) return corrupt();
    kr.terms[term] = Term{SecureString(in.substr(0, keylen)), installed};
    in.remove_prefix(keylen);
  }
  if (!in.empty() || kr.terms.empty() || !kr.terms.count(kr.active) || kr.terms.rbegin()->first != kr.active) {
    return corrupt();
  }
  return kr;
}

// ---- lifecycle ----

Result<bool> Barrier::Initialized() {
  ASSIGN_OR_RETURN(auto v, physical_->Get(kKeyringPath));
  return v.has_value();
}

Status Barrier::Initialize(const SecureString& root_key, const std::vector<TxnOp>& extra_plain_ops) {
  if (root_key.size() != kRootKeySize) return Status::InvalidRequest("root key must be 32 bytes");
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(bool exists, Initialized());
  if (exists) return Status::InvalidRequest("Vault is already initialized");
  Keyring kr;
  kr.active = 1;
  kr.terms[1] = Term{SecureString(RandomBytes(crypto::AeadKeySize(AeadAlg::kAes256Gcm))), NowNanos()};
  ASSIGN_OR_RETURN(std::string blob, SealKeyring(kr, root_key));
  std::vector<TxnOp> ops;
  ops.push_back(TxnOp{TxnOp::Kind::kPut, std::string(kKeyringPath), std::move(blob)});
  for (const auto& op : extra_plain_ops) ops.push_back(op);
  return physical_->Transaction(ops);
}

Status Barrier::Unseal(const SecureString& root_key) {
  std::unique_lock lock(mu_);
  if (!sealed_.load()) return Status::Ok();
  ASSIGN_OR_RETURN(auto blob, physical_->Get(kKeyringPath));
  if (!blob) return Status::InvalidRequest("Vault is not initialized");
  ASSIGN_OR_RETURN(Keyring kr, OpenKeyring(*blob, root_key));
  keyring_ = std::move(kr);
  root_key_ = root_key;
  encryptions_.store(0);
  sealed_.store(false, std::memory_order_release);
  return Status::Ok();
}

void Barrier::Seal() {
  std::unique_lock lock(mu_);
  sealed_.store(true, std::memory_order_release);
  keyring_ = Keyring{};  // SecureString members wipe themselves
  root_key_.Wipe();
  encryptions_.store(0);
}

Result<KeyInfo> Barrier::Rotate() {
  std::unique_lock lock(mu_);
  if (sealed_.load()) return Status::Sealed();
  Keyring next = keyring_;
  uint32_t term = next.active + 1;
  next.active = term;
  next.terms[term] = Term{SecureString(RandomBytes(crypto::AeadKeySize(AeadAlg::kAes256Gcm))), NowNanos()};
  ASSIGN_OR_RETURN(std::string blob, SealKeyring(next, root_key_));
  RETURN_IF_ERROR(physical_->Put(kKeyringPath, blob));
  KeyInfo info{term, FromNanos(next.terms[term].install_unix_nanos), 0};
  keyring_ = std::move(next);
  encryptions_.store(0);
  return info;
}

Result<KeyInfo> Barrier::KeyStatus() const {
  std::shared_lock lock(mu_);
  if (sealed_.load()) return Status::Sealed();
  const Term& t = keyring_.terms.at(keyring_.active);
  return KeyInfo{keyring_.active, FromNanos(t.install_unix_nanos), encryptions_.load()};
}

Status Barrier::ReloadKeyring() {
  std::unique_lock lock(mu_);
  return ReloadKeyringLocked();
}

Status Barrier::ReloadKeyringLocked() {
  if (sealed_.load()) return Status::Sealed();
  ASSIGN_OR_RETURN(auto blob, physical_->Get(kKeyringPath));
  if (!blob) return Status::Corruption("barrier: keyring missing");
  ASSIGN_OR_RETURN(Keyring kr, OpenKeyring(*blob, root_key_));
  // Never step back to an older keyring (e.g. a lagging replica read).
  if (kr.active < keyring_.active) return Status::Ok();
  if (kr.active != keyring_.active) encryptions_.store(0);
  keyring_ = std::move(kr);
  return Status::Ok();
}

// ---- encryption ----

Result<std::string> Barrier::EncryptLocked(std::string_view path, std::string_view plaintext) {
  if (sealed_.load()) return Status::Sealed();
  const Term& t = keyring_.terms.at(keyring_.active);
  encryptions_.fetch_add(1, std::memory_order_relaxed);
  return SealValue(keyring_.active, t.key, path, plaintext);
}

Result<std::string> Barrier::DecryptLocked(std::string_view path, std::string_view ciphertext,
                                           bool* unknown_term) const {
  *unknown_term = false;
  if (sealed_.load()) return Status::Sealed();
  RETURN_IF_ERROR(CheckHeader(ciphertext));
  uint32_t term = static_cast<uint32_t>(GetBE(ciphertext, 4));
  auto it = keyring_.terms.find(term);
  if (it == keyring_.terms.end()) {
    *unknown_term = term > keyring_.active;
    return Status::Corruption("barrier: no key for term " + std::to_string(term));
  }
  return OpenValue(it->second.key, path, ciphertext);
}

Result<std::string> Barrier::DecryptWithReload(std::string_view path, std::string_view ciphertext) {
  bool unknown = false;
  {
    std::shared_lock lock(mu_);
    auto r = DecryptLocked(path, ciphertext, &unknown);
    if (r.ok() || !unknown) return r;
  }
  // Written with a term we have not seen: the active node rotated and the new keyring has
  // replicated to us along with this value. Load it and try once more.
  std::unique_lock lock(mu_);
  auto r = DecryptLocked(path, ciphertext, &unknown);  // another thread may have reloaded
  if (r.ok() || !unknown) return r;
  RETURN_IF_ERROR(ReloadKeyringLocked());
  return DecryptLocked(path, ciphertext, &unknown);
}

Result<std::string> Barrier::Encrypt(std::string_view path, std::string_view plaintext) {
  std::shared_lock lock(mu_);
  return EncryptLocked(path, plaintext);
}

Result<std::string> Barrier::Decrypt(std::string_view path, std::string_view ciphertext) {
  return DecryptWithReload(path, ciphertext);
}

// ---- Storage ----

Result<std::optional<std::string>> Barrier::Get(std::string_view key) {
  if (sealed()) return Status::Sealed();
  RETURN_IF_ERROR(RefuseReserved(key));
  ASSIGN_OR_RETURN(auto blob, physical_->Get(key));
  if (!blob) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string plain, DecryptWithReload(key, *blob));
  return std::optional<std::string>(std::move(plain));
}

Status Barrier::Put(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(RefuseReserved(key));
  std::string blob;
  {
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(blob, EncryptLocked(key, value));
  }
  // The physical write happens outside the lock: a slow (raft) commit must not hold up a
  // Seal or Rotate.
  return physical_->Put(key, blob);
}

Status Barrier::Delete(std::string_view key) {
  if (sealed()) return Status::Sealed();
  RETURN_IF_ERROR(RefuseReserved(key));
  return physical_->Delete(key);
}

Result<std::vector<std::string>> Barrier::List(std::string_view prefix, const ListOptions& opts) {
  if (sealed()) return Status::Sealed();
  return physical_->List(prefix, opts);
}

Status Barrier::Transaction(const std::vector<TxnOp>& ops) {
  std::vector<TxnOp> sealed_ops;
  sealed_ops.reserve(ops.size());
  {
    std::shared_lock lock(mu_);
    if (sealed_.load()) return Status::Sealed();
    for (const auto& op : ops) {
      RETURN_IF_ERROR(RefuseReserved(op.key));
      TxnOp out{op.kind, op.key, {}};
      if (op.kind == TxnOp::Kind::kPut) {
        ASSIGN_OR_RETURN(out.value, EncryptLocked(op.key, op.value));
      }
      sealed_ops.push_back(std::move(out));
    }
  }
  return physical_->Transaction(sealed_ops);
}

}  // namespace tresor::barrier
