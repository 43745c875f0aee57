// Logs (Keras's `logs` dict, in insertion order) and History.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

class Logs {
 public:
  void set(const std::string& k, double v);
  bool has(const std::string& k) const;
  // Throws kiln::Error naming the key and the available ones.
  double at(const std::string& k) const;
  double operator[](const std::string& k) const { return at(k); }
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  std::vector<std::string> keys() const;
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::pair<std::string, double>> items_;
};

struct History {
  std::vector<int> epoch;                               // epochs run, 0-based as in Keras
  std::map<std::string, std::vector<double>> history;  // "loss", "accuracy", "val_loss", ...
  // history.at(key) with an error naming the available keys.
  const std::vector<double>& operator[](const std::string& key) const;
};

}  // namespace kiln
