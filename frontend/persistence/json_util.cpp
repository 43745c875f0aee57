// Bounded JSON parsing, Python-style dumping and typed field access.
#include "persistence/json_util.h"

namespace kiln::persistence {

json parse_json(std::string_view text, const JsonLimits& limits, const std::string& what) {
  if (text.size() > limits.max_bytes)
    throw Error(what + ": the JSON text has " + std::to_string(text.size()) + " bytes, more than the limit of " +
                std::to_string(limits.max_bytes));
  // nlohmann's parser is iterative, but every level still costs memory: bound the depth.
  json::parser_callback_t depth_check = [&](int depth, json::parse_event_t, json&) {
    if (depth > limits.max_depth)
      throw Error(what + ": JSON nested more than " + std::to_string(limits.max_depth) + " levels deep");
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), depth_check);
  } catch (const json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    std::string m = e.what();
    size_t close = m.find("] ");
    throw Error(what + ": invalid JSON: " + (close == std::string::npos ? m : m.substr(close + 2)));
  }
}

namespace {
void dump_into(const ordered_json& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) out += ", ";
      first = false;
      out += ordered_json(k).dump(-1, ' ', true);
      out += ": ";
      dump_into(v, out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ", ";
      dump_into(j[i], out);
    }
    out += ']';
  } else {
    out += j.dump(-1, ' ', true);
  }
}
}  // namespace

std::string dump_python(const ordered_json& j) {
  std::string out;
  dump_into(j, out);
  return out;
}

std::string brief(const json& j) {
  std::string s = j.dump(-1, ' ', true);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string type_phrase(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::binary:
    case json::value_t::discarded: break;
  }
  return "an unexpected value";
}

int64_t to_int(const json& j, int64_t lo, int64_t hi, const std::string& what) {
  if (!j.is_number_integer()) throw Error(what + " must be an integer, got " + type_phrase(j) + " " + brief(j));
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(hi))
    throw Error(what + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + brief(j));
  int64_t v = j.get<int64_t>();
  if (v < lo || v > hi)
    throw Error(what + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                std::to_string(v));
  return v;
}

Fields::Fields(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {
  if (!obj_.is_object()) throw Error(where_ + ": expected a JSON object, got " + type_phrase(obj_));
}

bool Fields::has(const char* key) const {
  auto it = obj_.find(key);
  return it != obj_.end() && !it->is_null();
}

const json& Fields::at(const char* key) const {
  auto it = obj_.find(key);
  if (it == obj_.end()) fail(key, "is missing");
  return *it;
}

void Fields::fail(const char* key, const std::string& what) const {
  throw Error(where_ + ": field \"" + key + "\" " + what);
}

std::string Fields::str(const char* key, std::optional<std::string> dflt) const {
  if (!has(key) && dflt) return *dflt;
  const json& j = at(key);
  if (!j.is_string()) fail(key, "must be a string, got " + type_phrase(j));
  return j.get<std::string>();
}

bool Fields::boolean(const char* key, std::optional<bool> dflt) const {
  if (!has(key) && dflt) return *dflt;
  const json& j = at(key);
  if (!j.is_boolean()) fail(key, "must be true or false, got " + type_phrase(j));
  return j.get<bool>();
}

int64_t Fields::integer(const char* key, int64_t lo, int64_t hi, std::optional<int64_t> dflt) const {
  if (!has(key) && dflt) return *dflt;
  return to_int(at(key), lo, hi, where_ + ": field \"" + key + "\"");
}

double Fields::number(const char* key, std::optional<double> dflt) const {
  if (!has(key) && dflt) return *dflt;
  const json& j = at(key);
  if (!j.is_number()) fail(key, "must be a number, got " + type_phrase(j));
  return j.get<double>();
}

std::pair<int64_t, int64_t> Fields::pair(const char* key, int64_t lo, int64_t hi,
                                         std::optional<std::pair<int64_t, int64_t>> dflt) const {
  if (!has(key) && dflt) return *dflt;
  const json& j = at(key);
  std::string what = where_ + ": field \"" + key + "\"";
  if (j.is_number()) {
    int64_t v = to_int(j, lo, hi, what);
    return {v, v};
  }
  if (!j.is_array() || j.size() != 2) fail(key, "must be an integer or a list of two integers, got " + brief(j));
  return {to_int(j[0], lo, hi, what), to_int(j[1], lo, hi, what)};
}

void Fields::expect(const char* key, const json& expected, const std::string& why) const {
  if (!has(key)) return;
  const json& j = at(key);
  if (j != expected) fail(key, "is " + brief(j) + ", but Kiln " + why);
}

}  // namespace kiln::persistence
