// Helpers shared by the optimization passes (canonicalize, fold, cse, dce,
// fuse, plan-memory): splat constants, use lists, a stable topological
// re-sort after rewrites append nodes, and running a per-graph pass over every
// region body or a rewrite over every scan.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace kiln::passes {

// A `constant` node's result (every constant is a splat: one value, any shape).
bool is_constant(const ir::Value* v);
// Its value; is_constant(v) must hold.
double constant_value(const ir::Value* v);
bool is_constant_equal(const ir::Value* v, double x);

// Every node that uses each value (a node using a value twice is listed twice).
using UseMap = std::unordered_map<const ir::Value*, std::vector<ir::Node*>>;
UseMap users(const ir::Graph& g);
bool is_graph_result(const ir::Graph& g, const ir::Value* v);

// Re-sorts g's nodes topologically, keeping the current order where it is
// already valid: a node appended by a rewrite moves up to just before its
// first user.
void sort_topologically(ir::Graph& g);

// Replaces every use of `from` by `to` and erases from's node when none of its
// results is used any more.
void replace_and_erase(ir::Graph& g, ir::Value* from, ir::Value* to);

// Counts rewrites by the name of the identity that fired.
class RewriteStats {
 public:
  void add(const std::string& what, int n = 1);
  int total() const { return total_; }
  // "3 rewrites (add-zero 2, neg-neg 1)"; `noun` names what is counted.
  std::string str(const std::string& noun = "rewrites") const;
  void merge(const RewriteStats& o);

 private:
  std::vector<std::pair<std::string, int>> counts_;
  int total_ = 0;
};

// Runs `rewrite` on each scan node of g (those there when it starts; a
// rewrite may replace its scan) and re-sorts g topologically when any fired.
RewriteStats for_each_scan(ir::Graph& g, const std::function<RewriteStats(ir::Graph&, ir::Node&)>& rewrite);

// Runs `per_graph` on g and on every region body in it (bodies first).
RewriteStats for_each_graph(ir::Graph& g, const std::function<RewriteStats(ir::Graph&)>& per_graph);

}  // namespace kiln::passes
