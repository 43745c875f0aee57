// Layout ops (broadcast, transpose, slice, concat, pad) as strided copies,
// reductions and argmax in the interpreter's order, and max pooling.
//
// Sums accumulate in double (i32 in i64) while walking the input in row-major
// order, exactly as runtime/kernels_layout.cpp, so they are bit-identical and
// need no reassociation: when the kept dims are innermost the loop runs over
// independent accumulators and vectorizes anyway.
#include <limits>

#include "codegen/emit.h"
#include "ir/error.h"

namespace kiln::codegen {

using llvm::Value;

namespace {

const ir::TensorType& result_type(KernelCtx& k) { return k.node.results[0]->type; }
const ir::TensorType& operand_type(KernelCtx& k, size_t i) { return k.node.operands[i]->type; }
llvm::Type* et(KernelCtx& k, const ir::TensorType& t) { return elem_type(k.ctx(), t.dtype); }

// Widest contiguous row (elements) that copy() moves as one vector.
constexpr int64_t kMaxVectorRow = 64;

// out[idx] = in[idx mapped]: a copy over `dims` with per-buffer strides and
// offsets. A short contiguous last dim that does not merge with the one
// before (a slice or concat part of an LSTM's [N, 40] gates: rows of 10) is
// one vector load and store per row, not a scalar loop the vectorizer leaves
// alone for its few iterations.
void copy_rows(KernelCtx& k, llvm::Type* elem, const std::vector<Sym>& dims, Access out, Access in) {
  out.elem = in.elem = elem;
  const size_t r = dims.size();
  const Sym one{1, false};
  if (r >= 2 && !dims[r - 1].n && dims[r - 1].c > 1 && dims[r - 1].c <= kMaxVectorRow && out.strides[r - 1] == one &&
      in.strides[r - 1] == one && !(out.strides[r - 2] == dims[r - 1] && in.strides[r - 2] == dims[r - 1])) {
    llvm::Type* row = llvm::FixedVectorType::get(elem, static_cast<unsigned>(dims[r - 1].c));
    const llvm::Align align(elem->getPrimitiveSizeInBits() / 8);
    std::vector<Sym> outer(dims.begin(), dims.end() - 1);
    out.strides.pop_back();
    in.strides.pop_back();
    emit_nest(k, outer, {out, in}, [&](const std::vector<Value*>&, const std::vector<Value*>& p) {
      k.b.CreateAlignedStore(k.b.CreateAlignedLoad(row, p[1], align), p[0], align);
    });
    return;
  }
  emit_nest(k, dims, {out, in}, [&](const std::vector<Value*>&, const std::vector<Value*>& p) {
    k.b.CreateStore(k.b.CreateLoad(elem, p[1]), p[0]);
  });
}

// The buffer of emit_parallel_for's child ck that stands for k's buffer
// `base` (the child gets k's out, in and scratch buffers in that order).
Value* child_buffer(KernelCtx& k, KernelCtx& ck, Value* base) {
  for (auto [mine, theirs] : {std::pair{&k.out, &ck.out}, {&k.in, &ck.in}, {&k.scratch, &ck.scratch}})
    for (size_t i = 0; i < mine->size(); ++i)
      if ((*mine)[i] == base) return (*theirs)[i];
  KILN_ASSERT(false, "codegen: a copy's buffer is not one of its kernel's");
  return nullptr;
}

// copy_rows; a copy in the entry graph (KernelCtx::entry) large enough to
// pay for the hand-off (an LSTM's [T,N,C] steps to [N,T,C] and back, 1 MB
// each at batch 256 in multi_output; a slice or concat that is not a view)
// copies ranges of its outer dim on the threads.
void copy(KernelCtx& k, llvm::Type* elem, const std::vector<Sym>& dims, Access out, Access in) {
  if (!k.entry || dims.size() < 2) return copy_rows(k, elem, dims, out, in);
  const int64_t bytes = static_cast<int64_t>(elem->getPrimitiveSizeInBits() / 8);
  const std::vector<Sym> inner(dims.begin() + 1, dims.end());
  emit_parallel_for(k, k.sym(dims[0]), k.b.CreateMul(k.sym(sym_product(dims, 1, dims.size())), k.c64(2 * bytes)),
                    [&](KernelCtx& ck, Value* lo, Value* hi) {
                      emit_for(ck, lo, hi, [&](Value* i) {
                        auto row = [&](const Access& a) {
                          Value* base = child_buffer(k, ck, a.base);
                          base = ck.b.CreateInBoundsGEP(elem, base, ck.b.CreateMul(i, ck.sym(a.strides[0])));
                          return Access{base, elem, {a.strides.begin() + 1, a.strides.end()}, a.offset};
                        };
                        copy_rows(ck, elem, inner, row(out), row(in));
                      });
                    });
}

Value* elements(KernelCtx& k, const ir::TensorType& t) { return k.sym({t.static_elements(), t.has_batch()}); }

}  // namespace

void emit_broadcast(KernelCtx& k) {
  const ir::TensorType &rt = result_type(k), &xt = operand_type(k, 0);
  const auto& dims = k.node.attrs.ints("dims");
  std::vector<Sym> st(static_cast<size_t>(rt.rank()), Sym{0, false}), xst = sym_strides(xt);
  for (size_t i = 0; i < dims.size(); ++i) st[static_cast<size_t>(dims[i])] = xst[i];
  copy(k, et(k, rt), sym_dims(rt), {k.out[0], nullptr, sym_strides(rt)}, {k.in[0], nullptr, st});
}

void emit_transpose(KernelCtx& k) {
  const ir::TensorType &rt = result_type(k), &xt = operand_type(k, 0);
  const auto& perm = k.node.attrs.ints("perm");
  std::vector<Sym> xst = sym_strides(xt), st;
  for (int64_t p : perm) st.push_back(xst[static_cast<size_t>(p)]);
  copy(k, et(k, rt), sym_dims(rt), {k.out[0], nullptr, sym_strides(rt)}, {k.in[0], nullptr, st});
}

void emit_slice(KernelCtx& k) {
  const ir::TensorType &rt = result_type(k), &xt = operand_type(k, 0);
  size_t ax = static_cast<size_t>(norm_axis(k.node.attrs.i("axis"), xt.rank()));
  std::vector<Sym> xst = sym_strides(xt);
  Sym off = sym_mul(xst[ax], {k.node.attrs.i("start"), false});
  copy(k, et(k, rt), sym_dims(rt), {k.out[0], nullptr, sym_strides(rt)}, {k.in[0], nullptr, xst, off});
}

void emit_concat(KernelCtx& k) {
  const ir::TensorType& rt = result_type(k);
  size_t ax = static_cast<size_t>(norm_axis(k.node.attrs.i("axis"), rt.rank()));
  std::vector<Sym> ost = sym_strides(rt);
  int64_t at = 0;  // position along the axis
  for (size_t i = 0; i < k.node.operands.size(); ++i) {
    const ir::TensorType& xt = operand_type(k, i);
    copy(k, et(k, rt), sym_dims(xt), {k.out[0], nullptr, ost, sym_mul(ost[ax], {at, false})},
         {k.in[i], nullptr, sym_strides(xt)});
    at += xt.shape[ax];
  }
}

void emit_pad(KernelCtx& k) {
  const ir::TensorType &rt = result_type(k), &xt = operand_type(k, 0);
  size_t ax = static_cast<size_t>(norm_axis(k.node.attrs.i("axis"), xt.rank()));
  llvm::Type* e = et(k, rt);
  emit_fill(k, k.out[0], e, elements(k, rt), llvm::Constant::getNullValue(e));
  std::vector<Sym> ost = sym_strides(rt);
  copy(k, e, sym_dims(xt), {k.out[0], nullptr, ost, sym_mul(ost[ax], {k.node.attrs.i("low"), false})},
       {k.in[0], nullptr, sym_strides(xt)});
}

namespace {

constexpr int64_t kColumnBlock = 16;  // columns per item of a parallel column reduction

// Whether `red` sums (or averages) x over every axis but the last, whose
// columns split into 2+ blocks of kColumnBlock, and every read steps along
// that axis by a fixed amount: then emit_reduction splits the column blocks.
bool column_blocks(const ir::Node& red, const std::vector<bool>& drop, const std::vector<Access>& reads) {
  const ir::TensorType& xt = red.operands[0]->type;
  if (red.op == ir::OpKind::ReduceMax || xt.dtype != ir::DType::f32 || xt.rank() < 2 || drop.back()) return false;
  for (size_t d = 0; d + 1 < drop.size(); ++d)
    if (!drop[d]) return false;
  const Sym c = sym_dims(xt).back();
  if (c.n || c.c < 2 * kColumnBlock || c.c % kColumnBlock != 0) return false;
  for (const Access& a : reads)
    if (a.strides.back().n) return false;
  return true;
}

}  // namespace

void emit_reduction(KernelCtx& k, const ir::Node& red, const ReadsFn& reads_of, const ElementFn& value) {
  const ir::TensorType &rt = red.results[0]->type, &xt = red.operands[0]->type;
  llvm::IRBuilder<>& b = k.b;
  std::vector<bool> drop(static_cast<size_t>(xt.rank()), false);
  for (int64_t a : red.attrs.ints("axes")) drop[static_cast<size_t>(norm_axis(a, xt.rank()))] = true;
  // Strides of the output element each input index feeds (0 along reduced dims).
  std::vector<Sym> rst = sym_strides(rt), to_out;
  for (size_t d = 0, j = 0; d < drop.size(); ++d) to_out.push_back(drop[d] ? Sym{0, false} : rst[j++]);
  Value* n_out = elements(k, rt);
  const bool f = xt.dtype == ir::DType::f32;
  // The nest visits the input in row-major order: reads..., then the output or accumulator.
  auto accumulate = [&](KernelCtx& ck, std::vector<Access> reads, Value* buf, llvm::Type* acc_t,
                        const std::vector<Sym>& dims, const std::function<Value*(Value*, Value*)>& step) {
    const size_t nr = reads.size();
    reads.push_back({buf, acc_t, to_out});
    emit_nest(ck, dims, reads, [&](const auto&, const std::vector<Value*>& p) {
      Value* v = value(ck, std::vector<Value*>(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(nr)));
      ck.b.CreateStore(step(ck.b.CreateLoad(acc_t, p[nr]), v), p[nr]);
    });
  };

  if (red.op == ir::OpKind::ReduceMax) {
    llvm::Type* e = et(k, rt);
    Value* init = f ? static_cast<Value*>(llvm::ConstantFP::getInfinity(e, true))
                    : b.getInt32(static_cast<uint32_t>(std::numeric_limits<int32_t>::min()));
    emit_fill(k, k.out[0], e, n_out, init);
    accumulate(k, reads_of(k), k.out[0], e, sym_dims(xt), [&](Value* o, Value* v) -> Value* {
      if (!f) return b.CreateSelect(b.CreateICmpSGT(v, o), v, o);
      // if (v > o || isnan(v)) o = isnan(o) ? o : v
      Value* take = b.CreateOr(b.CreateFCmpOGT(v, o), b.CreateFCmpUNO(v, v));
      return b.CreateSelect(take, b.CreateSelect(b.CreateFCmpUNO(o, o), o, v), o);
    });
    return;
  }
  // Sum/mean: 8-byte accumulators in scratch, then one rounding per output.
  llvm::Type* acc_t = f ? b.getDoubleTy() : b.getInt64Ty();
  emit_fill(k, k.scratch[0], acc_t, n_out, llvm::Constant::getNullValue(acc_t));
  auto add = [&](KernelCtx& ck) {
    return [&ck, f, acc_t](Value* a, Value* v) {
      v = f ? ck.b.CreateFPExt(v, acc_t) : ck.b.CreateSExt(v, acc_t);
      return f ? ck.b.CreateFAdd(a, v) : ck.b.CreateAdd(a, v);
    };
  };
  if (column_blocks(red, drop, reads_of(k))) {
    // Column blocks [lo, hi) of the [rows, C] view, each over all rows in order.
    std::vector<Sym> dims = sym_dims(xt);
    const int64_t c = dims.back().c;
    dims.back() = {kColumnBlock, false};
    Value* rows = k.c64(1);
    for (size_t d = 0; d + 1 < dims.size(); ++d) rows = b.CreateMul(rows, k.sym(dims[d]));
    // All blocks on one thread: one pass over whole rows, as without the split
    // (block by block would stream the tensor once per block).
    emit_parallel_for(k, k.c64(c / kColumnBlock), b.CreateMul(rows, k.c64(kColumnBlock * 4)),
                      [&](KernelCtx& ck, Value* lo, Value* hi) {
                        Value* all = ck.b.CreateICmpEQ(ck.b.CreateSub(hi, lo), ck.c64(c / kColumnBlock));
                        emit_if_else(
                            ck, all, [&] { accumulate(ck, reads_of(ck), ck.scratch[0], acc_t, sym_dims(xt), add(ck)); },
                            [&] {
                              emit_for(ck, lo, hi, [&](Value* block) {
                                Value* col = ck.b.CreateMul(block, ck.c64(kColumnBlock));
                                std::vector<Access> reads = reads_of(ck);
                                for (Access& a : reads)
                                  a.base = ck.b.CreateInBoundsGEP(a.elem, a.base,
                                                                  ck.b.CreateMul(col, ck.c64(a.strides.back().c)));
                                accumulate(ck, reads, ck.b.CreateInBoundsGEP(acc_t, ck.scratch[0], col), acc_t, dims,
                                           add(ck));
                              });
                            });
                      });
  } else {
    accumulate(k, reads_of(k), k.scratch[0], acc_t, sym_dims(xt), add(k));
  }
  Value* count = nullptr;
  if (red.op == ir::OpKind::ReduceMean) {
    Value* n_in = elements(k, xt);
    Value* nred = b.CreateSDiv(n_in, b.CreateSelect(b.CreateICmpSGT(n_out, k.c64(0)), n_out, k.c64(1)));
    count = b.CreateSIToFP(nred, acc_t);
  }
  emit_for(k, k.c64(0), n_out, [&](Value* i) {
    Value* a = b.CreateLoad(acc_t, b.CreateInBoundsGEP(acc_t, k.scratch[0], i));
    Value* r;
    if (f) r = b.CreateFPTrunc(count ? b.CreateFDiv(a, count) : a, b.getFloatTy());
    else r = b.CreateTrunc(a, b.getInt32Ty());  // wraps
    b.CreateStore(r, b.CreateInBoundsGEP(et(k, rt), k.out[0], i));
  });
}

namespace {

constexpr int64_t kMaxRegisterColumns = 64;  // columns whose sums a vector column reduction keeps in registers (8 <8 x double>)

// A sum or mean of f32 x over every axis but a static last one of at most
// kMaxRegisterColumns columns that emit_reduction would not split over
// threads (a bias gradient of a small layer): one loop over the rows with the
// columns' double sums as one <C x double> vector in registers, added to in
// row order, so each lane is the interpreter's sum. The columns go in pieces
// of 8, 4, 2, 1 (a <20 x double> loop phi is split into scalars and rebuilt
// every row). emit_reduction's nest
// keeps them in the scratch buffer: a load, add and store per element, the
// adds of one column a chain through memory.
bool emit_register_column_sums(KernelCtx& k) {
  const ir::Node& red = k.node;
  const ir::TensorType& xt = operand_type(k, 0);
  if (red.op == ir::OpKind::ReduceMax || xt.dtype != ir::DType::f32 || xt.rank() < 2) return false;
  std::vector<bool> drop(static_cast<size_t>(xt.rank()), false);
  for (int64_t a : red.attrs.ints("axes")) drop[static_cast<size_t>(norm_axis(a, xt.rank()))] = true;
  for (size_t d = 0; d + 1 < drop.size(); ++d)
    if (!drop[d]) return false;
  const std::vector<Sym> dims = sym_dims(xt);
  const Sym c = dims.back();
  if (drop.back() || c.n || c.c < 1 || c.c > kMaxRegisterColumns ||
      column_blocks(red, drop, {{k.in[0], et(k, xt), sym_strides(xt)}}))
    return false;
  llvm::IRBuilder<>& b = k.b;
  std::vector<std::pair<int64_t, unsigned>> pieces;  // (first column, width)
  for (int64_t j = 0, w = 8; j < c.c; w /= 2)
    for (; c.c - j >= w; j += w) pieces.push_back({j, static_cast<unsigned>(w)});
  auto float_t = [&](unsigned w) { return llvm::FixedVectorType::get(b.getFloatTy(), w); };
  auto double_t = [&](unsigned w) { return llvm::FixedVectorType::get(b.getDoubleTy(), w); };
  Carried zeros;
  for (auto [j, w] : pieces) zeros.push_back(llvm::Constant::getNullValue(double_t(w)));
  Value* rows = k.sym(sym_product(dims, 0, dims.size() - 1));
  Carried sums = emit_carried_loop(k, rows, zeros, [&](Value* i, const Carried& acc) {
    Value* row = b.CreateInBoundsGEP(b.getFloatTy(), k.in[0], b.CreateMul(i, k.c64(c.c)));
    Carried next;
    for (size_t q = 0; q < pieces.size(); ++q) {
      auto [j, w] = pieces[q];
      Value* x = b.CreateAlignedLoad(float_t(w), b.CreateConstInBoundsGEP1_64(b.getFloatTy(), row, static_cast<uint64_t>(j)),
                                     llvm::MaybeAlign(4));
      next.push_back(b.CreateFAdd(acc[q], b.CreateFPExt(x, double_t(w))));
    }
    return next;
  });
  Value* count = b.CreateSIToFP(rows, b.getDoubleTy());
  for (size_t q = 0; q < pieces.size(); ++q) {
    auto [j, w] = pieces[q];
    Value* r = sums[q];
    if (red.op == ir::OpKind::ReduceMean) r = b.CreateFDiv(r, b.CreateVectorSplat(w, count));  // as emit_reduction
    b.CreateAlignedStore(b.CreateFPTrunc(r, float_t(w)),
                         b.CreateConstInBoundsGEP1_64(b.getFloatTy(), k.out[0], static_cast<uint64_t>(j)),
                         llvm::MaybeAlign(4));
  }
  return true;
}

// A reduction in the interpreter's order.
void emit_reduce_loop(KernelCtx& k) {
  if (emit_register_column_sums(k)) return;
  const ir::TensorType& xt = operand_type(k, 0);
  llvm::Type* e = et(k, xt);
  emit_reduction(
      k, k.node, [&](KernelCtx& ck) { return std::vector<Access>{{ck.in[0], e, sym_strides(xt)}}; },
      [&](KernelCtx& ck, const std::vector<Value*>& p) { return ck.b.CreateLoad(e, p[0]); });
}

// A sum or mean of an f32 constant fill (a mean's gradient counts its rows
// so: reduce_sum of ones [N]) as value x count, with no loop. The
// interpreter adds the float value count times in double from +0.0, and
// every partial sum k * v is exact there (v's 24 significant bits times
// k < 2^29 fit in 53), so its sum is +0.0 + v * count, bit for bit; a larger
// count takes the loop.
bool emit_constant_sum(KernelCtx& k) {
  const ir::Node& red = k.node;
  const ir::Value* x = red.operands[0];
  if (red.op == ir::OpKind::ReduceMax || !x->def || x->def->op != ir::OpKind::Constant || x->type.dtype != ir::DType::f32)
    return false;
  llvm::IRBuilder<>& b = k.b;
  const ir::TensorType& rt = result_type(k);
  Value* count = b.CreateUDiv(elements(k, x->type), elements(k, rt));
  emit_if_else(
      k, b.CreateICmpULT(count, k.c64(int64_t{1} << 29)),
      [&] {
        const double v = static_cast<float>(x->def->attrs.f("value"));
        Value* n = b.CreateUIToFP(count, b.getDoubleTy());
        Value* sum = b.CreateFAdd(llvm::ConstantFP::get(b.getDoubleTy(), 0.0),
                                  b.CreateFMul(llvm::ConstantFP::get(b.getDoubleTy(), v), n));
        sum = b.CreateSelect(b.CreateICmpEQ(count, k.c64(0)), llvm::ConstantFP::get(b.getDoubleTy(), 0.0), sum);
        if (red.op == ir::OpKind::ReduceMean) sum = b.CreateFDiv(sum, n);  // as emit_reduction
        emit_fill(k, k.out[0], b.getFloatTy(), elements(k, rt), b.CreateFPTrunc(sum, b.getFloatTy()));
      },
      [&] { emit_reduce_loop(k); });
  return true;
}

}  // namespace

void emit_reduce(KernelCtx& k) {
  if (!emit_constant_sum(k)) emit_reduce_loop(k);
}

void emit_argmax(KernelCtx& k) {
  const ir::TensorType& xt = operand_type(k, 0);
  llvm::IRBuilder<>& b = k.b;
  size_t ax = static_cast<size_t>(norm_axis(k.node.attrs.i("axis"), xt.rank()));
  std::vector<Sym> d = sym_dims(xt);
  Sym outer = sym_product(d, 0, ax), len = d[ax], inner = sym_product(d, ax + 1, d.size());
  llvm::Type* e = et(k, xt);
  llvm::AllocaInst* best = k.local(k.i64(), "best");
  llvm::AllocaInst* best_v = k.local(e, "best_v");
  Value* lenv = k.sym(len);
  Value* innerv = k.sym(inner);
  emit_for(k, k.c64(0), k.sym(outer), [&](Value* a) {
    emit_for(k, k.c64(0), innerv, [&](Value* c) {
      Value* q = b.CreateInBoundsGEP(e, k.in[0], b.CreateAdd(b.CreateMul(b.CreateMul(a, lenv), innerv), c));
      b.CreateStore(k.c64(0), best);
      b.CreateStore(b.CreateLoad(e, q), best_v);
      emit_for(k, k.c64(1), lenv, [&](Value* i) {
        Value* v = b.CreateLoad(e, b.CreateInBoundsGEP(e, q, b.CreateMul(i, innerv)));
        Value* bv = b.CreateLoad(e, best_v);
        Value* take;  // first maximum; the first NaN wins
        if (xt.dtype == ir::DType::f32)
          take = b.CreateAnd(b.CreateFCmpORD(bv, bv), b.CreateOr(b.CreateFCmpOGT(v, bv), b.CreateFCmpUNO(v, v)));
        else if (xt.dtype == ir::DType::i32) take = b.CreateICmpSGT(v, bv);
        else take = b.CreateICmpUGT(v, bv);
        b.CreateStore(b.CreateSelect(take, i, b.CreateLoad(k.i64(), best)), best);
        b.CreateStore(b.CreateSelect(take, v, bv), best_v);
      });
      Value* o = b.CreateInBoundsGEP(b.getInt32Ty(), k.out[0], b.CreateAdd(b.CreateMul(a, innerv), c));
      b.CreateStore(b.CreateTrunc(b.CreateLoad(k.i64(), best), b.getInt32Ty()), o);
    });
  });
}

namespace {

// max_pool2d geometry: x [n,H,W,C], y [n,OH,OW,C]; window, strides, padding.
struct Pool {
  int64_t h, w, c, oh, ow, kh, kw, sh, sw, pt, pl;
  Sym n;
};

Pool pool_of(KernelCtx& k) {
  const ir::OpKind op = k.node.op;
  const bool forward = op == ir::OpKind::MaxPool2D || op == ir::OpKind::MaxPool2DWinners;
  const ir::TensorType& xt = op == ir::OpKind::MaxPool2DScatter ? k.node.results[0]->type : k.node.operands[0]->type;
  const ir::TensorType& yt = forward ? k.node.results[0]->type : k.node.operands[1]->type;
  const auto& win = k.node.attrs.ints("window");
  const auto& st = k.node.attrs.ints("strides");
  const auto& pd = k.node.attrs.ints("padding");
  return {xt.shape[1], xt.shape[2], xt.shape[3], yt.shape[1], yt.shape[2], win[0],
          win[1],      st[0],       st[1],       pd[0],       pd[2],       sym_dims(xt)[0]};
}

// Calls f(base_x, base_y, first, t) for each window cell inside x of output
// pixel (n,i,j), in row-major window order; base_x is the offset of x[n,y,x,0],
// base_y of y[n,i,j,0], `first` is true for the first cell inside and t is
// the cell's position in the window (a * kw + b, i64).
void for_each_cell(KernelCtx& k, const Pool& g, const std::function<void(Value*, Value*, Value*, Value*)>& f) {
  llvm::IRBuilder<>& b = k.b;
  auto c = [&](int64_t v) { return k.c64(v); };
  llvm::AllocaInst* first = k.local(b.getInt1Ty(), "first");
  emit_for(k, c(0), k.sym(g.n), [&](Value* n) {
    emit_for(k, c(0), c(g.oh), [&](Value* i) {
      emit_for(k, c(0), c(g.ow), [&](Value* j) {
        b.CreateStore(b.getTrue(), first);
        Value* base_y =
            b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.oh)), i), c(g.ow)), j), c(g.c));
        emit_for(k, c(0), c(g.kh), [&](Value* a) {
          Value* y = b.CreateSub(b.CreateAdd(b.CreateMul(i, c(g.sh)), a), c(g.pt));
          emit_for(k, c(0), c(g.kw), [&](Value* bb) {
            Value* x = b.CreateSub(b.CreateAdd(b.CreateMul(j, c(g.sw)), bb), c(g.pl));
            Value* inside = b.CreateAnd(b.CreateAnd(b.CreateICmpSGE(y, c(0)), b.CreateICmpSLT(y, c(g.h))),
                                        b.CreateAnd(b.CreateICmpSGE(x, c(0)), b.CreateICmpSLT(x, c(g.w))));
            llvm::BasicBlock* then = llvm::BasicBlock::Create(k.ctx(), "inside", k.fn);
            llvm::BasicBlock* done = llvm::BasicBlock::Create(k.ctx(), "next_cell", k.fn);
            b.CreateCondBr(inside, then, done);
            b.SetInsertPoint(then);
            Value* base_x =
                b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.h)), y), c(g.w)), x), c(g.c));
            f(base_x, base_y, b.CreateLoad(b.getInt1Ty(), first), b.CreateAdd(b.CreateMul(a, c(g.kw)), bb));
            b.CreateStore(b.getFalse(), first);
            b.CreateBr(done);
            b.SetInsertPoint(done);
          });
        });
      });
    });
  });
}

