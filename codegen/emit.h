// Internal to codegen/: the pieces that lower one ir::Node to LLVM IR.
//
// Every node becomes one internal function (a "kernel") whose buffer
// arguments are all `noalias`; the graph function calls the kernels in order
// and the optimizer inlines them, except fusion kernels, which stay functions named after
// their region. Kernels are built from two helpers: emit_for (one counted
// loop) and emit_nest (a row-major loop nest over a shape with one strided
// access per buffer; adjacent dims that are contiguous for every access are
// merged, so the innermost loop is long and LLVM vectorizes it). Elementwise
// ops compose a scalar *element generator* (scalar_op) inside a nest, as
// XLA's fused emitters do: one op per nest, or every member of a fusion
// region in one nest (emit_fusion.cpp).
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <functional>
#include <utility>
#include <vector>

#include "codegen/epilogue.h"
#include "codegen/plan.h"
#include "ir/graph.h"

namespace kiln::codegen {

// What lowering did with the fusion regions (JitStats, dumps).
struct LoweringStats {
  int64_t fused_regions = 0;     // emitted as one loop nest
  int64_t unfused_regions = 0;   // emitted as a call of their body (no nest: region.h)
  int64_t two_pass_regions = 0;  // of the fused: packed loop regions run in two passes (emit_fusion.cpp)
};

struct KernelCtx {
  llvm::IRBuilder<>& b;
  llvm::Module& m;
  llvm::Function* fn;
  const ir::Node& node;
  llvm::Value* n;    // i64 batch size
  llvm::Value* err;  // i32*: set to 1 on integer division by zero
  std::vector<llvm::Value*> in, out, scratch;
  // Emits (once) and returns the graph function of a node's body (a scan's or a region's).
  std::function<llvm::Function*(const ir::Node&)> body_fn;
  LoweringStats* stats;
  // A contraction's epilogue (epilogue.h): its bias and mask follow the
  // contraction's operands in `in`, out[0] is the chain's last value.
  const ContractionEpilogue* epilogue = nullptr;
  // The epilogue's bias and mask buffers (null when absent).
  std::pair<llvm::Value*, llvm::Value*> epilogue_buffers() const {
    size_t at = 2;
    llvm::Value* bias = epilogue && epilogue->bias ? in[at++] : nullptr;
    llvm::Value* mask = epilogue && epilogue->mask ? in[at++] : nullptr;
    return {bias, mask};
  }
  bool fma_matmul = false;  // TargetInfo::fma_matmul
  // The input whose buffer out[0] shares (GraphPlan::overwrites), or -1:
  // those two pointers are not noalias.
  int shared_in = -1;
  // conv2d_filter_grad: an i32, nonzero to add to its result (chunked runs,
  // GraphPlan::chunked), or null for 0.
  llvm::Value* accumulate = nullptr;
  // The node is in the entry graph, not in a scan's or region's body: its
  // loops may go over the threads (a body's kernels run once per step, where
  // even the check would cost, and mostly inside a split already).
  bool entry = false;
  // Per buffer (out..., then in...): the elements between its images when it
  // is a view (GraphPlan::views, image_stride), else 0; may be shorter.
  std::vector<int64_t> images;
  int64_t out_image(size_t j) const { return j < images.size() ? images[j] : 0; }
  int64_t in_image(size_t i) const { return out.size() + i < images.size() ? images[out.size() + i] : 0; }
  // Floats in the target's widest vector: 16 with AVX-512, else 8
  // (TargetInfo::vector_width). Only AVX-512 masks loads and stores for free:
  // AVX2's vmaskmovps is microcoded on AMD Zen (a masked store costs tens of
  // cycles), so kernels for 8-float vectors use whole vectors and narrower
  // pieces instead of masked ones.
  int vector_floats = 16;
  bool cheap_masks() const { return vector_floats >= 16; }

