// DOT export of an IR graph through Boost.Graph (see ir/dot.h).
#include "ir/dot.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>
#include <sstream>
#include <unordered_map>

#include "ir/printer.h"

// GCC 12 reports a false "maybe uninitialized" inside Boost's edge iterator
// (a boost::optional) when write_graphviz is instantiated.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace kiln::ir {
namespace {

struct VertexInfo {
  std::string label;
  std::string shape;
  std::string style;
};

struct EdgeInfo {
  std::string label;
};

using DotGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, VertexInfo, EdgeInfo>;

// A DOT string literal (quotes included).
std::string dot_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string abbreviate(std::string s, size_t max) { return s.size() <= max ? s : s.substr(0, max - 3) + "..."; }

std::string node_label(const Node& n) {
  std::string s;
  for (size_t i = 0; i < n.results.size(); ++i) s += (i ? ", " : "") + value_ref(*n.results[i]);
  if (!s.empty()) s += " = ";
  s += std::string(n.info().name);
  std::string attrs = format_attrs(n);
  if (!attrs.empty()) s += abbreviate(attrs, 48) + (attrs.size() > 48 ? "}" : "");
  s += " : ";
  for (size_t i = 0; i < n.results.size(); ++i) s += (i ? ", " : "") + n.results[i]->type.to_string();
  if (n.body)
    s += "\n^" + format_name(n.body->name) + ": " + std::to_string(n.body->params().size()) + " params, " +
         std::to_string(n.body->nodes().size()) + " nodes";
  return s;
}

}  // namespace

std::string to_dot(const Graph& g) {
  DotGraph dg;
  std::unordered_map<const Value*, DotGraph::vertex_descriptor> def_vertex;
  for (const Value* p : g.params())
    def_vertex[p] = boost::add_vertex({value_ref(*p) + ": " + p->type.to_string(), "box", "rounded"}, dg);
  auto use = [&](const Value* v, DotGraph::vertex_descriptor to) {
    auto it = def_vertex.find(v);
    if (it == def_vertex.end()) return;  // an invalid graph: the verifier reports it
    bool several = v->def && v->def->results.size() > 1;
    boost::add_edge(it->second, to, {several ? value_ref(*v) : ""}, dg);
  };
  std::vector<DotGraph::vertex_descriptor> node_vertex;
  for (const Node* n : g.nodes()) {
    node_vertex.push_back(boost::add_vertex({node_label(*n), "box", ""}, dg));
    for (const Value* r : n->results) def_vertex[r] = node_vertex.back();
  }
  for (size_t i = 0; i < g.nodes().size(); ++i)
    for (const Value* v : g.nodes()[i]->operands) use(v, node_vertex[i]);
  for (size_t i = 0; i < g.results().size(); ++i) {
    const Value* r = g.results()[i];
    auto vx = boost::add_vertex({"return " + std::to_string(i) + ": " + r->type.to_string(), "ellipse", ""}, dg);
    use(r, vx);
  }

  std::ostringstream os;
  auto vertex_writer = [&](std::ostream& out, DotGraph::vertex_descriptor v) {
    const VertexInfo& info = dg[v];
    out << "[label=" << dot_quote(info.label) << ", shape=" << info.shape;
    if (!info.style.empty()) out << ", style=" << info.style;
    out << "]";
  };
  auto edge_writer = [&](std::ostream& out, DotGraph::edge_descriptor e) {
    if (!dg[e].label.empty()) out << "[label=" << dot_quote(dg[e].label) << "]";
  };
  auto graph_writer = [&](std::ostream& out) {
    out << "label=" << dot_quote("func @" + format_name(g.name)) << ";\n";
    out << "node [fontname=\"monospace\"];\n";
  };
  boost::write_graphviz(os, dg, vertex_writer, edge_writer, graph_writer);
  return os.str();
}

}  // namespace kiln::ir
