#include "seal/shamir_seal.h"

#include "common/encoding.h"
#include "common/random.h"
#include "common/strings.h"
#include "crypto/aead.h"
#include "crypto/shamir.h"

namespace tresor::seal {
namespace {

using crypto::AeadAlg;

constexpr uint8_t kWrapVersion = 1;

Result<std::string> Wrap(const SecureString& key, std::string_view plaintext, std::string_view aad) {
  std::string nonce = RandomBytes(crypto::kAeadNonceSize);
  ASSIGN_OR_RETURN(std::string ct, crypto::AeadSeal(AeadAlg::kAes256Gcm, key.view(), nonce, plaintext, aad));
  std::string out(1, static_cast<char>(kWrapVersion));
  out += nonce;
  out += ct;
  return out;
}

Result<std::string> Unwrap(const SecureString& key, std::string_view blob, std::string_view aad) {
  if (blob.size() < 1 + crypto::kAeadNonceSize + crypto::kAeadTagSize ||
      static_cast<uint8_t>(blob[0]) != kWrapVersion) {
    return Status::Corruption("seal: wrapped value is malformed");
  }
  return crypto::AeadOpen(AeadAlg::kAes256Gcm, key.view(), blob.substr(1, crypto::kAeadNonceSize),
                          blob.substr(1 + crypto::kAeadNonceSize), aad);
}

Status InvalidKey() { return Status::InvalidRequest("Unseal failed, invalid key"); }

}  // namespace

// ---- config ----

nlohmann::json SealConfig::ToJson() const {
  return nlohmann::json{{"type", type},
                        {"secret_shares", secret_shares},
                        {"secret_threshold", secret_threshold},
                        {"pgp_keys", nullptr},
                        {"nonce", ""},
                        {"backup", false},
                        {"stored_shares", stored_shares}};
}

Result<SealConfig> SealConfig::FromJson(const nlohmann::json& j) {
  auto bad = [] { return Status::Corruption("seal: invalid seal configuration"); };
  if (!j.is_object()) return bad();
  SealConfig c;
  auto type = j.find("type");
  auto n = j.find("secret_shares");
  auto t = j.find("secret_threshold");
  if (type == j.end() || !type->is_string() || n == j.end() || !n->is_number_integer() || t == j.end() ||
      !t->is_number_integer()) {
    return bad();
  }
  c.type = type->get<std::string>();
  c.secret_shares = n->get<int>();
  c.secret_threshold = t->get<int>();
  auto s = j.find("stored_shares");
  if (s != j.end() && s->is_number_integer()) c.stored_shares = s->get<int>();
  if (c.type != "shamir" || !ValidateSealConfig(c.secret_shares, c.secret_threshold).ok()) return bad();
  return c;
}

Status ValidateSealConfig(int shares, int threshold, int pgp_key_count) {
  auto invalid = [](const char* why) {
    return Status::InvalidRequest(std::string("invalid seal configuration: ") + why);
  };
  if (shares < 1) return invalid("shares must be at least one");
  if (threshold < 1) return invalid("threshold must be at least one");
  if (shares > 1 && threshold == 1) return invalid("threshold must be greater than one for multiple shares");
  if (shares > 255) return invalid("shares must be less than 256");
  if (threshold > 255) return invalid("threshold must be less than 256");
  if (threshold > shares) return invalid("threshold cannot be larger than shares");
  if (pgp_key_count > 0 && pgp_key_count != shares) {
    return invalid("count mismatch between number of provided PGP keys and number of shares");
  }
  return Status::Ok();
}

Result<SecureString> DecodeUnsealKey(std::string_view text) {
  // Hex first, but only at a plausible key length: some base64 strings are valid hex too.
  if (auto hex = HexDecode(text)) {
    SecureString key(std::move(*hex));
    Wipe(*hex);
    if (key.size() >= ShamirSeal::kMinKeyLength && key.size() <= ShamirSeal::kMaxKeyLength) return key;
  }
  if (auto b64 = Base64Decode(text)) {
    SecureString key(std::move(*b64));
    Wipe(*b64);
    return key;
  }
  return Status::InvalidRequest("'key' must be a valid hex or base64 string");
}

// ---- ShamirSeal ----

ShamirSeal::ShamirSeal(Storage* physical, barrier::Barrier* barrier) : physical_(physical), barrier_(barrier) {}

Result<std::optional<SealConfig>> ShamirSeal::ConfigLocked() {
  ASSIGN_OR_RETURN(auto raw, physical_->Get(barrier::kSealConfigPath));
  if (!raw) return join_config_;
  auto j = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  ASSIGN_OR_RETURN(SealConfig c, SealConfig::FromJson(j));
  return std::optional<SealConfig>(std::move(c));
}

Result<std::optional<SealConfig>> ShamirSeal::Config() {
  std::lock_guard lock(mu_);
  return ConfigLocked();
}

Result<bool> ShamirSeal::Initialized() {
  ASSIGN_OR_RETURN(auto c, Config());
  return c.has_value();
}

Result<std::vector<SecureString>> ShamirSeal::Initialize(int shares, int threshold) {
  RETURN_IF_ERROR(ValidateSealConfig(shares, threshold));
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto existing, ConfigLocked());
  if (existing) return Status::InvalidRequest("Vault is already initialized");

