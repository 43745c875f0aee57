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
// one chain c = fma(a_k, b_k, c) in increasing k from +0 per block of
// KILN_GEMM_K_BLOCK steps, the blocks' results added in order. Here one row
// of c is a <p x float> accumulator per block and step k is
// llvm.fma(splat(a_ik), b row k, acc): lane j is exactly element (i, j)'s
// chain; blocks are independent, so several run at once, and with a large b
// and few rows (a Dense head at batch 1) groups of blocks run on the thread
// pool, their sums added in order after (sum_group_blocks). Only used when the
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
  // A row of c as vectors of power-of-two widths (row_pieces), so that every
  // load and store is a legal vector.
  std::vector<Piece> pieces;
  // The activation is a transcendental one, applied by flat_epilogue.
  bool flat_act() const { return act == KILN_ACT_SIGMOID || act == KILN_ACT_TANH; }
};

// Splits p columns into pieces of the target's vector (k.vector_floats), then
// the rest. With AVX-512 the rest is one piece: of its own width when that is
// a power of two, else masked in the next power of two (10 = one masked 16,
// not 8 + 2: one FMA per row and k instead of two). Without it (masked stores
// are microcoded, KernelCtx::cheap_masks) the row is vector_pieces (10 = 8 + 2,
// 7 = 4 + 2 + 1).
std::vector<Piece> row_pieces(const KernelCtx& k, int64_t p) {
  const int64_t w = k.vector_floats;
  std::vector<Piece> out;
  if (!k.cheap_masks()) {
    for (auto [first, width] : vector_pieces(p, w)) out.push_back({first, width, width});
    return out;
  }
  int64_t j = 0;
  for (; p - j >= w; j += w) out.push_back({j, w, w});
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
// then relu's backward mask) over all of c[0, m*p) in vectors of the
// target's width: one copy of the activation's code rather than one per row
// piece. The last, partial vector is masked where masks are cheap
// (KernelCtx::cheap_masks); elsewhere its floats are copied to a vector on
// the stack and back, and every other vector is a plain load and store.
void flat_epilogue(KernelCtx& k, const SmallMatmul& s) {
  if (!s.flat_act()) return;
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  const unsigned w = static_cast<unsigned>(k.vector_floats);
  auto* vt = llvm::FixedVectorType::get(f32, w);
  Value* zero = llvm::Constant::getNullValue(vt);
  Value* total = b.CreateMul(s.m, k.c64(s.p));
  Value* chunks = b.CreateUDiv(b.CreateAdd(total, k.c64(w - 1)), k.c64(w));
  auto activation = [&](Value* v, Value* m) {
    v = s.act == KILN_ACT_SIGMOID ? emit_sigmoid_f32(b, v) : emit_tanh_f32(b, v);
    return m ? b.CreateSelect(b.CreateFCmpOGT(m, zero), v, zero) : v;
  };
  if (k.cheap_masks()) {
    std::vector<llvm::Constant*> lanes;
    for (unsigned l = 0; l < w; ++l) lanes.push_back(b.getInt64(l));
    Value* iota = llvm::ConstantVector::get(lanes);
    emit_carried_loop(k, chunks, {}, [&](Value* ch, const Carried&) {
      Value* at = b.CreateMul(ch, k.c64(w));
      Value* live = b.CreateICmpULT(iota, b.CreateVectorSplat(w, b.CreateSub(total, at)));
      Value* dst = b.CreateInBoundsGEP(f32, s.c, at);
      Value* m = s.mask ? b.CreateMaskedLoad(vt, b.CreateInBoundsGEP(f32, s.mask, at), llvm::Align(4), live, zero)
                        : nullptr;
      b.CreateMaskedStore(activation(b.CreateMaskedLoad(vt, dst, llvm::Align(4), live, zero), m), dst, llvm::Align(4),
                          live);
      return Carried{};
    });
    return;
  }
  llvm::IRBuilder<> eb(&k.fn->getEntryBlock(), k.fn->getEntryBlock().begin());
  Value* tail = eb.CreateAlloca(vt, nullptr, "tail");
  Value* tail_mask = eb.CreateAlloca(vt, nullptr, "tail.mask");
  // n floats from `from` to `to`, one at a time.
  auto copy = [&](Value* from, Value* to, Value* n) {
    emit_carried_loop(k, n, {}, [&](Value* j, const Carried&) {
      b.CreateStore(b.CreateLoad(f32, b.CreateInBoundsGEP(f32, from, j)), b.CreateInBoundsGEP(f32, to, j));
      return Carried{};
    });
  };
  emit_carried_loop(k, chunks, {}, [&](Value* ch, const Carried&) {
    Value* at = b.CreateMul(ch, k.c64(w));
    Value* left = b.CreateSub(total, at);
    Value* part = b.CreateICmpSLT(left, k.c64(w));
    Value* dst = b.CreateInBoundsGEP(f32, s.c, at);
    Value* mask = s.mask ? b.CreateInBoundsGEP(f32, s.mask, at) : nullptr;
    emit_if_else(
        k, part,
        [&] {
          b.CreateStore(zero, tail);
          copy(dst, tail, left);
          if (mask) {
            b.CreateStore(zero, tail_mask);
            copy(mask, tail_mask, left);
          }
        },
        [] {});
    Value* at_c = b.CreateSelect(part, tail, dst);
    Value* m = mask ? b.CreateAlignedLoad(vt, b.CreateSelect(part, tail_mask, mask), llvm::MaybeAlign(4)) : nullptr;
    b.CreateAlignedStore(activation(b.CreateAlignedLoad(vt, at_c, llvm::MaybeAlign(4)), m), at_c, llvm::MaybeAlign(4));
    emit_if_else(k, part, [&] { copy(tail, dst, left); }, [] {});
    return Carried{};
  });
}

// Rows of op(b) per step when a row of c is one masked vector (p < 16 and no
// power of two, e.g. 10): the fewest rows that fill whole 16-float vectors
// (8 rows of 10 are 5 vectors), so that b is read in whole, unmasked vectors
// (a masked row load of 40 bytes mostly straddles two cache lines) and each
// row is shuffled out of the one or two vectors that hold it. 1 otherwise.
int64_t row_period(const SmallMatmul& s) {
  if (s.pieces.size() != 1 || s.pieces[0].lanes == s.pieces[0].width) return 1;
  int64_t g = 16;
  while (s.p % g) g /= 2;
  return 16 / g;
}

// Row r of a period of op(b) rows (row_period), held in `vecs` (16 floats
// each), as one vector of piece q's width: its p floats in the first lanes.
Value* period_row(llvm::IRBuilder<>& b, const SmallMatmul& s, const std::vector<Value*>& vecs, int64_t r) {
  const int64_t first = r * s.p, lo = first / 16, hi = (first + s.p - 1) / 16;
  std::vector<int> mask;
  for (int64_t l = 0; l < s.pieces[0].width; ++l) mask.push_back(static_cast<int>(l < s.p ? first + l - 16 * lo : 0));
  return b.CreateShuffleVector(vecs[static_cast<size_t>(lo)], vecs[static_cast<size_t>(hi)], mask);
}

// Accumulators of rows [i0, i0 + n) of c, [(g * n + r) * pieces + q], over
// `blocks` k blocks at once (KILN_GEMM_K_BLOCK steps apart): block g's chains
// run from +0 over k = k0 + g * KILN_GEMM_K_BLOCK + kk, kk in [0, len), all
// blocks' steps kk in one loop (independent chains in flight). period > 1
// (row_period; len a multiple of it): each loop step takes that many rows of
// op(b) per block, read as whole vectors, the same chains in the same order.
Carried block_chains(KernelCtx& k, const SmallMatmul& s, const std::vector<Value*>& a_row, Value* i0, int64_t n,
                     Value* k0, Value* len, int64_t blocks, int64_t period) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  std::vector<llvm::Type*> piece_t;
  for (const Piece& q : s.pieces) piece_t.push_back(llvm::FixedVectorType::get(f32, static_cast<unsigned>(q.width)));
  Carried zeros;
  for (int64_t e = 0; e < blocks * n; ++e)
    for (llvm::Type* t : piece_t) zeros.push_back(llvm::Constant::getNullValue(t));
  auto* v16 = llvm::FixedVectorType::get(f32, 16);
  Value* steps = period == 1 ? len : b.CreateUDiv(len, k.c64(period));
  return emit_carried_loop(k, steps, zeros, [&](Value* kk, const Carried& acc) {
    Carried next = acc;
    for (int64_t g = 0; g < blocks; ++g) {
      Value* k_first = b.CreateAdd(b.CreateAdd(k0, k.c64(g * KILN_GEMM_K_BLOCK)), b.CreateMul(kk, k.c64(period)));
      Value* b_first = b.CreateInBoundsGEP(f32, s.b, b.CreateMul(k_first, k.c64(s.p)));
      std::vector<Value*> vecs;  // period > 1: the period's rows of op(b) as whole vectors
      for (int64_t v = 0; period > 1 && v < period * s.p / 16; ++v)
        vecs.push_back(b.CreateAlignedLoad(v16, b.CreateConstInBoundsGEP1_64(f32, b_first, static_cast<uint64_t>(16 * v)),
                                           llvm::MaybeAlign(4)));
      for (int64_t t = 0; t < period; ++t) {  // op(b) row k_first + t, in k order
        Value* at_k = b.CreateAdd(k_first, k.c64(t));
        std::vector<Value*> bv;
        if (period > 1) {
          bv.push_back(period_row(b, s, vecs, t));
        } else {
          for (const Piece& q : s.pieces)
            bv.push_back(load_piece(b, q, b.CreateConstInBoundsGEP1_64(f32, b_first, static_cast<uint64_t>(q.first))));
        }
        Value* a_col = s.ta ? b.CreateInBoundsGEP(f32, s.a, b.CreateAdd(b.CreateMul(at_k, s.lda), i0)) : nullptr;
        for (int64_t r = 0; r < n; ++r) {
          Value* at = s.ta ? b.CreateConstInBoundsGEP1_64(f32, a_col, static_cast<uint64_t>(r))
                           : b.CreateInBoundsGEP(f32, a_row[static_cast<size_t>(r)], at_k);
          Value* a = b.CreateLoad(f32, at);
          for (size_t q = 0; q < s.pieces.size(); ++q) {
            llvm::Function* fma = llvm::Intrinsic::getDeclaration(&k.m, llvm::Intrinsic::fma, {piece_t[q]});
            Value* av = b.CreateVectorSplat(static_cast<unsigned>(s.pieces[q].width), a);
            const size_t e = static_cast<size_t>(g * n + r) * s.pieces.size() + q;
            next[e] = b.CreateCall(fma, {av, bv[q], next[e]});
          }
        }
      }
    }
    return next;
  });
}