// The NaN-aware "v beats best" of max pooling: !isnan(best) && (v > best || isnan(v)).
Value* beats(llvm::IRBuilder<>& b, Value* v, Value* best) {
  return b.CreateAnd(b.CreateFCmpORD(best, best), b.CreateOr(b.CreateFCmpOGT(v, best), b.CreateFCmpUNO(v, v)));
}


// Per output pixel (n,i,j) of an unrolled window (max_pool_unrolled) and
// channel c (the innermost, vectorized loop): f(cells, base_y, c) where
// cells[t] is the offset in x of window cell t. Images [lo, hi) only.
void for_each_window_cells(KernelCtx& k, const Pool& g, Value* lo, Value* hi,
                           const std::function<void(const std::vector<Value*>&, Value*, Value*)>& f) {
  llvm::IRBuilder<>& b = k.b;
  auto c = [&](int64_t v) { return k.c64(v); };
  emit_for(k, lo, hi, [&](Value* n) {
    emit_for(k, c(0), c(g.oh), [&](Value* i) {
      emit_for(k, c(0), c(g.ow), [&](Value* j) {
        Value* base_y =
            b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.oh)), i), c(g.ow)), j), c(g.c));
        std::vector<Value*> cell_base;
        for (int64_t a = 0; a < g.kh; ++a)
          for (int64_t bb = 0; bb < g.kw; ++bb) {
            Value* y = b.CreateAdd(b.CreateMul(i, c(g.sh)), c(a));
            Value* x = b.CreateAdd(b.CreateMul(j, c(g.sw)), c(bb));
            cell_base.push_back(
                b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.h)), y), c(g.w)), x), c(g.c)));
          }
        // Channels touch disjoint cells, also when the gradient overwrites x.
        emit_independent_for(k, c(0), c(g.c), [&](Value* ch) {
          std::vector<Value*> cells;
          for (Value* cb : cell_base) cells.push_back(b.CreateAdd(cb, ch));
          f(cells, base_y, ch);
        });
      });
    });
  });
}

