// runtime/math_f32.cpp in LLVM IR (see codegen/emit_math.h).
#include "codegen/emit_math.h"

#include <iterator>

#include "runtime/math_f32.h"

namespace kiln::codegen {

namespace mf = runtime::mathf;
using llvm::Value;

namespace {

Value* fconst(Value* like, float v) { return llvm::ConstantFP::get(like->getType(), v); }

// Integer type with x's shape (i32 or <n x i32>).
llvm::Type* int_like(llvm::IRBuilder<>& b, Value* x) {
  if (auto* vt = llvm::dyn_cast<llvm::VectorType>(x->getType()))
    return llvm::VectorType::get(b.getInt32Ty(), vt->getElementCount());
  return b.getInt32Ty();
}

// 2^k for integral k in [-127, 128] (i32 lanes), from its exponent bits.
Value* pow2(llvm::IRBuilder<>& b, Value* k, llvm::Type* float_ty) {
  Value* bits = b.CreateShl(b.CreateAdd(k, llvm::ConstantInt::get(k->getType(), 127)), 23);
  return b.CreateBitCast(bits, float_ty);
}

// p = c[0]; p = p * r + c[i] for the rest (Horner, each op rounded: log's).
template <size_t N>
Value* horner(llvm::IRBuilder<>& b, Value* r, const float (&c)[N]) {
  Value* p = fconst(r, c[0]);
  for (size_t i = 1; i < N; ++i) p = b.CreateFAdd(b.CreateFMul(p, r), fconst(r, c[i]));
  return p;
}

Value* fma(llvm::IRBuilder<>& b, Value* x, Value* y, Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {x, y, z});
}

// runtime/math_f32.cpp's reduce: v = kf ln2 + r, q = e^r - 1.
struct Reduced {
  Value *kf, *q;
};
Reduced reduce(llvm::IRBuilder<>& b, Value* v) {
  Value* kf = b.CreateFSub(fma(b, v, fconst(v, mf::kLog2e), fconst(v, mf::kRound)), fconst(v, mf::kRound));
  Value* r = fma(b, kf, fconst(v, -mf::kLn2Lo), fma(b, kf, fconst(v, -mf::kLn2Hi), v));
  Value* p = fconst(v, mf::kExpPoly[0]);
  for (size_t i = 1; i < std::size(mf::kExpPoly); ++i) p = fma(b, p, r, fconst(v, mf::kExpPoly[i]));
  return {kf, fma(b, p, b.CreateFMul(r, r), r)};
}

// x itself where x is NaN (fptosi of NaN is poison), else y.
Value* nan_or(llvm::IRBuilder<>& b, Value* x, Value* y) { return b.CreateSelect(b.CreateFCmpUNO(x, x), x, y); }

}  // namespace

Value* emit_exp_f32(llvm::IRBuilder<>& b, Value* x) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  Value* v = b.CreateSelect(b.CreateFCmpOLT(x, fconst(x, mf::kExpMin)), fconst(x, mf::kExpMin), x);
  v = b.CreateSelect(b.CreateFCmpOGT(v, fconst(x, mf::kExpMax)), fconst(x, mf::kExpMax), v);
  Reduced red = reduce(b, v);
  Value* e = b.CreateFAdd(red.q, fconst(x, 1.0f));
  Value* k = b.CreateFPToSI(red.kf, int_like(b, x));
  Value* k1 = b.CreateAShr(k, 1);
  Value* y = b.CreateFMul(b.CreateFMul(e, pow2(b, k1, x->getType())), pow2(b, b.CreateSub(k, k1), x->getType()));
  return nan_or(b, x, y);
}

Value* emit_log_f32(llvm::IRBuilder<>& b, Value* x) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  llvm::Type* ft = x->getType();
  llvm::Type* it = int_like(b, x);
  auto ic = [&](uint32_t v) { return llvm::ConstantInt::get(it, v); };
  Value* sub = b.CreateFCmpOLT(x, fconst(x, mf::kMinNormal));
  Value* bits = b.CreateBitCast(b.CreateSelect(sub, b.CreateFMul(x, fconst(x, mf::kSubnormalScale)), x), it);
  Value* e = b.CreateSub(b.CreateLShr(bits, 23), b.CreateSelect(sub, ic(126 + mf::kSubnormalShift), ic(126)));
  Value* m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ic(0x007fffffu)), ic(0x3f000000u)), ft);
  Value* low = b.CreateFCmpOLT(m, fconst(x, mf::kSqrtHalf));
  Value* one = fconst(x, 1.0f);
  Value* f = b.CreateSelect(low, b.CreateFSub(b.CreateFAdd(m, m), one), b.CreateFSub(m, one));
  Value* ef = b.CreateSIToFP(b.CreateSub(e, b.CreateZExt(low, it)), ft);
  Value* z = b.CreateFMul(f, f);
  Value* p = horner(b, f, mf::kLogPoly);
  Value* y = b.CreateFSub(b.CreateFAdd(b.CreateFMul(b.CreateFMul(p, f), z), b.CreateFMul(ef, fconst(x, mf::kLn2Lo))),
                          b.CreateFMul(fconst(x, 0.5f), z));
  Value* r = b.CreateFAdd(b.CreateFAdd(f, y), b.CreateFMul(ef, fconst(x, mf::kLn2Hi)));
  r = b.CreateSelect(b.CreateFCmpOEQ(x, llvm::ConstantFP::getInfinity(ft)), x, r);
  r = b.CreateSelect(b.CreateFCmpOEQ(x, fconst(x, 0.0f)), llvm::ConstantFP::getInfinity(ft, true), r);
  r = b.CreateSelect(b.CreateFCmpOLT(x, fconst(x, 0.0f)), llvm::ConstantFP::getQNaN(ft), r);
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, r);
}

Value* emit_tanh_f32(llvm::IRBuilder<>& b, Value* x) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  Value* u = b.CreateFAdd(a, a);
  u = b.CreateSelect(b.CreateFCmpOGT(u, fconst(x, mf::kTanhClamp)), fconst(x, mf::kTanhClamp), u);
  Reduced red = reduce(b, u);
  Value* s = pow2(b, b.CreateFPToSI(red.kf, int_like(b, x)), x->getType());
  Value* em1 = fma(b, s, red.q, b.CreateFSub(s, fconst(x, 1.0f)));
  Value* t = b.CreateFDiv(em1, b.CreateFAdd(em1, fconst(x, 2.0f)));
  return nan_or(b, x, b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, t, x));
}

Value* emit_sigmoid_f32(llvm::IRBuilder<>& b, Value* x) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  Value* v = b.CreateFNeg(x);
  v = b.CreateSelect(b.CreateFCmpOLT(v, fconst(x, mf::kSigmoidMin)), fconst(x, mf::kSigmoidMin), v);
  v = b.CreateSelect(b.CreateFCmpOGT(v, fconst(x, mf::kExpMax)), fconst(x, mf::kExpMax), v);
  Reduced red = reduce(b, v);
  Value* one = fconst(x, 1.0f);
  Value* e = b.CreateFMul(b.CreateFAdd(red.q, one), pow2(b, b.CreateFPToSI(red.kf, int_like(b, x)), x->getType()));
  return nan_or(b, x, b.CreateFDiv(one, b.CreateFAdd(one, e)));
}

bool is_exp_log_sequence(ir::OpKind op) {
  return op == ir::OpKind::Exp || op == ir::OpKind::Log || op == ir::OpKind::Tanh || op == ir::OpKind::Sigmoid;
}

}  // namespace kiln::codegen
