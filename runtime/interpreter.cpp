// The reference interpreter: binds the batch size, walks the nodes in order and
// dispatches each to its kernel (runtime/kernels.h); scan runs its body by a
// recursive interpret call per step, fusion by one call.
#include "runtime/interpreter.h"

#include <cstring>
#include <unordered_map>

#include "runtime/kernels.h"

namespace kiln::runtime {
namespace {

namespace k = kernels;
using ir::Dims;
using ir::OpKind;

std::string shape_str(const Tensor& t) {
  return std::string(ir::dtype_name(t.dtype())) + " " + t.shape_string();
}

std::string graph_name(const ir::Graph& g) { return g.name.empty() ? "graph" : "@" + g.name; }

k::Window2D window(const ir::AttrMap& a, int64_t kh, int64_t kw) {
  const auto& st = a.ints("strides");
  const auto& pd = a.ints("padding");
  Dims dl = a.get_or<std::vector<int64_t>>("dilations", {1, 1});
  return {kh, kw, st[0], st[1], pd[0], pd[1], pd[2], pd[3], dl[0], dl[1]};
}

k::Window2D pool_window(const ir::AttrMap& a) {
  const auto& w = a.ints("window");
  k::Window2D win = window(a, w[0], w[1]);
  win.dh = win.dw = 1;
  return win;
}

const Dims* bdims(const ir::AttrMap& a) { return a.has("broadcast_dims") ? &a.ints("broadcast_dims") : nullptr; }

k::Cmp cmp_dir(const std::string& d) {
  if (d == "eq") return k::Cmp::Eq;
  if (d == "ne") return k::Cmp::Ne;
  if (d == "lt") return k::Cmp::Lt;
  if (d == "le") return k::Cmp::Le;
  if (d == "gt") return k::Cmp::Gt;
  if (d == "ge") return k::Cmp::Ge;
  throw Error("compare: unknown direction \"" + d + "\"");
}

// Step t of a sequence: row t along axis 0, without that axis.
Tensor step_of(const Tensor& seq, int64_t t) {
  Dims rest(seq.shape().begin() + 1, seq.shape().end());
  return seq.slice_rows(t, t + 1).reshaped(rest);
}

// scan: operands = carries, sequences, invariants; results = final carries,
// then each per-step body output stacked along a new axis 0 at index t.
std::vector<Tensor> run_scan(const ir::Node& n, const std::vector<Tensor>& in, int64_t batch) {
  const ir::Graph& body = *n.body;
  const size_t nc = static_cast<size_t>(n.attrs.i("num_carry")), ns = static_cast<size_t>(n.attrs.i("num_seq"));
  const bool reverse = n.attrs.b("reverse");
  const int64_t T = in[nc].dim(0);
  std::vector<Tensor> carries(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(nc));
  std::vector<Tensor> stacked;
  for (size_t r = nc; r < n.results.size(); ++r)
    stacked.push_back(Tensor::zeros(n.results[r]->type.concrete(batch), n.results[r]->type.dtype));
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    std::vector<Tensor> args = carries;
    for (size_t i = nc; i < nc + ns; ++i) args.push_back(step_of(in[i], t));
    for (size_t i = nc + ns; i < in.size(); ++i) args.push_back(in[i]);
    std::vector<Tensor> res = interpret(body, args, batch);
    for (size_t i = 0; i < nc; ++i) carries[i] = res[i];
    for (size_t r = 0; r < stacked.size(); ++r) {
      const Tensor& y = res[nc + r];
      std::memcpy(static_cast<uint8_t*>(stacked[r].raw()) + static_cast<size_t>(t) * y.nbytes(), y.raw(), y.nbytes());
    }
  }
  carries.insert(carries.end(), stacked.begin(), stacked.end());
  return carries;
}

// One kernel per op; the switch has no default so a new op fails to compile here.
std::vector<Tensor> dispatch(const ir::Node& n, const std::vector<Tensor>& in, int64_t batch) {
  const ir::AttrMap& a = n.attrs;
  const ir::TensorType& rt = n.results[0]->type;
  auto concrete = [&](const std::string& key) { return ir::TensorType{rt.dtype, a.ints(key)}.concrete(batch); };
  switch (n.op) {
    case OpKind::Constant: return {k::fill(concrete("shape"), rt.dtype, a.f("value"))};
    case OpKind::Iota: return {k::iota(concrete("shape"), a.i("axis"), rt.dtype)};
    case OpKind::RngUniform:
      return {k::rng_uniform(concrete("shape"), a.i("seed"), static_cast<float>(a.get_or<double>("low", 0.0)),
                             static_cast<float>(a.get_or<double>("high", 1.0)))};
    case OpKind::Neg: return {k::unary(k::Unary::Neg, in[0])};
    case OpKind::Abs: return {k::unary(k::Unary::Abs, in[0])};
    case OpKind::Sign: return {k::unary(k::Unary::Sign, in[0])};
    case OpKind::Exp: return {k::unary(k::Unary::Exp, in[0])};
    case OpKind::Log: return {k::unary(k::Unary::Log, in[0])};
    case OpKind::Sqrt: return {k::unary(k::Unary::Sqrt, in[0])};
    case OpKind::Rsqrt: return {k::unary(k::Unary::Rsqrt, in[0])};
    case OpKind::Tanh: return {k::unary(k::Unary::Tanh, in[0])};
    case OpKind::Sigmoid: return {k::unary(k::Unary::Sigmoid, in[0])};
    case OpKind::Relu: return {k::unary(k::Unary::Relu, in[0])};
    case OpKind::Convert: return {k::convert(in[0], a.get<ir::DType>("dtype"))};
    case OpKind::Add: return {k::binary(k::Binary::Add, in[0], in[1], bdims(a))};
    case OpKind::Sub: return {k::binary(k::Binary::Sub, in[0], in[1], bdims(a))};
    case OpKind::Mul: return {k::binary(k::Binary::Mul, in[0], in[1], bdims(a))};
    case OpKind::Div: return {k::binary(k::Binary::Div, in[0], in[1], bdims(a))};
    case OpKind::Max: return {k::binary(k::Binary::Max, in[0], in[1], bdims(a))};
    case OpKind::Min: return {k::binary(k::Binary::Min, in[0], in[1], bdims(a))};
    case OpKind::Pow: return {k::binary(k::Binary::Pow, in[0], in[1], bdims(a))};
    case OpKind::Compare: return {k::compare(cmp_dir(a.s("dir")), in[0], in[1], bdims(a))};
    case OpKind::Select: return {k::select(in[0], in[1], in[2])};
    case OpKind::Broadcast: return {k::broadcast(in[0], concrete("shape"), a.ints("dims"))};
    case OpKind::Reshape: return {k::reshape(in[0], concrete("shape"))};
    case OpKind::Transpose: return {k::transpose(in[0], a.ints("perm"))};
    case OpKind::Slice: return {k::slice(in[0], a.i("axis"), a.i("start"), a.i("limit"))};
    case OpKind::Concat: return {k::concat(in, a.i("axis"))};
    case OpKind::Pad: return {k::pad(in[0], a.i("axis"), a.i("low"), a.i("high"))};
    case OpKind::ReduceSum: return {k::reduce(k::Reduce::Sum, in[0], a.ints("axes"))};
    case OpKind::ReduceMax: return {k::reduce(k::Reduce::Max, in[0], a.ints("axes"))};
    case OpKind::ReduceMean: return {k::reduce(k::Reduce::Mean, in[0], a.ints("axes"))};
    case OpKind::ArgMax: return {k::argmax(in[0], a.i("axis"))};
    case OpKind::Matmul: return {k::matmul(in[0], in[1], a.b("transpose_a"), a.b("transpose_b"))};
    case OpKind::Conv2D: return {k::conv2d(in[0], in[1], window(a, in[1].dim(0), in[1].dim(1)))};
    case OpKind::Conv2DInputGrad:
      return {k::conv2d_input_grad(in[0], in[1], concrete("input_shape"), window(a, in[1].dim(0), in[1].dim(1)))};
    case OpKind::Conv2DFilterGrad: {
      Dims fs = concrete("filter_shape");
      return {k::conv2d_filter_grad(in[0], in[1], fs, window(a, fs[0], fs[1]))};
    }
    case OpKind::MaxPool2D: return {k::max_pool2d(in[0], pool_window(a))};
    case OpKind::MaxPool2DGrad: return {k::max_pool2d_grad(in[0], in[1], pool_window(a))};
    case OpKind::MaxPool2DWinners: {
      auto [y, w] = k::max_pool2d_winners(in[0], pool_window(a));
      return {y, w};
    }
    case OpKind::MaxPool2DScatter:
      return {k::max_pool2d_scatter(in[0], in[1], concrete("input_shape"), pool_window(a))};
    case OpKind::Scan: return run_scan(n, in, batch);
    case OpKind::Fusion: return interpret(*n.body, in, batch);  // the body, op by op
  }
  KILN_UNREACHABLE("interpreter: unknown op");
}

bool fits(const ir::TensorType& t, const Tensor& x, int64_t batch) {
  return x.defined() && x.dtype() == t.dtype && x.shape() == t.concrete(batch);
}

}  // namespace