  SecureString root_key(RandomBytes(barrier::kRootKeySize));
  SecureString unseal_key(RandomBytes(kUnsealKeySize));
  std::vector<SecureString> out;
  if (shares == 1) {
    out.push_back(unseal_key);
  } else {
    ASSIGN_OR_RETURN(out, crypto::ShamirSplit(unseal_key.view(), shares, threshold));
  }
  ASSIGN_OR_RETURN(std::string wrapped, Wrap(unseal_key, root_key.view(), barrier::kRootKeyPath));

  SealConfig config;
  config.secret_shares = shares;
  config.secret_threshold = threshold;
  std::vector<TxnOp> ops = {
      {TxnOp::Kind::kPut, std::string(barrier::kSealConfigPath), config.ToJson().dump()},
      {TxnOp::Kind::kPut, std::string(barrier::kRootKeyPath), std::move(wrapped)},
  };
  RETURN_IF_ERROR(barrier_->Initialize(root_key, ops));
  RETURN_IF_ERROR(barrier_->Unseal(root_key));
  ResetProgressLocked();
  unseal_key_ = std::move(unseal_key);
  join_config_.reset();
  return out;
}

Result<SealState> ShamirSeal::StateLocked() {
  ASSIGN_OR_RETURN(auto config, ConfigLocked());
  SealState s;
  s.sealed = barrier_->sealed();
  if (config) {
    s.type = config->type;
    s.initialized = true;
    s.threshold = config->secret_threshold;
    s.shares = config->secret_shares;
  }
  s.progress = static_cast<int>(parts_.size());
  s.nonce = nonce_;
  return s;
}

Result<SealState> ShamirSeal::State() {
  std::lock_guard lock(mu_);
  return StateLocked();
}

void ShamirSeal::ResetProgressLocked() {
  parts_.clear();  // SecureStrings wipe themselves
  nonce_.clear();
}

void ShamirSeal::ResetProgress() {
  std::lock_guard lock(mu_);
  ResetProgressLocked();
  if (barrier_->sealed()) unseal_key_.Wipe();
}

