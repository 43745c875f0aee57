#include "ir/graph.h"

#include <algorithm>
#include <unordered_set>

namespace kiln::ir {

Graph::Graph(std::string n) : name(std::move(n)) {}
Graph::~Graph() = default;

std::string Graph::unique_name(const std::string& hint) {
  if (hint.empty()) {
    std::string n;
    do n = std::to_string(next_id_++);
    while (by_name_.count(n));
    return n;
  }
  if (!by_name_.count(hint)) return hint;
  for (int i = 1;; ++i) {
    std::string n = hint + "_" + std::to_string(i);
    if (!by_name_.count(n)) return n;
  }
}

Value* Graph::new_value(TensorType t, const std::string& name_hint) {
  auto v = std::make_unique<Value>();
  v->type = std::move(t);
  v->name = unique_name(name_hint);
  v->owner = this;
  by_name_[v->name] = v.get();
  value_storage_.push_back(std::move(v));
  return value_storage_.back().get();
}

Value* Graph::add_param(const std::string& n, TensorType type) {
  Value* v = new_value(std::move(type), n);
  v->index = static_cast<int>(params_.size());
  params_.push_back(v);
  return v;
}

Node* Graph::add_node(OpKind op, std::vector<Value*> operands, AttrMap attrs, std::unique_ptr<Graph> body,
                      std::vector<std::string> names) {
  const OpInfo& info = op_info(op);
  if (info.num_operands >= 0 && static_cast<int>(operands.size()) != info.num_operands)
    throw Error(std::string(info.name) + " expects " + std::to_string(info.num_operands) + " operand(s), got " +
                std::to_string(operands.size()));
  for (Value* v : operands) {
    KILN_ASSERT(v != nullptr, "null operand to " + std::string(info.name));
    KILN_ASSERT(v->owner == this, "operand %" + v->name + " of " + std::string(info.name) +
                                      " belongs to another graph");
  }
  if (info.has(kHasBody) != (body != nullptr))
    throw Error(std::string(info.name) + (body ? " takes no body region" : " needs a body region"));
  check_attrs(op, attrs);
  std::vector<TensorType> in;
  in.reserve(operands.size());
  for (Value* v : operands) in.push_back(v->type);
  std::vector<TensorType> out = infer_types(op, in, attrs, body.get());

  auto node = std::make_unique<Node>();
  node->op = op;
  node->operands = std::move(operands);
  node->attrs = std::move(attrs);
  node->body = std::move(body);
  for (size_t i = 0; i < out.size(); ++i) {
    std::string hint;
    if (names.size() == out.size()) hint = names[i];
    else if (names.size() == 1) hint = i == 0 ? names[0] : names[0] + "." + std::to_string(i);
    Value* v = new_value(out[i], hint);
    v->def = node.get();
    v->index = static_cast<int>(i);
    node->results.push_back(v);
  }
  node_storage_.push_back(std::move(node));
  order_.push_back(node_storage_.back().get());
  return order_.back();
}

Value* Graph::add(OpKind op, std::vector<Value*> operands, AttrMap attrs, const std::string& n) {
  Node* node = add_node(op, std::move(operands), std::move(attrs), nullptr,
                        n.empty() ? std::vector<std::string>{} : std::vector<std::string>{n});
  KILN_ASSERT(node->results.size() == 1, std::string(op_name(op)) + " has several results");
  return node->results[0];
}

void Graph::set_results(std::vector<Value*> results) {
  for (Value* v : results) KILN_ASSERT(v && v->owner == this, "graph result belongs to another graph");
  results_ = std::move(results);
}

void Graph::replace_all_uses(Value* from, Value* to) {
  for (Node* n : order_)
    for (Value*& v : n->operands)
      if (v == from) v = to;
  for (Value*& v : results_)
    if (v == from) v = to;
}

int Graph::use_count(const Value* v) const {
  int c = 0;
  for (const Node* n : order_) c += static_cast<int>(std::count(n->operands.begin(), n->operands.end(), v));
  c += static_cast<int>(std::count(results_.begin(), results_.end(), v));
  return c;
}

void Graph::erase_node(Node* n) {
  for (Value* r : n->results) KILN_ASSERT(use_count(r) == 0, "erasing node whose result %" + r->name + " is used");
  order_.erase(std::remove(order_.begin(), order_.end(), n), order_.end());
  for (Value* r : n->results) by_name_.erase(r->name);
  // Storage is kept until the graph dies so stale pointers never dangle mid-pass.
}

void Graph::set_order(std::vector<Node*> order) {
  KILN_ASSERT(order.size() == order_.size(), "set_order: not a permutation");
  std::unordered_set<Node*> a(order.begin(), order.end()), b(order_.begin(), order_.end());
  KILN_ASSERT(a == b, "set_order: not a permutation");
  order_ = std::move(order);
}

Value* Graph::find(const std::string& n) const {
  auto it = by_name_.find(n);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<Value*> Graph::inline_graph(const Graph& from, const std::vector<Value*>& args,
                                        const std::string& prefix) {
  KILN_ASSERT(args.size() == from.params_.size(), "inline_graph: argument count differs from parameter count");
  std::unordered_map<const Value*, Value*> map;
  for (size_t i = 0; i < args.size(); ++i) {
    KILN_ASSERT(args[i]->type == from.params_[i]->type,
                "inline_graph: argument " + args[i]->type.to_string() + " for parameter %" + from.params_[i]->name +
                    " of type " + from.params_[i]->type.to_string());
    map[from.params_[i]] = args[i];
  }
  for (const Node* n : from.order_) {
    std::vector<Value*> ops;
    for (Value* v : n->operands) ops.push_back(map.at(v));
    std::vector<std::string> names;
    for (Value* r : n->results) names.push_back(prefix.empty() ? r->name : prefix + r->name);
    Node* c = add_node(n->op, std::move(ops), n->attrs, n->body ? n->body->clone() : nullptr, names);
    for (size_t i = 0; i < n->results.size(); ++i) map[n->results[i]] = c->results[i];
  }
  std::vector<Value*> res;
  for (Value* v : from.results_) res.push_back(map.at(v));
  return res;
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>(name);
  std::vector<Value*> args;
  for (Value* p : params_) args.push_back(g->add_param(p->name, p->type));
  g->set_results(g->inline_graph(*this, args));
  g->next_id_ = next_id_;
  return g;
}

Graph* Module::find(const std::string& n) const {
  for (const auto& f : funcs)
    if (f->name == n) return f.get();
  return nullptr;
}

}  // namespace kiln::ir
