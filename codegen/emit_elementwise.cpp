// Loop helpers, the scalar element generators of the elementwise ops, and the
// source ops (constant, iota, rng_uniform).
//
// No fast-math flags here: every op is a single rounding as in the
// interpreter (runtime/kernels_elementwise.cpp), so results are bit-identical.
// pow/rsqrt are evaluated in double and rounded once, calling the same C
// library functions; exp/log/tanh/sigmoid are the fixed float sequences of
// runtime/math_f32.h (codegen/emit_math.cpp), which vectorize.
#include <cmath>
#include <limits>
#include <optional>

#include "codegen/emit.h"
#include "codegen/emit_math.h"
#include "codegen/region.h"
#include "ir/error.h"
#include "runtime/rng.h"

namespace kiln::codegen {

using llvm::Value;

llvm::AllocaInst* KernelCtx::local(llvm::Type* t, const char* name) {
  llvm::IRBuilder<> eb(&fn->getEntryBlock(), fn->getEntryBlock().begin());
  return eb.CreateAlloca(t, nullptr, name);
}

llvm::FunctionCallee KernelCtx::callee(const char* name, llvm::FunctionType* ty) {
  return m.getOrInsertFunction(name, ty);
}

llvm::Type* elem_type(llvm::LLVMContext& c, ir::DType t) {
  switch (t) {
    case ir::DType::f32: return llvm::Type::getFloatTy(c);
    case ir::DType::i32: return llvm::Type::getInt32Ty(c);
    case ir::DType::i1:
    case ir::DType::u8: return llvm::Type::getInt8Ty(c);
  }
  KILN_UNREACHABLE("bad dtype");
}

int64_t norm_axis(int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_ASSERT(a >= 0 && a < rank, "codegen: axis out of range");
  return a;
}

std::vector<std::pair<int64_t, int64_t>> vector_pieces(int64_t w, int64_t widest) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t j = 0, piece = widest; j < w; j += piece) {
    while (piece > w - j) piece /= 2;
    out.emplace_back(j, piece);
  }
  return out;
}

int vector_width_bits(const std::string& features) {
  return features.find("+avx512f") != std::string::npos ? 512 : 256;
}

namespace {

// The loop whose latch is `latch` gets the loop metadata `props` (each a
// property's name and values).
void set_loop_properties(llvm::Instruction* latch, std::vector<llvm::Metadata*> props) {
  props.insert(props.begin(), nullptr);
  llvm::MDNode* loop = llvm::MDNode::getDistinct(latch->getContext(), props);
  loop->replaceOperandWith(0, loop);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loop);
}

llvm::Metadata* loop_property(KernelCtx& k, const char* name, int value) {
  llvm::LLVMContext& c = k.ctx();
  return llvm::MDNode::get(c, {llvm::MDString::get(c, name), llvm::ConstantAsMetadata::get(k.b.getInt32(value))});
}

}  // namespace

llvm::BranchInst* emit_for(KernelCtx& k, Value* lo, Value* hi, const std::function<void(Value*)>& body) {
  llvm::IRBuilder<>& b = k.b;
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* head = llvm::BasicBlock::Create(k.ctx(), "loop", k.fn);
  llvm::BasicBlock* inner = llvm::BasicBlock::Create(k.ctx(), "body", k.fn);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(k.ctx(), "exit", k.fn);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  llvm::PHINode* i = b.CreatePHI(k.i64(), 2, "i");
  i->addIncoming(lo, pre);
  b.CreateCondBr(b.CreateICmpSLT(i, hi), inner, exit);
  b.SetInsertPoint(inner);
  body(i);
  i->addIncoming(b.CreateAdd(i, k.c64(1), "i.next", true, true), b.GetInsertBlock());
  llvm::BranchInst* latch = b.CreateBr(head);
  b.SetInsertPoint(exit);
  return latch;
}

