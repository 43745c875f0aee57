// Every op: JIT == interpreter on random data, at batch 1, odd sizes that are
// not multiples of the vector width, and large sizes. The .kir sample of each
// op (tests/data/ir/ops) runs as is; a generated sweep covers each elementwise
// op on every dtype it accepts and on broadcast layouts. A final test walks the
// op table and fails for any op that none of these graphs contains.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "ir/parser.h"
#include "runtime/gemm.h"
#include "runtime/thread_pool.h"
#include "jit_test_util.h"

using namespace kiln;
using jit_test::expect_same;

namespace {

codegen::Jit& jit() {
  static codegen::Jit j(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  return j;
}

std::set<ir::OpKind>& covered() {
  static std::set<ir::OpKind> s;
  return s;
}

void note_ops(const ir::Graph& g) {
  for (const ir::Node* n : g.nodes()) {
    covered().insert(n->op);
    if (n->body) note_ops(*n->body);
  }
}

// Batch sizes: 1, odd, and large (smaller for the heavy conv samples).
std::vector<int64_t> batches(const ir::Graph& g) {
  int64_t per_sample = 0;
  for (const ir::Value* p : g.params()) per_sample = std::max(per_sample, p->type.static_elements());
  if (per_sample > 4096) return {1, 3};
  return {1, 7, 257};
}

void check_graph(const ir::Graph& g, const std::string& what, double rel = 0) {
  note_ops(g);
  uint32_t seed = 1;
  for (int64_t b : batches(g))
    expect_same(jit(), g, jit_test::random_args(g, b, seed++), rel, what + " at N=" + std::to_string(b));
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OpSample : public ::testing::TestWithParam<std::string> {};

TEST_P(OpSample, JitMatchesInterpreter) {
  ir::Module m = ir::parse_module(read(GetParam()), GetParam());
  for (const auto& f : m.funcs) check_graph(*f, GetParam() + " @" + f->name);
}

std::vector<std::string> samples() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(KILN_TEST_DATA) + "/ir/ops"))
    if (e.path().extension() == ".kir") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Samples, OpSample, ::testing::ValuesIn(samples()), [](const auto& info) {
  std::string s = std::filesystem::path(info.param).stem().string();
  for (char& c : s)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
});

// Elementwise ops over dtypes and layouts, built as text.
std::string func(const std::string& params, const std::string& body, const std::string& ret_type,
                 const std::string& ret = "%y") {
  return "func @t(" + params + ") -> (" + ret_type + ") {\n" + body + "  return " + ret + "\n}\n";
}

TEST(JitSweep, UnaryOnEveryDtypeAndSize) {
  const char* f32_ops[] = {"neg", "abs", "sign", "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu"};
  const char* i32_ops[] = {"neg", "abs", "sign"};
  for (const char* shape : {"f32[N]", "f32[N,13]", "f32[3,N,5]"}) {
    for (const char* op : f32_ops) {
      std::string t = shape;
      check_graph(*ir::parse_graph(func("%x: " + t, "  %y = " + std::string(op) + " %x : " + t + "\n", t)),
                  std::string(op) + " " + t);
    }
    for (const char* op : i32_ops) {
      std::string t = "i32" + std::string(shape).substr(3);
      check_graph(*ir::parse_graph(func("%x: " + t, "  %y = " + std::string(op) + " %x : " + t + "\n", t)),
                  std::string(op) + " " + t);
    }
  }
  for (const char* from : {"f32", "i32", "i1"})
    for (const char* to : {"f32", "i32", "i1"}) {
      std::string ft = std::string(from) + "[N,9]", tt = std::string(to) + "[N,9]";
      check_graph(
          *ir::parse_graph(func("%x: " + ft, "  %y = convert %x {dtype=" + std::string(to) + "} : " + tt + "\n", tt)),
          "convert " + ft + " -> " + tt);
    }
}

