// Lowering of a whole graph: one graph function that computes buffer
// addresses from the plan and calls one kernel per node; the op dispatch
// (one switch over ir::OpKind); contractions as calls into rt_kernels; scan
// and fusion bodies as graph functions of their own, emitted once and called
// per step (so code size does not grow with the sequence length).
#include <llvm/IR/PassManager.h>
#include <llvm/IR/ValueHandle.h>
#include <llvm/Transforms/IPO/MergeFunctions.h>

#include <cctype>
#include <set>
#include <unordered_map>

#include "codegen/emit.h"
#include "codegen/rt_kernels.h"
#include "codegen/scan_rows.h"
#include "ir/error.h"

namespace kiln::codegen {

using llvm::Value;

namespace {

llvm::Type* ptr_t(llvm::LLVMContext& c) { return llvm::PointerType::get(c, 0); }

std::vector<Sym> dims_of(const ir::Value* v) { return sym_dims(v->type); }

}  // namespace

namespace {

// The epilogue arguments of a runtime contraction call: bias, mask (null
// pointers when absent, read from `in` after the contraction's two operands)
// and the activation.
std::vector<Value*> epilogue_args(KernelCtx& k) {
  Value* null = llvm::ConstantPointerNull::get(llvm::PointerType::get(k.ctx(), 0));
  auto [bias, mask] = k.epilogue_buffers();
  return {bias ? bias : null, mask ? mask : null, k.b.getInt32(k.epilogue ? static_cast<uint32_t>(k.epilogue->act) : 0)};
}

}  // namespace

void emit_matmul(KernelCtx& k) {
  if (!emit_small_matmul(k)) emit_runtime_matmul(k);
}

void emit_runtime_matmul(KernelCtx& k) {
  const ir::TensorType &at = k.node.operands[0]->type, &bt = k.node.operands[1]->type;
  const bool ta = k.node.attrs.b("transpose_a"), tb = k.node.attrs.b("transpose_b");
  std::vector<Sym> ad = sym_dims(at), bd = sym_dims(bt);
  size_t ar = ad.size(), br = bd.size();
  Sym batch{1, false}, a_rows, a_cols = ad[ar - 1];
  if (br == 2) {
    a_rows = ta ? ad[0] : sym_product(ad, 0, ar - 1);  // leading lhs dims fold into M
  } else {
    batch = sym_product(ad, 0, ar - 2);
    a_rows = ad[ar - 2];
  }
  auto i32 = [&](bool v) { return k.b.getInt32(v); };
  llvm::Type* i64 = k.i64();
  llvm::Type* p = ptr_t(k.ctx());
  llvm::Type* i32t = k.b.getInt32Ty();
  auto fn = k.callee("kiln_rt_matmul", llvm::FunctionType::get(
                                         k.b.getVoidTy(), {p, p, p, i64, i64, i64, i32t, i64, i64, i32t, p, p, i32t}, false));
  std::vector<Value*> args{k.in[0], k.in[1], k.out[0], k.sym(batch), k.sym(a_rows), k.sym(a_cols), i32(ta),
                           k.sym(bd[br - 2]), k.sym(bd[br - 1]), i32(tb)};
  for (Value* e : epilogue_args(k)) args.push_back(e);
  k.b.CreateCall(fn, args);
}

void emit_conv(KernelCtx& k) {
  const ir::Node& n = k.node;
  const bool in_grad = n.op == ir::OpKind::Conv2DInputGrad, f_grad = n.op == ir::OpKind::Conv2DFilterGrad;
  const ir::TensorType& x = in_grad ? n.results[0]->type : n.operands[0]->type;
  const ir::TensorType& w = f_grad ? n.results[0]->type : n.operands[1]->type;
  const ir::TensorType& y = n.op == ir::OpKind::Conv2D ? n.results[0]->type : n.operands[f_grad ? 1 : 0]->type;
  const auto& st = n.attrs.ints("strides");
  const auto& pd = n.attrs.ints("padding");
  std::vector<int64_t> dl = n.attrs.get_or<std::vector<int64_t>>("dilations", {1, 1});
  std::vector<uint64_t> geom;
  for (int64_t v : {x.shape[1], x.shape[2], x.shape[3], w.shape[0], w.shape[1], w.shape[3], y.shape[1], y.shape[2],
                    st[0], st[1], pd[0], pd[2], dl[0], dl[1]})
    geom.push_back(static_cast<uint64_t>(v));
  auto constant_array = [&](const std::vector<uint64_t>& v, const char* label) {
    auto* data = llvm::ConstantDataArray::get(k.ctx(), v);
    return new llvm::GlobalVariable(k.m, data->getType(), true, llvm::GlobalValue::PrivateLinkage, data, label);
  };
  llvm::Type* p = ptr_t(k.ctx());
  const ir::Node* pool = k.epilogue ? k.epilogue->pool : nullptr;  // conv2d + max_pool2d: one call
  const char* name = in_grad ? "kiln_rt_conv2d_input_grad"
                     : f_grad ? "kiln_rt_conv2d_filter_grad"
                     : pool   ? "kiln_rt_conv2d_max_pool"
                              : "kiln_rt_conv2d";
  std::vector<Value*> args{k.in[0], k.in[1], k.out[0]};
  std::vector<llvm::Type*> types{p, p, p};
  if (pool) {  // max_pool2d_winners' winners (the second result) or null
    args.push_back(k.epilogue->winners ? k.out[1] : llvm::ConstantPointerNull::get(llvm::PointerType::get(k.ctx(), 0)));
    types.push_back(p);
  }
  args.push_back(constant_array(geom, "conv.geom"));
  types.push_back(p);
  if (pool) {  // KH, KW, sh, sw, pt, pl, PH, PW, y's image stride (a view's, GraphPlan::views)
    const auto &win = pool->attrs.ints("window"), &pst = pool->attrs.ints("strides"), &ppd = pool->attrs.ints("padding");
    const ir::TensorType& pt = pool->results[0]->type;
    const int64_t image = k.out_image(0) ? k.out_image(0) : pt.shape[1] * pt.shape[2] * pt.shape[3];
    std::vector<uint64_t> pg;
    for (int64_t v : {win[0], win[1], pst[0], pst[1], ppd[0], ppd[2], pt.shape[1], pt.shape[2], image})
      pg.push_back(static_cast<uint64_t>(v));
    args.push_back(constant_array(pg, "pool.geom"));
    types.push_back(p);
  }
  args.push_back(k.sym(sym_dims(x)[0]));
  types.push_back(k.i64());
  if (in_grad) {  // its patch scratch (or null)
    args.push_back(k.scratch.empty() ? llvm::ConstantPointerNull::get(llvm::PointerType::get(k.ctx(), 0)) : k.scratch[0]);
    types.push_back(p);
  }
  if (!f_grad) {  // the filter gradient has no epilogue
    for (Value* e : epilogue_args(k)) args.push_back(e);
    types.insert(types.end(), {p, p, k.b.getInt32Ty()});
  } else {
    args.push_back(k.accumulate ? k.accumulate : k.b.getInt32(0));
    types.push_back(k.b.getInt32Ty());
  }
  auto fn = k.callee(name, llvm::FunctionType::get(k.b.getVoidTy(), types, false));
  k.b.CreateCall(fn, args);
}

void emit_parallel_for(KernelCtx& k, Value* count, Value* bytes_per_item,
                       const std::function<void(KernelCtx&, Value*, Value*)>& body) {
  // A loop whose size is known here and below the split threshold never
  // goes over the threads: it runs in place, with no outlined copy (a
  // weight's transpose, a concat of weight gradients; less code to compile).
  auto* items = llvm::dyn_cast<llvm::ConstantInt>(count);
  auto* weight = llvm::dyn_cast<llvm::ConstantInt>(bytes_per_item);
  int64_t bytes = 0;
  if (items && weight && !__builtin_mul_overflow(items->getSExtValue(), weight->getSExtValue(), &bytes) &&
      bytes < kRtParallelBytes)
    return body(k, k.c64(0), count);
  llvm::LLVMContext& c = k.ctx();
  llvm::Type* p = ptr_t(c);
  llvm::Type* i64 = k.i64();
  std::vector<Value*> bufs;  // out, in, scratch, err
  for (auto* list : {&k.out, &k.in, &k.scratch}) bufs.insert(bufs.end(), list->begin(), list->end());
  bufs.push_back(k.err);
  // body: void <kernel>.par.body(ptr noalias bufs..., i64 N, i64 lo, i64 hi)
  std::vector<llvm::Type*> tys(bufs.size(), p);
  tys.insert(tys.end(), {i64, i64, i64});
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(k.b.getVoidTy(), tys, false),
                                    llvm::Function::InternalLinkage, k.fn->getName() + ".par.body", k.m);
  fn->setAttributes(llvm::AttributeList::get(c, k.fn->getAttributes().getFnAttrs(), {}, {}));
  fn->removeFnAttr(llvm::Attribute::NoInline);
  for (unsigned i = 0; i < bufs.size(); ++i)  // bufs: out..., in..., as the kernel's own arguments
    if (k.shared_in < 0 || (i != 0 && i != k.out.size() + static_cast<size_t>(k.shared_in)))
      fn->addParamAttr(i, llvm::Attribute::NoAlias);
  {
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(c, "entry", fn));
    const unsigned nb = static_cast<unsigned>(bufs.size());
    KernelCtx child{b,       k.m,       fn,         k.node,          fn->getArg(nb), fn->getArg(nb - 1), {}, {}, {},
                    k.body_fn, k.stats, k.epilogue, k.fma_matmul, k.shared_in};
    child.vector_floats = k.vector_floats;
    unsigned a = 0;
    for (size_t i = 0; i < k.out.size(); ++i) child.out.push_back(fn->getArg(a++));
    for (size_t i = 0; i < k.in.size(); ++i) child.in.push_back(fn->getArg(a++));
    for (size_t i = 0; i < k.scratch.size(); ++i) child.scratch.push_back(fn->getArg(a++));
    // An operand read through a result's pointer (GraphPlan::reads_result)
    // stays that pointer: its own argument would alias it under noalias.
    for (size_t i = 0; i < k.in.size(); ++i)
      for (size_t j = 0; j < k.out.size(); ++j)
        if (k.in[i] == k.out[j]) child.in[i] = child.out[j];
    child.images = k.images;
    body(child, fn->getArg(nb + 1), fn->getArg(nb + 2));
    b.CreateRetVoid();
  }
  // trampoline: void <kernel>.par(ptr ctx, i64 lo, i64 hi), ctx = [bufs..., N]
  auto* tramp = llvm::Function::Create(llvm::FunctionType::get(k.b.getVoidTy(), {p, i64, i64}, false),
                                       llvm::Function::InternalLinkage, k.fn->getName() + ".par", k.m);
  tramp->setAttributes(fn->getAttributes());
  for (unsigned i = 0; i < bufs.size(); ++i) tramp->removeParamAttr(i, llvm::Attribute::NoAlias);
  {
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(c, "entry", tramp));
    std::vector<Value*> args;
    for (size_t i = 0; i < bufs.size(); ++i)
      args.push_back(b.CreateLoad(p, b.CreateConstInBoundsGEP1_64(p, tramp->getArg(0), i)));
    args.push_back(b.CreatePtrToInt(b.CreateLoad(p, b.CreateConstInBoundsGEP1_64(p, tramp->getArg(0), bufs.size())), i64));
    args.push_back(tramp->getArg(1));
    args.push_back(tramp->getArg(2));
    b.CreateCall(fn, args);
    b.CreateRetVoid();
  }
  llvm::IRBuilder<>& b = k.b;
  llvm::AllocaInst* ctx = b.CreateAlloca(p, k.c64(static_cast<int64_t>(bufs.size() + 1)), "par.ctx");
  for (size_t i = 0; i < bufs.size(); ++i) b.CreateStore(bufs[i], b.CreateConstInBoundsGEP1_64(p, ctx, i));
  b.CreateStore(b.CreateIntToPtr(k.n, p), b.CreateConstInBoundsGEP1_64(p, ctx, bufs.size()));
  auto run = k.callee("kiln_rt_parallel_for", llvm::FunctionType::get(b.getVoidTy(), {p, p, i64, i64}, false));
  b.CreateCall(run, {tramp, ctx, count, bytes_per_item});
}

