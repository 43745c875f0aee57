// Shape rules and the node builder: result types for good operands, clear
// errors for bad ones.
#include <gtest/gtest.h>

#include "ir/graph.h"

using namespace kiln;
using namespace kiln::ir;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ShapeRules, DenseOnBatch) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 10}));
  Value* w = g.add_param("w", f32({10, 20}));
  Value* b = g.add_param("b", f32({20}));
  Value* y = g.add(OpKind::Matmul, {x, w});
  EXPECT_EQ(y->type.to_string(), "f32[N,20]");
  Value* z = g.add(OpKind::Add, {y, b}, {{"broadcast_dims", std::vector<int64_t>{1}}});
  EXPECT_EQ(z->type, y->type);
}

TEST(ShapeRules, MatmulOnRank4ActsOnLastAxis) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 13, 13, 16}));
  Value* w = g.add_param("w", f32({16, 10}));
  EXPECT_EQ(g.add(OpKind::Matmul, {x, w})->type.to_string(), "f32[N,13,13,10]");
}

TEST(ShapeRules, MatmulMismatchNamesBothTypes) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 10}));
  Value* w = g.add_param("w", f32({20, 5}));
  std::string e = error_of([&] { g.add(OpKind::Matmul, {x, w}); });
  EXPECT_NE(e.find("f32[N,10] x f32[20,5]"), std::string::npos) << e;
}

TEST(ShapeRules, ConvAndPool) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 64, 64, 1}));
  Value* w = g.add_param("w", f32({4, 4, 1, 32}));
  AttrMap conv{{"strides", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{0, 0, 0, 0}}};
  Value* c = g.add(OpKind::Conv2D, {x, w}, conv);
  EXPECT_EQ(c->type.to_string(), "f32[N,61,61,32]");
  AttrMap pool{{"window", std::vector<int64_t>{2, 2}},
               {"strides", std::vector<int64_t>{2, 2}},
               {"padding", std::vector<int64_t>{0, 0, 0, 0}}};
  Value* p = g.add(OpKind::MaxPool2D, {c}, pool);
  EXPECT_EQ(p->type.to_string(), "f32[N,30,30,32]");
  Value* gp = g.add(OpKind::MaxPool2DGrad, {c, p}, pool);
  EXPECT_EQ(gp->type, c->type);
  AttrMap ig = conv;
  ig.set("input_shape", std::vector<int64_t>{kBatch, 64, 64, 1});
  EXPECT_EQ(g.add(OpKind::Conv2DInputGrad, {c, w}, ig)->type, x->type);
  AttrMap fg = conv;
  fg.set("filter_shape", std::vector<int64_t>{4, 4, 1, 32});
  EXPECT_EQ(g.add(OpKind::Conv2DFilterGrad, {x, c}, fg)->type, w->type);
}

TEST(ShapeRules, ConvTooLargeKernelIsNegativeOutput) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 3, 3, 1}));
  Value* w = g.add_param("w", f32({4, 4, 1, 2}));
  AttrMap conv{{"strides", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{0, 0, 0, 0}}};
  std::string e = error_of([&] { g.add(OpKind::Conv2D, {x, w}, conv); });
  EXPECT_NE(e.find("negative"), std::string::npos) << e;
}

TEST(ShapeRules, ScanStacksOutputs) {
  auto body = std::make_unique<Graph>("body");
  Value* h = body->add_param("h", f32({kBatch, 4}));
  Value* xt = body->add_param("x", f32({kBatch, 4}));
  Value* h2 = body->add(OpKind::Add, {h, xt});
  body->set_results({h2, h2});
  Graph g("t");
  Value* h0 = g.add_param("h0", f32({kBatch, 4}));
  Value* xs = g.add_param("xs", f32({7, kBatch, 4}));
  Node* n = g.add_node(OpKind::Scan, {h0, xs}, {{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}}, std::move(body));
  ASSERT_EQ(n->results.size(), 2u);
  EXPECT_EQ(n->results[0]->type.to_string(), "f32[N,4]");
  EXPECT_EQ(n->results[1]->type.to_string(), "f32[7,N,4]");
}

TEST(ShapeRules, UnknownAndMissingAttributes) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 4}));
  EXPECT_NE(error_of([&] { g.add(OpKind::Reshape, {x}); }).find("missing required attribute 'shape'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { g.add(OpKind::Relu, {x}, {{"bogus", int64_t{1}}}); }).find("unknown attribute"),
            std::string::npos);
}

TEST(Graph, NamesAreUnique) {
  Graph g("t");
  Value* a = g.add_param("x", f32({2}));
  Value* b = g.add(OpKind::Relu, {a}, {}, "x");
  EXPECT_EQ(b->name, "x_1");
  Value* c = g.add(OpKind::Relu, {b});
  EXPECT_EQ(c->name, "0");
  auto copy = g.clone();
  EXPECT_EQ(copy->nodes().size(), 2u);
  EXPECT_EQ(copy->find("x_1")->type, b->type);
}

}  // namespace

namespace {
TEST(ShapeRules, BatchDimWithFactorReshapes) {
  Graph g("t");
  Value* x = g.add_param("x", f32({kBatch, 13, 13, 16}));
  Value* r = g.add(OpKind::Reshape, {x}, {{"shape", std::vector<int64_t>{batch_dim(169), 16}}});
  EXPECT_EQ(r->type.to_string(), "f32[N*169,16]");
  EXPECT_EQ(r->type.elements(2), 2 * 13 * 13 * 16);
  EXPECT_EQ(r->type.concrete(3), (Dims{507, 16}));
  EXPECT_THROW(g.add(OpKind::Reshape, {x}, {{"shape", std::vector<int64_t>{batch_dim(13), 16}}}), Error);
}
}  // namespace