TEST(JitSweep, BinaryOnEveryDtypeAndLayout) {
  struct Layout {
    const char *a, *b, *attrs;
  };
  // same shape; rank-0 on either side; broadcast_dims onto a middle and a leading dim.
  Layout layouts[] = {{"[N,11]", "[N,11]", ""},
                      {"[N,11]", "[]", ""},
                      {"[N,3,11]", "[3]", " {broadcast_dims=[1]}"},
                      {"[5,N,2]", "[5]", " {broadcast_dims=[0]}"},
                      {"[N,4,6]", "[N,6]", " {broadcast_dims=[0,2]}"}};
  for (const Layout& l : layouts)
    for (const char* dt : {"f32", "i32"})
      for (const char* op : {"add", "sub", "mul", "div", "max", "min", "pow"}) {
        std::string a = std::string(dt) + l.a, b = std::string(dt) + l.b;
        check_graph(*ir::parse_graph(func("%a: " + a + ", %b: " + b,
                                          "  %y = " + std::string(op) + " %a, %b" + l.attrs + " : " + a + "\n", a)),
                    std::string(op) + " " + a + " " + b);
      }
  for (const char* dt : {"f32", "i32", "i1"})
    for (const char* dir : {"eq", "ne", "lt", "le", "gt", "ge"}) {
      std::string a = std::string(dt) + "[N,3,7]", b = std::string(dt) + "[7]";
      check_graph(*ir::parse_graph(
                      func("%a: " + a + ", %b: " + b,
                           "  %y = compare %a, %b {dir=\"" + std::string(dir) + "\", broadcast_dims=[2]} : i1[N,3,7]\n",
                           "i1[N,3,7]")),
                  std::string("compare ") + dir + " " + a);
    }
  // A scalar lhs with a tensor rhs.
  check_graph(*ir::parse_graph(func("%a: f32[], %b: f32[N,5]", "  %y = sub %a, %b : f32[N,5]\n", "f32[N,5]")),
              "sub scalar - tensor");
}

TEST(JitSweep, LargeElementwiseAndReductions) {
  // Large enough for many vector iterations plus a remainder.
  check_graph(*ir::parse_graph(func("%a: f32[N,1031], %b: f32[1031]",
                                    "  %z = mul %a, %b {broadcast_dims=[1]} : f32[N,1031]\n"
                                    "  %y = reduce_sum %z {axes=[0]} : f32[1031]\n",
                                    "f32[1031]")),
              "mul + reduce over the batch");
  check_graph(*ir::parse_graph(func("%a: i32[N,3,17]", "  %y = reduce_sum %a {axes=[0,2]} : i32[3]\n", "i32[3]")),
              "i32 reduce_sum");
  check_graph(*ir::parse_graph(func("%a: i32[N,3,17]", "  %y = reduce_max %a {axes=[1]} : i32[N,17]\n", "i32[N,17]")),
              "i32 reduce_max");
  check_graph(*ir::parse_graph(func("%a: i32[N,17]", "  %y = argmax %a {axis=1} : i32[N]\n", "i32[N]")), "i32 argmax");
}

// Sums and means of a constant fill (a mean's gradient counts its rows as
// reduce_sum of ones) are value x count in the JIT (emit_layout.cpp
// emit_constant_sum): the interpreter's bits for values whose repeated sum
// rounds nowhere, -0.0, infinities, NaN, a denormal and the largest float,
// over the batch, with kept dims, and over a static axis only.
TEST(JitSweep, SumsOfConstantFillsAreExact) {
  const char* values[] = {"1.0", "-0.0", "0.1", "-3.75", "1e-45", "3.4028234663852886e38", "inf", "-inf", "nan"};
  for (const char* v : values) {
    const std::string fill = std::string("  %c = constant {value=") + v;
    const std::pair<std::string, std::string> graphs[] = {
        {fill + ", shape=[N]} : f32[N]\n  %y = reduce_sum %c {axes=[0]} : f32[]\n", "f32[]"},
        {fill + ", shape=[N,7]} : f32[N,7]\n  %y = reduce_mean %c {axes=[0]} : f32[7]\n", "f32[7]"},
        {fill + ", shape=[3,N,5]} : f32[3,N,5]\n  %y = reduce_sum %c {axes=[0,1,2]} : f32[]\n", "f32[]"},
        {fill + ", shape=[N,6,5]} : f32[N,6,5]\n  %y = reduce_mean %c {axes=[1]} : f32[N,5]\n", "f32[N,5]"},
    };
    for (const auto& [body, type] : graphs)
      check_graph(*ir::parse_graph(func("%x: f32[N]", body, type)), std::string("value ") + v + ": " + body);
  }
}

