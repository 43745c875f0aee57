// model.summary() exactly as tf.keras 2.13's print_summary prints it
// (keras/utils/layer_utils.py at v2.13.1):
//   - "sequential-like" models (a chain: one node per depth, one input per node, no shared
//     layer) get 65 columns [29, 55, 65]; others 98 columns [29, 58, 68, 98] plus "Connected to";
//   - cells wrap: each column shows at most end - start - 3 characters (the last column
//     end - start), breaking early right after the first "),", "},", "],", "',";
//   - a blank line after every layer, totals with the float32 weight memory.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "kiln/model.h"
#include "network.h"

namespace kiln {
namespace {

bool sequential_like(const detail::Network& net) {
  if (net.force_sequential_layout) return true;
  for (const auto& depth : net.nodes_by_depth)
    if (depth.size() > 1 || (depth.size() == 1 && depth[0]->inputs.size() > 1)) return false;
  for (const auto& l : net.layers)
    if (net.nodes_of(*l).size() > 1) return false;
  return true;
}

void print_row(std::ostream& os, std::vector<std::string> fields, const std::vector<size_t>& positions) {
  auto any_left = [&] {
    for (const std::string& f : fields)
      if (!f.empty()) return true;
    return false;
  };
  while (any_left()) {
    std::string line;
    for (size_t col = 0; col < fields.size(); ++col) {
      size_t start = col > 0 ? positions[col - 1] : 0, end = positions[col];
      bool last = col == positions.size() - 1;
      size_t space = last ? 0 : 2;
      size_t cutoff = end - start - space - (last ? 0 : 1);
      std::string fit = fields[col].substr(0, cutoff);
      size_t best = std::string::npos;
      for (const char* cond : {"),", "},", "],", "',"}) {
        size_t at = fit.find(cond);
        if (at != std::string::npos) best = std::min(best, at + 2);
      }
      if (best != std::string::npos) {
        cutoff = best;
        fit = fit.substr(0, cutoff);
      }
      if (col == 0) line += " ";
      line += fit;
      line += std::string(space, ' ');
      fields[col] = cutoff < fields[col].size() ? fields[col].substr(cutoff) : "";
      if (line.size() < end) line += std::string(end - line.size(), ' ');
    }
    os << line << "\n";
  }
}

// Keras's readable_memory_size: "2.15 KB", "0.00 Byte".
std::string memory_size(double bytes) {
  static const char* units[] = {"Byte", "KB", "MB", "GB", "TB", "PB"};
  char buf[64];
  for (const char* unit : units) {
    if (bytes / 1024 < 1) {
      std::snprintf(buf, sizeof buf, "%.2f %s", bytes, unit);
      return buf;
    }
    bytes /= 1024;
  }
  std::snprintf(buf, sizeof buf, "%.2f %s", bytes, units[5]);
  return buf;
}

std::string connections(const detail::Network& net, const Layer& layer) {
  std::string s = "[";
  bool first = true;
  for (const CallNode* node : net.nodes_of(layer))
    for (const KerasTensor& in : node->inputs) {
      s += (first ? "'" : ", '") + in.layer().name() + "[" + std::to_string(in.node_index()) + "][" +
           std::to_string(in.tensor_index()) + "]'";
      first = false;
    }
  return s + "]";
}

}  // namespace

void Model::summary(std::ostream& os) const {
  const detail::Network& net = network();
  bool seq = sequential_like(net);
  size_t line_length = seq ? 65 : 98;
  std::vector<double> rel = seq ? std::vector<double>{0.45, 0.85, 1.0} : std::vector<double>{0.3, 0.6, 0.70, 1.0};
  std::vector<size_t> positions;
  for (double p : rel) positions.push_back(static_cast<size_t>(static_cast<double>(line_length) * p));
  std::vector<std::string> header = {"Layer (type)", "Output Shape", "Param #"};
  if (!seq) header.push_back("Connected to");

  os << "Model: \"" << net.name << "\"\n";
  os << std::string(line_length, '_') << "\n";
  print_row(os, header, positions);
  os << std::string(line_length, '=') << "\n";
  for (const auto& l : net.visible_layers()) {
    std::vector<std::string> fields = {l->name() + " (" + l->class_name() + ")", l->output_shape_string(),
                                       std::to_string(l->count_params())};
    if (!seq) fields.push_back(connections(net, *l));
    print_row(os, fields, positions);
    os << std::string(line_length, ' ') << "\n";
  }
  os << std::string(line_length, '=') << "\n";
  int64_t total = count_params();
  double bytes = static_cast<double>(total) * 4;
  os << "Total params: " << total << " (" << memory_size(bytes) << ")\n";
  os << "Trainable params: " << total << " (" << memory_size(bytes) << ")\n";
  os << "Non-trainable params: 0 (" << memory_size(0) << ")\n";
  os << std::string(line_length, '_') << "\n";
}

void Model::summary() const { summary(std::cout); }

std::string Model::summary_string() const {
  std::ostringstream os;
  summary(os);
  return os.str();
}

}  // namespace kiln
