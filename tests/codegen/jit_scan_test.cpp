// Scans whose rows are independent (codegen/scan_rows.h) run ranges of rows
// over the thread pool, each range the whole sequence: which scans qualify,
// and that the results are the interpreter's bit for bit for any batch size
// and thread count (hand-written scans, and the recurrent models' train steps).
#include <cstring>
#include <functional>

#include "codegen/plan.h"
#include "codegen/rt_kernels.h"
#include "codegen/scan_rows.h"
#include "ir/parser.h"
#include "jit_test_util.h"
#include "kiln/kiln.h"
#include "passes/pipelines.h"
#include "runtime/thread_pool.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;

namespace {

codegen::JitOptions no_disk() { return codegen::JitOptions{.cache_dir = "", .disk_cache = false}; }

// A recurrent step over x: f32[T,N,3] with carries h, c: f32[N,8] and the
// invariants w: f32[3,16], u: f32[8,16], b: f32[16]; `extra` is spliced into
// the body before its return (it may redefine %h_next), `carry2` is c's next value.
std::string step_scan(const std::string& extra, const std::string& carry2 = "%c_next") {
  return R"(func @rec(%x: f32[40,N,3], %h0: f32[N,8], %w: f32[3,16], %u: f32[8,16], %b: f32[16]) -> (f32[N,8], f32[N,8], f32[40,N,8]) {
  %h, %c, %hs = scan %h0, %h0, %x, %w, %u, %b {num_carry=2, num_seq=1} : (f32[N,8], f32[N,8], f32[40,N,8]) {
    ^step(%h: f32[N,8], %c: f32[N,8], %x_t: f32[N,3], %w: f32[3,16], %u: f32[8,16], %b: f32[16]):
    %xw = matmul %x_t, %w : f32[N,16]
    %hu = matmul %h, %u : f32[N,16]
    %z = add %xw, %hu : f32[N,16]
    %zb = add %z, %b {broadcast_dims=[1]} : f32[N,16]
    %zi = slice %zb {axis=1, start=0, limit=8} : f32[N,8]
    %zg = slice %zb {axis=1, start=8, limit=16} : f32[N,8]
    %i = sigmoid %zi : f32[N,8]
    %g = tanh %zg : f32[N,8]
    %ig = mul %i, %g : f32[N,8]
    %c_next = add %c, %ig : f32[N,8]
    %h_next = tanh %c_next : f32[N,8]
)" + extra + "    return %h_next, " + carry2 + R"(, %h
  }
  return %h, %c, %hs
}
)";
}

// The layer names of a model's inputs or outputs (what a task's data is keyed by).
std::vector<std::string> names_of(const std::vector<KerasTensor>& ts) {
  std::vector<std::string> ns;
  for (const KerasTensor& t : ts) ns.push_back(t.layer().name());
  return ns;
}

// What the "jit" backend compiles: the train-step pipeline's result on a copy.
std::unique_ptr<ir::Graph> optimized_train_step(const ir::Graph& g) {
  std::unique_ptr<ir::Graph> o = g.clone();
  passes::PassOptions opts;
  opts.verify_each = true;
  passes::optimize(*o, passes::Pipeline::TrainStep, opts);
  return o;
}

// The scan node of a one-scan graph.
const ir::Node& scan_of(const ir::Graph& g) {
  for (const ir::Node* n : g.nodes())
    if (n->op == ir::OpKind::Scan) return *n;
  throw Error("no scan");
}

}  // namespace