void emit_independent_for(KernelCtx& k, Value* lo, Value* hi, const std::function<void(Value*)>& body) {
  const size_t before = k.fn->size();
  llvm::BranchInst* latch = emit_for(k, lo, hi, body);
  // emit_for appended head, body, exit, then whatever blocks body() made.
  auto block = std::next(k.fn->begin(), static_cast<std::ptrdiff_t>(before));
  llvm::BasicBlock* exit = &*std::next(block, 2);
  llvm::LLVMContext& c = k.ctx();
  llvm::MDNode* group = llvm::MDNode::getDistinct(c, {});
  for (auto it = std::next(block); it != k.fn->end(); ++it) {
    if (&*it == exit) continue;
    for (llvm::Instruction& i : *it)
      if (i.mayReadOrWriteMemory()) i.setMetadata(llvm::LLVMContext::MD_access_group, group);
  }
  set_loop_properties(latch, {llvm::MDNode::get(c, {llvm::MDString::get(c, "llvm.loop.parallel_accesses"), group})});
}

// Loop metadata for loops that already are vector code: LLVM neither unrolls
// nor vectorizes them again (unrolling the short static k loops multiplied
// the code, and the compile time, several times over for no speed).
void mark_vector_loop(KernelCtx& k, llvm::Instruction* latch) {
  llvm::LLVMContext& c = k.ctx();
  set_loop_properties(latch, {llvm::MDNode::get(c, llvm::MDString::get(c, "llvm.loop.unroll.disable")),
                              loop_property(k, "llvm.loop.vectorize.width", 1)});
}

void mark_interleaved(KernelCtx& k, llvm::Instruction* latch, int count) {
  set_loop_properties(latch, {loop_property(k, "llvm.loop.interleave.count", count)});
}

// for (i = 0; i < count; ++i) v = step(i, v), v starting at `init`, as one
// loop (mark_vector_loop) whose carried values are phis; returns v after it.
Carried emit_carried_loop(KernelCtx& k, Value* count, const Carried& init,
                          const std::function<Carried(Value* i, const Carried& v)>& step) {
  llvm::IRBuilder<>& b = k.b;
  llvm::BasicBlock* pre = b.GetInsertBlock();
  llvm::BasicBlock* head = llvm::BasicBlock::Create(k.ctx(), "chain", k.fn);
  llvm::BasicBlock* body = llvm::BasicBlock::Create(k.ctx(), "chain.body", k.fn);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(k.ctx(), "chain.exit", k.fn);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  llvm::PHINode* i = b.CreatePHI(k.i64(), 2, "i");
  i->addIncoming(k.c64(0), pre);
  std::vector<llvm::PHINode*> phis;
  Carried v;
  for (Value* x : init) {
    phis.push_back(b.CreatePHI(x->getType(), 2));
    phis.back()->addIncoming(x, pre);
    v.push_back(phis.back());
  }
  b.CreateCondBr(b.CreateICmpSLT(i, count), body, exit);
  b.SetInsertPoint(body);
  Carried next = step(i, v);
  llvm::BasicBlock* latch = b.GetInsertBlock();
  i->addIncoming(b.CreateAdd(i, k.c64(1), "i.next", true, true), latch);
  for (size_t q = 0; q < phis.size(); ++q) phis[q]->addIncoming(next[q], latch);
  mark_vector_loop(k, b.CreateBr(head));
  b.SetInsertPoint(exit);
  return v;
}

