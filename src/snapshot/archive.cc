#include "snapshot/archive.h"

#include <zlib.h>

#include <array>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/hash.h"

namespace tresor::snapshot {

namespace {

constexpr std::string_view kMetaName = "meta.json";
constexpr std::string_view kStateName = "state.bin";
constexpr std::string_view kSumsName = "SHA256SUMS";
constexpr std::string_view kSealedSumsName = "SHA256SUMS.sealed";
constexpr std::string_view kOpenFailed = "failed to open the sealed hashes";
constexpr size_t kBlock = 512;

// ---- protobuf varints (state.bin) ----

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    auto b = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool GetBytes(std::string_view* in, uint64_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// ---- gzip ----

// Feeds pieces through one deflate stream into `out`.
class Deflater {
 public:
  explicit Deflater(std::string* out) : out_(out) {
    // 15 + 16: gzip wrapper. Level 1: values are barrier ciphertext and do not compress;
    // keys and framing do, at a fraction of the default level's CPU.
    ok_ = deflateInit2(&z_, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  Status Add(std::string_view data) { return Run(data, Z_NO_FLUSH); }
  Status Finish() { return Run({}, Z_FINISH); }

 private:
  Status Run(std::string_view data, int flush) {
    if (!ok_) return Status::Internal("failed to compress snapshot: zlib init failed");
    // zlib's avail_in is 32-bit: feed large pieces in slices.
    do {
      size_t n = std::min<size_t>(data.size(), 1u << 30);
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      z_.avail_in = static_cast<uInt>(n);
      const int f = n == data.size() ? flush : Z_NO_FLUSH;
      int rc;
      do {
        size_t used = out_->size();
        out_->resize(used + 64 * 1024);
        z_.next_out = reinterpret_cast<Bytef*>(out_->data() + used);
        z_.avail_out = 64 * 1024;
        rc = deflate(&z_, f);
        out_->resize(used + 64 * 1024 - z_.avail_out);
        if (rc == Z_STREAM_ERROR) return Status::Internal("failed to compress snapshot");
      } while (z_.avail_out == 0 || (f == Z_FINISH && rc != Z_STREAM_END));
      data.remove_prefix(n);
    } while (!data.empty());
    return Status::Ok();
  }

  z_stream z_{};
  std::string* out_;
  bool ok_ = false;
};

// ---- tar (POSIX ustar, as Go's archive/tar writes small regular files) ----

void PutOctal(char* field, size_t width, uint64_t v) {
  // width-1 digits, then NUL.
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  field[width - 1] = '\0';
}

std::array<char, kBlock> TarHeader(std::string_view name, uint64_t size, int64_t mtime) {
  std::array<char, kBlock> h{};
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 100));
  PutOctal(&h[100], 8, 0600);  // mode
  PutOctal(&h[108], 8, 0);     // uid
  PutOctal(&h[116], 8, 0);     // gid
  PutOctal(&h[124], 12, size);
  PutOctal(&h[136], 12, static_cast<uint64_t>(mtime));
  h[156] = '0';  // regular file
  std::memcpy(&h[257], "ustar\0" "00", 8);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  PutOctal(&h[148], 7, sum);  // six digits, NUL, then the space already there
  return h;
}

Status AddTarFile(Deflater* z, std::string_view name, std::string_view data, int64_t mtime) {
  auto h = TarHeader(name, data.size(), mtime);
  RETURN_IF_ERROR(z->Add({h.data(), h.size()}));
  RETURN_IF_ERROR(z->Add(data));
  static const char kZeros[kBlock] = {};
  if (size_t pad = (kBlock - data.size() % kBlock) % kBlock) RETURN_IF_ERROR(z->Add({kZeros, pad}));
  return Status::Ok();
}

std::optional<uint64_t> ParseNumber(std::string_view f) {
  if (!f.empty() && (static_cast<unsigned char>(f[0]) & 0x80)) {  // GNU base-256
    if (f[0] & 0x40) return std::nullopt;  // negative
    uint64_t v = static_cast<unsigned char>(f[0]) & 0x7f;
    for (size_t i = 1; i < f.size(); ++i) {
      if (v >> 56) return std::nullopt;  // beyond 64 bits
      v = (v << 8) | static_cast<unsigned char>(f[i]);
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < f.size() && f[i] == ' ') ++i;
  bool digits = false;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i) {
    if (v >> 60) return std::nullopt;
    v = (v << 3) | uint64_t(f[i] - '0');
    digits = true;
  }
  for (; i < f.size(); ++i)
    if (f[i] != ' ' && f[i] != '\0') return std::nullopt;
  if (!digits) return 0;
  return v;
}

std::string_view CString(std::string_view f) { return f.substr(0, std::min(f.size(), f.find('\0'))); }

// The records of a pax extended header ("<len> key=value\n") that matter here.
// `size` stays -1 unless the header gives one.
void ParsePax(std::string_view data, std::optional<std::string>* path, int64_t* size) {
  while (!data.empty()) {
    size_t sp = data.find(' ');
    if (sp == std::string_view::npos) return;
    uint64_t len = 0;
    for (char c : data.substr(0, sp)) {
      if (c < '0' || c > '9') return;
      len = len * 10 + uint64_t(c - '0');
    }
    if (len <= sp + 1 || len > data.size()) return;
    std::string_view rec = data.substr(sp + 1, len - sp - 2);  // without the newline
    size_t eq = rec.find('=');
    if (eq != std::string_view::npos) {
      std::string_view k = rec.substr(0, eq), v = rec.substr(eq + 1);
      if (k == "path") *path = std::string(v);
      if (k == "size" && !v.empty() && v.size() <= 18 &&
          v.find_first_not_of("0123456789") == std::string_view::npos) {
        int64_t n = 0;
        for (char c : v) n = n * 10 + (c - '0');
        *size = n;
      }
    }
    data.remove_prefix(len);
  }
}

// Values are barrier ciphertext, which does not compress: a real snapshot inflates to
// about its own size, so far more than that is a bomb, refused before memory runs out.
uint64_t InflateLimit(size_t compressed) {
  return std::min<uint64_t>(kMaxStateBytes, uint64_t(compressed) * 64 + (64u << 20));
}

struct TarFile {
  std::string name;
  std::string_view data;
};

// Every regular file of the archive, in order. Errors read like Go's archive/tar.
Result<std::vector<TarFile>> ParseTar(std::string_view tar) {
  auto fail = [](std::string_view why) {
    return Status::Corruption("failed to read snapshot file: failed reading snapshot: " + std::string(why));
  };
  std::vector<TarFile> files;
  std::optional<std::string> next_name;
  int64_t next_size = -1;
  while (true) {
    if (tar.empty()) return files;  // Go accepts an archive without the end blocks
    if (tar.size() < kBlock) return fail("unexpected EOF");
    std::string_view h = tar.substr(0, kBlock);
    if (h.find_first_not_of('\0') == std::string_view::npos) return files;  // end of archive
    unsigned usum = 0;
    int ssum = 0;
    for (size_t i = 0; i < kBlock; ++i) {
      char c = (i >= 148 && i < 156) ? ' ' : h[i];
      usum += static_cast<unsigned char>(c);
      ssum += static_cast<signed char>(c);
    }
    auto want = ParseNumber(h.substr(148, 8));
    if (!want || (*want != usum && int64_t(*want) != ssum)) return fail("archive/tar: invalid tar header");
    auto size = ParseNumber(h.substr(124, 12));
    if (!size) return fail("archive/tar: invalid tar header");
    if (next_size >= 0) size = static_cast<uint64_t>(next_size);
    const char type = h[156];
    tar.remove_prefix(kBlock);
    uint64_t padded = (*size + kBlock - 1) / kBlock * kBlock;
    if (*size > tar.size()) return fail("unexpected EOF");
    std::string_view data = tar.substr(0, *size);
    tar.remove_prefix(std::min<uint64_t>(padded, tar.size()));
    if (type == 'x') {  // pax header for the next file
      ParsePax(data, &next_name, &next_size);
      continue;
    }
    if (type == 'g') continue;  // global pax header: nothing here needs it
    if (type == 'L') {          // GNU long name for the next file
      next_name = std::string(CString(data));
      continue;
    }
    std::string name(CString(h.substr(0, 100)));
    if (h.substr(257, 6) == std::string_view("ustar\0", 6)) {
      std::string_view prefix = CString(h.substr(345, 155));
      if (!prefix.empty()) name = std::string(prefix) + "/" + name;
    }
    if (next_name) name = *next_name;
    next_name.reset();
    next_size = -1;
    files.push_back({std::move(name), data});
  }
}

// Go's %q closely enough for error texts.
std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

// SHA256SUMS text for the two hashed files, meta.json first.
std::string SumsText(std::string_view meta, std::string_view state) {
  return HexEncode(crypto::Sha256(meta)) + "  " + std::string(kMetaName) + "\n" +
         HexEncode(crypto::Sha256(state)) + "  " + std::string(kStateName) + "\n";
}

// Vault's check: every line names a hashed file with its sum, and every hashed file has a line.
Status VerifySums(std::string_view list, const std::map<std::string, std::string, std::less<>>& sums) {
  std::map<std::string, bool, std::less<>> seen;
  while (!list.empty()) {
    size_t nl = list.find('\n');
    std::string_view line = list.substr(0, nl);
    list.remove_prefix(nl == std::string_view::npos ? list.size() : nl + 1);
    if (line.empty()) continue;
    size_t sep = line.find("  ");
    auto sha = HexDecode(line.substr(0, sep));
    if (sep == std::string_view::npos || !sha)
      return Status::Corruption("malformed hash list");
    std::string_view file = line.substr(sep + 2);
    auto it = sums.find(file);
    if (it == sums.end()) return Status::Corruption("list missing hash for " + Quote(file));
    if (*sha != it->second) return Status::Corruption("hash check failed for " + Quote(file));
    seen[it->first] = true;
  }
  for (const auto& [file, _] : sums)
    if (!seen.count(file)) return Status::Corruption("file missing for " + Quote(file));
  return Status::Ok();
}

std::string MetaJson(const Meta& meta, uint64_t size) {
  nlohmann::json servers = nlohmann::json::array();
  for (const auto& s : meta.servers)  // raft.ServerSuffrage: 0 Voter, 1 Nonvoter
    servers.push_back({{"Suffrage", s.voter ? 0 : 1}, {"ID", s.id}, {"Address", s.address}});
  nlohmann::ordered_json j = {{"Version", meta.version},
                              {"ID", meta.id},
                              {"Index", meta.index},
                              {"Term", meta.term},
                              {"Peers", nullptr},
                              {"Configuration", {{"Servers", servers}}},
                              {"ConfigurationIndex", meta.configuration_index},
                              {"Size", size}};
  // Go's json.Encoder ends with a newline.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

// meta.json comes from the file being read: wrong types are skipped, never thrown on.
Status ParseMeta(std::string_view text, Meta* meta) {
  auto j = ParseJson(text);
  if (!j || !j->is_object()) return Status::Corruption("failed to decode snapshot metadata: invalid JSON");
  auto num = [](const nlohmann::json& o, const char* k) -> uint64_t {
    auto it = o.find(k);
    return it != o.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
  };
  auto str = [](const nlohmann::json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  meta->id = str(*j, "ID");
  meta->version = num(*j, "Version");
  meta->index = num(*j, "Index");
  meta->term = num(*j, "Term");
  meta->configuration_index = num(*j, "ConfigurationIndex");
  meta->size = num(*j, "Size");
  auto cfg = j->find("Configuration");
  if (cfg != j->end() && cfg->is_object()) {
    auto servers = cfg->find("Servers");
    if (servers != cfg->end() && servers->is_array()) {
      for (const auto& s : *servers)
        if (s.is_object()) meta->servers.push_back({str(s, "ID"), str(s, "Address"), num(s, "Suffrage") == 0});
    }
  }
  return Status::Ok();
}

}  // namespace

void AppendEntry(std::string* state, std::string_view key, std::string_view value) {
  // proto3 StorageEntry: empty fields are left out.
  std::string msg;
  msg.reserve(key.size() + value.size() + 12);
  if (!key.empty()) {
    msg.push_back(0x0a);  // field 1, length-delimited
    PutVarint(&msg, key.size());
    msg.append(key);
  }
  if (!value.empty()) {
    msg.push_back(0x12);  // field 2, length-delimited
    PutVarint(&msg, value.size());
    msg.append(value);
  }
  PutVarint(state, msg.size());
  state->append(msg);
}

Status ForEachEntry(std::string_view state, const std::function<Status(const Entry&)>& fn) {
  const Status bad = Status::Corruption("failed to read snapshot file: malformed state.bin");
  while (!state.empty()) {
    uint64_t len;
    std::string_view msg;
    if (!GetVarint(&state, &len) || !GetBytes(&state, len, &msg)) return bad;
    Entry e;
    e.encoded_size = msg.size();
    while (!msg.empty()) {
      uint64_t tag, n;
      std::string_view field;
      if (!GetVarint(&msg, &tag)) return bad;
      switch (tag & 7) {
        case 0:  // varint (seal_wrap)
          if (!GetVarint(&msg, &n)) return bad;
          break;
        case 1:
          if (!GetBytes(&msg, 8, &field)) return bad;
          break;
        case 2:
          if (!GetVarint(&msg, &n) || !GetBytes(&msg, n, &field)) return bad;
          if ((tag >> 3) == 1) e.key = field;
          if ((tag >> 3) == 2) e.value = field;
          break;
        case 5:
          if (!GetBytes(&msg, 4, &field)) return bad;
          break;
        default:
          return bad;
      }
    }
    RETURN_IF_ERROR(fn(e));
  }
  return Status::Ok();
}

Result<std::string> Write(const Meta& meta, std::string_view state, const SealFn& seal) {
  const std::string meta_json = MetaJson(meta, state.size());
  const std::string sums = SumsText(meta_json, state);
  auto sealed = seal(sums);
  if (!sealed.ok()) return Status::Internal("failed to seal snapshot hashes: " + sealed.status().message());
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::string out;
  out.reserve(state.size() + state.size() / 8 + 4096);
  Deflater z(&out);
  RETURN_IF_ERROR(AddTarFile(&z, kMetaName, meta_json, now));
  RETURN_IF_ERROR(AddTarFile(&z, kStateName, state, now));
  RETURN_IF_ERROR(AddTarFile(&z, kSumsName, sums, now));
  RETURN_IF_ERROR(AddTarFile(&z, kSealedSumsName, *sealed, now));
  static const char kEnd[2 * kBlock] = {};
  RETURN_IF_ERROR(z.Add({kEnd, sizeof kEnd}));
  RETURN_IF_ERROR(z.Finish());
  return out;
}

Result<Contents> Read(std::string_view file, const OpenFn* open) {
  Contents c;
  {
    auto tar = Gunzip(file, InflateLimit(file.size()));
    if (!tar.ok()) return tar.status();
    c.tar_ = std::make_unique<const std::string>(std::move(*tar));
  }
  ASSIGN_OR_RETURN(auto files, ParseTar(*c.tar_));
  std::string_view meta_json, sums, sealed;
  for (const auto& f : files) {
    if (f.name == kMetaName) meta_json = f.data;
    else if (f.name == kStateName) c.state = f.data;
    else if (f.name == kSumsName) sums = f.data;
    else if (f.name == kSealedSumsName) sealed = f.data;
    else return Status::Corruption("failed to read snapshot file: unexpected file " + Quote(f.name) + " in snapshot");
  }
  const std::map<std::string, std::string, std::less<>> hashes = {
      {std::string(kMetaName), crypto::Sha256(meta_json)}, {std::string(kStateName), crypto::Sha256(c.state)}};
  auto checked = [](const Status& st) {
    return Status::Corruption("failed to read snapshot file: failed checking integrity of snapshot: " + st.message());
  };
  if (open) {
    auto opened = (*open)(sealed);
    if (!opened.ok())
      return Status::Corruption("failed to read snapshot file: " + std::string(kOpenFailed) + ": " +
                                opened.status().message());
    if (Status st = VerifySums(*opened, hashes); !st.ok()) return checked(st);
  }
  if (Status st = VerifySums(sums, hashes); !st.ok()) return checked(st);
  if (Status st = ParseMeta(meta_json, &c.meta); !st.ok())
    return Status::Corruption("failed to read snapshot file: " + st.message());
  return c;
}

bool SealedSumsDidNotOpen(const Status& st) {
  return !st.ok() && st.message().find(kOpenFailed) != std::string::npos;
}

bool HasSealedSums(std::string_view file) {
  auto tar = Gunzip(file, InflateLimit(file.size()));
  if (!tar.ok()) return false;
  auto files = ParseTar(*tar);
  if (!files.ok()) return false;
  for (const auto& f : *files)
    if (f.name == kSealedSumsName && !f.data.empty()) return true;
  return false;
}

Result<std::string> Gzip(std::string_view data) {
  std::string out;
  Deflater z(&out);
  RETURN_IF_ERROR(z.Add(data));
  RETURN_IF_ERROR(z.Finish());
  return out;
}

Result<std::string> Gunzip(std::string_view data, uint64_t limit) {
  if (data.size() < 10 || static_cast<unsigned char>(data[0]) != 0x1f || static_cast<unsigned char>(data[1]) != 0x8b)
    return Status::Corruption("failed to decompress snapshot: gzip: invalid header");
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return Status::Internal("failed to decompress snapshot: zlib init failed");
  std::string out;
  auto fail = [&z](std::string why) {
    inflateEnd(&z);
    return Status::Corruption(std::move(why));
  };
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (z.avail_in == 0) {
      if (data.empty()) return fail("failed to read snapshot file: failed reading snapshot: unexpected EOF");
      size_t n = std::min<size_t>(data.size(), 1u << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      z.avail_in = static_cast<uInt>(n);
      data.remove_prefix(n);
    }
    size_t used = out.size();
    if (used >= limit)
      return fail("failed to read snapshot file: the snapshot is larger than " + std::to_string(limit >> 20) +
                  " MiB uncompressed");
    size_t chunk = std::min<uint64_t>(limit - used, 256 * 1024);
    out.resize(used + chunk);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    z.avail_out = static_cast<uInt>(chunk);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(used + chunk - z.avail_out);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      const bool crc = rc == Z_DATA_ERROR && z.msg && std::strstr(z.msg, "check");
      return fail(std::string("failed to read snapshot file: failed reading snapshot: ") +
                  (crc ? "gzip: invalid checksum" : "flate: corrupt input"));
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace tresor::snapshot
