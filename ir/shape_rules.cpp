// One shape rule per op: checks operand types and attributes, returns result
// types. Errors name the op and show the offending types, e.g.
//   "matmul: contracting dimensions differ: f32[N,10] x f32[20,5] (10 vs 20)".
#include <algorithm>
#include <numeric>
#include <sstream>

#include "ir/graph.h"

namespace kiln::ir {
namespace {

using Types = std::vector<TensorType>;

[[noreturn]] void fail(OpKind op, const std::string& msg) {
  throw Error(std::string(op_name(op)) + ": " + msg);
}

std::string list(const Types& ts) {
  std::string s;
  for (size_t i = 0; i < ts.size(); ++i) s += (i ? ", " : "") + ts[i].to_string();
  return s;
}

void require_f32(OpKind op, const TensorType& t) {
  if (t.dtype != DType::f32) fail(op, "expects f32 operands, got " + t.to_string());
}

int64_t count_batch(const Dims& d) { return std::count_if(d.begin(), d.end(), is_batch_dim); }

void check_dims(OpKind op, const Dims& d, const char* what) {
  if (count_batch(d) > 1) fail(op, std::string(what) + " has more than one batch dimension N: " + dims_to_string(d));
}

std::string dim_str(int64_t d) {
  if (d == kBatch) return "N";
  if (is_batch_dim(d)) return "N*" + std::to_string(batch_factor(d));
  return std::to_string(d);
}

int64_t norm_axis(OpKind op, int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    fail(op, "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return a;
}

TensorType source(OpKind op, const AttrMap& a, DType dflt) {
  Dims s = a.ints("shape");
  check_dims(op, s, "shape");
  return {a.get_or<DType>("dtype", dflt), s};
}

TensorType unary(OpKind op, const Types& in, const AttrMap& a) {
  if (op == OpKind::Convert) return {a.get<DType>("dtype"), in[0].shape};
  if (op == OpKind::Neg || op == OpKind::Abs || op == OpKind::Sign) {
    if (in[0].dtype == DType::i1) fail(op, "expects a numeric operand, got " + in[0].to_string());
    return in[0];
  }
  require_f32(op, in[0]);
  return in[0];
}

// Result type of a binary elementwise op (before the dtype of compare).
TensorType binary(OpKind op, const Types& in, const AttrMap& a) {
  const TensorType& l = in[0];
  const TensorType& r = in[1];
  if (l.dtype != r.dtype) fail(op, "operand dtypes differ: " + list(in));
  if (op != OpKind::Compare && l.dtype == DType::i1) fail(op, "expects numeric operands, got " + list(in));
  if (a.has("broadcast_dims")) {
    const auto& bd = a.ints("broadcast_dims");
    if (static_cast<int64_t>(bd.size()) != r.rank())
      fail(op, "broadcast_dims has " + std::to_string(bd.size()) + " entries but the rhs has rank " +
                   std::to_string(r.rank()) + " (" + list(in) + ")");
    for (size_t i = 0; i < bd.size(); ++i) {
      if (bd[i] < 0 || bd[i] >= l.rank()) fail(op, "broadcast_dims entry out of range (" + list(in) + ")");
      if (i > 0 && bd[i] <= bd[i - 1]) fail(op, "broadcast_dims must be increasing");
      if (l.shape[bd[i]] != r.shape[i])
        fail(op, "rhs dim " + std::to_string(i) + " does not match lhs dim " + std::to_string(bd[i]) + " (" +
                     list(in) + ")");
    }
    return l;
  }
  if (l.shape == r.shape) return l;
  if (r.rank() == 0) return l;
  if (l.rank() == 0) return r;
  fail(op, "operand shapes differ and no broadcast_dims is given: " + list(in));
}

TensorType select(OpKind op, const Types& in) {
  if (in[0].dtype != DType::i1) fail(op, "condition must be i1, got " + in[0].to_string());
  if (in[1].dtype != in[2].dtype) fail(op, "branch dtypes differ: " + list(in));
  if (in[0].shape != in[1].shape || in[1].shape != in[2].shape) fail(op, "operand shapes differ: " + list(in));
  return in[1];
}

TensorType broadcast(OpKind op, const Types& in, const AttrMap& a) {
  Dims s = a.ints("shape");
  check_dims(op, s, "shape");
  const auto& dims = a.ints("dims");
  if (static_cast<int64_t>(dims.size()) != in[0].rank())
    fail(op, "dims has " + std::to_string(dims.size()) + " entries for an operand of rank " +
                 std::to_string(in[0].rank()));
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0 || dims[i] >= static_cast<int64_t>(s.size())) fail(op, "dims entry out of range");
    if (i > 0 && dims[i] <= dims[i - 1]) fail(op, "dims must be increasing");
    if (s[dims[i]] != in[0].shape[i])
      fail(op, "operand dim " + std::to_string(i) + " (" + in[0].to_string() + ") does not match result dim " +
                   std::to_string(dims[i]) + " of " + dims_to_string(s));
  }
  return {in[0].dtype, s};
}

TensorType reshape(OpKind op, const Types& in, const AttrMap& a) {
  Dims s = a.ints("shape");
  check_dims(op, s, "shape");
  TensorType out{in[0].dtype, s};
  if (out.has_batch() != in[0].has_batch() || out.static_elements() != in[0].static_elements())
    fail(op, "cannot reshape " + in[0].to_string() + " to " + dims_to_string(s) + ": element counts differ");
  return out;
}

TensorType transpose(OpKind op, const Types& in, const AttrMap& a) {
  const auto& perm = a.ints("perm");
  if (static_cast<int64_t>(perm.size()) != in[0].rank())
    fail(op, "perm " + dims_to_string(perm) + " does not fit " + in[0].to_string());
  std::vector<bool> seen(perm.size());
  Dims s(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= in[0].rank() || seen[perm[i]])
      fail(op, "perm " + dims_to_string(perm) + " is not a permutation");
    seen[perm[i]] = true;
    s[i] = in[0].shape[perm[i]];
  }
  return {in[0].dtype, s};
}

