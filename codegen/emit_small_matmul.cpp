// Small matmuls inline: c[m, p] = op(a)[m, K] * op(b)[K, p] as vector FMA
// chains in the kernel itself, with no call into the runtime GEMM and no
// packing, and the contraction's epilogue (epilogue.h: bias, activation,
// relu's backward mask, as runtime/gemm.h applies them) on each row's
// accumulators before they are stored. An LSTM step's products ([N,10] x [10,40] and the like) are so small
// that the call, dispatch and packing of kiln_gemm_f32 cost more than the
// arithmetic.
//
// Bitwise the runtime GEMM's result (runtime/gemm.h): each element of c is
// one chain c = fma(a_k, b_k, c) over k in increasing order from +0. Here one
// row of c is a <p x float> accumulator and step k is llvm.fma(splat(a_ik),
// b row k, acc): lane j is exactly element (i, j)'s chain. Only used when the
// runtime GEMM itself fuses (not its generic, multiply-then-add build), and
// only below the size at which the runtime GEMM would split the product over
// threads (checked at run time: the batch size is only known then); larger
// products call it as before.
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <tuple>

#include "codegen/emit.h"
#include "codegen/emit_math.h"
#include "runtime/gemm.h"

namespace kiln::codegen {

namespace {

using llvm::Value;

// Widest row of c kept in registers (floats), and the most floats of a
// transposed b copied to the stack.
constexpr int64_t kMaxRow = 64;
constexpr int64_t kMaxPacked = 4096;
// Products of at least this many multiply-adds call the runtime GEMM (its
// threshold for splitting over threads, runtime/gemm.cpp kParallelFlops).
constexpr int64_t kInlineMacs = int64_t{1} << 21;

struct SmallMatmul {
  Value *a, *b, *c;
  Value *bias = nullptr, *mask = nullptr;  // the epilogue's (epilogue.h), or null
  int32_t act = KILN_ACT_NONE;
  Value* m;            // rows of op(a) (may depend on N)
  Value* k;            // op(a)'s columns (may depend on N)
  int64_t p;           // columns of c (static)
  Value* lda;          // a's stored row length
  bool ta;
  int64_t rows;        // rows of c per register block
  // A row of c as vectors of power-of-two widths (no wider than 16 floats,
  // e.g. 40 = 16 + 16 + 8), so that every load and store is a legal vector.
  std::vector<std::pair<int64_t, int64_t>> pieces;  // (first column, width)
};

// Splits p columns into power-of-two pieces of at most 16.
std::vector<std::pair<int64_t, int64_t>> row_pieces(int64_t p) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t j = 0, w = 16; j < p; w /= 2)
    for (; p - j >= w; j += w) out.push_back({j, w});
  return out;
}

// op(a)[i, kk].
Value* a_at(KernelCtx& k, const SmallMatmul& s, Value* i, Value* kk) {
  llvm::IRBuilder<>& b = k.b;
  Value* idx = s.ta ? b.CreateAdd(b.CreateMul(kk, s.lda), i) : b.CreateAdd(b.CreateMul(i, s.lda), kk);
  return b.CreateLoad(b.getFloatTy(), b.CreateInBoundsGEP(b.getFloatTy(), s.a, idx));
}

// The epilogue (runtime/gemm.h's order and float operations) on the piece
// v of row i at column j: + bias, activation, relu's backward mask.
Value* epilogue(KernelCtx& k, const SmallMatmul& s, Value* v, Value* i, int64_t j) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* t = v->getType();
  Value* zero = llvm::Constant::getNullValue(t);
  auto piece = [&](Value* base, Value* at) {
    return b.CreateAlignedLoad(t, b.CreateInBoundsGEP(f32, base, at), llvm::MaybeAlign(4));
  };
  if (s.bias) v = b.CreateFAdd(v, piece(s.bias, k.c64(j)));
  if (s.act == KILN_ACT_RELU) v = b.CreateSelect(b.CreateFCmpOLT(v, zero), zero, v);
  if (s.act == KILN_ACT_SIGMOID) v = emit_sigmoid_f32(b, v);
  if (s.act == KILN_ACT_TANH) v = emit_tanh_f32(b, v);
  if (s.mask)
    v = b.CreateSelect(b.CreateFCmpOGT(piece(s.mask, b.CreateAdd(b.CreateMul(i, k.c64(s.p)), k.c64(j))), zero), v,
                       zero);
  return v;
}

