// The transit engine's paths and handlers (Vault 1.13 API).
#include <chrono>
#include <mutex>

#include "common/duration.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/random.h"
#include "common/secure.h"
#include "common/strings.h"
#include "engines/transit/key_store.h"
#include "engines/transit/transit.h"

namespace tresor::transit {
namespace {

using framework::Data;
using framework::Field;
using framework::FieldData;
using framework::FieldType;
using framework::GenericNameRegex;
using framework::Path;
using logical::Operation;
using logical::Request;
using logical::Response;
using logical::ResponsePtr;

constexpr int kMinCacheSize = 10;
constexpr int64_t kMaxRandomBytes = 128 * 1024;

Status Bad(std::string m) { return Status::InvalidRequest(std::move(m)); }

// Go's base64 error text, so batch item errors read as Vault's do.
std::string IllegalBase64(std::string_view s) {
  static const std::string_view kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i < s.size(); ++i)
    if (kAlpha.find(s[i]) == std::string_view::npos) break;
  if (i == s.size()) i = s.size() - s.size() % 4;
  return "illegal base64 data at input byte " + std::to_string(i);
}

Result<std::string> DecodeB64(const std::string& s) {
  auto d = Base64Decode(s);
  if (!d) return Bad(IllegalBase64(s));
  return std::move(*d);
}

std::string JsonTypeName(const json& v) {
  if (v.is_number_integer()) return "json.Number";
  if (v.is_number()) return "json.Number";
  if (v.is_boolean()) return "bool";
  if (v.is_array()) return "[]interface {}";
  if (v.is_object()) return "map[string]interface {}";
  return "string";
}

// A batch_input element's string field: absent or null -> "", non-string -> error.
Result<std::string> ItemString(const json& item, size_t i, const char* field) {
  auto it = item.find(field);
  if (it == item.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  return Bad("'[" + std::to_string(i) + "]." + field + "' expected type 'string', got unconvertible type '" +
             JsonTypeName(*it) + "'");
}

Result<int> ItemInt(const json& item, size_t i, const char* field) {
  auto it = item.find(field);
  if (it == item.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int>();
  if (it->is_string()) {
    try {
      size_t pos = 0;
      int v = std::stoi(it->get<std::string>(), &pos);
      if (pos == it->get_ref<const std::string&>().size()) return v;
    } catch (...) {
    }
  }
  return Bad("'[" + std::to_string(i) + "]." + field + "' expected type 'int', got unconvertible type '" +
             JsonTypeName(*it) + "'");
}

// Reads batch_input: nullopt when absent, error when not a list of objects or empty.
Result<std::optional<std::vector<json>>> BatchInput(const FieldData& d) {
  auto raw = d.GetOk("batch_input");
  if (!raw || raw->is_null()) return std::optional<std::vector<json>>();
  json v = *raw;
  if (v.is_string()) {  // the CLI may send it as a JSON string
    v = json::parse(v.get<std::string>(), nullptr, false);
  }
  if (!v.is_array()) return Status::Internal("failed to parse batch input: source data must be an array or slice");
  std::vector<json> items;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_object())
      return Status::Internal("failed to parse batch input: [" + std::to_string(i) + "] expected a map");
    items.push_back(v[i]);
  }
  if (items.empty()) return Bad("missing batch input to process");
  return std::optional<std::vector<json>>(std::move(items));
}

// The BYOK wrapping key lives under "import/": a thin prefixing Storage for its KeyStore.
// Vault's status for a batch with failed items: 400 if any item failed on bad input, else
// 500 if any failed internally; `partial_failure_response_code` overrides it when at least
// one item succeeded. The body is still the full response envelope.
Result<ResponsePtr> BatchStatus(const Request& req, const FieldData& d, ResponsePtr resp, bool successes,
                                bool user_error, bool internal_error) {
  if (!user_error && !internal_error) return resp;
  int code = user_error ? 400 : 500;
  if (auto pf = d.GetOk("partial_failure_response_code"); pf && successes) {
    int64_t c = d.GetInt("partial_failure_response_code");
    if (c < 1 || c > 599)
      resp->warnings.push_back("invalid HTTP response code override from partial_failure_response_code, reverting to " +
                               std::to_string(code));
    else
      code = int(c);
  }
  nlohmann::ordered_json body;
  body["request_id"] = req.request_id;
  body["lease_id"] = "";
  body["renewable"] = false;
  body["lease_duration"] = 0;
  body["data"] = resp->data;
  body["wrap_info"] = nullptr;
  body["warnings"] = resp->warnings.empty() ? json(nullptr) : json(resp->warnings);
  body["auth"] = nullptr;
  http::HttpResponse raw;
  raw.status = code;
  raw.body = body.dump();
  resp->raw = std::move(raw);
  return resp;
}

class PrefixStorage : public Storage {
 public:
  PrefixStorage(Storage* s, std::string p) : s_(s), p_(std::move(p)) {}
  Result<std::optional<std::string>> Get(std::string_view k) override { return s_->Get(p_ + std::string(k)); }
  Status Put(std::string_view k, std::string_view v) override { return s_->Put(p_ + std::string(k), v); }
  Status Delete(std::string_view k) override { return s_->Delete(p_ + std::string(k)); }
  Result<std::vector<std::string>> List(std::string_view prefix, const ListOptions& o) override {
    return s_->List(p_ + std::string(prefix), o);
  }
  Status Transaction(const std::vector<TxnOp>& ops) override {
    std::vector<TxnOp> c = ops;
    for (auto& op : c) op.key = p_ + op.key;
    return s_->Transaction(c);
  }

 private:
  Storage* s_;
  std::string p_;
};

class TransitBackend : public framework::FrameworkBackend {
 public:
  explicit TransitBackend(const framework::BackendConfig& cfg)
      : storage_(cfg.storage), keys_(cfg.storage), import_storage_(cfg.storage, "import/"), wrapping_(&import_storage_) {
    SetPaths(BuildPaths());
  }

  Status Initialize() override {
    auto raw = storage_->Get("config/cache");
    if (raw.ok() && *raw) {
      json j = json::parse(**raw, nullptr, false);
      if (j.is_object()) keys_.SetCacheSize(j.value("size", int64_t(0)));
    }
    return Status::Ok();
  }
  void Cleanup() override {
    keys_.Clear();
    wrapping_.Clear();
  }
  void Periodic() override { AutoRotate(); }

 private:
  std::vector<Path> BuildPaths();

  // ---- keys ----
  Result<ResponsePtr> ListKeys(Request&, FieldData&) {
    ASSIGN_OR_RETURN(auto names, keys_.List());
    return framework::ListResponse(names);
  }

  Result<ResponsePtr> CreateKey(Request&, FieldData& d) {
    std::string name = d.GetString("name");
    bool derived = d.GetBool("derived");
    bool convergent = d.GetBool("convergent_encryption");
    int64_t arp = d.GetInt("auto_rotate_period");
    int64_t key_size = d.GetInt("key_size");
    if (arp != 0 && arp < 3600) return Bad("auto rotate period must be 0 to disable or at least an hour");
    if (!derived && convergent) return Bad("convergent encryption requires derivation to be enabled");
    std::string ts = d.GetString("type");
    auto type = ParseKeyType(ts);
    if (!type) return Bad("unknown key type " + ts);
    if (key_size != 0) {
      if (*type != KeyType::kHmac) return Bad("key_size is not valid for algorithm " + KeyTypeName(*type));
      if (key_size < kHmacMinKeySize || key_size > kHmacMaxKeySize) return Bad("invalid key_size " + std::to_string(key_size));
    }
    if (*type == KeyType::kHmac && key_size == 0) key_size = kHmacMinKeySize;
    if ((derived || convergent) && !SupportsDerivation(*type))
      return Bad("key derivation and convergent encryption not supported for keys of type " + KeyTypeName(*type));
    if (convergent && !IsSymmetricAead(*type))
      return Bad("convergent encryption not supported for keys of type " + KeyTypeName(*type));
    ASSIGN_OR_RETURN(auto res, keys_.GetOrCreate(name, [&]() -> Result<std::shared_ptr<Policy>> {
      auto p = std::make_shared<Policy>();
      p->type = *type;
      p->derived = derived;
      p->convergent = convergent;
      p->exportable = d.GetBool("exportable");
      p->allow_plaintext_backup = d.GetBool("allow_plaintext_backup");
      p->auto_rotate_period = arp;
      p->key_size = int(key_size);
      RETURN_IF_ERROR(p->RotateInMemory());
      return p;
    }));
    ASSIGN_OR_RETURN(json desc, res.first->Describe(""));
    auto resp = Response::WithData(std::move(desc));
    if (!res.second) resp->warnings.push_back("key " + name + " already existed");
    return resp;
  }