// Layout copies large enough to split their outer dim over the threads
// (codegen/emit_layout.cpp copy): transposes (an LSTM's [T,N,C] steps to
// [N,T,C] and back; a 4-d permutation whose rows are single elements), a
// slice, a concat, a broadcast and a pad. The same copies of a static size
// below the split threshold (a weight's transpose, a concat of weight
// gradients) never go over the threads, so they get no outlined body
// (emit_parallel_for). The interpreter's bits on 1 and 2 threads, at batches
// below the split and well above it.
TEST(JitSweep, CopiesSplitOverThreadsOnlyWhenLarge) {
  struct Case {
    const char *params, *body, *result;
    bool split;
  };
  const Case cases[] = {
      {"%a: f32[100,N,10]", "%y = transpose %a {perm=[1,0,2]}", "f32[N,100,10]", true},
      {"%a: f32[N,100,10]", "%y = transpose %a {perm=[1,0,2]}", "f32[100,N,10]", true},
      {"%a: f32[N,9,13,7]", "%y = transpose %a {perm=[0,3,1,2]}", "f32[N,7,9,13]", true},
      {"%a: f32[N,3000]", "%y = slice %a {axis=1, start=1000, limit=2999}", "f32[N,1999]", true},
      {"%a: f32[N,1500], %b: f32[N,700]", "%y = concat %a, %b {axis=1}", "f32[N,2200]", true},
      {"%a: f32[N,5]", "%y = broadcast %a {shape=[N,300,5], dims=[0,2]}", "f32[N,300,5]", true},
      {"%a: f32[N,40,50]", "%y = pad %a {axis=1, low=3, high=2}", "f32[N,45,50]", true},
      {"%a: f32[40,10]", "%y = transpose %a {perm=[1,0]}", "f32[10,40]", false},
      {"%a: f32[10,20], %b: f32[10,20]", "%y = concat %a, %b {axis=1}", "f32[10,40]", false},
  };
  const int32_t before = kiln_num_threads();
  for (const Case& c : cases) {
    auto g = ir::parse_graph(func(c.params, std::string("  ") + c.body + " : " + c.result + "\n", c.result));
    note_ops(*g);
    auto prog = jit().compile(*g);
    if (c.split)
      EXPECT_NE(prog->llvm_ir().find(".par.body"), std::string::npos) << c.body;
    else
      EXPECT_EQ(prog->llvm_ir().find(".par"), std::string::npos) << c.body;
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      for (int64_t n : {1, 37, 300})
        jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 3),
                                          std::string(c.body) + " N=" + std::to_string(n));
    }
  }
  kiln_set_num_threads(before);
}

// Matmuls small enough to be emitted inline (codegen/emit_small_matmul.cpp):
// every transpose combination, rows of c 1 to 64 floats wide (and 65: too wide,
// the runtime GEMM), K static or the batch, a folded 3-d lhs; at N=257 the
// largest ones exceed the inline limit and take the runtime GEMM. Bitwise
// against the interpreter (the runtime GEMM), and inline where it should be.
TEST(JitSweep, SmallMatmulsInlineBitwise) {
  struct Case {
    const char *a, *b, *attrs, *y;
    bool inline_at_compile;  // the kernel has an inline FMA path
  };
  const Case cases[] = {
      {"f32[N,10]", "f32[10,40]", "", "f32[N,40]", true},
      {"f32[N,1]", "f32[1,40]", "", "f32[N,40]", true},
      {"f32[N,10]", "f32[10,1]", "", "f32[N,1]", true},
      {"f32[N,33]", "f32[33,64]", "", "f32[N,64]", true},
      {"f32[N,33]", "f32[33,65]", "", "f32[N,65]", false},
      {"f32[N,512]", "f32[512,40]", "", "f32[N,40]", true},
      {"f32[N,3,7]", "f32[7,21]", "", "f32[N,3,21]", true},
      {"f32[N,40]", "f32[10,40]", " {transpose_b=true}", "f32[N,10]", true},
      {"f32[N,1]", "f32[10,1]", " {transpose_b=true}", "f32[N,10]", true},
      {"f32[N,10]", "f32[N,40]", " {transpose_a=true}", "f32[10,40]", true},
      {"f32[N,1]", "f32[N,40]", " {transpose_a=true}", "f32[1,40]", true},
      {"f32[7,10]", "f32[23,7]", " {transpose_a=true, transpose_b=true}", "f32[10,23]", true},
      {"f32[N,5]", "f32[N,7]", " {transpose_a=true, transpose_b=false}", "f32[5,7]", true},
  };
  const bool fma = std::string(kiln_gemm_isa()) != "generic";
  for (const Case& c : cases) {
    std::string what = std::string("matmul ") + c.a + " x " + c.b + c.attrs;
    auto g = ir::parse_graph(func("%a: " + std::string(c.a) + ", %b: " + c.b,
                                  "  %y = matmul %a, %b" + std::string(c.attrs) + " : " + c.y + "\n", c.y));
    check_graph(*g, what);
    std::string ir = jit().compile(*g)->llvm_ir();
    EXPECT_EQ(ir.find("@llvm.fma.") != std::string::npos, fma && c.inline_at_compile) << what;
  }
}

