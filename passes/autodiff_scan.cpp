// scan's VJP rule: a reverse scan over saved residuals.
//
// Forward: the scan is rewritten in place to also stack, as extra per-step
// outputs, the carries entering each step and the step's residuals: the
// step-varying f32 values of the body that the backward step reads (for an
// LSTM its gate activations and tanh(c)), so the backward step does not
// recompute them. Backward: a scan in the opposite direction whose body
// inlines one forward step from the saved carries, applies append_vjp to it,
// and then reads the saved residuals in place of their recomputed copies
// (dead code removal drops the recomputation they needed):
//   carries:   d(carry) for each f32 carry (seeded by the final carries'
//              cotangents), and an accumulator for each invariant that needs a
//              gradient (starting at 0);
//   sequences: the saved carries, the forward sequences, the cotangents of
//              the stacked outputs (those that have one), the saved residuals;
//   invariants: the forward invariants.
// Its final carries are the gradients of the initial carries and invariants;
// its stacked outputs are the gradients of the sequences. Neither body depends
// on the sequence length T. Values computed by a nested scan are recomputed,
// not saved (their nested backward adds results to the inlined copy).
#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "passes/autodiff.h"
#include "passes/autodiff_rules.h"

namespace kiln::passes::detail {
namespace {

using namespace kiln::ir;

// Makes `scan` also return, stacked per step, `values` of its body (parameters
// or node results), named `names`; returns the stacked results.
std::vector<Value*> save_per_step(Graph& g, Node& scan, const std::vector<Value*>& values,
                                  const std::vector<std::string>& names) {
  if (values.empty()) return {};
  const Graph& old = *scan.body;
  std::unique_ptr<Graph> body = old.clone();
  std::vector<Value*> results = body->results();
  for (const Value* v : values) {
    if (v->is_param()) {
      results.push_back(body->params()[static_cast<size_t>(v->index)]);
      continue;
    }
    size_t pos = static_cast<size_t>(std::find(old.nodes().begin(), old.nodes().end(), v->def) - old.nodes().begin());
    results.push_back(body->nodes().at(pos)->result(v->index));
  }
  body->set_results(results);
  std::vector<std::string> all;
  for (Value* r : scan.results) all.push_back(r->name + ".old");
  all.insert(all.end(), names.begin(), names.end());
  // Build the wider scan, then move its body and extra results onto `scan`, so
  // that scan's node and result values (and every use of them) stay as they are.
  const size_t n = values.size();
  Node* wide = g.add_node(OpKind::Scan, scan.operands, scan.attrs, std::move(body), all);
  std::vector<Value*> saved(wide->results.end() - static_cast<std::ptrdiff_t>(n), wide->results.end());
  for (Value* r : saved) {
    r->def = &scan;
    r->index = static_cast<int>(scan.results.size());
    scan.results.push_back(r);
  }
  scan.body = std::move(wide->body);
  wide->results.resize(wide->results.size() - n);
  wide->body = std::make_unique<Graph>();  // a placeholder; the node is dropped next
  g.erase_node(wide);
  return saved;
}

// Makes `scan` also return the carries entering each step, stacked; returns them.
std::vector<Value*> save_carries(Graph& g, Node& scan) {
  const int64_t nc = scan.attrs.i("num_carry");
  std::vector<Value*> carries;
  std::vector<std::string> names;
  for (int64_t i = 0; i < nc; ++i) {
    carries.push_back(scan.body->params()[static_cast<size_t>(i)]);
    names.push_back(scan.results[0]->name + ".saved." + carries.back()->name);
  }
  return save_per_step(g, scan, carries, names);
}

// The values of an inlined forward step (`copies`, position k holding the copy
// of the forward body's node k) that the rest of `body` reads and that are
// worth saving: f32, computed from the carries or sequences (`varying`), not by
// a nested scan. As (node position, result index), in the forward body's order.
std::vector<std::pair<size_t, int>> read_residuals(const Graph& body, const std::vector<Node*>& copies,
                                                   const std::vector<Value*>& varying) {
  std::unordered_map<const Node*, size_t> position;
  for (size_t k = 0; k < copies.size(); ++k) position[copies[k]] = k;
  std::unordered_set<const Value*> steps(varying.begin(), varying.end());
  std::set<std::pair<size_t, int>> found;
  auto read = [&](const Value* v) {
    if (v->is_param() || v->def->op == OpKind::Scan || v->type.dtype != DType::f32 || !steps.count(v)) return;
    auto it = position.find(v->def);
    if (it != position.end()) found.insert({it->second, v->index});
  };
  for (const Node* n : body.nodes()) {
    if (position.count(n)) {
      if (std::any_of(n->operands.begin(), n->operands.end(), [&](const Value* v) { return steps.count(v) != 0; }))
        steps.insert(n->results.begin(), n->results.end());
      continue;
    }
    for (const Value* v : n->operands) read(v);
  }
  for (const Value* v : body.results()) read(v);
  return {found.begin(), found.end()};
}

// Which operands and results of a scan its backward scan handles.
struct ScanVjp {
  int nc = 0, ns = 0, ni = 0;
  std::vector<int> carries, seqs, invs, outs;
  std::vector<TensorType> operand_types;
};

// The backward step of `fwd` (the forward body, saved carries included).
// `saved` are nodes()[first]->results[second] of fwd that arrive as stacked
// sequences after the outputs' cotangents instead of being recomputed. When
// `residuals` is not null it receives the values of fwd that the gradient
// reads and that are worth saving: f32, varying from step to step, not
// computed by a nested scan.
std::unique_ptr<Graph> backward_body(const Graph& fwd, const ScanVjp& s,
                                     const std::vector<std::pair<size_t, int>>& saved,
                                     std::vector<std::pair<size_t, int>>* residuals) {
  const auto& fp = fwd.params();
  auto ty = [&](int op_index) { return s.operand_types[static_cast<size_t>(op_index)]; };
  const int nc = s.nc, ns = s.ns, ni = s.ni;
  auto body = std::make_unique<Graph>(fwd.name.empty() ? "grad" : fwd.name + ".grad");
  std::vector<Value*> d_next, acc, carry_in, seq_in, d_out, saved_in, inv_in;
  for (int i : s.carries) d_next.push_back(body->add_param("grad." + fp[i]->name + ".next", ty(i)));
  for (int k : s.invs) acc.push_back(body->add_param("grad." + fp[nc + ns + k]->name + ".acc", ty(nc + ns + k)));
  for (int i = 0; i < nc; ++i) carry_in.push_back(body->add_param(fp[i]->name, ty(i)));
  for (int k = 0; k < ns; ++k) seq_in.push_back(body->add_param(fp[nc + k]->name, fp[nc + k]->type));
  for (int j : s.outs)
    d_out.push_back(body->add_param("grad." + fwd.results()[nc + j]->name, fwd.results()[nc + j]->type));
  for (auto [node, r] : saved) {
    const Value* v = fwd.nodes()[node]->result(r);
    saved_in.push_back(body->add_param("saved." + v->name, v->type));
  }
  for (int k = 0; k < ni; ++k) inv_in.push_back(body->add_param(fp[nc + ns + k]->name, ty(nc + ns + k)));

  std::vector<Value*> args = carry_in;
  args.insert(args.end(), seq_in.begin(), seq_in.end());
  args.insert(args.end(), inv_in.begin(), inv_in.end());
  std::vector<Value*> step = body->inline_graph(fwd, args);
  const std::vector<Node*> copies = body->nodes();  // copies[k] is fwd.nodes()[k]
  std::vector<Value*> outputs, cotangents, wrt;
  for (size_t a = 0; a < s.carries.size(); ++a) {
    outputs.push_back(step[s.carries[a]]);
    cotangents.push_back(d_next[a]);
  }
  for (size_t a = 0; a < s.outs.size(); ++a) {
    outputs.push_back(step[nc + s.outs[a]]);
    cotangents.push_back(d_out[a]);
  }
  for (int i : s.carries) wrt.push_back(carry_in[i]);
  for (int k : s.seqs) wrt.push_back(seq_in[k]);
  for (int k : s.invs) wrt.push_back(inv_in[k]);
  std::vector<Value*> grads = append_vjp(*body, outputs, cotangents, wrt);

  std::vector<Value*> results(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(s.carries.size()));
  for (size_t a = 0; a < s.invs.size(); ++a)
    results.push_back(body->add(OpKind::Add, {acc[a], grads[s.carries.size() + s.seqs.size() + a]}, {},
                                "grad." + fp[nc + ns + s.invs[a]]->name + ".acc.next"));
  for (size_t a = 0; a < s.seqs.size(); ++a) results.push_back(grads[s.carries.size() + a]);
  body->set_results(results);
  for (size_t a = 0; a < saved.size(); ++a)
    body->replace_all_uses(copies[saved[a].first]->result(saved[a].second), saved_in[a]);
  drop_dead(*body);  // the recomputed step keeps only what the gradient reads
  if (residuals) {
    std::vector<Value*> varying = carry_in;
    varying.insert(varying.end(), seq_in.begin(), seq_in.end());
    *residuals = read_residuals(*body, copies, varying);
  }
  return body;
}

}  // namespace

void vjp_scan(VjpContext& c) {
  Node& scan = c.node;
  Graph& g = c.graph();
  ScanVjp s;
  s.nc = static_cast<int>(scan.attrs.i("num_carry"));
  s.ns = static_cast<int>(scan.attrs.i("num_seq"));
  s.ni = c.num_operands() - s.nc - s.ns;
  const int nout = static_cast<int>(scan.results.size()) - s.nc;
  const bool reverse = scan.attrs.b("reverse");
  const int nc = s.nc, ns = s.ns, ni = s.ni;
  for (int i = 0; i < c.num_operands(); ++i) s.operand_types.push_back(c.x(i)->type);
  for (int i = 0; i < nc; ++i)
    if (c.x(i)->type.dtype == DType::f32) s.carries.push_back(i);
  for (int k = 0; k < ns; ++k)
    if (c.wants(nc + k)) s.seqs.push_back(k);
  for (int k = 0; k < ni; ++k)
    if (c.wants(nc + ns + k)) s.invs.push_back(k);
  for (int j = 0; j < nout; ++j)
    if (c.dy(nc + j)) s.outs.push_back(j);

  std::vector<Value*> saved = save_carries(g, scan);
  // Find what the backward step would recompute and read, save it from the
  // forward scan, and build the backward step that reads the saved copies.
  std::vector<std::pair<size_t, int>> residuals;
  backward_body(*scan.body, s, {}, &residuals);
  // A residual that the scan already stacks as an output is read from there.
  std::vector<Value*> stacked(residuals.size()), values;
  std::vector<std::string> names;
  for (size_t a = 0; a < residuals.size(); ++a) {
    Value* v = scan.body->nodes()[residuals[a].first]->result(residuals[a].second);
    const auto& res = scan.body->results();
    for (int j = 0; j < nout && !stacked[a]; ++j)
      if (res[static_cast<size_t>(nc + j)] == v) stacked[a] = scan.results[static_cast<size_t>(nc + j)];
    if (stacked[a]) continue;
    values.push_back(v);
    names.push_back(scan.results[0]->name + ".saved." + v->name);
  }
  std::vector<Value*> added = save_per_step(g, scan, values, names);
  for (size_t a = 0, b = 0; a < residuals.size(); ++a)
    if (!stacked[a]) stacked[a] = added[b++];
  std::unique_ptr<Graph> body = backward_body(*scan.body, s, residuals, nullptr);

  // --- the backward scan ---
  std::vector<Value*> operands;
  std::vector<std::string> result_names;
  for (int i : s.carries) {
    operands.push_back(c.dy(i) ? c.dy(i) : c.zeros(s.operand_types[static_cast<size_t>(i)]));
    result_names.push_back(c.wants(i) ? c.grad_name(i) : "grad." + c.x(i)->name + ".unused");
  }
  for (int k : s.invs) {
    operands.push_back(c.zeros(s.operand_types[static_cast<size_t>(nc + ns + k)]));
    result_names.push_back(c.grad_name(nc + ns + k));
  }
  operands.insert(operands.end(), saved.begin(), saved.end());
  for (int k = 0; k < ns; ++k) operands.push_back(c.x(nc + k));
  for (int j : s.outs) operands.push_back(c.dy(nc + j));
  operands.insert(operands.end(), stacked.begin(), stacked.end());
  for (int k = 0; k < ni; ++k) operands.push_back(c.x(nc + ns + k));
  for (int k : s.seqs) result_names.push_back(c.grad_name(nc + k));

  AttrMap attrs{{"num_carry", static_cast<int64_t>(s.carries.size() + s.invs.size())},
                {"num_seq", static_cast<int64_t>(nc + ns + static_cast<int>(s.outs.size() + stacked.size()))}};
  if (!reverse) attrs.set("reverse", true);
  Node* back = g.add_node(OpKind::Scan, operands, attrs, std::move(body), result_names);

  size_t r = 0;
  for (int i : s.carries) c.contribute(i, back->result(static_cast<int>(r++)));
  for (int k : s.invs) c.contribute(nc + ns + k, back->result(static_cast<int>(r++)));
  for (int k : s.seqs) c.contribute(nc + k, back->result(static_cast<int>(r++)));
}

}  // namespace kiln::passes::detail