int64_t bind_batch(const ir::Graph& g, const std::vector<Tensor>& args) {
  const auto& ps = g.params();
  if (args.size() != ps.size())
    throw Error("interpret " + graph_name(g) + ": expected " + std::to_string(ps.size()) + " argument(s), got " +
                std::to_string(args.size()));
  int64_t batch = -1;
  const ir::Value* bound_by = nullptr;
  for (size_t i = 0; i < ps.size(); ++i) {
    const ir::TensorType& t = ps[i]->type;
    const Tensor& x = args[i];
    auto bad = [&](const std::string& why) {
      return Error("interpret " + graph_name(g) + ": argument " + std::to_string(i) + " for parameter %" +
                   ps[i]->name + ": expected " + t.to_string() + ", got " +
                   (x.defined() ? shape_str(x) : std::string("an empty tensor")) + why);
    };
    if (!x.defined() || x.dtype() != t.dtype || x.rank() != t.rank()) throw bad("");
    for (int64_t d = 0; d < t.rank(); ++d) {
      int64_t want = t.shape[d], got = x.shape()[d];
      if (!ir::is_batch_dim(want)) {
        if (got != want) throw bad(" (dim " + std::to_string(d) + " differs)");
        continue;
      }
      int64_t f = ir::batch_factor(want);
      if (got % f != 0) throw bad(" (dim " + std::to_string(d) + " is not a multiple of " + std::to_string(f) + ")");
      if (batch >= 0 && got / f != batch)
        throw bad(" (N = " + std::to_string(got / f) + " here, but N = " + std::to_string(batch) + " from %" +
                  bound_by->name + ")");
      batch = got / f;
      bound_by = ps[i];
    }
  }
  return batch;
}

