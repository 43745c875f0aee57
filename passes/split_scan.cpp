// split-scan (see split_scan.h).
#include "passes/split_scan.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Value;

using NodeSet = std::unordered_set<const Node*>;

// Adds to `set` every node of the body that `v` depends on.
void add_closure(const Value* v, NodeSet& set) {
  if (v->is_param() || set.count(v->def)) return;
  set.insert(v->def);
  for (const Value* o : v->def->operands) add_closure(o, set);
}

// Whether v depends on one of `params`.
bool depends_on(const Value* v, const std::unordered_set<const Value*>& params,
                std::unordered_map<const Value*, bool>& memo) {
  if (v->is_param()) return params.count(v) > 0;
  if (auto it = memo.find(v); it != memo.end()) return it->second;
  bool d = false;
  for (const Value* o : v->def->operands) d = d || depends_on(o, params, memo);
  return memo[v] = d;
}

// A new body: params `params` (copies of these values' names, and of their
// types unless `types` gives them), the nodes of `from` in `nodes` in body
// order (result types inferred again), results `results`.
std::unique_ptr<Graph> sub_body(const Graph& from, const std::string& name, const std::vector<const Value*>& params,
                                const NodeSet& nodes, const std::vector<const Value*>& results,
                                const std::vector<ir::TensorType>* types = nullptr) {
  auto g = std::make_unique<Graph>(name);
  std::unordered_map<const Value*, Value*> map;
  for (size_t i = 0; i < params.size(); ++i)
    map[params[i]] = g->add_param(params[i]->name, types ? (*types)[i] : params[i]->type);
  for (const Node* n : from.nodes()) {
    if (!nodes.count(n)) continue;
    std::vector<Value*> ops;
    for (const Value* v : n->operands) ops.push_back(map.at(v));
    std::vector<std::string> names;
    for (const Value* r : n->results) names.push_back(r->name);
    Node* c = g->add_node(n->op, std::move(ops), n->attrs, n->body ? n->body->clone() : nullptr, names);
    for (size_t i = 0; i < n->results.size(); ++i) map[n->results[i]] = c->results[i];
  }
  std::vector<Value*> res;
  for (const Value* v : results) res.push_back(map.at(v));
  g->set_results(std::move(res));
  return g;
}

// The seq and invariant params of `body` (as positions) that `nodes` or `results` read.
std::vector<size_t> params_read(const Graph& body, size_t first, const NodeSet& nodes,
                                const std::vector<const Value*>& results) {
  std::unordered_set<const Value*> read(results.begin(), results.end());
  for (const Node* n : nodes) read.insert(n->operands.begin(), n->operands.end());
  std::vector<size_t> out;
  for (size_t i = first; i < body.params().size(); ++i)
    if (read.count(body.params()[i])) out.push_back(i);
  return out;
}

// How a qualifying scan splits: its carries with the batch dim (`rows`) and
// without (`sums`), the body nodes of each part, and the values of the first
// part that the second reads (`cross`, returned per step by the first).
struct Split {
  std::vector<size_t> rows, sums;
  NodeSet first, second;
  std::vector<const Value*> first_results;  // next rows, then the scan's per-step outputs
  std::vector<const Value*> cross;
};

