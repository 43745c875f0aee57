// Fusion regions in codegen (codegen/region.h, emit_fusion.cpp): a loop or
// reduction region is one kernel function named after the region, with no
// intermediate buffers, and the names reach the LLVM IR and the asm; the MLP
// train step's fused kernels are packed vector code; a contraction region is
// one GEMM call when its members are the GEMM's epilogue (bias, relu, relu's
// backward mask), else a call of its body, and that shows in JitStats and in
// the module's !kiln.unfused. JIT == interpreter on fused regions: the
// models in jit_models_test, and tests/data/ir/ops/fusion_regions.kir in
// jit_ops_test (parameters read contiguously, as rank-0 scalars and through
// broadcast_dims; splat constants; i1 masks and select; i32 division; several
// results; reductions of a chain and of a parameter).
#include <cmath>
#include <map>
#include <set>
#include <regex>
#include <span>
#include <sstream>

#include "codegen/plan.h"
#include "ir/parser.h"
#include "runtime/thread_pool.h"
#include "jit_test_util.h"
#include "kiln/kiln.h"
#include "passes/pipelines.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;

namespace {

codegen::JitOptions no_disk() { return codegen::JitOptions{.cache_dir = "", .disk_cache = false}; }

// exp, mul, add, relu of x: as four kernels, three intermediates of N*64 bytes.
const char* kChain = R"(func @chain(%x: f32[N,16], %b: f32[16]) -> (f32[N,16]) {
  %fusion.layer.exp_mul_add_relu = fusion %x, %b {kind="loop"} : f32[N,16] {
    ^layer.exp_mul_add_relu(%x: f32[N,16], %b: f32[16]):
    %e = exp %x : f32[N,16]
    %m = mul %e, %x : f32[N,16]
    %a = add %m, %b {broadcast_dims=[1]} : f32[N,16]
    %r = relu %a : f32[N,16]
    return %r
  }
  return %fusion.layer.exp_mul_add_relu
}
)";

// The four 10-wide gate slices of %z and the gate members of an LSTM step
// (a fusion body's lines), as the forward scan's step has them.
const std::string kGateSlices = R"(  %z_i = slice %z {axis=1, start=0, limit=10} : f32[N,10]
  %z_f = slice %z {axis=1, start=10, limit=20} : f32[N,10]
  %z_g = slice %z {axis=1, start=20, limit=30} : f32[N,10]
  %z_o = slice %z {axis=1, start=30, limit=40} : f32[N,10]
)";
const std::string kGateMembers = R"(    ^gates(%z_i: f32[N,10], %z_f: f32[N,10], %z_g: f32[N,10], %z_o: f32[N,10], %c: f32[N,10]):
    %i = sigmoid %z_i : f32[N,10]
    %f = sigmoid %z_f : f32[N,10]
    %g = tanh %z_g : f32[N,10]
    %o = sigmoid %z_o : f32[N,10]
    %f_c = mul %f, %c : f32[N,10]
    %i_g = mul %i, %g : f32[N,10]
    %c_next = add %f_c, %i_g : f32[N,10]
    %c_act = tanh %c_next : f32[N,10]
    %h_next = mul %o, %c_act : f32[N,10]
)";

// An LSTM step's gates read as four 10-wide slices of z (views read packed),
// a slice of whole vectors (a view read in place), a narrow slice a loop
// region reads with a broadcast bias (a view read packed).
const std::string kGatesText = R"(func @gates(%z: f32[N,40], %c: f32[N,10], %y: f32[N,64], %w: f32[N,20], %b: f32[10]) -> (f32[N,10], f32[N,16], f32[N,10]) {
)" + kGateSlices + R"(  %h = fusion %z_i, %z_f, %z_g, %z_o, %c {kind="loop"} : f32[N,10] {
)" + kGateMembers + R"(    return %h_next
  }
  %y1 = slice %y {axis=1, start=16, limit=32} : f32[N,16]
  %t = fusion %y1 {kind="loop"} : f32[N,16] {
    ^t(%y1: f32[N,16]):
    %e = tanh %y1 : f32[N,16]
    return %e
  }
  %w1 = slice %w {axis=1, start=5, limit=15} : f32[N,10]
  %u = fusion %w1, %b {kind="loop"} : f32[N,10] {
    ^u(%w1: f32[N,10], %b: f32[10]):
    %a = add %w1, %b {broadcast_dims=[1]} : f32[N,10]
    %e = exp %a : f32[N,10]
    return %e
  }
  return %h, %t, %u
}
)";
const char* kGates = kGatesText.c_str();

// An LSTM backward step's dz: loop regions' results concatenated (written in
// place into the concat's columns) and read by a matmul.
const char* kDz = R"(func @dz(%a: f32[N,10], %b: f32[N,10], %u: f32[30,10]) -> (f32[N,10], f32[N,10], f32[N,30]) {
  %f, %f.1, %f.2 = fusion %a, %b {kind="loop"} : (f32[N,10], f32[N,10], f32[N,10]) {
    ^f(%a: f32[N,10], %b: f32[N,10]):
    %m = mul %a, %b : f32[N,10]
    %s = sub %a, %b : f32[N,10]
    %n = neg %m : f32[N,10]
    return %m, %s, %n
  }
  %g = fusion %b {kind="loop"} : f32[N,10] {
    ^g(%b: f32[N,10]):
    %e = exp %b : f32[N,10]
    return %e
  }
  %cat = concat %f.2, %g, %f.1 {axis=1} : f32[N,30]
  %h = matmul %cat, %u : f32[N,10]
  return %h, %f, %cat
}
)";

TEST(FusedRegion, IsOneKernelWithoutIntermediateBuffers) {
  auto g = ir::parse_graph(kChain);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_EQ(jit.stats().fused_regions, 1);
  EXPECT_EQ(jit.stats().unfused_regions, 0);
  EXPECT_EQ(prog->arena_bytes(32), 0);  // the chain's values never leave registers
  std::string ir = prog->llvm_ir();
  EXPECT_NE(ir.find("void @chain.fusion.layer.exp_mul_add_relu("), std::string::npos) << ir;
  EXPECT_EQ(ir.find("kiln.unfused"), std::string::npos);
  // One function for the region: no per-op kernels beside it.
  EXPECT_FALSE(std::regex_search(ir, std::regex(R"(define internal [^@]*@[^(]*\.(exp|mul|add|relu)\()"))) << ir;
  std::vector<Tensor> args = jit_test::random_args(*g, 7, 3);
  EXPECT_TRUE(jit_test::close(prog->run(args)[0], runtime::interpret(*g, args)[0], 0));
}

