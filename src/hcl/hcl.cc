#include "hcl/hcl.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <tuple>

namespace tresor::hcl {

const std::string& Pos::filename() const {
  static const std::string kInput = "<input>";
  return file ? *file : kInput;
}

std::string Pos::ToString() const {
  return filename() + ":" + std::to_string(line) + ":" + std::to_string(column);
}

Status ErrorAt(const Pos& pos, std::string_view msg) {
  return Status::InvalidRequest(pos.ToString() + ": " + std::string(msg));
}

const char* Value::TypeName() const {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "bool";
    case Type::kInt:
    case Type::kFloat: return "number";
    case Type::kString: return "string";
    case Type::kList: return "list";
    case Type::kObject: return "object";
  }
  return "value";
}

namespace {

// ---------------------------------------------------------------------------------------
// Lexer

enum class Tok {
  kEOF, kIdent, kString, kHeredoc, kInt, kFloat,
  kLBrace, kRBrace, kLBracket, kRBracket, kAssign, kColon, kComma,
};

struct Token {
  Tok kind = Tok::kEOF;
  std::string text;  // identifier, decoded string, or number spelling
  int64_t int_value = 0;
  double float_value = 0;
  int line = 0;
  int column = 0;
};

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEOF: return "end of input";
    case Tok::kIdent: return "identifier \"" + t.text + "\"";
    case Tok::kString: return "string \"" + t.text.substr(0, 40) + "\"";
    case Tok::kHeredoc: return "heredoc";
    case Tok::kInt:
    case Tok::kFloat: return "number " + t.text;
    case Tok::kLBrace: return "'{'";
    case Tok::kRBrace: return "'}'";
    case Tok::kLBracket: return "'['";
    case Tok::kRBracket: return "']'";
    case Tok::kAssign: return "'='";
    case Tok::kColon: return "':'";
    case Tok::kComma: return "','";
  }
  return "token";
}