namespace {

// The steps of scan k.node over rows [lo, lo + rows) of its batch values
// (lo null: all N rows, whatever their layout). Row-range buffers start lo
// rows in (scan_rows.h); the body runs with `rows` as its N, in its own part
// of the body arenas (the fixed one is per row when rows run apart).
void emit_scan_rows(KernelCtx& k, Value* lo, Value* rows) {
  const ir::Node& n = k.node;
  llvm::IRBuilder<>& b = k.b;
  const size_t nc = static_cast<size_t>(n.attrs.i("num_carry")), ns = static_cast<size_t>(n.attrs.i("num_seq"));
  const bool reverse = n.attrs.b("reverse");
  const ir::Graph& body = *n.body;
  llvm::Function* fn = k.body_fn(n);
  llvm::Type* p = ptr_t(k.ctx());
  llvm::Type* i8 = b.getInt8Ty();
  KILN_ASSERT(ns > 0 || n.results.size() > nc, "codegen: scan without sequences or outputs");
  Sym T = ns > 0 ? dims_of(n.operands[nc])[0] : dims_of(n.results[nc])[0];
  Value* Tv = k.sym(T);
  // buf + lo rows of `row_bytes` each (a body value's bytes per unit of N).
  auto at_row = [&](Value* buf, const ir::TensorType& t) -> Value* {
    return lo ? b.CreateInBoundsGEP(i8, buf, b.CreateMul(lo, k.c64(bytes_of(t).c))) : buf;
  };
  auto rows_bytes = [&](const ir::TensorType& t) -> Value* {
    Sym s = bytes_of(t);
    return s.n ? b.CreateMul(rows, k.c64(s.c)) : k.c64(s.c);
  };

  const size_t np = body.params().size(), nr = body.results().size();
  // Step t's slot of sequence result r (its rows from lo).
  auto out_step = [&](size_t r, Value* t) {
    const ir::TensorType& st = body.results()[r]->type;
    return at_row(b.CreateInBoundsGEP(i8, k.out[r], b.CreateMul(t, k.sym(bytes_of(st)))), st);
  };
  // A carry the body also returns as a sequence result (an LSTM's saved h and
  // c) lives in that result: step t reads it from slot t and writes the next
  // one into the slot of the step after (the last step into scratch), so
  // neither the body nor the scan copies it. kept[i]: that result, or 0.
  std::vector<size_t> kept(nc, 0);
  for (size_t r = nc; r < nr && !T.n && T.c > 0; ++r)
    for (size_t i = 0; i < nc; ++i)
      if (body.results()[r] == body.params()[i] && !kept[i]) kept[i] = r;
  Value* first_t = reverse ? b.CreateSub(Tv, k.c64(1)) : k.c64(0);
  // Carries ping-pong between two scratch buffers; cur[i]/next[i] hold their
  // addresses. A carry the body updates in place (plan_scan_body) lives in
  // the scan's result alone, passed to the body as both.
  GraphPlan plan = plan_scan_body(n);
  std::vector<llvm::AllocaInst*> cur, next;
  for (size_t i = 0; i < nc; ++i) {
    const ir::TensorType& t = n.operands[i]->type;
    const bool in_place = carry_in_place(plan, i);
    cur.push_back(k.local(p, "cur"));
    next.push_back(k.local(p, "next"));
    Value* first = in_place ? at_row(k.out[i], t) : kept[i] ? out_step(kept[i], first_t) : at_row(k.scratch[2 * i], t);
    b.CreateStore(first, cur[i]);
    b.CreateStore(in_place ? first : at_row(k.scratch[2 * i + 1], t), next[i]);
    if (k.in[i] != k.out[i] || !in_place)  // the scan itself may update its operand in place (GraphPlan::updates)
      emit_memcpy(k, first, at_row(k.in[i], t), rows_bytes(t));
  }
  Value* body_fixed = lo ? b.CreateInBoundsGEP(i8, k.scratch[2 * nc], b.CreateMul(lo, k.c64(plan.fixed_bytes)))
                         : k.scratch[2 * nc];
  Value* body_batch = lo ? b.CreateInBoundsGEP(i8, k.scratch[2 * nc + 1], b.CreateMul(lo, k.c64(plan.batch_bytes)))
                         : k.scratch[2 * nc + 1];
  llvm::AllocaInst* params = b.CreateAlloca(p, k.c64(static_cast<int64_t>(np)), "params");
  llvm::AllocaInst* results = b.CreateAlloca(p, k.c64(static_cast<int64_t>(nr)), "results");
  auto set = [&](llvm::AllocaInst* arr, size_t i, Value* v) {
    b.CreateStore(v, b.CreateConstInBoundsGEP1_64(p, arr, i));
  };
  for (size_t i = nc + ns; i < np; ++i) set(params, i, k.in[i]);  // invariants
  emit_for(k, k.c64(0), Tv, [&](Value* s) {
    Value* t = reverse ? b.CreateSub(b.CreateSub(Tv, k.c64(1)), s) : s;
    Value* last = b.CreateICmpEQ(s, b.CreateSub(Tv, k.c64(1)));
    Value* t_next = reverse ? b.CreateSub(t, k.c64(1)) : b.CreateAdd(t, k.c64(1));
    for (size_t i = 0; i < nc; ++i) {
      if (kept[i])  // the next step's slot, or scratch after the last step
        b.CreateStore(b.CreateSelect(last, at_row(k.scratch[2 * i + 1], n.operands[i]->type), out_step(kept[i], t_next)),
                      next[i]);
      set(params, i, b.CreateLoad(p, cur[i]));
      set(results, i, b.CreateLoad(p, next[i]));
    }
    for (size_t i = nc; i < nc + ns; ++i) {
      const ir::TensorType& st = body.params()[i]->type;
      set(params, i, at_row(b.CreateInBoundsGEP(i8, k.in[i], b.CreateMul(t, k.sym(bytes_of(st)))), st));
    }
    for (size_t r = nc; r < nr; ++r) set(results, r, out_step(r, t));
    b.CreateCall(fn, {params, results, rows, body_fixed, body_batch, k.err});
    for (size_t i = 0; i < nc; ++i) {
      Value* c = b.CreateLoad(p, cur[i]);
      b.CreateStore(b.CreateLoad(p, next[i]), cur[i]);
      b.CreateStore(c, next[i]);
    }
  });
  for (size_t i = 0; i < nc; ++i)
    if (!carry_in_place(plan, i))
      emit_memcpy(k, at_row(k.out[i], n.results[i]->type), b.CreateLoad(p, cur[i]), rows_bytes(n.results[i]->type));
}

}  // namespace

