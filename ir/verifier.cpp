// The IR verifier (see ir/verifier.h for the list of checks).
#include "ir/verifier.h"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/topological_sort.hpp>
#include <iterator>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "ir/printer.h"

namespace kiln::ir {
namespace {

std::string ref(const Value* v) { return v ? value_ref(*v) : "%<null>"; }

// "%a, %b = scan": names a node in messages without its (maybe broken) operands.
std::string label(const Node& n) {
  std::string s;
  for (size_t i = 0; i < n.results.size(); ++i) s += (i ? ", " : "") + ref(n.results[i]);
  return (s.empty() ? "" : s + " = ") + std::string(n.info().name);
}

// True if the nodes' def-use edges within `g` contain a cycle.
bool has_cycle(const Graph& g) {
  using DiGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  std::unordered_map<const Node*, size_t> index;
  for (const Node* n : g.nodes())
    if (n) index.emplace(n, index.size());
  DiGraph dg(index.size());
  for (const auto& [n, i] : index)
    for (const Value* v : n->operands)
      if (v && v->owner == &g && v->def && index.count(v->def)) boost::add_edge(index.at(v->def), i, dg);
  std::vector<DiGraph::vertex_descriptor> order;
  try {
    boost::topological_sort(dg, std::back_inserter(order));
  } catch (const boost::not_a_dag&) {
    return true;
  }
  return false;
}

class Checker {
 public:
  std::vector<std::string> errors;

  // Returns false if the graph has null parameters or results (then no shape
  // rule may look at it).
  bool graph(const Graph& g, const std::string& where, std::vector<const Graph*>& enclosing) {
    std::unordered_map<std::string, const Value*> names;
    std::unordered_set<const Value*> defined, defined_anywhere;
    std::unordered_set<const Node*> seen;
    bool sound = true, misordered = false;

    auto name_ok = [&](const Value* v, const std::string& at) {
      if (v->name.empty()) error(at, "a value has an empty name");
      auto [it, fresh] = names.emplace(v->name, v);
      if (!fresh && it->second != v) error(at, "name " + ref(v) + " is defined twice");
    };
    auto foreign = [&](const Value* v) {
      bool outer = std::find(enclosing.begin(), enclosing.end(), v->owner) != enclosing.end();
      return outer ? " is defined in an enclosing graph; a region sees only its own parameters"
                   : " belongs to another graph";
    };

    for (size_t i = 0; i < g.params().size(); ++i) {
      const Value* p = g.params()[i];
      std::string at = where + ": parameter " + std::to_string(i);
      if (!p) {
        error(at, "is null");
        sound = false;
        continue;
      }
      if (p->owner != &g) error(at, ref(p) + " belongs to another graph");
      if (p->def) error(at, ref(p) + " has a defining node");
      if (p->index != static_cast<int>(i)) error(at, ref(p) + " has index " + std::to_string(p->index));
      name_ok(p, at);
      defined.insert(p);
    }
    for (const Node* n : g.nodes())
      if (n)
        for (const Value* r : n->results) defined_anywhere.insert(r);

    for (const Node* n : g.nodes()) {
      if (!n) {
        error(where, "a null node is listed");
        continue;
      }
      std::string at = where + ": " + label(*n);
      if (!seen.insert(n).second) {
        error(at, "the node is listed twice");
        continue;
      }
      const OpInfo& info = n->info();
      bool inferable = true;
      for (size_t i = 0; i < n->operands.size(); ++i) {
        const Value* v = n->operands[i];
        std::string what = "operand " + std::to_string(i) + " " + ref(v);
        if (!v) {
          error(at, "operand " + std::to_string(i) + " is null");
          inferable = false;
        } else if (v->owner != &g) {
          error(at, what + foreign(v));
        } else if (!defined.count(v)) {
          if (defined_anywhere.count(v)) {
            error(at, what + " is used before its definition");
            misordered = true;
          } else {
            error(at, what + " is not defined in the graph (was its node erased?)");
          }
        }
      }
      if (info.num_operands >= 0 && static_cast<int>(n->operands.size()) != info.num_operands) {
        error(at,
              "has " + std::to_string(n->operands.size()) + " operands, expected " + std::to_string(info.num_operands));
        inferable = false;
      }
      if (info.has(kHasBody) != (n->body != nullptr)) {
        error(at, n->body ? "has a region but the op takes none" : "needs a region");
        inferable = false;
      }
      for (size_t i = 0; i < n->results.size(); ++i) {
        const Value* r = n->results[i];
        std::string rat = at + ": result " + std::to_string(i);
        if (!r) {
          error(rat, "is null");
          inferable = false;
          continue;
        }
        if (r->owner != &g) error(rat, ref(r) + " belongs to another graph");
        if (r->def != n || r->index != static_cast<int>(i)) error(rat, ref(r) + " does not point back to its node");
        name_ok(r, rat);
      }
      try {
        check_attrs(n->op, n->attrs);
      } catch (const Error& e) {
        error(at, e.what());
        inferable = false;
      }
      if (n->body) {
        enclosing.push_back(&g);
        inferable = graph(*n->body, at + ": region ^" + format_name(n->body->name), enclosing) && inferable;
        enclosing.pop_back();
      }
      if (inferable) types(*n, at);
      for (const Value* r : n->results) defined.insert(r);
    }

    for (size_t i = 0; i < g.results().size(); ++i) {
      const Value* r = g.results()[i];
      std::string at = where + ": return value " + std::to_string(i);
      if (!r) {
        error(at, "is null");
        sound = false;
      } else if (r->owner != &g) {
        error(at, ref(r) + foreign(r));
      } else if (!defined.count(r)) {
        error(at, ref(r) + " is not defined in the graph");
      }
    }
    if (misordered)
      error(where, has_cycle(g) ? "the nodes' dependencies form a cycle"
                                : "the nodes are out of order (a topological order exists)");
    return sound;
  }