TensorType slice(OpKind op, const Types& in, const AttrMap& a) {
  int64_t ax = norm_axis(op, a.i("axis"), in[0].rank());
  int64_t dim = in[0].shape[ax];
  if (is_batch_dim(dim)) fail(op, "cannot slice the batch dimension N");
  int64_t start = a.i("start"), limit = a.i("limit");
  if (start < 0 || limit < start || limit > dim)
    fail(op, "range [" + std::to_string(start) + ", " + std::to_string(limit) + ") is out of bounds for axis " +
                 std::to_string(ax) + " of " + in[0].to_string());
  Dims s = in[0].shape;
  s[ax] = limit - start;
  return {in[0].dtype, s};
}

TensorType pad(OpKind op, const Types& in, const AttrMap& a) {
  int64_t ax = norm_axis(op, a.i("axis"), in[0].rank());
  if (is_batch_dim(in[0].shape[ax])) fail(op, "cannot pad the batch dimension N");
  int64_t lo = a.i("low"), hi = a.i("high");
  if (lo < 0 || hi < 0) fail(op, "negative padding");
  Dims s = in[0].shape;
  if (__builtin_add_overflow(s[ax], lo, &s[ax]) || __builtin_add_overflow(s[ax], hi, &s[ax]))
    fail(op, "padding is too large");
  return {in[0].dtype, s};
}

TensorType concat(OpKind op, const Types& in, const AttrMap& a) {
  if (in.empty()) fail(op, "needs at least one operand");
  int64_t ax = norm_axis(op, a.i("axis"), in[0].rank());
  Dims s = in[0].shape;
  if (is_batch_dim(s[ax])) fail(op, "cannot concatenate along the batch dimension N");
  for (size_t k = 1; k < in.size(); ++k) {
    const TensorType& t = in[k];
    if (t.dtype != in[0].dtype || t.rank() != in[0].rank()) fail(op, "operands differ in dtype or rank: " + list(in));
    for (int64_t d = 0; d < t.rank(); ++d) {
      if (d == ax) continue;
      if (t.shape[d] != in[0].shape[d])
        fail(op, "operands differ in dim " + std::to_string(d) + " (all but axis " + std::to_string(ax) +
                     " must match): " + list(in));
    }
    s[ax] += t.shape[ax];
  }
  return {in[0].dtype, s};
}

