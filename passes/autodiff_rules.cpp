// The VJP rule table: one rule per op, each with its formula. y is the
// forward result, dy its cotangent; a rule contributes the cotangent of each
// operand it is asked for (VjpContext::grad sums broadcast operands back).
#include <algorithm>

#include "passes/autodiff.h"
#include "passes/autodiff_rules.h"

namespace kiln::passes::detail {
namespace {

using namespace kiln::ir;
using K = OpKind;
using C = VjpContext;

AttrMap with(AttrMap a, const std::string& k, AttrValue v) {
  a.set(k, std::move(v));
  return a;
}

// Axes [0, rank) not listed in `dims`.
Dims other_axes(int64_t rank, const Dims& dims) {
  Dims out;
  for (int64_t d = 0; d < rank; ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) out.push_back(d);
  return out;
}

// --- elementwise unary ---

// d/dx -x = -1
void vjp_neg(C& c) { c.grad(0, K::Neg, {c.dy()}); }
// d/dx |x| = sign(x)
void vjp_abs(C& c) { c.grad(0, K::Mul, {c.dy(), c.op(K::Sign, {c.x(0)})}); }
// d/dx sign(x) = 0 (almost everywhere): nothing flows.
void vjp_sign(C&) {}
// d/dx exp(x) = exp(x) = y
void vjp_exp(C& c) { c.grad(0, K::Mul, {c.dy(), c.y()}); }
// d/dx log(x) = 1/x
void vjp_log(C& c) { c.grad(0, K::Div, {c.dy(), c.x(0)}); }
// d/dx sqrt(x) = 1 / (2 sqrt(x)) = 0.5 / y
void vjp_sqrt(C& c) { c.grad(0, K::Div, {c.op(K::Mul, {c.dy(), c.constant(0.5)}), c.y()}); }
// d/dx x^(-1/2) = -1/2 x^(-3/2) = -0.5 y^3
void vjp_rsqrt(C& c) {
  Value* y3 = c.op(K::Mul, {c.op(K::Mul, {c.y(), c.y()}), c.y()});
  c.grad(0, K::Mul, {c.dy(), c.op(K::Mul, {y3, c.constant(-0.5)})});
}
// d/dx tanh(x) = 1 - y^2
void vjp_tanh(C& c) { c.grad(0, K::Mul, {c.dy(), c.op(K::Sub, {c.constant(1.0), c.op(K::Mul, {c.y(), c.y()})})}); }
// d/dx sigmoid(x) = y (1 - y)
void vjp_sigmoid(C& c) { c.grad(0, K::Mul, {c.dy(), c.op(K::Mul, {c.y(), c.op(K::Sub, {c.constant(1.0), c.y()})})}); }
// d/dx relu(x) = [x > 0]   (0 at the kink, like TensorFlow)
void vjp_relu(C& c) {
  Value* pos = c.op(K::Compare, {c.x(0), c.constant(0.0)}, {{"dir", std::string("gt")}});
  c.grad(0, K::Select, {pos, c.dy(), c.zeros(c.y()->type)});
}
// d/dx convert(x) = 1 for f32 -> f32; nothing flows through integer types.
void vjp_convert(C& c) {
  if (c.x(0)->type.dtype == DType::f32 && c.y()->type.dtype == DType::f32) c.grad(0, c.dy());
}

// --- elementwise binary (grad sums a broadcast operand over its broadcast axes) ---

// d/da a+b = 1, d/db a+b = 1
void vjp_add(C& c) {
  c.grad(0, c.dy());
  c.grad(1, c.dy());
}
// d/da a-b = 1, d/db a-b = -1
void vjp_sub(C& c) {
  c.grad(0, c.dy());
  c.grad(1, K::Neg, {c.dy()});
}
// d/da a*b = b, d/db a*b = a
void vjp_mul(C& c) {
  c.grad_ew(0, K::Mul, c.dy(), c.x(1));
  c.grad_ew(1, K::Mul, c.dy(), c.x(0));
}
// d/da a/b = 1/b, d/db a/b = -a/b^2 = -y/b
void vjp_div(C& c) {
  c.grad_ew(0, K::Div, c.dy(), c.x(1));
  if (c.wants(1)) c.grad_ew(1, K::Div, c.op(K::Neg, {c.op(K::Mul, {c.dy(), c.y()})}), c.x(1));
}
// max(a, b): dy goes to a where a >= b, else to b (tf.maximum);
// min(a, b): dy goes to a where a <= b, else to b (tf.minimum).
void vjp_max_min(C& c, const char* dir) {
  Value* to_a = c.op(K::Compare, {c.x(0), c.x(1)}, with(c.attrs(), "dir", std::string(dir)));
  Value* zero = c.zeros(c.y()->type);
  c.grad(0, K::Select, {to_a, c.dy(), zero});
  c.grad(1, K::Select, {to_a, zero, c.dy()});
}
// d/da a^b = b a^(b-1); d/db a^b = a^b log(a), taken as 0 where a <= 0 (tf.pow).
void vjp_pow(C& c) {
  Value *a = c.x(0), *b = c.x(1);
  if (c.wants(0)) {
    Value* a_bm1 = c.op(K::Pow, {a, c.op(K::Sub, {b, c.constant(1.0)})}, c.attrs());
    c.grad_ew(0, K::Mul, c.dy(), c.ew(K::Mul, a_bm1, b));
  }
  if (c.wants(1)) {
    Value* pos = c.op(K::Compare, {a, c.constant(0.0)}, {{"dir", std::string("gt")}});
    Value* safe_a = c.op(K::Select, {pos, a, c.constant(1.0, a->type.shape)});
    Value* log_a = c.op(K::Select, {pos, c.op(K::Log, {safe_a}), c.zeros(a->type)});
    c.grad_ew(1, K::Mul, c.op(K::Mul, {c.dy(), c.y()}), log_a);
  }
}
// select(p, t, f): dy goes to t where p, to f elsewhere.
void vjp_select(C& c) {
  Value* zero = c.zeros(c.y()->type);
  c.grad(1, K::Select, {c.x(0), c.dy(), zero});
  c.grad(2, K::Select, {c.x(0), zero, c.dy()});
}

// --- layout ---

// broadcast: sum dy over the new axes.
void vjp_broadcast(C& c) {
  Dims axes = other_axes(c.y()->type.rank(), c.attrs().ints("dims"));
  if (axes.empty()) c.grad(0, c.dy());
  else c.grad(0, K::ReduceSum, {c.dy()}, {{"axes", axes}});
}
// reshape: reshape dy back.
void vjp_reshape(C& c) { c.grad(0, K::Reshape, {c.dy()}, {{"shape", c.x(0)->type.shape}}); }
// transpose(perm): transpose dy by the inverse permutation.
void vjp_transpose(C& c) {
  const Dims& perm = c.attrs().ints("perm");
  Dims inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  c.grad(0, K::Transpose, {c.dy()}, {{"perm", inv}});
}
// slice [start, limit): pad dy with zeros back to the operand's extent.
void vjp_slice(C& c) {
  int64_t rank = c.x(0)->type.rank(), ax = c.attrs().i("axis");
  if (ax < 0) ax += rank;
  int64_t dim = c.x(0)->type.shape[static_cast<size_t>(ax)];
  int64_t start = c.attrs().i("start"), limit = c.attrs().i("limit");
  c.grad(0, K::Pad, {c.dy()}, {{"axis", ax}, {"low", start}, {"high", dim - limit}});
}
// pad(low, high): slice the operand's extent out of dy.
void vjp_pad(C& c) {
  int64_t rank = c.x(0)->type.rank(), ax = c.attrs().i("axis");
  if (ax < 0) ax += rank;
  int64_t low = c.attrs().i("low"), dim = c.x(0)->type.shape[static_cast<size_t>(ax)];
  c.grad(0, K::Slice, {c.dy()}, {{"axis", ax}, {"start", low}, {"limit", low + dim}});
}
// concat: operand k gets its slice of dy.
void vjp_concat(C& c) {
  int64_t rank = c.y()->type.rank(), ax = c.attrs().i("axis");
  if (ax < 0) ax += rank;
  int64_t offset = 0;
  for (int k = 0; k < c.num_operands(); ++k) {
    int64_t dim = c.x(k)->type.shape[static_cast<size_t>(ax)];
    c.grad(k, K::Slice, {c.dy()}, {{"axis", ax}, {"start", offset}, {"limit", offset + dim}});
    offset += dim;
  }
}

// --- reductions ---

Dims reduced_axes(const C& c) {
  Dims axes = c.attrs().ints("axes");
  for (int64_t& a : axes)
    if (a < 0) a += c.x(0)->type.rank();
  std::sort(axes.begin(), axes.end());
  return axes;
}
// Broadcasts a value shaped like the reduction's result back to the operand's shape.
Value* unreduce(C& c, Value* v) {
  Dims kept = other_axes(c.x(0)->type.rank(), reduced_axes(c));
  return c.op(K::Broadcast, {v}, {{"shape", c.x(0)->type.shape}, {"dims", kept}});
}
// reduce_sum: dx = broadcast(dy)
void vjp_reduce_sum(C& c) {
  Dims kept = other_axes(c.x(0)->type.rank(), reduced_axes(c));
  c.grad(0, K::Broadcast, {c.dy()}, {{"shape", c.x(0)->type.shape}, {"dims", kept}});
}
// reduce_mean: dx = broadcast(dy / count). count is a constant, or, when the
// batch axis (N or N*k) is reduced, reduce_sum of a constant 1 of shape [N*k]
// times the other reduced axes' size: exact below 2^24.
void vjp_reduce_mean(C& c) {
  Dims axes = reduced_axes(c);
  int64_t batch = 0, rest = 1;
  for (int64_t a : axes) {
    int64_t d = c.x(0)->type.shape[static_cast<size_t>(a)];
    if (is_batch_dim(d)) batch = d;
    else rest *= d;
  }
  Value* count = batch ? c.op(K::ReduceSum, {c.constant(1.0, {batch})}, {{"axes", Dims{0}}}) : nullptr;
  if (!batch || rest != 1) {
    Value* r = c.constant(static_cast<double>(rest));
    count = count ? c.op(K::Mul, {count, r}) : r;
  }
  Dims kept = other_axes(c.x(0)->type.rank(), axes);
  c.grad(0, K::Broadcast, {c.op(K::Div, {c.dy(), count})}, {{"shape", c.x(0)->type.shape}, {"dims", kept}});
}
// reduce_max: dy is split equally among the elements equal to the maximum
// (tf.reduce_max): dx = [x == bcast(y)] * bcast(dy / count of ties).
void vjp_reduce_max(C& c) {
  Value* hit = c.op(K::Compare, {c.x(0), unreduce(c, c.y())}, {{"dir", std::string("eq")}});
  Value* mask = c.op(K::Convert, {hit}, {{"dtype", DType::f32}});
  Value* ties = c.op(K::ReduceSum, {mask}, {{"axes", reduced_axes(c)}});
  c.grad(0, K::Mul, {mask, unreduce(c, c.op(K::Div, {c.dy(), ties}))});
}

// --- contractions ---

// Collapses all but the last axis: [..., K] -> [R, K] (R = N*r if batched).
Value* flatten_rows(C& c, Value* v) {
  TensorType t = v->type;
  int64_t k = t.shape.back();
  TensorType rows(t.dtype, Dims(t.shape.begin(), t.shape.end() - 1));
  int64_t r = rows.static_elements();
  return c.op(K::Reshape, {v}, {{"shape", Dims{rows.has_batch() ? batch_dim(r) : r, k}}});
}
AttrMap mm(bool ta, bool tb) {
  AttrMap a;
  if (ta) a.set("transpose_a", true);
  if (tb) a.set("transpose_b", true);
  return a;
}
// y = op(A) op(B) with op = optional transpose of the last two axes:
//   d op(A) = dy op(B)^T,   d op(B) = op(A)^T dy.
// For lhs rank > 2 against a rank-2 rhs, dB sums over the leading axes: it is
// computed as a rank-2 matmul of A and dy reshaped to [rows, K] and [rows, P].
void vjp_matmul(C& c) {
  Value *a = c.x(0), *b = c.x(1), *dy = c.dy();
  bool ta = c.attrs().b("transpose_a"), tb = c.attrs().b("transpose_b");
  // dA = dy B^T (tb: dy B); with ta, the transpose of that: B dy^T (tb: B^T dy^T).
  if (ta) c.grad(0, K::Matmul, {b, dy}, mm(tb, true));
  else c.grad(0, K::Matmul, {dy, b}, mm(false, !tb));
  if (!c.wants(1)) return;
  if (a->type.rank() > 2 && b->type.rank() == 2) {  // ta is false here
    a = flatten_rows(c, a);
    dy = flatten_rows(c, dy);
  }
  // dB = A^T dy (ta: A dy); with tb, the transpose of that: dy^T A (ta: dy^T A^T).
  if (tb) c.grad(1, K::Matmul, {dy, a}, mm(true, ta));
  else c.grad(1, K::Matmul, {a, dy}, mm(!ta, false));
}
// conv2d(x, w): dx = conv2d_input_grad(dy, w), dw = conv2d_filter_grad(x, dy).
void vjp_conv2d(C& c) {
  c.grad(0, K::Conv2DInputGrad, {c.dy(), c.x(1)}, with(c.attrs(), "input_shape", c.x(0)->type.shape));
  c.grad(1, K::Conv2DFilterGrad, {c.x(0), c.dy()}, with(c.attrs(), "filter_shape", c.x(1)->type.shape));
}
// z = conv2d_input_grad(e, w) = J_w^T e, the adjoint of x -> conv2d(x, w); so
// <z, g> = <e, conv2d(g, w)>: de = conv2d(g, w), dw = conv2d_filter_grad(g, e).
void vjp_conv2d_input_grad(C& c) {
  AttrMap a = c.attrs();
  a.erase("input_shape");
  c.grad(0, K::Conv2D, {c.dy(), c.x(1)}, a);
  c.grad(1, K::Conv2DFilterGrad, {c.dy(), c.x(0)}, with(a, "filter_shape", c.x(1)->type.shape));
}
// z = conv2d_filter_grad(x, e), the adjoint of w -> conv2d(x, w); so
// <z, g> = <e, conv2d(x, g)>: dx = conv2d_input_grad(e, g), de = conv2d(x, g).
void vjp_conv2d_filter_grad(C& c) {
  AttrMap a = c.attrs();
  a.erase("filter_shape");
  c.grad(0, K::Conv2DInputGrad, {c.x(1), c.dy()}, with(a, "input_shape", c.x(0)->type.shape));
  c.grad(1, K::Conv2D, {c.x(0), c.dy()}, a);
}
// max_pool2d: dy goes to the first maximum of each window.
void vjp_max_pool2d(C& c) { c.grad(0, K::MaxPool2DGrad, {c.x(0), c.dy()}, c.attrs()); }

// max_pool2d_winners: y's cotangent goes to the winners (the winners, u8, have none).
void vjp_max_pool2d_winners(C& c) {
  if (!c.dy(0)) return;
  AttrMap a = c.attrs();
  a.set("input_shape", c.x(0)->type.shape);
  c.grad(0, K::MaxPool2DScatter, {c.y(1), c.dy(0)}, a);
}
// Window tap (i, j) of an NHWC value, padded like the pool:
// tap[n, o, p, c] = padded(v)[n, o*sh + i, p*sw + j, c], o < OH, p < OW. On
// axis `ax` of v: pad, slice [i, i + out*s), split into [out, s], keep row 0.
Value* tap_axis(C& c, Value* v, int64_t ax, int64_t i, int64_t s, int64_t out, int64_t lo, int64_t hi) {
  int64_t len = v->type.shape[static_cast<size_t>(ax)] + lo + hi;
  hi += std::max<int64_t>(0, i + out * s - len);
  if (lo || hi) v = c.op(K::Pad, {v}, {{"axis", ax}, {"low", lo}, {"high", hi}});
  v = c.op(K::Slice, {v}, {{"axis", ax}, {"start", i}, {"limit", i + out * s}});
  if (s == 1) return v;
  Dims split = v->type.shape, kept = v->type.shape;
  split[static_cast<size_t>(ax)] = out;
  split.insert(split.begin() + ax + 1, s);
  kept[static_cast<size_t>(ax)] = out;
  v = c.op(K::Reshape, {v}, {{"shape", split}});
  v = c.op(K::Slice, {v}, {{"axis", ax + 1}, {"start", 0}, {"limit", 1}});
  return c.op(K::Reshape, {v}, {{"shape", kept}});
}
// z = max_pool2d_grad(x, e) scatters e[window] to the window's first maximum:
// z = S_x^T e. It is piecewise constant in x (no gradient) and linear in e, so
// de = S_x g gathers g at each window's first maximum. Built per window tap
// (kh*kw of them, in row-major order): take tap t where x equals the window
// maximum, is not padding, and no earlier tap was taken.
// Window tap (r, s) of v (NHWC from axis axis_h - 1, or [H, W] with axis_h =
// 0) for the pool gradient node of c, whose operand 1 is the pooled dy.
Value* pool_tap(C& c, Value* v, int64_t r, int64_t s, int64_t axis_h) {
  const Dims &st = c.attrs().ints("strides"), &pd = c.attrs().ints("padding");
  const Dims& out = c.x(1)->type.shape;  // [N, OH, OW, C]
  v = tap_axis(c, v, axis_h, r, st[0], out[1], pd[0], pd[1]);
  return tap_axis(c, v, axis_h + 1, s, st[1], out[2], pd[2], pd[3]);
}
void vjp_max_pool2d_grad(C& c) {
  if (!c.wants(1)) return;
  const Dims& win = c.attrs().ints("window");
  Value *x = c.x(0), *g = c.dy();
  int64_t h = x->type.shape[1], w = x->type.shape[2];
  Value* m = c.op(K::MaxPool2D, {x}, c.attrs());
  Value* real = c.constant(1.0, {h, w});  // 1 on real cells, 0 on padding once tapped
  Value* taken = c.zeros(c.x(1)->type);
  Value* acc = nullptr;
  auto tap = [&](Value* v, int64_t r, int64_t s, int64_t axis_h) { return pool_tap(c, v, r, s, axis_h); };
  for (int64_t r = 0; r < win[0]; ++r) {
    for (int64_t s = 0; s < win[1]; ++s) {
      Value* is_max = c.op(K::Compare, {tap(x, r, s, 1), m}, {{"dir", std::string("eq")}});
      Value* hit = c.op(K::Mul, {c.op(K::Convert, {is_max}, {{"dtype", DType::f32}}), tap(real, r, s, 0)},
                        {{"broadcast_dims", Dims{1, 2}}});
      Value* first = c.op(K::Mul, {hit, c.op(K::Sub, {c.constant(1.0), taken})});
      taken = c.op(K::Add, {taken, first});
      Value* part = c.op(K::Mul, {first, tap(g, r, s, 1)});
      acc = acc ? c.op(K::Add, {acc, part}) : part;
    }
  }
  c.grad(1, acc);
}

// z = max_pool2d_scatter(w, e) = S_w^T e, linear in e: de = S_w g gathers g
// at each window's winner, per window tap t: where w == t, tap t of g.
void vjp_max_pool2d_scatter(C& c) {
  if (!c.wants(1)) return;
  const Dims& win = c.attrs().ints("window");
  Value* pos = c.op(K::Convert, {c.x(0)}, {{"dtype", DType::f32}});
  Value* acc = nullptr;
  for (int64_t r = 0; r < win[0]; ++r)
    for (int64_t s = 0; s < win[1]; ++s) {
      Value* is_t = c.op(K::Compare, {pos, c.constant(static_cast<double>(r * win[1] + s))}, {{"dir", std::string("eq")}});
      Value* part = c.op(K::Mul, {c.op(K::Convert, {is_t}, {{"dtype", DType::f32}}), pool_tap(c, c.dy(), r, s, 1)});
      acc = acc ? c.op(K::Add, {acc, part}) : part;
    }
  c.grad(1, acc);
}

// fusion: its body's VJP. The body's inner values are not results, so the
// rule builds, in a separate graph, the body plus its VJP (wrt the operands
// that want gradients, seeded by the results' cotangents) and inlines that
// here: the fused forward is recomputed, then differentiated.
void vjp_fusion(C& c) {
  const Graph& body = *c.node.body;
  Graph vjp(body.name);
  std::vector<Value*> params, args = c.node.operands, wrt, outputs, cotangents;
  for (const Value* p : body.params()) params.push_back(vjp.add_param(p->name, p->type));
  std::vector<Value*> outs = vjp.inline_graph(body, params);
  for (size_t r = 0; r < outs.size(); ++r) {
    if (!c.dy(static_cast<int>(r))) continue;
    outputs.push_back(outs[r]);
    cotangents.push_back(vjp.add_param("grad." + outs[r]->name, outs[r]->type));
    args.push_back(c.dy(static_cast<int>(r)));
  }
  std::vector<int> wanted;
  for (int i = 0; i < c.num_operands(); ++i)
    if (c.wants(i)) {
      wanted.push_back(i);
      wrt.push_back(params[static_cast<size_t>(i)]);
    }
  vjp.set_results(append_vjp(vjp, outputs, cotangents, wrt));
  drop_dead(vjp);
  std::vector<Value*> grads = c.graph().inline_graph(vjp, args, "grad." + c.y()->name + ".");
  for (size_t k = 0; k < wanted.size(); ++k) c.contribute(wanted[k], grads[k]);
}

}  // namespace

void apply_vjp(VjpContext& c) {
  switch (c.node.op) {
    // kNoGrad: the driver never calls a rule for these.
    case K::Constant:
    case K::Iota:
    case K::RngUniform:
    case K::Compare:
    case K::ArgMax: return;
    case K::Neg: return vjp_neg(c);
    case K::Abs: return vjp_abs(c);
    case K::Sign: return vjp_sign(c);
    case K::Exp: return vjp_exp(c);
    case K::Log: return vjp_log(c);
    case K::Sqrt: return vjp_sqrt(c);
    case K::Rsqrt: return vjp_rsqrt(c);
    case K::Tanh: return vjp_tanh(c);
    case K::Sigmoid: return vjp_sigmoid(c);
    case K::Relu: return vjp_relu(c);
    case K::Convert: return vjp_convert(c);
    case K::Add: return vjp_add(c);
    case K::Sub: return vjp_sub(c);
    case K::Mul: return vjp_mul(c);
    case K::Div: return vjp_div(c);
    case K::Max: return vjp_max_min(c, "ge");
    case K::Min: return vjp_max_min(c, "le");
    case K::Pow: return vjp_pow(c);
    case K::Select: return vjp_select(c);
    case K::Broadcast: return vjp_broadcast(c);
    case K::Reshape: return vjp_reshape(c);
    case K::Transpose: return vjp_transpose(c);
    case K::Slice: return vjp_slice(c);
    case K::Concat: return vjp_concat(c);
    case K::Pad: return vjp_pad(c);
    case K::ReduceSum: return vjp_reduce_sum(c);
    case K::ReduceMax: return vjp_reduce_max(c);
    case K::ReduceMean: return vjp_reduce_mean(c);
    case K::Matmul: return vjp_matmul(c);
    case K::Conv2D: return vjp_conv2d(c);
    case K::Conv2DInputGrad: return vjp_conv2d_input_grad(c);
    case K::Conv2DFilterGrad: return vjp_conv2d_filter_grad(c);
    case K::MaxPool2D: return vjp_max_pool2d(c);
    case K::MaxPool2DGrad: return vjp_max_pool2d_grad(c);
    case K::MaxPool2DWinners: return vjp_max_pool2d_winners(c);
    case K::MaxPool2DScatter: return vjp_max_pool2d_scatter(c);
    case K::Scan: return vjp_scan(c);
    case K::Fusion: return vjp_fusion(c);
  }
  KILN_UNREACHABLE("autodiff: unknown op");
}

}  // namespace kiln::passes::detail