TEST(FusedRegion, ReductionKeepsOnlyItsAccumulators) {
  auto g = ir::parse_graph(R"(func @sumsq(%x: f32[N,64]) -> (f32[N]) {
  %fusion.sumsq = fusion %x {kind="reduction"} : f32[N] {
    ^sumsq(%x: f32[N,64]):
    %sq = mul %x, %x : f32[N,64]
    %s = reduce_sum %sq {axes=[1]} : f32[N]
    return %s
  }
  return %fusion.sumsq
}
)");
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_EQ(jit.stats().fused_regions, 1);
  // One double accumulator per row (8 bytes a sample in the batch pool); no
  // buffer for the 256 bytes per sample of squares.
  EXPECT_EQ(prog->arena_bytes(32), 32 * 8);
}

// A sum or mean over every axis but the last (a bias gradient), plain and as a
// reduction region: large ones split their 16-column blocks over the thread
// pool (a `.par` body in the IR), each column still one sum over the rows in
// order, so 1 and 2 threads give the interpreter's bits. 40 columns (not a
// multiple of 16) stay on one thread.
TEST(FusedRegion, ColumnReductionsSplitOverThreadsWithTheSameBits) {
  struct Case {
    const char* text;
    bool parallel;
  };
  const Case cases[] = {
      {R"(func @bias_grad(%x: f32[N,16,16,48]) -> (f32[48]) {
  %s = reduce_sum %x {axes=[0,1,2]} : f32[48]
  return %s
}
)",
       true},
      {R"(func @mean(%x: f32[N,4,64]) -> (f32[64]) {
  %s = reduce_mean %x {axes=[0,1]} : f32[64]
  return %s
}
)",
       true},
      {R"(func @masked(%x: f32[N,8,32], %m: f32[N,8,32]) -> (f32[32]) {
  %fusion.masked = fusion %x, %m {kind="reduction"} : f32[32] {
    ^masked(%x: f32[N,8,32], %m: f32[N,8,32]):
    %p = mul %x, %m : f32[N,8,32]
    %s = reduce_sum %p {axes=[0,1]} : f32[32]
    return %s
  }
  return %fusion.masked
}
)",
       true},
      {R"(func @odd(%x: f32[N,40]) -> (f32[40]) {
  %s = reduce_sum %x {axes=[0]} : f32[40]
  return %s
}
)",
       false},
  };
  for (const Case& c : cases) {
    auto g = ir::parse_graph(c.text);
    SCOPED_TRACE(g->name);
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    EXPECT_EQ(prog->llvm_ir().find(".par.body") != std::string::npos, c.parallel);
    for (int64_t n : {1, 3, 1200})  // 1200: past the hand-off threshold (512 KB)
      jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 11), "N=" + std::to_string(n));
  }
}

// The batch pool aligns each buffer to what it holds (codegen/plan.cpp,
// batch_align): two f32[N,1] values live together take 4 bytes a sample
// each, an f32[N,20] beside them 80 at a multiple of 16 (64-byte aligned
// whenever N is a multiple of 4): placed first (largest first), at 0, with
// the two after it, 88 bytes a sample in all (first fit, the small ones
// first, 96), where rounding every buffer to 64 bytes a sample took 256. At odd N the wide
// buffer is not 64-byte aligned: the results are still the interpreter's.
TEST(Plan, BatchPoolAlignsEachBufferToItsSize) {
  auto g = ir::parse_graph(R"(func @small(%x: f32[N,1], %y: f32[N,20]) -> (f32[N,1], f32[N,20]) {
  %a = neg %x : f32[N,1]
  %b = exp %x : f32[N,1]
  %c = relu %y : f32[N,20]
  %s = add %a, %b : f32[N,1]
  %t = mul %c, %c : f32[N,20]
  return %s, %t
}
)");
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  EXPECT_EQ(plan.batch_bytes, 88);
  EXPECT_EQ(plan.fixed_bytes, 0);
  for (const ir::Node* n : g->nodes()) {
    const codegen::Slot& at = plan.slots.at(n->results[0]);
    if (at.kind != codegen::Slot::Batch) continue;
    EXPECT_EQ(at.at % (n->results[0]->type.shape[1] == 20 ? 16 : 4), 0) << n->results[0]->name;
  }
  codegen::Jit jit(no_disk());
  EXPECT_EQ(jit.compile(*g)->arena_bytes(32), 32 * 88);
  for (int64_t n : {1, 3, 32}) jit_test::expect_same(jit, *g, jit_test::random_args(*g, n, 7), 0, "N=" + std::to_string(n));
}

// The batch pool keeps the smaller of first fit and largest-first placement
// (plan.cpp Pools, ir::pack_largest_first). In order, first fit puts the long-lived f32[N,1]
// %s right after %a, so when %a is freed the hole below %b is 64 + 4 bytes a
// sample, too small for %c's 80: the pool grew to 224. Largest first, %c and
// %a share offset 0, %b follows at 80 and %s at 144: 148 bytes a sample, the
// most that is live at once (%b, %c, %s while %c is computed).
TEST(Plan, SmallLongLivedBufferDoesNotSplitTheArena) {
  auto g = ir::parse_graph(R"(func @split(%x: f32[N,16], %y: f32[N,1], %k: f32[16,20]) -> (f32[N,20], f32[N,1]) {
  %a = exp %x : f32[N,16]
  %s = neg %y : f32[N,1]
  %b = relu %a : f32[N,16]
  %c = matmul %b, %k : f32[N,20]
  %t = mul %c, %c : f32[N,20]
  %u = add %s, %s : f32[N,1]
  return %t, %u
}
)");
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  EXPECT_EQ(plan.batch_bytes, 148);
  auto at = [&](const char* name) {
    for (const ir::Node* n : g->nodes())
      if (n->results[0]->name == name) return plan.slots.at(n->results[0]).at;
    return int64_t{-1};
  };
  EXPECT_EQ(at("c"), 0);
  EXPECT_EQ(at("a"), 0);  // dead before %c is computed
  EXPECT_EQ(at("b"), 80);
  EXPECT_EQ(at("s"), 144);
  codegen::Jit jit(no_disk());
  EXPECT_EQ(jit.compile(*g)->arena_bytes(32), 32 * 148);
  for (int64_t n : {1, 3, 32}) jit_test::expect_same(jit, *g, jit_test::random_args(*g, n, 5), 0, "N=" + std::to_string(n));
}

