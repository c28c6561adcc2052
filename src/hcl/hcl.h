// HCL (version 1, the dialect Vault reads for its server config and ACL policies).
//
// Parse() turns a document into an ordered AST: attributes (`key = value`) and blocks
// (`type "label" ... { body }`), repeated blocks kept in order, every node with its
// file:line:column so callers can report errors where they are. A document whose first
// non-blank character is `{` is read as the JSON form of HCL.
//
// HCL1 does not distinguish `a "b" { }`, `a { b { } }`, `a = { b = { } }` and the JSON
// `{"a": {"b": {}}}`; which of these a file uses is up to its author. The parser keeps what
// was written (JSON objects become blocks without labels, JSON lists of objects become
// repeated blocks) and Body::BlocksOf() gives the caller the view it wants: "every `path`
// block with exactly one label". Config and policy code should read blocks only through it.
//
// Everything here is a plain value type; safe to use from any thread, no shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tresor::hcl {

// A position in a source file. Lines and columns are 1-based; columns count characters
// (UTF-8 code points), a tab is one column.
struct Pos {
  std::shared_ptr<const std::string> file;  // shared by every node of one document
  int line = 0;
  int column = 0;

  const std::string& filename() const;
  std::string ToString() const;  // "<file>:<line>:<col>"
};

// InvalidRequest status with message "<file>:<line>:<col>: <msg>".
Status ErrorAt(const Pos& pos, std::string_view msg);

struct Body;

struct Value {
  enum class Type { kNull, kBool, kInt, kFloat, kString, kList, kObject };

  Type type = Type::kNull;
  bool bool_value = false;
  int64_t int_value = 0;
  double float_value = 0;
  std::string string_value;
  std::vector<Value> list;
  std::shared_ptr<const Body> object;  // set iff type == kObject
  Pos pos;

  bool is_null() const { return type == Type::kNull; }
  bool is_bool() const { return type == Type::kBool; }
  bool is_int() const { return type == Type::kInt; }
  bool is_float() const { return type == Type::kFloat; }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return type == Type::kString; }
  bool is_list() const { return type == Type::kList; }
  bool is_object() const { return type == Type::kObject; }
  // "string", "number", "bool", "list", "object", "null": for error messages.
  const char* TypeName() const;
};

struct Attribute {
  std::string name;
  Value value;
  Pos pos;  // of the key
};

struct Block {
  std::string type;
  std::vector<std::string> labels;
  std::shared_ptr<const Body> body;  // never null
  Pos pos;  // of the type keyword

  const Body& content() const { return *body; }
};

struct Body {
  std::vector<Attribute> attributes;  // source order, duplicates kept
  std::vector<Block> blocks;          // source order, repeated blocks kept
  Pos pos;                            // of the opening brace (or 1:1 for a document)

  // The last attribute called `name` whose value is not an object, or nullptr. (Object
  // values are read as blocks: see BlocksOf.)
  const Attribute* Attr(std::string_view name) const;

  // Every block of type `type`, reshaped to carry exactly `labels` labels, in source order:
  //  - `type = {...}` and `type = [{...}, ...]` attributes count as unlabelled blocks;
  //  - a block with too few labels whose body holds only blocks/objects is unnested
  //    (`listener { tcp { } }` -> `listener "tcp" { }`, one result per inner block);
  //  - a block with too many labels nests the extra ones (`a "b" "c" {}` with 1 label ->
  //    `a "b" { c {} }`).
  // Fails, naming the position, if a block cannot be reshaped (e.g. `listener { x = 1 }`
  // when one label is required) or `type` is an attribute with a non-object value.
  Result<std::vector<Block>> BlocksOf(std::string_view type, size_t labels) const;

  bool empty() const { return attributes.empty() && blocks.empty(); }
};

// Parses a document. `filename` is used in positions and errors; empty means "<input>".
// Errors are InvalidRequest with "<file>:<line>:<col>: <message>".
Result<Body> Parse(std::string_view text, std::string_view filename = "");

// The shape Vault's HCL decoder gives as map[string]interface{}: attributes as values,
// blocks as objects nested by label (`listener "tcp" {..}` -> {"listener": {"tcp": {..}}}),
// a key that occurs more than once -> an array of its occurrences in order.
nlohmann::json ToJson(const Body& body);
nlohmann::json ToJson(const Value& value);

}  // namespace tresor::hcl