// Per output pixel (n,i,j) and channel c (the innermost, vectorized loop):
// f(cells, winner, best, base_y, c) where cells[t] is the offset in x of
// window cell t, winner its index (i32) among the cells and best its value,
// chosen exactly as the interpreter does (the first maximum; NaN wins).
// Images [lo, hi) only.
void for_each_window_unrolled(
    KernelCtx& k, const Pool& g, Value* lo, Value* hi,
    const std::function<void(const std::vector<Value*>&, Value*, Value*, Value*, Value*)>& f) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* fl = b.getFloatTy();
  for_each_window_cells(k, g, lo, hi, [&](const std::vector<Value*>& cells, Value* base_y, Value* ch) {
    Value* best = b.CreateLoad(fl, b.CreateInBoundsGEP(fl, k.in[0], cells[0]));
    Value* winner = b.getInt32(0);  // i32: twice the lanes of i64 per vector
    for (size_t t = 1; t < cells.size(); ++t) {
      Value* v = b.CreateLoad(fl, b.CreateInBoundsGEP(fl, k.in[0], cells[t]));
      Value* take = beats(b, v, best);
      best = b.CreateSelect(take, v, best);
      winner = b.CreateSelect(take, b.getInt32(static_cast<uint32_t>(t)), winner);
    }
    f(cells, winner, best, base_y, ch);
  });
}

}  // namespace