// The MLP train step's batch pool is 256 bytes a sample, the most live at
// once: dense's and dense_1's activations (40 -> 48 aligned, 80) with dense_2's
// gradient (48) while dense_1's (80) is computed. First fit gave 320 once the
// loss region also computed the loss gradient (fuse, dab0cb0): that gradient
// and the loss's small buffers left dense_2's gradient too high for dense_1's
// to fit below it.
TEST(Plan, MlpTrainStepBatchPoolIsItsLargestLiveSet) {
  std::unique_ptr<ir::Graph> g = jit_test::mlp_train_step(true);
  EXPECT_EQ(codegen::planned_arena_bytes(*g, 64) - codegen::planned_arena_bytes(*g, 32), 32 * 256);
}

// max_pool2d_grad whose windows tile x writes its result into x's buffer
// when it reads x last (codegen/plan.h, GraphPlan::overwrites): the arena
// holds one x-sized buffer instead of two, the kernel's pointers are not
// noalias, and the results are the interpreter's (ties, NaN, -0; 1 and 2
// threads). When x is read afterwards it keeps its buffer.
TEST(Plan, MaxPoolGradOverwritesTheInputItReadsLast) {
  auto graph = [](bool keep_x) {
    return ir::parse_graph(std::string(R"(func @pool_grad(%a: f32[N,9,8,32], %g: f32[N,4,4,32]) -> (f32[N,4,4,32], f32[N,9,8,32]) {
  %x = relu %a : f32[N,9,8,32]
  %p = max_pool2d %x {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : f32[N,4,4,32]
  %d = max_pool2d_grad %x, %g {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : f32[N,9,8,32]
  %s = )") + (keep_x ? "add %d, %x" : "neg %d") + R"( : f32[N,9,8,32]
  return %p, %s
}
)");
  };
  codegen::Jit jit(no_disk());
  auto shared = jit.compile(*graph(false));
  auto kept = jit.compile(*graph(true));
  const int64_t x_bytes = 9 * 8 * 32 * 4;
  EXPECT_EQ(shared->arena_bytes(1), x_bytes);      // x, then the gradient in its place
  EXPECT_EQ(kept->arena_bytes(1), 2 * x_bytes);    // x and the gradient side by side
  {
    // The kernel's signature, kept a function by KILN_JIT_KERNEL_SYMBOLS:
    // (out = x's buffer, x, g, N, err): the first two are not noalias, g is.
    setenv("KILN_JIT_KERNEL_SYMBOLS", "1", 1);
    codegen::Jit named(no_disk());
    unsetenv("KILN_JIT_KERNEL_SYMBOLS");
    const std::string ir = named.compile(*graph(false))->llvm_ir();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(ir, m, std::regex(R"(define internal void @[^(]*max_pool2d_grad\(([^)]*)\))"))) << ir;
    std::vector<std::string> args;
    std::stringstream list(m[1].str());
    for (std::string a; std::getline(list, a, ',');) args.push_back(a);
    ASSERT_GE(args.size(), 3u) << m[0];
    EXPECT_EQ(args[0].find("noalias"), std::string::npos) << m[0];
    EXPECT_EQ(args[1].find("noalias"), std::string::npos) << m[0];
    EXPECT_NE(args[2].find("noalias"), std::string::npos) << m[0];
    // Without noalias the channel loop still vectorizes (emit_independent_for)
    // and has no scalar fallback: a runtime alias check would find x and the
    // result overlapping and always take the scalar loop.
    const size_t body = ir.find("max_pool2d_grad.par(");
    ASSERT_NE(body, std::string::npos) << "no parallel body for the pool gradient";
    const std::string code = ir.substr(body, ir.find("\n}\n", body) - body);
    EXPECT_TRUE(std::regex_search(code, std::regex(R"(fcmp [a-z]+ <(8|16) x float>)"))) << code;
    EXPECT_FALSE(std::regex_search(code, std::regex(R"(fcmp [a-z]+ float )"))) << code;
  }
  for (auto* prog : {shared.get(), kept.get()}) {
    auto g = graph(prog == kept.get());
    for (int64_t n : {1, 3, 600}) {  // 600: the images split over the threads
      std::vector<Tensor> args = jit_test::random_args(*g, n, 21);
      for (float& v : std::span(args[0].data(), static_cast<size_t>(args[0].size())))  // ties and -0
        v = std::round(v);
      args[0].data()[5] = std::nanf("");
      jit_test::expect_interpreter_bits(*prog, *g, args, "N=" + std::to_string(n));
    }
  }
}

// A max_pool2d_grad read only by the next node, a conv2d_filter_grad, runs
// with it chunk by chunk of images (GraphPlan::chunked): the filter gradient's
// call is in the graph function, accumulating from the second chunk on, and
// the bits are one call's. The chunks go into the first images of the input
// the gradient overwrites (no buffer of their own), or, when that input is
// read later, into a chunk buffer. With the pool gradient read again it runs whole.
TEST(Plan, PoolGradRunsWithTheFilterGradChunkByChunk) {
  enum Variant { kInPlace, kOwnBuffer, kWhole };
  auto graph = [](Variant v) {
    const std::string results = v == kInPlace ? "f32[3,3,3,32]" : "f32[3,3,3,32], f32[N,10,10,32]";
    const std::string returned = v == kInPlace ? "%dw" : v == kOwnBuffer ? "%dw, %r" : "%dw, %dx";
    return ir::parse_graph(R"(func @pool_filter(%x: f32[N,12,12,3], %a: f32[N,10,10,32], %g: f32[N,5,5,32]) -> ()" +
                           results + R"() {
  %r = relu %a : f32[N,10,10,32]
  %dx = max_pool2d_grad %r, %g {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : f32[N,10,10,32]
  %dw = conv2d_filter_grad %x, %dx {filter_shape=[3,3,3,32], strides=[1,1], padding=[0,0,0,0]} : f32[3,3,3,32]
  return )" + returned + R"(
}
)");
  };
  setenv("KILN_JIT_KERNEL_SYMBOLS", "1", 1);
  codegen::Jit jit(no_disk());
  unsetenv("KILN_JIT_KERNEL_SYMBOLS");
  const std::regex call(R"(call void @kiln_rt_conv2d_filter_grad\([^)]*i32 (%[\w.]+|0)\))");
  std::smatch m;
  const int64_t image = 10 * 10 * 32 * 4;  // bytes of one image of r (and of dx)
  for (Variant v : {kInPlace, kOwnBuffer, kWhole}) {
    SCOPED_TRACE(v);
    auto g = graph(v);
    const codegen::GraphPlan plan = codegen::plan_graph(*g);
    EXPECT_EQ(plan.chunked.size(), v == kWhole ? 0u : 1u);
    EXPECT_EQ(plan.overwrites.size(), v == kInPlace ? 1u : 0u);  // a returned dx is computed into its result
    EXPECT_EQ(plan.batch_bytes, v == kOwnBuffer ? 0 : image);  // r in the arena, unless it is a result
    if (v == kOwnBuffer) {
      EXPECT_GE(plan.fixed_bytes, 81 * image);  // the chunk buffer
    }
    auto prog = jit.compile(*g);
    const std::string ir = prog->llvm_ir();
    ASSERT_TRUE(std::regex_search(ir, m, call)) << ir;
    EXPECT_EQ(m[1] == "0", v == kWhole) << m[0];  // accumulate: per chunk, or never
    EXPECT_EQ(std::regex_search(ir, std::regex(R"(define internal void @[\w.]+\.conv2d_filter_grad\()")), v == kWhole)
        << "a kernel of its own";
    for (int64_t n : {1, 81, 200}) {  // 81 images a chunk (1 MB of dx): 1, 1 and 3 chunks
      std::vector<Tensor> args = jit_test::random_args(*g, n, 5);
      for (float& x : std::span(args[1].data(), static_cast<size_t>(args[1].size()))) x = std::round(x);  // ties
      jit_test::expect_interpreter_bits(*prog, *g, args, "N=" + std::to_string(n));
    }
  }
}

// max_pool2d_scatter (the training form of the pool gradient) read only by
// the next conv2d_filter_grad pairs with it like max_pool2d_grad: chunk by
// chunk, into a chunk buffer of its own (it overwrites nothing), the filter
// gradient accumulating; the interpreter's bits at 1, 1 and 3 chunks.
TEST(Plan, ScatterRunsWithTheFilterGradChunkByChunk) {
  auto g = ir::parse_graph(R"(func @scatter_filter(%x: f32[N,12,12,3], %a: f32[N,10,10,32], %g: f32[N,5,5,32]) -> (f32[3,3,3,32], f32[N,5,5,32]) {
  %r = relu %a : f32[N,10,10,32]
  %p, %w = max_pool2d_winners %r {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : (f32[N,5,5,32], u8[N,5,5,32])
  %dx = max_pool2d_scatter %w, %g {input_shape=[N,10,10,32], window=[2,2], strides=[2,2], padding=[0,0,0,0]} : f32[N,10,10,32]
  %dw = conv2d_filter_grad %x, %dx {filter_shape=[3,3,3,32], strides=[1,1], padding=[0,0,0,0]} : f32[3,3,3,32]
  return %dw, %p
}
)");
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  ASSERT_EQ(plan.chunked.size(), 1u);
  EXPECT_EQ((*plan.chunked.begin())->op, ir::OpKind::MaxPool2DScatter);
  EXPECT_TRUE(plan.overwrites.empty());
  const int64_t image = 10 * 10 * 32 * 4;
  EXPECT_EQ(codegen::chunk_images(*(*plan.chunked.begin())), 40);  // 512 KB of dx
  EXPECT_GE(plan.fixed_bytes, 40 * image);                         // the chunk buffer: 40 images of dx, not N
  EXPECT_LT(plan.fixed_bytes, 41 * image);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_TRUE(std::regex_search(prog->llvm_ir(), std::regex(R"(call void @kiln_rt_conv2d_filter_grad\([^)]*i32 %[\w.]+\))")));
  for (int64_t n : {1, 40, 200}) {
    std::vector<Tensor> args = jit_test::random_args(*g, n, 5);
    for (float& x : std::span(args[1].data(), static_cast<size_t>(args[1].size()))) x = std::round(x);  // ties
    jit_test::expect_interpreter_bits(*prog, *g, args, "N=" + std::to_string(n));
  }
}

// In training a conv's result is also kept for the pool's gradient, so the
// pool is no GEMM epilogue; the conv region and the max_pool2d after it run
// chunk by chunk of images (GraphPlan::chunked), the pool reading each chunk
// from cache, with the interpreter's bits. A pool of another tensor does not pair.
TEST(Plan, ConvAndTheNextPoolRunChunkByChunk) {
  auto graph = [](const std::string& pooled) {
    return ir::parse_graph(R"(func @conv_pool(%x: f32[N,12,12,3], %w: f32[3,3,3,32], %b: f32[32], %o: f32[N,10,10,32]) -> (f32[N,5,5,32], f32[N,10,10,32]) {
  %f = fusion %x, %w, %b {kind="contraction"} : f32[N,10,10,32] {
    ^conv.conv_bias_relu(%x: f32[N,12,12,3], %w: f32[3,3,3,32], %b: f32[32]):
    %c = conv2d %x, %w {strides=[1,1], padding=[0,0,0,0]} : f32[N,10,10,32]
    %a = add %c, %b {broadcast_dims=[3]} : f32[N,10,10,32]
    %r = relu %a : f32[N,10,10,32]
    return %r
  }
  %p = max_pool2d )" + pooled + R"( {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : f32[N,5,5,32]
  return %p, %f
}
)");
  };
  EXPECT_EQ(codegen::plan_graph(*graph("%o")).chunked.size(), 0u);
  auto g = graph("%f");
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  ASSERT_EQ(plan.chunked.size(), 1u);
  EXPECT_EQ((*plan.chunked.begin())->op, ir::OpKind::Fusion);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  for (int64_t n : {1, 81, 200})  // 81 images a chunk (1 MB of the conv's result): 1, 1 and 3 chunks
    jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 9), "N=" + std::to_string(n));
}