// The split of scan s (split_scan.h), or nullopt when it does not qualify.
std::optional<Split> plan_split(const Node& s) {
  const Graph& body = *s.body;
  const size_t nc = static_cast<size_t>(s.attrs.i("num_carry")), ns = static_cast<size_t>(s.attrs.i("num_seq"));
  const size_t nr = body.results().size();
  if (ns == 0) return std::nullopt;
  Split sp;
  for (size_t i = 0; i < nc; ++i) (body.params()[i]->type.has_batch() ? sp.rows : sp.sums).push_back(i);
  if (sp.rows.empty() || sp.sums.empty()) return std::nullopt;
  for (size_t r = nc; r < nr; ++r)
    if (!body.results()[r]->type.has_batch()) return std::nullopt;

  // The first part: what the batch carries and the per-step outputs need; none of it may read a sum.
  for (size_t i : sp.rows) sp.first_results.push_back(body.results()[i]);
  for (size_t r = nc; r < nr; ++r) sp.first_results.push_back(body.results()[r]);
  for (const Value* v : sp.first_results) add_closure(v, sp.first);
  std::unordered_set<const Value*> sum_params, row_params, per_step;  // per_step: batch carries and steps
  for (size_t i : sp.sums) sum_params.insert(body.params()[i]);
  for (size_t i : sp.rows) row_params.insert(body.params()[i]);
  for (size_t i = 0; i < nc + ns; ++i)
    if (i >= nc || row_params.count(body.params()[i])) per_step.insert(body.params()[i]);
  std::unordered_map<const Value*, bool> on_sums, on_step;
  for (const Value* v : sp.first_results)
    if (depends_on(v, sum_params, on_sums)) return std::nullopt;

  // The second: what the sums need. Values of the first that do not depend
  // on its carries or steps (constants) are computed again; the rest cross
  // over as per-step outputs of the first.
  std::unordered_set<const Value*> crossed;
  std::function<void(const Value*)> need = [&](const Value* v) {
    if (v->is_param() && !row_params.count(v)) return;
    if (!v->is_param() && sp.second.count(v->def)) return;
    if (row_params.count(v) || (sp.first.count(v->def) && depends_on(v, per_step, on_step))) {
      if (crossed.insert(v).second) sp.cross.push_back(v);
      return;
    }
    sp.second.insert(v->def);
    for (const Value* o : v->def->operands) need(o);
  };
  for (size_t i : sp.sums) need(body.results()[i]);
  if (sp.second.empty()) return std::nullopt;
  for (const Value* v : sp.cross)
    if (!v->type.has_batch()) return std::nullopt;  // only stacks of rows cross over
  return sp;
}

// Fewer columns than this stay one scan: the blocks' kernels would be narrower than two vectors.
constexpr int64_t kMinSplitColumns = 16;
// Two blocks: one per thread of the 2-core machines Kiln is measured on. The
// split changes no bits, so the count is a choice of speed alone; more blocks
// add a scan's per-step calls each and narrow every block's matmul.
constexpr int64_t kColumnBlocks = 2;

// The sums' columns (split_scan.h): when every sum's column j is computed
// from column j of its own carry and of the stacks the first scan returns,
// and otherwise from whole values (an LSTM's dW = sum h^T dz, db = sum dz),
// the sums run as kColumnBlocks scans over blocks of those columns.
struct Columns {
  int64_t count = 0;                       // the last dim of every sum
  std::unordered_set<const Value*> split;  // body values computed block by block
  // Block b holds columns [start(b), start(b + 1)).
  int64_t start(size_t b) const { return count * static_cast<int64_t>(b) / kColumnBlocks; }
  ir::TensorType block_type(ir::TensorType t, size_t b) const {
    t.shape.back() = start(b + 1) - start(b);
    return t;
  }
};

std::string block_name(const std::string& name, size_t b) { return name + ".block" + std::to_string(b); }