TensorType reduce(OpKind op, const Types& in, const AttrMap& a) {
  if (in[0].dtype == DType::i1) fail(op, "cannot reduce i1");
  if (op == OpKind::ReduceMean) require_f32(op, in[0]);
  std::vector<bool> drop(in[0].shape.size());
  for (int64_t ax : a.ints("axes")) {
    int64_t n = norm_axis(op, ax, in[0].rank());
    if (drop[n]) fail(op, "axis " + std::to_string(ax) + " listed twice");
    drop[n] = true;
  }
  Dims s;
  for (size_t d = 0; d < drop.size(); ++d)
    if (!drop[d]) s.push_back(in[0].shape[d]);
  return {in[0].dtype, s};
}

TensorType argmax(OpKind op, const Types& in, const AttrMap& a) {
  int64_t ax = norm_axis(op, a.i("axis"), in[0].rank());
  Dims s = in[0].shape;
  s.erase(s.begin() + ax);
  return {DType::i32, s};
}

TensorType matmul(OpKind op, const Types& in, const AttrMap& a) {
  const TensorType& l = in[0];
  const TensorType& r = in[1];
  require_f32(op, l);
  require_f32(op, r);
  bool ta = a.b("transpose_a"), tb = a.b("transpose_b");
  if (l.rank() < 2 || r.rank() < 2) fail(op, "operands must have rank >= 2: " + list(in));
  bool batched = r.rank() > 2;
  if (batched) {
    if (l.rank() != r.rank()) fail(op, "batched matmul needs equal ranks: " + list(in));
    for (int64_t d = 0; d + 2 < l.rank(); ++d)
      if (l.shape[d] != r.shape[d]) fail(op, "batch dims differ: " + list(in));
  } else if (ta && l.rank() != 2) {
    fail(op, "transpose_a needs a rank-2 lhs or a batched matmul: " + list(in));
  }
  int64_t lr = l.rank(), rr = r.rank();
  int64_t m = l.shape[lr - (ta ? 1 : 2)], k1 = l.shape[lr - (ta ? 2 : 1)];
  int64_t k2 = r.shape[rr - (tb ? 1 : 2)], p = r.shape[rr - (tb ? 2 : 1)];
  if (k1 != k2)
    fail(op, "contracting dimensions differ: " + l.to_string() + " x " + r.to_string() + " (" +
                 dim_str(k1) + " vs " + dim_str(k2) + ")");
  Dims s(l.shape.begin(), l.shape.end() - 2);
  s.push_back(m);
  s.push_back(p);
  check_dims(op, s, "result");
  return {DType::f32, s};
}

struct Window {
  int64_t kh, kw, sh, sw, pt, pb, pl, pr, dh, dw;
};

Window window(OpKind op, const AttrMap& a, int64_t kh, int64_t kw) {
  const auto& st = a.ints("strides");
  const auto& pd = a.ints("padding");
  Dims dl = a.get_or<std::vector<int64_t>>("dilations", {1, 1});
  if (st.size() != 2 || pd.size() != 4 || dl.size() != 2)
    fail(op, "strides and dilations need 2 entries and padding 4 ([top, bottom, left, right])");
  if (st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1) fail(op, "strides and dilations must be >= 1");
  for (int64_t p : pd)
    if (p < 0) fail(op, "negative padding");
  return {kh, kw, st[0], st[1], pd[0], pd[1], pd[2], pd[3], dl[0], dl[1]};
}

// Output spatial size of a window op; throws on a non-positive size.
int64_t out_size(OpKind op, int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d,
                 const TensorType& x) {
  // eff = (k - 1) * d + 1; n = in + p0 + p1 - eff, rejecting overflow (hostile attributes).
  int64_t eff = 0, n = 0;
  if (__builtin_mul_overflow(k - 1, d, &eff) || __builtin_add_overflow(eff, 1, &eff) ||
      __builtin_add_overflow(in, p0, &n) || __builtin_add_overflow(n, p1, &n) || __builtin_sub_overflow(n, eff, &n))
    fail(op, "window, padding or dilation is too large for input " + x.to_string());
  if (n < 0)
    fail(op, "window of size " + std::to_string(eff) + " does not fit input " + x.to_string() +
                 " (the output size would be negative)");
  return n / s + 1;
}

void check_nhwc(OpKind op, const TensorType& x, const char* what) {
  require_f32(op, x);
  if (x.rank() != 4) fail(op, std::string(what) + " must be rank 4 (NHWC), got " + x.to_string());
  for (int d = 1; d < 4; ++d)
    if (is_batch_dim(x.shape[d])) fail(op, std::string(what) + " has N outside the leading dim: " + x.to_string());
}