// A concat of two conv + max_pool2d regions' results is computed in place:
// each region's GEMM stores its pooled images straight into its columns of
// the concat's buffer, and the regions that read the pooled values read them
// there; slices of [N, C] values read only by loop regions are read in place
// too (GraphPlan::views, elided) when their rows are whole 16-float vectors
// (%s1, 128 wide), not when a row's last vector would idle lanes and its
// reader cannot pack rows (%s2, 36 wide, read over [N,3,3,4]): that one
// stays a copy. The bits are the
// interpreter's (1 and 2 threads). A pooled value that is also a result
// keeps its buffer and the concat its copy.
TEST(Plan, ConcatOfPooledConvsAndSlicesAreViews) {
  auto graph = [](bool pooled_is_result) {
    return ir::parse_graph(R"(func @views(%x: f32[N,10,10,1], %w1: f32[3,3,1,8], %b1: f32[8], %w2: f32[5,5,1,4], %b2: f32[4], %d: f32[N,164]) -> (f32[N,164], f32[N,4,4,8], f32[N,3,3,4])" +
                           std::string(pooled_is_result ? ", f32[N,4,4,8]" : "") + R"() {
  %f1, %f1.w = fusion %x, %w1, %b1 {kind="contraction"} : (f32[N,4,4,8], u8[N,4,4,8]) {
    ^c1(%x: f32[N,10,10,1], %w1: f32[3,3,1,8], %b1: f32[8]):
    %c = conv2d %x, %w1 {strides=[1,1], padding=[0,0,0,0]} : f32[N,8,8,8]
    %a = add %c, %b1 {broadcast_dims=[3]} : f32[N,8,8,8]
    %r = relu %a : f32[N,8,8,8]
    %p, %pw = max_pool2d_winners %r {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : (f32[N,4,4,8], u8[N,4,4,8])
    return %p, %pw
  }
  %f2, %f2.w = fusion %x, %w2, %b2 {kind="contraction"} : (f32[N,3,3,4], u8[N,3,3,4]) {
    ^c2(%x: f32[N,10,10,1], %w2: f32[5,5,1,4], %b2: f32[4]):
    %c = conv2d %x, %w2 {strides=[1,1], padding=[0,0,0,0]} : f32[N,6,6,4]
    %a = add %c, %b2 {broadcast_dims=[3]} : f32[N,6,6,4]
    %r = relu %a : f32[N,6,6,4]
    %p, %pw = max_pool2d_winners %r {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : (f32[N,3,3,4], u8[N,3,3,4])
    return %p, %pw
  }
  %r1 = reshape %f1 {shape=[N,128]} : f32[N,128]
  %r2 = reshape %f2 {shape=[N,36]} : f32[N,36]
  %cat = concat %r1, %r2 {axis=1} : f32[N,164]
  %y = fusion %cat, %d {kind="loop"} : f32[N,164] {
    ^y(%cat: f32[N,164], %d: f32[N,164]):
    %m = mul %cat, %d : f32[N,164]
    return %m
  }
  %e = fusion %d {kind="loop"} : f32[N,164] {
    ^e(%d: f32[N,164]):
    %n = neg %d : f32[N,164]
    return %n
  }
  %s1 = slice %d {axis=1, start=0, limit=128} : f32[N,128]
  %s2 = slice %e {axis=-1, start=128, limit=164} : f32[N,36]
  %s1.r = reshape %s1 {shape=[N,4,4,8]} : f32[N,4,4,8]
  %s2.r = reshape %s2 {shape=[N,3,3,4]} : f32[N,3,3,4]
  %g1 = fusion %f1, %s1.r {kind="loop"} : f32[N,4,4,8] {
    ^g1(%f1: f32[N,4,4,8], %s1.r: f32[N,4,4,8]):
    %z = constant {value=0.0, shape=[]} : f32[]
    %k = compare %f1, %z {dir="gt"} : i1[N,4,4,8]
    %zs = constant {value=0.0, shape=[N,4,4,8]} : f32[N,4,4,8]
    %o = select %k, %s1.r, %zs : f32[N,4,4,8]
    return %o
  }
  %g2 = fusion %f2, %s2.r {kind="loop"} : f32[N,3,3,4] {
    ^g2(%f2: f32[N,3,3,4], %s2.r: f32[N,3,3,4]):
    %t = mul %f2, %s2.r : f32[N,3,3,4]
    return %t
  }
  return %y, %g1, %g2)" + std::string(pooled_is_result ? ", %f1" : "") + R"(
}
)");
  };
  auto g = graph(false);
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  std::map<std::string, std::pair<int64_t, int64_t>> views, want{{"f1", {0, 164}},   {"r1", {0, 164}},
                                                                  {"f2", {128, 164}}, {"r2", {128, 164}},
                                                                  {"s1", {0, 164}},   {"s1.r", {0, 164}}};
  for (const auto& [v, view] : plan.views) views[v->name] = {view.offset, view.image};
  EXPECT_EQ(views, want);
  std::set<std::string> elided;
  for (const ir::Node* n : plan.elided) elided.insert(n->results[0]->name);
  EXPECT_EQ(elided, (std::set<std::string>{"cat", "s1"}));
  auto copied = graph(true);
  const codegen::GraphPlan copy_plan = codegen::plan_graph(*copied);
  EXPECT_EQ(copy_plan.elided.size(), 1u);  // the slice %s1 only
  EXPECT_EQ(copy_plan.views.count(g->nodes()[0]->results[0]), 0u);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  auto prog_copied = jit.compile(*copied);
  for (int64_t n : {1, 3, 37}) {
    jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 11), "N=" + std::to_string(n));
    jit_test::expect_interpreter_bits(*prog_copied, *copied, jit_test::random_args(*copied, n, 11),
                                      "pooled returned, N=" + std::to_string(n));
  }
}

