// The op enum and per-op static information, expanded from ir/ops.def.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "ir/attrs.h"

namespace kiln::ir {

enum OpTrait : uint32_t {
  kNone = 0,
  kElementwise = 1u << 0,
  kUnary = 1u << 1,
  kBinary = 1u << 2,
  kCommutative = 1u << 3,
  kReduction = 1u << 4,
  kHasBody = 1u << 5,
  kNoGrad = 1u << 6,  // no gradient flows through this op
};

enum class OpKind : uint16_t {
#define KILN_OP(E, NAME, NOPS, NRES, TRAITS, ATTRS) E,
#include "ir/ops.def"
#undef KILN_OP
};

inline constexpr int kNumOps = 0
#define KILN_OP(E, NAME, NOPS, NRES, TRAITS, ATTRS) +1
#include "ir/ops.def"
#undef KILN_OP
    ;

struct AttrSpec {
  std::string name;
  AttrKind kind;
  bool optional;
};

struct OpInfo {
  OpKind kind;
  std::string_view name;
  int num_operands;  // -1: variadic
  int num_results;   // -1: variadic
  uint32_t traits;
  std::vector<AttrSpec> attrs;  // in the order the printer writes them

  bool has(OpTrait t) const { return (traits & t) != 0; }
  const AttrSpec* attr(std::string_view n) const;
};

const OpInfo& op_info(OpKind k);
std::string_view op_name(OpKind k);
std::optional<OpKind> parse_op_name(std::string_view s);

// matmul, conv2d, conv2d_input_grad, conv2d_filter_grad: the ops a
// `contraction` fusion region starts with (ir/epilogue.h says what may follow).
bool is_contraction(OpKind k);

}  // namespace kiln::ir