void emit_if_else(KernelCtx& k, Value* cond, const std::function<void()>& then, const std::function<void()>& other) {
  llvm::IRBuilder<>& b = k.b;
  llvm::BasicBlock* yes = llvm::BasicBlock::Create(k.ctx(), "then", k.fn);
  llvm::BasicBlock* no = llvm::BasicBlock::Create(k.ctx(), "else", k.fn);
  llvm::BasicBlock* join = llvm::BasicBlock::Create(k.ctx(), "endif", k.fn);
  b.CreateCondBr(cond, yes, no);
  b.SetInsertPoint(yes);
  then();
  b.CreateBr(join);
  b.SetInsertPoint(no);
  other();
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

void emit_nest(KernelCtx& k, const std::vector<Sym>& dims_in, const std::vector<Access>& acc, const NestBody& body,
               bool collapse) {
  std::vector<Sym> dims = dims_in;
  std::vector<std::vector<Sym>> st;
  for (const Access& a : acc) {
    KILN_ASSERT(a.strides.size() == dims.size(), "emit_nest: strides do not match the dims");
    st.push_back(a.strides);
  }
  if (collapse) {
    // Drop static size-1 dims, then merge dim d into d+1 when every access
    // steps over d exactly as over the whole of d+1.
    for (size_t d = dims.size(); d-- > 0;)
      if (!dims[d].n && dims[d].c == 1) {
        dims.erase(dims.begin() + static_cast<std::ptrdiff_t>(d));
        for (auto& s : st) s.erase(s.begin() + static_cast<std::ptrdiff_t>(d));
      }
    // s * dim, or nothing when that would be N*N; zero strides stay zero.
    auto times = [](Sym s, Sym d) -> std::optional<Sym> {
      if (s.c == 0) return Sym{0, false};
      if (s.n && d.n) return std::nullopt;
      return Sym{s.c * d.c, s.n || d.n};
    };
    for (size_t d = dims.size(); d-- > 1;) {
      size_t o = d - 1;
      if (dims[o].n && dims[d].n) continue;
      bool ok = true;
      for (auto& s : st) {
        std::optional<Sym> whole = times(s[d], dims[d]);
        Sym outer = s[o].c == 0 ? Sym{0, false} : s[o];
        if (!whole || !(*whole == outer)) ok = false;
      }
      if (!ok) continue;
      dims[o] = sym_mul(dims[o], dims[d]);
      dims.erase(dims.begin() + static_cast<std::ptrdiff_t>(d));
      for (auto& s : st) {
        s[o] = s[d];
        s.erase(s.begin() + static_cast<std::ptrdiff_t>(d));
      }
    }
  }
  std::vector<Value*> idx(dims.size());
  std::function<void(size_t, std::vector<Value*>)> level = [&](size_t l, std::vector<Value*> off) {
    if (l == dims.size()) {
      std::vector<Value*> ptrs;
      for (size_t a = 0; a < acc.size(); ++a) ptrs.push_back(k.b.CreateInBoundsGEP(acc[a].elem, acc[a].base, off[a]));
      body(idx, ptrs);
      return;
    }
    emit_for(k, k.c64(0), k.sym(dims[l]), [&](Value* i) {
      idx[l] = i;
      std::vector<Value*> o2 = off;
      for (size_t a = 0; a < acc.size(); ++a)
        if (st[a][l].c != 0) o2[a] = k.b.CreateAdd(off[a], k.b.CreateMul(i, k.sym(st[a][l])));
      level(l + 1, o2);
    });
  };
  std::vector<Value*> off0;
  for (const Access& a : acc) off0.push_back(k.sym(a.offset));
  level(0, off0);
}

void emit_fill(KernelCtx& k, Value* buf, llvm::Type* elem, Value* count, Value* value) {
  emit_for(k, k.c64(0), count, [&](Value* i) { k.b.CreateStore(value, k.b.CreateInBoundsGEP(elem, buf, i)); });
}

void emit_memcpy(KernelCtx& k, Value* dst, Value* src, Value* bytes) {
  k.b.CreateMemCpy(dst, llvm::MaybeAlign(4), src, llvm::MaybeAlign(4), bytes);
}

namespace {

Value* libm(KernelCtx& k, const char* name, std::vector<Value*> args) {
  llvm::Type* d = k.b.getDoubleTy();
  std::vector<llvm::Type*> tys(args.size(), d);
  return k.b.CreateCall(k.callee(name, llvm::FunctionType::get(d, tys, false)), args);
}

// f(x) evaluated in double and rounded once to f32.
template <class F>
Value* in_double(KernelCtx& k, Value* x, F f) {
  return k.b.CreateFPTrunc(f(k.b.CreateFPExt(x, k.b.getDoubleTy())), k.b.getFloatTy());
}

Value* zext8(KernelCtx& k, Value* i1) { return k.b.CreateZExt(i1, k.b.getInt8Ty()); }

Value* compare(KernelCtx& k, const std::string& dir, Value* a, Value* c, ir::DType t) {
  llvm::IRBuilder<>& b = k.b;
  using P = llvm::CmpInst::Predicate;
  struct Preds {
    P f, s, u;
  };
  Preds p = dir == "eq"   ? Preds{P::FCMP_OEQ, P::ICMP_EQ, P::ICMP_EQ}
            : dir == "ne" ? Preds{P::FCMP_UNE, P::ICMP_NE, P::ICMP_NE}
            : dir == "lt" ? Preds{P::FCMP_OLT, P::ICMP_SLT, P::ICMP_ULT}
            : dir == "le" ? Preds{P::FCMP_OLE, P::ICMP_SLE, P::ICMP_ULE}
            : dir == "gt" ? Preds{P::FCMP_OGT, P::ICMP_SGT, P::ICMP_UGT}
            : dir == "ge" ? Preds{P::FCMP_OGE, P::ICMP_SGE, P::ICMP_UGE}
                          : throw Error("compare: unknown direction \"" + dir + "\"");
  switch (t) {
    case ir::DType::f32: return zext8(k, b.CreateFCmp(p.f, a, c));
    case ir::DType::i32: return zext8(k, b.CreateICmp(p.s, a, c));
    case ir::DType::i1:
    case ir::DType::u8: return zext8(k, b.CreateICmp(p.u, a, c));
  }
  KILN_UNREACHABLE("bad dtype");
}

Value* convert(KernelCtx& k, Value* x, ir::DType from, ir::DType to) {
  llvm::IRBuilder<>& b = k.b;
  if (to == ir::DType::i1) {
    if (from == ir::DType::f32) return zext8(k, b.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0.0)));
    return zext8(k, b.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0)));
  }
  if (from == to) return x;
  if (to == ir::DType::f32)
    return from == ir::DType::i32 ? b.CreateSIToFP(x, b.getFloatTy()) : b.CreateUIToFP(x, b.getFloatTy());
  if (from == ir::DType::i1) return b.CreateZExt(x, b.getInt32Ty());
  // f32 -> i32: truncates, saturates, NaN -> 0, exactly llvm.fptosi.sat.
  return b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {b.getInt32Ty(), b.getFloatTy()}, {x});
}