void emit_max_pool(KernelCtx& k) {
  Pool g = pool_of(k);
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f = b.getFloatTy();
  if (max_pool_unrolled(k.node)) {  // images split over the thread pool
    emit_parallel_for(k, k.sym(g.n), k.c64((g.h * g.w + g.oh * g.ow) * g.c * 4), [&](KernelCtx& ck, Value* lo, Value* hi) {
      for_each_window_unrolled(ck, g, lo, hi,
                               [&](const std::vector<Value*>&, Value*, Value* best, Value* by, Value* c) {
                                 ck.b.CreateStore(best, ck.b.CreateInBoundsGEP(f, ck.out[0], ck.b.CreateAdd(by, c)));
                               });
    });
    return;
  }
  for_each_cell(k, g, [&](Value* bx, Value* by, Value* first, Value*) {
    emit_for(k, k.c64(0), k.c64(g.c), [&](Value* c) {
      Value* v = b.CreateLoad(f, b.CreateInBoundsGEP(f, k.in[0], b.CreateAdd(bx, c)));
      Value* py = b.CreateInBoundsGEP(f, k.out[0], b.CreateAdd(by, c));
      Value* best = b.CreateLoad(f, py);
      b.CreateStore(b.CreateSelect(b.CreateOr(first, beats(b, v, best)), v, best), py);
    });
  });
}

