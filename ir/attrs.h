// Node attributes: a small typed map, checked against each op's schema.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/error.h"
#include "ir/types.h"

namespace kiln::ir {

enum class AttrKind : uint8_t { Int, Float, Bool, String, Ints, Shape, DType };

std::string_view attr_kind_name(AttrKind k);

// `Shape` attributes are stored as Ints (with kBatch for N).
using AttrValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, DType>;

class AttrMap {
 public:
  AttrMap() = default;
  AttrMap(std::initializer_list<std::pair<const std::string, AttrValue>> init) : m_(init) {}

  bool has(const std::string& k) const { return m_.count(k) != 0; }
  void set(const std::string& k, AttrValue v) { m_[k] = std::move(v); }
  void erase(const std::string& k) { m_.erase(k); }
  const AttrValue& raw(const std::string& k) const;

  template <class T>
  const T& get(const std::string& k) const {
    const AttrValue& v = raw(k);
    const T* p = std::get_if<T>(&v);
    if (!p) throw Error("attribute '" + k + "' has the wrong kind");
    return *p;
  }
  template <class T>
  T get_or(const std::string& k, T dflt) const {
    auto it = m_.find(k);
    if (it == m_.end()) return dflt;
    const T* p = std::get_if<T>(&it->second);
    return p ? *p : dflt;
  }

  int64_t i(const std::string& k) const { return get<int64_t>(k); }
  double f(const std::string& k) const { return get<double>(k); }
  bool b(const std::string& k, bool dflt = false) const { return get_or<bool>(k, dflt); }
  const std::string& s(const std::string& k) const { return get<std::string>(k); }
  const std::vector<int64_t>& ints(const std::string& k) const { return get<std::vector<int64_t>>(k); }

  auto begin() const { return m_.begin(); }
  auto end() const { return m_.end(); }
  size_t size() const { return m_.size(); }
  bool operator==(const AttrMap&) const = default;

 private:
  std::map<std::string, AttrValue> m_;
};

}  // namespace kiln::ir
