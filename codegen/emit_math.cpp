// runtime/math_f32.cpp in LLVM IR (see codegen/emit_math.h).
#include "codegen/emit_math.h"

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

// 2^k for integral k in [-126, 127] (i32 lanes), from its exponent bits.
Value* pow2(llvm::IRBuilder<>& b, Value* k, llvm::Type* float_ty) {
  Value* bits = b.CreateShl(b.CreateAdd(k, llvm::ConstantInt::get(k->getType(), 127)), 23);
  return b.CreateBitCast(bits, float_ty);
}

// p = c[0]; p = p * r + c[i] for the rest (Horner, each op rounded).
template <size_t N>
Value* horner(llvm::IRBuilder<>& b, Value* r, const float (&c)[N]) {
  Value* p = fconst(r, c[0]);
  for (size_t i = 1; i < N; ++i) p = b.CreateFAdd(b.CreateFMul(p, r), fconst(r, c[i]));
  return p;
}

}  // namespace

Value* emit_exp_f32(llvm::IRBuilder<>& b, Value* x) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  Value* v = b.CreateSelect(b.CreateFCmpOLT(x, fconst(x, mf::kExpMin)), fconst(x, mf::kExpMin), x);
  v = b.CreateSelect(b.CreateFCmpOGT(v, fconst(x, mf::kExpMax)), fconst(x, mf::kExpMax), v);
  Value* kf = b.CreateFSub(b.CreateFAdd(b.CreateFMul(v, fconst(x, mf::kLog2e)), fconst(x, mf::kRound)),
                           fconst(x, mf::kRound));
  Value* r = b.CreateFSub(b.CreateFSub(v, b.CreateFMul(kf, fconst(x, mf::kLn2Hi))),
                          b.CreateFMul(kf, fconst(x, mf::kLn2Lo)));
  Value* p = horner(b, r, mf::kExpPoly);
  Value* e = b.CreateFAdd(b.CreateFAdd(b.CreateFMul(p, b.CreateFMul(r, r)), r), fconst(x, 1.0f));
  Value* k = b.CreateFPToSI(kf, int_like(b, x));
  Value* k1 = b.CreateAShr(k, 1);
  Value* y = b.CreateFMul(b.CreateFMul(e, pow2(b, k1, x->getType())), pow2(b, b.CreateSub(k, k1), x->getType()));
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, y);
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
  Value* e = emit_exp_f32(b, b.CreateFAdd(a, a));
  Value* big = b.CreateFSub(fconst(x, 1.0f), b.CreateFDiv(fconst(x, 2.0f), b.CreateFAdd(e, fconst(x, 1.0f))));
  Value* z = b.CreateFMul(a, a);
  Value* small = b.CreateFAdd(b.CreateFMul(b.CreateFMul(horner(b, z, mf::kTanhPoly), z), a), a);
  Value* t = b.CreateSelect(b.CreateFCmpOGE(a, fconst(x, mf::kTanhSmall)), big, small);
  return b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, t, x);
}

Value* emit_sigmoid_f32(llvm::IRBuilder<>& b, Value* x) {
  llvm::IRBuilder<>::FastMathFlagGuard guard(b);
  b.clearFastMathFlags();
  Value* one = fconst(x, 1.0f);
  return b.CreateFDiv(one, b.CreateFAdd(one, emit_exp_f32(b, b.CreateFNeg(x))));
}

}  // namespace kiln::codegen
