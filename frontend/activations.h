// Activation functions by name: validation for the layers' options and their
// lowering to primitive IR ops.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::detail {

// Returns the canonical name ("" -> "linear"); throws kiln::Error listing the known names
// for an unknown one. `where` names the layer, e.g. `layer "dense" (Dense)`.
std::string check_activation(const std::string& name, const std::string& where);
inline bool is_linear(const std::string& canonical) { return canonical == "linear"; }

// Emits `act(x)` acting on the last axis (softmax) or elementwise. Intermediate values are
// named `<prefix>.<act>_<step>`, the result `out_name`. Linear returns x unchanged.
ir::Value* lower_activation(ir::Graph& g, const std::string& act, ir::Value* x, const std::string& prefix,
                            const std::string& out_name);

}  // namespace kiln::detail