// Matmuls whose k crosses the GEMM's sum blocks (runtime/gemm.h,
// KILN_GEMM_K_BLOCK): one step short of a block, one block, one over, many
// blocks with a short last one, the shared_input head's 41344; rows of c as
// one masked vector (10, 3: several blocks at once, rows read in periods),
// wider (17, 40), b transposed, and k the batch (a^T: a weight gradient). The
// JIT (inline or runtime GEMM, by size) gives the interpreter's bits on 1 and
// 2 threads at 1, 3 and 32 rows, and a row's bits do not depend on the rows
// beside it.
TEST(JitSweep, LongKMatmulsSumInBlocks) {
  const int64_t bk = KILN_GEMM_K_BLOCK;
  auto dims = [](std::initializer_list<int64_t> d, bool batch) {
    std::string s = batch ? "f32[N" : "f32[";
    for (int64_t x : d) s += (s.back() == '[' ? "" : ",") + std::to_string(x);
    return s + "]";
  };
  struct Case {
    std::string a, b, attrs, y;
    std::vector<int64_t> batches;
  };
  std::vector<Case> cases;
  for (int64_t kd : {bk - 1, bk, bk + 1, 16 * bk + 3})
    for (int64_t p : {10, 3, 17, 40})
      cases.push_back({dims({kd}, true), dims({kd, p}, false), "", dims({p}, true), {1, 3, 32}});
  cases.push_back({dims({41344}, true), dims({41344, 10}, false), "", dims({10}, true), {1, 3}});
  cases.push_back({dims({bk + 1}, true), dims({10, bk + 1}, false), " {transpose_b=true}", dims({10}, true), {1, 3, 32}});
  cases.push_back({dims({6}, true), dims({10}, true), " {transpose_a=true}", "f32[6,10]", {bk - 1, bk + 1, 9 * bk + 5}});
  const int32_t before = kiln_num_threads();
  for (const Case& c : cases) {
    const std::string what = "matmul " + c.a + " x " + c.b + c.attrs;
    auto g = ir::parse_graph(func("%a: " + c.a + ", %b: " + c.b, "  %y = matmul %a, %b" + c.attrs + " : " + c.y + "\n", c.y));
    note_ops(*g);
    auto prog = jit().compile(*g);
    uint32_t seed = 5;
    for (int64_t n : c.batches) {
      SCOPED_TRACE(what + " at N=" + std::to_string(n));
      const std::vector<Tensor> args = jit_test::random_args(*g, n, seed++);
      jit_test::expect_interpreter_bits(*prog, *g, args, what);
      if (c.attrs.find("transpose_a") != std::string::npos || n == 1) continue;
      // Row 0 alone: the bits it has among n rows.
      Tensor row = Tensor::zeros(g->params()[0]->type.concrete(1), ir::DType::f32);
      std::copy(args[0].data(), args[0].data() + row.size(), row.data());
      const Tensor all = prog->run(args)[0], one = prog->run({row, args[1]})[0];
      EXPECT_EQ(std::memcmp(all.data(), one.data(), static_cast<size_t>(one.size()) * sizeof(float)), 0) << what;
    }
  }
  kiln_set_num_threads(before);
}

// Pooling inputs full of ties, zeros of both signs and NaNs: the winner rule
// (first maximum in row-major window order, NaN wins) must match exactly.
std::vector<Tensor> tie_heavy_args(const ir::Graph& g, int64_t batch, uint32_t seed) {
  std::vector<Tensor> args = jit_test::random_args(g, batch, seed);
  std::mt19937 rng(seed);
  const float pool[] = {-1.0f, -0.0f, 0.0f, 1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN()};
  for (Tensor& t : args)
    for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = pool[rng() % 6];
  return args;
}