  Result<ResponsePtr> ReadKey(Request&, FieldData& d) {
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return ResponsePtr();
    std::string ctx;
    if (auto c = d.GetString("context"); !c.empty()) {
      auto dec = Base64Decode(c);
      if (!dec) return Bad("failed to base64-decode context");
      ctx = *dec;
    }
    ASSIGN_OR_RETURN(json desc, p->Describe(ctx));
    return Response::WithData(std::move(desc));
  }

  Result<ResponsePtr> DeleteKey(Request&, FieldData& d) {
    std::string name = d.GetString("name");
    Status st = keys_.Delete(name, [](const Policy& p) {
      if (!p.deletion_allowed) return Bad("deletion is not allowed for this key");
      return Status::Ok();
    });
    if (st.code() == Code::kNotFound) return Bad("error deleting policy " + name + ": could not delete key; not found");
    if (!st.ok()) return Bad("error deleting policy " + name + ": " + st.message());
    return ResponsePtr();
  }

  Result<ResponsePtr> ConfigKey(Request&, FieldData& d) {
    std::string name = d.GetString("name");
    std::string warning;
    bool changed = false;
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Update(name, [&](Policy& p) -> Status {
      if (auto v = d.GetOk("min_decryption_version")) {
        int64_t m = d.GetInt("min_decryption_version");
        if (m < 0) return Bad("min decryption version cannot be negative");
        if (m == 0) {
          m = 1;
          warning = "since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1";
        }
        if (m != p.min_decryption_version) {
          if (m > p.latest_version)
            return Bad("cannot set min decryption version of " + std::to_string(m) + ", latest key version is " +
                       std::to_string(p.latest_version));
          p.min_decryption_version = int(m);
          changed = true;
        }
      }
      if (auto v = d.GetOk("min_encryption_version")) {
        int64_t m = d.GetInt("min_encryption_version");
        if (m < 0) return Bad("min encryption version cannot be negative");
        if (m != p.min_encryption_version) {
          if (m > p.latest_version)
            return Bad("cannot set min encryption version of " + std::to_string(m) + ", latest key version is " +
                       std::to_string(p.latest_version));
          p.min_encryption_version = int(m);
          changed = true;
        }
      }
      if (p.min_encryption_version > 0 && p.min_encryption_version < p.min_decryption_version)
        return Bad("cannot set min encryption/decryption values; min encryption version of " +
                   std::to_string(p.min_encryption_version) +
                   " must be greater than or equal to min decryption version of " +
                   std::to_string(p.min_decryption_version));
      if (d.Has("deletion_allowed") && d.GetBool("deletion_allowed") != p.deletion_allowed) {
        p.deletion_allowed = d.GetBool("deletion_allowed");
        changed = true;
      }
      if (d.Has("exportable") && d.GetBool("exportable") && !p.exportable) {
        p.exportable = true;
        changed = true;
      }
      if (d.Has("allow_plaintext_backup") && d.GetBool("allow_plaintext_backup") && !p.allow_plaintext_backup) {
        p.allow_plaintext_backup = true;
        changed = true;
      }
      if (d.Has("auto_rotate_period")) {
        int64_t arp = d.GetInt("auto_rotate_period");
        if (arp != 0 && arp < 3600) return Bad("auto rotate period must be 0 to disable or at least an hour");
        if (arp != p.auto_rotate_period) {
          p.auto_rotate_period = arp;
          changed = true;
        }
      }
      if (changed) {
        if (p.min_available_version > p.min_encryption_version && p.min_encryption_version != 0)
          return Bad("min encryption version should not be less than min available version");
        if (p.min_available_version > p.min_decryption_version)
          return Bad("min decryption version should not be less then min available version");
      }
      return Status::Ok();
    }));
    if (!p) return Bad("no existing key named " + name + " could be found");
    ASSIGN_OR_RETURN(json desc, p->Describe(""));
    auto resp = Response::WithData(std::move(desc));
    if (!warning.empty()) resp->warnings.push_back(warning);
    return resp;
  }