TEST(ScanRows, WhichScansKeepRowsApart) {
  struct Case {
    const char* what;
    std::string extra;
    bool independent;
  };
  const Case cases[] = {
      {"LSTM-like step", "", true},
      {"row reduction", "    %s = reduce_sum %h_next {axes=[1]} : f32[N]\n"
                        "    %sb = broadcast %s {shape=[N,8], dims=[0]} : f32[N,8]\n"
                        "    %h_next.1 = add %h_next, %sb : f32[N,8]\n", true},
      {"row-major reshape", "    %r = reshape %h_next {shape=[N,2,4]} : f32[N,2,4]\n"
                            "    %t = transpose %r {perm=[0,2,1]} : f32[N,4,2]\n", true},
      {"sum over the rows", "    %s = reduce_sum %h_next {axes=[0]} : f32[8]\n"
                            "    %h_next.1 = add %h_next, %s {broadcast_dims=[1]} : f32[N,8]\n", false},
      {"rows on the right of a product",
       "    %p = matmul %h_next, %h_next {transpose_a=true} : f32[8,8]\n", false},
      {"rows moved off dim 0", "    %t = transpose %h_next {perm=[1,0]} : f32[8,N]\n", false},
      {"rows folded into N*k", "    %r = reshape %h_next {shape=[N*8]} : f32[N*8]\n", false},
      {"iota over the rows", "    %io = iota {shape=[N,8], axis=0} : i32[N,8]\n", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string extra = c.extra;
    std::string h_next = "%h_next";
    if (extra.find("%h_next.1") != std::string::npos) h_next = "%h_next.1";
    std::string text = step_scan(extra);
    if (h_next != "%h_next") text.replace(text.find("return %h_next,"), 15, "return " + h_next + ",");
    auto g = ir::parse_graph(text);
    EXPECT_EQ(codegen::scan_rows_independent(scan_of(*g)), c.independent);
  }
}

// A row-independent scan runs its rows apart when the work is large (a
// parallel body in the module), a row-mixing one as one loop, and both equal
// the interpreter bit for bit on 1 and 2 threads, for row counts that split
// evenly, unevenly and not at all.
TEST(ScanRows, RowRangesGiveTheInterpretersBits) {
  const std::string mixing =
      "    %s = reduce_sum %h_next {axes=[0]} : f32[8]\n"
      "    %h_next.1 = add %h_next, %s {broadcast_dims=[1]} : f32[N,8]\n";
  for (bool independent : {true, false}) {
    std::string text = step_scan(independent ? "" : mixing);
    if (!independent) text.replace(text.find("return %h_next,"), 15, "return %h_next.1,");
    auto g = ir::parse_graph(text);
    SCOPED_TRACE(independent ? "independent" : "mixing");
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    EXPECT_EQ(prog->llvm_ir().find(".par.body") != std::string::npos, independent);
    for (int64_t n : {1, 2, 37, 128, 300})
      jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 7), "N=" + std::to_string(n));
  }
}

// A carry the body also returns per step (%h here, an LSTM's saved h) lives
// in that output's slots (codegen emit_scan_rows): forward and reverse, rows
// apart or not, the interpreter's bits.
TEST(ScanRows, CarryReturnedPerStepLivesInItsOutput) {
  const std::string mixing =
      "    %s = reduce_sum %h_next {axes=[0]} : f32[8]\n"
      "    %h_next.1 = add %h_next, %s {broadcast_dims=[1]} : f32[N,8]\n";
  for (bool reverse : {false, true})
    for (bool independent : {true, false}) {
      std::string text = step_scan(independent ? "" : mixing);
      if (!independent) text.replace(text.find("return %h_next,"), 15, "return %h_next.1,");
      if (reverse) text.replace(text.find("num_seq=1}"), 10, "num_seq=1, reverse=true}");
      auto g = ir::parse_graph(text);
      SCOPED_TRACE(std::string(reverse ? "reverse " : "forward ") + (independent ? "independent" : "mixing"));
      codegen::Jit jit(no_disk());
      auto prog = jit.compile(*g);
      for (int64_t n : {1, 37, 300})
        jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 9), "N=" + std::to_string(n));
    }
}