// max_pool2d and its gradient, and max_pool2d_winners and the scatter of dy
// by its winners, over the geometries the JIT lowers differently:
// windows that tile the input exactly or with uncovered rows/columns (the
// unrolled paths), overlapping and gapped strides, padding, and a window too
// large to unroll (the generic loops); odd channel counts.
TEST(JitSweep, MaxPoolGeometries) {
  struct Geo {
    int64_t h, w, c, kh, kw, sh, sw, pt, pb, pl, pr;
  };
  const Geo geos[] = {
      {8, 8, 3, 2, 2, 2, 2, 0, 0, 0, 0},  {7, 9, 17, 2, 2, 2, 2, 0, 0, 0, 0}, {9, 7, 5, 3, 2, 3, 2, 0, 0, 0, 0},
      {7, 7, 4, 3, 3, 2, 2, 0, 0, 0, 0},  {9, 9, 2, 2, 2, 3, 3, 0, 0, 0, 0},  {6, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1},
      {11, 10, 2, 5, 5, 1, 2, 0, 0, 0, 0}, {5, 5, 1, 1, 1, 1, 1, 0, 0, 0, 0},
  };
  for (const Geo& q : geos) {
    const int64_t oh = (q.h + q.pt + q.pb - q.kh) / q.sh + 1, ow = (q.w + q.pl + q.pr - q.kw) / q.sw + 1;
    auto dims = [](int64_t a, int64_t b, int64_t c) {
      return "f32[N," + std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(c) + "]";
    };
    const std::string xt = dims(q.h, q.w, q.c), yt = dims(oh, ow, q.c);
    auto list = [](std::initializer_list<int64_t> v) {
      std::string s;
      for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
      return "[" + s + "]";
    };
    const std::string attrs = "{window=" + list({q.kh, q.kw}) + ", strides=" + list({q.sh, q.sw}) +
                              ", padding=" + list({q.pt, q.pb, q.pl, q.pr}) + "}";
    auto fwd = ir::parse_graph(func("%x: " + xt, "  %y = max_pool2d %x " + attrs + " : " + yt + "\n", yt));
    auto bwd = ir::parse_graph(
        func("%x: " + xt + ", %dy: " + yt, "  %y = max_pool2d_grad %x, %dy " + attrs + " : " + xt + "\n", xt));
    const std::string wt = "u8" + yt.substr(3);
    auto winners = ir::parse_graph(func("%x: " + xt, "  %y, %w = max_pool2d_winners %x " + attrs + " : (" + yt +
                                                         ", " + wt + ")\n",
                                        yt + ", " + wt, "%y, %w"));
    const std::string scatter_attrs = attrs.substr(0, attrs.size() - 1) + ", input_shape=" + xt.substr(3) + "}";
    auto scatter = ir::parse_graph(func("%x: " + xt + ", %dy: " + yt,
                                        "  %y, %w = max_pool2d_winners %x " + attrs + " : (" + yt + ", " + wt +
                                            ")\n  %d = max_pool2d_scatter %w, %dy " + scatter_attrs + " : " + xt + "\n",
                                        xt, "%d"));
    for (const ir::Graph* g : {fwd.get(), bwd.get(), winners.get(), scatter.get()}) {
      check_graph(*g, "max pool " + attrs + " on " + xt);
      for (int64_t b : {1, 5})
        expect_same(jit(), *g, tie_heavy_args(*g, b, static_cast<uint32_t>(b)), 0,
                    "max pool with ties and NaN " + attrs + " on " + xt + " at N=" + std::to_string(b));
    }
  }
}

// Every op in the table appears in some graph above: the samples (run by
// OpSample) and the sweeps (run before this test in this file's order).
TEST(JitZCoverage, EveryOpHasACase) {
  for (const std::string& path : samples())
    for (const auto& f : ir::parse_module(read(path), path).funcs) note_ops(*f);
  for (int i = 0; i < ir::kNumOps; ++i) {
    auto op = static_cast<ir::OpKind>(i);
    EXPECT_TRUE(covered().count(op)) << "no JIT test runs op " << ir::op_name(op);
  }
}

}  // namespace
