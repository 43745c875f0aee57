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

// The bytes one row of scan node n's body reads and writes in a step (every
// body parameter and node result with N, at N = 1).
int64_t scan_row_bytes(const ir::Node& scan);

// How emit_scan splits such a scan: items of row_block rows (the last one
// shorter), each the whole sequence, handed to kiln_rt_parallel_for weighing
// step_bytes per item and step (scan_rows.cpp says why these numbers).
struct ScanSplit {
  int64_t row_block;
  int64_t step_bytes;
};
ScanSplit scan_split(const ir::Node& scan);

}  // namespace kiln::codegen