// An LSTM step's gate slices, four [N,10] of z's [N,40], are read in place
// by its gate kernel, which packs them (emit_fusion.cpp): 16 rows at a time
// copied together on the stack, then one flat loop of whole vectors (exp and
// tanh on 16 lanes for 16 elements, not per row of 10). A narrow slice read
// by a region that cannot pack it (%b is read per column, broadcast over the
// rows) stays a copy; a slice of a whole vector's width is read in place. The
// bits are the interpreter's with whole blocks of rows, rows left, or both.
TEST(Plan, NarrowSlicesArePackedOrCopied) {
  auto g = ir::parse_graph(kGates);
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  std::set<std::string> views, elided;
  for (const auto& [v, view] : plan.views) views.insert(v->name);
  for (const ir::Node* n : plan.elided) elided.insert(n->results[0]->name);
  const std::set<std::string> want{"z_i", "z_f", "z_g", "z_o", "y1"};
  EXPECT_EQ(views, want);
  EXPECT_EQ(elided, want);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  for (int64_t n : {1, 15, 16, 37})
    jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 17), "N=" + std::to_string(n));
}

// An LSTM backward step's dz is the concat of its gate gradients, results of
// loop regions: each region writes them straight into their columns of the
// concat, an image (row) of 30 apart, here into the graph's result buffer
// (the concat is a result, as dz is a scan body's per-step output), and the
// matmul reads it there. No copy kernel; the bits are the interpreter's.
TEST(Plan, ConcatOfLoopResultsIsComputedInPlace) {
  auto g = ir::parse_graph(kDz);
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  std::map<std::string, std::pair<int64_t, int64_t>> views;
  for (const auto& [v, view] : plan.views) views[v->name] = {view.offset, view.image};
  EXPECT_EQ(views, (std::map<std::string, std::pair<int64_t, int64_t>>{{"f.2", {0, 30}}, {"g", {10, 30}}, {"f.1", {20, 30}}}));
  ASSERT_EQ(plan.elided.size(), 1u);
  EXPECT_EQ((*plan.elided.begin())->results[0]->name, "cat");
  EXPECT_EQ(plan.slots.at(g->results()[2]).kind, codegen::Slot::Result);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  for (int64_t n : {1, 5, 37})
    jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 19), "N=" + std::to_string(n));
}

