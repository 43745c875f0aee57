// Fusion regions: one loop nest per region (region.h) in which every member is
// one scalar element generator (scalar_op) evaluated at each point, so
// vectorizing the nest vectorizes every fused op; intermediate values stay in
// registers. The members keep the interpreter's per-op roundings and order
// (no fast-math flags), so the results are bit-identical. A region without a
// nest is emitted as a call of its body: a contraction region whose members
// are all its GEMM's epilogue (epilogue.h) counts as fused, any other is
// counted and listed in the module's `!kiln.unfused` metadata with the reason.
#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "codegen/emit.h"
#include "codegen/emit_math.h"
#include "codegen/region.h"

namespace kiln::codegen {

using llvm::Value;

namespace {

llvm::Type* ptr_t(llvm::LLVMContext& c) { return llvm::PointerType::get(c, 0); }

// The members' values at one point of the nest, given the pointers of r.reads
// there: each read loaded once, then each member's element generator in body
// order. `v` may hold values already known (a second pass's, SecondPass);
// `skip` members are left out (constants are always made).
std::unordered_map<const ir::Value*, Value*> point_values(KernelCtx& k, const RegionNest& r,
                                                          const std::vector<Value*>& ptrs,
                                                          std::unordered_map<const ir::Value*, Value*> v = {},
                                                          const std::function<bool(const ir::Node*)>& skip = {}) {
  const ir::Graph& body = *k.node.body;
  std::vector<Value*> loaded(r.reads.size(), nullptr);
  auto read = [&](int at) {
    const size_t i = static_cast<size_t>(at);
    if (!loaded[i])
      loaded[i] = k.b.CreateLoad(elem_type(k.ctx(), body.params()[r.reads[i].param]->type.dtype), ptrs[i]);
    return loaded[i];
  };
  for (const ir::Node* n : body.nodes()) {
    if (n->op == ir::OpKind::Constant) {
      v[n->results[0]] = splat_value(k, *n);
      continue;
    }
    if (skip && skip(n)) continue;
    const std::vector<int>& reads = r.read_of.at(n);
    std::vector<Value*> x;
    for (size_t i = 0; i < n->operands.size(); ++i) x.push_back(reads[i] < 0 ? v.at(n->operands[i]) : read(reads[i]));
    if (n == r.reduction) {
      v[n->operands[0]] = x[0];  // what the reduction reads at this point
      continue;
    }
    v[n->results[0]] = scalar_op(k, *n, x);
  }
  return v;
}

// The members a packed block (emit_loop_packed) computes in a second pass
// over its elements: those that come after two of emit_math's exp/log
// sequences in a chain (an LSTM step's tanh of its new cell state, and h
// from it). In one pass each point is two such sequences back to back, and
// the core found too little independent work to overlap them (our reading);
// in two, each pass's points are independent chains of one. The train
// step's gate kernel, extracted and run on 64 rows on a Zen 3: 2612 -> 2242
// ns per call (best of 6). No member is late (one pass) in a region that
// reduces.
struct SecondPass {
  std::unordered_set<const ir::Node*> late;
  // What the late members read from the first pass that is no result (those
  // they read back from the results' buffers): values the first pass stores
  // in blocks of their own, in body order.
  std::vector<const ir::Value*> staged;
  bool is_late(const ir::Value* x) const { return x->def && late.count(x->def); }
};

SecondPass second_pass(const RegionNest& r, const ir::Graph& body) {
  SecondPass sp;
  if (r.reduction) return sp;
  std::unordered_map<const ir::Value*, int> depth;
  for (const ir::Node* n : body.nodes()) {
    int d = is_exp_log_sequence(n->op) ? 1 : 0, in = 0;
    for (const ir::Value* o : n->operands)
      if (auto it = depth.find(o); it != depth.end()) in = std::max(in, it->second);
    for (const ir::Value* res : n->results) depth[res] = d + in;
    if (d + in >= 2) sp.late.insert(n);
  }
  const std::unordered_set<const ir::Value*> results(body.results().begin(), body.results().end());
  for (const ir::Node* n : body.nodes()) {
    if (!sp.late.count(n)) continue;
    for (const ir::Value* o : n->operands)
      if (o->def && !sp.is_late(o) && o->def->op != ir::OpKind::Constant && !results.count(o) &&
          std::find(sp.staged.begin(), sp.staged.end(), o) == sp.staged.end())
        sp.staged.push_back(o);
  }
  return sp;
}

std::vector<Access> read_accesses(KernelCtx& k, const RegionNest& r) {
  std::vector<Access> acc;
  for (const RegionRead& rd : r.reads) {
    std::vector<Sym> strides = rd.strides;
    // A view (GraphPlan::views) is read whole over a space of its shape: its images lie further apart.
    if (const int64_t image = k.in_image(rd.param)) strides[0] = Sym{image, false};
    acc.push_back({k.in[rd.param], elem_type(k.ctx(), k.node.operands[rd.param]->type.dtype), strides});
  }
  return acc;
}

// Whether loop region r over [N, w] reads views of narrow rows packed
// (emit_loop_packed): packs_narrow_rows, a view among its reads, none among its results.
bool reads_packed(KernelCtx& k, const RegionNest& r) {
  if (!packs_narrow_rows(r)) return false;
  for (size_t j = 0; j < k.out.size(); ++j)
    if (k.out_image(j)) return false;
  for (const RegionRead& rd : r.reads)
    if (k.in_image(rd.param)) return true;
  return false;
}

// Rows a packed nest takes at a time: their elements are whole vectors whatever w.
constexpr int64_t kPackRows = kVectorFloats;

// kPackRows rows of w elements of `a` (rows a.strides[0] apart) from `from`
// into the contiguous block `to`. With cheap masks (AVX-512) a nest that LLVM
// vectorizes, a masked vector per row; without, each row as vector_pieces
// (10 = 8 + 2) in a loop over the rows: the vectorized
// nest took a vector loop and a scalar loop per row (a third of an LSTM gate
// kernel's time on a Zen 3).
void pack_rows(KernelCtx& k, const Access& a, Value* from, Value* to, int64_t w) {
  llvm::IRBuilder<>& b = k.b;
  const Sym one{1, false}, rows{kPackRows, false}, width{w, false};
  if (k.cheap_masks()) {
    emit_nest(k, {rows, width}, {{from, a.elem, a.strides}, {to, a.elem, {width, one}}},
              [&](const std::vector<Value*>&, const std::vector<Value*>& p) {
                b.CreateStore(b.CreateLoad(a.elem, p[0]), p[1]);
              });
    return;
  }
  emit_carried_loop(k, k.c64(kPackRows), {}, [&](Value* r, const Carried&) {
    Value* src = b.CreateInBoundsGEP(a.elem, from, b.CreateMul(r, k.sym(a.strides[0])));
    Value* dst = b.CreateInBoundsGEP(a.elem, to, b.CreateMul(r, k.c64(w)));
    const llvm::MaybeAlign align(a.elem->getScalarSizeInBits() / 8);
    for (auto [j, piece] : vector_pieces(w, k.vector_floats)) {
      auto* t = llvm::FixedVectorType::get(a.elem, static_cast<unsigned>(piece));
      Value* v = b.CreateAlignedLoad(t, b.CreateConstInBoundsGEP1_64(a.elem, src, static_cast<uint64_t>(j)), align);
      b.CreateAlignedStore(v, b.CreateConstInBoundsGEP1_64(a.elem, dst, static_cast<uint64_t>(j)), align);
    }
    return Carried{};
  });
}

// A loop region over [N, w] (reads_packed) whose views hold rows of w
// elements an image apart, w narrower than a vector or two (an LSTM step's
// gate slices of z, 10 of 40 columns): kPackRows rows at a time, each view's
// rows are copied into a contiguous block on the stack, then the region runs
// over the block's kPackRows * w elements as one flat loop of whole vectors
// (not per row, 16 lanes for 10); the N % kPackRows rows left run per row. acc:
// the reads, then the results. Each point computes what it did unpacked,
// in `passes` passes over the elements (point(p, pass), SecondPass).
void emit_loop_packed(KernelCtx& k, const RegionNest& r, const std::vector<Access>& acc,
                      const std::function<void(const std::vector<Value*>&, int)>& point, int passes) {
  llvm::IRBuilder<>& b = k.b;
  const int64_t w = r.space.shape[1];
  const Sym one{1, false}, width{w, false};
  std::vector<llvm::AllocaInst*> block(acc.size(), nullptr);
  for (size_t i = 0; i < r.reads.size(); ++i)
    if (k.in_image(r.reads[i].param)) {
      block[i] = k.local(llvm::ArrayType::get(acc[i].elem, static_cast<uint64_t>(kPackRows * w)), "rows");
      block[i]->setAlignment(llvm::Align(64));
    }
  // acc[i]'s base `row` rows in.
  auto at_row = [&](size_t i, Value* row) -> Value* {
    const Sym s = acc[i].strides[0];
    return s.c == 0 ? acc[i].base : b.CreateInBoundsGEP(acc[i].elem, acc[i].base, b.CreateMul(row, k.sym(s)));
  };
  Value* full = b.CreateUDiv(k.n, k.c64(kPackRows));
  emit_for(k, k.c64(0), full, [&](Value* blk) {
    Value* row = b.CreateMul(blk, k.c64(kPackRows));
    std::vector<Access> flat;
    for (size_t i = 0; i < acc.size(); ++i) {
      Value* base = at_row(i, row);
      if (block[i]) {
        pack_rows(k, acc[i], base, block[i], w);
        base = block[i];
      }
      flat.push_back({base, acc[i].elem, {acc[i].strides[1].c == 0 ? Sym{0, false} : one}});
    }
    // In two passes each interleaves two vectors per iteration (LLVM's
    // vectorizer picks one): the extracted gate kernel, 2272 -> 2019 ns
    // per call; the train step's code generation ~3% more work (rnn).
    for (int pass = 0; pass < passes; ++pass) {
      llvm::BranchInst* latch = emit_for(k, k.c64(0), k.c64(kPackRows * w), [&](Value* i) {
        std::vector<Value*> p;
        for (const Access& a : flat) p.push_back(a.strides[0].c ? b.CreateInBoundsGEP(a.elem, a.base, i) : a.base);
        point(p, pass);
      });
      if (passes > 1) mark_interleaved(k, latch, 2);
    }
  });
  emit_for(k, b.CreateMul(full, k.c64(kPackRows)), k.n, [&](Value* row) {
    std::vector<Access> one_row;
    for (size_t i = 0; i < acc.size(); ++i) one_row.push_back({at_row(i, row), acc[i].elem, {acc[i].strides[1]}});
    for (int pass = 0; pass < passes; ++pass)
      emit_nest(k, {width}, one_row, [&](const std::vector<Value*>&, const std::vector<Value*>& p) { point(p, pass); });
  });
}

// Rows [first, first + k.n) of a loop region: out_j[i] = member_j(i) for
// every point i (first null: all rows).
void emit_loop_rows(KernelCtx& k, const RegionNest& r, Value* first) {
  const ir::Graph& body = *k.node.body;
  std::vector<Access> acc = read_accesses(k, r);
  const size_t nr = acc.size();
  for (size_t j = 0; j < body.results().size(); ++j) {
    std::vector<Sym> strides = sym_strides(r.space);
    // A view (a concat's columns, GraphPlan::views) is written whole over a space of its shape: its images lie further apart.
    if (const int64_t image = k.out_image(j)) strides[0] = Sym{image, false};
    acc.push_back({k.out[j], elem_type(k.ctx(), body.results()[j]->type.dtype), strides});
  }
  if (first)
    for (Access& a : acc)
      if (a.strides[0].c) a.base = k.b.CreateInBoundsGEP(a.elem, a.base, k.b.CreateMul(first, k.c64(a.strides[0].c)));
  // Packed, the late members (second_pass) run in a second pass: pass 0
  // computes the rest and stores their results and the staged values (in
  // blocks on the stack, one whatever the row); pass 1 loads those back and
  // stores the late members' results. Unpacked, or with no late member, one
  // pass (0) computes and stores everything.
  const bool packed = reads_packed(k, r);
  const SecondPass sp = packed ? second_pass(r, body) : SecondPass{};
  const size_t ns = acc.size();
  for (const ir::Value* x : sp.staged) {
    llvm::Type* t = elem_type(k.ctx(), x->type.dtype);
    auto* block = k.local(llvm::ArrayType::get(t, static_cast<uint64_t>(kPackRows * r.space.shape[1])), "staged");
    acc.push_back({block, t, {Sym{0, false}, Sym{1, false}}});
  }
  auto point = [&](const std::vector<Value*>& p, int pass) {
    std::unordered_map<const ir::Value*, Value*> known;
    for (size_t j = 0; pass == 1 && j < body.results().size(); ++j) {
      const ir::Value* x = body.results()[j];
      if (x->def && !sp.is_late(x) && !known.count(x)) known[x] = k.b.CreateLoad(acc[nr + j].elem, p[nr + j]);
    }
    for (size_t j = 0; pass == 1 && j < sp.staged.size(); ++j)
      known[sp.staged[j]] = k.b.CreateLoad(acc[ns + j].elem, p[ns + j]);
    std::unordered_map<const ir::Value*, Value*> v = point_values(
        k, r, p, std::move(known), [&](const ir::Node* n) { return (sp.late.count(n) != 0) != (pass == 1); });
    for (size_t j = 0; j < body.results().size(); ++j)
      if (sp.is_late(body.results()[j]) == (pass == 1)) k.b.CreateStore(v.at(body.results()[j]), p[nr + j]);
    for (size_t j = 0; pass == 0 && j < sp.staged.size(); ++j) k.b.CreateStore(v.at(sp.staged[j]), p[ns + j]);
  };
  if (packed) {
    if (k.stats && !sp.late.empty()) ++k.stats->two_pass_regions;
    return emit_loop_packed(k, r, acc, point, sp.late.empty() ? 1 : 2);
  }
  emit_nest(k, sym_dims(r.space), acc, [&](const std::vector<Value*>&, const std::vector<Value*>& p) { point(p, 0); });
}

// The bytes a row of loop region r reads and writes when its space is [N, ...]
// and every buffer steps from row to row by a static stride (so a range of
// rows is the region with a smaller N), else 0.
int64_t loop_row_bytes(KernelCtx& k, const RegionNest& r) {
  if (r.space.rank() == 0 || r.space.shape[0] != ir::kBatch) return 0;
  int64_t bytes = 0;
  for (const RegionRead& rd : r.reads) {
    for (const Sym& s : rd.strides)
      if (s.n) return 0;
    if (rd.strides[0].c) bytes += static_cast<int64_t>(ir::dtype_size(k.node.operands[rd.param]->type.dtype));
  }
  for (const ir::Value* v : k.node.body->results()) bytes += static_cast<int64_t>(ir::dtype_size(v->type.dtype));
  return bytes * r.space.static_elements();
}

// A loop region. One over [N, ...] large enough to pay for the hand-off (a
// conv model's pooled gradient, multi_output's time-major gradient sum at
// batch 256) runs ranges of its rows on the threads; every point computes
// what it would on one.
void emit_loop(KernelCtx& k, const RegionNest& r) {
  const int64_t row_bytes = k.entry ? loop_row_bytes(k, r) : 0;
  if (!row_bytes) return emit_loop_rows(k, r, nullptr);
  emit_parallel_for(k, k.n, k.c64(row_bytes), [&](KernelCtx& ck, Value* lo, Value* hi) {
    ck.n = ck.b.CreateSub(hi, lo);
    emit_loop_rows(ck, r, lo);
  });
}

// A reduction region: the reduction's nest with the chain evaluated inside it.
void emit_reduction_region(KernelCtx& k, const RegionNest& r) {
  const ir::Value* x = r.reduction->operands[0];
  emit_reduction(
      k, *r.reduction, [&](KernelCtx& ck) { return read_accesses(ck, r); },
      [&](KernelCtx& ck, const std::vector<Value*>& p) { return point_values(ck, r, p).at(x); });
}

// The region's body as a graph function of per-node kernels, called once.
void emit_body_call(KernelCtx& k) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* p = ptr_t(k.ctx());
  llvm::Function* fn = k.body_fn(k.node);
  llvm::AllocaInst* params = b.CreateAlloca(p, k.c64(static_cast<int64_t>(k.in.size())), "params");
  llvm::AllocaInst* results = b.CreateAlloca(p, k.c64(static_cast<int64_t>(k.out.size())), "results");
  for (size_t i = 0; i < k.in.size(); ++i) b.CreateStore(k.in[i], b.CreateConstInBoundsGEP1_64(p, params, i));
  for (size_t i = 0; i < k.out.size(); ++i) b.CreateStore(k.out[i], b.CreateConstInBoundsGEP1_64(p, results, i));
  b.CreateCall(fn, {params, results, k.n, k.scratch[0], k.scratch[1], k.err});
}

// Records an unfused region: "<kernel function>: <reason>" in !kiln.unfused.
void note_unfused(KernelCtx& k, const std::string& why) {
  if (k.stats) ++k.stats->unfused_regions;
  llvm::NamedMDNode* md = k.m.getOrInsertNamedMetadata("kiln.unfused");
  md->addOperand(llvm::MDNode::get(k.ctx(), llvm::MDString::get(k.ctx(), k.fn->getName().str() + ": " + why)));
}

}  // namespace

void emit_fusion(KernelCtx& k) {
  RegionNest r = region_nest(k.node);
  if (!r.nested()) {
    // A contraction region whose members its epilogue covers is one GEMM call
    // (epilogue.h) in its body's graph function.
    if (k.node.attrs.s("kind") != "contraction") {
      note_unfused(k, r.why_not);
    } else if (std::string left = uncovered_members(*k.node.body); !left.empty()) {
      note_unfused(k, "no GEMM epilogue for " + left);
    } else if (k.stats) {
      ++k.stats->fused_regions;
    }
    return emit_body_call(k);
  }
  if (k.stats) ++k.stats->fused_regions;
  if (r.reduction) return emit_reduction_region(k, r);
  emit_loop(k, r);
}

}  // namespace kiln::codegen