void emit_max_pool_winners(KernelCtx& k) {
  Pool g = pool_of(k);
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f = b.getFloatTy();
  llvm::Type* i8 = b.getInt8Ty();
  if (max_pool_unrolled(k.node)) {  // images split over the thread pool
    emit_parallel_for(k, k.sym(g.n), k.c64((g.h * g.w + g.oh * g.ow) * g.c * 4), [&](KernelCtx& ck, Value* lo, Value* hi) {
      llvm::IRBuilder<>& cb = ck.b;
      for_each_window_unrolled(ck, g, lo, hi,
                               [&](const std::vector<Value*>&, Value* winner, Value* best, Value* by, Value* c) {
                                 Value* at = cb.CreateAdd(by, c);
                                 cb.CreateStore(best, cb.CreateInBoundsGEP(f, ck.out[0], at));
                                 cb.CreateStore(cb.CreateTrunc(winner, i8), cb.CreateInBoundsGEP(i8, ck.out[1], at));
                               });
    });
    return;
  }
  for_each_cell(k, g, [&](Value* bx, Value* by, Value* first, Value* t) {
    emit_for(k, k.c64(0), k.c64(g.c), [&](Value* c) {
      Value* v = b.CreateLoad(f, b.CreateInBoundsGEP(f, k.in[0], b.CreateAdd(bx, c)));
      Value* py = b.CreateInBoundsGEP(f, k.out[0], b.CreateAdd(by, c));
      Value* pw = b.CreateInBoundsGEP(i8, k.out[1], b.CreateAdd(by, c));
      Value* take = b.CreateOr(first, beats(b, v, b.CreateLoad(f, py)));
      b.CreateStore(b.CreateSelect(take, v, b.CreateLoad(f, py)), py);
      b.CreateStore(b.CreateSelect(take, b.CreateTrunc(t, i8), b.CreateLoad(i8, pw)), pw);
    });
  });
}

