// plan-memory (see plan_memory.h): liveness, in-place and view classes, then
// greedy first-fit packing of each pool.
#include "passes/plan_memory.h"

#include <algorithm>
#include <sstream>

#include "ir/pack.h"
#include "ir/printer.h"
#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr int64_t kFixedAlign = 64, kBatchAlign = 16;

int64_t round_up(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

// Bytes of t: per unit of N when it has a batch dim, else in total.
int64_t raw_bytes(const ir::TensorType& t) {
  return t.static_elements() * static_cast<int64_t>(ir::dtype_size(t.dtype));
}

bool elementwise_kernel(const Node& n) {
  return n.info().has(ir::kElementwise) || (n.op == OpKind::Fusion && n.attrs.s("kind") == "loop");
}

// A buffer shared by several values (views, in-place chains): one interval.
struct Class {
  int64_t bytes = 0;
  bool batch = false;
  int first = 0, last = 0;
  int64_t offset = 0;
};

class Planner {
 public:
  explicit Planner(const Graph& g) : g_(g) {}

  MemoryPlan run() {
    liveness();
    place_params_and_results();
    for (size_t i = 0; i < g_.nodes().size(); ++i) place_node(static_cast<int>(i));
    pack(false);
    pack(true);
    for (auto& [v, s] : plan_.slots) {
      if (s.kind != BufferSlot::Kind::Fixed && s.kind != BufferSlot::Kind::Batch) continue;
      const Class& c = classes_[class_of_.at(v)];
      s.offset = c.offset;
      s.bytes = c.bytes;
    }
    return std::move(plan_);
  }

 private:
  const Graph& g_;
  MemoryPlan plan_;
  std::unordered_map<const Value*, int> def_, last_;
  std::unordered_map<const Value*, int> class_of_;
  std::vector<Class> classes_;

  int end() const { return static_cast<int>(g_.nodes().size()); }

  void liveness() {
    for (const Value* p : g_.params()) def_[p] = -1, last_[p] = -1;
    for (int i = 0; i < end(); ++i) {
      const Node* n = g_.nodes()[i];
      for (const Value* v : n->operands) last_[v] = std::max(last_[v], i);
      for (const Value* r : n->results) def_[r] = i, last_.emplace(r, i);
    }
    for (const Value* r : g_.results()) last_[r] = end();
  }

  // Results updating parameters in place (train steps), then every other result.
  void place_params_and_results() {
    for (const Value* p : g_.params()) plan_.slots[p] = {BufferSlot::Kind::Param, 0, 0, p->index, nullptr, -1, last_[p]};
    const auto& ps = g_.params();
    const auto& rs = g_.results();
    if (!ps.empty() && ps.back()->name == "optimizer.learning_rate") {
      // Match results and parameters from the end while the types agree.
      int r = static_cast<int>(rs.size()) - 1, p = static_cast<int>(ps.size()) - 2;
      for (; r >= 0 && p >= 0 && rs[r]->type == ps[p]->type; --r, --p)
        if (updates_in_place(rs[r], ps[p])) {
          plan_.slots[rs[r]] = {BufferSlot::Kind::Param, 0, 0, p, ps[p], def_[rs[r]], end()};
          plan_.in_place_results.push_back({r, p});
        }
      std::reverse(plan_.in_place_results.begin(), plan_.in_place_results.end());
    }
    for (size_t i = 0; i < rs.size(); ++i)
      if (!plan_.slots.count(rs[i]))
        plan_.slots[rs[i]] = {BufferSlot::Kind::Result, 0, 0, static_cast<int>(i), nullptr, def_[rs[i]], end()};
  }

  // Result r may take parameter p's buffer: r is computed by a node, p is not
  // returned as itself, no other result takes p, and p is read last by r's
  // node through an elementwise kernel (or before it).
  bool updates_in_place(const Value* r, const Value* p) {
    if (!r->def || is_graph_result(g_, p) || std::count(g_.results().begin(), g_.results().end(), r) != 1) return false;
    int d = def_.at(r);
    if (last_[p] < d) return true;
    return last_[p] == d && elementwise_kernel(*r->def) && p->type == r->type;
  }

  int new_class(const Value* v) {
    Class c;
    c.batch = v->type.has_batch();
    c.bytes = round_up(raw_bytes(v->type), c.batch ? kBatchAlign : kFixedAlign);
    c.first = def_[v];
    c.last = last_[v];
    classes_.push_back(c);
    return static_cast<int>(classes_.size()) - 1;
  }

  void extend(int cls, const Value* v) {
    class_of_[v] = cls;
    classes_[cls].last = std::max(classes_[cls].last, last_[v]);
  }

  void place_node(int i) {
    const Node* n = g_.nodes()[i];
    std::vector<const Value*> taken;
    for (const Value* r : n->results) {
      if (plan_.slots.count(r)) continue;  // a result (or an update in place)
      // Unplanned: a buffer of its own, aligned as the arena aligns it.
      bool batch = r->type.has_batch();
      int64_t bytes = round_up(raw_bytes(r->type), batch ? kBatchAlign : kFixedAlign);
      plan_.unplanned_fixed += batch ? 0 : bytes;
      plan_.unplanned_batch += batch ? bytes : 0;
      BufferSlot s{r->type.has_batch() ? BufferSlot::Kind::Batch : BufferSlot::Kind::Fixed, 0, 0, -1, nullptr, i,
                   last_[r]};
      const Value* src = n->op == OpKind::Reshape ? n->operands[0] : nullptr;
      if (src) {  // a view: the operand's buffer lives on
        s.shares = src;
        if (class_of_.count(src)) {
          s.kind = BufferSlot::Kind::View;
          extend(class_of_.at(src), r);
          plan_.slots[r] = s;
          continue;
        }
        if (plan_.slots.count(src)) {  // a view of a parameter or result buffer
          s.kind = BufferSlot::Kind::View;
          plan_.slots[r] = s;
          continue;
        }
      }
      const Value* dying = elementwise_kernel(*n) ? reusable_operand(*n, i, r, taken) : nullptr;
      if (dying) {
        s.shares = dying;
        taken.push_back(dying);
        extend(class_of_.at(dying), r);
        ++plan_.in_place_nodes;
      } else {
        class_of_[r] = new_class(r);
      }
      plan_.slots[r] = s;
    }
  }

  // An arena operand of r's type whose buffer's last reader is this node.
  const Value* reusable_operand(const Node& n, int i, const Value* r, const std::vector<const Value*>& taken) {
    for (const Value* o : n.operands) {
      if (o->type != r->type || !class_of_.count(o) || std::count(taken.begin(), taken.end(), o)) continue;
      if (classes_[class_of_.at(o)].last != i) continue;
      return o;
    }
    return nullptr;
  }

  // Each class's offset in its pool (ir::pack_largest_first).
  void pack(bool batch) {
    std::vector<int> order;
    std::vector<ir::Lifetime> bufs;
    for (size_t c = 0; c < classes_.size(); ++c)
      if (classes_[c].batch == batch) {
        order.push_back(static_cast<int>(c));
        bufs.push_back({classes_[c].bytes, 1, classes_[c].first, classes_[c].last});
      }
    auto [at, top] = ir::pack_largest_first(bufs);
    for (size_t k = 0; k < order.size(); ++k) classes_[order[k]].offset = at[k];
    (batch ? plan_.batch_bytes : plan_.fixed_bytes) = top;
  }
};

std::string bytes_str(int64_t fixed, int64_t batch) {
  if (!batch) return std::to_string(fixed);
  return std::to_string(fixed) + " + " + std::to_string(batch) + "*N";
}

std::string slot_str(const BufferSlot& s) {
  switch (s.kind) {
    case BufferSlot::Kind::Param:
      return "param " + std::to_string(s.index) + (s.shares ? " (updated in place)" : "");
    case BufferSlot::Kind::Result: return "result " + std::to_string(s.index);
    case BufferSlot::Kind::View: return "view of " + ir::value_ref(*s.shares);
    case BufferSlot::Kind::Fixed:
    case BufferSlot::Kind::Batch: {
      bool b = s.kind == BufferSlot::Kind::Batch;
      std::string at = b ? std::to_string(s.offset) + "*N" : std::to_string(s.offset);
      std::string size = b ? std::to_string(s.bytes) + "*N" : std::to_string(s.bytes);
      std::string str = "arena." + std::string(b ? "batch" : "fixed") + "[" + at + ", +" + size + ")";
      if (s.shares) str += " in place of " + ir::value_ref(*s.shares);
      return str;
    }
  }
  return "";
}

}  // namespace