TensorType conv_out(OpKind op, const TensorType& x, const TensorType& w, const AttrMap& a) {
  check_nhwc(op, x, "input");
  require_f32(op, w);
  if (w.rank() != 4 || w.has_batch()) fail(op, "filter must be static rank 4 (HWIO), got " + w.to_string());
  if (w.shape[2] != x.shape[3])
    fail(op, "filter input channels " + std::to_string(w.shape[2]) + " do not match input " + x.to_string());
  Window wd = window(op, a, w.shape[0], w.shape[1]);
  int64_t oh = out_size(op, x.shape[1], wd.kh, wd.sh, wd.pt, wd.pb, wd.dh, x);
  int64_t ow = out_size(op, x.shape[2], wd.kw, wd.sw, wd.pl, wd.pr, wd.dw, x);
  return f32({x.shape[0], oh, ow, w.shape[3]});
}

TensorType conv_input_grad(OpKind op, const Types& in, const AttrMap& a) {
  TensorType x{DType::f32, a.ints("input_shape")};
  check_dims(op, x.shape, "input_shape");
  TensorType dy = conv_out(op, x, in[1], a);
  if (dy != in[0]) fail(op, "dy " + in[0].to_string() + " does not match the conv2d output " + dy.to_string());
  return x;
}

TensorType conv_filter_grad(OpKind op, const Types& in, const AttrMap& a) {
  TensorType w{DType::f32, a.ints("filter_shape")};
  check_dims(op, w.shape, "filter_shape");
  TensorType dy = conv_out(op, in[0], w, a);
  if (dy != in[1]) fail(op, "dy " + in[1].to_string() + " does not match the conv2d output " + dy.to_string());
  return w;
}

TensorType pool(OpKind op, const TensorType& x, const AttrMap& a) {
  check_nhwc(op, x, "input");
  const auto& win = a.ints("window");
  if (win.size() != 2 || win[0] < 1 || win[1] < 1) fail(op, "window needs 2 positive entries");
  Window wd = window(op, a, win[0], win[1]);
  if (wd.pt >= wd.kh || wd.pb >= wd.kh || wd.pl >= wd.kw || wd.pr >= wd.kw)
    fail(op, "padding must be smaller than the window");
  int64_t oh = out_size(op, x.shape[1], wd.kh, wd.sh, wd.pt, wd.pb, 1, x);
  int64_t ow = out_size(op, x.shape[2], wd.kw, wd.sw, wd.pl, wd.pr, 1, x);
  return f32({x.shape[0], oh, ow, x.shape[3]});
}

// max_pool2d_winners: the pool's output and its winners (u8: at most 256 cells per window).
Types pool_winners(OpKind op, const TensorType& x, const AttrMap& a) {
  const auto& win = a.ints("window");
  TensorType y = pool(op, x, a);
  if (win[0] * win[1] > 256) fail(op, "a window of more than 256 cells does not fit a u8 winner");
  TensorType w = y;
  w.dtype = DType::u8;
  return {y, w};
}

// max_pool2d_scatter: (winners, dy) of the pool of an input_shape value -> its gradient.
TensorType pool_scatter(OpKind op, const Types& in, const AttrMap& a) {
  TensorType x{DType::f32, a.ints("input_shape")};
  check_dims(op, x.shape, "input_shape");
  Types yw = pool_winners(op, x, a);
  if (in[0] != yw[1]) fail(op, "winners " + in[0].to_string() + " do not match the pool output " + yw[1].to_string());
  if (in[1] != yw[0]) fail(op, "dy " + in[1].to_string() + " does not match the pool output " + yw[0].to_string());
  return x;
}

// u8 values are max_pool2d_winners' winners: only max_pool2d_scatter (as its
// first operand) and a convert to f32 (its gradient) read one, and no op
// makes one from a dtype attribute.
void check_u8(OpKind op, const Types& in, const AttrMap& a) {
  const bool to_f32 = op == OpKind::Convert && a.get<DType>("dtype") == DType::f32;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].dtype == DType::u8 && !(i == 0 && (op == OpKind::MaxPool2DScatter || to_f32)))
      fail(op, "u8 (max_pool2d_winners' winners) is read only by max_pool2d_scatter and convert to f32, got operand " +
                   std::to_string(i) + " " + in[i].to_string());
  if (a.has("dtype") && a.get<DType>("dtype") == DType::u8) fail(op, "dtype u8 is only max_pool2d_winners'");
}

