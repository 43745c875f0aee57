// Which scans may run their batch rows apart (no LLVM here).
//
// A scan whose every batch value holds plain N as its leading dim (a carry
// [N, ...], one step of a sequence [N, ...] of [T, N, ...]) and whose body
// computes each row from that row alone (elementwise ops, matmuls with the
// rows on the left, slices, pads, concats and reductions along other axes,
// no value without N computed from one with it) gives every row the same bits
// whether it runs with all N rows or with any subset of them: the body's
// kernels compute an element from its own row (one FMA chain per element of a
// product; elementwise ops lane by lane, same IEEE operations in a vector lane
// as in a scalar one). An LSTM's forward scan is one; its backward scan, whose
// weight-gradient carries sum over the rows, is not. emit_scan runs such a
// scan's rows in ranges over the thread pool, each range the whole sequence.
#pragma once

#include "ir/graph.h"

namespace kiln::codegen {

// Whether scan node n's rows are independent (see above).
bool scan_rows_independent(const ir::Node& scan);

// The bytes one batch row of scan's body reads and writes per step: every
// body parameter and node result with N, at N = 1. A measure of the step's
// work per row that does not depend on where the plan puts those values (a
// body whose values all live in its operands and results plans no scratch).
int64_t scan_step_row_bytes(const ir::Node& scan);

}  // namespace kiln::codegen