// A loop region of the entry graph over [N, ...] large enough to pay for the
// hand-off runs ranges of its rows on the threads (emit_fusion.cpp
// emit_loop): plain reads, views read packed or in place, results written
// into a concat's columns. The interpreter's bits on 1 and 2 threads, at
// batches under the threshold and past it (uneven ranges, packed tails).
TEST(FusedRegion, LargeLoopRegionsSplitRowsOverThreads) {
  const int32_t before = kiln_num_threads();
  for (const char* text : {kChain, kGates, kDz}) {
    auto g = ir::parse_graph(text);
    SCOPED_TRACE(g->name);
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    EXPECT_NE(prog->llvm_ir().find(".par.body"), std::string::npos);
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      for (int64_t n : {1, 37, 5001})
        jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 23),
                                          "N=" + std::to_string(n) + ", threads " + std::to_string(threads));
    }
  }
  kiln_set_num_threads(before);
}

// The members after two chained transcendental ops (tanh of c_next, then h)
// run in a second pass over each packed block (emit_fusion.cpp,
// second_pass). A train step's LSTM gates return the gates and c_next as
// well as h (the backward reads them): the second pass reads c_next and o
// back from the results. kGates returns only h: c_next and o go through
// blocks on the stack; its other packed region (one exp) runs in one pass.
// The interpreter's bits with whole blocks of 16 rows, with a tail of rows,
// and with rows split over the threads.
TEST(FusedRegion, PackedGatesRunTheirSecondChainInASecondPass) {
  const std::string train_gates = R"(func @train_gates(%z: f32[N,40], %c: f32[N,10]) -> (f32[N,10], f32[N,10], f32[N,10], f32[N,10], f32[N,10], f32[N,10], f32[N,10]) {
)" + kGateSlices + R"(  %q, %q.1, %q.2, %q.3, %q.4, %q.5, %q.6 = fusion %z_i, %z_f, %z_g, %z_o, %c {kind="loop"} : (f32[N,10], f32[N,10], f32[N,10], f32[N,10], f32[N,10], f32[N,10], f32[N,10]) {
)" + kGateMembers + R"(    return %i, %f, %g, %o, %c_next, %c_act, %h_next
  }
  return %q, %q.1, %q.2, %q.3, %q.4, %q.5, %q.6
}
)";
  const int32_t before = kiln_num_threads();
  struct Case {
    const char* text;
    int64_t two_pass;
  };
  for (const Case& c : {Case{train_gates.c_str(), 1}, Case{kGates, 1}}) {
    auto g = ir::parse_graph(c.text);
    SCOPED_TRACE(g->name);
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    EXPECT_EQ(jit.stats().two_pass_regions, c.two_pass);
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      for (int64_t n : {1, 16, 37, 5001})
        jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 29),
                                          "N=" + std::to_string(n) + ", threads " + std::to_string(threads));
    }
  }
  kiln_set_num_threads(before);
}

// A concat in place holds its whole buffer from its first operand on: here,
// while a large value %p is still live for the second conv, where the copy
// would hold only the first operand then. That arena would be larger, so the
// plan keeps the copy (plan_graph).
TEST(Plan, ConcatStaysACopyWhereViewsWouldGrowTheArena) {
  // %out = conv2d(%in) + bias, relu, max_pool2d: one contraction region.
  auto conv_pool = [](const std::string& out, const std::string& in) {
    return "  %" + out + " = fusion %" + in + R"(, %w, %b {kind="contraction"} : f32[N,4,4,4] {
    ^)" + out + "(%" + in + R"(: f32[N,10,10,16], %w: f32[3,3,16,4], %b: f32[4]):
    %c = conv2d %)" + in + R"(, %w {strides=[1,1], padding=[0,0,0,0]} : f32[N,8,8,4]
    %a = add %c, %b {broadcast_dims=[3]} : f32[N,8,8,4]
    %r = relu %a : f32[N,8,8,4]
    %q = max_pool2d %r {window=[2,2], strides=[2,2], padding=[0,0,0,0]} : f32[N,4,4,4]
    return %q
  }
)";
  };
  auto g = ir::parse_graph(R"(func @grow(%x: f32[N,10,10,16], %w: f32[3,3,16,4], %b: f32[4]) -> (f32[N,128]) {
  %p = fusion %x {kind="loop"} : f32[N,10,10,16] {
    ^p(%x: f32[N,10,10,16]):
    %n = neg %x : f32[N,10,10,16]
    return %n
  }
)" + conv_pool("f1", "p") + conv_pool("f2", "x") + R"(
  %r1 = reshape %f1 {shape=[N,64]} : f32[N,64]
  %r2 = reshape %f2 {shape=[N,64]} : f32[N,64]
  %cat = concat %r1, %r2 {axis=1} : f32[N,128]
  %y = fusion %cat {kind="loop"} : f32[N,128] {
    ^y(%cat: f32[N,128]):
    %m = neg %cat : f32[N,128]
    return %m
  }
  return %y
}
)");
  const codegen::GraphPlan plan = codegen::plan_graph(*g);
  EXPECT_TRUE(plan.views.empty());
  EXPECT_TRUE(plan.elided.empty());
  EXPECT_EQ(plan.batch_bytes, (1600 + 64) * 4);  // %p and %f1; the copy %cat later reuses %p's bytes
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  for (int64_t n : {1, 5})
    jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 13), "N=" + std::to_string(n));
}