// Signed division that wraps (INT_MIN / -1 = INT_MIN) and flags division by zero.
Value* int_div(KernelCtx& k, Value* a, Value* c) {
  llvm::IRBuilder<>& b = k.b;
  Value* zero = b.CreateICmpEQ(c, b.getInt32(0));
  Value* minus1 = b.CreateICmpEQ(c, b.getInt32(-1));
  Value* safe = b.CreateSelect(b.CreateOr(zero, minus1), b.getInt32(1), c);
  Value* old = b.CreateLoad(b.getInt32Ty(), k.err);
  b.CreateStore(b.CreateOr(old, b.CreateZExt(zero, b.getInt32Ty())), k.err);
  return b.CreateSelect(minus1, b.CreateSub(b.getInt32(0), a), b.CreateSDiv(a, safe));
}

// The dtype an elementwise node computes in (select: its values', not its condition's).
ir::DType operand_dtype(const ir::Node& n) { return n.operands[n.op == ir::OpKind::Select ? 1 : 0]->type.dtype; }

}  // namespace

Value* scalar_op(KernelCtx& k, const ir::Node& n, const std::vector<Value*>& x) {
  llvm::IRBuilder<>& b = k.b;
  const ir::DType t = operand_dtype(n);
  const bool f = t == ir::DType::f32;
  auto fc = [&](double v) { return llvm::ConstantFP::get(b.getFloatTy(), v); };
  auto dc = [&](double v) { return llvm::ConstantFP::get(b.getDoubleTy(), v); };
  auto nan = [&](Value* v) { return b.CreateFCmpUNO(v, v); };
  using ir::OpKind;
  switch (n.op) {
    case OpKind::Neg: return f ? b.CreateFNeg(x[0]) : b.CreateSub(b.getInt32(0), x[0]);
    case OpKind::Abs:
      if (f) return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x[0]);
      return b.CreateSelect(b.CreateICmpSLT(x[0], b.getInt32(0)), b.CreateSub(b.getInt32(0), x[0]), x[0]);
    case OpKind::Sign:
      if (f)  // keeps 0, -0 and NaN
        return b.CreateSelect(b.CreateFCmpOGT(x[0], fc(0)), fc(1),
                              b.CreateSelect(b.CreateFCmpOLT(x[0], fc(0)), fc(-1), x[0]));
      return b.CreateSub(b.CreateZExt(b.CreateICmpSGT(x[0], b.getInt32(0)), b.getInt32Ty()),
                         b.CreateZExt(b.CreateICmpSLT(x[0], b.getInt32(0)), b.getInt32Ty()));
    case OpKind::Exp: return emit_exp_f32(b, x[0]);
    case OpKind::Log: return emit_log_f32(b, x[0]);
    case OpKind::Sqrt: return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x[0]);
    case OpKind::Rsqrt:
      return in_double(k, x[0],
                       [&](Value* d) { return b.CreateFDiv(dc(1), b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, d)); });
    case OpKind::Tanh: return emit_tanh_f32(b, x[0]);
    case OpKind::Sigmoid: return emit_sigmoid_f32(b, x[0]);
    case OpKind::Relu: return b.CreateSelect(b.CreateFCmpOLT(x[0], fc(0)), fc(0), x[0]);  // NaN stays NaN
    case OpKind::Convert: return convert(k, x[0], t, n.attrs.get<ir::DType>("dtype"));
    case OpKind::Add: return f ? b.CreateFAdd(x[0], x[1]) : b.CreateAdd(x[0], x[1]);
    case OpKind::Sub: return f ? b.CreateFSub(x[0], x[1]) : b.CreateSub(x[0], x[1]);
    case OpKind::Mul: return f ? b.CreateFMul(x[0], x[1]) : b.CreateMul(x[0], x[1]);
    case OpKind::Div: return f ? b.CreateFDiv(x[0], x[1]) : int_div(k, x[0], x[1]);
    case OpKind::Max:  // NaN propagates; on ties the rhs, as the interpreter
      if (f) return b.CreateSelect(b.CreateOr(b.CreateFCmpOGT(x[0], x[1]), nan(x[0])), x[0], x[1]);
      return b.CreateSelect(b.CreateICmpSGT(x[0], x[1]), x[0], x[1]);
    case OpKind::Min:
      if (f) return b.CreateSelect(b.CreateOr(b.CreateFCmpOLT(x[0], x[1]), nan(x[0])), x[0], x[1]);
      return b.CreateSelect(b.CreateICmpSLT(x[0], x[1]), x[0], x[1]);
    case OpKind::Pow:
      if (f)
        return b.CreateFPTrunc(
            libm(k, "pow", {b.CreateFPExt(x[0], b.getDoubleTy()), b.CreateFPExt(x[1], b.getDoubleTy())}),
            b.getFloatTy());
      return b.CreateCall(k.callee("kiln_rt_ipow_i32",
                                   llvm::FunctionType::get(b.getInt32Ty(), {b.getInt32Ty(), b.getInt32Ty()}, false)),
                          {x[0], x[1]});
    case OpKind::Compare: return compare(k, n.attrs.s("dir"), x[0], x[1], t);
    case OpKind::Select: return b.CreateSelect(b.CreateICmpNE(x[0], b.getInt8(0)), x[1], x[2]);
    case OpKind::Constant:
    case OpKind::Iota:
    case OpKind::RngUniform:
    case OpKind::Broadcast:
    case OpKind::Reshape:
    case OpKind::Transpose:
    case OpKind::Slice:
    case OpKind::Concat:
    case OpKind::Pad:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean:
    case OpKind::ArgMax:
    case OpKind::Matmul:
    case OpKind::Conv2D:
    case OpKind::Conv2DInputGrad:
    case OpKind::Conv2DFilterGrad:
    case OpKind::MaxPool2D:
    case OpKind::MaxPool2DGrad:
    case OpKind::MaxPool2DWinners:
    case OpKind::MaxPool2DScatter:
    case OpKind::Scan:
    case OpKind::Fusion: break;
  }
  KILN_UNREACHABLE(std::string("codegen: ") + std::string(ir::op_name(n.op)) + " is not elementwise");
}

