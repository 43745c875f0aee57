// Gradient check for every differentiable op in ir/ops.def, in one test
// parameterized over the op table: for each op, small graphs
// loss = reduce_sum(op(params...) * random_weights) whose autodiff gradients
// (run on the reference interpreter) must equal central finite differences.
// Inputs keep away from kinks (relu/abs at 0, max/min ties, pool/reduce_max
// ties) by more than eps. Tolerance (gradcheck.h): |ad - fd| <= 2e-3 +
// 1e-2 |fd| + 4 ulp(loss) / (2 eps), eps = 1e-3: the f32 loss's rounding over
// 2 eps is the main noise. An op that is
// neither kNoGrad nor given cases here fails the test.
#include <gtest/gtest.h>

#include <functional>
#include <ostream>

#include "gradcheck.h"
#include "ir/builder.h"

using namespace kiln;
using namespace kiln::ir;
using namespace kiln::testing;

namespace kiln::ir {
// Test parameters print as the op's name.
void PrintTo(OpKind k, std::ostream* os) { *os << op_name(k); }
}  // namespace kiln::ir

namespace {

using Gen = std::function<Tensor(Rand&, const std::vector<int64_t>&)>;

Gen U(float lo, float hi) {
  return [=](Rand& r, const std::vector<int64_t>& s) { return r.uniform(s, lo, hi); };
}
Gen Away() {
  return [](Rand& r, const std::vector<int64_t>& s) { return r.away_from_zero(s); };
}
Gen Distinct(float step = 0.1f, float offset = 0.0f) {
  return [=](Rand& r, const std::vector<int64_t>& s) { return r.distinct(s, step, offset); };
}
const Gen kAny = U(-1, 1);
const Gen kPos = U(0.5f, 2.0f);

struct Param {
  std::string name;
  TensorType type;
  Gen gen = kAny;
  bool wrt = true;
};

struct Case {
  std::string label;
  std::vector<Param> params;
  std::function<Value*(Builder&, const std::vector<Value*>&)> build;
};

using Ps = std::vector<Value*>;

Case unary(OpKind k, Gen g, TensorType t = f32({kBatch, 3})) {
  return {"x " + t.to_string(), {{"x", t, g}}, [k](Builder& b, const Ps& p) { return b.unary(k, p[0]); }};
}

// The broadcast forms a binary elementwise op allows.
std::vector<Case> binary(OpKind k, Gen ga, Gen gb) {
  auto plain = [k](Builder& b, const Ps& p) { return b.binary(k, p[0], p[1]); };
  auto bcast = [k](Dims bd) { return [k, bd](Builder& b, const Ps& p) { return b.binary(k, p[0], p[1], bd); }; };
  return {
      {"same shape", {{"a", f32({2, 3}), ga}, {"b", f32({2, 3}), gb}}, plain},
      {"rhs broadcast_dims [2] on N", {{"a", f32({kBatch, 2, 3}), ga}, {"b", f32({3}), gb}}, bcast({2})},
      {"rhs broadcast_dims [0,2]", {{"a", f32({2, 3, 4}), ga}, {"b", f32({2, 4}), gb}}, bcast({0, 2})},
      {"rank-0 rhs", {{"a", f32({2, 3}), ga}, {"b", f32({}), gb}}, plain},
      {"rank-0 lhs", {{"a", f32({}), ga}, {"b", f32({kBatch, 3}), gb}}, plain},
      {"both rank 0", {{"a", f32({}), ga}, {"b", f32({}), gb}}, plain},
  };
}

AttrMap conv_attrs(Dims strides, Dims padding, Dims dilations = {1, 1}) {
  AttrMap a{{"strides", strides}, {"padding", padding}};
  if (dilations != Dims{1, 1}) a.set("dilations", dilations);
  return a;
}

AttrMap pool_attrs(Dims window, Dims strides, Dims padding) {
  return {{"window", window}, {"strides", strides}, {"padding", padding}};
}

// Conv geometries: stride 1 same-padding, stride 2 with uneven padding and a
// remainder, dilation 2.
struct ConvGeo {
  std::string label;
  TensorType x, w;
  AttrMap attrs;
};
std::vector<ConvGeo> conv_geometries() {
  return {
      {"3x3 s1 p1", f32({kBatch, 5, 5, 2}), f32({3, 3, 2, 3}), conv_attrs({1, 1}, {1, 1, 1, 1})},
      {"3x2 s2 p[0,1,1,0]", f32({kBatch, 6, 5, 2}), f32({3, 2, 2, 2}), conv_attrs({2, 2}, {0, 1, 1, 0})},
      {"2x2 d2", f32({1, 6, 6, 1}), f32({2, 2, 1, 2}), conv_attrs({1, 1}, {0, 0, 0, 0}, {2, 2})},
  };
}
TensorType conv_out_type(const ConvGeo& c) {
  Graph g;
  return g.add(OpKind::Conv2D, {g.add_param("x", c.x), g.add_param("w", c.w)}, c.attrs)->type;
}

struct PoolGeo {
  std::string label;
  TensorType x;
  AttrMap attrs;
};
std::vector<PoolGeo> pool_geometries() {
  return {
      {"2x2 s2", f32({kBatch, 4, 4, 2}), pool_attrs({2, 2}, {2, 2}, {0, 0, 0, 0})},
      {"3x3 s1 p1 (overlapping)", f32({1, 4, 5, 2}), pool_attrs({3, 3}, {1, 1}, {1, 1, 1, 1})},
      {"3x2 s2 p[1,0,0,1]", f32({kBatch, 5, 4, 1}), pool_attrs({3, 2}, {2, 2}, {1, 0, 0, 1})},
  };
}
TensorType pool_out_type(const PoolGeo& p) {
  Graph g;
  return g.add(OpKind::MaxPool2D, {g.add_param("x", p.x)}, p.attrs)->type;
}

// A small recurrent scan: carry h [N,3], sequence x [4,N,3], invariant u [3,3];
// h' = tanh(h u + x_t), per-step output y_t = h' * x_t. Results: final h and
// stacked y, both in the loss.
Value* small_scan(Builder& b, const Ps& p, bool reverse) {
  auto body = std::make_unique<Graph>("cell");
  Value* h = body->add_param("h", p[0]->type);
  Value* x = body->add_param("x_t", f32({kBatch, 3}));
  Value* u = body->add_param("u", p[2]->type);
  Builder bb(*body);
  Value* h2 = bb.unary(OpKind::Tanh, bb.add(bb.matmul(h, u), x), "h_next");
  body->set_results({h2, bb.mul(h2, x, "y")});
  AttrMap a{{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}};
  if (reverse) a.set("reverse", true);
  Node* n = b.graph().add_node(OpKind::Scan, {p[0], p[1], p[2]}, a, std::move(body), {"rnn"});
  return b.binary(OpKind::Add, n->result(1), n->result(0), Dims{1, 2});
}

// A fusion region of each kind, as passes/fuse forms them.
Value* fusion(Builder& b, const Ps& p, const std::string& kind) {
  auto body = std::make_unique<Graph>("fused");
  Ps q;
  for (const Value* v : p) q.push_back(body->add_param(v->name, v->type));
  Builder fb(*body);
  if (kind == "loop") {
    Value* ab = fb.binary(OpKind::Mul, q[0], q[1], Dims{1});
    body->set_results({fb.unary(OpKind::Tanh, fb.add(ab, q[2])), ab});
  } else if (kind == "contraction") {
    Value* z = fb.binary(OpKind::Add, fb.matmul(q[0], q[1]), q[2], Dims{1});
    body->set_results({fb.unary(OpKind::Sigmoid, z)});
  } else {
    body->set_results({fb.reduce_sum(fb.unary(OpKind::Exp, q[0]), {2})});
  }
  Node* n = b.graph().add_node(OpKind::Fusion, p, {{"kind", kind}}, std::move(body), {"fusion"});
  return kind == "loop" ? b.mul(n->result(0), n->result(1)) : n->result(0);
}

std::vector<Case> cases_for(OpKind k) {
  using K = OpKind;
  switch (k) {
    case K::Constant:
    case K::Iota:
    case K::RngUniform:
    case K::Compare:
    case K::ArgMax: return {};
    case K::Neg:
    case K::Exp:
    case K::Tanh:
    case K::Sigmoid:
    case K::Sign: return {unary(k, kAny), unary(k, Away(), f32({}))};
    case K::Abs:
    case K::Relu: return {unary(k, Away()), unary(k, Away(), f32({2, 2, 2}))};
    case K::Log:
    case K::Sqrt:
    case K::Rsqrt: return {unary(k, kPos)};
    case K::Convert:
      return {{"f32 -> f32",
               {{"x", f32({kBatch, 3})}},
               [](Builder& b, const Ps& p) { return b.convert(p[0], DType::f32); }},
              {"through i32 (no gradient)", {{"x", f32({3})}}, [](Builder& b, const Ps& p) {
                 return b.mul(p[0], b.convert(b.convert(b.mul(p[0], b.constant(10.0)), DType::i32), DType::f32));
               }}};
    case K::Add:
    case K::Sub:
    case K::Mul: return binary(k, kAny, kAny);
    case K::Div: return binary(k, kAny, kPos);
    case K::Max:
    case K::Min: return binary(k, Distinct(0.1f), Distinct(0.1f, 0.05f));
    case K::Pow: return binary(k, kPos, U(-1.5f, 1.5f));
    case K::Select:
      return {
          {"mask from compare",
           {{"c", f32({kBatch, 3}), Away(), false}, {"t", f32({kBatch, 3})}, {"f", f32({kBatch, 3})}},
           [](Builder& b, const Ps& p) { return b.select(b.compare(p[0], b.constant(0.0), "gt"), p[1], p[2]); }},
          {"same value on both sides", {{"c", f32({3}), Away(), false}, {"t", f32({3})}}, [](Builder& b, const Ps& p) {
             return b.select(b.compare(p[0], b.constant(0.0), "gt"), b.unary(OpKind::Exp, p[1]), p[1]);
           }}};
    case K::Broadcast:
      return {{"[3] -> [2,3,4] dims [1]",
               {{"x", f32({3})}},
               [](Builder& b, const Ps& p) {
                 return b.broadcast(p[0], {2, 3, 4}, {1});
               }},
              {"rank 0 -> [N,2]",
               {{"x", f32({})}, {"y", f32({kBatch, 2})}},
               [](Builder& b, const Ps& p) {
                 return b.mul(b.broadcast(p[0], {kBatch, 2}, {}), p[1]);
               }},
              {"[N,3] -> [N,2,3] dims [0,2]",
               {{"x", f32({kBatch, 3})}},
               [](Builder& b, const Ps& p) {
                 return b.broadcast(p[0], {kBatch, 2, 3}, {0, 2});
               }},
              {"same shape", {{"x", f32({2, 3})}}, [](Builder& b, const Ps& p) {
                 return b.broadcast(p[0], {2, 3}, {0, 1});
               }}};
    case K::Reshape:
      return {{"[2,3,4] -> [6,4]",
               {{"x", f32({2, 3, 4})}},
               [](Builder& b, const Ps& p) {
                 return b.reshape(p[0], {6, 4});
               }},
              {"[N,2,3] -> [N*2,3]", {{"x", f32({kBatch, 2, 3})}}, [](Builder& b, const Ps& p) {
                 return b.reshape(p[0], {batch_dim(2), 3});
               }}};
    case K::Transpose:
      return {{"perm [2,0,1]",
               {{"x", f32({2, 3, 4})}},
               [](Builder& b, const Ps& p) {
                 return b.transpose(p[0], {2, 0, 1});
               }},
              {"time-major [1,0,2] on N", {{"x", f32({kBatch, 3, 2})}}, [](Builder& b, const Ps& p) {
                 return b.transpose(p[0], {1, 0, 2});
               }}};
    case K::Slice:
      return {
          {"axis 1 [1,4)", {{"x", f32({kBatch, 5})}}, [](Builder& b, const Ps& p) { return b.slice(p[0], 1, 1, 4); }},
          {"axis -1 [0,2)", {{"x", f32({2, 3})}}, [](Builder& b, const Ps& p) { return b.slice(p[0], -1, 0, 2); }}};
    case K::Concat:
      return {
          {"axis 1",
           {{"a", f32({kBatch, 3})}, {"b", f32({kBatch, 2})}},
           [](Builder& b, const Ps& p) {
             return b.concat({p[0], p[1]}, 1);
           }},
          {"axis 0, three operands, one twice", {{"a", f32({2, 3})}, {"b", f32({1, 3})}}, [](Builder& b, const Ps& p) {
             return b.concat({p[0], p[1], p[0]}, 0);
           }}};
    case K::Pad:
      return {
          {"axis 0 low 1 high 2", {{"x", f32({3, 4})}}, [](Builder& b, const Ps& p) { return b.pad(p[0], 0, 1, 2); }},
          {"axis -1 on N", {{"x", f32({kBatch, 2})}}, [](Builder& b, const Ps& p) { return b.pad(p[0], -1, 0, 3); }}};
    case K::ReduceSum:
    case K::ReduceMean:
      return {
          {"axes [1]", {{"x", f32({kBatch, 3, 4})}}, [k](Builder& b, const Ps& p) { return b.reduce(k, p[0], {1}); }},
          {"batch axis [0]",
           {{"x", f32({kBatch, 3})}},
           [k](Builder& b, const Ps& p) { return b.reduce(k, p[0], {0}); }},
          {"axes [2,0] incl. N*2",
           {{"x", f32({batch_dim(2), 3, 2})}},
           [k](Builder& b, const Ps& p) {
             return b.reduce(k, p[0], {2, 0});
           }},
          {"all axes", {{"x", f32({2, 3})}}, [k](Builder& b, const Ps& p) { return b.reduce_all(k, p[0]); }}};
    case K::ReduceMax:
      return {{"axes [1]",
               {{"x", f32({kBatch, 3, 4}), Distinct()}},
               [](Builder& b, const Ps& p) { return b.reduce_max(p[0], {1}); }},
              {"axes [0,2]",
               {{"x", f32({2, 3, 4}), Distinct()}},
               [](Builder& b, const Ps& p) {
                 return b.reduce_max(p[0], {0, 2});
               }},
              {"batch axis", {{"x", f32({kBatch, 3}), Distinct()}}, [](Builder& b, const Ps& p) {
                 return b.reduce_max(p[0], {0});
               }}};
    case K::Matmul: {
      auto mm = [](bool ta, bool tb) {
        return [ta, tb](Builder& b, const Ps& p) { return b.matmul(p[0], p[1], ta, tb); };
      };
      return {{"[N,3]x[3,4]", {{"a", f32({kBatch, 3})}, {"b", f32({3, 4})}}, mm(false, false)},
              {"transpose_a", {{"a", f32({3, 2})}, {"b", f32({3, 4})}}, mm(true, false)},
              {"transpose_b", {{"a", f32({kBatch, 3})}, {"b", f32({4, 3})}}, mm(false, true)},
              {"transpose_a and _b", {{"a", f32({3, 2})}, {"b", f32({4, 3})}}, mm(true, true)},
              {"rank-3 lhs x rank-2 rhs", {{"a", f32({kBatch, 2, 3})}, {"b", f32({3, 4})}}, mm(false, false)},
              {"rank-4 lhs x rank-2 rhs, transpose_b", {{"a", f32({2, 2, 2, 3})}, {"b", f32({4, 3})}}, mm(false, true)},
              {"batched", {{"a", f32({2, 2, 3})}, {"b", f32({2, 3, 4})}}, mm(false, false)},
              {"batched, transpose_a", {{"a", f32({2, 3, 2})}, {"b", f32({2, 3, 4})}}, mm(true, false)},
              {"batched, transpose_b", {{"a", f32({2, 2, 3})}, {"b", f32({2, 4, 3})}}, mm(false, true)},
              {"batched, both", {{"a", f32({2, 3, 2})}, {"b", f32({2, 4, 3})}}, mm(true, true)}};
    }
    case K::Conv2D: {
      std::vector<Case> cs;
      for (const ConvGeo& c : conv_geometries())
        cs.push_back({c.label, {{"x", c.x}, {"w", c.w}}, [a = c.attrs](Builder& b, const Ps& p) {
                        return b.graph().add(OpKind::Conv2D, {p[0], p[1]}, a);
                      }});
      return cs;
    }
    case K::Conv2DInputGrad: {
      std::vector<Case> cs;
      for (const ConvGeo& c : conv_geometries())
        cs.push_back({c.label, {{"dy", conv_out_type(c)}, {"w", c.w}}, [a = c.attrs, x = c.x](Builder& b, const Ps& p) {
                        AttrMap at = a;
                        at.set("input_shape", x.shape);
                        return b.graph().add(OpKind::Conv2DInputGrad, {p[0], p[1]}, at);
                      }});
      return cs;
    }
    case K::Conv2DFilterGrad: {
      std::vector<Case> cs;
      for (const ConvGeo& c : conv_geometries())
        cs.push_back({c.label, {{"x", c.x}, {"dy", conv_out_type(c)}}, [a = c.attrs, w = c.w](Builder& b, const Ps& p) {
                        AttrMap at = a;
                        at.set("filter_shape", w.shape);
                        return b.graph().add(OpKind::Conv2DFilterGrad, {p[0], p[1]}, at);
                      }});
      return cs;
    }
    case K::MaxPool2D: {
      std::vector<Case> cs;
      for (const PoolGeo& g : pool_geometries())
        cs.push_back({g.label, {{"x", g.x, Distinct(0.01f)}}, [a = g.attrs](Builder& b, const Ps& p) {
                        return b.graph().add(OpKind::MaxPool2D, {p[0]}, a);
                      }});
      return cs;
    }
    case K::MaxPool2DGrad: {
      std::vector<Case> cs;
      for (const PoolGeo& g : pool_geometries())
        cs.push_back(
            {g.label, {{"x", g.x, Distinct(0.01f)}, {"dy", pool_out_type(g)}}, [a = g.attrs](Builder& b, const Ps& p) {
               return b.graph().add(OpKind::MaxPool2DGrad, {p[0], p[1]}, a);
             }});
      return cs;
    }
    case K::MaxPool2DWinners: {
      std::vector<Case> cs;
      for (const PoolGeo& g : pool_geometries())
        cs.push_back({g.label, {{"x", g.x, Distinct(0.01f)}}, [a = g.attrs](Builder& b, const Ps& p) {
                        return b.graph().add_node(OpKind::MaxPool2DWinners, {p[0]}, a)->results[0];
                      }});
      return cs;
    }
    case K::MaxPool2DScatter: {  // of winners(x): the gradient gathers dy at them
      std::vector<Case> cs;
      for (const PoolGeo& g : pool_geometries())
        cs.push_back({g.label,
                      {{"x", g.x, Distinct(0.01f)}, {"dy", pool_out_type(g)}},
                      [a = g.attrs, x = g.x](Builder& b, const Ps& p) {
                        ir::Node* w = b.graph().add_node(OpKind::MaxPool2DWinners, {p[0]}, a);
                        AttrMap sa = a;
                        sa.set("input_shape", x.shape);
                        return b.graph().add(OpKind::MaxPool2DScatter, {w->results[1], p[1]}, sa);
                      }});
      return cs;
    }
    case K::Scan:
      return {{"rnn",
               {{"h0", f32({kBatch, 3})}, {"xs", f32({4, kBatch, 3})}, {"u", f32({3, 3})}},
               [](Builder& b, const Ps& p) { return small_scan(b, p, false); }},
              {"rnn, reverse",
               {{"h0", f32({kBatch, 3})}, {"xs", f32({4, kBatch, 3})}, {"u", f32({3, 3})}},
               [](Builder& b, const Ps& p) { return small_scan(b, p, true); }}};
    case K::Fusion:
      return {{"loop, two results",
               {{"a", f32({kBatch, 3})}, {"b", f32({3})}, {"c", f32({kBatch, 3})}},
               [](Builder& b, const Ps& p) { return fusion(b, p, "loop"); }},
              {"contraction",
               {{"x", f32({kBatch, 3})}, {"w", f32({3, 2})}, {"bias", f32({2})}},
               [](Builder& b, const Ps& p) { return fusion(b, p, "contraction"); }},
              {"reduction", {{"x", f32({kBatch, 3, 2})}}, [](Builder& b, const Ps& p) {
                 return fusion(b, p, "reduction");
               }}};
  }
  return {};
}

class OpGradient : public ::testing::TestWithParam<OpKind> {};

TEST_P(OpGradient, MatchesFiniteDifferences) {
  OpKind k = GetParam();
  std::vector<Case> cases = cases_for(k);
  if (op_info(k).has(kNoGrad)) {
    EXPECT_TRUE(cases.empty()) << op_name(k) << " is kNoGrad";
    return;
  }
  ASSERT_FALSE(cases.empty()) << op_name(k) << " is differentiable but has no gradient check case here";
  uint32_t seed = 1000 + static_cast<uint32_t>(k);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(op_name(k)) + ": " + c.label);
    Rand rng(seed++);
    Graph g(std::string(op_name(k)) + ".check");
    std::vector<Value*> ps;
    std::vector<Tensor> args;
    std::vector<int> wrt;
    for (const Param& p : c.params) {
      if (p.wrt) wrt.push_back(static_cast<int>(ps.size()));
      ps.push_back(g.add_param(p.name, p.type));
      args.push_back(p.gen(rng, p.type.concrete(2)));
    }
    Builder b(g);
    Value* y;
    try {
      y = c.build(b, ps);
    } catch (const Error& e) {
      FAIL() << "building the case failed: " << e.what();
    }
    weighted_sum_loss(g, y, args, rng);
    GradCheckReport rep = check_gradients(g, args, wrt);
    EXPECT_GT(rep.checked, 0);
  }
}

std::vector<OpKind> all_ops() {
  std::vector<OpKind> ks;
  for (int i = 0; i < kNumOps; ++i) ks.push_back(static_cast<OpKind>(i));
  return ks;
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpGradient, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<OpKind>& i) { return std::string(op_name(i.param)); });

}  // namespace
