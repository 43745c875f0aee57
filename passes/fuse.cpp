// fuse (see fuse.h): grouping in one pass over the nodes, then one fusion node
// per group, built at the group's last member.
#include "passes/fuse.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "ir/epilogue.h"
#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::Dims;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

bool is_elementwise(const Node& n) { return n.info().has(ir::kElementwise); }
bool is_reduction(const Node& n) { return n.info().has(ir::kReduction); }

struct Group {
  std::vector<Node*> members;  // in graph order, except that a contraction comes first
  Node* contraction = nullptr;
  Node* reduction = nullptr;  // closes the group
  Node* tail = nullptr;       // the member added last
  bool closed = false;        // a conv's epilogue ended with its max_pool2d: nothing more joins
  Dims shape;                 // the iteration shape
  bool alive = true;          // false once merged into another group
};

class Grouper {
 public:
  explicit Grouper(Graph& g) : g_(g), uses_(users(g)) {
    for (size_t i = 0; i < g.nodes().size(); ++i) pos_[g.nodes()[i]] = i;
    // Constants are copied into bodies; any other value the chain reads becomes a region input.
    for (const ir::Epilogue& e : ir::gemm_epilogues(g, [](const Value* v) { return !is_constant(v); })) {
      for (const Node* m : e.absorbed()) epilogue_of_[m] = e.contraction;
      if (e.mask_compare) compare_of_[e.chain.back()] = e.mask_compare;
    }
  }

  std::vector<Group> run() {
    for (Node* n : g_.nodes()) {
      if (ir::is_contraction(n->op)) start(n);
      else if (is_elementwise(*n)) join_elementwise(n);
      else if (is_reduction(*n)) join_reduction(n);
      else if (n->op == OpKind::MaxPool2D || n->op == OpKind::MaxPool2DWinners) join_pool(n);
    }
    std::vector<Group> out;
    for (Group& gr : groups_)
      if (gr.alive) out.push_back(std::move(gr));
    return out;
  }

 private:
  Graph& g_;
  UseMap uses_;
  std::unordered_map<const Node*, size_t> pos_;
  std::unordered_map<const Node*, int> group_of_;
  std::vector<Group> groups_;
  // The contraction whose GEMM epilogue (ir/epilogue.h) may absorb a node;
  // the compare of each backward mask select in such an epilogue.
  std::unordered_map<const Node*, const Node*> epilogue_of_;
  std::unordered_map<const Node*, const Node*> compare_of_;

  int start(Node* n) {
    Group gr;
    gr.members = {n};
    gr.tail = n;
    gr.shape = n->result()->type.shape;
    if (ir::is_contraction(n->op)) gr.contraction = n;
    groups_.push_back(std::move(gr));
    group_of_[n] = static_cast<int>(groups_.size()) - 1;
    return group_of_[n];
  }

  int group(const Value* v) const {
    if (!v->def) return -1;
    auto it = group_of_.find(v->def);
    return it == group_of_.end() ? -1 : it->second;
  }

  // Whether contraction c's GEMM epilogue absorbs n.
  bool in_epilogue(const Node* c, const Node* n) const {
    auto it = epilogue_of_.find(n);
    return it != epilogue_of_.end() && it->second == c;
  }

  // Whether loop group k holds only nodes of c's epilogue (a backward mask's
  // compare), so that it may merge into c's group.
  bool absorbable(int k, const Node* c) const {
    for (const Node* m : groups_[k].members)
      if (!in_epilogue(c, m)) return false;
    return true;
  }

  // Whether the groups `with` hold the mask compare that n (a backward mask
  // select) needs beside it in a contraction's epilogue.
  bool has_compare(const std::vector<int>& with, const Node* n) const {
    auto it = compare_of_.find(n);
    return it == compare_of_.end() || std::count(with.begin(), with.end(), group(it->second->results[0]));
  }

  bool only_user(const Value* v, const Node* n) const {
    if (is_graph_result(g_, v)) return false;
    for (const Node* u : uses_.at(v))
      if (u != n) return false;
    return true;
  }

  // Would the members plus n form a cycle through a node outside them, or
  // compute a contraction's operand inside the region? Other groups count as
  // the single node they become: reaching one member reaches all of them.
  bool forms_cycle(const std::vector<int>& gs, Node* n) const {
    std::unordered_set<const Node*> in{n};
    const Node* contraction = nullptr;
    for (int k : gs)
      for (Node* m : groups_[k].members) in.insert(m);
    for (int k : gs)
      if (groups_[k].contraction) contraction = groups_[k].contraction;
    if (contraction)
      for (const Value* v : contraction->operands)
        if (v->def && in.count(v->def)) return true;
    const size_t limit = pos_.at(n);
    std::vector<const Node*> work;
    std::unordered_set<const Node*> seen;
    auto visit = [&](const Node* x) {
      if (in.count(x) || seen.count(x)) return;
      auto g = group_of_.find(x);
      if (g == group_of_.end()) {
        seen.insert(x);
        work.push_back(x);
        return;
      }
      for (const Node* m : groups_[g->second].members)
        if (seen.insert(m).second) work.push_back(m);
    };
    auto users_of = [&](const Node* x, const std::function<bool(const Node*)>& f) {
      for (const Value* r : x->results) {
        auto it = uses_.find(r);
        if (it == uses_.end()) continue;
        for (const Node* u : it->second)
          if (f(u)) return true;
      }
      return false;
    };
    for (const Node* m : in)
      users_of(m, [&](const Node* u) {
        if (!in.count(u) && pos_.at(u) < limit) visit(u);
        return false;
      });
    while (!work.empty()) {
      const Node* x = work.back();
      work.pop_back();
      bool cycle = users_of(x, [&](const Node* u) {
        if (in.count(u)) return true;
        if (pos_.at(u) < limit) visit(u);
        return false;
      });
      if (cycle) return true;
    }
    return false;
  }