// The recurrent models' optimized train steps (their forward scans and
// their backward dh/dc scans split their rows over the threads; the two
// column blocks of each backward's weight-gradient sums run side by side)
// give the interpreter's bytes on 1 and 2 threads at a batch that splits
// unevenly (300 rows: four blocks of 64 and one of 44, emit_scan) and at
// which the sums' blocks go to both threads.
TEST(ScanRows, RecurrentTrainStepsSameBytesForOneAndTwoThreads) {
  constexpr int64_t kRows = 300;
  for (const std::string name : {"rnn", "multi_output"}) {
    SCOPED_TRACE(name);
    set_seed(5);
    Model model = zoo::build(name);
    zoo::Task task = zoo::synthetic_task(name, kRows, 2);
    CompileOptions opts = task.compile;
    opts.backend = "interpreter";
    model.compile(opts);
    const StepGraphs& sg = model.step_graphs(task.y);
    std::vector<Tensor> args = task.x.resolve(names_of(model.inputs()), "input", name);
    std::vector<Tensor> ys = task.y.resolve(names_of(model.outputs()), "target", name);
    args.insert(args.end(), ys.begin(), ys.end());
    std::vector<Tensor> w = model.get_weights();
    args.insert(args.end(), w.begin(), w.end());
    for (size_t i = 0; i < sg.state_types.size(); ++i)
      args.push_back(Tensor::full(sg.state_types[i].shape, static_cast<float>(sg.state_init[i])));
    args.push_back(Tensor::full({}, 0.01f));
    // Every LSTM's forward scan and its backward's dh/dc scan (passes/split_scan.h) keep rows apart.
    std::unique_ptr<ir::Graph> opt = optimized_train_step(*sg.train_step);
    // Per LSTM: the forward scan; the backward's chunk scan holding the dh/dc
    // scan and the weight-gradient scans of two column blocks, siblings
    // (codegen::sibling_end) that weigh enough to split at this batch.
    int scans = 0, apart = 0, siblings = 0;
    std::function<void(const ir::Graph&)> count = [&](const ir::Graph& g) {
      for (size_t i = 0; i < g.nodes().size(); ++i) {
        const ir::Node* n = g.nodes()[i];
        if (n->op != ir::OpKind::Scan) continue;
        ++scans;
        apart += codegen::scan_rows_independent(*n);
        count(*n->body);
        if (codegen::sibling_end(g, i) != i + 2) continue;
        ++siblings;
        const ir::Node* next = g.nodes()[i + 1];
        const size_t nc = static_cast<size_t>(n->attrs.i("num_carry"));
        const int64_t steps = n->operands[nc]->type.shape[0];
        EXPECT_GE(2 * steps * kRows * std::max(codegen::scan_row_bytes(*n), codegen::scan_row_bytes(*next)),
                  codegen::kRtParallelBytes);
      }
    };
    count(*opt);
    const int lstms = name == "rnn" ? 1 : 2;
    EXPECT_EQ(scans, 5 * lstms);
    EXPECT_EQ(apart, 2 * lstms);
    EXPECT_EQ(siblings, lstms);
    codegen::Jit jit(no_disk());
    auto train = jit.compile(*opt);
    EXPECT_NE(train->llvm_ir().find(".par.body"), std::string::npos);
    std::vector<Tensor> want = runtime::interpret(*sg.train_step, args);
    const int32_t before = kiln_num_threads();
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      std::vector<Tensor> got = train->run(args);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_TRUE(jit_test::close(got[i], want[i], 0)) << "threads " << threads << ", result " << i;
    }
    kiln_set_num_threads(before);
  }
}

