// Golden .kir tests for autodiff: the gradient graph of a small forward graph,
// read from tests/data/passes/<name>.input.kir, printed and compared with
// <name>.grad.kir byte for byte (KILN_UPDATE_GOLDEN=1 rewrites the expected
// files); and every sample of the IR suite differentiated against finite
// differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "gradcheck.h"
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

// Every single-function sample of the IR suite (tests/data/ir/ops/*.kir, one
// per op plus scans: LSTM, nested, reverse) is differentiated w.r.t. all of its
// f32 parameters and checked against finite differences (the small ones: at
// most 1000 argument and result elements), with inputs drawn in
// [0.5, 1.5] (positive, for log/sqrt/pow/div, away from relu/abs kinks).
TEST(AutodiffSamples, IrSuiteSamplesMatchFiniteDifferences) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(KILN_TEST_DATA) / "ir" / "ops";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present";
  int checked = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".kir") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::unique_ptr<Graph> g;
    try {
      g = parse_graph(read(f.string()), f.filename().string());
    } catch (const Error&) {
      continue;  // a module of several functions
    }
    if (g->results().empty() || g->results()[0]->type.dtype != DType::f32) continue;
    std::vector<int> wrt;
    std::vector<Tensor> args;
    kiln::testing::Rand rng(17);
    for (const Value* p : g->params()) {
      if (p->type.dtype == DType::f32) {
        wrt.push_back(p->index);
        args.push_back(rng.uniform(p->type.concrete(2), 0.5f, 1.5f));
      } else {
        args.push_back(Tensor::zeros(p->type.concrete(2), p->type.dtype));
      }
    }
    // Finite differences need small tensors: a large sum drowns the f32 loss's
    // changes in rounding, and each input element costs two runs.
    int64_t elements = 0;
    for (const Tensor& a : args) elements += a.size();
    for (const Value* r : g->results()) elements += r->type.elements(2);
    if (wrt.empty() || elements > 1000) continue;
    SCOPED_TRACE(f.filename().string());
    kiln::testing::weighted_sum_loss(*g, g->results()[0], args, rng);
    kiln::testing::check_gradients(*g, args, wrt);
    ++checked;
  }
  EXPECT_GE(checked, 25);
  std::cout << checked << " samples checked\n";
}
