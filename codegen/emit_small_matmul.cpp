// Small matmuls inline: c[m, p] = op(a)[m, K] * op(b)[K, p] as vector FMA
// chains in the kernel itself, with no call into the runtime GEMM and no
// packing, and the contraction's epilogue (epilogue.h: bias, activation,
// relu's backward mask, as runtime/gemm.h applies them): bias and relu (and
// the mask) on each row's accumulators before they are stored, a sigmoid or
// tanh (and the mask after it) in one pass over c. An LSTM step's products
// ([N,10] x [10,40] and the like) are so small that the call, dispatch and
// packing of kiln_gemm_f32 cost more than the arithmetic.
//
// Compile time: every loop here (rows, k, the epilogue pass) stays a loop
// that LLVM neither unrolls nor vectorizes again (mark_vector_loop), and each
// piece of code exists once per kernel: unrolled k loops and per-row copies
// of the activation made these kernels most of a small model's compile time.
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
#include <bit>
#include <functional>
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

// Columns [first, first + lanes) of a row of c in one <width x float> vector;
// lanes < width: its loads and stores are masked to the lanes.
struct Piece {
  int64_t first, width, lanes;
};

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
  std::vector<Piece> pieces;
  // The activation is a transcendental one, applied by flat_epilogue.
  bool flat_act() const { return act == KILN_ACT_SIGMOID || act == KILN_ACT_TANH; }
};

// Splits p columns into pieces of 16, then the rest as one piece: of its own
// width when that is a power of two, else masked in the next power of two
// (10 = one masked 16, not 8 + 2: one FMA per row and k instead of two).
std::vector<Piece> row_pieces(int64_t p) {
  std::vector<Piece> out;
  int64_t j = 0;
  for (; p - j >= 16; j += 16) out.push_back({j, 16, 16});
  if (const int64_t rest = p - j) out.push_back({j, static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(rest))), rest});
  return out;
}

// The constant <width x i1> mask of piece q's lanes.
Value* lane_mask(llvm::IRBuilder<>& b, const Piece& q) {
  std::vector<llvm::Constant*> bits;
  for (int64_t l = 0; l < q.width; ++l) bits.push_back(b.getInt1(l < q.lanes));
  return llvm::ConstantVector::get(bits);
}

// Loads (or stores) piece q's lanes at `at`: a plain vector access, or a
// masked one that touches only the piece's lanes.
Value* load_piece(llvm::IRBuilder<>& b, const Piece& q, Value* at) {
  auto* t = llvm::FixedVectorType::get(b.getFloatTy(), static_cast<unsigned>(q.width));
  if (q.lanes == q.width) return b.CreateAlignedLoad(t, at, llvm::MaybeAlign(4));
  return b.CreateMaskedLoad(t, at, llvm::Align(4), lane_mask(b, q), llvm::Constant::getNullValue(t));
}
void store_piece(llvm::IRBuilder<>& b, const Piece& q, Value* v, Value* at) {
  if (q.lanes == q.width) b.CreateAlignedStore(v, at, llvm::MaybeAlign(4));
  else b.CreateMaskedStore(v, at, llvm::Align(4), lane_mask(b, q));
}

// The epilogue steps applied to each row's accumulators (runtime/gemm.h's
// order and float operations): + bias, relu, and relu's backward mask unless
// a transcendental activation comes first (then flat_epilogue does it).
Value* row_epilogue(KernelCtx& k, const SmallMatmul& s, Value* v, Value* i, const Piece& q) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  const int64_t j = q.first;
  Value* zero = llvm::Constant::getNullValue(v->getType());
  auto piece = [&](Value* base, Value* at) { return load_piece(b, q, b.CreateInBoundsGEP(f32, base, at)); };
  if (s.bias) v = b.CreateFAdd(v, piece(s.bias, k.c64(j)));
  if (s.act == KILN_ACT_RELU) v = b.CreateSelect(b.CreateFCmpOLT(v, zero), zero, v);
  if (s.mask && !s.flat_act())
    v = b.CreateSelect(b.CreateFCmpOGT(piece(s.mask, b.CreateAdd(b.CreateMul(i, k.c64(s.p)), k.c64(j))), zero), v,
                       zero);
  return v;
}

// The rest of the epilogue after a sigmoid/tanh activation (the activation,
// then relu's backward mask) over all of c[0, m*p) in masked 16-float
// vectors: one copy of the activation's code rather than one per row piece.
void flat_epilogue(KernelCtx& k, const SmallMatmul& s) {
  if (!s.flat_act()) return;
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  constexpr unsigned kW = 16;
  auto* vt = llvm::FixedVectorType::get(f32, kW);
  Value* zero = llvm::Constant::getNullValue(vt);
  Value* total = b.CreateMul(s.m, k.c64(s.p));
  std::vector<llvm::Constant*> lanes;
  for (unsigned l = 0; l < kW; ++l) lanes.push_back(b.getInt64(l));
  Value* iota = llvm::ConstantVector::get(lanes);
  Value* chunks = b.CreateUDiv(b.CreateAdd(total, k.c64(kW - 1)), k.c64(kW));
  emit_carried_loop(k, chunks, {}, [&](Value* ch, const Carried&) {
    Value* at = b.CreateMul(ch, k.c64(kW));
    Value* live = b.CreateICmpULT(iota, b.CreateVectorSplat(kW, b.CreateSub(total, at)));
    Value* dst = b.CreateInBoundsGEP(f32, s.c, at);
    Value* v = b.CreateMaskedLoad(vt, dst, llvm::Align(4), live, zero);
    v = s.act == KILN_ACT_SIGMOID ? emit_sigmoid_f32(b, v) : emit_tanh_f32(b, v);
    if (s.mask) {
      Value* m = b.CreateMaskedLoad(vt, b.CreateInBoundsGEP(f32, s.mask, at), llvm::Align(4), live, zero);
      v = b.CreateSelect(b.CreateFCmpOGT(m, zero), v, zero);
    }
    b.CreateMaskedStore(v, dst, llvm::Align(4), live);
    return Carried{};
  });
}