// How emit_scan splits the recurrent models' row-independent scans
// (codegen::scan_split): at batch 256 every one of them, the forward scans
// and the backward's dh/dc scans, weighs enough work to go over the threads
// (the dh/dc scan plans no scratch of its own, and weighed by that it never
// split); at batch 32 the stack-returning ones are one block and stay on the
// calling thread.
TEST(ScanRows, RecurrentTrainScansSplitAtBatch256) {
  for (const std::string name : {"rnn", "shared_feature", "multi_output"}) {
    SCOPED_TRACE(name);
    Model model = zoo::build(name);
    zoo::Task task = zoo::synthetic_task(name, 4, 2);
    CompileOptions opts = task.compile;
    opts.backend = "interpreter";
    model.compile(opts);
    std::unique_ptr<ir::Graph> opt = optimized_train_step(*model.step_graphs(task.y).train_step);
    int split = 0;
    std::function<void(const ir::Graph&)> check = [&](const ir::Graph& g) {
      for (const ir::Node* n : g.nodes()) {
        if (n->op != ir::OpKind::Scan) continue;
        check(*n->body);
        if (!codegen::scan_rows_independent(*n)) continue;
        const size_t nc = static_cast<size_t>(n->attrs.i("num_carry"));
        const int64_t steps = n->operands[nc]->type.shape[0];  // both have sequences
        const codegen::ScanSplit s = codegen::scan_split(*n);
        const auto blocks = [&](int64_t batch) { return (batch + s.row_block - 1) / s.row_block; };
        SCOPED_TRACE(n->results[0]->name);
        EXPECT_GE(blocks(256), 2);
        EXPECT_GE(blocks(256) * steps * s.step_bytes, codegen::kRtParallelBytes);
        if (n->results.size() > nc) {
          EXPECT_EQ(blocks(32), 1);
        }
        ++split;
      }
    };
    check(*opt);
    EXPECT_EQ(split, name == "multi_output" ? 4 : 2);
  }
}