void emit_elementwise(KernelCtx& k) {
  const ir::Node& n = k.node;
  const ir::TensorType& rt = n.results[0]->type;
  std::vector<Access> acc{{k.out[0], elem_type(k.ctx(), rt.dtype), sym_strides(rt)}};
  for (size_t i = 0; i < n.operands.size(); ++i) {
    std::optional<std::vector<Sym>> st = operand_strides(n, i, rt);
    KILN_ASSERT(st, "codegen: " + std::string(ir::op_name(n.op)) + " operand " + std::to_string(i) + " does not fit");
    acc.push_back({k.in[i], elem_type(k.ctx(), n.operands[i]->type.dtype), *st});
  }
  emit_nest(k, sym_dims(rt), acc, [&](const std::vector<Value*>&, const std::vector<Value*>& p) {
    std::vector<Value*> x;
    for (size_t i = 1; i < p.size(); ++i) x.push_back(k.b.CreateLoad(acc[i].elem, p[i]));
    k.b.CreateStore(scalar_op(k, n, x), p[0]);
  });
}

namespace {

// As runtime/kernels_elementwise.cpp: truncates toward zero, saturates, NaN -> 0.
int32_t to_i32(double x) {
  if (std::isnan(x)) return 0;
  if (x >= 2147483647.0) return std::numeric_limits<int32_t>::max();
  if (x <= -2147483648.0) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(x);
}

}  // namespace