std::optional<Columns> plan_columns(const Graph& body, const Split& sp) {
  const ir::TensorType& first = body.params()[sp.sums[0]]->type;
  if (first.rank() == 0 || first.shape.back() < kMinSplitColumns) return std::nullopt;
  Columns cols;
  cols.count = first.shape.back();
  std::unordered_set<const Value*> whole, sum_params, cross(sp.cross.begin(), sp.cross.end());
  for (size_t i : sp.sums) {
    const Value* carry = body.params()[i];
    if (carry->type.rank() == 0 || carry->type.shape.back() != cols.count) return std::nullopt;
    sum_params.insert(carry);
    cols.split.insert(carry);  // every block's carry is its columns, read or not
  }
  // Marks v as computed block by block or whole (in every block); false when it cannot be.
  auto demand = [&](const Value* v, bool in_blocks) {
    if (in_blocks) {
      if (whole.count(v) || v->type.rank() == 0 || v->type.shape.back() != cols.count) return false;
      // Blocks of a carry are sliced before the scan; of a crossing stack, in the first scan's body.
      if (v->is_param() ? !sum_params.count(v) : !sp.second.count(v->def) && !cross.count(v)) return false;
      cols.split.insert(v);
      return true;
    }
    if (cols.split.count(v)) return false;
    if (!v->is_param() && sp.second.count(v->def) && v->def->op != ir::OpKind::Constant) return false;
    whole.insert(v);
    return true;
  };
  for (size_t i : sp.sums)
    if (!demand(body.results()[i], true)) return std::nullopt;
  const auto& nodes = body.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {  // readers before what they read
    const Node& n = **it;
    if (!sp.second.count(&n) || n.op == ir::OpKind::Constant) continue;
    if (n.results.size() != 1 || !cols.split.count(n.results[0])) return std::nullopt;
    const ir::Dims& out = n.results[0]->type.shape;
    bool ok = false;
    if (n.info().has(ir::kElementwise)) {  // same-shape operands, or scalars
      ok = !n.attrs.has("broadcast_dims");
      for (const Value* o : n.operands)
        ok = ok && (o->type.rank() == 0 ? demand(o, false) : o->type.shape == out && demand(o, true));
    } else if (n.info().has(ir::kReduction)) {  // over other axes than the last
      const int64_t rank = n.operands[0]->type.rank();
      const auto& axes = n.attrs.ints("axes");
      ok = std::none_of(axes.begin(), axes.end(), [&](int64_t a) { return a == rank - 1 || a == -1; }) &&
           demand(n.operands[0], true);
    } else if (n.op == ir::OpKind::Matmul) {  // a whole lhs by the columns of the rhs
      ok = !n.attrs.b("transpose_b") && n.operands[0]->type.rank() == 2 && n.operands[1]->type.rank() == 2 &&
           demand(n.operands[0], false) && demand(n.operands[1], true);
    }
    if (!ok) return std::nullopt;
  }
  return cols;
}

// Block b of v's last axis (Columns): a constant of its shape when v is a
// constant (a splat: a sum's zero start), else a slice.
Value* column_block(Graph& g, Value* v, const Columns& cols, size_t b) {
  if (v->def && v->def->op == ir::OpKind::Constant) {
    ir::AttrMap attrs = v->def->attrs;
    attrs.set("shape", cols.block_type(v->type, b).shape);
    return g.add(ir::OpKind::Constant, {}, attrs, block_name(v->name, b));
  }
  return g.add(ir::OpKind::Slice, {v},
               {{"axis", v->type.rank() - 1}, {"start", cols.start(b)}, {"limit", cols.start(b + 1)}},
               block_name(v->name, b));
}

// The blocks of one value joined again along its last axis.
Value* joined(Graph& g, const std::vector<Value*>& blocks, const std::string& name) {
  return g.add(ir::OpKind::Concat, blocks, {{"axis", blocks[0]->type.rank() - 1}}, name);
}