void emit_scan(KernelCtx& k) {
  if (!scan_rows_independent(k.node)) return emit_scan_rows(k, nullptr, k.n);
  // Rows run apart: blocks of rows over the thread pool, each the whole
  // sequence (scan_split).
  const size_t nc = static_cast<size_t>(k.node.attrs.i("num_carry"));
  Sym T = k.node.attrs.i("num_seq") > 0 ? dims_of(k.node.operands[nc])[0] : dims_of(k.node.results[nc])[0];
  const ScanSplit split = scan_split(k.node);
  const int64_t row_block = split.row_block;  // a plain variable: clang 16 cannot capture a structured binding
  llvm::IRBuilder<>& b = k.b;
  Value* per_block = b.CreateMul(k.sym(T), k.c64(split.step_bytes));
  Value* blocks = b.CreateUDiv(b.CreateAdd(k.n, k.c64(row_block - 1)), k.c64(row_block));
  emit_parallel_for(k, blocks, per_block, [row_block](KernelCtx& c, Value* lo, Value* hi) {
    Value* first = c.b.CreateMul(lo, c.c64(row_block));
    Value* end = c.b.CreateMul(hi, c.c64(row_block));
    end = c.b.CreateSelect(c.b.CreateICmpULT(end, c.n), end, c.n);
    emit_scan_rows(c, first, c.b.CreateSub(end, first));
  });
}

