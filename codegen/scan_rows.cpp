// Row independence of scan bodies (see scan_rows.h).
#include "codegen/scan_rows.h"

#include <algorithm>

namespace kiln::codegen {

namespace {

// The type holds plain N as its leading dim (and nowhere else).
bool rows(const ir::TensorType& t) { return t.rank() > 0 && t.shape[0] == ir::kBatch; }

int64_t axis_of(const ir::Node& n, const char* attr, int64_t rank) {
  int64_t a = n.attrs.i(attr);
  return a < 0 ? a + rank : a;
}

bool graph_rows_independent(const ir::Graph& g);

// Whether row r of every result of n depends only on row r of its operands,
// given that each operand and result is either rows() or without N.
bool node_rows_independent(const ir::Node& n) {
  const ir::TensorType& out = n.results[0]->type;
  bool any_rows = false;
  for (const ir::Value* v : n.operands) any_rows |= rows(v->type);
  // Elementwise ops by their traits in ir/ops.def: unary ones and select
  // take operands of the result's shape; a binary op's broadcast rhs with
  // rows keeps them on dim 0; a reduction must not reduce dim 0.
  if (n.info().has(ir::kBinary)) {
    if (!n.attrs.has("broadcast_dims") || !rows(n.operands[1]->type)) return true;
    return n.attrs.ints("broadcast_dims")[0] == 0;
  }
  if (n.info().has(ir::kElementwise)) return true;
  if (n.info().has(ir::kReduction)) {
    const auto& axes = n.attrs.ints("axes");
    const int64_t rank = n.operands[0]->type.rank();
    return std::none_of(axes.begin(), axes.end(), [&](int64_t a) { return a == 0 || a + rank == 0; });
  }
  using ir::OpKind;
  switch (n.op) {
    case OpKind::Constant: return true;
    case OpKind::Broadcast: return !any_rows || n.attrs.ints("dims")[0] == 0;
    case OpKind::Reshape: return true;  // N leads both shapes: a row keeps its elements
    case OpKind::Transpose: return n.attrs.ints("perm")[0] == 0;
    case OpKind::Slice:
    case OpKind::Concat:
    case OpKind::Pad:
    case OpKind::ArgMax: return axis_of(n, "axis", n.operands[0]->type.rank()) != 0;
    case OpKind::Matmul: {  // rows on the left, an rhs without N
      const ir::TensorType &a = n.operands[0]->type, &b = n.operands[1]->type;
      return rows(a) && a.rank() >= 2 && !n.attrs.b("transpose_a") && b.rank() == 2 && !b.has_batch() && rows(out);
    }
    case OpKind::Fusion: return graph_rows_independent(*n.body);
    case OpKind::Conv2D:
    case OpKind::Conv2DInputGrad:
    case OpKind::Conv2DFilterGrad:
    case OpKind::MaxPool2D:
    case OpKind::MaxPool2DGrad:
    case OpKind::MaxPool2DWinners:
    case OpKind::MaxPool2DScatter:
    case OpKind::Scan: return false;  // not needed yet
    default: return false;  // Iota, RngUniform: they depend on the position in the whole tensor
  }
}

// Every value is rows() or without N, nothing without N is computed from a
// value with N, and every node keeps rows apart.
bool graph_rows_independent(const ir::Graph& g) {
  for (const ir::Value* p : g.params())
    if (p->type.has_batch() && !rows(p->type)) return false;
  for (const ir::Node* n : g.nodes()) {
    bool in_rows = false, out_rows = false;
    for (const ir::Value* v : n->operands) {
      if (v->type.has_batch() && !rows(v->type)) return false;
      in_rows |= rows(v->type);
    }
    for (const ir::Value* v : n->results) {
      if (v->type.has_batch() && !rows(v->type)) return false;
      out_rows |= rows(v->type);
    }
    for (const ir::Value* v : n->results)
      if (in_rows && !rows(v->type)) return false;  // a reduction over the rows
    if (out_rows && !node_rows_independent(*n)) return false;
  }
  return true;
}

}  // namespace

bool scan_rows_independent(const ir::Node& scan) {
  const ir::Graph& body = *scan.body;
  const size_t nc = static_cast<size_t>(scan.attrs.i("num_carry"));
  const size_t ns = static_cast<size_t>(scan.attrs.i("num_seq"));
  if (nc + ns == 0) return false;
  for (size_t i = 0; i < body.params().size(); ++i)
    if (rows(body.params()[i]->type) != (i < nc + ns)) return false;  // carries and steps have rows, invariants not
  for (size_t i = nc; i < nc + ns; ++i)
    if (scan.operands[i]->type.rank() < 2 || scan.operands[i]->type.shape[1] != ir::kBatch) return false;
  for (const ir::Value* r : body.results())
    if (!rows(r->type)) return false;
  return graph_rows_independent(body);
}

// The items are blocks of rows. A scan whose per-step stacks feed a
// backward (a train step's LSTM saves its gates, several stacks, for the
// backward scan; a backward step's dz, a reverse scan's stack, is read by
// the sums, a reduction over the rows on the calling thread) takes blocks of
// 64 rows, so below 128 rows it stays on the calling thread: split at batch
// 32, the rows a worker wrote were read back from its core by the next scan,
// and rnn train b32 took 0.26-0.27 ms where one thread took 0.22-0.24 (and
// on a Zen 3 rnn 0.44-0.47 -> 0.52-0.53 ms, shared_feature 0.46-0.48 ->
// 0.54-0.58). Any other scan (a predict's LSTM that returns only its carries,
// or its output sequence, one forward stack, which the next layer reads by
// rows) takes blocks of 16 rows: rnn predict b32 0.105 -> 0.068 ms on 2
// threads; multi_output predict b32 0.47-0.52 -> 0.30-0.33 ms on a Zen 3.
//
// An item's work per step is the bytes a row of the body reads and writes
// (every body parameter and node result with N, at N = 1) times its rows,
// counted 8 times over: a step does far more arithmetic per byte than a copy.
// Without that weight an LSTM's backward chunks stayed on one thread at
// batch 32, the worker fell asleep during them, and waking it for the next
// forward scan cost more than the split saved (rnn train b32, 2 threads:
// 0.29 -> 0.38 ms; with it, 0.30). The byte count is the values', not the
// plan's: the backward's dh/dc step planned no scratch of its own (its gate
// gradients were written into dz's columns, a result), and weighed by its
// planned scratch it never split (rnn train b256, 2 threads: 1.96 -> 1.57 ms).
int64_t scan_row_bytes(const ir::Node& scan) {
  const ir::Graph& body = *scan.body;
  int64_t row_bytes = 0;
  auto add = [&](const ir::Value* v) {
    if (rows(v->type)) row_bytes += v->type.elements(1) * static_cast<int64_t>(ir::dtype_size(v->type.dtype));
  };
  for (const ir::Value* p : body.params()) add(p);
  for (const ir::Node* n : body.nodes())
    for (const ir::Value* r : n->results) add(r);
  return std::max<int64_t>(row_bytes, 1);
}

ScanSplit scan_split(const ir::Node& scan) {
  const size_t stacks = scan.results.size() - static_cast<size_t>(scan.attrs.i("num_carry"));
  const bool feeds_backward = stacks > 1 || (stacks == 1 && scan.attrs.b("reverse"));
  const int64_t row_block = feeds_backward ? 64 : 16;
  constexpr int64_t kStepWeight = 8;
  return {row_block, row_block * kStepWeight * scan_row_bytes(scan)};
}

}  // namespace kiln::codegen
