// Internal to autodiff: what a VJP rule sees (VjpContext) and the rule table.
//
// A rule reads the forward node, its operands x(i), results y(i) and their
// cotangents dy(i), and contributes the cotangent of each operand it wants(i)
// through grad(): a value of the operand's type, or a result-shaped value that
// grad() sums over the operand's broadcast axes. Temporaries are named
// grad.<result name>.<op>, contributions grad.<operand name>.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes::detail {

class Backprop;

class VjpContext {
 public:
  VjpContext(Backprop& bp, ir::Node& n, std::vector<ir::Value*> dys, std::vector<bool> wants)
      : node(n), bp_(bp), dys_(std::move(dys)), wants_(std::move(wants)) {}

  ir::Node& node;

  ir::Graph& graph() const;
  ir::Value* x(int i) const { return node.operands.at(static_cast<size_t>(i)); }
  ir::Value* y(int i = 0) const { return node.results.at(static_cast<size_t>(i)); }
  // Cotangent of result i; null when nothing flows into it (only for scan).
  ir::Value* dy(int i = 0) const { return dys_.at(static_cast<size_t>(i)); }
  const ir::AttrMap& attrs() const { return node.attrs; }
  // Whether operand i needs a gradient (it is f32 and depends on a wrt value).
  bool wants(int i) const { return wants_.at(static_cast<size_t>(i)); }
  int num_operands() const { return static_cast<int>(node.operands.size()); }

  // --- temporaries, named grad.<y name>.<op name> ---
  ir::Value* op(ir::OpKind k, std::vector<ir::Value*> ops, ir::AttrMap a = {});
  ir::Value* constant(double v, const ir::Dims& shape = {}, ir::DType t = ir::DType::f32);
  ir::Value* zeros(const ir::TensorType& t) { return constant(0.0, t.shape, t.dtype); }
  // Elementwise binary op of this (elementwise) node's shapes: each of a, b is
  // result-shaped, rank 0, or shaped like the broadcast rhs (then broadcast).
  ir::Value* ew(ir::OpKind k, ir::Value* a, ir::Value* b);

  // --- contributions to operand i's cotangent (no-ops unless wants(i)) ---
  void grad(int i, ir::Value* v);
  void grad(int i, ir::OpKind k, std::vector<ir::Value*> ops, ir::AttrMap a = {});
  void grad_ew(int i, ir::OpKind k, ir::Value* a, ir::Value* b);
  // The name a contribution to operand i should carry.
  std::string grad_name(int i) const;
  // Adds v (already of operand i's type) without touching its name.
  void contribute(int i, ir::Value* v);

 private:
  Backprop& bp_;
  std::vector<ir::Value*> dys_;
  std::vector<bool> wants_;

  std::string temp_name(ir::OpKind k) const;
  // Sums v over the axes operand i was broadcast along; names the sum `name`.
  ir::Value* unbroadcast(int i, ir::Value* v, const std::string& name);
  std::pair<ir::Value*, ir::AttrMap> ew_operands(ir::Value* a, ir::Value* b);
};

// The rule table: one VJP rule per op (autodiff_rules.cpp).
void apply_vjp(VjpContext& c);
// scan's rule (autodiff_scan.cpp).
void vjp_scan(VjpContext& c);
// Erases the nodes of g whose results are unused, last to first.
void drop_dead(ir::Graph& g);

}  // namespace kiln::passes::detail