namespace {

// Zeroes the cells of x no window covers when the windows tile x (strides
// equal to the window, no padding): rows from oh*kh and, above them, columns
// from ow*kw; in images [lo, hi).
void zero_uncovered(KernelCtx& k, const Pool& g, Value* lo, Value* hi) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f = b.getFloatTy();
  Value* zero = llvm::ConstantFP::get(f, 0.0);
  auto c = [&](int64_t v) { return k.c64(v); };
  const int64_t rows = g.oh * g.kh, cols = g.ow * g.kw;
  emit_for(k, lo, hi, [&](Value* n) {
    Value* image = b.CreateMul(n, c(g.h * g.w * g.c));
    if (rows < g.h)
      emit_fill(k, b.CreateInBoundsGEP(f, k.out[0], b.CreateAdd(image, c(rows * g.w * g.c))), f,
                c((g.h - rows) * g.w * g.c), zero);
    if (cols < g.w)
      emit_for(k, c(0), c(rows), [&](Value* y) {
        Value* at = b.CreateAdd(image, b.CreateMul(b.CreateAdd(b.CreateMul(y, c(g.w)), c(cols)), c(g.c)));
        emit_fill(k, b.CreateInBoundsGEP(f, k.out[0], at), f, c((g.w - cols) * g.c), zero);
      });
  });
}

}  // namespace