std::vector<Tensor> eval_node(const ir::Node& n, const std::vector<Tensor>& operands, int64_t batch) {
  KILN_ASSERT(batch >= 0, "eval_node: batch size not bound");
  if (operands.size() != n.operands.size())
    throw Error(std::string(ir::op_name(n.op)) + ": expected " + std::to_string(n.operands.size()) +
                " operand(s), got " + std::to_string(operands.size()));
  for (size_t i = 0; i < operands.size(); ++i)
    if (!fits(n.operands[i]->type, operands[i], batch))
      throw Error(std::string(ir::op_name(n.op)) + ": operand " + std::to_string(i) + " should be " +
                  n.operands[i]->type.to_string() + " with N = " + std::to_string(batch) + ", got " +
                  (operands[i].defined() ? shape_str(operands[i]) : std::string("an empty tensor")));
  std::vector<Tensor> out = dispatch(n, operands, batch);
  KILN_ASSERT(out.size() == n.results.size(), "interpreter: wrong result count for " + std::string(ir::op_name(n.op)));
  for (size_t i = 0; i < out.size(); ++i)
    KILN_ASSERT(fits(n.results[i]->type, out[i], batch),
                "interpreter: " + std::string(ir::op_name(n.op)) + " produced " + shape_str(out[i]) + " for " +
                    n.results[i]->type.to_string());
  return out;
}

std::vector<Tensor> interpret(const ir::Graph& g, const std::vector<Tensor>& args, const InterpretOptions& opts) {
  int64_t batch = bind_batch(g, args);
  if (opts.batch >= 0) {
    if (batch >= 0 && batch != opts.batch)
      throw Error("interpret " + graph_name(g) + ": the arguments imply N = " + std::to_string(batch) +
                  " but N = " + std::to_string(opts.batch) + " was given");
    batch = opts.batch;
  }
  if (batch < 0) batch = 1;

  // Values die after their last use, which keeps a training step's peak memory low.
  std::unordered_map<const ir::Value*, size_t> last_use;
  const auto& nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const ir::Value* v : nodes[i]->operands) last_use[v] = i;
  for (const ir::Value* v : g.results()) last_use[v] = nodes.size();

  std::unordered_map<const ir::Value*, Tensor> env;
  for (size_t i = 0; i < args.size(); ++i) env[g.params()[i]] = args[i];
  std::vector<Tensor> in;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node& n = *nodes[i];
    in.clear();
    for (const ir::Value* v : n.operands) in.push_back(env.at(v));
    std::vector<Tensor> out = eval_node(n, in, batch);
    if (opts.on_node) opts.on_node(n, out);
    for (size_t r = 0; r < out.size(); ++r) env[n.results[r]] = std::move(out[r]);
    for (const ir::Value* v : n.operands)
      if (last_use[v] == i) env.erase(v);
  }
  std::vector<Tensor> results;
  for (const ir::Value* v : g.results()) results.push_back(env.at(v));
  return results;
}

std::vector<Tensor> interpret(const ir::Graph& g, const std::vector<Tensor>& args, int64_t batch) {
  return interpret(g, args, InterpretOptions{.batch = batch, .on_node = {}});
}

std::vector<Tensor> interpret(const ir::Graph& g, const std::vector<Tensor>& args) {
  return interpret(g, args, InterpretOptions{});
}

}  // namespace kiln::runtime