Types scan(OpKind op, const Types& in, const AttrMap& a, const Graph* body) {
  int64_t nc = a.i("num_carry"), ns = a.i("num_seq");
  if (nc < 0 || ns < 0 || nc > static_cast<int64_t>(in.size()) || ns > static_cast<int64_t>(in.size()) - nc)
    fail(op, "num_carry + num_seq exceeds the operand count");
  if (ns < 1) fail(op, "needs at least one sequence (it gives the trip count)");
  const auto& ps = body->params();
  if (ps.size() != in.size())
    fail(op, "body takes " + std::to_string(ps.size()) + " parameters but scan has " + std::to_string(in.size()) +
                 " operands");
  int64_t T = -2;
  for (size_t i = 0; i < in.size(); ++i) {
    TensorType expect = in[i];
    if (static_cast<int64_t>(i) >= nc && static_cast<int64_t>(i) < nc + ns) {
      if (expect.rank() < 1 || is_batch_dim(expect.shape[0]))
        fail(op, "sequence operand " + expect.to_string() + " needs a static leading (time) axis");
      if (T == -2) T = expect.shape[0];
      if (expect.shape[0] != T) fail(op, "sequences differ in length: " + list(in));
      expect.shape.erase(expect.shape.begin());
    }
    if (ps[i]->type != expect)
      fail(op, "body parameter %" + ps[i]->name + " has type " + ps[i]->type.to_string() + ", expected " +
                   expect.to_string());
  }
  const auto& rs = body->results();
  if (static_cast<int64_t>(rs.size()) < nc) fail(op, "body returns fewer values than there are carries");
  Types out;
  for (int64_t i = 0; i < nc; ++i) {
    if (rs[i]->type != in[i])
      fail(op, "body result " + std::to_string(i) + " has type " + rs[i]->type.to_string() +
                   " but carry has type " + in[i].to_string());
    out.push_back(in[i]);
  }
  for (size_t i = nc; i < rs.size(); ++i) {
    TensorType t = rs[i]->type;
    t.shape.insert(t.shape.begin(), T);
    check_dims(op, t.shape, "stacked output");
    out.push_back(t);
  }
  return out;
}

// fusion: the body's signature matches the operands; its ops fit `kind` (ops.def).
Types fusion(OpKind op, const Types& in, const AttrMap& a, const Graph* body) {
  const auto& ps = body->params();
  if (ps.size() != in.size())
    fail(op, "body takes " + std::to_string(ps.size()) + " parameters but fusion has " + std::to_string(in.size()) +
                 " operands");
  for (size_t i = 0; i < in.size(); ++i)
    if (ps[i]->type != in[i])
      fail(op, "body parameter %" + ps[i]->name + " has type " + ps[i]->type.to_string() + ", expected " +
                   in[i].to_string());
  const std::string& kind = a.s("kind");
  int contractions = 0, reductions = 0;
  for (const Node* n : body->nodes()) {
    const OpInfo& info = n->info();
    if (info.has(kElementwise) || n->op == OpKind::Constant) continue;
    if (kind == "reduction" && info.has(kReduction)) {
      ++reductions;
      continue;
    }
    if (kind == "contraction" && is_contraction(n->op) && n == body->nodes().front()) {
      ++contractions;
      continue;
    }
    if (kind == "contraction" && (n->op == OpKind::MaxPool2D || n->op == OpKind::MaxPool2DWinners) &&
        n == body->nodes().back() &&
        body->nodes().front()->op == OpKind::Conv2D)
      continue;
    fail(op, "a " + kind + " fusion cannot hold " + std::string(info.name) + " here (ops.def lists what it may hold)");
  }
  const auto& rs = body->results();
  if (rs.empty()) fail(op, "body returns no values");
  if (kind == "reduction" && (reductions != 1 || rs.size() != 1 || !rs[0]->def || !rs[0]->def->info().has(kReduction)))
    fail(op, "a reduction fusion needs exactly one reduction, and it is the only result");
  if (kind == "contraction" && contractions != 1) fail(op, "a contraction fusion starts with its contraction");
  Types out;
  for (const Value* r : rs) out.push_back(r->type);
  return out;
}

}  // namespace