  llvm::LLVMContext& ctx() { return m.getContext(); }
  llvm::Type* i64() { return b.getInt64Ty(); }
  llvm::Value* c64(int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }
  llvm::Value* sym(Sym s) { return s.n ? b.CreateMul(n, c64(s.c)) : c64(s.c); }
  // An i64 alloca in the entry block (SROA turns it into SSA values).
  llvm::AllocaInst* local(llvm::Type* t, const char* name);
  // The function `name` of type `ty`, declared on first use (C library, runtime kernels).
  llvm::FunctionCallee callee(const char* name, llvm::FunctionType* ty);
};

llvm::Type* elem_type(llvm::LLVMContext& c, ir::DType t);
// A row of w elements as whole vectors of power-of-two widths, widest first,
// none wider than `widest` (10 = 8 + 2 for 8-float vectors): (first, width)
// per piece, so that every load and store is a plain one, with no mask.
std::vector<std::pair<int64_t, int64_t>> vector_pieces(int64_t w, int64_t widest);
int64_t norm_axis(int64_t axis, int64_t rank);

// for (i = lo; i < hi; ++i) body(i); returns the loop's back edge.
llvm::BranchInst* emit_for(KernelCtx& k, llvm::Value* lo, llvm::Value* hi,
                           const std::function<void(llvm::Value*)>& body);
// emit_for for a loop whose iterations touch disjoint memory, even through
// buffers that alias (an overwriting kernel): its loads and stores form one
// access group and the loop is marked llvm.loop.parallel_accesses, so the
// vectorizer needs no alias proof. body() must not call functions.
void emit_independent_for(KernelCtx& k, llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body);
// Marks the loop whose latch is `latch` as vector code already: LLVM neither
// unrolls nor vectorizes it again.
void mark_vector_loop(KernelCtx& k, llvm::Instruction* latch);
// Asks LLVM's vectorizer to interleave `count` vectors per iteration of the
// loop whose latch is `latch` (left to itself it chose 1 for the LSTM gate loops).
void mark_interleaved(KernelCtx& k, llvm::Instruction* latch, int count);
using Carried = std::vector<llvm::Value*>;
// for (i = 0; i < count; ++i) v = step(i, v), v starting at `init`, as one
// loop (mark_vector_loop) whose carried values are phis; returns v after it.
Carried emit_carried_loop(KernelCtx& k, llvm::Value* count, const Carried& init,
                          const std::function<Carried(llvm::Value* i, const Carried& v)>& step);
// if (cond) then() else other(), continuing after both.
void emit_if_else(KernelCtx& k, llvm::Value* cond, const std::function<void()>& then,
                  const std::function<void()>& other);

struct Access {
  llvm::Value* base;         // buffer
  llvm::Type* elem;          // element type
  std::vector<Sym> strides;  // per dim of the nest, in elements (0 = broadcast)
  Sym offset{};              // elements
};
using NestBody = std::function<void(const std::vector<llvm::Value*>& idx, const std::vector<llvm::Value*>& ptrs)>;
// Visits `dims` in row-major order; body gets the indices (of the merged
// dims when `collapse`) and one element pointer per access.
void emit_nest(KernelCtx& k, const std::vector<Sym>& dims, const std::vector<Access>& acc, const NestBody& body,
               bool collapse = true);
// Runs body(child, lo, hi) on ranges of [0, count) over the thread pool
// (runtime/thread_pool.h, via kiln_rt_parallel_for) when count * bytes_per_item
// is large, else on [0, count) at once. The body is emitted into an outlined
// function `<kernel>.par` whose `child` context holds the kernel's buffers
// (noalias) and N, or, when count and bytes_per_item are constants whose
// product is below the split threshold, in place with `child` = k; the ranges
// depend only on count and the thread count, so a body whose items write
// disjoint elements gives the same bits for any.
void emit_parallel_for(KernelCtx& k, llvm::Value* count, llvm::Value* bytes_per_item,
                       const std::function<void(KernelCtx& child, llvm::Value* lo, llvm::Value* hi)>& body);
// Writes `value` (of the element type) to every element of buf[0, count).
void emit_fill(KernelCtx& k, llvm::Value* buf, llvm::Type* elem, llvm::Value* count, llvm::Value* value);
void emit_memcpy(KernelCtx& k, llvm::Value* dst, llvm::Value* src, llvm::Value* bytes);

// The element generator of elementwise node n: its value for scalar operands
// x (of n's operand dtypes); i1 values are i8 0/1.
llvm::Value* scalar_op(KernelCtx& k, const ir::Node& n, const std::vector<llvm::Value*>& x);

// One emitter per op family (emit_elementwise.cpp, emit_layout.cpp, emit_graph.cpp).
void emit_elementwise(KernelCtx& k);  // unary, convert, binary, compare, select
void emit_constant(KernelCtx& k);
// The value of every element of a constant node (constants are splats).
llvm::Constant* splat_value(KernelCtx& k, const ir::Node& constant);
void emit_iota(KernelCtx& k);
void emit_rng_uniform(KernelCtx& k);
void emit_broadcast(KernelCtx& k);
void emit_transpose(KernelCtx& k);
void emit_slice(KernelCtx& k);
void emit_concat(KernelCtx& k);
void emit_pad(KernelCtx& k);
void emit_reduce(KernelCtx& k);
// What a reduction reads, in a kernel context (the kernel's own, or the body
// of a parallel loop, whose buffers are its own arguments).
using ReadsFn = std::function<std::vector<Access>(KernelCtx& k)>;
// The element a reduction reads at one point of its nest, given the pointers of its reads.
using ElementFn = std::function<llvm::Value*(KernelCtx& k, const std::vector<llvm::Value*>& ptrs)>;
// Reduction `red` of the tensor whose element is value(...) into k.out[0] in the
// interpreter's order (sum/mean accumulate in double in k.scratch[0]). A sum
// or mean over every axis but the last, of 32+ columns in blocks of 16, splits
// the column blocks over the thread pool: each column is still one sum over
// the rows in order, so the bits do not depend on the thread count.
void emit_reduction(KernelCtx& k, const ir::Node& red, const ReadsFn& reads, const ElementFn& value);
// A fusion region as one loop nest (region.h), or else as a call of its body.
void emit_fusion(KernelCtx& k);
void emit_argmax(KernelCtx& k);
void emit_max_pool(KernelCtx& k);
void emit_max_pool_grad(KernelCtx& k);
void emit_max_pool_winners(KernelCtx& k);
void emit_max_pool_scatter(KernelCtx& k);
void emit_matmul(KernelCtx& k);
// matmul as a call of the runtime GEMM (kiln_rt_matmul).
void emit_runtime_matmul(KernelCtx& k);
// A small matmul inline (emit_small_matmul.cpp); false, emitting nothing, when
// it is not one (batched, c wider than a few vectors, or !fma_matmul).
bool emit_small_matmul(KernelCtx& k);
void emit_conv(KernelCtx& k);
void emit_scan(KernelCtx& k);

}  // namespace kiln::codegen

