// Activations as compositions of primitive ops:
//   softmax(x) = exp(x - max(x)) / sum(exp(x - max(x)))   over the last axis
//   elu(x) = x > 0 ? x : exp(x) - 1;  selu(x) = 1.0507 * (x > 0 ? x : 1.67326 * (exp(x) - 1))
//   softplus(x) = max(x, 0) + log(1 + exp(-|x|));  swish(x) = x * sigmoid(x)
#include "activations.h"

#include <numeric>

#include "kiln/layers.h"

namespace kiln {

const std::vector<std::string>& known_activations() {
  static const std::vector<std::string> names = {"linear", "relu", "sigmoid",  "tanh", "softmax",
                                                 "elu",    "selu", "softplus", "swish"};
  return names;
}

namespace detail {

using ir::OpKind;
using ir::Value;

std::string check_activation(const std::string& name, const std::string& where) {
  if (name.empty()) return "linear";
  for (const std::string& k : known_activations())
    if (k == name) return name;
  std::string known;
  for (const std::string& k : known_activations()) known += (known.empty() ? "" : ", ") + k;
  throw Error("Unknown activation function: \"" + name + "\" in " + where + ". Known activations: " + known + ".");
}

namespace {

Value* scalar(ir::Graph& g, double v, const std::string& name) {
  return g.add(OpKind::Constant, {}, {{"value", v}, {"shape", std::vector<int64_t>{}}}, name);
}

// exp(x) - 1, and x > 0 as a mask: the pieces of elu and selu.
Value* elu_core(ir::Graph& g, Value* x, double alpha, const std::string& p, const std::string& out) {
  Value* zero = scalar(g, 0.0, p + "_zero");
  Value* pos = g.add(OpKind::Compare, {x, zero}, {{"dir", std::string("gt")}}, p + "_positive");
  Value* e = g.add(OpKind::Exp, {x}, {}, p + "_exp");
  Value* em1 = g.add(OpKind::Sub, {e, scalar(g, 1.0, p + "_one")}, {}, p + "_expm1");
  if (alpha != 1.0) em1 = g.add(OpKind::Mul, {em1, scalar(g, alpha, p + "_alpha")}, {}, p + "_neg_branch");
  return g.add(OpKind::Select, {pos, x, em1}, {}, out);
}

}  // namespace

Value* lower_activation(ir::Graph& g, const std::string& act, Value* x, const std::string& prefix,
                        const std::string& out_name) {
  std::string p = prefix + "." + act;
  if (act == "linear") return x;
  if (act == "relu") return g.add(OpKind::Relu, {x}, {}, out_name);
  if (act == "sigmoid") return g.add(OpKind::Sigmoid, {x}, {}, out_name);
  if (act == "tanh") return g.add(OpKind::Tanh, {x}, {}, out_name);
  if (act == "softmax") {
    int64_t r = x->type.rank();
    std::vector<int64_t> keep(static_cast<size_t>(r - 1));
    std::iota(keep.begin(), keep.end(), 0);
    ir::AttrMap over_last{{"axes", std::vector<int64_t>{r - 1}}};
    ir::AttrMap bcast{{"broadcast_dims", keep}};
    Value* m = g.add(OpKind::ReduceMax, {x}, over_last, p + "_max");
    Value* s = g.add(OpKind::Sub, {x, m}, bcast, p + "_shifted");
    Value* e = g.add(OpKind::Exp, {s}, {}, p + "_exp");
    Value* sum = g.add(OpKind::ReduceSum, {e}, over_last, p + "_sum");
    return g.add(OpKind::Div, {e, sum}, bcast, out_name);
  }
  if (act == "elu") return elu_core(g, x, 1.0, p, out_name);
  if (act == "selu") {
    Value* e = elu_core(g, x, 1.6732632423543772, p, p + "_elu");
    return g.add(OpKind::Mul, {e, scalar(g, 1.0507009873554805, p + "_scale")}, {}, out_name);
  }
  if (act == "softplus") {
    Value* zero = scalar(g, 0.0, p + "_zero");
    Value* relu = g.add(OpKind::Max, {x, zero}, {}, p + "_relu");
    Value* na = g.add(OpKind::Neg, {g.add(OpKind::Abs, {x}, {}, p + "_abs")}, {}, p + "_neg_abs");
    Value* e = g.add(OpKind::Exp, {na}, {}, p + "_exp");
    Value* l =
        g.add(OpKind::Log, {g.add(OpKind::Add, {e, scalar(g, 1.0, p + "_one")}, {}, p + "_1p")}, {}, p + "_log1p");
    return g.add(OpKind::Add, {relu, l}, {}, out_name);
  }
  if (act == "swish") return g.add(OpKind::Mul, {x, g.add(OpKind::Sigmoid, {x}, {}, p + "_sigmoid")}, {}, out_name);
  KILN_UNREACHABLE("activation \"" + act + "\" has no lowering");
}

}  // namespace detail
}  // namespace kiln
