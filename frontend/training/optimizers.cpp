#include "training/optimizers.h"

namespace kiln {

using ir::Builder;
using ir::OpKind;
using ir::Value;

Optimizer::Optimizer(const char* name) : Optimizer(std::string(name)) {}

Optimizer::Optimizer(const std::string& name) {
  if (name == "sgd" || name == "SGD") *this = Optimizer(SGDOptions{});
  else if (name == "adam" || name == "Adam") *this = Optimizer(AdamOptions{});
  else if (name == "rmsprop" || name == "RMSprop") *this = Optimizer(RMSpropOptions{});
  else if (name == "adagrad" || name == "Adagrad") *this = Optimizer(AdagradOptions{});
  else throw Error("Unknown optimizer: '" + name + "'. Known optimizers: sgd, adam, rmsprop, adagrad.");
}

Optimizer::Optimizer(SGDOptions o) : name_("SGD"), lr_(o.learning_rate), sgd_(o) {
  if (o.momentum < 0 || o.momentum > 1) throw Error("SGD: momentum must be in [0, 1], got " + std::to_string(o.momentum));
}
Optimizer::Optimizer(AdamOptions o) : name_("Adam"), lr_(o.learning_rate), adam_(o) {}
Optimizer::Optimizer(RMSpropOptions o) : name_("RMSprop"), lr_(o.learning_rate), rms_(o) {}
Optimizer::Optimizer(AdagradOptions o) : name_("Adagrad"), lr_(o.learning_rate), ada_(o) {}

std::vector<std::string> Optimizer::slot_names() const {
  if (name_ == "SGD") return sgd_.momentum > 0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
  if (name_ == "Adam") return {"m", "v"};
  if (name_ == "RMSprop") {
    std::vector<std::string> s{"velocity"};
    if (rms_.momentum > 0) s.push_back("momentum");
    if (rms_.centered) s.push_back("average_gradient");
    return s;
  }
  return {"accumulator"};
}

double Optimizer::slot_init(size_t slot) const {
  if (name_ == "Adagrad" && slot == 0) return ada_.initial_accumulator_value;
  return 0.0;
}

std::vector<Value*> Optimizer::build_update(Builder& b, Value* w, Value* g, const std::vector<Value*>& slots, Value* lr,
                                            Value* step) const {
  auto c = [&](double v) { return b.constant(v); };
  if (name_ == "SGD") {
    if (sgd_.momentum == 0) return {b.sub(w, b.mul(lr, g), "new")};  // w - lr g
    // m = momentum m - lr g;  w += m  (nesterov: w += momentum m - lr g)
    Value* lr_g = b.mul(lr, g);
    Value* m = b.sub(b.mul(c(sgd_.momentum), slots[0]), lr_g, "momentum.new");
    Value* nw = sgd_.nesterov ? b.add(w, b.sub(b.mul(c(sgd_.momentum), m), lr_g), "new") : b.add(w, m, "new");
    return {nw, m};
  }
  if (name_ == "Adam") {
    // alpha = lr sqrt(1 - b2^t) / (1 - b1^t); m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    // w -= alpha m / (sqrt(v) + eps)
    Value* b1t = b.binary(OpKind::Pow, c(adam_.beta_1), step);
    Value* b2t = b.binary(OpKind::Pow, c(adam_.beta_2), step);
    Value* alpha = b.div(b.mul(lr, b.unary(OpKind::Sqrt, b.sub(c(1), b2t))), b.sub(c(1), b1t));
    Value* m = b.add(slots[0], b.mul(b.sub(g, slots[0]), c(1 - adam_.beta_1)), "m.new");
    Value* v = b.add(slots[1], b.mul(b.sub(b.mul(g, g), slots[1]), c(1 - adam_.beta_2)), "v.new");
    Value* upd = b.div(b.mul(m, alpha), b.add(b.unary(OpKind::Sqrt, v), c(adam_.epsilon)));
    return {b.sub(w, upd, "new"), m, v};
  }
  if (name_ == "RMSprop") {
    // vel = rho vel + (1 - rho) g^2; denom = vel (- avg_g^2 if centered) + eps;
    // inc = lr g / sqrt(denom); with momentum: m = momentum m + inc, w -= m; else w -= inc
    size_t k = 0;
    Value* vel = b.add(b.mul(c(rms_.rho), slots[k++]), b.mul(c(1 - rms_.rho), b.mul(g, g)), "velocity.new");
    Value* mom_slot = rms_.momentum > 0 ? slots[k++] : nullptr;
    Value* denom = vel;
    Value* avg = nullptr;
    if (rms_.centered) {
      avg = b.add(b.mul(c(rms_.rho), slots[k++]), b.mul(c(1 - rms_.rho), g), "average_gradient.new");
      denom = b.sub(denom, b.mul(avg, avg));
    }
    denom = b.add(denom, c(rms_.epsilon));
    Value* inc = b.mul(b.mul(lr, g), b.unary(OpKind::Rsqrt, denom));
    std::vector<Value*> out{nullptr, vel};
    if (mom_slot) {
      Value* m = b.add(b.mul(c(rms_.momentum), mom_slot), inc, "momentum.new");
      out[0] = b.sub(w, m, "new");
      out.push_back(m);
    } else {
      out[0] = b.sub(w, inc, "new");
    }
    if (avg) out.push_back(avg);
    return out;
  }
  // Adagrad: acc += g^2; w -= lr g / sqrt(acc + eps)
  Value* acc = b.add(slots[0], b.mul(g, g), "accumulator.new");
  Value* upd = b.div(b.mul(lr, g), b.unary(OpKind::Sqrt, b.add(acc, c(ada_.epsilon))));
  return {b.sub(w, upd, "new"), acc};
}

}  // namespace kiln