namespace {

// The op dispatch: one emitter per op; reshape never gets here (an alias).
void emit_node(KernelCtx& k) {
  using ir::OpKind;
  switch (k.node.op) {
    case OpKind::Constant: return emit_constant(k);
    case OpKind::Iota: return emit_iota(k);
    case OpKind::RngUniform: return emit_rng_uniform(k);
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Rsqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Convert:
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Pow:
    case OpKind::Compare:
    case OpKind::Select: return emit_elementwise(k);
    case OpKind::Broadcast: return emit_broadcast(k);
    case OpKind::Reshape: break;
    case OpKind::Transpose: return emit_transpose(k);
    case OpKind::Slice: return emit_slice(k);
    case OpKind::Concat: return emit_concat(k);
    case OpKind::Pad: return emit_pad(k);
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean: return emit_reduce(k);
    case OpKind::ArgMax: return emit_argmax(k);
    case OpKind::Matmul: return emit_matmul(k);
    case OpKind::Conv2D:
    case OpKind::Conv2DInputGrad:
    case OpKind::Conv2DFilterGrad: return emit_conv(k);
    case OpKind::MaxPool2D: return emit_max_pool(k);
    case OpKind::MaxPool2DGrad: return emit_max_pool_grad(k);
    case OpKind::MaxPool2DWinners: return emit_max_pool_winners(k);
    case OpKind::MaxPool2DScatter: return emit_max_pool_scatter(k);
    case OpKind::Scan: return emit_scan(k);
    case OpKind::Fusion: return emit_fusion(k);
  }
  KILN_UNREACHABLE("codegen: no emitter for " + std::string(ir::op_name(k.node.op)));
}

// Letters, digits, '.' and '_' of s; anything else becomes '_'.
std::string symbol_safe(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_') c = '_';
  return out;
}

// A fusion kernel is named after its region (`mlp.train_step.fusion.dense.matmul_bias_relu`:
// the graph, then the fusion's first result, which says which layer and ops);
// any other kernel `<function>.<position>.<op>`.
std::string kernel_name(const ir::Graph& g, const std::string& fn_name, const ir::Node& n, int idx) {
  if (n.op == ir::OpKind::Fusion) return symbol_safe((g.name.empty() ? fn_name : g.name) + "." + n.results[0]->name);
  return fn_name + "." + std::to_string(idx) + "." + std::string(ir::op_name(n.op));
}

// A node's kernel call (Lowering::graph_fn): the kernel (null when the node
// is emitted in place), its arguments (buffers, N, err) and the IR value of
// each buffer (null for scratch).
struct Call {
  llvm::Function* kernel = nullptr;
  std::vector<Value*> args;
  std::vector<const ir::Value*> values;
  std::vector<int64_t> images;  // per buffer: KernelCtx::images
};

class Lowering {
 public:
  Lowering(llvm::Module& m, const TargetInfo& t, LoweringStats* stats)
      : m_(m), c_(m.getContext()), target_(t), stats_(stats) {}