bool IsIdentStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool IsIdentChar(unsigned char c) {
  return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(char(cp));
  } else if (cp < 0x800) {
    out->push_back(char(0xC0 | (cp >> 6)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(char(0xE0 | (cp >> 12)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(char(0xF0 | (cp >> 18)));
    out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  }
}

class Lexer {
 public:
  Lexer(std::string_view src, bool json, std::shared_ptr<const std::string> file)
      : src_(src), json_(json), file_(std::move(file)) {}

  Status Run(std::vector<Token>* out) {
    if (src_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;  // BOM
    for (;;) {
      RETURN_IF_ERROR(SkipBlanks());
      Token t;
      t.line = line_;
      t.column = col_;
      if (i_ >= src_.size()) {
        out->push_back(t);
        return Status::Ok();
      }
      char c = src_[i_];
      switch (c) {
        case '{': t.kind = Tok::kLBrace; Advance(); break;
        case '}': t.kind = Tok::kRBrace; Advance(); break;
        case '[': t.kind = Tok::kLBracket; Advance(); break;
        case ']': t.kind = Tok::kRBracket; Advance(); break;
        case '=': t.kind = Tok::kAssign; Advance(); break;
        case ':': t.kind = Tok::kColon; Advance(); break;
        case ',': t.kind = Tok::kComma; Advance(); break;
        case '"': RETURN_IF_ERROR(String(&t)); break;
        default:
          if (c == '<' && Peek(1) == '<' && !json_) {
            RETURN_IF_ERROR(Heredoc(&t));
          } else if (IsDigit(c) || (c == '-' && (IsDigit(Peek(1)) || (Peek(1) == '.' && IsDigit(Peek(2))))) ||
                     (c == '.' && IsDigit(Peek(1)))) {
            RETURN_IF_ERROR(Number(&t));
          } else if (IsIdentStart(static_cast<unsigned char>(c))) {
            t.kind = Tok::kIdent;
            while (i_ < src_.size() && IsIdentChar(static_cast<unsigned char>(src_[i_]))) {
              t.text.push_back(src_[i_]);
              Advance();
            }
          } else {
            std::string shown = (c >= 0x20 && c < 0x7f) ? std::string(1, c) : "\\x" + Hex2(c);
            return Error(line_, col_, "unexpected character '" + shown + "'");
          }
      }
      out->push_back(std::move(t));
    }
  }

 private:
  static std::string Hex2(char c) {
    static const char* d = "0123456789abcdef";
    unsigned char u = static_cast<unsigned char>(c);
    return std::string{d[u >> 4], d[u & 15]};
  }

  Status Error(int line, int col, std::string_view msg) const {
    return ErrorAt(Pos{file_, line, col}, msg);
  }

  char Peek(size_t k = 0) const { return i_ + k < src_.size() ? src_[i_ + k] : '\0'; }

  void Advance() {
    char c = src_[i_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++col_;
    }
  }

  Status SkipBlanks() {
    while (i_ < src_.size()) {
      char c = src_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        Advance();
      } else if (c == '#' || (c == '/' && Peek(1) == '/')) {
        while (i_ < src_.size() && src_[i_] != '\n') Advance();
      } else if (c == '/' && Peek(1) == '*') {
        int l = line_, col = col_;
        Advance();
        Advance();
        for (;;) {
          if (i_ >= src_.size()) return Error(l, col, "unterminated comment");
          if (src_[i_] == '*' && Peek(1) == '/') {
            Advance();
            Advance();
            break;
          }
          Advance();
        }
      } else {
        break;
      }
    }
    return Status::Ok();
  }

  // A quoted string. HCL1 keeps `${ ... }` interpolations verbatim; quotes inside them do
  // not end the string.
  Status String(Token* t) {
    t->kind = Tok::kString;
    int l = line_, col = col_;
    Advance();  // opening quote
    int interp = 0;
    for (;;) {
      if (i_ >= src_.size() || src_[i_] == '\n') return Error(l, col, "unterminated string");
      char c = src_[i_];
      if (c == '"' && interp == 0) {
        Advance();
        return Status::Ok();
      }
      if (c == '\\') {
        RETURN_IF_ERROR(Escape(&t->text));
        continue;
      }
      if (!json_) {
        if (c == '$' && Peek(1) == '{') {
          ++interp;
          t->text += "${";
          Advance();
          Advance();
          continue;
        }
        if (interp > 0 && c == '{') ++interp;
        if (interp > 0 && c == '}') --interp;
      }
      t->text.push_back(c);
      Advance();
    }
  }

  Status Escape(std::string* out) {
    int l = line_, col = col_;
    Advance();  // backslash
    if (i_ >= src_.size()) return Error(l, col, "unterminated string");
    char c = src_[i_];
    auto hex = [&](int n, uint32_t* cp) -> bool {
      *cp = 0;
      for (int k = 0; k < n; ++k) {
        int v = HexVal(Peek());
        if (v < 0) return false;
        *cp = (*cp << 4) | uint32_t(v);
        Advance();
      }
      return true;
    };
    auto bad = [&]() { return Error(l, col, "invalid escape sequence in string"); };
    switch (c) {
      case 'n': out->push_back('\n'); Advance(); return Status::Ok();
      case 't': out->push_back('\t'); Advance(); return Status::Ok();
      case 'r': out->push_back('\r'); Advance(); return Status::Ok();
      case 'a': out->push_back('\a'); Advance(); return Status::Ok();
      case 'b': out->push_back('\b'); Advance(); return Status::Ok();
      case 'f': out->push_back('\f'); Advance(); return Status::Ok();
      case 'v': out->push_back('\v'); Advance(); return Status::Ok();
      case '\\': case '"': case '/': case '\'':
        out->push_back(c);
        Advance();
        return Status::Ok();
      case 'x': {
        Advance();
        uint32_t cp;
        if (!hex(2, &cp)) return bad();
        out->push_back(char(cp));
        return Status::Ok();
      }
      case 'u':
      case 'U': {
        Advance();
        uint32_t cp;
        if (!hex(c == 'u' ? 4 : 8, &cp)) return bad();
        if (c == 'u' && cp >= 0xD800 && cp < 0xDC00 && Peek() == '\\' && Peek(1) == 'u') {
          // JSON surrogate pair.
          size_t save_i = i_;
          int save_l = line_, save_c = col_;
          Advance();
          Advance();
          uint32_t lo;
          if (hex(4, &lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            i_ = save_i;
            line_ = save_l;
            col_ = save_c;
          }
        }
        if (cp > 0x10FFFF) return bad();
        AppendUtf8(out, cp);
        return Status::Ok();
      }
      default:
        if (c >= '0' && c <= '7') {
          uint32_t v = 0;
          for (int k = 0; k < 3; ++k) {
            char d = Peek();
            if (d < '0' || d > '7') return bad();
            v = v * 8 + uint32_t(d - '0');
            Advance();
          }
          if (v > 255) return bad();
          out->push_back(char(v));
          return Status::Ok();
        }
        return bad();
    }
  }

  // <<EOF / <<-EOF. The value is every line up to the closing marker, each with its newline.
  // With `<<-` the closing marker's indentation is removed from every line that has it
  // (when all non-blank lines do), so indented heredocs read naturally.
  Status Heredoc(Token* t) {
    t->kind = Tok::kHeredoc;
    int l = line_, col = col_;
    Advance();
    Advance();
    bool indent = false;
    if (Peek() == '-') {
      indent = true;
      Advance();
    }
    std::string marker;
    while (i_ < src_.size() && (IsIdentChar(static_cast<unsigned char>(src_[i_])))) {
      marker.push_back(src_[i_]);
      Advance();
    }
    if (marker.empty()) return Error(l, col, "invalid heredoc: expected a marker after '<<'");
    while (Peek() == ' ' || Peek() == '\t' || Peek() == '\r') Advance();
    if (Peek() != '\n') {
      return Error(l, col, "invalid heredoc: the marker must be followed by a newline");
    }
    Advance();
    std::vector<std::string> lines;
    for (;;) {
      if (i_ >= src_.size()) {
        return Error(l, col, "unterminated heredoc: no closing \"" + marker + "\" line");
      }
      size_t eol = src_.find('\n', i_);
      if (eol == std::string_view::npos) eol = src_.size();
      std::string line(src_.substr(i_, eol - i_));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t first = line.find_first_not_of(" \t");
      size_t last = line.find_last_not_of(" \t");
      bool is_marker = first != std::string::npos &&
                       line.substr(first, last - first + 1) == marker;
      // Consume the line (but leave the closing marker's newline to the main loop).
      while (i_ < eol) Advance();
      if (is_marker) {
        std::string prefix = line.substr(0, first);
        bool strip = indent && !prefix.empty();
        if (strip) {
          for (const auto& ln : lines) {
            bool blank = ln.find_first_not_of(" \t") == std::string::npos;
            if (!blank && ln.compare(0, prefix.size(), prefix) != 0) strip = false;
          }
        }
        for (auto& ln : lines) {
          if (strip) {
            if (ln.compare(0, prefix.size(), prefix) == 0) {
              ln.erase(0, prefix.size());
            } else {
              ln.clear();  // a blank line shorter than the indentation
            }
          }
          t->text += ln;
          t->text.push_back('\n');
        }
        return Status::Ok();
      }
      lines.push_back(std::move(line));
      if (i_ < src_.size()) Advance();  // the newline
    }
  }

  Status Number(Token* t) {
    int l = line_, col = col_;
    size_t start = i_;
    if (Peek() == '-') Advance();
    bool is_float = false;
    bool hex = false;
    if (Peek() == '0' && (Peek(1) == 'x' || Peek(1) == 'X')) {
      hex = true;
      Advance();
      Advance();
      while (HexVal(Peek()) >= 0) Advance();
    } else {
      while (IsDigit(Peek())) Advance();
      if (Peek() == '.' && IsDigit(Peek(1))) {
        is_float = true;
        Advance();
        while (IsDigit(Peek())) Advance();
      }
      if (Peek() == 'e' || Peek() == 'E') {
        size_t k = 1;
        if (Peek(1) == '+' || Peek(1) == '-') k = 2;
        if (IsDigit(Peek(k))) {
          is_float = true;
          for (size_t n = 0; n < k; ++n) Advance();
          while (IsDigit(Peek())) Advance();
        }
      }
    }
    t->text = std::string(src_.substr(start, i_ - start));
    if (i_ < src_.size() && IsIdentChar(static_cast<unsigned char>(src_[i_]))) {
      return Error(l, col, "invalid number");
    }
    if (is_float) {
      t->kind = Tok::kFloat;
      try {
        t->float_value = std::stod(t->text);
      } catch (...) {
        return Error(l, col, "invalid number " + t->text);
      }
      return Status::Ok();
    }
    t->kind = Tok::kInt;
    std::string_view digits = t->text;
    bool neg = false;
    if (!digits.empty() && digits[0] == '-') {
      neg = true;
      digits.remove_prefix(1);
    }
    int base = 10;
    if (hex) {
      digits.remove_prefix(2);
      base = 16;
    }
    if (digits.empty()) return Error(l, col, "invalid number " + t->text);
    uint64_t mag = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), mag, base);
    if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() ||
        mag > uint64_t(INT64_MAX) + (neg ? 1 : 0)) {
      return Error(l, col, "number out of range: " + t->text);
    }
    t->int_value = neg ? int64_t(0 - mag) : int64_t(mag);
    return Status::Ok();
  }

  std::string_view src_;
  bool json_;
  std::shared_ptr<const std::string> file_;
  size_t i_ = 0;
  int line_ = 1;
  int col_ = 1;
};

// ---------------------------------------------------------------------------------------
// Parser

// Nesting limit: policies arrive over the API, and recursion depth must stay bounded.
constexpr int kMaxDepth = 100;

class Parser {
 public:
  Parser(std::vector<Token> toks, std::shared_ptr<const std::string> file)
      : toks_(std::move(toks)), file_(std::move(file)) {}

  Result<Body> Document() {
    Body body;
    body.pos = Here(Cur());
    body.pos.line = body.pos.column = 1;
    RETURN_IF_ERROR(Items(&body, nullptr));
    return body;
  }

  Result<Body> JsonDocument() {
    const Token& open = Cur();
    if (open.kind != Tok::kLBrace) return Err(open, "expected a JSON object");
    Next();
    Body body;
    RETURN_IF_ERROR(JsonObject(&body, open));
    if (Cur().kind != Tok::kEOF) return Err(Cur(), "unexpected " + Describe(Cur()) + " after the JSON object");
    return body;
  }

 private:
  const Token& Cur() const { return toks_[p_]; }
  void Next() {
    if (p_ + 1 < toks_.size()) ++p_;
  }
  Pos Here(const Token& t) const { return Pos{file_, t.line, t.column}; }
  Status Err(const Token& t, std::string_view msg) const { return ErrorAt(Here(t), msg); }

  static bool IsKey(const Token& t) { return t.kind == Tok::kIdent || t.kind == Tok::kString; }

  // Body items until '}' (open != nullptr) or end of input (the document).
  Status Items(Body* body, const Token* open) {
    DepthGuard guard(&depth_);
    if (open != nullptr) RETURN_IF_ERROR(CheckDepth(*open));
    for (;;) {
      const Token& t = Cur();
      if (t.kind == Tok::kEOF) {
        if (open == nullptr) return Status::Ok();
        return Err(*open, "unclosed '{': reached end of input");
      }
      if (t.kind == Tok::kRBrace) {
        if (open == nullptr) return Err(t, "unexpected '}'");
        Next();
        return Status::Ok();
      }
      if (t.kind == Tok::kComma) {
        Next();
        continue;
      }
      if (!IsKey(t)) return Err(t, "expected a key, found " + Describe(t));
      Token key = t;
      Next();
      if (Cur().kind == Tok::kAssign) {
        Next();
        ASSIGN_OR_RETURN(Value v, ParseValue());
        body->attributes.push_back(Attribute{key.text, std::move(v), Here(key)});
        continue;
      }
      std::vector<std::string> labels;
      std::vector<Token> label_toks;
      while (IsKey(Cur())) {
        labels.push_back(Cur().text);
        label_toks.push_back(Cur());
        Next();
      }
      const Token& after = Cur();
      if (after.kind == Tok::kLBrace) {
        Token brace = after;
        Next();
        auto inner = std::make_shared<Body>();
        inner->pos = Here(brace);
        RETURN_IF_ERROR(Items(inner.get(), &brace));
        body->blocks.push_back(Block{key.text, std::move(labels), std::move(inner), Here(key)});
        continue;
      }
      if (labels.empty()) {
        return Err(after, "expected '=' or '{' after \"" + key.text + "\", found " + Describe(after));
      }
      if (labels.size() == 1 || label_toks[1].line != label_toks[0].line) {
        // `address "x"`: most likely a forgotten '='.
        return Err(label_toks[0], "expected '=' after key \"" + key.text + "\"");
      }
      return Err(after, "expected '{' to open block \"" + key.text + "\", found " + Describe(after));
    }
  }

  Result<Value> ParseValue() {
    const Token& t = Cur();
    DepthGuard guard(&depth_);
    RETURN_IF_ERROR(CheckDepth(t));
    Value v;
    v.pos = Here(t);
    switch (t.kind) {
      case Tok::kString:
      case Tok::kHeredoc:
        v.type = Value::Type::kString;
        v.string_value = t.text;
        Next();
        return v;
      case Tok::kInt:
        v.type = Value::Type::kInt;
        v.int_value = t.int_value;
        Next();
        return v;
      case Tok::kFloat:
        v.type = Value::Type::kFloat;
        v.float_value = t.float_value;
        Next();
        return v;
      case Tok::kIdent:
        if (t.text == "true" || t.text == "false") {
          v.type = Value::Type::kBool;
          v.bool_value = t.text == "true";
          Next();
          return v;
        }
        return Err(t, "unexpected identifier \"" + t.text + "\": strings must be quoted");
      case Tok::kLBracket: {
        Token open = t;
        Next();
        v.type = Value::Type::kList;
        for (;;) {
          if (Cur().kind == Tok::kRBracket) {
            Next();
            return v;
          }
          if (Cur().kind == Tok::kEOF) return Err(open, "unclosed '[': reached end of input");
          ASSIGN_OR_RETURN(Value elem, ParseValue());
          v.list.push_back(std::move(elem));
          if (Cur().kind == Tok::kComma) {
            Next();
          } else if (Cur().kind == Tok::kEOF) {
            return Err(open, "unclosed '[': reached end of input");
          } else if (Cur().kind != Tok::kRBracket) {
            return Err(Cur(), "expected ',' or ']' in list, found " + Describe(Cur()));
          }
        }
      }
      case Tok::kLBrace: {
        Token open = t;
        Next();
        auto body = std::make_shared<Body>();
        body->pos = Here(open);
        RETURN_IF_ERROR(Items(body.get(), &open));
        v.type = Value::Type::kObject;
        v.object = std::move(body);
        return v;
      }
      default:
        return Err(t, "expected a value, found " + Describe(t));
    }
  }

  // --- JSON form ---

  Result<Value> JsonValue() {
    const Token& t = Cur();
    DepthGuard guard(&depth_);
    RETURN_IF_ERROR(CheckDepth(t));
    Value v;
    v.pos = Here(t);
    switch (t.kind) {
      case Tok::kString:
        v.type = Value::Type::kString;
        v.string_value = t.text;
        Next();
        return v;
      case Tok::kInt:
        v.type = Value::Type::kInt;
        v.int_value = t.int_value;
        Next();
        return v;
      case Tok::kFloat:
        v.type = Value::Type::kFloat;
        v.float_value = t.float_value;
        Next();
        return v;
      case Tok::kIdent:
        if (t.text == "true" || t.text == "false") {
          v.type = Value::Type::kBool;
          v.bool_value = t.text == "true";
        } else if (t.text == "null") {
          v.type = Value::Type::kNull;
        } else {
          return Err(t, "invalid JSON value " + Describe(t));
        }
        Next();
        return v;
      case Tok::kLBracket: {
        Token open = t;
        Next();
        v.type = Value::Type::kList;
        if (Cur().kind == Tok::kRBracket) {
          Next();
          return v;
        }
        for (;;) {
          if (Cur().kind == Tok::kEOF) return Err(open, "unclosed '[': reached end of input");
          ASSIGN_OR_RETURN(Value elem, JsonValue());
          v.list.push_back(std::move(elem));
          if (Cur().kind == Tok::kComma) {
            Next();
          } else if (Cur().kind == Tok::kRBracket) {
            Next();
            return v;
          } else if (Cur().kind == Tok::kEOF) {
            return Err(open, "unclosed '[': reached end of input");
          } else {
            return Err(Cur(), "expected ',' or ']' in list, found " + Describe(Cur()));
          }
        }
      }
      case Tok::kLBrace: {
        Token open = t;
        Next();
        auto body = std::make_shared<Body>();
        body->pos = Here(open);
        RETURN_IF_ERROR(JsonObject(body.get(), open));
        v.type = Value::Type::kObject;
        v.object = std::move(body);
        return v;
      }
      default:
        return Err(t, "expected a JSON value, found " + Describe(t));
    }
  }

  // Members of a JSON object (after its '{'). Object members become unlabelled blocks,
  // lists of objects repeated blocks, anything else attributes.
  Status JsonObject(Body* body, const Token& open) {
    body->pos = Here(open);
    if (Cur().kind == Tok::kRBrace) {
      Next();
      return Status::Ok();
    }
    for (;;) {
      const Token& k = Cur();
      if (k.kind == Tok::kEOF) return Err(open, "unclosed '{': reached end of input");
      if (k.kind != Tok::kString) return Err(k, "expected a quoted object key, found " + Describe(k));
      Token key = k;
      Next();
      if (Cur().kind != Tok::kColon) {
        return Err(Cur(), "expected ':' after object key \"" + key.text + "\", found " + Describe(Cur()));
      }
      Next();
      ASSIGN_OR_RETURN(Value v, JsonValue());
      AddJsonMember(body, key, std::move(v));
      if (Cur().kind == Tok::kComma) {
        Next();
        if (Cur().kind == Tok::kRBrace) {  // tolerate a trailing comma
          Next();
          return Status::Ok();
        }
      } else if (Cur().kind == Tok::kRBrace) {
        Next();
        return Status::Ok();
      } else if (Cur().kind == Tok::kEOF) {
        return Err(open, "unclosed '{': reached end of input");
      } else {
        return Err(Cur(), "expected ',' or '}' in object, found " + Describe(Cur()));
      }
    }
  }

  void AddJsonMember(Body* body, const Token& key, Value v) {
    if (v.is_object()) {
      body->blocks.push_back(Block{key.text, {}, v.object, Here(key)});
      return;
    }
    if (v.is_list() && !v.list.empty()) {
      bool all_objects = true;
      for (const auto& e : v.list) all_objects = all_objects && e.is_object();
      if (all_objects) {
        for (auto& e : v.list) body->blocks.push_back(Block{key.text, {}, e.object, e.pos});
        return;
      }
    }
    body->attributes.push_back(Attribute{key.text, std::move(v), Here(key)});
  }

  // Counts one level of nesting for the lifetime of the guard.
  struct DepthGuard {
    explicit DepthGuard(int* d) : depth(d) { ++*depth; }
    ~DepthGuard() { --*depth; }
    int* depth;
  };
  Status CheckDepth(const Token& t) const {
    if (depth_ > kMaxDepth) return Err(t, "nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)");
    return Status::Ok();
  }

  std::vector<Token> toks_;
  size_t p_ = 0;
  std::shared_ptr<const std::string> file_;
  int depth_ = 0;
};

// Reshapes `b` to carry exactly `want` labels (see Body::BlocksOf).
Status Reshape(const Block& b, size_t want, std::vector<Block>* out) {
  if (b.labels.size() == want) {
    out->push_back(b);
    return Status::Ok();
  }
  if (b.labels.size() > want) {
    Block inner{b.labels[want],
                std::vector<std::string>(b.labels.begin() + long(want) + 1, b.labels.end()), b.body,
                b.pos};
    auto wrapper = std::make_shared<Body>();
    wrapper->pos = b.body->pos;
    wrapper->blocks.push_back(std::move(inner));
    out->push_back(Block{b.type, std::vector<std::string>(b.labels.begin(), b.labels.begin() + long(want)),
                         std::move(wrapper), b.pos});
    return Status::Ok();
  }
  // Too few labels: the body must consist of nested objects only, whose keys are labels.
  const Body& body = *b.body;
  std::string need = "block \"" + b.type + "\" needs " + std::to_string(want) + " label" +
                     (want == 1 ? "" : "s");
  if (body.empty()) return ErrorAt(b.pos, need);
  std::vector<Block> inner;
  for (const auto& a : body.attributes) {
    if (a.value.is_object()) {
      inner.push_back(Block{a.name, {}, a.value.object, a.pos});
    } else if (a.value.is_list() && !a.value.list.empty() &&
               std::all_of(a.value.list.begin(), a.value.list.end(),
                           [](const Value& e) { return e.is_object(); })) {
      for (const auto& e : a.value.list) inner.push_back(Block{a.name, {}, e.object, e.pos});
    } else {
      return ErrorAt(b.pos, need);
    }
  }
  for (const auto& c : body.blocks) inner.push_back(c);
  // Keep source order between attribute-objects and blocks.
  std::stable_sort(inner.begin(), inner.end(), [](const Block& x, const Block& y) {
    return std::tie(x.pos.line, x.pos.column) < std::tie(y.pos.line, y.pos.column);
  });
  for (const auto& c : inner) {
    std::vector<std::string> labels = b.labels;
    labels.push_back(c.type);
    labels.insert(labels.end(), c.labels.begin(), c.labels.end());
    RETURN_IF_ERROR(Reshape(Block{b.type, std::move(labels), c.body, c.pos}, want, out));
  }
  return Status::Ok();
}

}  // namespace