// The most bytes of block sums sum_group_blocks keeps on the stack.
constexpr int64_t kMaxBlockSumBytes = int64_t{1} << 16;

// Whether sum_group_blocks takes `blocks` blocks of n rows of c: a stored
// [m, K] with K static (one block sum per accumulator fits the stack).
bool blocks_on_stack(const SmallMatmul& s, int64_t n, int64_t blocks) {
  const int64_t slots = blocks * n * static_cast<int64_t>(s.pieces.size());  // of 16 floats each
  return !s.ta && llvm::isa<llvm::ConstantInt>(s.lda) && slots * 64 <= kMaxBlockSumBytes;
}

// sum + the first groups * group blocks of rows [0, n) of c whose op(a) rows
// start at a0 (blocks_on_stack): each group of `group` blocks (block_chains)
// stores its blocks' chains on the stack, the groups split over the thread
// pool when b is large (emit_parallel_for: b streams from two cores' caches
// at once), then the block sums are added to sum in block order. The chains
// and their order are the serial ones: the bits do not depend on the split.
Carried sum_group_blocks(KernelCtx& k, const SmallMatmul& s, Value* a0, int64_t n, int64_t groups, int64_t group,
                         int64_t period, Carried sum) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  const int64_t bk = KILN_GEMM_K_BLOCK, per = n * static_cast<int64_t>(s.pieces.size());
  std::vector<llvm::Type*> slot_t;  // accumulator e's vector type (a slot of 16 floats each)
  for (int64_t r = 0; r < n; ++r)
    for (const Piece& q : s.pieces) slot_t.push_back(llvm::FixedVectorType::get(f32, static_cast<unsigned>(q.width)));
  llvm::IRBuilder<> eb(&k.fn->getEntryBlock(), k.fn->getEntryBlock().begin());
  Value* sums =
      eb.CreateAlloca(llvm::ArrayType::get(f32, static_cast<uint64_t>(groups * group * per * 16)), nullptr, "block.sums");
  // Slot e of block blk (a float offset in units of 16).
  auto slot = [&](llvm::IRBuilder<>& ib, Value* base, Value* blk, size_t e) {
    Value* at = ib.CreateAdd(ib.CreateMul(blk, ib.getInt64(static_cast<uint64_t>(per))), ib.getInt64(e));
    return ib.CreateInBoundsGEP(f32, base, ib.CreateMul(at, ib.getInt64(16)));
  };
  KernelCtx pk = k;  // what the groups read (a's rows, b) and write (the block sums)
  pk.in = {a0, s.b};
  pk.out = {};
  pk.scratch = {sums};
  pk.shared_in = -1;
  emit_parallel_for(pk, k.c64(groups), k.c64(group * bk * s.p * 4), [&](KernelCtx& ck, Value* lo, Value* hi) {
    SmallMatmul cs = s;
    cs.b = ck.in[1];
    std::vector<Value*> rows;
    for (int64_t r = 0; r < n; ++r)
      rows.push_back(ck.b.CreateInBoundsGEP(f32, ck.in[0], ck.b.CreateMul(ck.c64(r), cs.lda)));
    emit_for(ck, lo, hi, [&](Value* gi) {
      Carried chains = block_chains(ck, cs, rows, ck.c64(0), n, ck.b.CreateMul(gi, ck.c64(group * bk)), ck.c64(bk),
                                    group, period);
      for (int64_t g = 0; g < group; ++g)
        for (size_t e = 0; e < static_cast<size_t>(per); ++e)
          ck.b.CreateAlignedStore(chains[static_cast<size_t>(g * per) + e],
                                  slot(ck.b, ck.scratch[0], ck.b.CreateAdd(ck.b.CreateMul(gi, ck.c64(group)), ck.c64(g)), e),
                                  llvm::MaybeAlign(4));
    });
  });
  return emit_carried_loop(k, k.c64(groups * group), sum, [&](Value* blk, const Carried& sum_in) {
    Carried out = sum_in;
    for (size_t e = 0; e < out.size(); ++e)
      out[e] = b.CreateFAdd(out[e], b.CreateAlignedLoad(slot_t[e], slot(b, sums, blk, e), llvm::MaybeAlign(4)));
    return out;
  });
}