void emit_max_pool_grad(KernelCtx& k) {
  Pool g = pool_of(k);
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f = b.getFloatTy();
  const ir::TensorType& xt = k.node.operands[0]->type;
  if (max_pool_grad_tiled(k.node)) {
    // The windows tile x: each cell is written once, with the interpreter's
    // 0 + dy at the winner (so -0 becomes +0, as there) and 0 elsewhere.
    // Images split over the thread pool.
    Value* zero = llvm::ConstantFP::get(f, 0.0);
    emit_parallel_for(k, k.sym(g.n), k.c64((2 * g.h * g.w + g.oh * g.ow) * g.c * 4), [&](KernelCtx& ck, Value* lo, Value* hi) {
      llvm::IRBuilder<>& cb = ck.b;
      for_each_window_unrolled(
          ck, g, lo, hi, [&](const std::vector<Value*>& cells, Value* winner, Value*, Value* by, Value* c) {
            Value* d = cb.CreateFAdd(zero, cb.CreateLoad(f, cb.CreateInBoundsGEP(f, ck.in[1], cb.CreateAdd(by, c))));
            for (size_t t = 0; t < cells.size(); ++t)
              cb.CreateStore(cb.CreateSelect(cb.CreateICmpEQ(winner, cb.getInt32(static_cast<uint32_t>(t))), d, zero),
                             cb.CreateInBoundsGEP(f, ck.out[0], cells[t]));
          });
      zero_uncovered(ck, g, lo, hi);
    });
    return;
  }
  emit_fill(k, k.out[0], f, k.sym({xt.static_elements(), xt.has_batch()}), llvm::ConstantFP::get(f, 0.0));
  // Per output pixel: the winning offset of each channel (scratch-free: a
  // second pass over the window per channel), then dx[arg] += dy.
  llvm::AllocaInst* arg = k.local(k.i64(), "arg");
  llvm::AllocaInst* best = k.local(f, "best");
  llvm::AllocaInst* started = k.local(b.getInt1Ty(), "started");
  auto c = [&](int64_t v) { return k.c64(v); };
  emit_for(k, c(0), k.sym(g.n), [&](Value* n) {
    emit_for(k, c(0), c(g.oh), [&](Value* i) {
      emit_for(k, c(0), c(g.ow), [&](Value* j) {
        Value* by = b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.oh)), i), c(g.ow)), j), c(g.c));
        emit_independent_for(k, c(0), c(g.c), [&](Value* ch) {
          b.CreateStore(b.getFalse(), started);
          emit_for(k, c(0), c(g.kh), [&](Value* a) {
            Value* y = b.CreateSub(b.CreateAdd(b.CreateMul(i, c(g.sh)), a), c(g.pt));
            emit_for(k, c(0), c(g.kw), [&](Value* bb) {
              Value* x = b.CreateSub(b.CreateAdd(b.CreateMul(j, c(g.sw)), bb), c(g.pl));
              Value* inside = b.CreateAnd(b.CreateAnd(b.CreateICmpSGE(y, c(0)), b.CreateICmpSLT(y, c(g.h))),
                                          b.CreateAnd(b.CreateICmpSGE(x, c(0)), b.CreateICmpSLT(x, c(g.w))));
              llvm::BasicBlock* then = llvm::BasicBlock::Create(k.ctx(), "inside", k.fn);
              llvm::BasicBlock* done = llvm::BasicBlock::Create(k.ctx(), "next_cell", k.fn);
              b.CreateCondBr(inside, then, done);
              b.SetInsertPoint(then);
              Value* off = b.CreateAdd(
                  b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.h)), y), c(g.w)), x), c(g.c)), ch);
              Value* v = b.CreateLoad(f, b.CreateInBoundsGEP(f, k.in[0], off));
              Value* take =
                  b.CreateOr(b.CreateNot(b.CreateLoad(b.getInt1Ty(), started)), beats(b, v, b.CreateLoad(f, best)));
              b.CreateStore(b.CreateSelect(take, off, b.CreateLoad(k.i64(), arg)), arg);
              b.CreateStore(b.CreateSelect(take, v, b.CreateLoad(f, best)), best);
              b.CreateStore(b.getTrue(), started);
              b.CreateBr(done);
              b.SetInsertPoint(done);
            });
          });
          Value* d = b.CreateLoad(f, b.CreateInBoundsGEP(f, k.in[1], b.CreateAdd(by, ch)));
          Value* px = b.CreateInBoundsGEP(f, k.out[0], b.CreateLoad(k.i64(), arg));
          b.CreateStore(b.CreateFAdd(b.CreateLoad(f, px), d), px);
        });
      });
    });
  });
}

