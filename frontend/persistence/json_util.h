// JSON helpers for the persistence code: bounded parsing of untrusted text,
// Python-style output (what json.dumps writes, so Kiln's files read like
// Keras's), and typed field access that names the field and the layer in
// every error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/persistence.h"

namespace kiln::persistence {

using json = nlohmann::json;                  // for reading (std::map: no quadratic key lookups)
using ordered_json = nlohmann::ordered_json;  // for writing (keeps Keras's key order)

// Parses `text`; enforces limits.max_bytes and limits.max_depth; bad UTF-8 and syntax errors
// become kiln::Error("<what>: ...").
json parse_json(std::string_view text, const JsonLimits& limits, const std::string& what);

// json.dumps style: `{"a": 1, "b": [1, 2]}`, non-ASCII escaped.
std::string dump_python(const ordered_json& j);

// Typed access to an object's fields. `where` names the object in messages
// ("layer \"dense\" (Dense)"). Missing fields use `dflt` when given, else throw.
class Fields {
 public:
  Fields(const json& obj, std::string where);
  const json& obj() const { return obj_; }
  const std::string& where() const { return where_; }
  bool has(const char* key) const;  // present and not null
  const json& at(const char* key) const;

  std::string str(const char* key, std::optional<std::string> dflt = std::nullopt) const;
  bool boolean(const char* key, std::optional<bool> dflt = std::nullopt) const;
  int64_t integer(const char* key, int64_t lo, int64_t hi, std::optional<int64_t> dflt = std::nullopt) const;
  double number(const char* key, std::optional<double> dflt = std::nullopt) const;
  // An int or a list of two ints (kernel_size, strides), each in [lo, hi].
  std::pair<int64_t, int64_t> pair(const char* key, int64_t lo, int64_t hi,
                                   std::optional<std::pair<int64_t, int64_t>> dflt = std::nullopt) const;
  // Throws unless the field is absent, null, or equal to `expected` (options Kiln does not have).
  void expect(const char* key, const json& expected, const std::string& why) const;

  [[noreturn]] void fail(const char* key, const std::string& what) const;

 private:
  const json& obj_;
  std::string where_;
};

// The value as JSON text, cut to 60 characters, for messages.
std::string brief(const json& j);

// A JSON value's type for messages: "a string", "an integer", ...
std::string type_phrase(const json& j);

// An integer JSON value in [lo, hi], else kiln::Error(`what` ...).
int64_t to_int(const json& j, int64_t lo, int64_t hi, const std::string& what);

}  // namespace kiln::persistence
