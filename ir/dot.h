// DOT (Graphviz) export of an IR graph, for `dot -Tsvg` and plot tools.
//
// One vertex per parameter ("%x: f32[N,10]"), per node ("%y = matmul : f32[N,20]",
// attributes abbreviated; a region is summarised as "^body: k params, m nodes")
// and per graph result ("return 0: f32[N,20]"); one edge per use, from the
// vertex that defines the value to the vertex that uses it, labelled with the
// value when its node has several results. Built with Boost.Graph's write_graphviz.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::ir {

std::string to_dot(const Graph& g);

}  // namespace kiln::ir
