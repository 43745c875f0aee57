// DOT export: every parameter, node, result and use appears; Graphviz accepts it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "ir/dot.h"
#include "ir/parser.h"
#include "ir_test_util.h"

using namespace kiln;
using namespace kiln::ir;
using kiln::ir::testing::read_file;
using kiln::ir::testing::sample_files;

namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Dot, ContainsEveryVertexAndEdge) {
  auto g = parse_graph(read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "mlp.kir"));
  std::string dot = to_dot(*g);
  EXPECT_EQ(dot.rfind("digraph G {", 0), 0u) << dot;
  EXPECT_NE(dot.find("label=\"%input_1: f32[N,10]\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"%dense.kernel: f32[10,10]\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"%dense.matmul = matmul : f32[N,10]\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"%dense.bias_add = add {broadcast_dims=[1]} : f32[N,10]\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"%dense = relu : f32[N,10]\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"return 0: f32[N,10]\""), std::string::npos) << dot;
  // Vertices: 3 params, 3 nodes, 1 result; edges: 2 + 2 + 1 uses + 1 return.
  EXPECT_EQ(count(dot, "[label="), 7u) << dot;
  EXPECT_EQ(count(dot, "->"), 6u) << dot;
  EXPECT_NE(dot.find("0->3"), std::string::npos) << dot;  // %input_1 -> matmul
  EXPECT_NE(dot.find("5->6"), std::string::npos) << dot;  // relu -> return
}

TEST(Dot, RegionsAreSummarisedAndMultiResultEdgesLabelled) {
  auto g = parse_graph(read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "scan_lstm.kir"));
  std::string dot = to_dot(*g);
  EXPECT_NE(dot.find("%lstm.h, %lstm.c, %lstm.seq = scan {num_carry=2, num_seq=1} : "), std::string::npos) << dot;
  EXPECT_NE(dot.find("\\n^lstm.step: 6 params, 17 nodes"), std::string::npos) << dot;
  EXPECT_NE(dot.find("[label=\"%lstm.seq\"]"), std::string::npos) << dot;
}

TEST(Dot, QuotesAreEscaped) {
  auto g = parse_graph(read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "quoted_names.kir"));
  std::string dot = to_dot(*g);
  EXPECT_NE(dot.find("label=\"%\\\"input image\\\": f32[N,4]\""), std::string::npos) << dot;
}

TEST(Dot, GraphvizAcceptsEverySample) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) GTEST_SKIP() << "graphviz `dot` is not installed";
  for (const auto& path : sample_files()) {
    Module m = parse_module(read_file(path), path.string());
    for (const auto& f : m.funcs) {
      FILE* p = popen("dot -Tsvg >/dev/null 2>&1", "w");
      ASSERT_NE(p, nullptr);
      std::string dot = to_dot(*f);
      fwrite(dot.data(), 1, dot.size(), p);
      EXPECT_EQ(pclose(p), 0) << path << "\n" << dot;
    }
  }
}

}  // namespace
