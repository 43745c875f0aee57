// The pass manager (see pass_manager.h): runs passes in order, verifying,
// printing, dumping and timing around each one.
#include "passes/pass_manager.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "ir/printer.h"
#include "ir/verifier.h"

namespace kiln::passes {

std::vector<std::string> split_names(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for (char c : text) {
    if (c == ',') flush();
    else if (c != ' ' && c != '\t') cur += c;
  }
  flush();
  return out;
}

const Pass* find_pass(std::string_view name) {
  for (const Pass& p : registered_passes())
    if (p.name == name) return &p;
  return nullptr;
}

PassManager::PassManager(PassOptions options) : opts_(std::move(options)) {
  for (const std::string& n : opts_.print_after)
    if (n != "all" && !find_pass(n)) add(n);  // throws the unknown-pass error
}

void PassManager::add(std::string_view name) {
  const Pass* p = find_pass(name);
  if (!p) {
    std::string known;
    for (const Pass& q : registered_passes()) known += " " + std::string(q.name);
    throw Error("unknown pass '" + std::string(name) + "'; registered passes:" + known);
  }
  pipeline_.push_back(p);
}

void PassManager::add(const std::vector<std::string>& names) {
  for (const std::string& n : names) add(n);
}

void PassManager::add_pipeline(std::string_view text) { add(split_names(text)); }

bool PassManager::prints_after(std::string_view pass) const {
  for (const std::string& n : opts_.print_after)
    if (n == "all" || n == pass) return true;
  return false;
}

namespace {

std::string print_stage(const Pass* p, const ir::Graph& g) { return p && p->print ? p->print(g) : ir::to_string(g); }

void dump(const std::string& dir, size_t index, std::string_view stage, const std::string& text) {
  std::filesystem::create_directories(dir);
  char num[16];
  std::snprintf(num, sizeof num, "%02zu-", index);
  std::filesystem::path path = std::filesystem::path(dir) / (num + std::string(stage) + ".kir");
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("cannot write '" + path.string() + "'");
  out << text;
}

// LLVM's -time-passes layout: wall time and share per pass, then the total.
void print_timing(std::ostream& os, const std::vector<StageReport>& reports) {
  double total = 0;
  for (const StageReport& r : reports) total += r.seconds;
  char line[160];
  os << "===" << std::string(73, '-') << "===\n";
  os << "                      ... Pass execution timing report ...\n";
  os << "===" << std::string(73, '-') << "===\n";
  std::snprintf(line, sizeof line, "  Total Execution Time: %.4f seconds\n\n", total);
  os << line << "   ---Wall Time---  --- Name ---\n";
  for (const StageReport& r : reports) {
    std::snprintf(line, sizeof line, "   %.4f (%5.1f%%)  %s\n", r.seconds, total > 0 ? 100 * r.seconds / total : 0.0,
                  r.pass.c_str());
    os << line;
  }
  std::snprintf(line, sizeof line, "   %.4f (100.0%%)  Total\n", total);
  os << line;
}

}  // namespace

std::vector<StageReport> PassManager::run(ir::Graph& g) {
  std::ostream& log = opts_.log ? *opts_.log : std::cerr;
  std::vector<StageReport> reports;
  if (!opts_.dump_dir.empty()) dump(opts_.dump_dir, 0, "input", ir::to_string(g));
  for (size_t i = 0; i < pipeline_.size(); ++i) {
    const Pass* p = pipeline_[i];
    auto t0 = std::chrono::steady_clock::now();
    PassResult r = p->run(g);
    auto t1 = std::chrono::steady_clock::now();
    reports.push_back({std::string(p->name), r, std::chrono::duration<double>(t1 - t0).count()});
    if (opts_.verify_each) {
      std::vector<std::string> errors = ir::verify_errors(g);
      if (!errors.empty()) {
        std::string msg = "pass '" + std::string(p->name) + "' produced invalid IR:";
        for (const std::string& e : errors) msg += "\n  " + e;
        throw Error(msg);
      }
    }
    if (prints_after(p->name))
      log << "// -----// IR Dump After " << p->name << (r.changed ? "" : " (no change)") << ": " << r.stats
          << " //----- //\n"
          << print_stage(p, g) << "\n";
    if (!opts_.dump_dir.empty()) dump(opts_.dump_dir, i + 1, p->name, print_stage(p, g));
  }
  if (opts_.time_passes) print_timing(log, reports);
  return reports;
}

}  // namespace kiln::passes
