// region_nest (see region.h): a fusion body's iteration space and the strided
// reads of its parameters.
#include "codegen/region.h"

#include <algorithm>

namespace kiln::codegen {

std::optional<std::vector<Sym>> operand_strides(const ir::Node& n, size_t i, const ir::TensorType& space) {
  const ir::TensorType& ot = n.operands[i]->type;
  std::vector<Sym> st(space.shape.size(), Sym{0, false});
  if (i == 1 && n.attrs.has("broadcast_dims")) {  // rhs dim j is dim broadcast_dims[j] of the space
    const auto& bd = n.attrs.ints("broadcast_dims");
    if (bd.size() != ot.shape.size()) return std::nullopt;
    std::vector<Sym> ost = sym_strides(ot);
    for (size_t j = 0; j < bd.size(); ++j) {
      if (bd[j] < 0 || static_cast<size_t>(bd[j]) >= st.size() || ot.shape[j] != space.shape[bd[j]])
        return std::nullopt;
      st[static_cast<size_t>(bd[j])] = ost[j];
    }
    return st;
  }
  if (ot.shape == space.shape) return sym_strides(space);
  if (ot.rank() == 0) return st;
  return std::nullopt;
}

namespace {

bool elementwise(const ir::Node& n) { return n.info().has(ir::kElementwise); }

// The iteration space: the shape the elementwise members compute (a
// reduction region's: its reduction's operand).
const ir::TensorType* space_of(const ir::Graph& body, const ir::Node* reduction) {
  if (reduction) return &reduction->operands[0]->type;
  for (const ir::Node* n : body.nodes())
    if (elementwise(*n)) return &n->results[0]->type;
  return nullptr;
}

}  // namespace

bool rows_read_in_place(int64_t width) {
  return width % kVectorFloats == 0 || width >= 8 * kVectorFloats;
}

bool packs_narrow_rows(const RegionNest& r) {
  const ir::Dims& s = r.space.shape;
  if (!r.nested() || r.reduction || s.size() != 2 || s[0] != ir::kBatch || s[1] < 1 || rows_read_in_place(s[1]))
    return false;
  const std::vector<Sym> contiguous = sym_strides(r.space), scalar(2, Sym{0, false});
  for (const RegionRead& rd : r.reads)
    if (rd.strides != contiguous && rd.strides != scalar) return false;
  return true;
}

RegionNest region_nest(const ir::Node& fusion) {
  RegionNest r;
  const ir::Graph& body = *fusion.body;
  const std::string& kind = fusion.attrs.s("kind");
  if (kind == "contraction") {
    r.why_not = "a contraction region";
    return r;
  }
  for (const ir::Node* n : body.nodes())
    if (n->info().has(ir::kReduction)) r.reduction = n;
  const ir::TensorType* space = space_of(body, r.reduction);
  if (!space) {
    r.why_not = "no elementwise member";
    return r;
  }
  r.space = *space;
  const std::vector<Sym> contiguous = sym_strides(r.space);
  for (const ir::Node* n : body.nodes()) {
    const bool red = n == r.reduction;
    if (n->op == ir::OpKind::Constant) continue;
    if (!elementwise(*n) && !red) {
      r.why_not = "holds " + std::string(ir::op_name(n->op));
      return r;
    }
    if (!red && n->results[0]->type.shape != r.space.shape) {
      r.why_not = "%" + n->results[0]->name + " is not of the iteration shape " + r.space.to_string();
      return r;
    }
    std::vector<int>& reads = r.read_of[n];
    for (size_t i = 0; i < n->operands.size(); ++i) {
      const ir::Value* v = n->operands[i];
      std::optional<std::vector<Sym>> st = red ? contiguous : operand_strides(*n, i, r.space);
      bool splat = v->def && v->def->op == ir::OpKind::Constant;
      if (!splat && (!st || (!v->is_param() && *st != contiguous))) {
        r.why_not = "%" + n->results[0]->name + " reads %" + v->name + " through a broadcast";
        return r;
      }
      if (!v->is_param()) {
        reads.push_back(-1);
        continue;
      }
      RegionRead rd{static_cast<size_t>(v->index), *st};
      auto same = [&](const RegionRead& x) { return x.param == rd.param && x.strides == rd.strides; };
      auto it = std::find_if(r.reads.begin(), r.reads.end(), same);
      reads.push_back(static_cast<int>(it - r.reads.begin()));
      if (it == r.reads.end()) r.reads.push_back(std::move(rd));
    }
  }
  for (const ir::Value* v : body.results())
    if (!v->def || (v->def != r.reduction && !elementwise(*v->def))) {
      r.why_not = "returns %" + v->name + ", which no member computes";
      return r;
    }
  return r;
}

}  // namespace kiln::codegen