// A contraction region's body: matmul, bias, then the unary op `act`.
std::unique_ptr<ir::Graph> dense_region(const std::string& act) {
  return ir::parse_graph(R"(func @dense(%x: f32[N,10], %w: f32[10,40], %b: f32[40]) -> (f32[N,40]) {
  %fusion.dense.matmul_bias_)" + act + R"( = fusion %x, %w, %b {kind="contraction"} : f32[N,40] {
    ^dense.matmul_bias_)" + act + R"((%x: f32[N,10], %w: f32[10,40], %b: f32[40]):
    %m = matmul %x, %w : f32[N,40]
    %a = add %m, %b {broadcast_dims=[1]} : f32[N,40]
    %r = )" + act + R"( %a : f32[N,40]
    return %r
  }
  return %fusion.dense.matmul_bias_)" + act + R"(
}
)");
}

// matmul + bias + relu (sigmoid, tanh) is one GEMM call that applies bias
// and activation to each register tile (runtime/gemm.h): no buffer for the
// product or the sum, and the interpreter's bits.
TEST(FusedRegion, ContractionRegionIsOneGemmWithItsEpilogue) {
  for (const char* act : {"relu", "sigmoid", "tanh"}) {
    SCOPED_TRACE(act);
    auto g = dense_region(act);
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    EXPECT_EQ(jit.stats().fused_regions, 1);
    EXPECT_EQ(jit.stats().unfused_regions, 0);
    EXPECT_EQ(prog->arena_bytes(32), 0);
    std::string ir = prog->llvm_ir();
    EXPECT_EQ(ir.find("kiln.unfused"), std::string::npos);
    EXPECT_TRUE(std::regex_search(ir, std::regex(R"(call void @kiln_rt_matmul\([^\n]*ptr %\w+, ptr null, i32 [123]\))")))
        << ir;
    EXPECT_FALSE(std::regex_search(ir, std::regex(R"(define internal [^@]*@[^(]*\.(add|relu|sigmoid|tanh)\()"))) << ir;
    for (int64_t n : {1, 13, 32}) {
      std::vector<Tensor> args = jit_test::random_args(*g, n, 5);
      EXPECT_TRUE(jit_test::close(prog->run(args)[0], runtime::interpret(*g, args)[0], 0)) << "N=" << n;
    }
  }
}

// A member the epilogue does not cover keeps the body's per-node kernels, and
// says so in JitStats and !kiln.unfused.
TEST(FusedRegion, ContractionRegionBeyondTheEpilogueFallsBackVisibly) {
  auto g = dense_region("exp");
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_EQ(jit.stats().fused_regions, 0);
  EXPECT_EQ(jit.stats().unfused_regions, 1);
  std::string ir = prog->llvm_ir();
  EXPECT_NE(ir.find("dense.fusion.dense.matmul_bias_exp: no GEMM epilogue for %r (exp)"), std::string::npos) << ir;
  std::vector<Tensor> args = jit_test::random_args(*g, 9, 6);
  EXPECT_TRUE(jit_test::close(prog->run(args)[0], runtime::interpret(*g, args)[0], 0));
}

// conv2d + bias + relu + max_pool2d in a region (what fuse makes of a conv
// layer and its pooling in predict): one kiln_rt_conv2d_max_pool call whose
// result is the pooled tensor, the conv's output never in the arena; the
// interpreter's bits (conv, then pooling) with odd sizes (the last conv row
// and column that no window reads), pool padding and strides, on 1 and 2
// threads. With the relu also a region result the pool is no epilogue: the
// body's kernels run and the region counts as unfused. With winners (the
// training form, max_pool2d_winners) the same call also writes the winners.
std::unique_ptr<ir::Graph> conv_pool_region(const std::string& pool, const std::string& pooled, bool relu_escapes,
                                            bool winners = false) {
  const std::string pooled_t = "f32[N," + pooled + ",8]", winners_t = "u8[N," + pooled + ",8]";
  const std::string results = winners ? "%p, %w" : relu_escapes ? "%p, %r" : "%p";
  const std::string types = pooled_t + (winners ? ", " + winners_t : relu_escapes ? ", f32[N,11,11,8]" : "");
  const std::string f = "%fusion.c.conv2d_bias_relu_max_pool2d";
  const std::string outs = relu_escapes || winners ? f + ", " + f + ".1" : f;
  const std::string pool_line = winners ? "%p, %w = max_pool2d_winners %r {" + pool + "} : (" + types + ")"
                                        : "%p = max_pool2d %r {" + pool + "} : " + pooled_t;
  return ir::parse_graph(R"(func @cp(%x: f32[N,13,13,3], %k: f32[3,3,3,8], %b: f32[8]) -> ()" + types + R"() {
  )" + outs + R"( = fusion %x, %k, %b {kind="contraction"} : )" + (relu_escapes || winners ? "(" + types + ")" : types) + R"( {
    ^c.conv2d_bias_relu_max_pool2d(%x: f32[N,13,13,3], %k: f32[3,3,3,8], %b: f32[8]):
    %c = conv2d %x, %k {strides=[1,1], padding=[0,0,0,0]} : f32[N,11,11,8]
    %a = add %c, %b {broadcast_dims=[3]} : f32[N,11,11,8]
    %r = relu %a : f32[N,11,11,8]
    )" + pool_line + R"(
    return )" + results + R"(
  }
  return )" + outs + R"(
}
)");
}

TEST(FusedRegion, ConvReluMaxPoolIsOneCallWithoutTheConvOutput) {
  const int32_t before = kiln_num_threads();
  for (auto [pool, pooled] : {std::pair{"window=[2,2], strides=[2,2], padding=[0,0,0,0]", "5,5"},
                              std::pair{"window=[3,3], strides=[2,2], padding=[1,1,1,1]", "6,6"},
                              std::pair{"window=[2,3], strides=[1,3], padding=[0,0,0,0]", "10,3"}}) {
   for (bool winners : {false, true}) {
    SCOPED_TRACE(std::string(pool) + (winners ? ", winners" : ""));
    auto g = conv_pool_region(pool, pooled, false, winners);
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    EXPECT_EQ(jit.stats().fused_regions, 1);
    EXPECT_EQ(jit.stats().unfused_regions, 0);
    EXPECT_EQ(prog->arena_bytes(32), 0);
    std::string ir = prog->llvm_ir();
    EXPECT_NE(ir.find("call void @kiln_rt_conv2d_max_pool("), std::string::npos) << ir;
    EXPECT_FALSE(std::regex_search(ir, std::regex(R"(define internal [^@]*@[^(]*\.(add|relu|max_pool2d\w*)\()"))) << ir;
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      for (int64_t n : {1, 3, 32}) {
        std::vector<Tensor> args = jit_test::random_args(*g, n, 7);
        args[2].data()[1] = std::nanf("");  // a NaN channel
        args[2].data()[2] = -0.0f;
        args[2].data()[3] = -1e3f;  // a channel of relu's zeros: ties everywhere
        const std::vector<Tensor> got = prog->run(args), want = runtime::interpret(*g, args);
        ASSERT_EQ(got.size(), winners ? 2u : 1u);
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_TRUE(jit_test::close(got[i], want[i], 0)) << "N=" << n << ", " << threads << " threads, result " << i;
      }
    }
   }
  }
  kiln_set_num_threads(before);
}

