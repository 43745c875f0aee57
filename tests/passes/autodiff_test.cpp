// autodiff beyond single ops: fan-out, broadcast reduction, pruning, the API
// contract (names, zeros, errors), tie and mean conventions, and end-to-end
// gradient checks of a small MLP and a small LSTM (scan) against finite
// differences, plus scan's IR size being independent of the sequence length.
#include <gtest/gtest.h>

#include <algorithm>

#include "gradcheck.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "runtime/interpreter.h"

using namespace kiln;
using namespace kiln::ir;
using namespace kiln::testing;

namespace {

int count_op(const Graph& g, OpKind k) {
  int n = 0;
  for (const Node* node : g.nodes()) {
    n += node->op == k;
    if (node->body) n += count_op(*node->body, k);
  }
  return n;
}

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

TEST(Autodiff, FanOutAccumulatesWithAdd) {
  Graph g("fanout");
  Value* x = g.add_param("x", f32({kBatch, 3}));
  Builder b(g);
  Value* y = b.add(b.add(b.mul(x, x), b.unary(OpKind::Exp, x)), b.unary(OpKind::Tanh, x));
  Rand rng(1);
  std::vector<Tensor> args{rng.uniform({2, 3}, -1, 1)};
  weighted_sum_loss(g, y, args, rng);
  check_gradients(g, args, {0});
  auto dg = passes::autodiff(g, {0});
  Value* gx = dg->results().back();
  EXPECT_EQ(gx->name, "grad.x");
  ASSERT_FALSE(gx->is_param());
  EXPECT_EQ(gx->def->op, OpKind::Add);
}

TEST(Autodiff, BroadcastOperandGetsSummedGradient) {
  // loss = sum((x + bias) * w)  =>  d/dbias = sum over the batch of w.
  Graph g("bias");
  Value* x = g.add_param("x", f32({kBatch, 3}));
  Value* bias = g.add_param("bias", f32({3}));
  Value* w = g.add_param("w", f32({kBatch, 3}));
  Builder b(g);
  g.set_results({b.reduce_all(OpKind::ReduceSum, b.mul(b.binary(OpKind::Add, x, bias, Dims{1}), w))});
  auto dg = passes::autodiff(g, {1});
  verify(*dg);
  Tensor wt({4, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  auto out = runtime::interpret(*dg, {Tensor::zeros({4, 3}), Tensor::zeros({3}), wt});
  EXPECT_EQ(values(out[1]), (std::vector<float>{22, 26, 30}));
  EXPECT_EQ(dg->results()[1]->def->op, OpKind::ReduceSum);
}

TEST(Autodiff, PrunesWhatTheLossDoesNotNeed) {
  Graph g("prune");
  Value* x = g.add_param("x", f32({kBatch, 4}));
  Value* w = g.add_param("w", f32({4, 3}));
  Builder b(g);
  Value* loss = b.reduce_all(OpKind::ReduceSum, b.unary(OpKind::Tanh, b.matmul(x, w)), "loss");
  Value* other = b.unary(OpKind::Exp, b.unary(OpKind::Sigmoid, w), "other");  // not in the loss
  g.set_results({loss, other});
  int fwd = static_cast<int>(g.nodes().size());

  auto dw = passes::autodiff(g, {1});
  verify(*dw);
  // tanh' (mul, sub, const, mul) + dW = x^T dy (one matmul) + seed + reduce_sum's broadcast.
  EXPECT_EQ(count_op(*dw, OpKind::Matmul), 2) << to_string(*dw);  // no gradient for x
  EXPECT_EQ(count_op(*dw, OpKind::Exp), 1);                       // `other` is not differentiated
  EXPECT_EQ(count_op(*dw, OpKind::Sigmoid), 1);
  int with_w = static_cast<int>(dw->nodes().size()) - fwd;

  auto dx = passes::autodiff(g, {0});
  EXPECT_EQ(count_op(*dx, OpKind::Matmul), 2);
  EXPECT_EQ(static_cast<int>(dx->nodes().size()) - fwd, with_w);

  auto both = passes::autodiff(g, {0, 1});
  EXPECT_EQ(count_op(*both, OpKind::Matmul), 3);
  EXPECT_EQ(both->results().size(), 4u);
}

TEST(Autodiff, KeepsParamsAndNamesGradients) {
  Graph g("mlp.forward");
  Value* x = g.add_param("x", f32({kBatch, 4}));
  Value* k = g.add_param("dense.kernel", f32({4, 2}));
  Value* bias = g.add_param("dense.bias", f32({2}));
  Builder b(g, "dense.");
  Value* y = b.unary(OpKind::Relu, b.binary(OpKind::Add, b.matmul(x, k), bias, Dims{1}, "bias_add"), "relu");
  Builder l(g);
  g.set_results({l.reduce_all(OpKind::ReduceMean, y, "loss"), y});
  auto dg = passes::autodiff(g, {1, 2});
  verify(*dg);
  ASSERT_EQ(dg->params().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(dg->params()[i]->name, g.params()[i]->name);
    EXPECT_EQ(dg->params()[i]->type, g.params()[i]->type);
  }
  ASSERT_EQ(dg->results().size(), 4u);
  EXPECT_EQ(dg->results()[2]->name, "grad.dense.kernel");
  EXPECT_EQ(dg->results()[3]->name, "grad.dense.bias");
  EXPECT_EQ(dg->results()[2]->type, k->type);
  // Backward nodes follow the forward ones, all named grad.*.
  for (size_t i = g.nodes().size(); i < dg->nodes().size(); ++i)
    for (const Value* r : dg->nodes()[i]->results) EXPECT_EQ(r->name.rfind("grad.", 0), 0u) << r->name;
}

TEST(Autodiff, ZeroGradientWhenTheLossDoesNotDependOnAParam) {
  Graph g("indep");
  Value* x = g.add_param("x", f32({kBatch, 3}));
  g.add_param("unused", f32({kBatch, 2}));
  g.add_param("count", TensorType(DType::i32, {3}));
  Builder b(g);
  g.set_results({b.reduce_all(OpKind::ReduceSum, x)});
  auto dg = passes::autodiff(g, {1, 2, 0});
  verify(*dg);
  Value* du = dg->results()[1];
  ASSERT_FALSE(du->is_param());
  EXPECT_EQ(du->def->op, OpKind::Constant);
  EXPECT_EQ(du->type, f32({kBatch, 2}));
  EXPECT_EQ(du->name, "grad.unused");
  EXPECT_EQ(dg->results()[2]->type, TensorType(DType::i32, {3}));
  auto out =
      runtime::interpret(*dg, {Tensor::full({5, 3}, 1), Tensor::full({5, 2}, 1), Tensor::from_i32({3}, {1, 2, 3})});
  EXPECT_EQ(out[1].shape(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(values(out[1]), std::vector<float>(10, 0.0f));
  EXPECT_EQ(values(out[3]), std::vector<float>(15, 1.0f));
}

TEST(Autodiff, LossMustBeARank0F32) {
  Graph g("bad");
  Value* x = g.add_param("x", f32({3}));
  Builder b(g);
  g.set_results({b.unary(OpKind::Exp, x), b.reduce_all(OpKind::ReduceSum, x)});
  try {
    passes::autodiff(g, {0}, 0);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[3]"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(passes::autodiff(g, {0}, 1));
  EXPECT_THROW(passes::autodiff(g, {0}, 2), Error);
  EXPECT_THROW(passes::autodiff(g, {1}, 1), Error);
}

TEST(Autodiff, TieConventions) {
  Graph g("ties");
  Value* x = g.add_param("x", f32({4}));
  Value* a = g.add_param("a", f32({3}));
  Value* c = g.add_param("c", f32({3}));
  Builder b(g);
  // reduce_max splits dy among ties; max gives ties to its lhs; min too.
  Value* l1 = b.reduce_max(x, {0});
  Value* l2 = b.reduce_all(OpKind::ReduceSum, b.max(a, c));
  Value* l3 = b.reduce_all(OpKind::ReduceSum, b.mul(b.min(a, c), b.constant(10.0)));
  g.set_results({b.add(b.add(l1, l2), l3)});
  auto dg = passes::autodiff(g, {0, 1, 2});
  verify(*dg);
  auto out = runtime::interpret(*dg, {Tensor({4}, {1, 3, 3, 2}), Tensor({3}, {1, 5, 2}), Tensor({3}, {1, 4, 3})});
  EXPECT_EQ(values(out[1]), (std::vector<float>{0, 0.5f, 0.5f, 0}));
  EXPECT_EQ(values(out[2]), (std::vector<float>{11, 1, 10}));  // a: max tie + min tie, max, min
  EXPECT_EQ(values(out[3]), (std::vector<float>{0, 10, 1}));
}

TEST(Autodiff, MeanOverTheBatchDividesByTheRuntimeBatchSize) {
  Graph g("mean");
  Value* x = g.add_param("x", f32({kBatch, 2}));
  Builder b(g);
  g.set_results({b.reduce_all(OpKind::ReduceMean, x)});
  auto dg = passes::autodiff(g, {0});
  verify(*dg);
  for (int64_t n : {2, 5}) {
    auto out = runtime::interpret(*dg, {Tensor::full({n, 2}, 3)});
    EXPECT_EQ(values(out[1]), std::vector<float>(static_cast<size_t>(2 * n), 1.0f / static_cast<float>(2 * n)));
  }
}

// A 2-layer MLP with a softmax cross-entropy loss averaged over the batch.
TEST(Autodiff, MlpEndToEnd) {
  Graph g("mlp");
  Value* x = g.add_param("x", f32({kBatch, 4}));
  Value* t = g.add_param("y", f32({kBatch, 3}));
  Value* k1 = g.add_param("dense.kernel", f32({4, 5}));
  Value* b1 = g.add_param("dense.bias", f32({5}));
  Value* k2 = g.add_param("dense_1.kernel", f32({5, 3}));
  Value* b2 = g.add_param("dense_1.bias", f32({3}));
  Builder b(g);
  Value* h = b.unary(OpKind::Relu, b.binary(OpKind::Add, b.matmul(x, k1), b1, Dims{1}));
  Value* z = b.binary(OpKind::Add, b.matmul(h, k2), b2, Dims{1});
  Value* zs = b.binary(OpKind::Sub, z, b.reduce_max(z, {1}), Dims{0});
  Value* lse = b.unary(OpKind::Log, b.reduce_sum(b.unary(OpKind::Exp, zs), {1}));
  Value* logp = b.binary(OpKind::Sub, zs, lse, Dims{0});
  Value* ce = b.unary(OpKind::Neg, b.reduce_sum(b.mul(t, logp), {1}));
  g.set_results({b.reduce_mean(ce, {0}, "loss")});
  Rand rng(7);
  std::vector<Tensor> args{rng.uniform({3, 4}, -1, 1), Tensor({3, 3}, {1, 0, 0, 0, 0, 1, 0, 1, 0}),
                           rng.uniform({4, 5}, -1, 1), rng.uniform({5}, -0.5f, 0.5f),
                           rng.uniform({5, 3}, -1, 1), rng.uniform({3}, -0.5f, 0.5f)};
  GradCheckReport rep = check_gradients(g, args, {0, 2, 3, 4, 5});
  EXPECT_EQ(rep.checked, 12 + 20 + 5 + 15 + 3);
}

// An LSTM over T steps: carries h, c [N,H]; sequence x [T,N,D]; invariants
// kernel [D,4H], recurrent_kernel [H,4H], bias [4H]. Gates i, f, g, o are
// slices of z = x_t K + h R + b. Loss = weighted sum of the stacked h's and
// the final c.
std::unique_ptr<Graph> lstm_graph(int64_t T, int64_t D = 2, int64_t H = 2) {
  auto g = std::make_unique<Graph>("lstm");
  Value* h0 = g->add_param("h0", f32({kBatch, H}));
  Value* c0 = g->add_param("c0", f32({kBatch, H}));
  Value* xs = g->add_param("xs", f32({T, kBatch, D}));
  Value* k = g->add_param("lstm.kernel", f32({D, 4 * H}));
  Value* r = g->add_param("lstm.recurrent_kernel", f32({H, 4 * H}));
  Value* bias = g->add_param("lstm.bias", f32({4 * H}));
  Value* w = g->add_param("w", f32({T, kBatch, H}));
  Value* wc = g->add_param("wc", f32({kBatch, H}));

  auto body = std::make_unique<Graph>("lstm.cell");
  Value* h = body->add_param("h", f32({kBatch, H}));
  Value* c = body->add_param("c", f32({kBatch, H}));
  Value* x = body->add_param("x_t", f32({kBatch, D}));
  Value* bk = body->add_param("kernel", k->type);
  Value* br = body->add_param("recurrent_kernel", r->type);
  Value* bb = body->add_param("bias", bias->type);
  Builder cb(*body);
  Value* z = cb.binary(OpKind::Add, cb.add(cb.matmul(x, bk), cb.matmul(h, br)), bb, Dims{1}, "z");
  auto gate = [&](int i, OpKind act, const char* n) { return cb.unary(act, cb.slice(z, 1, i * H, (i + 1) * H), n); };
  Value* ig = gate(0, OpKind::Sigmoid, "i");
  Value* fg = gate(1, OpKind::Sigmoid, "f");
  Value* gg = gate(2, OpKind::Tanh, "g");
  Value* og = gate(3, OpKind::Sigmoid, "o");
  Value* c2 = cb.add(cb.mul(fg, c), cb.mul(ig, gg), "c_next");
  Value* h2 = cb.mul(og, cb.unary(OpKind::Tanh, c2), "h_next");
  body->set_results({h2, c2, h2});

  Node* scan = g->add_node(OpKind::Scan, {h0, c0, xs, k, r, bias}, {{"num_carry", int64_t{2}}, {"num_seq", int64_t{1}}},
                           std::move(body), {"lstm"});
  Builder b(*g);
  Value* l1 = b.reduce_all(OpKind::ReduceSum, b.mul(scan->result(2), w));
  Value* l2 = b.reduce_all(OpKind::ReduceSum, b.mul(scan->result(1), wc));
  g->set_results({b.add(l1, l2, "loss"), scan->result(0)});
  return g;
}

TEST(Autodiff, LstmEndToEnd) {
  const int64_t T = 3, N = 2, D = 2, H = 2;
  auto g = lstm_graph(T, D, H);
  Rand rng(11);
  std::vector<Tensor> args{rng.uniform({N, H}, -1, 1),     rng.uniform({N, H}, -1, 1),
                           rng.uniform({T, N, D}, -1, 1),  rng.uniform({D, 4 * H}, -1, 1),
                           rng.uniform({H, 4 * H}, -1, 1), rng.uniform({4 * H}, -0.5f, 0.5f),
                           rng.uniform({T, N, H}, -1, 1),  rng.uniform({N, H}, -1, 1)};
  GradCheckReport rep = check_gradients(*g, args, {0, 1, 2, 3, 4, 5});
  EXPECT_EQ(rep.checked, 4 + 4 + 12 + 16 + 16 + 8);
}

TEST(Autodiff, ScanGradientSizeDoesNotDependOnSequenceLength) {
  auto g5 = passes::autodiff(*lstm_graph(5), {0, 1, 2, 3, 4, 5});
  auto g50 = passes::autodiff(*lstm_graph(50), {0, 1, 2, 3, 4, 5});
  verify(*g5);
  verify(*g50);
  EXPECT_EQ(count_nodes(*g5), count_nodes(*g50));
  EXPECT_EQ(count_op(*g5, OpKind::Scan), 2);  // the forward scan (now saving carries) and its reverse
  std::string text = to_string(*g5);
  EXPECT_NE(text.find("reverse=true"), std::string::npos) << text;
}

TEST(Autodiff, AppendGradientsKeepsForwardScanValues) {
  auto g = lstm_graph(4);
  Value* final_h = g->results()[1];
  Node* scan = final_h->def;
  size_t before = scan->results.size();
  Value* loss = g->results()[0];
  std::vector<Value*> grads = passes::append_gradients(*g, loss, {g->params()[3]});
  verify(*g);
  EXPECT_EQ(g->results()[1], final_h);
  EXPECT_EQ(final_h->def, scan);
  // The saved h and c entering each step, then the residuals the backward step
  // reads: the gate activations and tanh(c_next).
  ASSERT_EQ(scan->results.size(), before + 7);
  std::vector<std::string> saved;
  for (size_t i = before; i < before + 6; ++i) saved.push_back(scan->results[i]->name);
  EXPECT_EQ(saved, (std::vector<std::string>{"lstm.saved.h", "lstm.saved.c", "lstm.saved.i", "lstm.saved.f",
                                             "lstm.saved.g", "lstm.saved.o"}));
  EXPECT_EQ(grads[0]->name, "grad.lstm.kernel");
  EXPECT_EQ(grads[0]->type, g->params()[3]->type);
}

// The backward step reads the saved activations: it recomputes neither the
// gates' matmuls nor any sigmoid or tanh of the forward step.
TEST(Autodiff, ScanBackwardReadsSavedActivations) {
  auto g = lstm_graph(4);
  passes::append_gradients(*g, g->results()[0], {g->params()[3], g->params()[4]});
  verify(*g);
  const Node* back = nullptr;
  for (const Node* n : g->nodes())
    if (n->op == OpKind::Scan && n->attrs.b("reverse")) back = n;
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(count_op(*back->body, OpKind::Sigmoid), 0) << to_string(*g);
  EXPECT_EQ(count_op(*back->body, OpKind::Tanh), 0) << to_string(*g);
  // d(h U)/dh, dU (and dW, from x) : three matmuls, none of the forward's two.
  EXPECT_EQ(count_op(*back->body, OpKind::Matmul), 3) << to_string(*g);
}

// Second order: the gradient graph of an MLP is itself differentiable.
TEST(Autodiff, GradientOfGradient) {
  Graph g("sq");
  Value* x = g.add_param("x", f32({kBatch, 3}));
  Value* w = g.add_param("w", f32({3, 2}));
  Builder b(g);
  g.set_results({b.reduce_all(OpKind::ReduceSum, b.unary(OpKind::Tanh, b.matmul(x, w)))});
  auto dg = passes::autodiff(g, {1});
  // loss2 = sum(dL/dw * dL/dw): its gradient w.r.t. x goes through the backward ops.
  Builder b2(*dg);
  Value* gw = dg->results()[1];
  dg->set_results({b2.reduce_all(OpKind::ReduceSum, b2.mul(gw, gw))});
  Rand rng(3);
  check_gradients(*dg, {rng.uniform({2, 3}, -1, 1), rng.uniform({3, 2}, -1, 1)}, {0, 1});
}

// A scan whose body holds another scan, with an i32 step counter carry and an
// invariant that has the batch dimension: the reverse scan's body is itself
// differentiated recursively, the counter is saved but gets no cotangent.
TEST(Autodiff, NestedScanWithIntegerCarry) {
  const int64_t T1 = 3, T2 = 2;
  Graph g("nested");
  Value* h0 = g.add_param("h0", f32({kBatch, 2}));
  Value* k0 = g.add_param("k0", TensorType(DType::i32, {}));
  Value* xs = g.add_param("xs", f32({T1, kBatch, 2}));
  Value* ys = g.add_param("ys", f32({T2, kBatch, 2}));

  auto inner = std::make_unique<Graph>("inner");
  {
    Value* h = inner->add_param("h", f32({kBatch, 2}));
    Value* y = inner->add_param("y_t", f32({kBatch, 2}));
    Value* x = inner->add_param("x", f32({kBatch, 2}));
    Builder b(*inner);
    inner->set_results({b.unary(OpKind::Tanh, b.add(b.mul(h, y), x), "h_next")});
  }
  auto outer = std::make_unique<Graph>("outer");
  {
    Value* h = outer->add_param("h", f32({kBatch, 2}));
    Value* k = outer->add_param("k", TensorType(DType::i32, {}));
    Value* x = outer->add_param("x_t", f32({kBatch, 2}));
    Value* y = outer->add_param("ys", ys->type);
    Builder b(*outer);
    Node* in = outer->add_node(OpKind::Scan, {h, y, x}, {{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}},
                               std::move(inner), {"inner"});
    Value* kf = b.mul(b.convert(k, DType::f32), b.constant(0.1));
    Value* h2 = b.add(b.mul(in->result(0), b.unary(OpKind::Sigmoid, x)), kf, "h_next");
    Value* k2 = b.add(k, b.constant(1.0, {}, DType::i32), "k_next");
    outer->set_results({h2, k2, h2});
  }
  Node* scan = g.add_node(OpKind::Scan, {h0, k0, xs, ys}, {{"num_carry", int64_t{2}}, {"num_seq", int64_t{1}}},
                          std::move(outer), {"outer"});
  Rand rng(5);
  std::vector<Tensor> args{rng.uniform({2, 2}, -1, 1), Tensor::from_i32({}, {2}), rng.uniform({T1, 2, 2}, -1, 1),
                           rng.uniform({T2, 2, 2}, -1, 1)};
  Builder b(g);
  weighted_sum_loss(g, b.binary(OpKind::Add, scan->result(2), scan->result(0), Dims{1, 2}), args, rng);
  GradCheckReport rep = check_gradients(g, args, {0, 2, 3});
  EXPECT_EQ(rep.checked, 4 + 12 + 8);
  auto dg = passes::autodiff(g, {0, 1, 2, 3});
  // The outer scan and its inner one; the reverse outer scan, whose body holds
  // the recomputed inner scan (now saving its carries) and that one's reverse.
  EXPECT_EQ(count_op(*dg, OpKind::Scan), 5);
  EXPECT_EQ(dg->results()[2]->type, TensorType(DType::i32, {}));
}

// max_pool2d_grad(x, e) = S_x^T e is linear in e, so its gradient w.r.t. e
// (S_x g) must satisfy <S_x^T e, g> = <e, S_x g> exactly, also when windows
// overlap and x has ties (both pick the first maximum in row-major order).
TEST(Autodiff, MaxPoolGradAdjointWithTies) {
  Graph g("pool_adjoint");
  AttrMap pool{{"window", Dims{3, 3}}, {"strides", Dims{1, 2}}, {"padding", Dims{1, 1, 0, 1}}};
  Value* x = g.add_param("x", f32({kBatch, 5, 5, 2}));
  Value* yt = g.add(OpKind::MaxPool2D, {x}, pool);
  Value* e = g.add_param("e", yt->type);
  Value* gg = g.add_param("g", x->type);
  Builder b(g);
  g.set_results({b.reduce_all(OpKind::ReduceSum, b.mul(g.add(OpKind::MaxPool2DGrad, {x, e}, pool), gg))});
  auto dg = passes::autodiff(g, {1});
  verify(*dg);
  Rand rng(9);
  std::vector<float> xv(100);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>((i * 7) % 3) - 1.0f;  // many ties, some < 0
  Tensor xt({2, 5, 5, 2}, xv);
  Tensor et = rng.uniform(yt->type.concrete(2), -1, 1), gt = rng.uniform({2, 5, 5, 2}, -1, 1);
  auto out = runtime::interpret(*dg, {xt, et, gt});
  double lhs = out[0].data()[0], rhs = 0;
  for (int64_t i = 0; i < et.size(); ++i) rhs += static_cast<double>(et.data()[i]) * out[1].data()[i];
  EXPECT_NEAR(lhs, rhs, 1e-4);
}

}  // namespace