const Attribute* Body::Attr(std::string_view name) const {
  for (auto it = attributes.rbegin(); it != attributes.rend(); ++it) {
    if (it->name == name && !it->value.is_object()) return &*it;
  }
  return nullptr;
}

Result<std::vector<Block>> Body::BlocksOf(std::string_view type, size_t labels) const {
  std::vector<Block> raw;
  for (const auto& a : attributes) {
    if (a.name != type) continue;
    if (a.value.is_object()) {
      raw.push_back(Block{a.name, {}, a.value.object, a.pos});
    } else if (a.value.is_list() && std::all_of(a.value.list.begin(), a.value.list.end(),
                                                [](const Value& e) { return e.is_object(); })) {
      for (const auto& e : a.value.list) raw.push_back(Block{a.name, {}, e.object, e.pos});
    } else {
      return ErrorAt(a.pos, "\"" + a.name + "\" must be a block, not a " + a.value.TypeName());
    }
  }
  for (const auto& b : blocks) {
    if (b.type == type) raw.push_back(b);
  }
  // Interleave `type = {...}` attributes with blocks by position (only meaningful, and
  // only done, when everything comes from one file).
  bool one_file = std::all_of(raw.begin(), raw.end(),
                              [&](const Block& x) { return x.pos.file == raw.front().pos.file; });
  if (raw.size() > 1 && one_file) {
    std::stable_sort(raw.begin(), raw.end(), [](const Block& x, const Block& y) {
      return std::tie(x.pos.line, x.pos.column) < std::tie(y.pos.line, y.pos.column);
    });
  }
  std::vector<Block> out;
  for (const auto& b : raw) RETURN_IF_ERROR(Reshape(b, labels, &out));
  return out;
}