TEST(FusedRegion, ConvReluReadBeyondThePoolKeepsItsOutput) {
  auto g = conv_pool_region("window=[2,2], strides=[2,2], padding=[0,0,0,0]", "5,5", true);
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_EQ(jit.stats().fused_regions, 0);
  EXPECT_EQ(jit.stats().unfused_regions, 1);
  std::string ir = prog->llvm_ir();
  EXPECT_EQ(ir.find("@kiln_rt_conv2d_max_pool("), std::string::npos) << ir;
  EXPECT_NE(ir.find("no GEMM epilogue for %p (max_pool2d)"), std::string::npos) << ir;
  std::vector<Tensor> args = jit_test::random_args(*g, 4, 8);
  const std::vector<Tensor> got = prog->run(args), want = runtime::interpret(*g, args);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(jit_test::close(got[i], want[i], 0)) << "result " << i;
}

// relu's backward mask as the epilogue of the input-gradient matmul; the
// compare and its constants emit nothing.
TEST(FusedRegion, BackwardMaskIsTheGemmEpilogue) {
  auto g = ir::parse_graph(R"(func @back(%dy: f32[N,40], %w: f32[10,40], %y: f32[N,10]) -> (f32[N,10]) {
  %fusion.grad.matmul_compare_select = fusion %dy, %w, %y {kind="contraction"} : f32[N,10] {
    ^grad.matmul_compare_select(%dy: f32[N,40], %w: f32[10,40], %y: f32[N,10]):
    %g = matmul %dy, %w {transpose_b=true} : f32[N,10]
    %zero = constant {value=0.0, shape=[]} : f32[]
    %pos = compare %y, %zero {dir="gt"} : i1[N,10]
    %zeros = constant {value=0.0, shape=[N,10]} : f32[N,10]
    %dx = select %pos, %g, %zeros : f32[N,10]
    return %dx
  }
  return %fusion.grad.matmul_compare_select
}
)");
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_EQ(jit.stats().fused_regions, 1);
  EXPECT_EQ(prog->arena_bytes(32), 0);
  std::string ir = prog->llvm_ir();
  EXPECT_TRUE(std::regex_search(ir, std::regex(R"(call void @kiln_rt_matmul\([^\n]*ptr null, ptr %\w+, i32 0\))"))) << ir;
  for (int64_t n : {1, 13, 32}) {
    std::vector<Tensor> args = jit_test::random_args(*g, n, 7);
    EXPECT_TRUE(jit_test::close(prog->run(args)[0], runtime::interpret(*g, args)[0], 0)) << "N=" << n;
  }
}

// The asm of each function whose label matches `name` (up to its .Lfunc_end).
std::vector<std::string> asm_functions(const std::string& as, const std::regex& name) {
  std::vector<std::string> out;
  std::regex label(R"((^|\n)([A-Za-z0-9_.$"]+):\n)");
  for (auto it = std::sregex_iterator(as.begin(), as.end(), label); it != std::sregex_iterator(); ++it) {
    std::string l = (*it)[2].str();
    if (l.rfind(".L", 0) == 0 || !std::regex_search(l, name)) continue;
    size_t from = static_cast<size_t>(it->position(0)), to = as.find(".Lfunc_end", from);
    out.push_back(as.substr(from, to == std::string::npos ? std::string::npos : to - from));
  }
  return out;
}

TEST(FusedRegion, MlpTrainStepKernelsAreNamedAndPacked) {
  std::unique_ptr<ir::Graph> g = jit_test::mlp_train_step(true);
  int regions = 0, loops = 0;
  for (const ir::Node* n : g->nodes())
    if (n->op == ir::OpKind::Fusion) {
      ++regions;
      loops += n->attrs.s("kind") != "contraction";
    }
  codegen::Jit jit(no_disk());
  auto prog = jit.compile(*g);
  EXPECT_EQ(codegen::planned_arena_bytes(*g, 32), prog->arena_bytes(32));  // what `kiln ir --stage=optimized` prints
  // Every region is one loop nest or one GEMM with its epilogue (each Dense
  // layer's forward region and its backward mask region): fuse keeps the
  // loss's clip and log after the last layer's sigmoid, and the optimizer's
  // g * g of each kernel gradient, out of contraction regions.
  EXPECT_EQ(jit.stats().unfused_regions, 0);
  EXPECT_EQ(jit.stats().fused_regions + jit.stats().unfused_regions, regions);
  ASSERT_GT(loops, 0);
  // Every fused region is a function named after it, in the IR and in the
  // asm, or one the same as another region's (the optimizer's update of two
  // weights of one size), merged into it and listed in !kiln.merged.
  std::string ir = prog->llvm_ir(), as = prog->asm_text();
  int merged = 0;
  for (const ir::Node* n : g->nodes()) {
    if (n->op != ir::OpKind::Fusion || n->attrs.s("kind") == "contraction") continue;
    std::string fn = g->name + "." + n->results[0]->name;
    const std::string key = "!\"" + fn + " = ";
    if (const size_t at = ir.find(key); at != std::string::npos) {
      ++merged;
      const size_t from = at + key.size();
      fn = ir.substr(from, ir.find('"', from) - from);
    }
    EXPECT_NE(ir.find("void @" + fn + "("), std::string::npos) << fn;
    EXPECT_NE(as.find("\n" + fn + ":\n"), std::string::npos) << fn;
  }
  EXPECT_GT(merged, 0);  // the MLP's Dense layers of one size
  std::vector<std::string> fused = asm_functions(as, std::regex(R"(\.train_step\.fusion\.)"));
  ASSERT_FALSE(fused.empty());
  std::regex packed(R"(\bv(mul|add|sub|div|max|min|cmp\w*|blendm)ps\s+[^\n]*%[yz]mm)");
  int vector_kernels = 0;
  for (const std::string& f : fused) vector_kernels += std::regex_search(f, packed);
  EXPECT_GT(vector_kernels, 0) << "no fused kernel of the MLP train step has packed ymm/zmm float arithmetic";
}

}  // namespace
