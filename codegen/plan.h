// Buffer planning for one graph function (no LLVM here): where every value
// lives while the generated code runs.
//
// A value lives in a parameter buffer, a result buffer (a node result that is
// returned is computed straight into the caller's buffer), the same buffer as
// another value (reshape is an alias), or the scratch arena. The arena has two
// pools: a fixed pool (values without a batch dim) and a batch pool whose
// every offset and size is a multiple of N, so one layout planned at N = 1 is
// valid for every N and the code computes `batch_arena + offset * N`.
// Buffers are reused once their last reader has run: each pool keeps the
// smaller of first fit in node order and largest first (ir/pack.h).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"

namespace kiln::codegen {

// c * N (n) or c (!n): a byte count, element count, stride or offset.
struct Sym {
  int64_t c = 0;
  bool n = false;
  bool operator==(const Sym&) const = default;
};

// Bytes of one tensor of type t (batch dims count as N * factor).
Sym bytes_of(const ir::TensorType& t);
// Each dim as a Sym (a batch dim N*k is {k, true}).
std::vector<Sym> sym_dims(const ir::TensorType& t);
// Row-major strides in elements.
std::vector<Sym> sym_strides(const ir::TensorType& t);
Sym sym_mul(Sym a, Sym b);  // asserts that N does not appear twice
Sym sym_product(const std::vector<Sym>& dims, size_t from, size_t to);

struct Slot {
  enum Kind : uint8_t { Param, Result, Fixed, Batch };
  Kind kind = Fixed;
  int64_t at = 0;  // parameter/result index, or byte offset in its pool (times N for Batch)
};

// Result `result` is computed over parameter `param`'s buffer (a weight or
// optimizer slot updated in place): see GraphPlan::updates.
struct ParamUpdate {
  int64_t param = 0, result = 0;
  bool operator==(const ParamUpdate&) const = default;
};

// A value that lives inside another value's buffer, image by image (a
// concat computed in place, a slice read in place): image i of the value
// starts `offset` elements into image i of that buffer, whose images are
// `image` elements apart (GraphPlan::views).
struct ImageView {
  int64_t offset = 0, image = 0;
  bool operator==(const ImageView&) const = default;
};

struct GraphPlan {
  std::unordered_map<const ir::Value*, Slot> slots;
  // Values that live inside another's buffer (their slot is that buffer's),
  // with no kernel of their own to copy them: the operands of a concat along
  // the last axis of an [N, C] result (the concat may be a graph result),
  // when each is computed by a conv + max_pool2d region or a loop region
  // straight into its columns of the concat's buffer (the GEMM's pooled store
  // and the loop nest take an image stride) and read otherwise only by loop
  // or reduction regions; and a slice along that axis of an [N, C] value read
  // only by such regions whose rows they read fast (region.h). Reshapes of
  // them are views too. A region reads and writes a view with the view's
  // image stride (emit_fusion.cpp).
  // A view keeps its buffer live from the first view written (to the last
  // view read): a graph whose arena would grow with views gets none.
  std::unordered_map<const ir::Value*, ImageView> views;
  // Slice and concat nodes that views make copy-free: no kernel is called.
  std::unordered_set<const ir::Node*> elided;
  // Per node: scratch buffers the node's kernel asked for (see scratch_needs).
  std::unordered_map<const ir::Node*, std::vector<Slot>> scratch;
  // Result j must be copied from value result_copy[j] (null: computed in place).
  std::vector<const ir::Value*> result_copy;
  // Nodes whose result took the buffer of their operand overwrite_operand(n),
  // which they read for the last time (their kernels drop noalias on both).
  std::unordered_set<const ir::Node*> overwrites;
  // Nodes that run with the node after them, chunk by chunk of images
  // (chunked_with_next): their operands stay live through that node.
  std::unordered_set<const ir::Node*> chunked;
  // Results updated in place (planned with update_params only). Contract of
  // the entry: when it starts, results[u.result] holds parameter u.param's
  // value (the caller passes that parameter's own buffer, or a copy of it).
  // The node computing the result is a loop region that reads the parameter
  // last of all kernels and only at the point it writes (region.h), so it
  // reads the parameter through the result's pointer and overwrites it;
  // earlier readers read params[u.param].
  std::vector<ParamUpdate> updates;
  // Per such node: (result index, operand index) pairs, the operand read
  // through that result's pointer.
  std::unordered_map<const ir::Node*, std::vector<std::pair<size_t, size_t>>> reads_result;
  int64_t fixed_bytes = 0;  // fixed pool size
  int64_t batch_bytes = 0;  // batch pool size per unit of N
};

// Scratch a node's kernel needs besides its results (e.g. the double
// accumulators of reduce_sum, conv's im2col matrix, scan's carries and body arena).
std::vector<Sym> scratch_needs(const ir::Node& n);

// update_params: plan GraphPlan::updates (an entry function whose caller
// keeps the contract; never a body, whose parameters are its caller's
// buffers, but for plan_scan_body's).
GraphPlan plan_graph(const ir::Graph& g, bool update_params = false);
// The plan of scan node `scan`'s body, with GraphPlan::updates limited to
// carry i updating carry result i (carry_in_place): the scan keeps the
// contract by passing one buffer, the scan's result, as both (emit_scan_rows),
// so such a carry needs no ping-pong pair (a weight-gradient sum: acc + g).
GraphPlan plan_scan_body(const ir::Node& scan);
// Whether body plan `body` (plan_scan_body) updates carry i in place.
bool carry_in_place(const GraphPlan& body, size_t i);

// The operand whose buffer n's kernel may write its result into when n is
// that operand's last reader, or -1. Today: max_pool2d_grad whose windows
// tile x without padding (emit_max_pool_grad's tiled kernel reads each
// window's cells before it writes them, and writes the uncovered cells with
// zeros, which nothing reads), onto x.
int overwrite_operand(const ir::Node& n);
// Whether a max_pool2d, max_pool2d_winners, max_pool2d_grad or max_pool2d_scatter node n runs with its window unrolled
// (no top/left padding, so every cell lies inside x; at most 16 cells).
bool max_pool_unrolled(const ir::Node& n);
// Whether max_pool2d_grad or max_pool2d_scatter node n runs as the tiled
// kernel: unrolled, and the windows tile x (strides = window), so each cell is
// written once.
bool max_pool_grad_tiled(const ir::Node& n);

// Whether nodes[i] and nodes[i + 1] run together per chunk of images, so the
// second reads the first's result for those images from cache:
// - a conv2d (or a contraction region ending in one) and the max_pool2d(_winners) of
//   its result (in training, where its result is also kept for the pool's
//   gradient; in predict the pool is the conv's GEMM epilogue);
// - a tiled max_pool2d_grad or max_pool2d_scatter (max_pool_grad_tiled) whose result only the next
//   node, a conv2d_filter_grad, reads, as its dy. The gradient then never
//   exists whole (in_chunk_buffer); the filter gradient accumulates chunk
//   after chunk, the same chains as one call (kiln_conv2d_filter_grad_f32).
// The CNN's first conv: 15 MB less to read back (and to write) per pair at batch 32.
bool chunked_with_next(const ir::Graph& g, size_t i);
// Scans that run side by side: nodes [i, sibling_end(g, i)) when that holds
// more than one node. They are consecutive scans whose rows are not
// independent (each runs on one thread: scan_rows.h) and that read none of
// each other's results: the column blocks of an LSTM's weight-gradient sums
// (passes/split_scan.h). The plan keeps every buffer of each of them (operands, results,
// scratch) live from the first to the last, so none is reused while another
// runs; emit_graph.cpp runs them as the items of one parallel loop.
size_t sibling_end(const ir::Graph& g, size_t i);
// Whether chunked node n's result lives in one chunk's buffer, reused chunk
// after chunk (a pool gradient), rather than whole: the first chunk's images
// of the input it overwrites (GraphPlan::overwrites: no memory of its own;
// the first chunk is computed in place, the later ones read input images
// past it), or else a buffer of chunk_images images.
bool in_chunk_buffer(const GraphPlan& p, const ir::Node& n);
// Images per chunk of such a pair: about 1 MB of the first node's result, at
// least two images so both threads have one; a max_pool2d_scatter's (whose
// chunk buffer is its own, of this many images at any N) about 512 KB, at
// least one image.
int64_t chunk_images(const ir::Node& first);

// The element stride between images of value v as its kernels see it:
// views' image, else 0 (its own size).
int64_t image_stride(const GraphPlan& p, const ir::Value* v);

// Conv's patch-matrix scratch holds this many images at most (as runtime/'s im2col).
int64_t conv_chunk_images(int64_t per_image_floats, int64_t n_images);

}  // namespace kiln::codegen