Result<SealState> ShamirSeal::SubmitShare(std::string_view share) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(auto config, ConfigLocked());
  if (!config) return Status::InvalidRequest("Vault is not initialized");
  if (share.size() < kMinKeyLength) {
    return Status::InvalidRequest("invalid key: key is shorter than minimum " + std::to_string(kMinKeyLength) +
                                  " bytes");
  }
  if (share.size() > kMaxKeyLength) {
    return Status::InvalidRequest("invalid key: key is longer than maximum " + std::to_string(kMaxKeyLength) +
                                  " bytes");
  }
  // Already unsealed, or (joining) the unseal key is recovered and waits for replication.
  if (!barrier_->sealed() || !unseal_key_.empty()) return StateLocked();
  for (const auto& p : parts_) {
    if (ConstantTimeEquals(p.view(), share)) return StateLocked();
  }
  if (parts_.empty()) nonce_ = NewUUID();
  parts_.emplace_back(share);
  if (static_cast<int>(parts_.size()) < config->secret_threshold) return StateLocked();

  // Threshold reached: whatever happens next, this attempt is over.
  Result<SecureString> combined = config->secret_threshold == 1 ? Result<SecureString>(parts_[0])
                                                                : crypto::ShamirCombine(parts_);
  ResetProgressLocked();
  if (!combined.ok() || combined->size() != kUnsealKeySize) return InvalidKey();
  SecureString kek = std::move(*combined);
  Status st = UnsealBarrierLocked(kek);
  if (st.code() == Code::kUnavailable && join_config_) {
    // Joining: keep the key to answer the challenge; storage has not replicated yet.
    unseal_key_ = std::move(kek);
    return StateLocked();
  }
  if (!st.ok()) return st;
  unseal_key_ = std::move(kek);
  return StateLocked();
}

Status ShamirSeal::UnsealBarrierLocked(const SecureString& kek) {
  ASSIGN_OR_RETURN(auto wrapped, physical_->Get(barrier::kRootKeyPath));
  if (!wrapped) return Status::Unavailable("seal: root key not present in storage yet");
  auto root = Unwrap(kek, *wrapped, barrier::kRootKeyPath);
  if (!root.ok()) return InvalidKey();
  SecureString root_key(std::move(*root));
  Status st = barrier_->Unseal(root_key);
  if (st.ok()) return st;
  if (st.message() == "Vault is not initialized") {
    return Status::Unavailable("seal: keyring not present in storage yet");
  }
  // The root key opened but the keyring did not: report it as an invalid key as well;
  // Corruption (a keyring that opens but does not parse) passes through.
  if (st.code() == Code::kInvalidRequest) return InvalidKey();
  return st;
}

void ShamirSeal::Seal() {
  std::lock_guard lock(mu_);
  barrier_->Seal();
  ResetProgressLocked();
  unseal_key_.Wipe();
}

void ShamirSeal::SetJoinConfig(const SealConfig& config) {
  std::lock_guard lock(mu_);
  join_config_ = config;
}

void ShamirSeal::ClearJoinConfig() {
  std::lock_guard lock(mu_);
  join_config_.reset();
}

bool ShamirSeal::has_unseal_key() const {
  std::lock_guard lock(mu_);
  return !unseal_key_.empty();
}

Status ShamirSeal::UnsealWithRecoveredKey() {
  std::lock_guard lock(mu_);
  if (!barrier_->sealed()) return Status::Ok();
  if (unseal_key_.empty()) return Status::InvalidRequest("no unseal key has been recovered");
  Status st = UnsealBarrierLocked(unseal_key_);
  if (st.code() == Code::kInvalidRequest) unseal_key_.Wipe();
  return st;
}

Result<std::string> ShamirSeal::WrapWithUnsealKey(std::string_view plaintext, std::string_view aad) {
  std::lock_guard lock(mu_);
  if (unseal_key_.empty()) return Status::InvalidRequest("unseal key is not available");
  return Wrap(unseal_key_, plaintext, aad);
}

Result<std::string> ShamirSeal::UnwrapWithUnsealKey(std::string_view blob, std::string_view aad) {
  std::lock_guard lock(mu_);
  if (unseal_key_.empty()) return Status::InvalidRequest("unseal key is not available");
  return Unwrap(unseal_key_, blob, aad);
}

}  // namespace tresor::seal