// A predict's LSTM scans (rnn's and shared_feature's return their carries,
// multi_output's first its output sequence, one forward stack, read by rows
// by the next layer) take 16-row blocks and split over the threads at batch
// 32 already (scan_split); a train step's keep 64 (above).
TEST(ScanRows, RecurrentPredictScansSplitAtBatch32) {
  for (const std::string name : {"rnn", "shared_feature", "multi_output"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<ir::Graph> g = zoo::build(name).forward_ir();
    passes::optimize(*g, passes::Pipeline::Predict);
    int split = 0;
    for (const ir::Node* n : g->nodes()) {
      if (n->op != ir::OpKind::Scan || !codegen::scan_rows_independent(*n)) continue;
      SCOPED_TRACE(n->results[0]->name);
      const int64_t steps = n->operands[static_cast<size_t>(n->attrs.i("num_carry"))]->type.shape[0];
      const codegen::ScanSplit s = codegen::scan_split(*n);
      EXPECT_EQ(s.row_block, 16);
      EXPECT_GE(2 * steps * s.step_bytes, codegen::kRtParallelBytes);
      ++split;
    }
    EXPECT_EQ(split, name == "multi_output" ? 2 : 1);
  }
}

// A carry its body updates in place (a loop region reads it last, at the
// point it writes: acc + g) lives in the scan's result alone, with no
// ping-pong pair (codegen::plan_scan_body); a carry read after its update
// keeps its pair. A scan in a body is such an updater of its carry's initial
// value, so the outer scan's carry is in place too; and an entry's scan may
// update a parameter in place (here with its rows apart over the threads).
// Every way, the interpreter's bits for several batch sizes on 1 and 2 threads.
TEST(Plan, ScanCarryUpdatedInPlaceLivesInItsResult) {
  const std::string step = R"(
    %fusion.a = fusion %a, %x_t {kind="loop"} : f32[N,8] {
      ^a(%a: f32[N,8], %x_t: f32[N,8]):
      %s = add %a, %x_t : f32[N,8]
      return %s
    }
    %y = mul %a, %x_t : f32[N,8]
    %g = matmul %x_t, %x_t {transpose_a=true} : f32[8,8]
    %fusion.w = fusion %w, %g {kind="loop"} : f32[8,8] {
      ^w(%w: f32[8,8], %g: f32[8,8]):
      %t = add %w, %g : f32[8,8]
      return %t
    }
)";
  auto flat = ir::parse_graph(R"(func @sums(%x: f32[6,N,8], %a0: f32[N,8], %w0: f32[8,8]) -> (f32[N,8], f32[8,8], f32[6,N,8]) {
  %a, %w, %ys = scan %a0, %w0, %x {num_carry=2, num_seq=1, reverse=true} : (f32[N,8], f32[8,8], f32[6,N,8]) {
    ^step(%a: f32[N,8], %w: f32[8,8], %x_t: f32[N,8]):)" + step + R"(
    return %fusion.a, %fusion.w, %y
  }
  return %a, %w, %ys
}
)");
  const ir::Node& scan = scan_of(*flat);
  EXPECT_EQ(codegen::plan_scan_body(scan).updates, (std::vector<codegen::ParamUpdate>{{1, 1}}));
  const std::vector<codegen::Sym> scratch = codegen::scratch_needs(scan);
  ASSERT_GE(scratch.size(), 4u);
  EXPECT_EQ(scratch[0], (codegen::Sym{32, true}));  // %a's pair: %y reads it after its update
  EXPECT_EQ(scratch[1], (codegen::Sym{32, true}));
  EXPECT_EQ(scratch[2], codegen::Sym{});  // %w: in its result
  EXPECT_EQ(scratch[3], codegen::Sym{});

  // The same steps in chunks of 3: the outer carry %w goes through the inner scan.
  auto nested = ir::parse_graph(R"(func @chunks(%x: f32[2,3,N,8], %a0: f32[N,8], %w0: f32[8,8]) -> (f32[N,8], f32[8,8], f32[2,3,N,8]) {
  %a, %w, %ys = scan %a0, %w0, %x {num_carry=2, num_seq=1} : (f32[N,8], f32[8,8], f32[2,3,N,8]) {
    ^chunk(%a: f32[N,8], %w: f32[8,8], %x_c: f32[3,N,8]):
    %ia, %iw, %iys = scan %a, %w, %x_c {num_carry=2, num_seq=1} : (f32[N,8], f32[8,8], f32[3,N,8]) {
      ^step(%a: f32[N,8], %w: f32[8,8], %x_t: f32[N,8]):)" + step + R"(
      return %fusion.a, %fusion.w, %y
    }
    return %ia, %iw, %iys
  }
  return %a, %w, %ys
}
)");
  EXPECT_EQ(codegen::plan_scan_body(scan_of(*nested)).updates, (std::vector<codegen::ParamUpdate>{{0, 0}, {1, 1}}));

  // Rows apart: an entry's scan whose carry starts as parameter %h0.
  auto entry = ir::parse_graph(R"(func @rows(%x: f32[6,N,8], %h0: f32[N,8]) -> (f32[N,8], f32[6,N,8]) {
  %h, %hs = scan %h0, %x {num_carry=1, num_seq=1} : (f32[N,8], f32[6,N,8]) {
    ^step(%h: f32[N,8], %x_t: f32[N,8]):
    %fusion.h = fusion %h, %x_t {kind="loop"} : f32[N,8] {
      ^h(%h: f32[N,8], %x_t: f32[N,8]):
      %m = mul %h, %x_t : f32[N,8]
      %s = add %m, %x_t : f32[N,8]
      return %s
    }
    %e = exp %fusion.h : f32[N,8]
    return %fusion.h, %e
  }
  return %h, %hs
}
)");
  EXPECT_EQ(codegen::plan_graph(*entry, true).updates, (std::vector<codegen::ParamUpdate>{{1, 0}}));
  EXPECT_EQ(codegen::plan_scan_body(scan_of(*entry)).updates, (std::vector<codegen::ParamUpdate>{{0, 0}}));
  EXPECT_TRUE(codegen::scan_rows_independent(scan_of(*entry)));

  for (const ir::Graph* g : {flat.get(), nested.get(), entry.get()}) {
    SCOPED_TRACE(g->name);
    codegen::Jit jit(no_disk());
    auto prog = jit.compile(*g);
    if (g == entry.get()) {
      EXPECT_NE(prog->llvm_ir().find(".par.body"), std::string::npos);  // rows apart
    }
    for (int64_t n : {1, 37, 3000})
      jit_test::expect_interpreter_bits(*prog, *g, jit_test::random_args(*g, n, 11), "N=" + std::to_string(n));
  }
}