llvm::Constant* splat_value(KernelCtx& k, const ir::Node& constant) {
  double v = constant.attrs.f("value");
  switch (constant.results[0]->type.dtype) {
    case ir::DType::f32: return llvm::ConstantFP::get(k.b.getFloatTy(), static_cast<float>(v));
    case ir::DType::i32: return k.b.getInt32(static_cast<uint32_t>(to_i32(v)));
    case ir::DType::i1: return k.b.getInt8(v != 0);
    case ir::DType::u8: return k.b.getInt8(static_cast<uint8_t>(v));
  }
  KILN_UNREACHABLE("bad dtype");
}

void emit_constant(KernelCtx& k) {
  const ir::TensorType& rt = k.node.results[0]->type;
  emit_fill(k, k.out[0], elem_type(k.ctx(), rt.dtype), k.sym({rt.static_elements(), rt.has_batch()}),
            splat_value(k, k.node));
}

void emit_iota(KernelCtx& k) {
  const ir::TensorType& rt = k.node.results[0]->type;
  std::vector<Sym> d = sym_dims(rt);
  size_t ax = static_cast<size_t>(norm_axis(k.node.attrs.i("axis"), rt.rank()));
  std::vector<Sym> dims{sym_product(d, 0, ax), d[ax], sym_product(d, ax + 1, d.size())};
  std::vector<Sym> st{sym_mul(dims[1], dims[2]), dims[2], Sym{1, false}};
  llvm::Type* et = elem_type(k.ctx(), rt.dtype);
  emit_nest(
      k, dims, {{k.out[0], et, st}},
      [&](const std::vector<Value*>& idx, const std::vector<Value*>& p) {
        Value* v = rt.dtype == ir::DType::f32 ? k.b.CreateSIToFP(idx[1], et) : k.b.CreateTrunc(idx[1], et);
        k.b.CreateStore(v, p[0]);
      },
      /*collapse=*/false);
}

void emit_rng_uniform(KernelCtx& k) {
  const ir::Node& n = k.node;
  const ir::TensorType& rt = n.results[0]->type;
  const float low = static_cast<float>(n.attrs.get_or<double>("low", 0.0));
  const float high = static_cast<float>(n.attrs.get_or<double>("high", 1.0));
  const uint64_t key = runtime::splitmix64(static_cast<uint64_t>(n.attrs.i("seed")));
  llvm::IRBuilder<>& b = k.b;
  auto u64 = [&](uint64_t v) { return b.getInt64(v); };
  auto fc = [&](float v) { return llvm::ConstantFP::get(b.getFloatTy(), v); };
  emit_for(k, k.c64(0), k.sym({rt.static_elements(), rt.has_batch()}), [&](Value* i) {
    // bits = splitmix64(key + i); u = (bits >> 40) * 2^-24; r = low + (high - low) * u (no contraction)
    Value* z = b.CreateAdd(b.CreateAdd(u64(key), i), u64(0x9E3779B97F4A7C15ull));
    z = b.CreateMul(b.CreateXor(z, b.CreateLShr(z, 30)), u64(0xBF58476D1CE4E5B9ull));
    z = b.CreateMul(b.CreateXor(z, b.CreateLShr(z, 27)), u64(0x94D049BB133111EBull));
    z = b.CreateXor(z, b.CreateLShr(z, 31));
    Value* u = b.CreateFMul(b.CreateUIToFP(b.CreateLShr(z, 40), b.getFloatTy()), fc(0x1p-24f));
    Value* r = b.CreateFAdd(fc(low), b.CreateFMul(fc(high - low), u));
    r = b.CreateSelect(b.CreateFCmpOGE(r, fc(high)), fc(std::nextafter(high, low)), r);
    r = b.CreateSelect(b.CreateFCmpOLT(r, fc(low)), fc(low), r);
    b.CreateStore(r, b.CreateInBoundsGEP(b.getFloatTy(), k.out[0], i));
  });
}

}  // namespace kiln::codegen