// The scans of split sp of scan s, appended to `into`; operand(i) is what
// stands for s's operand i there (the sequences' steps may be chunks of the
// original), carry(j, b) for block b of sum sp.sums[j]'s carry (block 0, the
// whole carry, without cols). Returns the first scan (next rows, per-step
// outputs, cross stacks) and the sums' blocks, [j][b]: the results of one
// scan per block (consecutive scans), or of the one second scan.
std::pair<Node*, std::vector<std::vector<Value*>>> add_pair(Graph& into, const Node& s, const Split& sp,
                                                            const Columns* cols,
                                                            const std::function<Value*(size_t)>& operand,
                                                            const std::function<Value*(size_t, size_t)>& carry) {
  const Graph& body = *s.body;
  const size_t nc = static_cast<size_t>(s.attrs.i("num_carry")), ns = static_cast<size_t>(s.attrs.i("num_seq"));
  const size_t nr = body.results().size();
  ir::AttrMap attrs = s.attrs;
  const size_t blocks = cols ? static_cast<size_t>(kColumnBlocks) : 1;
  auto in_blocks = [&](const Value* v) { return cols && cols->split.count(v); };

  // First scan: batch carries, the steps and invariants it reads; results the
  // next batch carries, the original per-step outputs, then the crossing
  // values (one stack per block of a value the sums read by columns).
  std::vector<const Value*> first_out = sp.first_results;
  first_out.insert(first_out.end(), sp.cross.begin(), sp.cross.end());
  std::vector<const Value*> first_params;
  std::vector<Value*> first_ops;
  for (size_t i : sp.rows) {
    first_params.push_back(body.params()[i]);
    first_ops.push_back(operand(i));
  }
  int64_t first_seqs = 0;
  for (size_t i : params_read(body, nc, sp.first, first_out)) {
    first_params.push_back(body.params()[i]);
    first_ops.push_back(operand(i));
    if (i < nc + ns) ++first_seqs;
  }
  std::unique_ptr<Graph> first_body = sub_body(body, body.name, first_params, sp.first, first_out);
  std::vector<std::string> first_names;
  for (size_t i : sp.rows) first_names.push_back(s.results[i]->name);
  for (size_t r = nc; r < nr; ++r) first_names.push_back(s.results[r]->name);
  std::vector<Value*> first_res(first_body->results().begin(),
                                first_body->results().begin() + static_cast<std::ptrdiff_t>(sp.first_results.size()));
  std::vector<size_t> cross_at;  // the first scan's result of each crossing value (of its first block)
  for (size_t j = 0; j < sp.cross.size(); ++j) {
    cross_at.push_back(first_res.size());
    Value* v = first_body->results()[sp.first_results.size() + j];
    if (!in_blocks(sp.cross[j])) {
      first_res.push_back(v);
      first_names.push_back(v->name + ".steps");
      continue;
    }
    for (size_t b = 0; b < blocks; ++b) {
      first_res.push_back(column_block(*first_body, v, *cols, b));
      first_names.push_back(block_name(v->name, b) + ".steps");
    }
  }
  first_body->set_results(first_res);
  attrs.set("num_carry", static_cast<int64_t>(sp.rows.size()));
  attrs.set("num_seq", first_seqs);
  Node* a = into.add_node(ir::OpKind::Scan, first_ops, attrs, std::move(first_body), first_names);

  // Second scan, per block: the sums, the original steps it reads, the
  // crossing stacks, its invariants.
  std::vector<const Value*> second_out;
  for (size_t i : sp.sums) second_out.push_back(body.results()[i]);
  std::vector<size_t> second_reads = params_read(body, nc, sp.second, second_out);
  std::vector<std::vector<Value*>> sums(sp.sums.size());
  for (size_t b = 0; b < blocks; ++b) {
    std::vector<const Value*> second_params;
    std::vector<ir::TensorType> types;
    std::vector<Value*> second_ops;
    auto param = [&](const Value* v) {
      second_params.push_back(v);
      types.push_back(in_blocks(v) ? cols->block_type(v->type, b) : v->type);
    };
    for (size_t j = 0; j < sp.sums.size(); ++j) {
      param(body.params()[sp.sums[j]]);
      second_ops.push_back(carry(j, b));
    }
    int64_t second_seqs = 0;
    for (size_t i : second_reads)
      if (i < nc + ns) {
        param(body.params()[i]);
        second_ops.push_back(operand(i));
        ++second_seqs;
      }
    for (size_t j = 0; j < sp.cross.size(); ++j) {
      param(sp.cross[j]);
      second_ops.push_back(a->results[cross_at[j] + (in_blocks(sp.cross[j]) ? b : 0)]);
      ++second_seqs;
    }
    for (size_t i : second_reads)
      if (i >= nc + ns) {
        param(body.params()[i]);
        second_ops.push_back(operand(i));
      }
    std::vector<std::string> second_names;
    for (size_t i : sp.sums) second_names.push_back(cols ? block_name(s.results[i]->name, b) : s.results[i]->name);
    attrs.set("num_carry", static_cast<int64_t>(sp.sums.size()));
    attrs.set("num_seq", second_seqs);
    Node* scan = into.add_node(ir::OpKind::Scan, second_ops, attrs,
                               sub_body(body, body.name + ".sums", second_params, sp.second, second_out, &types),
                               second_names);
    for (size_t j = 0; j < sp.sums.size(); ++j) sums[j].push_back(scan->results[j]);
  }
  return {a, sums};
}