  // g laid out by `plan` (with GraphPlan::updates: an entry, or a scan body's plan_scan_body).
  llvm::Function* graph_fn(const ir::Graph& g, const std::string& name, bool external, const GraphPlan& plan) {
    llvm::Type* p = ptr_t(c_);
    auto* ty = llvm::FunctionType::get(llvm::Type::getVoidTy(c_), {p, p, llvm::Type::getInt64Ty(c_), p, p, p}, false);
    auto* fn = llvm::Function::Create(ty, external ? llvm::Function::ExternalLinkage : llvm::Function::InternalLinkage,
                                      name, m_);
    attributes(fn);
    const char* arg_names[] = {"params", "results", "N", "fixed", "batch", "err"};
    for (unsigned i = 0; i < 6; ++i) fn->getArg(i)->setName(arg_names[i]);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(c_, "entry", fn));
    Value* N = fn->getArg(2);
    auto addr = [&](Slot s) -> Value* {
      switch (s.kind) {
        case Slot::Param: return b.CreateLoad(p, b.CreateConstInBoundsGEP1_64(p, fn->getArg(0), s.at));
        case Slot::Result: return b.CreateLoad(p, b.CreateConstInBoundsGEP1_64(p, fn->getArg(1), s.at));
        case Slot::Fixed: return b.CreateInBoundsGEP(b.getInt8Ty(), fn->getArg(3), b.getInt64(s.at));
        case Slot::Batch: return b.CreateInBoundsGEP(b.getInt8Ty(), fn->getArg(4), b.CreateMul(N, b.getInt64(s.at)));
      }
      return nullptr;
    };
    const GraphEpilogues epilogues = contraction_epilogues(g);
    const auto& nodes = g.nodes();
    // A region computing a view (GraphPlan::views) writes it from its body:
    // the body's result gets the view's image stride.
    for (const auto& [v, view] : plan.views)
      if (v->def && v->def->op == ir::OpKind::Fusion && !plan.elided.count(v->def))
        for (size_t r = 0; r < v->def->results.size(); ++r)
          if (v->def->results[r] == v) images_[v->def->body->results()[r]] = view.image;
    for (size_t at = 0; at < nodes.size(); ++at) {
      const ir::Node* n = nodes[at];
      const int idx = static_cast<int>(at) + 1;
      if (n->op == ir::OpKind::Reshape || epilogues.absorbed.count(n) || plan.elided.count(n)) continue;
      // The node's kernel call: its buffers (results, operands, epilogue
      // bias and mask, scratch), N and err; `values` names each buffer's IR
      // value (null for scratch).
      auto call_of = [&](const ir::Node& node, int position, bool make_kernel) {
        Call c;
        auto ep = epilogues.of.find(&node);
        const ContractionEpilogue* e = ep == epilogues.of.end() ? nullptr : &ep->second;
        auto buffer = [&](const ir::Value* v) {
          Value* at = addr(plan.slots.at(v));
          if (auto view = plan.views.find(v); view != plan.views.end() && view->second.offset != 0)
            at = b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), at,
                                              static_cast<uint64_t>(view->second.offset) * ir::dtype_size(v->type.dtype));
          c.args.push_back(at);
          c.values.push_back(v);
          auto body_image = images_.find(v);
          c.images.push_back(plan.views.count(v) ? image_stride(plan, v) : body_image != images_.end() ? body_image->second : 0);
        };
        if (e) {
          buffer(e->out);
          if (e->winners) buffer(e->winners);
        } else
          for (const ir::Value* r : node.results) buffer(r);
        const size_t nout = c.args.size();
        for (const ir::Value* v : node.operands) buffer(v);
        if (e && e->bias) buffer(e->bias);
        if (e && e->mask) buffer(e->mask);
        const size_t nin = c.args.size() - nout;
        for (Slot s : plan.scratch.at(&node)) {
          c.args.push_back(addr(s));
          c.values.push_back(nullptr);
        }
        c.args.push_back(N);
        c.args.push_back(fn->getArg(5));
        const int shared = plan.overwrites.count(&node) ? overwrite_operand(node) : -1;
        auto rr = plan.reads_result.find(&node);
        if (make_kernel)
          c.kernel = kernel_fn(node, kernel_name(g, name, node, position), nout, nin, c.args.size() - 2, e, shared,
                               rr == plan.reads_result.end() ? nullptr : &rr->second, c.images, external);
        return c;
      };
      const Call call = call_of(*n, idx, true);
      if (const size_t end = sibling_end(g, at); end > at + 1) {
        std::vector<Call> calls{call};
        for (size_t s = at + 1; s < end; ++s) calls.push_back(call_of(*nodes[s], static_cast<int>(s) + 1, true));
        emit_siblings(b, fn, {nodes.begin() + static_cast<std::ptrdiff_t>(at), nodes.begin() + static_cast<std::ptrdiff_t>(end)},
                      calls);
        at = end - 1;
        continue;
      }
      if (plan.chunked.count(n)) {
        const ir::Node& next = *nodes[++at];
        // A filter gradient accumulates chunk after chunk: emitted in place, with no kernel of its own.
        const bool inline_next = next.op == ir::OpKind::Conv2DFilterGrad;
        emit_chunked_pair(b, fn, plan, *n, call, next, call_of(next, idx + 1, !inline_next));
        continue;
      }
      b.CreateCall(call.kernel, call.args);
    }
    for (size_t j = 0; j < plan.result_copy.size(); ++j) {
      const ir::Value* v = plan.result_copy[j];
      if (!v) continue;
      Sym bytes = bytes_of(v->type);
      Value* nb = bytes.n ? b.CreateMul(N, b.getInt64(bytes.c)) : b.getInt64(bytes.c);
      // Not onto itself: a scan keeps a carry that its body returns per step
      // in that step's output (emit_scan_rows).
      Value* dst = addr({Slot::Result, static_cast<int64_t>(j)});
      Value* src = addr(plan.slots.at(v));
      llvm::BasicBlock* copy = llvm::BasicBlock::Create(c_, "result.copy", fn);
      llvm::BasicBlock* done = llvm::BasicBlock::Create(c_, "result.done", fn);
      b.CreateCondBr(b.CreateICmpEQ(dst, src), done, copy);
      b.SetInsertPoint(copy);
      b.CreateMemCpy(dst, llvm::MaybeAlign(4), src, llvm::MaybeAlign(4), nb);
      b.CreateBr(done);
      b.SetInsertPoint(done);
    }
    b.CreateRetVoid();
    return fn;
  }

 private:
  llvm::Module& m_;
  llvm::LLVMContext& c_;
  TargetInfo target_;
  LoweringStats* stats_;
  std::unordered_map<const ir::Graph*, llvm::Function*> bodies_;
  // Region body results that are views in the caller (GraphPlan::views): their image stride.
  std::unordered_map<const ir::Value*, int64_t> images_;
  int body_count_ = 0;

  // A node and the next one, run chunk by chunk of images (GraphPlan::chunked):
  // per chunk [n0, n0 + cnt), the node's kernel with its batch buffers
  // advanced n0 images and N = cnt, then the next node's on the same images.
  // A result in_chunk_buffer is not advanced: every chunk reuses it. A next
  // conv2d_filter_grad (no kernel in `second`) is emitted in place and
  // accumulates from the second chunk on.
  void emit_chunked_pair(llvm::IRBuilder<>& b, llvm::Function* fn, const GraphPlan& plan, const ir::Node& n,
                         const Call& first, const ir::Node& next, const Call& second) {
    Value* N = first.args[first.args.size() - 2];
    Value* chunk = b.getInt64(chunk_images(n));
    KernelCtx k = context(b, fn, next, N, first.args.back());
    Value* chunks = b.CreateUDiv(b.CreateAdd(N, b.CreateSub(chunk, b.getInt64(1))), chunk);
    emit_for(k, b.getInt64(0), chunks, [&](Value* c) {
      Value* n0 = b.CreateMul(c, chunk);
      Value* cnt = b.CreateSelect(b.CreateICmpSLT(b.CreateSub(N, n0), chunk), b.CreateSub(N, n0), chunk);
      // The call's arguments for these images: buffers advanced, N = cnt.
      auto advanced = [&](const Call& call) {
        std::vector<Value*> a = call.args;
        for (size_t i = 0; i < call.values.size(); ++i) {
          const ir::Value* v = call.values[i];
          const Sym s = v ? bytes_of(v->type) : Sym{0, false};
          if (s.n && !(v->def && in_chunk_buffer(plan, *v->def)))
            a[i] = b.CreateInBoundsGEP(b.getInt8Ty(), a[i], b.CreateMul(n0, b.getInt64(s.c)));
        }
        a[a.size() - 2] = cnt;
        return a;
      };
      b.CreateCall(first.kernel, advanced(first));
      const std::vector<Value*> a = advanced(second);
      if (second.kernel) {
        b.CreateCall(second.kernel, a);
        return;
      }
      KernelCtx f = k;
      f.n = cnt;
      f.out = {a[0]};
      f.in.assign(a.begin() + 1, a.begin() + 1 + static_cast<std::ptrdiff_t>(next.operands.size()));
      f.accumulate = b.CreateZExt(b.CreateICmpNE(c, b.getInt64(0)), b.getInt32Ty());
      emit_node(f);
    });
  }

  // Sibling scans (sibling_end) as the items of one parallel loop, item s
  // calling scan s's kernel. An item weighs the bytes its scan's rows read
  // and write over its steps (scan_row_bytes), the heaviest scan's, not
  // weighted for arithmetic as a row-split scan's blocks are (scan_split):
  // an LSTM's sums blocks split from about 200 rows on (rnn's: 124 bytes a
  // row, 10 steps a chunk), not at batch 32, where a block's chunk of steps
  // is a few microseconds of work.
  void emit_siblings(llvm::IRBuilder<>& b, llvm::Function* fn, const std::vector<const ir::Node*>& scans,
                     const std::vector<Call>& calls) {
    Value* N = fn->getArg(2);
    KernelCtx k = context(b, fn, *scans[0], N, fn->getArg(5));
    std::vector<size_t> first;  // per call: its first buffer in k.in (its arguments but N and err)
    Value* per_item = b.getInt64(0);
    for (size_t s = 0; s < calls.size(); ++s) {
      first.push_back(k.in.size());
      k.in.insert(k.in.end(), calls[s].args.begin(), calls[s].args.end() - 2);
      const ir::Node& scan = *scans[s];
      const size_t nc = static_cast<size_t>(scan.attrs.i("num_carry"));
      const Sym T = dims_of(scan.attrs.i("num_seq") > 0 ? scan.operands[nc] : scan.results[nc])[0];
      Value* work = b.CreateMul(b.CreateMul(k.sym(T), N), b.getInt64(static_cast<uint64_t>(scan_row_bytes(scan))));
      per_item = b.CreateSelect(b.CreateICmpUGT(work, per_item), work, per_item);
    }
    emit_parallel_for(k, b.getInt64(calls.size()), per_item, [&](KernelCtx& c, Value* lo, Value* hi) {
      for (size_t s = 0; s < calls.size(); ++s) {
        Value* item = c.c64(static_cast<int64_t>(s));
        emit_if_else(c, c.b.CreateAnd(c.b.CreateICmpULE(lo, item), c.b.CreateICmpULT(item, hi)), [&] {
          auto args_begin = c.in.begin() + static_cast<std::ptrdiff_t>(first[s]);
          std::vector<Value*> args(args_begin, args_begin + static_cast<std::ptrdiff_t>(calls[s].args.size() - 2));
          args.push_back(c.n);
          args.push_back(c.err);
          c.b.CreateCall(calls[s].kernel, args);
        }, [] {});
      }
    });
  }

  // A context for emitting node n's code into fn (batch size N, err), with
  // the target's choices: inline FMA matmuls, the vector width.
  KernelCtx context(llvm::IRBuilder<>& b, llvm::Function* fn, const ir::Node& n, Value* N, Value* err) {
    auto bodies = [this](const ir::Node& owner) { return body_fn(owner); };
    KernelCtx k{b, m_, fn, n, N, err, {}, {}, {}, bodies, stats_, nullptr, target_.fma_matmul, -1};
    k.vector_floats = target_.vector_width / 32;
    return k;
  }

  void attributes(llvm::Function* fn) {
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    if (!target_.cpu.empty()) fn->addFnAttr("target-cpu", target_.cpu);
    if (!target_.features.empty()) fn->addFnAttr("target-features", target_.features);
    fn->addFnAttr("prefer-vector-width", std::to_string(target_.vector_width));
  }

  // void kernel(ptr noalias buffers..., i64 N, ptr noalias err): nout
  // results, nin inputs, then scratch buffers. With shared >= 0 the result
  // is in input `shared`'s buffer (GraphPlan::overwrites): neither is noalias.
  // Each (result, operand) of reads_result (GraphPlan::reads_result, a
  // parameter updated in place) reads the operand through the result's
  // pointer: the operand's own argument, the same address, is never used.
  // entry: n is in the entry graph, not in a body (KernelCtx::entry).
  llvm::Function* kernel_fn(const ir::Node& n, const std::string& name, size_t nout, size_t nin, size_t nbuf,
                            const ContractionEpilogue* epilogue, int shared,
                            const std::vector<std::pair<size_t, size_t>>* reads_result,
                            const std::vector<int64_t>& images, bool entry) {
    llvm::Type* p = ptr_t(c_);
    std::vector<llvm::Type*> tys(nbuf, p);
    tys.push_back(llvm::Type::getInt64Ty(c_));
    tys.push_back(p);
    auto* fn = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(c_), tys, false),
                                      llvm::Function::InternalLinkage, name, m_);
    attributes(fn);
    for (size_t i = 0; i < nbuf; ++i)
      if (shared < 0 || (i != 0 && i != nout + static_cast<size_t>(shared)))
        fn->addParamAttr(static_cast<unsigned>(i), llvm::Attribute::NoAlias);
    fn->addParamAttr(static_cast<unsigned>(nbuf + 1), llvm::Attribute::NoAlias);
    if (n.op == ir::OpKind::Fusion || target_.kernel_symbols)
      fn->addFnAttr(llvm::Attribute::NoInline);  // its name reaches the asm
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(c_, "entry", fn));
    KernelCtx k = context(b, fn, n, fn->getArg(static_cast<unsigned>(nbuf)), fn->getArg(static_cast<unsigned>(nbuf + 1)));
    k.epilogue = epilogue;
    k.shared_in = shared;
    size_t a = 0;
    for (size_t i = 0; i < nout; ++i) k.out.push_back(fn->getArg(static_cast<unsigned>(a++)));
    for (size_t i = 0; i < nin; ++i) k.in.push_back(fn->getArg(static_cast<unsigned>(a++)));
    while (a < nbuf) k.scratch.push_back(fn->getArg(static_cast<unsigned>(a++)));
    if (reads_result)
      for (auto [r, o] : *reads_result) k.in[o] = k.out[r];
    k.images.assign(images.begin(), images.begin() + static_cast<std::ptrdiff_t>(std::min(images.size(), nout + nin)));
    k.entry = entry;
    emit_node(k);
    b.CreateRetVoid();
    return fn;
  }

  // The graph function of node owner's body (a scan's or a fusion region's), emitted once.
  llvm::Function* body_fn(const ir::Node& owner) {
    const ir::Graph& body = *owner.body;
    auto it = bodies_.find(&body);
    if (it != bodies_.end()) return it->second;
    std::string name = "body" + std::to_string(body_count_++) + (body.name.empty() ? "" : "." + body.name);
    const GraphPlan plan = owner.op == ir::OpKind::Scan ? plan_scan_body(owner) : plan_graph(body);
    return bodies_[&body] = graph_fn(body, name, false, plan);
  }
};