  Result<ResponsePtr> RotateKey(Request&, FieldData& d) {
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Update(d.GetString("name"), [](Policy& p) {
      RETURN_IF_ERROR(p.RotateInMemory());
      p.imported = false;
      return Status::Ok();
    }));
    if (!p) return Bad("key not found");
    ASSIGN_OR_RETURN(json desc, p->Describe(""));
    return Response::WithData(std::move(desc));
  }

  Result<ResponsePtr> TrimKey(Request&, FieldData& d) {
    if (!d.Has("min_available_version")) {
      ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
      if (!p) return Bad("invalid key name");
      return Bad("missing min_available_version");
    }
    int64_t m = d.GetInt("min_available_version");
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Update(d.GetString("name"), [&](Policy& p) -> Status {
      if (m < p.min_available_version) return Bad("minimum available version cannot be decremented");
      if (p.min_encryption_version == 0)
        return Bad("minimum available version cannot be set when minimum encryption version is not set");
      if (p.min_decryption_version == 0)
        return Bad("minimum available version cannot be set when minimum decryption version is not set");
      if (m > p.min_encryption_version)
        return Bad("minimum available version cannot be greater than minmum encryption version");
      if (m > p.min_decryption_version)
        return Bad("minimum available version cannot be greater than minimum decryption version");
      if (m < 0) return Bad("minimum available version cannot be negative");
      if (m == 0) return Bad("minimum available version should be positive");
      p.min_available_version = int(m);
      return Status::Ok();
    }));
    if (!p) return Bad("invalid key name");
    ASSIGN_OR_RETURN(json desc, p->Describe(""));
    return Response::WithData(std::move(desc));
  }

  // ---- encrypt / decrypt / rewrap / datakey ----
  Result<bool> EncryptExists(Request&, FieldData& d) {
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    return p != nullptr;
  }

  Result<ResponsePtr> Encrypt(Request& req, FieldData& d) {
    std::string name = d.GetString("name");
    ASSIGN_OR_RETURN(auto batch, BatchInput(d));
    struct Item {
      std::string plaintext, context, nonce, aad, reference, error;
      int key_version = 0;
    };
    // Decodes one element's base64 inputs; a bad one becomes that element's error.
    auto decode = [](const std::string& pt_b64, const std::string& ctx_b64, const std::string& nonce_b64,
                     const std::string& aad_b64, Item* w) {
      auto decoded = DecodeB64(pt_b64);
      if (!decoded.ok()) {
        w->error = decoded.status().message();
        return;
      }
      w->plaintext = std::move(*decoded);
      for (auto [src, dst] : {std::pair{&ctx_b64, &w->context}, {&nonce_b64, &w->nonce}, {&aad_b64, &w->aad}}) {
        if (src->empty() || !w->error.empty()) continue;
        auto dec = DecodeB64(*src);
        if (!dec.ok()) w->error = dec.status().message();
        else *dst = std::move(*dec);
      }
    };
    std::vector<Item> work;
    bool context_set = false;
    if (!batch) {
      // The common single-item request reads its fields directly (no batch element built).
      if (!d.Has("plaintext")) return Bad("missing plaintext to encrypt");
      Item& w = work.emplace_back();
      std::string ctx_b64 = d.GetString("context");
      context_set = !ctx_b64.empty();
      w.key_version = static_cast<int>(d.GetInt("key_version"));
      decode(d.GetString("plaintext"), ctx_b64, d.GetString("nonce"), d.GetString("associated_data"), &w);
    } else {
      const std::vector<json>& items = *batch;
      work.resize(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        Item& w = work[i];
        auto pt = items[i].find("plaintext");
        if (pt != items[i].end() && !pt->is_string())
          return Status::Internal("failed to parse batch input: '[" + std::to_string(i) +
                                  "].plaintext' expected type 'string', got unconvertible type '" + JsonTypeName(*pt) +
                                  "'");
        ASSIGN_OR_RETURN(std::string ctx_b64, ItemString(items[i], i, "context"));
        ASSIGN_OR_RETURN(std::string nonce_b64, ItemString(items[i], i, "nonce"));
        ASSIGN_OR_RETURN(std::string aad_b64, ItemString(items[i], i, "associated_data"));
        ASSIGN_OR_RETURN(w.reference, ItemString(items[i], i, "reference"));
        ASSIGN_OR_RETURN(w.key_version, ItemInt(items[i], i, "key_version"));
        if (i == 0) context_set = !ctx_b64.empty();
        if (ctx_b64.empty() == context_set)
          return Bad("context should be set either in all the request blocks or in none");
        decode(pt == items[i].end() ? std::string() : pt->get<std::string>(), ctx_b64, nonce_b64, aad_b64, &w);
      }
    }

    PolicyPtr p;
    bool upserted = false;
    if (req.operation == Operation::kCreate) {
      bool convergent = d.GetBool("convergent_encryption");
      if (convergent && !context_set)
        return Bad("convergent encryption requires derivation to be enabled, so context is required");
      std::string ts = d.GetString("type");
      auto type = ParseKeyType(ts);
      if (!type) return Bad("unknown key type " + ts);
      if (!IsSymmetricAead(*type)) {
        if (IsEcdsa(*type)) return Bad("key type " + ts + " not supported for this operation");
        return Bad("unknown key type " + ts);
      }
      ASSIGN_OR_RETURN(auto res, keys_.GetOrCreate(name, [&]() -> Result<std::shared_ptr<Policy>> {
        auto np = std::make_shared<Policy>();
        np->type = *type;
        np->derived = context_set;
        np->convergent = convergent;
        RETURN_IF_ERROR(np->RotateInMemory());
        return np;
      }));
      p = res.first;
      upserted = res.second;
    } else {
      ASSIGN_OR_RETURN(p, keys_.Get(name));
    }
    if (!p) return Bad("encryption key not found");

    if (!batch) {
      Item& w = work[0];
      if (w.error.empty() && !w.aad.empty() && !IsSymmetricAead(p->type))
        w.error = "'[0].associated_data' provided for non-AEAD cipher suite " + KeyTypeName(p->type);
      if (!w.error.empty()) {
        Wipe(w.plaintext);
        return Bad(w.error);
      }
      auto ct = p->Encrypt(w.key_version, w.context, w.nonce, w.plaintext, w.aad);
      Wipe(w.plaintext);
      if (!ct.ok()) return ct.status();
      auto resp = Response::WithData(
          {{"ciphertext", std::move(*ct)}, {"key_version", w.key_version == 0 ? p->latest_version : w.key_version}});
      if (req.operation == Operation::kCreate && !upserted)
        resp->warnings.push_back("Attempted creation of the key during the encrypt operation, but it was created beforehand");
      return resp;
    }
    json results = json::array();
    bool successes = false, user_error = false, internal_error = false;
    for (size_t i = 0; i < work.size(); ++i) {
      Item& w = work[i];
      json r = json::object();
      if (w.error.empty() && !w.aad.empty() && !IsSymmetricAead(p->type))
        w.error = "'[" + std::to_string(i) + "].associated_data' provided for non-AEAD cipher suite " + KeyTypeName(p->type);
      if (!w.error.empty()) user_error = true;
      if (w.error.empty()) {
        auto ct = p->Encrypt(w.key_version, w.context, w.nonce, w.plaintext, w.aad);
        if (!ct.ok()) {
          (ct.status().code() == Code::kInvalidRequest ? user_error : internal_error) = true;
          w.error = ct.status().message();
        } else {
          successes = true;
          r["ciphertext"] = std::move(*ct);
          r["key_version"] = w.key_version == 0 ? p->latest_version : w.key_version;
        }
      }
      Wipe(w.plaintext);
      if (!w.error.empty()) r["error"] = w.error;
      if (!w.reference.empty()) r["reference"] = w.reference;
      results.push_back(std::move(r));
    }
    ResponsePtr resp = Response::WithData({{"batch_results", std::move(results)}});
    if (req.operation == Operation::kCreate && !upserted)
      resp->warnings.push_back("Attempted creation of the key during the encrypt operation, but it was created beforehand");
    return BatchStatus(req, d, std::move(resp), successes, user_error, internal_error);
  }

  // Shared by decrypt and rewrap: the decoded inputs of one batch element.
  struct DecItem {
    std::string ciphertext, context, nonce, aad, reference, error;
    int key_version = 0;
  };
  // Decodes one element's base64 context, nonce and associated data; a bad one (or a
  // missing ciphertext) becomes that element's error.
  static void DecodeDecInputs(const std::string& ctx_b64, const std::string& nonce_b64, const std::string& aad_b64,
                              DecItem* w) {
    if (w->ciphertext.empty()) {
      w->error = "missing ciphertext to decrypt";
      return;
    }
    for (auto [src, dst] : {std::pair{&ctx_b64, &w->context}, {&nonce_b64, &w->nonce}, {&aad_b64, &w->aad}}) {
      if (src->empty() || !w->error.empty()) continue;
      auto dec = DecodeB64(*src);
      if (!dec.ok()) w->error = dec.status().message();
      else *dst = std::move(*dec);
    }
  }
  Result<std::vector<DecItem>> DecodeDecItems(FieldData& d, bool* is_batch) {
    ASSIGN_OR_RETURN(auto batch, BatchInput(d));
    *is_batch = batch.has_value();
    std::vector<DecItem> out;
    if (!batch) {
      // The common single-item request reads its fields directly (no batch element built).
      DecItem& w = out.emplace_back();
      w.ciphertext = d.GetString("ciphertext");
      if (w.ciphertext.empty()) return Bad("missing ciphertext to decrypt");
      w.key_version = static_cast<int>(d.GetInt("key_version"));
      DecodeDecInputs(d.GetString("context"), d.GetString("nonce"), d.GetString("associated_data"), &w);
      return out;
    }
    const std::vector<json>& items = *batch;
    out.resize(items.size());
    bool context_set = false;
    for (size_t i = 0; i < items.size(); ++i) {
      DecItem& w = out[i];
      ASSIGN_OR_RETURN(w.ciphertext, ItemString(items[i], i, "ciphertext"));
      ASSIGN_OR_RETURN(std::string ctx_b64, ItemString(items[i], i, "context"));
      ASSIGN_OR_RETURN(std::string nonce_b64, ItemString(items[i], i, "nonce"));
      ASSIGN_OR_RETURN(std::string aad_b64, ItemString(items[i], i, "associated_data"));
      ASSIGN_OR_RETURN(w.reference, ItemString(items[i], i, "reference"));
      ASSIGN_OR_RETURN(w.key_version, ItemInt(items[i], i, "key_version"));
      if (i == 0) context_set = !ctx_b64.empty();
      if (ctx_b64.empty() == context_set) return Bad("context should be set either in all the request blocks or in none");
      DecodeDecInputs(ctx_b64, nonce_b64, aad_b64, &w);
    }
    return out;
  }

  Result<ResponsePtr> Decrypt(Request& req, FieldData& d) {
    bool is_batch = false;
    ASSIGN_OR_RETURN(std::vector<DecItem> work, DecodeDecItems(d, &is_batch));
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    if (!is_batch) {
      const DecItem& w = work[0];
      if (!w.error.empty()) return Bad(w.error);
      ASSIGN_OR_RETURN(std::string pt, p->Decrypt(w.context, w.nonce, w.ciphertext, w.aad));
      json data = {{"plaintext", Base64Encode(pt)}};
      Wipe(pt);
      return Response::WithData(std::move(data));
    }
    json results = json::array();
    bool successes = false, user_error = false, internal_error = false;
    for (size_t i = 0; i < work.size(); ++i) {
      DecItem& w = work[i];
      json r = json::object();
      if (!w.error.empty()) user_error = true;
      if (w.error.empty()) {
        auto pt = p->Decrypt(w.context, w.nonce, w.ciphertext, w.aad);
        if (!pt.ok()) {
          (pt.status().code() == Code::kInvalidRequest ? user_error : internal_error) = true;
          w.error = pt.status().message();
        } else {
          successes = true;
          r["plaintext"] = Base64Encode(*pt);
          Wipe(*pt);
        }
      }
      if (!w.error.empty()) r["error"] = w.error;
      if (!w.reference.empty()) r["reference"] = w.reference;
      results.push_back(std::move(r));
    }
    return BatchStatus(req, d, Response::WithData({{"batch_results", std::move(results)}}), successes, user_error,
                       internal_error);
  }

  Result<ResponsePtr> Rewrap(Request& req, FieldData& d) {
    bool is_batch = false;
    ASSIGN_OR_RETURN(std::vector<DecItem> work, DecodeDecItems(d, &is_batch));
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    json results = json::array();
    bool successes = false, user_error = false, internal_error = false;
    for (size_t i = 0; i < work.size(); ++i) {
      DecItem& w = work[i];
      json r = json::object();
      if (!w.error.empty()) user_error = true;
      if (w.error.empty()) {
        auto pt = p->Decrypt(w.context, w.nonce, w.ciphertext, w.aad);
        if (pt.ok()) {
          auto ct = p->Encrypt(w.key_version, w.context, w.nonce, *pt, w.aad);
          Wipe(*pt);
          if (ct.ok()) {
            successes = true;
            r["ciphertext"] = *ct;
            r["key_version"] = w.key_version == 0 ? p->latest_version : w.key_version;
          } else {
            pt = ct.status();
          }
        }
        if (!pt.ok()) {
          if (!is_batch) return pt.status();
          (pt.status().code() == Code::kInvalidRequest ? user_error : internal_error) = true;
          w.error = pt.status().message();
        }
      }
      if (!w.error.empty()) r["error"] = w.error;
      if (!w.reference.empty()) r["reference"] = w.reference;
      results.push_back(std::move(r));
    }
    if (is_batch)
      return BatchStatus(req, d, Response::WithData({{"batch_results", std::move(results)}}), successes, user_error,
                         internal_error);
    if (!work[0].error.empty()) return Bad(work[0].error);
    return Response::WithData({{"ciphertext", results[0]["ciphertext"]}, {"key_version", results[0]["key_version"]}});
  }

  Result<ResponsePtr> DataKey(Request&, FieldData& d) {
    std::string kind = d.GetString("plaintext");
    bool with_plaintext;
    if (kind == "plaintext") with_plaintext = true;
    else if (kind == "wrapped") with_plaintext = false;
    else return Bad("Invalid path");
    std::string ctx, nonce;
    if (auto c = d.GetString("context"); !c.empty()) {
      ASSIGN_OR_RETURN(ctx, DecodeB64(c));
    }
    if (auto n = d.GetString("nonce"); !n.empty()) {
      ASSIGN_OR_RETURN(nonce, DecodeB64(n));
    }
    int64_t bits = d.GetInt("bits");
    if (bits != 128 && bits != 256 && bits != 512) return Bad("invalid bits value");
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    int ver = int(d.GetInt("key_version"));
    SecureString key(RandomBytes(size_t(bits / 8)));
    ASSIGN_OR_RETURN(std::string ct, p->Encrypt(ver, ctx, nonce, key.str(), ""));
    json data = {{"ciphertext", ct}, {"key_version", ver == 0 ? p->latest_version : ver}};
    if (with_plaintext) data["plaintext"] = Base64Encode(key.view());
    return Response::WithData(std::move(data));
  }

  // ---- random / hash ----
  Result<ResponsePtr> Random(Request&, FieldData& d) {
    std::string source = "platform";
    int64_t bytes = d.GetInt("bytes");
    std::string s = d.GetString("source"), ub = d.GetString("urlbytes");
    auto valid_source = [](const std::string& x) { return x == "platform" || x == "seal" || x == "all"; };
    auto parse_count = [](const std::string& x) -> Result<int64_t> {
      try {
        size_t pos = 0;
        long long v = std::stoll(x, &pos);
        if (pos == x.size()) return int64_t(v);
      } catch (...) {
      }
      return Bad("error parsing url-set byte count: strconv.Atoi: parsing \"" + x + "\": invalid syntax");
    };
    if (!s.empty() && ub.empty()) {
      if (valid_source(s)) source = s;
      else {
        ASSIGN_OR_RETURN(bytes, parse_count(s));
      }
    } else if (!s.empty()) {
      source = s;
      ASSIGN_OR_RETURN(bytes, parse_count(ub));
    }
    std::string format = d.GetString("format");
    if (format != "hex" && format != "base64")
      return Bad("unsupported encoding format \"" + format + "\"; must be \"hex\" or \"base64\"");
    if (!valid_source(source))
      return Bad("unsupported entropy source \"" + source + "\"; must be \"platform\" or \"seal\", or \"all\"");
    if (bytes < 1) return Bad("\"bytes\" cannot be less than 1");
    if (bytes > kMaxRandomBytes) return Bad("\"bytes\" should be less than " + std::to_string(kMaxRandomBytes));
    std::string r = RandomBytes(size_t(bytes));
    return Data({{"random_bytes", format == "hex" ? HexEncode(r) : Base64Encode(r)}});
  }

  Result<ResponsePtr> HashPath(Request&, FieldData& d) {
    auto input = Base64Decode(d.GetString("input"));
    if (!input) return Bad("unable to decode input as base64: " + IllegalBase64(d.GetString("input")));
    std::string alg = d.GetString("urlalgorithm");
    if (alg.empty()) alg = d.GetString("algorithm");
    std::string format = d.GetString("format");
    if (format != "hex" && format != "base64")
      return Bad("unsupported encoding format " + format + "; must be \"hex\" or \"base64\"");
    auto h = crypto::ParseHash(alg);
    if (!h || *h == crypto::Hash::kNone) return Bad("unsupported algorithm " + alg);
    ASSIGN_OR_RETURN(std::string sum, crypto::Digest(*h, *input));
    return Data({{"sum", format == "hex" ? HexEncode(sum) : Base64Encode(sum)}});
  }

  // ---- hmac ----
  Result<ResponsePtr> HmacPath(Request&, FieldData& d) {
    std::string alg = d.GetString("urlalgorithm");
    if (alg.empty()) alg = d.Has("hash_algorithm") ? d.GetString("hash_algorithm") : d.GetString("algorithm");
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    int ver = int(d.GetInt("key_version"));
    if (ver == 0) ver = p->latest_version;
    else if (ver != p->latest_version && p->min_encryption_version > 0 && ver < p->min_encryption_version)
      return Bad("cannot generate HMAC: version is too old (disallowed by policy)");
    auto key = p->HmacKeyFor(ver);
    if (!key.ok()) return Bad(key.status().message());
    SecureString k(std::move(*key));
    auto h = crypto::ParseHash(alg);
    if (!h || *h == crypto::Hash::kNone) return Bad("unsupported algorithm " + alg);
    ASSIGN_OR_RETURN(auto batch, BatchInput(d));
    std::vector<json> items;
    if (batch) items = std::move(*batch);
    else items.push_back({{"input", d.GetString("input")}});
    json results = json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      json r = json::object();
      ASSIGN_OR_RETURN(std::string ref, ItemString(items[i], i, "reference"));
      auto in = items[i].find("input");
      if (in == items[i].end() || !in->is_string()) {
        r["error"] = "missing input for HMAC";
      } else if (auto dec = Base64Decode(in->get<std::string>()); !dec) {
        r["error"] = "unable to decode input as base64: " + IllegalBase64(in->get<std::string>());
      } else {
        ASSIGN_OR_RETURN(std::string mac, crypto::Hmac(*h, k.view(), *dec));
        r["hmac"] = "vault:v" + std::to_string(ver) + ":" + Base64Encode(mac);
      }
      if (!ref.empty()) r["reference"] = ref;
      results.push_back(std::move(r));
    }
    if (batch) return Data({{"batch_results", std::move(results)}});
    if (results[0].contains("error")) return Bad(results[0]["error"].get<std::string>());
    return Data({{"hmac", results[0]["hmac"]}});
  }

  Result<ResponsePtr> VerifyHmac(FieldData& d, std::vector<json> items, bool is_batch) {
    std::string alg = d.GetString("urlalgorithm");
    if (alg.empty()) alg = d.Has("hash_algorithm") ? d.GetString("hash_algorithm") : d.GetString("algorithm");
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    auto h = crypto::ParseHash(alg);
    if (!h || *h == crypto::Hash::kNone) return Bad("unsupported algorithm " + alg);
    json results = json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      json r = {{"valid", false}};
      ASSIGN_OR_RETURN(std::string ref, ItemString(items[i], i, "reference"));
      ASSIGN_OR_RETURN(std::string mac, ItemString(items[i], i, "hmac"));
      ASSIGN_OR_RETURN(std::string in_b64, ItemString(items[i], i, "input"));
      std::string err;
      auto input = Base64Decode(in_b64);
      if (!input) {
        err = "unable to decode input as base64: " + IllegalBase64(in_b64);
      } else if (mac.compare(0, 7, "vault:v") != 0) {
        err = "invalid HMAC to verify: no prefix";
      } else {
        auto parsed = ParseVersioned(mac, "HMAC");
        if (!parsed.ok()) {
          err = parsed.status().message();
        } else if (parsed->first > p->latest_version) {
          err = "invalid HMAC: version is too new";
        } else if (p->min_decryption_version > 0 && parsed->first < p->min_decryption_version) {
          err = "cannot verify HMAC: version is too old (disallowed by policy)";
        } else {
          auto key = p->HmacKeyFor(parsed->first);
          auto given = Base64Decode(parsed->second);
          if (!key.ok()) {
            err = key.status().message();
          } else if (!given) {
            err = "unable to decode HMAC as base64";
          } else {
            SecureString k(std::move(*key));
            ASSIGN_OR_RETURN(std::string want, crypto::Hmac(*h, k.view(), *input));
            r["valid"] = ConstantTimeEquals(want, *given);
          }
        }
      }
      if (!err.empty()) r["error"] = err;
      if (!ref.empty()) r["reference"] = ref;
      results.push_back(std::move(r));
    }
    if (is_batch) return Data({{"batch_results", std::move(results)}});
    if (results[0].contains("error")) return Bad(results[0]["error"].get<std::string>());
    return Data({{"valid", results[0]["valid"]}});
  }

  // ---- sign / verify ----
  Result<Policy::SignOptions> SignOptions(FieldData& d, const Policy& p) {
    Policy::SignOptions o;
    std::string alg = d.GetString("urlalgorithm");
    if (alg.empty()) alg = d.Has("hash_algorithm") ? d.GetString("hash_algorithm") : d.GetString("algorithm");
    if (alg.empty()) alg = "sha2-256";
    auto h = crypto::ParseHash(alg);
    if (!h) return Bad("invalid hash algorithm \"" + alg + "\"");
    o.hash = *h;
    std::string m = d.GetString("marshaling_algorithm");
    if (m == "jws") o.jws = true;
    else if (m != "asn1") return Bad("invalid marshaling type \"" + m + "\"");
    o.prehashed = d.GetBool("prehashed");
    std::string sa = d.GetString("signature_algorithm");
    if (sa.empty() || sa == "pss") o.pss = true;
    else if (sa == "pkcs1v15") o.pss = false;
    else if (IsRsa(p.type)) return Bad("unsupported rsa signature algorithm " + sa);
    std::string sl = d.GetString("salt_length");
    if (sl.empty() || sl == "auto") o.salt_len = -2;
    else if (sl == "hash") o.salt_len = -1;
    else {
      try {
        size_t pos = 0;
        int v = std::stoi(sl, &pos);
        if (pos != sl.size() || v < 0) throw std::invalid_argument("");
        o.salt_len = v;
      } catch (...) {
        return Bad("salt length must be \"auto\", \"hash\", or a non-negative integer; got \"" + sl + "\"");
      }
    }
    if (o.hash == crypto::Hash::kNone && !(IsRsa(p.type) && !o.pss && o.prehashed) && p.type != KeyType::kEd25519 &&
        !IsEcdsa(p.type))
      return Bad("hash algorithm of none is only supported with prehashed pkcs1v15 rsa signatures");
    return o;
  }

  Result<ResponsePtr> SignPath(Request&, FieldData& d) {
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    if (!SupportsSigning(p->type)) return Bad("key type " + KeyTypeName(p->type) + " does not support signing");
    ASSIGN_OR_RETURN(Policy::SignOptions o, SignOptions(d, *p));
    ASSIGN_OR_RETURN(auto batch, BatchInput(d));
    std::vector<json> items;
    if (batch) items = std::move(*batch);
    else items.push_back({{"input", d.GetString("input")}, {"context", d.GetString("context")}});
    int ver = int(d.GetInt("key_version"));
    json results = json::array();
    Status first_err;
    for (size_t i = 0; i < items.size(); ++i) {
      json r = json::object();
      ASSIGN_OR_RETURN(std::string ref, ItemString(items[i], i, "reference"));
      ASSIGN_OR_RETURN(std::string ctx_b64, ItemString(items[i], i, "context"));
      Status err;
      auto in = items[i].find("input");
      if (in == items[i].end() || !in->is_string()) {
        err = Bad("missing input");
      } else if (auto input = Base64Decode(in->get<std::string>()); !input) {
        err = Bad("unable to decode input as base64: " + IllegalBase64(in->get<std::string>()));
      } else {
        auto ctx = Base64Decode(ctx_b64);
        if (!ctx) {
          err = Bad("failed to base64-decode context");
        } else {
          auto sig = p->Sign(ver, *ctx, *input, o);
          if (!sig.ok()) {
            err = sig.status();
          } else {
            r["signature"] = sig->signature;
            r["key_version"] = sig->version;
            if (!sig->public_key.empty()) r["public_key"] = Base64Encode(sig->public_key);
          }
        }
      }
      if (!err.ok()) {
        if (!batch) return err;
        r["error"] = err.message();
      }
      if (!ref.empty()) r["reference"] = ref;
      results.push_back(std::move(r));
    }
    if (batch) return Data({{"batch_results", std::move(results)}});
    return Data(std::move(results[0]));
  }

  Result<ResponsePtr> VerifyPath(Request&, FieldData& d) {
    ASSIGN_OR_RETURN(auto batch, BatchInput(d));
    std::vector<json> items;
    if (batch) {
      items = std::move(*batch);
    } else {
      json it = {{"input", d.GetString("input")}, {"context", d.GetString("context")}};
      if (d.Has("signature")) it["signature"] = d.GetString("signature");
      if (d.Has("hmac")) it["hmac"] = d.GetString("hmac");
      items.push_back(std::move(it));
    }
    bool sig_found = false, hmac_found = false, missing = false;
    for (auto& v : items) {
      if (v.contains("signature")) sig_found = true;
      else if (v.contains("hmac")) hmac_found = true;
      else missing = true;
    }
    if (!batch && sig_found && hmac_found) return Bad("provide one of 'signature' or 'hmac'");
    if (!batch && !sig_found && !hmac_found) return Bad("neither a 'signature' nor an 'hmac' were given to verify");
    if (sig_found && hmac_found) return Bad("elements of batch_input must all provide 'signature' or all provide 'hmac'");
    if (missing && sig_found) return Bad("some elements of batch_input are missing 'signature'");
    if (missing && hmac_found) return Bad("some elements of batch_input are missing 'hmac'");
    if (missing) return Bad("no batch_input elements have 'signature' or 'hmac'");
    if (hmac_found) return VerifyHmac(d, std::move(items), batch.has_value());

    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return Bad("encryption key not found");
    if (!SupportsSigning(p->type)) return Bad("key type " + KeyTypeName(p->type) + " does not support verification");
    ASSIGN_OR_RETURN(Policy::SignOptions o, SignOptions(d, *p));
    json results = json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      json r = {{"valid", false}};
      ASSIGN_OR_RETURN(std::string ref, ItemString(items[i], i, "reference"));
      ASSIGN_OR_RETURN(std::string ctx_b64, ItemString(items[i], i, "context"));
      ASSIGN_OR_RETURN(std::string sig, ItemString(items[i], i, "signature"));
      Status err;
      auto in = items[i].find("input");
      if (in == items[i].end() || !in->is_string()) {
        err = Bad("missing input");
      } else if (auto input = Base64Decode(in->get<std::string>()); !input) {
        err = Bad("unable to decode input as base64: " + IllegalBase64(in->get<std::string>()));
      } else if (auto ctx = Base64Decode(ctx_b64); !ctx) {
        err = Bad("failed to base64-decode context");
      } else {
        auto valid = p->Verify(*ctx, *input, sig, o);
        if (!valid.ok()) err = valid.status();
        else r["valid"] = *valid;
      }
      if (!err.ok()) {
        if (!batch) return err;
        r["error"] = err.message();
      }
      if (!ref.empty()) r["reference"] = ref;
      results.push_back(std::move(r));
    }
    if (batch) return Data({{"batch_results", std::move(results)}});
    return Data({{"valid", results[0]["valid"]}});
  }

  // ---- export / backup / restore ----
  Result<ResponsePtr> Export(Request&, FieldData& d) {
    std::string et = d.GetString("type");
    if (et != "encryption-key" && et != "signing-key" && et != "hmac-key" && et != "public-key")
      return Bad("invalid export type: " + et);
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Get(d.GetString("name")));
    if (!p) return ResponsePtr();
    if (!p->exportable && et != "public-key") return Bad("private key material is not exportable");
    if (et == "encryption-key" && !SupportsEncryption(p->type)) return Bad("encryption not supported for the key");
    if (et == "signing-key" && !SupportsSigning(p->type)) return Bad("signing not supported for the key");
    if (et == "public-key" && !SupportsSigning(p->type)) return Bad("public key not available for the key type");
    auto one = [&](const KeyVersion& kv) -> Result<std::string> {
      if (et == "hmac-key") return Base64Encode(p->type == KeyType::kHmac ? kv.key.view() : kv.hmac_key.view());
      if (et == "encryption-key" && IsSymmetricAead(p->type)) return Base64Encode(kv.key.view());
      if ((et == "encryption-key" || et == "signing-key") && IsRsa(p->type)) {
        if (kv.public_only) return std::string();
        return crypto::RsaPrivateKeyToPkcs1Pem(*kv.pkey);
      }
      if (et == "signing-key" && IsEcdsa(p->type)) {
        if (kv.public_only) return std::string();
        ASSIGN_OR_RETURN(std::string pem, crypto::EcPrivateKeyToSec1Pem(*kv.pkey));
        std::string trimmed(TrimSpace(pem));
        Wipe(pem);
        return trimmed;
      }
      if (et == "signing-key" && p->type == KeyType::kEd25519) return Base64Encode(kv.key.view());
      if (et == "public-key" && p->type == KeyType::kEd25519) return kv.public_key;
      if (et == "public-key" && IsEcdsa(p->type)) return std::string(TrimSpace(kv.public_key));
      if (et == "public-key" && IsRsa(p->type)) return kv.public_key;
      return Status::Internal("unknown key type " + KeyTypeName(p->type) + " for export type " + et);
    };
    json out = json::object();
    std::string version = d.GetString("version");
    if (version.empty()) {
      for (auto& [v, kv] : p->keys) {
        if (v < p->min_decryption_version) continue;
        ASSIGN_OR_RETURN(std::string s, one(*kv));
        out[std::to_string(v)] = std::move(s);
      }
    } else {
      int v = 0;
      if (version == "latest") {
        v = p->latest_version;
      } else {
        if (version[0] == 'v') version = version.substr(1);
        try {
          size_t pos = 0;
          v = std::stoi(version, &pos);
          if (pos != version.size()) throw std::invalid_argument("");
        } catch (...) {
          return Bad("invalid key version");
        }
      }
      if (v < p->min_decryption_version) return Bad("version for export is below minimum decryption version");
      const KeyVersion* kv = p->Get(v);
      if (!kv) return Bad("version does not exist or cannot be found");
      ASSIGN_OR_RETURN(std::string s, one(*kv));
      out[std::to_string(v)] = std::move(s);
    }
    return Data({{"name", p->name}, {"type", KeyTypeName(p->type)}, {"keys", std::move(out)}});
  }

  Result<ResponsePtr> Backup(Request&, FieldData& d) {
    std::string name = d.GetString("name");
    std::string err;
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Update(name, [&](Policy& p) -> Status {
      if (!p.exportable) return Status::Internal("exporting is disallowed on the policy");
      if (!p.allow_plaintext_backup) return Status::Internal("plaintext backup is disallowed on the policy");
      p.backup_info = {{"time", FormatRFC3339Nano(std::chrono::system_clock::now())}, {"version", p.latest_version}};
      return Status::Ok();
    }));
    if (!p) return Status::Internal("key \"" + name + "\" not found");
    json j = {{"policy", p->ToJson()}, {"archived_keys", {{"keys", json::array()}}}};
    std::string raw = j.dump();
    std::string b64 = Base64Encode(raw);
    Wipe(raw);
    return Data({{"backup", std::move(b64)}});
  }

  Result<ResponsePtr> Restore(Request&, FieldData& d) {
    std::string b64 = d.GetString("backup");
    if (b64.empty()) return Bad("'backup' must be supplied");
    auto raw = Base64Decode(b64);
    if (!raw) return Status::Internal("failed to decode backup: " + IllegalBase64(b64));
    json j = json::parse(*raw, nullptr, false);
    Wipe(*raw);
    if (j.is_discarded() || !j.is_object() || !j.contains("policy") || !j["policy"].is_object())
      return Status::Internal("failed to restore the policy: invalid backup");
    ASSIGN_OR_RETURN(std::shared_ptr<Policy> p, Policy::FromJson(j["policy"]));
    std::string name = d.GetString("name");
    if (name.empty()) name = p->name;
    if (name.empty()) return Status::Internal("invalid key name");
    if (!d.GetBool("force")) {
      ASSIGN_OR_RETURN(PolicyPtr existing, keys_.Get(name));
      if (existing) return Status::Internal("key \"" + name + "\" already exists");
    }
    p->name = name;
    p->restore_info = {{"time", FormatRFC3339Nano(std::chrono::system_clock::now())}, {"version", p->latest_version}};
    RETURN_IF_ERROR(keys_.Put(std::move(p)));
    return ResponsePtr();
  }

  // ---- BYOK ----
  Result<PolicyPtr> WrappingKey() {
    ASSIGN_OR_RETURN(auto res, wrapping_.GetOrCreate("wrapping-key", []() -> Result<std::shared_ptr<Policy>> {
      auto p = std::make_shared<Policy>();
      p->type = KeyType::kRsa4096;
      RETURN_IF_ERROR(p->RotateInMemory());
      return p;
    }));
    return res.first;
  }

  Result<ResponsePtr> ReadWrappingKey(Request&, FieldData&) {
    ASSIGN_OR_RETURN(PolicyPtr p, WrappingKey());
    return Data({{"public_key", p->keys.rbegin()->second->public_key}});
  }

  Result<std::string> Unwrap(FieldData& d) {
    std::string ct_b64 = d.GetString("ciphertext");
    if (ct_b64.empty()) return Bad("ciphertext must be provided");
    std::string hf = d.GetString("hash_function");
    crypto::Hash h;
    if (hf == "SHA1") h = crypto::Hash::kSha1;
    else if (hf == "SHA224") h = crypto::Hash::kSha224;
    else if (hf == "SHA256") h = crypto::Hash::kSha256;
    else if (hf == "SHA384") h = crypto::Hash::kSha384;
    else if (hf == "SHA512") h = crypto::Hash::kSha512;
    else return Bad("unsupported hash function: " + hf);
    auto ct = Base64Decode(ct_b64);
    if (!ct) return Bad("error decoding ciphertext: " + IllegalBase64(ct_b64));
    ASSIGN_OR_RETURN(PolicyPtr wk, WrappingKey());
    const auto& kv = wk->keys.rbegin()->second;
    size_t rsa_len = size_t((crypto::KeyBits(*kv->pkey) + 7) / 8);
    if (ct->size() <= rsa_len) return Bad("provided ciphertext is too short");
    auto eph = crypto::RsaOaepDecrypt(*kv->pkey, h, std::string_view(*ct).substr(0, rsa_len));
    if (!eph.ok()) return Bad("error decrypting the ephemeral key: " + eph.status().message());
    SecureString ephemeral(std::move(*eph));
    auto key = crypto::AesKwpUnwrap(ephemeral.view(), std::string_view(*ct).substr(rsa_len));
    if (!key.ok()) return Bad("error unwrapping the target key: " + key.status().message());
    return std::move(*key);
  }

  Result<ResponsePtr> Import(Request&, FieldData& d) {
    std::string name = d.GetString("name");
    ASSIGN_OR_RETURN(PolicyPtr existing, keys_.Get(name));
    if (existing)
      return Bad("the import path cannot be used with an existing key; use import-version to rotate an existing imported key");
    std::string ts = d.GetString("type");
    auto type = ParseKeyType(ts);
    if (!type) return Bad("unknown key type: " + ts);
    int64_t arp = d.GetInt("auto_rotate_period");
    if (arp != 0 && arp < 3600) return Bad("auto rotate period must be 0 to disable or at least an hour");
    bool derived = d.GetBool("derived");
    if (derived && !SupportsDerivation(*type)) return Bad("key derivation not supported for keys of type " + ts);
    ASSIGN_OR_RETURN(std::string material, Unwrap(d));
    SecureString m(std::move(material));
    ASSIGN_OR_RETURN(auto res, keys_.GetOrCreate(name, [&]() -> Result<std::shared_ptr<Policy>> {
      auto p = std::make_shared<Policy>();
      p->type = *type;
      p->derived = derived;
      p->exportable = d.GetBool("exportable");
      p->allow_plaintext_backup = d.GetBool("allow_plaintext_backup");
      p->auto_rotate_period = arp;
      p->imported = true;
      p->allow_imported_key_rotation = d.GetBool("allow_rotation");
      RETURN_IF_ERROR(p->ImportVersion(m.str()));
      return p;
    }));
    if (!res.second) return Bad("the import path cannot be used with an existing key; use import-version to rotate an existing imported key");
    return ResponsePtr();
  }

  Result<ResponsePtr> ImportVersion(Request&, FieldData& d) {
    std::string name = d.GetString("name");
    ASSIGN_OR_RETURN(PolicyPtr existing, keys_.Get(name));
    if (!existing) return Bad("no key found with name " + name + "; to import a new key, use the import/ endpoint");
    if (!existing->imported) return Bad("the import_version endpoint can only be used with an imported key");
    if (!existing->allow_imported_key_rotation) return Bad("rotation is disabled for this key");
    ASSIGN_OR_RETURN(std::string material, Unwrap(d));
    SecureString m(std::move(material));
    ASSIGN_OR_RETURN(PolicyPtr p, keys_.Update(name, [&](Policy& p) { return p.ImportVersion(m.str()); }));
    if (!p) return Bad("no key found with name " + name + "; to import a new key, use the import/ endpoint");
    return ResponsePtr();
  }

  // ---- cache config ----
  Result<ResponsePtr> ReadCacheConfig(Request&, FieldData&) {
    ASSIGN_OR_RETURN(auto raw, storage_->Get("config/cache"));
    int64_t size = 0;
    if (raw) {
      json j = json::parse(*raw, nullptr, false);
      if (j.is_object()) size = j.value("size", int64_t(0));
    }
    return Data({{"size", size}});
  }

  Result<ResponsePtr> WriteCacheConfig(Request&, FieldData& d) {
    int64_t size = d.GetInt("size");
    if (size != 0 && size < kMinCacheSize)
      return Bad("size must be 0 or a value greater or equal to " + std::to_string(kMinCacheSize));
    RETURN_IF_ERROR(storage_->Put("config/cache", json{{"size", size}}.dump()));
    keys_.SetCacheSize(size);
    return Data({{"size", size}});
  }

  // ---- periodic ----
  void AutoRotate() {
    auto names = keys_.List();
    if (!names.ok()) return;
    int64_t now = UnixNow();
    for (const auto& n : *names) {
      auto p = keys_.Get(n);
      if (!p.ok() || !*p || (*p)->auto_rotate_period <= 0) continue;
      if ((*p)->imported && !(*p)->allow_imported_key_rotation) continue;
      const KeyVersion* latest = (*p)->Get((*p)->latest_version);
      if (!latest || now < latest->creation_unix + (*p)->auto_rotate_period) continue;
      auto r = keys_.Update(n, [now](Policy& q) -> Status {
        const KeyVersion* l = q.Get(q.latest_version);
        if (l && now < l->creation_unix + q.auto_rotate_period) return Status::Ok();  // rotated meanwhile
        return q.RotateInMemory();
      });
      if (!r.ok()) LOG_WARN("transit: auto-rotation of key {} failed: {}", n, r.status().message());
    }
  }

  Storage* storage_;
  KeyStore keys_;
  PrefixStorage import_storage_;
  KeyStore wrapping_;  // the BYOK wrapping key, "import/policy/wrapping-key"
};