namespace kiln::codegen {

// The widest vector (bits) of a host with these LLVM target features: 512
// with AVX-512, else 256 (TargetInfo::vector_width, KernelCtx::vector_floats).
int vector_width_bits(const std::string& features);

struct TargetInfo {
  std::string cpu, features;
  int vector_width = 256;  // "prefer-vector-width" in bits: vector_width_bits(features)
  // Every kernel stays a function of its own (`<function>.<position>.<op>`),
  // so a profile attributes time to each node ($KILN_JIT_KERNEL_SYMBOLS=1).
  bool kernel_symbols = false;
  // Small matmuls may be emitted inline as FMA chains: true only where the
  // runtime GEMM (runtime/gemm.h) fuses too, which gives the same bits.
  bool fma_matmul = false;
};

// The optimization pipeline (jit.cpp kPipeline: inlining, one simplification
// round, the loop vectorizer) for `tm` (the TargetMachine must be given or TTI
// reports no vector registers): what the JIT and AOT export both run.
void optimize_module(llvm::Module& m, llvm::TargetMachine* tm);

// The whole module of one program: `entry_name` is an external function
//   void entry(ptr params[], ptr results[], i64 N, ptr fixed_arena, ptr batch_arena, ptr i32 err)
// laid out by plan_graph(g, update_params); every node is an internal kernel function.
// Fusion kernels are functions named after their region
// (`<graph>.fusion.dense.matmul_bias_relu`), kept out of line so the names
// reach the asm; regions emitted unfused are listed in the module's
// `!kiln.unfused` metadata and counted in `stats`.
std::unique_ptr<llvm::Module> lower_graph(const ir::Graph& g, llvm::LLVMContext& ctx, const std::string& entry_name,
                                          const TargetInfo& target, LoweringStats* stats = nullptr,
                                          bool update_params = false);

}  // namespace kiln::codegen
