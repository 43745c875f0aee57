// The IR verifier: checks the invariants every pass must preserve, and reports
// all problems at once rather than the first.
//
// Checked, for a graph and recursively for every region body:
//  - SSA dominance: each operand is defined (parameter or earlier node) in the
//    same graph before its use; a region that uses a value of an enclosing
//    graph is an error (regions are isolated from above);
//  - ownership and back links: values belong to their graph, results point
//    back to their node and index, parameters have their index;
//  - value names are non-empty and unique within the graph; no node is listed twice;
//  - arity, region presence and attributes (check_attrs) match the op table;
//  - result types equal what infer_types() computes for the node now (which
//    also checks a scan's body signature against its operands);
//  - graph results are values defined in the graph.
// When operands are used before their definition, Boost.Graph's topological
// sort tells whether the dependencies form a cycle or only the order is wrong.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::ir {

// Every problem found, one message each ("func @f: %y = relu: ..."); empty if valid.
std::vector<std::string> verify_errors(const Graph& g);
std::vector<std::string> verify_errors(const Module& m);

// Throws kiln::Error listing every problem when verify_errors is not empty.
void verify(const Graph& g);
void verify(const Module& m);

}  // namespace kiln::ir
