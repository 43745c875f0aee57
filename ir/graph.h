// The IR graph: a function in SSA form.
//
// A Graph has typed parameters, nodes in topological order, and results. Every
// Value has exactly one definition: a parameter or a node result. A Node has an
// op, operands, attributes, one or more results and, for `scan`, a body region
// (a nested Graph that is isolated from above: it sees only its parameters).
//
// Nodes are built through Graph::add_node, which checks arity and attributes
// against the op table and infers result types with the op's shape rule; bad
// operands throw kiln::Error naming the op and the offending types.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/attrs.h"
#include "ir/ops.h"
#include "ir/types.h"

namespace kiln::ir {

class Graph;
struct Node;

struct Value {
  TensorType type;
  std::string name;     // unique within its graph; printed as %name
  Node* def = nullptr;  // defining node; null for a graph parameter
  int index = 0;        // result index within def, or parameter index
  Graph* owner = nullptr;

  bool is_param() const { return def == nullptr; }
};

struct Node {
  OpKind op;
  std::vector<Value*> operands;
  AttrMap attrs;
  std::vector<Value*> results;
  std::unique_ptr<Graph> body;  // scan's region, else null

  const OpInfo& info() const { return op_info(op); }
  Value* result(int i = 0) const { return results.at(static_cast<size_t>(i)); }
};

class Graph {
 public:
  explicit Graph(std::string name = "");
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;

  const std::vector<Value*>& params() const { return params_; }
  const std::vector<Node*>& nodes() const { return order_; }
  const std::vector<Value*>& results() const { return results_; }

  Value* add_param(const std::string& name, TensorType type);

  // Builds a node at the end of the graph. `names` gives result names: empty
  // for automatic numbers, one name (suffixed .1, .2, ... for further results),
  // or one per result. Names are made unique within the graph.
  Node* add_node(OpKind op, std::vector<Value*> operands, AttrMap attrs = {},
                 std::unique_ptr<Graph> body = nullptr, std::vector<std::string> names = {});
  // Single-result convenience.
  Value* add(OpKind op, std::vector<Value*> operands, AttrMap attrs = {}, const std::string& name = "");

  void set_results(std::vector<Value*> results);

  // --- mutation, for passes ---
  void replace_all_uses(Value* from, Value* to);
  // Removes a node whose results have no uses (asserts otherwise).
  void erase_node(Node* n);
  // Reorders nodes; `order` must be a permutation of nodes().
  void set_order(std::vector<Node*> order);
  // Number of uses of v among nodes and results.
  int use_count(const Value* v) const;

  // Deep copy (names, attributes and bodies preserved).
  std::unique_ptr<Graph> clone() const;

  // Appends copies of `from`'s nodes to this graph, with from's parameters
  // bound to `args` (values of this graph); returns the copies of from's
  // results. Result names are prefixed with `prefix` when it is not empty.
  std::vector<Value*> inline_graph(const Graph& from, const std::vector<Value*>& args,
                                   const std::string& prefix = "");

  Value* find(const std::string& name) const;
  std::string unique_name(const std::string& hint);

 private:
  std::vector<std::unique_ptr<Node>> node_storage_;
  std::vector<std::unique_ptr<Value>> value_storage_;
  std::vector<Value*> params_;
  std::vector<Node*> order_;
  std::vector<Value*> results_;
  std::unordered_map<std::string, Value*> by_name_;
  int64_t next_id_ = 0;

  Value* new_value(TensorType t, const std::string& name_hint);
};

// Several functions in one text file (forward, train_step, ...).
struct Module {
  std::vector<std::unique_ptr<Graph>> funcs;
  Graph* find(const std::string& name) const;
};

// --- shape rules (ir/shape_rules.cpp) ---
// Checks operands and attributes of one op and returns its result types.
// Throws kiln::Error naming the op and the types on bad input.
std::vector<TensorType> infer_types(OpKind op, const std::vector<TensorType>& operands, const AttrMap& attrs,
                                    const Graph* body);

// Checks `attrs` against the op's schema (names, kinds, required ones present).
void check_attrs(OpKind op, const AttrMap& attrs);

}  // namespace kiln::ir
