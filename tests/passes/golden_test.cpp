// Golden .kir tests for autodiff: the gradient graph of a small forward graph,
// read from tests/data/passes/<name>.input.kir, printed and compared with
// <name>.grad.kir byte for byte. KILN_UPDATE_GOLDEN=1 rewrites the expected files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"

using namespace kiln;
using namespace kiln::ir;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_golden(const std::string& name, const std::vector<int>& wrt) {
  std::string dir = std::string(KILN_TEST_DATA) + "/passes/";
  std::string input = read(dir + name + ".input.kir");
  ASSERT_FALSE(input.empty()) << "missing " << dir << name << ".input.kir";
  std::unique_ptr<Graph> g = parse_graph(input, name + ".input.kir");
  std::unique_ptr<Graph> dg = passes::autodiff(*g, wrt);
  verify(*dg);
  std::string got = to_string(*dg);
  std::string path = dir + name + ".grad.kir";
  if (std::getenv("KILN_UPDATE_GOLDEN")) std::ofstream(path) << got;
  EXPECT_EQ(got, read(path)) << "golden " << path << " differs (KILN_UPDATE_GOLDEN=1 rewrites it)";
  EXPECT_EQ(to_string(*parse_graph(got, path)), got);  // the gradient graph round-trips
}

TEST(AutodiffGolden, DenseSigmoidMse) { check_golden("dense_mse", {2, 3}); }
TEST(AutodiffGolden, ConvPoolDense) { check_golden("conv_pool", {1, 2}); }
TEST(AutodiffGolden, Rnn) { check_golden("rnn", {0, 2, 3}); }

}  // namespace