// Rows [i0, i0 + n) of c: n rows of vector accumulators through one loop
// over k, then the row epilogue and the stores.
void emit_rows(KernelCtx& k, const SmallMatmul& s, Value* i0, int64_t n) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  std::vector<llvm::Type*> piece_t;
  for (const Piece& q : s.pieces) piece_t.push_back(llvm::FixedVectorType::get(f32, static_cast<unsigned>(q.width)));
  Carried zeros;  // [r * pieces + q]
  for (int64_t r = 0; r < n; ++r)
    for (llvm::Type* t : piece_t) zeros.push_back(llvm::Constant::getNullValue(t));
  // op(a)[i0 + r, kk] is at a_row[r] + kk (a stored [m, K]) or a + kk * lda + i0 + r (a^T).
  std::vector<Value*> a_row;
  if (!s.ta)
    for (int64_t r = 0; r < n; ++r)
      a_row.push_back(b.CreateInBoundsGEP(f32, s.a, b.CreateMul(b.CreateAdd(i0, k.c64(r)), s.lda)));
  Carried acc = emit_carried_loop(k, s.k, zeros, [&](Value* kk, const Carried& acc) {
    Value* brow = b.CreateInBoundsGEP(f32, s.b, b.CreateMul(kk, k.c64(s.p)));
    std::vector<Value*> bv;
    for (const Piece& q : s.pieces)
      bv.push_back(load_piece(b, q, b.CreateConstInBoundsGEP1_64(f32, brow, static_cast<uint64_t>(q.first))));
    Value* a_col = s.ta ? b.CreateInBoundsGEP(f32, s.a, b.CreateAdd(b.CreateMul(kk, s.lda), i0)) : nullptr;
    Carried next;
    for (int64_t r = 0; r < n; ++r) {
      Value* at = s.ta ? b.CreateConstInBoundsGEP1_64(f32, a_col, static_cast<uint64_t>(r))
                       : b.CreateInBoundsGEP(f32, a_row[static_cast<size_t>(r)], kk);
      Value* a = b.CreateLoad(f32, at);
      for (size_t q = 0; q < s.pieces.size(); ++q) {
        llvm::Function* fma = llvm::Intrinsic::getDeclaration(&k.m, llvm::Intrinsic::fma, {piece_t[q]});
        Value* av = b.CreateVectorSplat(static_cast<unsigned>(s.pieces[q].width), a);
        next.push_back(b.CreateCall(fma, {av, bv[q], acc[static_cast<size_t>(r) * s.pieces.size() + q]}));
      }
    }
    return next;
  });
  for (int64_t r = 0; r < n; ++r) {
    Value* i = b.CreateAdd(i0, k.c64(r));
    Value* dst = b.CreateInBoundsGEP(f32, s.c, b.CreateMul(i, k.c64(s.p)));
    for (size_t q = 0; q < s.pieces.size(); ++q) {
      const Piece& pc = s.pieces[q];
      Value* v = row_epilogue(k, s, acc[static_cast<size_t>(r) * s.pieces.size() + q], i, pc);
      store_piece(b, pc, v, b.CreateConstInBoundsGEP1_64(f32, dst, static_cast<uint64_t>(pc.first)));
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
  const int64_t max_acc = 24;  // accumulator vectors per block
  s.rows = std::max<int64_t>(1, std::min<int64_t>(8, max_acc / static_cast<int64_t>(s.pieces.size())));
  // A static m (a^T: a weight gradient, whose k is the batch) in blocks of
  // equal size, up to max_acc accumulators each when a is read by columns:
  // no rows left over to run one at a time, one FMA chain per piece,
  // latency-bound over the whole k.
  const auto* m_static = llvm::dyn_cast<llvm::ConstantInt>(s.m);
  if (m_static && m_static->getSExtValue() > 0) {
    const int64_t m = m_static->getSExtValue();
    const int64_t most = ta ? std::max<int64_t>(1, max_acc / static_cast<int64_t>(s.pieces.size())) : s.rows;
    const int64_t blocks = (m + most - 1) / most;
    s.rows = (m + blocks - 1) / blocks;
  }

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
  Value* blocks = b.CreateSDiv(s.m, k.c64(s.rows));
  Value* full = b.CreateMul(blocks, k.c64(s.rows));
  emit_carried_loop(k, blocks, {}, [&](Value* blk, const Carried&) {
    emit_rows(k, s, b.CreateMul(blk, k.c64(s.rows)), s.rows);
    return Carried{};
  });
  if (m_static) {  // the rows left, as one block
    if (const int64_t left = m_static->getSExtValue() % s.rows) emit_rows(k, s, full, left);
  } else {
    emit_carried_loop(k, b.CreateSub(s.m, full), {}, [&](Value* r, const Carried&) {
      emit_rows(k, s, b.CreateAdd(full, r), 1);
      return Carried{};
    });
  }
  flat_epilogue(k, s);
  b.CreateBr(done);
  b.SetInsertPoint(done);
  return true;
}

}  // namespace kiln::codegen