void emit_max_pool_scatter(KernelCtx& k) {
  Pool g = pool_of(k);
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f = b.getFloatTy();
  llvm::Type* i8 = b.getInt8Ty();
  Value* zero = llvm::ConstantFP::get(f, 0.0);
  if (max_pool_grad_tiled(k.node)) {
    // The windows tile dx: each cell is written once, with the interpreter's
    // 0 + dy at the winner (so -0 becomes +0, as there) and 0 elsewhere.
    // Images split over the thread pool.
    emit_parallel_for(k, k.sym(g.n), k.c64((g.h * g.w * 4 + g.oh * g.ow * 5) * g.c), [&](KernelCtx& ck, Value* lo, Value* hi) {
      llvm::IRBuilder<>& cb = ck.b;
      for_each_window_cells(ck, g, lo, hi, [&](const std::vector<Value*>& cells, Value* by, Value* c) {
        Value* at = cb.CreateAdd(by, c);
        Value* winner = cb.CreateLoad(i8, cb.CreateInBoundsGEP(i8, ck.in[0], at));
        Value* d = cb.CreateFAdd(zero, cb.CreateLoad(f, cb.CreateInBoundsGEP(f, ck.in[1], at)));
        for (size_t t = 0; t < cells.size(); ++t)
          cb.CreateStore(cb.CreateSelect(cb.CreateICmpEQ(winner, cb.getInt8(static_cast<uint8_t>(t))), d, zero),
                         cb.CreateInBoundsGEP(f, ck.out[0], cells[t]));
      });
      zero_uncovered(ck, g, lo, hi);
    });
    return;
  }
  // Windows overlap or meet the padding: zeros, then window after window,
  // dx[winner] += dy (the interpreter's order of the sums).
  const ir::TensorType& xt = k.node.results[0]->type;
  emit_fill(k, k.out[0], f, k.sym({xt.static_elements(), xt.has_batch()}), zero);
  auto c = [&](int64_t v) { return k.c64(v); };
  emit_for(k, c(0), k.sym(g.n), [&](Value* n) {
    emit_for(k, c(0), c(g.oh), [&](Value* i) {
      emit_for(k, c(0), c(g.ow), [&](Value* j) {
        Value* by = b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.oh)), i), c(g.ow)), j), c(g.c));
        emit_independent_for(k, c(0), c(g.c), [&](Value* ch) {  // one window's cells are distinct
          Value* at = b.CreateAdd(by, ch);
          Value* t = b.CreateZExt(b.CreateLoad(i8, b.CreateInBoundsGEP(i8, k.in[0], at)), k.i64());
          Value* y = b.CreateSub(b.CreateAdd(b.CreateMul(i, c(g.sh)), b.CreateUDiv(t, c(g.kw))), c(g.pt));
          Value* x = b.CreateSub(b.CreateAdd(b.CreateMul(j, c(g.sw)), b.CreateURem(t, c(g.kw))), c(g.pl));
          Value* off = b.CreateAdd(
              b.CreateMul(b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, c(g.h)), y), c(g.w)), x), c(g.c)), ch);
          Value* px = b.CreateInBoundsGEP(f, k.out[0], off);
          b.CreateStore(b.CreateFAdd(b.CreateLoad(f, px), b.CreateLoad(f, b.CreateInBoundsGEP(f, k.in[1], at))), px);
        });
      });
    });
  });
}

}  // namespace kiln::codegen