  void merge_into(int into, int from) {
    Group& a = groups_[into];
    Group& b = groups_[from];
    for (Node* m : b.members) group_of_[m] = into;
    a.members.insert(a.members.end(), b.members.begin(), b.members.end());
    if (b.contraction) a.contraction = b.contraction;
    b.alive = false;
    b.members.clear();
  }

  void add(int k, Node* n) {
    groups_[k].members.push_back(n);
    groups_[k].tail = n;
    group_of_[n] = k;
  }

  void join_elementwise(Node* n) {
    const Dims& shape = n->result()->type.shape;
    std::vector<int> cands;
    for (const Value* v : n->operands) {
      int k = group(v);
      if (k < 0 || std::count(cands.begin(), cands.end(), k)) continue;
      const Group& gr = groups_[k];
      if (gr.reduction || gr.closed || gr.shape != shape || v->type.shape != shape) continue;
      // Through any value of a loop group or a contraction group's last one, but not a mask (see fuse.h).
      if (!only_user(v, n) && ((gr.contraction && v->def != gr.tail) || n->op == OpKind::Compare)) continue;
      // A contraction's group takes only what its GEMM epilogue absorbs.
      if (gr.contraction && !in_epilogue(gr.contraction, n)) continue;
      cands.push_back(k);
    }
    // At most one contraction per region: with the loop groups its epilogue
    // absorbs, the first contraction group that makes no cycle (a backward
    // mask read from the forward pass's kernel must not keep dy's matmul from
    // its epilogue).
    std::vector<int> loops, contractions;
    for (int k : cands) (groups_[k].contraction ? contractions : loops).push_back(k);
    std::vector<std::vector<int>> tries;
    for (int c : contractions) {
      std::vector<int> with{c};
      for (int l : loops)
        if (absorbable(l, groups_[c].contraction)) with.push_back(l);
      if (has_compare(with, n)) tries.push_back(with);
    }
    if (tries.empty() && !loops.empty()) tries.push_back(loops);
    for (const std::vector<int>& with : tries) {
      if (forms_cycle(with, n)) continue;
      // The contraction group (if any) absorbs the others.
      for (size_t i = 1; i < with.size(); ++i) merge_into(with[0], with[i]);
      add(with[0], n);
      return;
    }
    for (int k : cands)
      if ((!groups_[k].contraction || has_compare({k}, n)) && !forms_cycle({k}, n)) return add(k, n);
    start(n);
  }

  // A max_pool2d(_winners) that a conv's GEMM epilogue absorbs (ir/epilogue.h) joins
  // the conv's group when it reads the group's last value, and closes it.
  void join_pool(Node* n) {
    const int k = group(n->operands[0]);
    if (k < 0) return;
    Group& gr = groups_[k];
    if (!gr.contraction || gr.closed || gr.tail != n->operands[0]->def || !in_epilogue(gr.contraction, n)) return;
    add(k, n);
    gr.closed = true;
  }

  void join_reduction(Node* n) {
    const Value* v = n->operands[0];
    int k = group(v);
    if (k < 0) return;
    Group& gr = groups_[k];
    if (gr.reduction || gr.contraction || gr.shape != v->type.shape || !only_user(v, n)) return;
    std::unordered_set<const Node*> in(gr.members.begin(), gr.members.end());
    in.insert(n);
    for (const Node* m : gr.members)
      for (const Value* r : m->results) {
        if (is_graph_result(g_, r)) return;
        for (const Node* u : uses_[r])
          if (!in.count(u)) return;
      }
    add(k, n);
    gr.reduction = n;
  }
};

// "bias" for a bias add, else the op's name.
std::string op_word(const Node& n) {
  const std::string& name = n.result()->name;
  if (n.op == OpKind::Add && name.size() >= 8 && name.compare(name.size() - 8, 8, "bias_add") == 0) return "bias";
  return std::string(ir::op_name(n.op));
}