Result<Body> Parse(std::string_view text, std::string_view filename) {
  auto file = std::make_shared<const std::string>(filename.empty() ? "<input>" : std::string(filename));
  size_t first = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") first = 3;
  first = text.find_first_not_of(" \t\r\n\f", first);
  bool json = first != std::string_view::npos && text[first] == '{';
  std::vector<Token> toks;
  RETURN_IF_ERROR(Lexer(text, json, file).Run(&toks));
  Parser parser(std::move(toks), file);
  return json ? parser.JsonDocument() : parser.Document();
}

nlohmann::json ToJson(const Value& v) {
  switch (v.type) {
    case Value::Type::kNull: return nullptr;
    case Value::Type::kBool: return v.bool_value;
    case Value::Type::kInt: return v.int_value;
    case Value::Type::kFloat: return v.float_value;
    case Value::Type::kString: return v.string_value;
    case Value::Type::kList: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& e : v.list) arr.push_back(ToJson(e));
      return arr;
    }
    case Value::Type::kObject: return ToJson(*v.object);
  }
  return nullptr;
}

nlohmann::json ToJson(const Body& body) {
  nlohmann::json out = nlohmann::json::object();
  std::set<std::string> repeated;
  auto add = [&](const std::string& key, nlohmann::json v) {
    if (!out.contains(key)) {
      out[key] = std::move(v);
      return;
    }
    if (!repeated.count(key)) {
      out[key] = nlohmann::json::array({out[key]});
      repeated.insert(key);
    }
    out[key].push_back(std::move(v));
  };
  for (const auto& a : body.attributes) add(a.name, ToJson(a.value));
  for (const auto& b : body.blocks) {
    nlohmann::json v = ToJson(*b.body);
    for (auto it = b.labels.rbegin(); it != b.labels.rend(); ++it) {
      v = nlohmann::json::object({{*it, std::move(v)}});
    }
    add(b.type, std::move(v));
  }
  return out;
}

}  // namespace tresor::hcl