// Rows [i0, i0 + n) of c as runtime/gemm.h sums them: one chain per
// KILN_GEMM_K_BLOCK steps of k, the blocks' results added in order (a k of at
// most one block, known at compile time: one chain, no sum). With few
// accumulators per block (a row of c or two, the head of a model at batch 1),
// several blocks run at once so that enough chains are in flight; the rest,
// and the short last block, one at a time. Then the row epilogue and the stores.
void emit_rows(KernelCtx& k, const SmallMatmul& s, Value* i0, int64_t n) {
  llvm::IRBuilder<>& b = k.b;
  llvm::Type* f32 = b.getFloatTy();
  const int64_t bk = KILN_GEMM_K_BLOCK;
  // op(a)[i0 + r, kk] is at a_row[r] + kk (a stored [m, K]) or a + kk * lda + i0 + r (a^T).
  std::vector<Value*> a_row;
  if (!s.ta)
    for (int64_t r = 0; r < n; ++r)
      a_row.push_back(b.CreateInBoundsGEP(f32, s.a, b.CreateMul(b.CreateAdd(i0, k.c64(r)), s.lda)));
  const auto* k_static = llvm::dyn_cast<llvm::ConstantInt>(s.k);
  Carried acc;
  if (k_static && k_static->getSExtValue() <= bk) {
    acc = block_chains(k, s, a_row, i0, n, k.c64(0), s.k, 1, 1);
  } else {
    const size_t per = static_cast<size_t>(n) * s.pieces.size();  // accumulators per block
    auto add_block = [&](Carried sum, const Carried& chains, int64_t g) {  // sum += block g's chains
      for (size_t e = 0; e < per; ++e) sum[e] = b.CreateFAdd(sum[e], chains[static_cast<size_t>(g) * per + e]);
      return sum;
    };
    Carried sum;  // from -0: -0 + x is x for every x, so the first block's bits
    for (int64_t r = 0; r < n; ++r)
      for (const Piece& q : s.pieces)
        sum.push_back(llvm::ConstantFP::getNegativeZero(llvm::FixedVectorType::get(f32, static_cast<unsigned>(q.width))));
    // Blocks at once when a block has few accumulators: 8 chains in flight (2
    // FMA ports x 4 cycles); 6 when rows of b come in periods, whose loaded
    // vectors take registers too (measured on the shared_input head: 6 blocks
    // 23.6 us, 8 blocks 25.3 us, 4 blocks 26.3 us).
    const int64_t period = row_period(s);
    const int64_t group = std::max<int64_t>(1, (period > 1 ? 6 : 8) / static_cast<int64_t>(per));
    Value* first_rest = k.c64(0);  // the first block run alone
    const int64_t groups = k_static ? k_static->getSExtValue() / (group * bk) : -1;  // -1: known at run time
    if (group == 1 || groups == 0) {
      // every block alone
    } else if (groups > 0 && blocks_on_stack(s, n, groups * group)) {
      sum = sum_group_blocks(k, s, a_row[0], n, groups, group, period, sum);
      // The whole blocks left (fewer than a group) at once too, on this thread.
      const int64_t whole = k_static->getSExtValue() / bk, left = whole - groups * group;
      if (left > 0) {
        Carried chains = block_chains(k, s, a_row, i0, n, k.c64(groups * group * bk), k.c64(bk), left, period);
        for (int64_t g = 0; g < left; ++g) sum = add_block(sum, chains, g);
      }
      first_rest = k.c64(whole);
    } else {
      Value* count = b.CreateUDiv(s.k, k.c64(group * bk));
      sum = emit_carried_loop(k, count, sum, [&](Value* gi, const Carried& sum_in) {
        Carried chains = block_chains(k, s, a_row, i0, n, b.CreateMul(gi, k.c64(group * bk)), k.c64(bk), group, period);
        Carried out = sum_in;
        for (int64_t g = 0; g < group; ++g) out = add_block(out, chains, g);
        return out;
      });
      first_rest = b.CreateMul(count, k.c64(group));
    }
    // The blocks left (k = 0: one empty block, so that c is +0 as the runtime GEMM's).
    Value* blocks = b.CreateUDiv(b.CreateAdd(s.k, k.c64(bk - 1)), k.c64(bk));
    Value* rest = b.CreateSelect(b.CreateICmpEQ(s.k, k.c64(0)), k.c64(1), b.CreateSub(blocks, first_rest));
    acc = emit_carried_loop(k, rest, sum, [&](Value* t, const Carried& sum_in) {
      Value* k0 = b.CreateMul(b.CreateAdd(first_rest, t), k.c64(bk));
      Value* left = b.CreateSub(s.k, k0);
      Value* len = b.CreateSelect(b.CreateICmpSLT(left, k.c64(bk)), left, k.c64(bk));
      return add_block(sum_in, block_chains(k, s, a_row, i0, n, k0, len, 1, 1), 0);
    });
  }
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
  s.pieces = row_pieces(k, p.c);
  std::tie(s.bias, s.mask) = k.epilogue_buffers();
  if (k.epilogue) s.act = k.epilogue->act;
  // Accumulator vectors per block: 24 of AVX-512's 32 registers, 12 of AVX2's
  // 16 (the rest hold b's pieces and a's broadcast; more spilled them).
  const int64_t max_acc = k.cheap_masks() ? 24 : 12;
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
