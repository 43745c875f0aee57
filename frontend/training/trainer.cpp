#include "training/trainer.h"

#include <cmath>
#include <cstdio>

namespace kiln {

namespace {

std::string py_shape(const std::vector<int64_t>& d) {
  std::string s = "(";
  for (size_t i = 0; i < d.size(); ++i)
    s += (i ? ", " : "") + (ir::is_batch_dim(d[i]) ? std::string("None") : std::to_string(d[i]));
  return s + (d.size() == 1 ? ",)" : ")");
}

// The type a batch of `t` gives a graph parameter: the leading dim becomes N.
ir::TensorType batched_type(const Tensor& t) {
  ir::TensorType ty = t.type();
  if (!ty.shape.empty()) ty.shape[0] = ir::kBatch;
  return ty;
}

std::string fmt_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string list_names(const std::vector<std::string>& ns) {
  std::string s;
  for (const std::string& n : ns) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string cardinality_message(const std::vector<int64_t>& xs, const std::vector<int64_t>& ys) {
  auto sizes = [](const std::vector<int64_t>& v) {
    std::string s;
    for (int64_t a : v) s += (s.empty() ? "" : ", ") + std::to_string(a);
    return s;
  };
  return "Data cardinality is ambiguous:\n  x sizes: " + sizes(xs) + "\n" +
         (ys.empty() ? "" : "  y sizes: " + sizes(ys) + "\n") +
         "Make sure all arrays contain the same number of samples.";
}

}  // namespace

std::vector<Tensor> Data::resolve(const std::vector<std::string>& names, const std::string& what,
                                  const std::string& model) const {
  if (!named_.empty()) {
    std::vector<Tensor> out;
    for (const std::string& n : names) {
      auto it = named_.find(n);
      if (it == named_.end())
        throw Error("Missing data for " + what + " '" + n + "' of model \"" + model + "\". Expected " + what +
                    " names: " + list_names(names));
      out.push_back(it->second);
    }
    for (const auto& [k, v] : named_) {
      bool known = false;
      for (const std::string& n : names) known |= n == k;
      if (!known)
        throw Error("Unknown " + what + " name '" + k + "' for model \"" + model + "\". Expected " + what +
                    " names: " + list_names(names));
    }
    return out;
  }
  if (list_.size() != names.size())
    throw Error("Layer \"" + model + "\" expects " + std::to_string(names.size()) + " " + what + "(s), but it received " +
                std::to_string(list_.size()) + " " + what + " tensors.");
  for (size_t i = 0; i < list_.size(); ++i)
    if (!list_[i].defined()) throw Error(what + " " + std::to_string(i) + " of model \"" + model + "\" is an empty tensor");
  return list_;
}

Prediction::operator Tensor() const {
  if (outs_.size() != 1)
    throw Error("the model has " + std::to_string(outs_.size()) +
                " outputs; index the prediction (p[0], p[1], ...) instead of converting it to one Tensor");
  return outs_[0];
}

Trainer::Trainer(std::unique_ptr<ir::Graph> forward, std::vector<std::string> input_names,
                 std::vector<std::string> output_names, CompileOptions opts, std::string model_name)
    : forward_(std::move(forward)), input_names_(std::move(input_names)), output_names_(std::move(output_names)),
      opts_(std::move(opts)), model_name_(std::move(model_name)), backend_(resolve_backend(opts_.backend)),
      lr_(opts_.optimizer.learning_rate()) {
  size_t no = output_names_.size();
  if (opts_.loss.empty())
    throw Error("Model \"" + model_name_ + "\": compile() needs a loss, e.g. {.loss = \"binary_crossentropy\"}");
  if (!opts_.loss.by_name.empty()) {
    for (const std::string& n : output_names_) {
      auto it = opts_.loss.by_name.find(n);
      if (it == opts_.loss.by_name.end())
        throw Error("compile(): no loss given for output '" + n + "'. Outputs: " + list_names(output_names_));
      losses_.push_back(it->second);
    }
    for (const auto& [k, v] : opts_.loss.by_name) {
      bool known = false;
      for (const std::string& n : output_names_) known |= n == k;
      if (!known) throw Error("compile(): loss given for unknown output '" + k + "'. Outputs: " + list_names(output_names_));
    }
  } else if (opts_.loss.list.size() == 1) {
    losses_.assign(no, opts_.loss.list[0]);
  } else if (opts_.loss.list.size() == no) {
    losses_ = opts_.loss.list;
  } else {
    throw Error("compile(): " + std::to_string(opts_.loss.list.size()) + " losses given for a model with " +
                std::to_string(no) + " outputs (" + list_names(output_names_) + "); give one loss, or one per output");
  }
  if (!opts_.loss_weights.empty() && opts_.loss_weights.size() != no)
    throw Error("compile(): loss_weights has " + std::to_string(opts_.loss_weights.size()) +
                " entries for a model with " + std::to_string(no) + " outputs");
}

int64_t check_inputs(const ir::Graph& forward, const std::vector<Tensor>& x, const std::string& model) {
  std::vector<int64_t> xs;
  for (size_t i = 0; i < x.size(); ++i) {
    const ir::TensorType& want = forward.params().at(i)->type;
    const Tensor& t = x[i];
    bool ok = t.dtype() == want.dtype && t.rank() == want.rank();
    for (int64_t d = 0; ok && d < want.rank(); ++d)
      ok = ir::is_batch_dim(want.shape[d]) ? d == 0 : t.shape()[d] == want.shape[d];
    if (!ok)
      throw Error("Input " + std::to_string(i) + " of layer \"" + model +
                  "\" is incompatible with the layer: expected shape=" + py_shape(want.shape) +
                  ", found shape=" + py_shape(t.shape()));
    xs.push_back(t.dim(0));
  }
  for (int64_t a : xs)
    if (a != xs[0]) throw Error(cardinality_message(xs, {}));
  return xs.empty() ? 0 : xs[0];
}

int64_t Trainer::check_data(const std::vector<Tensor>& x, const std::vector<Tensor>* y) const {
  int64_t n = check_inputs(*forward_, x, model_name_);
  std::vector<int64_t> ys;
  if (y) {
    for (size_t i = 0; i < y->size(); ++i) {
      const Tensor& t = (*y)[i];
      if (t.rank() < 1) throw Error("target for output '" + output_names_[i] + "' must have a batch axis");
      ys.push_back(t.dim(0));
      const ir::TensorType& pred = forward_->results()[i]->type;
      losses_[i].check_target(batched_type(t), pred, output_names_[i]);
      if (t.dtype() == DType::i1) throw Error("target for output '" + output_names_[i] + "' must be f32 or i32");
      if (losses_[i].is_sparse()) {
        int64_t classes = pred.shape.back();
        for (int64_t k = 0; k < t.size(); ++k) {
          double v = t.dtype() == DType::f32 ? t.data()[k] : t.data_i32()[k];
          if (!(v >= 0 && v < classes) || v != std::floor(v))
            throw Error("Received a label value of " + fmt_number(v) + " which is outside the valid range of [0, " +
                        std::to_string(classes) + ") for output '" + output_names_[i] + "' (sparse labels are class ids)");
        }
      }
    }
  }
  for (int64_t a : ys)
    if (a != n) throw Error(cardinality_message(std::vector<int64_t>(x.size(), n), ys));
  return n;
}

namespace {

// Whether a batch of `t` has type `want` (whose leading dim is N).
bool batch_of(const Tensor& t, const ir::TensorType& want) {
  if (t.dtype() != want.dtype || t.rank() != want.rank()) return false;
  for (int64_t d = 1; d < t.rank(); ++d)
    if (t.shape()[d] != want.shape[d]) return false;
  return true;
}

// args = the concatenated lists, assigned element by element so that a
// vector reused between steps keeps its storage (no allocation).
void set_args(std::vector<Tensor>& args, std::initializer_list<const std::vector<Tensor>*> lists) {
  size_t n = 0;
  for (const auto* l : lists) n += l->size();
  args.resize(n);
  size_t k = 0;
  for (const auto* l : lists)
    for (const Tensor& t : *l) args[k++] = t;
}

}  // namespace

Trainer::Compiled& Trainer::compiled(const std::vector<Tensor>& y) {
  if (last_) {  // the common case: the same target types as the previous batch
    const std::vector<OutputSpec>& specs = last_->specs;
    bool same = specs.size() == y.size();
    for (size_t i = 0; same && i < y.size(); ++i) same = batch_of(y[i], specs[i].target);
    if (same) return *last_;
  }
  std::string key;
  for (const Tensor& t : y) key += batched_type(t).to_string() + ";";
  auto it = by_targets_.find(key);
  if (it != by_targets_.end()) return *(last_ = &it->second);
  std::vector<ir::TensorType> types;
  for (const Tensor& t : y) types.push_back(batched_type(t));
  Compiled c;
  c.graphs = build_graphs(types);
  c.train = compile_graph(c.graphs.train_step->clone(), backend_, passes::Pipeline::TrainStep);
  c.eval = compile_graph(c.graphs.eval_step->clone(), backend_, passes::Pipeline::TrainStep);
  c.specs = output_specs(types);
  c.updates = c.train->updates();
  return *(last_ = &by_targets_.emplace(key, std::move(c)).first->second);
}

std::vector<OutputSpec> Trainer::output_specs(const std::vector<ir::TensorType>& target_types) const {
  std::vector<OutputSpec> specs;
  for (size_t i = 0; i < output_names_.size(); ++i)
    specs.push_back({output_names_[i], losses_[i], opts_.loss_weights.empty() ? 1.0 : opts_.loss_weights[i],
                     opts_.metrics, target_types.at(i)});
  return specs;
}

StepGraphs Trainer::build_graphs(const std::vector<ir::TensorType>& target_types) const {
  return build_step_graphs(*forward_, input_names_.size(), output_specs(target_types), opts_.optimizer, model_name_);
}

std::vector<ir::TensorType> Trainer::default_target_types() const {
  std::vector<ir::TensorType> types;
  for (size_t i = 0; i < output_names_.size(); ++i) {
    ir::TensorType t = forward_->results()[i]->type;
    t.dtype = ir::DType::f32;
    if (losses_[i].is_sparse()) t.shape.pop_back();
    types.push_back(t);
  }
  return types;
}

const StepGraphs& Trainer::graphs(const std::vector<Tensor>& y) { return compiled(y).graphs; }
const std::vector<std::string>& Trainer::log_names(const std::vector<Tensor>& y) { return compiled(y).graphs.log_names; }

// The step writes the new weights and state into c.train_outs. A weight or
// optimizer slot the program updates in place (Executable::updates) is given
// as its own result, so the step overwrites it: one buffer per weight, not
// two. Any other (or one whose buffer someone else also holds, which must not
// change under them) is double-buffered: written into a buffer of an earlier
// step, then swapped with `weights` and state_. Nothing is allocated or
// copied per step, and a step that throws has changed nothing (run_into
// checks everything before it writes).
std::vector<double> Trainer::train_batch(const std::vector<Tensor>& x, const std::vector<Tensor>& y,
                                         std::vector<Tensor>& weights) {
  Compiled& c = compiled(y);
  const StepGraphs& g = c.graphs;
  if (state_.empty()) state_ = initial_state(g);
  if (!lr_arg_.defined()) lr_arg_ = Tensor::zeros({});
  lr_arg_.data()[0] = static_cast<float>(lr_);
  set_args(c.train_args, {&x, &y, &weights, &state_});
  c.train_args.push_back(lr_arg_);  // within the kept capacity after the first step
  std::vector<Tensor>& out = c.train_outs;
  const size_t nl = g.log_names.size(), nw = weights.size(), first_weight = x.size() + y.size();
  for (Tensor& t : out)
    if (t.use_count() > 1) t = Tensor();  // still held elsewhere (set_args replaced our own copy)
  out.resize(nl + nw + state_.size());
  for (auto [arg, result] : c.updates) {
    const Tensor& a = c.train_args.at(arg);
    // Ours alone: held by the caller's list and by train_args, nowhere else.
    if (arg >= first_weight && arg < first_weight + nw + state_.size() && a.use_count() == 2) out.at(result) = a;
  }
  try {
    c.train->run_into(c.train_args, out);
  } catch (...) {
    for (auto [arg, result] : c.updates) out.at(result) = Tensor();
    throw;
  }
  KILN_ASSERT(out.size() == nl + nw + state_.size(), "train_step returned an unexpected number of results");
  std::vector<double> logs;
  for (size_t i = 0; i < nl; ++i) logs.push_back(out[i].data()[0]);
  // Updated in place: drop the result's reference; else swap the buffers.
  auto take = [](Tensor& cur, Tensor& next) {
    if (next.raw() == cur.raw()) next = Tensor();
    else std::swap(cur, next);
  };
  for (size_t i = 0; i < nw; ++i) take(weights[i], out[nl + i]);
  for (size_t i = 0; i < state_.size(); ++i) take(state_[i], out[nl + nw + i]);
  return logs;
}

std::vector<double> Trainer::eval_batch(const std::vector<Tensor>& x, const std::vector<Tensor>& y,
                                        const std::vector<Tensor>& weights) {
  Compiled& c = compiled(y);
  set_args(c.eval_args, {&x, &y, &weights});
  c.eval->run_into(c.eval_args, c.eval_outs);
  std::vector<double> logs;
  for (const Tensor& t : c.eval_outs) logs.push_back(t.data()[0]);
  return logs;
}

}  // namespace kiln