#define H(fn) [this](Request& r, FieldData& d) { return fn(r, d); }

std::vector<Path> TransitBackend::BuildPaths() {
  const std::string name = GenericNameRegex("name");
  const std::string url_alg = "(?:/(?P<urlalgorithm>\\w(?:[\\w.-]*\\w)?))?";
  std::vector<Path> ps;

  Path list;
  list.pattern = "keys/?";
  list.operations[Operation::kList] = H(ListKeys);
  list.help_synopsis = "Managed named encryption keys";
  ps.push_back(std::move(list));

  Path cfg;
  cfg.pattern = "keys/" + name + "/config";
  cfg.fields = {{"name", {FieldType::kString}},
                {"min_decryption_version", {FieldType::kInt}},
                {"min_encryption_version", {FieldType::kInt}},
                {"deletion_allowed", {FieldType::kBool}},
                {"exportable", {FieldType::kBool}},
                {"allow_plaintext_backup", {FieldType::kBool}},
                {"auto_rotate_period", {FieldType::kDurationSecond}}};
  cfg.operations[Operation::kUpdate] = H(ConfigKey);
  cfg.help_synopsis = "Configure a named encryption key";
  ps.push_back(std::move(cfg));

  Path rot;
  rot.pattern = "keys/" + name + "/rotate";
  rot.fields = {{"name", {FieldType::kString}}, {"managed_key_name", {FieldType::kString}}, {"managed_key_id", {FieldType::kString}}};
  rot.operations[Operation::kUpdate] = H(RotateKey);
  rot.help_synopsis = "Rotate named encryption key";
  ps.push_back(std::move(rot));

  Path trim;
  trim.pattern = "keys/" + name + "/trim";
  trim.fields = {{"name", {FieldType::kString}}, {"min_available_version", {FieldType::kInt}}};
  trim.operations[Operation::kUpdate] = H(TrimKey);
  trim.help_synopsis = "Trim key versions of a named key";
  ps.push_back(std::move(trim));

  framework::FieldSchema import_fields = {
      {"name", {FieldType::kString}},
      {"type", {FieldType::kString, "", "aes256-gcm96"}},
      {"ciphertext", {FieldType::kString}},
      {"hash_function", {FieldType::kString, "", "SHA256"}},
      {"allow_rotation", {FieldType::kBool}},
      {"derived", {FieldType::kBool}},
      {"context", {FieldType::kString}},
      {"exportable", {FieldType::kBool}},
      {"allow_plaintext_backup", {FieldType::kBool}},
      {"auto_rotate_period", {FieldType::kDurationSecond}},
      {"version", {FieldType::kInt}}};
  Path imp;
  imp.pattern = "keys/" + name + "/import";
  imp.fields = import_fields;
  imp.operations[Operation::kUpdate] = H(Import);
  imp.help_synopsis = "Imports an externally-generated key into a new transit key";
  ps.push_back(std::move(imp));
  Path impv;
  impv.pattern = "keys/" + name + "/import_version";
  impv.fields = import_fields;
  impv.operations[Operation::kUpdate] = H(ImportVersion);
  impv.help_synopsis = "Imports an externally-generated key into an existing imported key";
  ps.push_back(std::move(impv));

  Path key;
  key.pattern = "keys/" + name;
  key.fields = {{"name", {FieldType::kString}},
                {"type", {FieldType::kString, "", "aes256-gcm96"}},
                {"derived", {FieldType::kBool}},
                {"convergent_encryption", {FieldType::kBool}},
                {"exportable", {FieldType::kBool}},
                {"allow_plaintext_backup", {FieldType::kBool}},
                {"context", {FieldType::kString}},
                {"auto_rotate_period", {FieldType::kDurationSecond, "", 0}},
                {"key_size", {FieldType::kInt, "", 0}}};
  key.operations[Operation::kUpdate] = H(CreateKey);
  key.operations[Operation::kRead] = H(ReadKey);
  key.operations[Operation::kDelete] = H(DeleteKey);
  key.help_synopsis = "Managed named encryption keys";
  ps.push_back(std::move(key));

  Path exp;
  exp.pattern = "export/" + GenericNameRegex("type") + "/" + name + "(?:/(?P<version>\\w(?:[\\w.-]*\\w)?))?";
  exp.fields = {{"type", {FieldType::kString}}, {"name", {FieldType::kString}}, {"version", {FieldType::kString}}};
  exp.operations[Operation::kRead] = H(Export);
  exp.help_synopsis = "Export named encryption or signing key";
  ps.push_back(std::move(exp));

  Path bak;
  bak.pattern = "backup/" + name;
  bak.fields = {{"name", {FieldType::kString}}};
  bak.operations[Operation::kRead] = H(Backup);
  bak.help_synopsis = "Backup the named key";
  ps.push_back(std::move(bak));

  Path res;
  res.pattern = "restore(?:/" + name + ")?";
  res.fields = {{"name", {FieldType::kString}}, {"backup", {FieldType::kString}}, {"force", {FieldType::kBool, "", false}}};
  res.operations[Operation::kUpdate] = H(Restore);
  res.help_synopsis = "Restore the named key";
  ps.push_back(std::move(res));

  Path wk;
  wk.pattern = "wrapping_key";
  wk.operations[Operation::kRead] = H(ReadWrappingKey);
  wk.help_synopsis = "Returns the public key to use for wrapping imported keys";
  ps.push_back(std::move(wk));

  Path enc;
  enc.pattern = "encrypt/" + name;
  enc.fields = {{"name", {FieldType::kString}},
                {"plaintext", {FieldType::kString}},
                {"context", {FieldType::kString}},
                {"nonce", {FieldType::kString}},
                {"type", {FieldType::kString, "", "aes256-gcm96"}},
                {"convergent_encryption", {FieldType::kBool}},
                {"key_version", {FieldType::kInt}},
                {"associated_data", {FieldType::kString}},
                {"batch_input", {FieldType::kRaw}},
                {"partial_failure_response_code", {FieldType::kInt}}};
  enc.operations[Operation::kCreate] = H(Encrypt);
  enc.operations[Operation::kUpdate] = H(Encrypt);
  enc.exists = [this](Request& r, FieldData& d) { return EncryptExists(r, d); };
  enc.help_synopsis = "Encrypt a plaintext value or a batch of plaintext blocks using a named key";
  ps.push_back(std::move(enc));

  framework::FieldSchema dec_fields = {{"name", {FieldType::kString}},
                                       {"ciphertext", {FieldType::kString}},
                                       {"context", {FieldType::kString}},
                                       {"nonce", {FieldType::kString}},
                                       {"key_version", {FieldType::kInt}},
                                       {"associated_data", {FieldType::kString}},
                                       {"batch_input", {FieldType::kRaw}},
                                       {"partial_failure_response_code", {FieldType::kInt}}};
  Path dec;
  dec.pattern = "decrypt/" + name;
  dec.fields = dec_fields;
  dec.operations[Operation::kUpdate] = H(Decrypt);
  dec.help_synopsis = "Decrypt a ciphertext value using a named key";
  ps.push_back(std::move(dec));
  Path rw;
  rw.pattern = "rewrap/" + name;
  rw.fields = dec_fields;
  rw.operations[Operation::kUpdate] = H(Rewrap);
  rw.help_synopsis = "Rewrap ciphertext";
  ps.push_back(std::move(rw));

  Path dk;
  dk.pattern = "datakey/" + GenericNameRegex("plaintext") + "/" + name;
  dk.fields = {{"name", {FieldType::kString}},
               {"plaintext", {FieldType::kString}},
               {"context", {FieldType::kString}},
               {"nonce", {FieldType::kString}},
               {"bits", {FieldType::kInt, "", 256}},
               {"key_version", {FieldType::kInt}}};
  dk.operations[Operation::kUpdate] = H(DataKey);
  dk.help_synopsis = "Generate a data key";
  ps.push_back(std::move(dk));

  Path rnd;
  rnd.pattern = "random(?:/(?P<source>\\w(?:[\\w.-]*\\w)?))?(?:/(?P<urlbytes>\\w(?:[\\w.-]*\\w)?))?";
  rnd.fields = {{"urlbytes", {FieldType::kString}},
                {"source", {FieldType::kString}},
                {"bytes", {FieldType::kInt, "", 32}},
                {"format", {FieldType::kString, "", "base64"}}};
  rnd.operations[Operation::kUpdate] = H(Random);
  rnd.help_synopsis = "Generate random bytes";
  ps.push_back(std::move(rnd));

  Path hash;
  hash.pattern = "hash" + url_alg;
  hash.fields = {{"input", {FieldType::kString}},
                 {"format", {FieldType::kString, "", "hex"}},
                 {"algorithm", {FieldType::kString, "", "sha2-256"}},
                 {"urlalgorithm", {FieldType::kString}}};
  hash.operations[Operation::kUpdate] = H(HashPath);
  hash.help_synopsis = "Generate a hash sum for input data";
  ps.push_back(std::move(hash));

  Path hm;
  hm.pattern = "hmac/" + name + url_alg;
  hm.fields = {{"name", {FieldType::kString}},
               {"input", {FieldType::kString}},
               {"algorithm", {FieldType::kString, "", "sha2-256"}},
               {"hash_algorithm", {FieldType::kString}},
               {"urlalgorithm", {FieldType::kString}},
               {"key_version", {FieldType::kInt}},
               {"batch_input", {FieldType::kRaw}}};
  hm.operations[Operation::kUpdate] = H(HmacPath);
  hm.help_synopsis = "Generate an HMAC for input data using the named key";
  ps.push_back(std::move(hm));

  framework::FieldSchema sig_fields = {{"name", {FieldType::kString}},
                                       {"input", {FieldType::kString}},
                                       {"context", {FieldType::kString}},
                                       {"hash_algorithm", {FieldType::kString}},
                                       {"algorithm", {FieldType::kString, "", "sha2-256"}},
                                       {"urlalgorithm", {FieldType::kString}},
                                       {"key_version", {FieldType::kInt}},
                                       {"prehashed", {FieldType::kBool}},
                                       {"signature_algorithm", {FieldType::kString}},
                                       {"marshaling_algorithm", {FieldType::kString, "", "asn1"}},
                                       {"salt_length", {FieldType::kString, "", "auto"}},
                                       {"batch_input", {FieldType::kRaw}},
                                       {"signature", {FieldType::kString}},
                                       {"hmac", {FieldType::kString}}};
  Path sign;
  sign.pattern = "sign/" + name + url_alg;
  sign.fields = sig_fields;
  sign.fields.erase("signature");
  sign.fields.erase("hmac");
  sign.operations[Operation::kUpdate] = H(SignPath);
  sign.help_synopsis = "Generate a signature for input data using the named key";
  ps.push_back(std::move(sign));
  Path ver;
  ver.pattern = "verify/" + name + url_alg;
  ver.fields = sig_fields;
  ver.fields.erase("key_version");
  ver.operations[Operation::kUpdate] = H(VerifyPath);
  ver.help_synopsis = "Verify a signature or HMAC for input data created using the named key";
  ps.push_back(std::move(ver));

  Path cc;
  cc.pattern = "cache-config";
  cc.fields = {{"size", {FieldType::kInt, "", 0}}};
  cc.operations[Operation::kRead] = H(ReadCacheConfig);
  cc.operations[Operation::kUpdate] = H(WriteCacheConfig);
  cc.help_synopsis = "Configures a new cache of the specified size";
  ps.push_back(std::move(cc));
  return ps;
}

#undef H

}  // namespace

Result<std::unique_ptr<framework::Backend>> Factory(const framework::BackendConfig& config) {
  if (!config.storage) return Status::Internal("transit: no storage configured");
  auto b = std::make_unique<TransitBackend>(config);
  return std::unique_ptr<framework::Backend>(std::move(b));
}

}  // namespace tresor::transit
