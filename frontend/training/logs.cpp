#include "training/logs.h"

#include "ir/error.h"

namespace kiln {

namespace {
std::string join(const std::vector<std::string>& ks) {
  std::string s;
  for (const std::string& k : ks) s += (s.empty() ? "" : ", ") + k;
  return s.empty() ? "(none)" : s;
}
}  // namespace

void Logs::set(const std::string& k, double v) {
  for (auto& [key, val] : items_)
    if (key == k) {
      val = v;
      return;
    }
  items_.emplace_back(k, v);
}

bool Logs::has(const std::string& k) const {
  for (const auto& kv : items_)
    if (kv.first == k) return true;
  return false;
}

double Logs::at(const std::string& k) const {
  for (const auto& kv : items_)
    if (kv.first == k) return kv.second;
  throw Error("logs have no entry '" + k + "'; available: " + join(keys()));
}

std::vector<std::string> Logs::keys() const {
  std::vector<std::string> ks;
  for (const auto& kv : items_) ks.push_back(kv.first);
  return ks;
}

const std::vector<double>& History::operator[](const std::string& key) const {
  auto it = history.find(key);
  if (it != history.end()) return it->second;
  std::vector<std::string> ks;
  for (const auto& kv : history) ks.push_back(kv.first);
  throw Error("History has no key '" + key + "'; available: " + join(ks));
}

}  // namespace kiln