bool numbered(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string kernel_name(const std::vector<Node*>& members) {
  // The first member with a real name (autodiff and optimizers leave numbered temporaries).
  std::string first = "kernel.x";
  for (const Node* m : members)
    if (!numbered(m->result()->name)) {
      first = m->result()->name;
      break;
    }
  size_t dot = first.rfind('.');
  std::string stem = dot == std::string::npos ? first : first.substr(0, dot);
  std::vector<std::string> words;
  for (const Node* m : members) {
    std::string w = op_word(*m);
    if (words.empty() || words.back() != w) words.push_back(w);
  }
  std::string ops;
  const size_t kMaxWords = 4;
  for (size_t i = 0; i < std::min(words.size(), kMaxWords); ++i) ops += (i ? "_" : "") + words[i];
  if (words.size() > kMaxWords) ops += "_etc";
  return stem + "." + ops;
}

// Replaces the group's members by one fusion node.
void outline(Graph& g, Group& gr) {
  // Members in graph order (merged groups interleave), the contraction first.
  std::unordered_map<const Node*, size_t> pos;
  for (size_t i = 0; i < g.nodes().size(); ++i) pos[g.nodes()[i]] = i;
  std::vector<Node*>& ms = gr.members;
  std::sort(ms.begin(), ms.end(), [&](Node* a, Node* b) {
    bool ca = a == gr.contraction, cb = b == gr.contraction;
    if (ca != cb) return ca;
    return pos.at(a) < pos.at(b);
  });
  std::unordered_set<const Node*> in(ms.begin(), ms.end());
  std::string name = kernel_name(ms);

  auto body = std::make_unique<Graph>(name);
  std::unordered_map<const Value*, Value*> map;  // outer -> body
  std::vector<Value*> inputs;
  auto body_value = [&](Value* v) -> Value* {
    auto it = map.find(v);
    if (it != map.end()) return it->second;
    Value* b;
    if (is_constant(v)) {  // splat constants are copied in
      b = body->add(OpKind::Constant, {}, v->def->attrs, v->name);
    } else {
      b = body->add_param(v->name, v->type);
      inputs.push_back(v);
    }
    map[v] = b;
    return b;
  };
  // Parameters first (a body lists them before its nodes), in first-use order.
  for (Node* m : ms)
    for (Value* v : m->operands)
      if (!(v->def && in.count(v->def)) && !is_constant(v) && !map.count(v)) body_value(v);
  const UseMap uses = users(g);
  std::vector<Value*> outputs;
  for (Node* m : ms) {
    std::vector<Value*> ops;
    for (Value* v : m->operands) ops.push_back(body_value(v));
    std::vector<std::string> names;
    for (Value* r : m->results) names.push_back(r->name);
    Node* c = body->add_node(m->op, ops, m->attrs, m->body ? m->body->clone() : nullptr, names);
    for (size_t i = 0; i < m->results.size(); ++i) {
      map[m->results[i]] = c->results[i];
      bool escapes = is_graph_result(g, m->results[i]);
      auto it = uses.find(m->results[i]);
      if (it != uses.end())
        for (const Node* u : it->second) escapes = escapes || !in.count(u);
      if (escapes) outputs.push_back(m->results[i]);
    }
  }
  std::vector<Value*> body_results;
  for (Value* o : outputs) body_results.push_back(map.at(o));
  body->set_results(body_results);
  std::string kind = gr.contraction ? "contraction" : gr.reduction ? "reduction" : "loop";
  Node* f = g.add_node(OpKind::Fusion, inputs, {{"kind", kind}}, std::move(body), {"fusion." + name});
  for (size_t i = 0; i < outputs.size(); ++i) g.replace_all_uses(outputs[i], f->results[i]);
  for (auto it = ms.rbegin(); it != ms.rend(); ++it) g.erase_node(*it);
}

bool worth_fusing(const Group& gr) {
  if (gr.members.size() > 1) return true;
  return is_elementwise(*gr.members.front());
}

RewriteStats fuse_graph(Graph& g) {
  RewriteStats stats;
  std::vector<Group> groups = Grouper(g).run();
  bool any = false;
  for (Group& gr : groups) {
    if (!worth_fusing(gr)) continue;
    stats.add(gr.contraction ? "contraction" : gr.reduction ? "reduction" : "loop");
    outline(g, gr);
    any = true;
  }
  if (any) sort_topologically(g);
  return stats;
}

}  // namespace

int count_kernels(const Graph& g) {
  int k = 0;
  for (const Node* n : g.nodes()) k += n->op != OpKind::Constant && n->op != OpKind::Reshape;
  return k;
}

std::string kernel_summary(const Graph& g) {
  std::map<std::string, int> by;
  for (const Node* n : g.nodes()) {
    if (n->op == OpKind::Constant || n->op == OpKind::Reshape) continue;
    std::string k(ir::op_name(n->op));
    if (n->op == OpKind::Fusion) k += "(" + n->attrs.s("kind") + ")";
    ++by[k];
  }
  std::string s = std::to_string(count_kernels(g)) + " kernels";
  bool first = true;
  for (const auto& [k, c] : by) {
    s += (first ? ": " : ", ") + std::to_string(c) + " " + k;
    first = false;
  }
  return s;
}

PassResult fuse(Graph& g) {
  RewriteStats s = for_each_graph(g, fuse_graph);
  return {s.total() > 0, s.str("fusions") + "; " + kernel_summary(g)};
}

}  // namespace kiln::passes