void check_attrs(OpKind op, const AttrMap& attrs) {
  const OpInfo& info = op_info(op);
  for (const auto& [k, v] : attrs) {
    const AttrSpec* spec = info.attr(k);
    if (!spec) fail(op, "unknown attribute '" + k + "'");
    bool ok = false;
    switch (spec->kind) {
      case AttrKind::Int: ok = std::holds_alternative<int64_t>(v); break;
      case AttrKind::Float: ok = std::holds_alternative<double>(v); break;
      case AttrKind::Bool: ok = std::holds_alternative<bool>(v); break;
      case AttrKind::String: ok = std::holds_alternative<std::string>(v); break;
      case AttrKind::Ints:
      case AttrKind::Shape: ok = std::holds_alternative<std::vector<int64_t>>(v); break;
      case AttrKind::DType: ok = std::holds_alternative<DType>(v); break;
    }
    if (!ok) fail(op, "attribute '" + k + "' must be of kind " + std::string(attr_kind_name(spec->kind)));
  }
  for (const AttrSpec& s : info.attrs)
    if (!s.optional && !attrs.has(s.name)) fail(op, "missing required attribute '" + s.name + "'");
  if (op == OpKind::Compare) {
    static const char* dirs[] = {"eq", "ne", "lt", "le", "gt", "ge"};
    const std::string& d = attrs.s("dir");
    if (std::none_of(std::begin(dirs), std::end(dirs), [&](const char* x) { return d == x; }))
      fail(op, "dir must be one of eq ne lt le gt ge, got \"" + d + "\"");
  }
  if (op == OpKind::Fusion) {
    const std::string& k = attrs.s("kind");
    if (k != "loop" && k != "reduction" && k != "contraction")
      fail(op, "kind must be one of loop reduction contraction, got \"" + k + "\"");
  }
}

std::vector<TensorType> infer_types(OpKind op, const Types& in, const AttrMap& a, const Graph* body) {
  for (const TensorType& t : in) check_dims(op, t.shape, "operand");
  check_u8(op, in, a);
  switch (op) {
    case OpKind::Constant: return {source(op, a, DType::f32)};
    case OpKind::Iota: {
      TensorType t = source(op, a, DType::i32);
      norm_axis(op, a.i("axis"), t.rank());
      if (t.dtype == DType::i1) fail(op, "dtype must be f32 or i32");
      return {t};
    }
    case OpKind::RngUniform: return {source(op, a, DType::f32)};
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Rsqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Convert: return {unary(op, in, a)};
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Pow: return {binary(op, in, a)};
    case OpKind::Compare: {
      TensorType t = binary(op, in, a);
      t.dtype = DType::i1;
      return {t};
    }
    case OpKind::Select: return {select(op, in)};
    case OpKind::Broadcast: return {broadcast(op, in, a)};
    case OpKind::Reshape: return {reshape(op, in, a)};
    case OpKind::Transpose: return {transpose(op, in, a)};
    case OpKind::Slice: return {slice(op, in, a)};
    case OpKind::Concat: return {concat(op, in, a)};
    case OpKind::Pad: return {pad(op, in, a)};
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMean: return {reduce(op, in, a)};
    case OpKind::ArgMax: return {argmax(op, in, a)};
    case OpKind::Matmul: return {matmul(op, in, a)};
    case OpKind::Conv2D: return {conv_out(op, in[0], in[1], a)};
    case OpKind::Conv2DInputGrad: return {conv_input_grad(op, in, a)};
    case OpKind::Conv2DFilterGrad: return {conv_filter_grad(op, in, a)};
    case OpKind::MaxPool2D: return {pool(op, in[0], a)};
    case OpKind::MaxPool2DGrad: {
      TensorType y = pool(op, in[0], a);
      if (y != in[1]) fail(op, "dy " + in[1].to_string() + " does not match the pool output " + y.to_string());
      return {in[0]};
    }
    case OpKind::MaxPool2DWinners: return pool_winners(op, in[0], a);
    case OpKind::MaxPool2DScatter: return {pool_scatter(op, in, a)};
    case OpKind::Scan: return scan(op, in, a, body);
    case OpKind::Fusion: return fusion(op, in, a, body);
  }
  KILN_UNREACHABLE("unknown op");
}

}  // namespace kiln::ir
