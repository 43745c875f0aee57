// The text form: every sample in tests/data/ir/ops parses, verifies and prints
// back byte for byte; every op of ops.def appears in some sample.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "ir_test_util.h"

using namespace kiln;
using namespace kiln::ir;
using kiln::ir::testing::read_file;
using kiln::ir::testing::sample_files;

namespace {

void collect_ops(const Graph& g, std::set<OpKind>& ops) {
  for (const Node* n : g.nodes()) {
    ops.insert(n->op);
    if (n->body) collect_ops(*n->body, ops);
  }
}

TEST(TextForm, SamplesRoundTripByteForByte) {
  auto files = sample_files();
  ASSERT_GE(files.size(), static_cast<size_t>(kNumOps));
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    std::string text = read_file(path);
    Module m = parse_module(text, path.string());
    ASSERT_FALSE(m.funcs.empty());
    EXPECT_NO_THROW(verify(m));
    std::string printed = to_string(m);
    EXPECT_EQ(printed, text);
    Module again = parse_module(printed, "<printed>");
    EXPECT_EQ(to_string(again), printed);
    if (m.funcs.size() == 1) {
      auto g = parse_graph(text, path.string());
      EXPECT_EQ(to_string(*g), text);
    }
  }
}

TEST(TextForm, EveryOpHasASample) {
  std::set<OpKind> used;
  for (const auto& path : sample_files()) {
    Module m = parse_module(read_file(path), path.string());
    for (const auto& f : m.funcs) collect_ops(*f, used);
  }
  for (int k = 0; k < kNumOps; ++k) {
    auto op = static_cast<OpKind>(k);
    EXPECT_TRUE(used.count(op)) << "no sample in tests/data/ir/ops uses op '" << op_name(op) << "'";
  }
}

TEST(TextForm, SpecExampleReadsAsDocumented) {
  Graph g("mlp.forward");
  Value* x = g.add_param("input_1", f32({kBatch, 10}));
  Value* k = g.add_param("dense.kernel", f32({10, 10}));
  Value* b = g.add_param("dense.bias", f32({10}));
  Value* mm = g.add(OpKind::Matmul, {x, k}, {}, "dense.matmul");
  Value* ba = g.add(OpKind::Add, {mm, b}, {{"broadcast_dims", std::vector<int64_t>{1}}}, "dense.bias_add");
  Value* r = g.add(OpKind::Relu, {ba}, {}, "dense");
  g.set_results({r});
  EXPECT_EQ(to_string(g), read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "mlp.kir"));
}

TEST(TextForm, BuiltGraphWithAwkwardNamesRoundTrips) {
  auto body = std::make_unique<Graph>("");
  Value* h = body->add_param("h in", f32({kBatch, 4}));
  Value* xt = body->add_param("x\n", f32({kBatch, 4}));
  Value* h2 = body->add(OpKind::Add, {h, xt});
  body->set_results({h2, h2});
  Graph g("");
  Value* h0 = g.add_param("h0", f32({kBatch, 4}));
  Value* xs = g.add_param("\"xs\"", f32({7, kBatch, 4}));
  Node* n = g.add_node(OpKind::Scan, {h0, xs}, {{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}}, std::move(body),
                       {"state"});
  g.set_results(n->results);
  std::string text = to_string(g);
  EXPECT_NE(text.find("^\"\"("), std::string::npos) << text;
  EXPECT_NE(text.find("%state, %state.1 = scan"), std::string::npos) << text;
  EXPECT_NE(text.find("%\"\\\"xs\\\"\""), std::string::npos) << text;
  auto back = parse_graph(text);
  EXPECT_EQ(to_string(*back), text);
  EXPECT_EQ(back->nodes()[0]->body->params()[1]->name, "x\n");
}

TEST(TextForm, FloatsAreShortestAndRoundTrip) {
  EXPECT_EQ(format_float(1.0), "1.0");
  EXPECT_EQ(format_float(-0.5), "-0.5");
  EXPECT_EQ(format_float(1e-7), "1e-07");
  EXPECT_EQ(format_float(100.0), "100.0");
  EXPECT_EQ(format_float(-0.0), "-0.0");
  EXPECT_EQ(format_float(1.0 / 0.0), "inf");
  EXPECT_EQ(format_float(-1.0 / 0.0), "-inf");
  for (double v : {0.1, 1.0 / 3, 6.02214076e23, 5e-324, 1.7976931348623157e308, -2.5e-10}) {
    Graph g("f");
    g.set_results({g.add(OpKind::Constant, {}, {{"value", v}, {"shape", std::vector<int64_t>{}}})});
    auto back = parse_graph(to_string(g));
    EXPECT_EQ(back->nodes()[0]->attrs.f("value"), v) << format_float(v);
  }
}

TEST(TextForm, ParsedValuesCarryTheirNamesAndTypes) {
  auto g = parse_graph(read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "reshape.kir"));
  Value* rows = g->find("rows");
  ASSERT_NE(rows, nullptr);
  EXPECT_EQ(rows->type.shape, (Dims{batch_dim(169), 16}));
  EXPECT_EQ(g->results().size(), 2u);
  EXPECT_EQ(g->params()[0]->name, "x");
}

TEST(TextForm, ModuleAndGraphEntryPoints) {
  std::string two = read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "module.kir");
  Module m = parse_module(two);
  ASSERT_EQ(m.funcs.size(), 3u);
  EXPECT_NE(m.find("model.loss"), nullptr);
  EXPECT_THROW(parse_graph(two), ParseError);
  EXPECT_TRUE(parse_module("").funcs.empty());
  EXPECT_THROW(parse_graph(""), ParseError);
  EXPECT_EQ(to_string(parse_module("// a comment\nfunc @f() -> () { return }")), "func @f() -> () {\n  return\n}\n");
}

}  // namespace