std::string MemoryPlan::summary(int64_t n) const {
  std::ostringstream s;
  s << "arena " << bytes_str(fixed_bytes, batch_bytes) << " bytes (at N=" << n << ": " << peak_bytes(n)
    << "; unplanned " << unplanned_bytes(n) << "), " << in_place_nodes << " in place, " << in_place_results.size()
    << " updates in place";
  return s.str();
}

MemoryPlan plan_memory(const Graph& g) { return Planner(g).run(); }

std::string print_with_plan(const Graph& g) {
  MemoryPlan plan = plan_memory(g);
  std::istringstream in(ir::to_string(g));
  std::ostringstream out;
  out << "// buffer plan: " << plan.summary() << "\n";
  std::string line;
  size_t k = 0;
  while (std::getline(in, line)) {
    out << line;
    bool head = line.size() > 3 && line.compare(0, 3, "  %") == 0;
    if (head && k < g.nodes().size()) {
      const Node* n = g.nodes()[k++];
      std::string note;
      for (const Value* r : n->results) note += (note.empty() ? "" : "; ") + slot_str(plan.slots.at(r));
      out << "  // " << note;
    }
    out << "\n";
  }
  return out.str();
}

PassResult plan_memory_pass(Graph& g) { return {false, plan_memory(g).summary()}; }

}  // namespace kiln::passes