 private:
  void error(const std::string& at, const std::string& what) { errors.push_back(at + ": " + what); }

  void types(const Node& n, const std::string& at) {
    std::vector<TensorType> in;
    for (const Value* v : n.operands) in.push_back(v->type);
    std::vector<TensorType> out;
    try {
      out = infer_types(n.op, in, n.attrs, n.body.get());
    } catch (const Error& e) {
      error(at, e.what());
      return;
    }
    if (out.size() != n.results.size()) {
      error(at, "has " + std::to_string(n.results.size()) + " results, the op infers " + std::to_string(out.size()));
      return;
    }
    for (size_t i = 0; i < out.size(); ++i)
      if (n.results[i]->type != out[i])
        error(at, "result " + ref(n.results[i]) + " has type " + n.results[i]->type.to_string() + ", the op infers " +
                      out[i].to_string());
  }
};

std::string func_where(const Graph& g) { return "func @" + format_name(g.name); }

void throw_if_any(const std::vector<std::string>& errors) {
  if (errors.empty()) return;
  std::string msg =
      "IR verification failed (" + std::to_string(errors.size()) + " problem" + (errors.size() == 1 ? "" : "s") + "):";
  for (const std::string& e : errors) msg += "\n  " + e;
  throw Error(msg);
}

}  // namespace

std::vector<std::string> verify_errors(const Graph& g) {
  Checker c;
  std::vector<const Graph*> enclosing;
  c.graph(g, func_where(g), enclosing);
  return c.errors;
}

std::vector<std::string> verify_errors(const Module& m) {
  Checker c;
  std::set<std::string> names;
  for (const auto& f : m.funcs) {
    if (!f) {
      c.errors.push_back("module: a null func");
      continue;
    }
    if (!names.insert(f->name).second) c.errors.push_back(func_where(*f) + ": defined twice in the module");
    std::vector<const Graph*> enclosing;
    c.graph(*f, func_where(*f), enclosing);
  }
  return c.errors;
}

void verify(const Graph& g) { throw_if_any(verify_errors(g)); }
void verify(const Module& m) { throw_if_any(verify_errors(m)); }

}  // namespace kiln::ir
