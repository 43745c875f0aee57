// scan's VJP rule: a reverse scan over saved residuals.
//
// Forward: the scan is rewritten in place to also stack, as extra per-step
// outputs, the carries entering each step (the residuals). Backward: a scan in
// the opposite direction whose body recomputes one forward step from the saved
// carries and applies append_vjp to it:
//   carries:   d(carry) for each f32 carry (seeded by the final carries'
//              cotangents), and an accumulator for each invariant that needs a
//              gradient (starting at 0);
//   sequences: the saved carries, the forward sequences, and the cotangents of
//              the stacked outputs (those that have one);
//   invariants: the forward invariants.
// Its final carries are the gradients of the initial carries and invariants;
// its stacked outputs are the gradients of the sequences. Neither body depends
// on the sequence length T.
#include <algorithm>

#include "passes/autodiff.h"
#include "passes/autodiff_rules.h"

namespace kiln::passes::detail {
namespace {

using namespace kiln::ir;

// Makes `scan` also return the carries entering each step, stacked; returns them.
std::vector<Value*> save_carries(Graph& g, Node& scan) {
  int64_t nc = scan.attrs.i("num_carry");
  if (nc == 0) return {};
  std::unique_ptr<Graph> body = scan.body->clone();
  std::vector<Value*> results = body->results();
  for (int64_t i = 0; i < nc; ++i) results.push_back(body->params()[static_cast<size_t>(i)]);
  body->set_results(results);
  std::vector<std::string> names;
  for (Value* r : scan.results) names.push_back(r->name + ".old");
  for (int64_t i = 0; i < nc; ++i) names.push_back(scan.results[0]->name + ".saved." + body->params()[i]->name);
  // Build the wider scan, then move its body and extra results onto `scan`, so
  // that scan's node and result values (and every use of them) stay as they are.
  Node* wide = g.add_node(OpKind::Scan, scan.operands, scan.attrs, std::move(body), names);
  std::vector<Value*> saved(wide->results.end() - nc, wide->results.end());
  for (Value* r : saved) {
    r->def = &scan;
    r->index = static_cast<int>(scan.results.size());
    scan.results.push_back(r);
  }
  scan.body = std::move(wide->body);
  wide->results.resize(wide->results.size() - static_cast<size_t>(nc));
  wide->body = std::make_unique<Graph>();  // a placeholder; the node is dropped next
  g.erase_node(wide);
  return saved;
}

}  // namespace

void vjp_scan(VjpContext& c) {
  Node& scan = c.node;
  Graph& g = c.graph();
  const int nc = static_cast<int>(scan.attrs.i("num_carry"));
  const int ns = static_cast<int>(scan.attrs.i("num_seq"));
  const int ni = c.num_operands() - nc - ns;
  const int nout = static_cast<int>(scan.results.size()) - nc;
  const bool reverse = scan.attrs.b("reverse");

  std::vector<int> carries, seqs, invs, outs;  // what the backward scan handles
  for (int i = 0; i < nc; ++i)
    if (c.x(i)->type.dtype == DType::f32) carries.push_back(i);
  for (int k = 0; k < ns; ++k)
    if (c.wants(nc + k)) seqs.push_back(k);
  for (int k = 0; k < ni; ++k)
    if (c.wants(nc + ns + k)) invs.push_back(k);
  for (int j = 0; j < nout; ++j)
    if (c.dy(nc + j)) outs.push_back(j);

  std::vector<Value*> saved = save_carries(g, scan);
  const Graph& fwd = *scan.body;  // the original body plus the saved carries as results
  const auto& fp = fwd.params();
  auto ty = [&](int op_index) { return c.x(op_index)->type; };
  auto step_type = [&](int op_index) { return fp[static_cast<size_t>(op_index)]->type; };

  // --- the backward body ---
  auto body = std::make_unique<Graph>(fwd.name.empty() ? "grad" : fwd.name + ".grad");
  std::vector<Value*> d_next, acc, carry_in, seq_in, d_out, inv_in;
  for (int i : carries) d_next.push_back(body->add_param("grad." + fp[i]->name + ".next", ty(i)));
  for (int k : invs) acc.push_back(body->add_param("grad." + fp[nc + ns + k]->name + ".acc", ty(nc + ns + k)));
  for (int i = 0; i < nc; ++i) carry_in.push_back(body->add_param(fp[i]->name, ty(i)));
  for (int k = 0; k < ns; ++k) seq_in.push_back(body->add_param(fp[nc + k]->name, step_type(nc + k)));
  for (int j : outs)
    d_out.push_back(body->add_param("grad." + fwd.results()[nc + j]->name, fwd.results()[nc + j]->type));
  for (int k = 0; k < ni; ++k) inv_in.push_back(body->add_param(fp[nc + ns + k]->name, ty(nc + ns + k)));

  std::vector<Value*> args = carry_in;
  args.insert(args.end(), seq_in.begin(), seq_in.end());
  args.insert(args.end(), inv_in.begin(), inv_in.end());
  std::vector<Value*> step = body->inline_graph(fwd, args);
  std::vector<Value*> outputs, cotangents, wrt;
  for (size_t a = 0; a < carries.size(); ++a) {
    outputs.push_back(step[carries[a]]);
    cotangents.push_back(d_next[a]);
  }
  for (size_t a = 0; a < outs.size(); ++a) {
    outputs.push_back(step[nc + outs[a]]);
    cotangents.push_back(d_out[a]);
  }
  for (int i : carries) wrt.push_back(carry_in[i]);
  for (int k : seqs) wrt.push_back(seq_in[k]);
  for (int k : invs) wrt.push_back(inv_in[k]);
  std::vector<Value*> grads = append_vjp(*body, outputs, cotangents, wrt);

  std::vector<Value*> results(grads.begin(), grads.begin() + carries.size());
  for (size_t a = 0; a < invs.size(); ++a)
    results.push_back(body->add(OpKind::Add, {acc[a], grads[carries.size() + seqs.size() + a]}, {},
                                "grad." + fp[nc + ns + invs[a]]->name + ".acc.next"));
  for (size_t a = 0; a < seqs.size(); ++a) results.push_back(grads[carries.size() + a]);
  body->set_results(results);
  drop_dead(*body);  // the recomputed step keeps only what the gradient reads

  // --- the backward scan ---
  std::vector<Value*> operands;
  std::vector<std::string> names;
  for (int i : carries) {
    operands.push_back(c.dy(i) ? c.dy(i) : c.zeros(ty(i)));
    names.push_back(c.wants(i) ? c.grad_name(i) : "grad." + c.x(i)->name + ".unused");
  }
  for (int k : invs) {
    operands.push_back(c.zeros(ty(nc + ns + k)));
    names.push_back(c.grad_name(nc + ns + k));
  }
  operands.insert(operands.end(), saved.begin(), saved.end());
  for (int k = 0; k < ns; ++k) operands.push_back(c.x(nc + k));
  for (int j : outs) operands.push_back(c.dy(nc + j));
  for (int k = 0; k < ni; ++k) operands.push_back(c.x(nc + ns + k));
  for (int k : seqs) names.push_back(c.grad_name(nc + k));

  AttrMap attrs{{"num_carry", static_cast<int64_t>(carries.size() + invs.size())},
                {"num_seq", static_cast<int64_t>(nc + ns + static_cast<int>(outs.size()))}};
  if (!reverse) attrs.set("reverse", true);
  Node* back = g.add_node(OpKind::Scan, operands, attrs, std::move(body), names);

  size_t r = 0;
  for (int i : carries) c.contribute(i, back->result(static_cast<int>(r++)));
  for (int k : invs) c.contribute(nc + ns + k, back->result(static_cast<int>(r++)));
  for (int k : seqs) c.contribute(nc + k, back->result(static_cast<int>(r++)));
}

}  // namespace kiln::passes::detail