// Rows [i0, i0 + n) of c: n rows of vector accumulators, one pass over k,
// then the epilogue.
void emit_rows(KernelCtx& k, const SmallMatmul& s, Value* i0, int64_t n) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  std::vector<llvm::AllocaInst*> acc;  // [r * pieces + q]
  for (int64_t r = 0; r < n; ++r)
    for (auto [j, w] : s.pieces) {
      auto* t = llvm::FixedVectorType::get(f32, static_cast<unsigned>(w));
      acc.push_back(k.local(t, "acc"));
      b.CreateStore(llvm::Constant::getNullValue(t), acc.back());
    }
  emit_for(k, k.c64(0), s.k, [&](Value* kk) {
    Value* brow = b.CreateInBoundsGEP(f32, s.b, b.CreateMul(kk, k.c64(s.p)));
    std::vector<Value*> bv;
    for (auto [j, w] : s.pieces)
      bv.push_back(b.CreateAlignedLoad(llvm::FixedVectorType::get(f32, static_cast<unsigned>(w)),
                                       b.CreateConstInBoundsGEP1_64(f32, brow, static_cast<uint64_t>(j)),
                                       llvm::MaybeAlign(4)));
    for (int64_t r = 0; r < n; ++r) {
      Value* a = a_at(k, s, b.CreateAdd(i0, k.c64(r)), kk);
      for (size_t q = 0; q < s.pieces.size(); ++q) {
        llvm::AllocaInst* slot = acc[static_cast<size_t>(r) * s.pieces.size() + q];
        llvm::Type* t = slot->getAllocatedType();
        llvm::Function* fma = llvm::Intrinsic::getDeclaration(&k.m, llvm::Intrinsic::fma, {t});
        Value* av = b.CreateVectorSplat(static_cast<unsigned>(s.pieces[q].second), a);
        b.CreateStore(b.CreateCall(fma, {av, bv[q], b.CreateLoad(t, slot)}), slot);
      }
    }
  });
  for (int64_t r = 0; r < n; ++r) {
    Value* i = b.CreateAdd(i0, k.c64(r));
    Value* dst = b.CreateInBoundsGEP(f32, s.c, b.CreateMul(i, k.c64(s.p)));
    for (size_t q = 0; q < s.pieces.size(); ++q) {
      llvm::AllocaInst* slot = acc[static_cast<size_t>(r) * s.pieces.size() + q];
      Value* v = epilogue(k, s, b.CreateLoad(slot->getAllocatedType(), slot), i, s.pieces[q].first);
      b.CreateAlignedStore(v, b.CreateConstInBoundsGEP1_64(f32, dst, static_cast<uint64_t>(s.pieces[q].first)),
                           llvm::MaybeAlign(4));
    }
  }
}

// op(b) with rows of p contiguous floats: b itself, or b^T copied to the stack.
Value* b_rows(KernelCtx& k, Value* bbuf, bool tb, int64_t kdim, int64_t p) {
  if (!tb) return bbuf;
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  llvm::IRBuilder<> eb(&k.fn->getEntryBlock(), k.fn->getEntryBlock().begin());
  Value* packed = eb.CreateAlloca(llvm::ArrayType::get(f32, static_cast<uint64_t>(kdim * p)), nullptr, "bt");
  emit_for(k, k.c64(0), k.c64(kdim), [&](Value* kk) {
    emit_for(k, k.c64(0), k.c64(p), [&](Value* j) {  // b is stored [p, K]
      Value* v = b.CreateLoad(f32, b.CreateInBoundsGEP(f32, bbuf, b.CreateAdd(b.CreateMul(j, k.c64(kdim)), kk)));
      b.CreateStore(v, b.CreateInBoundsGEP(f32, packed, b.CreateAdd(b.CreateMul(kk, k.c64(p)), j)));
    });
  });
  return packed;
}

}  // namespace

bool emit_small_matmul(KernelCtx& k) {
  const ir::Node& n = k.node;
  const bool ta = n.attrs.b("transpose_a"), tb = n.attrs.b("transpose_b");
  const std::vector<Sym> ad = sym_dims(n.operands[0]->type), bd = sym_dims(n.operands[1]->type);
  if (!k.fma_matmul || bd.size() != 2 || ad.size() < 2 || (ta && ad.size() != 2)) return false;
  const Sym p = tb ? bd[0] : bd[1], kd = tb ? bd[1] : bd[0];
  if (p.n || p.c < 1 || p.c > kMaxRow) return false;
  if (tb && (kd.n || kd.c * p.c > kMaxPacked)) return false;
  llvm::IRBuilder<>& b = k.b;
  SmallMatmul s;
  s.a = k.in[0];
  s.c = k.out[0];
  s.ta = ta;
  s.p = p.c;
  s.lda = k.sym(ad.back());  // a is stored [.., K] (op(a) = a) or [K, m] (op(a) = a^T)
  s.m = ta ? k.sym(ad[1]) : k.sym(sym_product(ad, 0, ad.size() - 1));
  s.k = k.sym(kd);
  s.pieces = row_pieces(p.c);
  std::tie(s.bias, s.mask) = k.epilogue_buffers();
  if (k.epilogue) s.act = k.epilogue->act;
  s.rows = std::max<int64_t>(1, std::min<int64_t>(8, 24 / static_cast<int64_t>(s.pieces.size())));

  // Large products (known at run time) take the runtime GEMM and its threads.
  Value* macs = b.CreateMul(b.CreateMul(s.m, s.k), k.c64(s.p));
  llvm::BasicBlock* inl = llvm::BasicBlock::Create(k.ctx(), "small", k.fn);
  llvm::BasicBlock* big = llvm::BasicBlock::Create(k.ctx(), "large", k.fn);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(k.ctx(), "matmul.done", k.fn);
  b.CreateCondBr(b.CreateICmpSLT(macs, k.c64(kInlineMacs)), inl, big);
  b.SetInsertPoint(big);
  emit_runtime_matmul(k);
  b.CreateBr(done);
  b.SetInsertPoint(inl);
  s.b = b_rows(k, k.in[1], tb, kd.c, p.c);
  Value* full = b.CreateMul(b.CreateSDiv(s.m, k.c64(s.rows)), k.c64(s.rows));
  emit_for(k, k.c64(0), b.CreateSDiv(s.m, k.c64(s.rows)),
           [&](Value* blk) { emit_rows(k, s, b.CreateMul(blk, k.c64(s.rows)), s.rows); });
  emit_for(k, full, s.m, [&](Value* i) { emit_rows(k, s, i, 1); });
  b.CreateBr(done);
  b.SetInsertPoint(done);
  return true;
}

}  // namespace kiln::codegen