// Steps per chunk: the largest divisor of T from kMinChunk to kMaxChunk, or 0.
constexpr int64_t kMinChunk = 4, kMaxChunk = 16;
int64_t chunk_steps(int64_t T) {
  for (int64_t c = std::min(kMaxChunk, T - 1); c >= kMinChunk; --c)
    if (T % c == 0) return c;
  return 0;
}

// `v` with its leading dim (T) reshaped to [T / C, C] or back ([T / C, C] -> T).
Value* chunked(Graph& g, Value* v, int64_t C) {
  ir::Dims shape = v->type.shape;
  shape[0] /= C;
  shape.insert(shape.begin() + 1, C);
  return g.add(ir::OpKind::Reshape, {v}, {{"shape", shape}}, v->name + ".chunks");
}
Value* unchunked(Graph& g, Value* v, const std::string& name) {
  ir::Dims shape(v->type.shape.begin() + 1, v->type.shape.end());
  shape[0] *= v->type.shape[0];
  return g.add(ir::OpKind::Reshape, {v}, {{"shape", shape}}, name);
}

// Splits scan s of g when it qualifies (split_scan.h); true when it did.
// With T a multiple of C (chunk_steps), the two scans run chunk by chunk in
// an outer scan over T / C chunks, so the crossing stacks hold C steps, not T;
// sums in column blocks go through the outer scan as blocks, sliced before it
// and joined after it.
bool split(Graph& g, Node* s) {
  std::optional<Split> sp = plan_split(*s);
  if (!sp) return false;
  const Graph& body = *s->body;
  const size_t nc = static_cast<size_t>(s->attrs.i("num_carry")), ns = static_cast<size_t>(s->attrs.i("num_seq"));
  const size_t nr = body.results().size();
  const std::optional<Columns> cols = plan_columns(body, *sp);
  const size_t blocks = cols ? static_cast<size_t>(kColumnBlocks) : 1;
  // Each sum's carry in blocks (the operand itself when it is one block;
  // sums that start from one value, a zero, share its blocks), and the sums' results joined.
  std::vector<std::vector<Value*>> carries;
  std::map<std::pair<Value*, size_t>, Value*> block_of;
  for (size_t i : sp->sums) {
    carries.emplace_back();
    for (size_t b = 0; b < blocks; ++b) {
      Value*& v = block_of[{s->operands[i], b}];
      if (!v) v = cols ? column_block(g, s->operands[i], *cols, b) : s->operands[i];
      carries.back().push_back(v);
    }
  }
  auto join = [&](const std::vector<Value*>& parts, size_t j) {
    return parts.size() == 1 ? parts[0] : joined(g, parts, s->results[sp->sums[j]]->name);
  };
  const int64_t C = chunk_steps(s->operands[nc]->type.shape[0]);
  if (C == 0) {
    auto [a, sums] = add_pair(
        g, *s, *sp, cols ? &*cols : nullptr, [&](size_t i) { return s->operands[i]; },
        [&](size_t j, size_t b) { return carries[j][b]; });
    for (size_t j = 0; j < sp->rows.size(); ++j) g.replace_all_uses(s->results[sp->rows[j]], a->results[j]);
    for (size_t r = nc; r < nr; ++r) g.replace_all_uses(s->results[r], a->results[sp->rows.size() + (r - nc)]);
    for (size_t j = 0; j < sp->sums.size(); ++j) g.replace_all_uses(s->results[sp->sums[j]], join(sums[j], j));
    g.erase_node(s);
    return true;
  }
  // The outer scan: s's batch carries, the sums' blocks, its sequences in
  // chunks, its invariants; results the same carries, then the per-step outputs.
  auto outer = std::make_unique<Graph>(body.name + ".chunk");
  std::vector<Value*> ops, params(s->operands.size(), nullptr);
  std::vector<std::vector<Value*>> outer_carries(sp->sums.size());
  std::vector<std::string> names;
  for (size_t i : sp->rows) {
    ops.push_back(s->operands[i]);
    params[i] = outer->add_param(body.params()[i]->name, body.params()[i]->type);
    names.push_back(s->results[i]->name);
  }
  for (size_t j = 0; j < sp->sums.size(); ++j) {
    const Value* p = body.params()[sp->sums[j]];
    for (size_t b = 0; b < blocks; ++b) {
      ops.push_back(carries[j][b]);
      outer_carries[j].push_back(
          outer->add_param(cols ? block_name(p->name, b) : p->name, cols ? cols->block_type(p->type, b) : p->type));
      names.push_back(cols ? block_name(s->results[sp->sums[j]]->name, b) : s->results[sp->sums[j]]->name);
    }
  }
  for (size_t i = nc; i < s->operands.size(); ++i) {
    const bool seq = i < nc + ns;
    ops.push_back(seq ? chunked(g, s->operands[i], C) : s->operands[i]);
    ir::TensorType t = body.params()[i]->type;
    if (seq) t.shape.insert(t.shape.begin(), C);
    params[i] = outer->add_param(body.params()[i]->name, t);
  }
  auto [a, sums] = add_pair(
      *outer, *s, *sp, cols ? &*cols : nullptr, [&](size_t i) { return params[i]; },
      [&](size_t j, size_t b) { return outer_carries[j][b]; });
  std::vector<Value*> res;
  for (size_t j = 0; j < sp->rows.size(); ++j) res.push_back(a->results[j]);
  for (const std::vector<Value*>& parts : sums) res.insert(res.end(), parts.begin(), parts.end());
  for (size_t r = nc; r < nr; ++r) {
    res.push_back(a->results[sp->rows.size() + (r - nc)]);
    names.push_back(s->results[r]->name);
  }
  outer->set_results(res);
  ir::AttrMap attrs = s->attrs;
  const size_t outer_nc = sp->rows.size() + sp->sums.size() * blocks;
  attrs.set("num_carry", static_cast<int64_t>(outer_nc));
  Node* o = g.add_node(ir::OpKind::Scan, ops, attrs, std::move(outer), names);
  for (size_t j = 0; j < sp->rows.size(); ++j) g.replace_all_uses(s->results[sp->rows[j]], o->results[j]);
  for (size_t j = 0; j < sp->sums.size(); ++j) {
    std::vector<Value*> parts(o->results.begin() + static_cast<std::ptrdiff_t>(sp->rows.size() + j * blocks),
                              o->results.begin() + static_cast<std::ptrdiff_t>(sp->rows.size() + (j + 1) * blocks));
    g.replace_all_uses(s->results[sp->sums[j]], join(parts, j));
  }
  for (size_t r = nc; r < nr; ++r)
    g.replace_all_uses(s->results[r], unchunked(g, o->results[outer_nc + (r - nc)], s->results[r]->name));
  g.erase_node(s);
  return true;
}

RewriteStats split_graph(Graph& g) {
  return for_each_scan(g, [](Graph& graph, Node& s) {
    RewriteStats stats;
    if (split(graph, &s)) stats.add("scan");
    return stats;
  });
}

}  // namespace

PassResult split_scan(Graph& g) {
  RewriteStats s = for_each_graph(g, split_graph);
  return {s.total() > 0, s.str("split")};
}

}  // namespace kiln::passes
