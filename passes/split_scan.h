// split-scan: a scan whose carries with the batch dim (an LSTM backward
// step's dh, dc) are computed without its carries that lack it (the weight
// gradients it sums over the steps) becomes two scans: the first runs the
// batch carries and returns, per step, every value the rest reads; the second
// runs the rest over those stacked values. Each keeps its ops and their order,
// so the results are bitwise the same; the first scan's rows are independent
// (codegen runs them over the threads, codegen/scan_rows.h), the second, whose
// sums run over the rows, stays one loop. When each sum's column j reads only
// column j of the values the first scan hands over (dW = sum h^T dz, db =
// sum dz), the second is two scans over blocks of those columns instead,
// which codegen runs side by side (codegen/plan.h, sibling_end).
#pragma once

#include "passes/pass_manager.h"

namespace kiln::passes {

// Splits every such scan in g (and in region bodies).
PassResult split_scan(ir::Graph& g);

}  // namespace kiln::passes