// Kernels that came out the same (two LSTM layers' gate kernels and their
// scans' row-range bodies, Adam's updates of equal-sized weights) become one
// function before anything optimizes and compiles them (LLVM's
// MergeFunctions): in multi_output's train step a quarter of the code. Each
// merged kernel's name is kept in the module's `!kiln.merged` metadata as
// "<kernel> = <the kernel it is the same as>".
void merge_identical_kernels(llvm::Module& m) {
  struct Ref {  // an instruction's operand that is a defined function: a call, or a body passed to the thread pool
    llvm::WeakVH inst;  // null once MergeFunctions deletes it (with a merged caller)
    unsigned operand;
    std::string name;
  };
  std::vector<Ref> refs;
  for (llvm::Function& f : m)
    for (llvm::BasicBlock& bb : f)
      for (llvm::Instruction& i : bb)
        for (unsigned o = 0; o < i.getNumOperands(); ++o)
          if (auto* g = llvm::dyn_cast<llvm::Function>(i.getOperand(o)); g && !g->isDeclaration())
            refs.push_back({llvm::WeakVH(&i), o, g->getName().str()});
  llvm::ModuleAnalysisManager mam;
  llvm::MergeFunctionsPass().run(m, mam);
  std::set<std::string> noted;
  for (const Ref& r : refs) {
    auto* i = llvm::cast_or_null<llvm::Instruction>(static_cast<llvm::Value*>(r.inst));
    auto* now = i ? llvm::dyn_cast<llvm::Function>(i->getOperand(r.operand)) : nullptr;
    if (!now || now->getName() == r.name || !noted.insert(r.name).second) continue;
    llvm::NamedMDNode* md = m.getOrInsertNamedMetadata("kiln.merged");
    md->addOperand(
        llvm::MDNode::get(m.getContext(), llvm::MDString::get(m.getContext(), r.name + " = " + now->getName().str())));
  }
}

}  // namespace

std::unique_ptr<llvm::Module> lower_graph(const ir::Graph& g, llvm::LLVMContext& ctx, const std::string& entry_name,
                                          const TargetInfo& target, LoweringStats* stats, bool update_params) {
  auto m = std::make_unique<llvm::Module>(entry_name, ctx);
  Lowering(*m, target, stats).graph_fn(g, entry_name, true, plan_graph(g, update_params));
  merge_identical_kernels(*m);
  return m;
}

}  // namespace kiln::codegen
