// Buffer planning: slots for every value, liveness-based reuse of the arena.
#include "codegen/plan.h"

#include <algorithm>
#include <map>

#include "codegen/epilogue.h"
#include "codegen/region.h"
#include "codegen/scan_rows.h"
#include "ir/error.h"
#include "ir/pack.h"
#include "runtime/gemm.h"

namespace kiln::codegen {
namespace {

constexpr int64_t kFixedAlign = 64;

int64_t round_up(int64_t x, int64_t a) { return (x + a - 1) / a * a; }

// Alignment of a batch-pool buffer of `per_sample` bytes per unit of N, in
// those units: its address is batch_arena + offset * N. 16 keeps buffers
// 64-byte aligned whenever N is a multiple of 4 while an f32[N,20] takes 80
// bytes a sample, not 128; small buffers (an f32[N,1] loss, an f64[N] sum)
// take their element's alignment, so they cost 4 or 8 bytes a sample, not 64;
// large ones (conv activations) stay 64-byte aligned at every N.
int64_t batch_align(int64_t per_sample) {
  if (per_sample >= 256) return 64;
  if (per_sample >= 16) return 16;
  return per_sample > 4 ? 8 : 4;
}

// First-fit allocator over one pool: each buffer at a multiple of its
// alignment, its size rounded up to one.
class Pool {
 public:
  int64_t alloc(int64_t size, int64_t align) {
    if (size == 0) return 0;  // nothing to hold: any address will do
    size = round_up(size, align);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      const int64_t start = it->first, end = it->first + it->second, at = round_up(start, align);
      if (at + size > end) continue;
      free_.erase(it);
      if (at > start) free_[start] = at - start;
      if (end > at + size) free_[at + size] = end - at - size;
      return at;
    }
    // Grow: reuse a free block that ends at the top.
    int64_t from = top_;
    if (!free_.empty()) {
      auto last = std::prev(free_.end());
      if (last->first + last->second == top_) {
        from = last->first;
        free_.erase(last);
      }
    }
    const int64_t at = round_up(from, align);
    if (at > from) free_[from] = at - from;
    top_ = at + size;
    return at;
  }
  void release(int64_t at, int64_t size, int64_t align) {
    if (size == 0) return;
    size = round_up(size, align);
    auto it = free_.emplace(at, size).first;
    auto next = std::next(it);
    if (next != free_.end() && at + size == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  int64_t top() const { return top_; }

 private:
  std::map<int64_t, int64_t> free_;  // offset -> size
  int64_t top_ = 0;
};

// One arena buffer as the planner saw it: its pool, where first fit put it,
// and its lifetime: bytes rounded up to its alignment, the steps (node
// indices) it was live over (last INT64_MAX until released).
struct Buffer {
  Slot::Kind kind = Slot::Fixed;
  int64_t first_fit = 0;
  ir::Lifetime life;
};

// The arena's two pools, planned in two ways: first fit as the nodes run,
// and largest first once every lifetime is known (ir::pack_largest_first);
// each pool keeps the smaller layout (first fit on a tie). First fit places
// buffers in the order they appear, so a small long-lived one (a loss
// gradient) can split the space a later large one needs. While planning, a
// Slot's `at` is its buffer's index; finish() turns it into the offset.
struct Pools {
  Pool fixed, batch;
  std::vector<Buffer> bufs;
  int64_t step = 0;  // the node being planned
  Slot alloc(Sym s) {
    const int64_t align = s.n ? batch_align(s.c) : kFixedAlign;
    const ir::Lifetime life{round_up(s.c, align), align, step, INT64_MAX};
    bufs.push_back({s.n ? Slot::Batch : Slot::Fixed, (s.n ? batch : fixed).alloc(s.c, align), life});
    return {bufs.back().kind, static_cast<int64_t>(bufs.size() - 1)};
  }
  void release(Slot sl, Sym s) {
    if (sl.kind != Slot::Batch && sl.kind != Slot::Fixed) return;  // not the arena's
    Buffer& b = bufs.at(static_cast<size_t>(sl.at));
    KILN_ASSERT(b.life.last == INT64_MAX, "codegen: an arena buffer released twice");
    b.life.last = step;
    (sl.kind == Slot::Batch ? batch : fixed).release(b.first_fit, s.c, b.life.align);
  }
  // Each buffer's offset in its pool (indexed as bufs) and the pools' sizes.
  std::vector<int64_t> finish(int64_t& fixed_bytes, int64_t& batch_bytes) const {
    std::vector<int64_t> at(bufs.size());
    for (Slot::Kind kind : {Slot::Fixed, Slot::Batch}) {
      std::vector<ir::Lifetime> mine;
      std::vector<size_t> index;
      for (size_t k = 0; k < bufs.size(); ++k)
        if (bufs[k].kind == kind) {
          mine.push_back(bufs[k].life);
          index.push_back(k);
        }
      const int64_t first_fit_top = (kind == Slot::Batch ? batch : fixed).top();
      auto [by_size, top] = ir::pack_largest_first(mine);
      const bool greedy = top < first_fit_top;
      for (size_t k = 0; k < mine.size(); ++k) at[index[k]] = greedy ? by_size[k] : bufs[index[k]].first_fit;
      (kind == Slot::Batch ? batch_bytes : fixed_bytes) = greedy ? top : first_fit_top;
    }
    return at;
  }
};

bool is_alias(const ir::Node& n) { return n.op == ir::OpKind::Reshape; }

// Whether running g may set the error flag (an integer division: emit.h's
// err), after which the caller must find its parameters as they were.
bool may_fail(const ir::Graph& g) {
  for (const ir::Node* n : g.nodes()) {
    if (n->op == ir::OpKind::Div && n->results[0]->type.dtype != ir::DType::f32) return true;
    if (n->body && may_fail(*n->body)) return true;
  }
  return false;
}

// The operand of node n that result r may overwrite in place: a parameter
// of r's type, n's only operand of that value, that n reads before it writes
// the elements of r it might overwrite; or -1. A loop region reads it only
// at the point it writes (contiguous, as the iteration space); a scan reads
// carry i's initial value whole before its first step and writes carry
// result i no earlier (emit_scan_rows).
int point_operand(const ir::Node& n, const ir::Value* r, const ir::Value* param) {
  if (param->type != r->type || std::count(n.operands.begin(), n.operands.end(), param) != 1) return -1;
  if (n.op == ir::OpKind::Scan) {
    const size_t i = static_cast<size_t>(std::find(n.results.begin(), n.results.end(), r) - n.results.begin());
    return i < static_cast<size_t>(n.attrs.i("num_carry")) && n.operands[i] == param ? static_cast<int>(i) : -1;
  }
  if (n.op != ir::OpKind::Fusion || n.attrs.s("kind") != "loop") return -1;
  const RegionNest nest = region_nest(n);
  if (!nest.nested() || nest.reduction || nest.space.shape != r->type.shape) return -1;
  const size_t o = static_cast<size_t>(std::find(n.operands.begin(), n.operands.end(), param) - n.operands.begin());
  for (const RegionRead& rd : nest.reads)
    if (rd.param == o && rd.strides != sym_strides(nest.space)) return -1;
  return static_cast<int>(o);
}

}  // namespace

std::vector<Sym> sym_dims(const ir::TensorType& t) {
  std::vector<Sym> d;
  for (int64_t x : t.shape) d.push_back(ir::is_batch_dim(x) ? Sym{ir::batch_factor(x), true} : Sym{x, false});
  return d;
}

Sym sym_mul(Sym a, Sym b) {
  KILN_ASSERT(!(a.n && b.n), "codegen: N*N in a size");
  return {a.c * b.c, a.n || b.n};
}

Sym sym_product(const std::vector<Sym>& dims, size_t from, size_t to) {
  Sym p{1, false};
  for (size_t i = from; i < to; ++i) p = sym_mul(p, dims[i]);
  return p;
}

std::vector<Sym> sym_strides(const ir::TensorType& t) {
  std::vector<Sym> d = sym_dims(t), st(d.size(), Sym{1, false});
  for (size_t i = d.size(); i-- > 1;) st[i - 1] = sym_mul(st[i], d[i]);
  return st;
}

Sym bytes_of(const ir::TensorType& t) {
  return {t.static_elements() * static_cast<int64_t>(ir::dtype_size(t.dtype)), t.has_batch()};
}

int64_t conv_chunk_images(int64_t per_image_floats, int64_t n_images) {
  int64_t per = std::max<int64_t>(per_image_floats, 1);
  return std::clamp<int64_t>((int64_t{1} << 22) / per, 1, std::max<int64_t>(n_images, 1));
}

std::vector<Sym> scratch_needs(const ir::Node& n) {
  const ir::TensorType& rt = n.results[0]->type;
  switch (n.op) {
    case ir::OpKind::ReduceSum:
    case ir::OpKind::ReduceMean: return {Sym{rt.static_elements() * 8, rt.has_batch()}};
    case ir::OpKind::Conv2D:
    case ir::OpKind::Conv2DInputGrad:
    case ir::OpKind::Conv2DFilterGrad: {
      // x/dx [n,H,W,C], w [KH,KW,C,O], y/dy [n,OH,OW,O]: cols [images*OH*OW, KH*KW*C].
      const ir::TensorType& x = n.op == ir::OpKind::Conv2DInputGrad ? rt : n.operands[0]->type;
      const ir::TensorType& y =
          n.op == ir::OpKind::Conv2D ? rt : n.operands[n.op == ir::OpKind::Conv2DFilterGrad ? 1 : 0]->type;
      const ir::TensorType& w = n.op == ir::OpKind::Conv2DFilterGrad ? rt : n.operands[1]->type;
      const int32_t which = n.op == ir::OpKind::Conv2D ? 0 : n.op == ir::OpKind::Conv2DInputGrad ? 1 : 2;
      if (!kiln_conv2d_uses_cols(x.shape[3], w.shape[3], which)) return {};  // implicit GEMM: reads in place
      int64_t per_image = y.shape[1] * y.shape[2] * w.shape[0] * w.shape[1] * x.shape[3];
      int64_t images = ir::is_batch_dim(x.shape[0]) ? INT64_MAX : x.shape[0];
      return {Sym{conv_chunk_images(per_image, images) * per_image * 4, false}};
    }
    case ir::OpKind::Scan: {
      std::vector<Sym> s;
      GraphPlan body = plan_scan_body(n);
      for (size_t i = 0; i < static_cast<size_t>(n.attrs.i("num_carry")); ++i) {
        // A carry updated in place lives in the scan's result alone.
        Sym b = carry_in_place(body, i) ? Sym{} : bytes_of(n.results[i]->type);
        s.push_back(b);  // current carry
        s.push_back(b);  // next carry
      }
      // Rows run apart (scan_rows.h): every range of rows its own fixed pool.
      s.push_back({body.fixed_bytes, scan_rows_independent(n)});
      s.push_back({body.batch_bytes, true});
      return s;
    }
    case ir::OpKind::Fusion: {  // one nest: its reduction's accumulators; else the body's arena
      RegionNest r = region_nest(n);
      if (r.nested()) return r.reduction ? scratch_needs(*r.reduction) : std::vector<Sym>{};
      GraphPlan body = plan_graph(*n.body);
      return {Sym{body.fixed_bytes, false}, Sym{body.batch_bytes, true}};
    }
    case ir::OpKind::Constant:
    case ir::OpKind::Iota:
    case ir::OpKind::RngUniform:
    case ir::OpKind::Neg:
    case ir::OpKind::Abs:
    case ir::OpKind::Sign:
    case ir::OpKind::Exp:
    case ir::OpKind::Log:
    case ir::OpKind::Sqrt:
    case ir::OpKind::Rsqrt:
    case ir::OpKind::Tanh:
    case ir::OpKind::Sigmoid:
    case ir::OpKind::Relu:
    case ir::OpKind::Convert:
    case ir::OpKind::Add:
    case ir::OpKind::Sub:
    case ir::OpKind::Mul:
    case ir::OpKind::Div:
    case ir::OpKind::Max:
    case ir::OpKind::Min:
    case ir::OpKind::Pow:
    case ir::OpKind::Compare:
    case ir::OpKind::Select:
    case ir::OpKind::Broadcast:
    case ir::OpKind::Reshape:
    case ir::OpKind::Transpose:
    case ir::OpKind::Slice:
    case ir::OpKind::Concat:
    case ir::OpKind::Pad:
    case ir::OpKind::ReduceMax:
    case ir::OpKind::ArgMax:
    case ir::OpKind::Matmul:
    case ir::OpKind::MaxPool2D:
    case ir::OpKind::MaxPool2DGrad:
    case ir::OpKind::MaxPool2DWinners:
    case ir::OpKind::MaxPool2DScatter: return {};
  }
  return {};
}

bool max_pool_unrolled(const ir::Node& n) {
  constexpr int64_t kMaxUnrolledCells = 16;  // larger windows keep the generic loops
  const auto& win = n.attrs.ints("window");
  const auto& pd = n.attrs.ints("padding");
  return pd[0] == 0 && pd[2] == 0 && win[0] * win[1] <= kMaxUnrolledCells;
}

bool max_pool_grad_tiled(const ir::Node& n) {
  return (n.op == ir::OpKind::MaxPool2DGrad || n.op == ir::OpKind::MaxPool2DScatter) && max_pool_unrolled(n) &&
         n.attrs.ints("strides") == n.attrs.ints("window");
}

int overwrite_operand(const ir::Node& n) { return n.op == ir::OpKind::MaxPool2DGrad && max_pool_grad_tiled(n) ? 0 : -1; }

int64_t chunk_images(const ir::Node& first) {
  constexpr int64_t kChunkBytes = int64_t{1} << 20;
  const int64_t image = std::max<int64_t>(bytes_of(first.results[0]->type).c, 1);
  // A scatter's chunk is a buffer of its own, held whole whatever N: half
  // the bytes, and one image at least, so that a small batch does not carry
  // a second image it never uses (the CNN's conv1 gradient: 476 KB an image).
  if (first.op == ir::OpKind::MaxPool2DScatter) return std::max<int64_t>(1, kChunkBytes / 2 / image);
  return std::max<int64_t>(2, kChunkBytes / image);
}

namespace {

// A conv2d, or a contraction region whose contraction is one (its GEMM epilogue).
bool is_conv_forward(const ir::Node& n) {
  if (n.op == ir::OpKind::Conv2D) return true;
  if (n.op != ir::OpKind::Fusion || n.attrs.s("kind") != "contraction") return false;
  for (const ir::Node* m : n.body->nodes())
    if (m->op == ir::OpKind::Conv2D) return true;
  return false;
}

}  // namespace

bool chunked_with_next(const ir::Graph& g, size_t i) {
  const auto& nodes = g.nodes();
  if (i + 1 >= nodes.size() || nodes[i]->results.size() != 1) return false;
  const ir::Node& a = *nodes[i];
  const ir::Node& next = *nodes[i + 1];
  const ir::Value* r = a.results[0];
  if (!r->type.has_batch()) return false;
  if (is_conv_forward(a))
    return (next.op == ir::OpKind::MaxPool2D || next.op == ir::OpKind::MaxPool2DWinners) && next.operands[0] == r;
  return max_pool_grad_tiled(a) && next.op == ir::OpKind::Conv2DFilterGrad && next.operands[1] == r &&
         next.operands[0] != r && g.use_count(r) == 1 &&
         std::find(g.results().begin(), g.results().end(), r) == g.results().end();
}

size_t sibling_end(const ir::Graph& g, size_t i) {
  const auto& nodes = g.nodes();
  auto serial_scan = [&](size_t k) { return nodes[k]->op == ir::OpKind::Scan && !scan_rows_independent(*nodes[k]); };
  if (!serial_scan(i)) return i + 1;
  std::unordered_set<const ir::Value*> results(nodes[i]->results.begin(), nodes[i]->results.end());
  size_t end = i + 1;
  for (; end < nodes.size() && serial_scan(end); ++end) {
    const ir::Node& n = *nodes[end];
    if (std::any_of(n.operands.begin(), n.operands.end(), [&](const ir::Value* v) { return results.count(v) > 0; }))
      break;
    results.insert(n.results.begin(), n.results.end());
  }
  return end;
}

bool in_chunk_buffer(const GraphPlan& p, const ir::Node& n) {
  return p.chunked.count(&n) && (n.op == ir::OpKind::MaxPool2DGrad || n.op == ir::OpKind::MaxPool2DScatter);
}

namespace {

// Each value's readers: (node, operand index).
using Readers = std::unordered_map<const ir::Value*, std::vector<std::pair<const ir::Node*, size_t>>>;

// Whether m reads its operand o as a loop region over a space of o's shape,
// [N, ...], reading it whole and contiguously: it may read the operand's
// images at another stride (emit_fusion.cpp's read_accesses).
bool reads_images_strided(const ir::Node& m, size_t o) {
  if (m.op != ir::OpKind::Fusion || m.attrs.s("kind") != "loop") return false;
  const ir::TensorType& t = m.operands[o]->type;
  if (t.shape.empty() || t.shape[0] != ir::kBatch) return false;
  const RegionNest nest = region_nest(m);
  if (!nest.nested() || nest.reduction || nest.space.shape != t.shape) return false;
  for (const RegionRead& rd : nest.reads)
    if (rd.param == o && rd.strides != sym_strides(t)) return false;
  return true;
}

// v and the reshapes of it (transitively) that keep a plain N first, when
// every reader of them is one of those reshapes, `allowed` or a region that
// reads images strided, and none is a graph result; else empty.
std::vector<const ir::Value*> view_family(const ir::Graph& g, const Readers& readers, const ir::Value* v,
                                          const ir::Node* allowed) {
  std::vector<const ir::Value*> family{v};
  for (size_t f = 0; f < family.size(); ++f) {
    const ir::Value* m = family[f];
    if (m->type.shape.empty() || m->type.shape[0] != ir::kBatch ||
        std::find(g.results().begin(), g.results().end(), m) != g.results().end())
      return {};
    auto it = readers.find(m);
    if (it == readers.end()) continue;
    for (auto [node, o] : it->second) {
      if (node->op == ir::OpKind::Reshape) family.push_back(node->results[0]);
      else if (node != allowed && !reads_images_strided(*node, o)) return {};
    }
  }
  return family;
}

// Whether v is result 0 of a contraction region whose conv's GEMM ends with
// a max_pool2d(_winners) into it (epilogue.h): its pooled store takes an
// image stride (kiln_conv2d_max_pool_f32's pool[8]).
bool pooled_by_conv(const ir::Value* v) {
  const ir::Node* d = v->def;
  if (!d || d->op != ir::OpKind::Fusion || d->attrs.s("kind") != "contraction" || d->results[0] != v) return false;
  for (const auto& [c, e] : contraction_epilogues(*d->body).of)
    if (e.pool && e.out == d->body->results()[0]) return true;
  return false;
}

// Whether v is a result of a loop region with a nest (region.h), which
// writes it at an image stride when it is a view (emit_fusion.cpp): an LSTM
// backward step's gate gradients, concatenated into its dz.
bool looped(const ir::Value* v) {
  const ir::Node* d = v->def;
  return d && d->op == ir::OpKind::Fusion && d->attrs.s("kind") == "loop" && region_nest(*d).nested();
}

// [N, C] with a plain N: the type a copy-free concat or slice works on.
bool is_rows(const ir::TensorType& t) { return t.rank() == 2 && t.shape[0] == ir::kBatch; }

// A concat's or slice's axis attribute on an [N, C] value: 1 for C.
int64_t rows_axis(const ir::Node& n) {
  const int64_t a = n.attrs.i("axis");
  return a < 0 ? a + 2 : a;
}

// Whether every reader of a view family (view_family) but its reshapes reads
// the view's rows as fast as contiguous ones: rows of a whole number of
// vectors or long, or a region that packs narrow rows. A narrow slice with
// another reader stays a copy: an LSTM step's gate slices, 10 of z's 40
// columns, read in place by a per-row nest ran their exp/tanh on 16 lanes
// for 10 (rnn predict b256 515 -> 699 us).
bool rows_read_fast(const Readers& readers, const std::vector<const ir::Value*>& family, int64_t width) {
  if (rows_read_in_place(width)) return true;
  for (const ir::Value* m : family) {
    auto it = readers.find(m);
    if (it == readers.end()) continue;
    for (auto [node, o] : it->second)
      if (node->op != ir::OpKind::Reshape && !packs_narrow_rows(region_nest(*node))) return false;
  }
  return true;
}

// GraphPlan::views and elided: the concats computed in place and the
// slices read in place; each view's root becomes the buffer it lives in.
template <typename RootOf>
void plan_views(const ir::Graph& g, const RootOf& root_of, std::unordered_map<const ir::Value*, const ir::Value*>& root,
                GraphPlan& p) {
  Readers readers;
  for (const ir::Node* n : g.nodes())
    for (size_t o = 0; o < n->operands.size(); ++o) readers[n->operands[o]].push_back({n, o});
  auto place = [&](const std::vector<const ir::Value*>& family, const ir::Value* in, ImageView v) {
    for (const ir::Value* m : family) {
      p.views[m] = v;
      root[m] = in;
    }
  };
  for (const ir::Node* c : g.nodes()) {
    const ir::Value* whole = c->results[0];
    if (c->op != ir::OpKind::Concat || !is_rows(whole->type) || rows_axis(*c) != 1) continue;
    std::vector<std::vector<const ir::Value*>> families;
    std::unordered_set<const ir::Value*> seen;
    for (const ir::Value* o : c->operands) {
      const ir::Value* r = root_of(o);
      if (!(pooled_by_conv(r) || looped(r)) || !seen.insert(r).second ||
          r->type.static_elements() != o->type.shape[1])
        break;
      families.push_back(view_family(g, readers, r, c));
      if (families.back().empty()) break;
    }
    if (families.size() != c->operands.size()) continue;
    int64_t at = 0;
    for (size_t i = 0; i < families.size(); ++i) {
      place(families[i], whole, {at, whole->type.shape[1]});
      at += c->operands[i]->type.shape[1];
    }
    p.elided.insert(c);
  }
  for (const ir::Node* s : g.nodes()) {
    const ir::Value* x = s->operands.empty() ? nullptr : s->operands[0];
    if (s->op != ir::OpKind::Slice || !is_rows(x->type) || rows_axis(*s) != 1 ||
        p.views.count(x) || root_of(x)->type.static_elements() != x->type.shape[1])
      continue;
    std::vector<const ir::Value*> family = view_family(g, readers, s->results[0], nullptr);
    if (family.empty() || !rows_read_fast(readers, family, s->results[0]->type.shape[1])) continue;
    place(family, root_of(x), {s->attrs.i("start"), x->type.shape[1]});
    p.elided.insert(s);
  }
  for (auto& [v, r] : root)  // aliases of what became a view
    if (auto it = root.find(r); it != root.end() && it->second != r) r = it->second;
}

}  // namespace

int64_t image_stride(const GraphPlan& p, const ir::Value* v) {
  auto it = p.views.find(v);
  return it == p.views.end() ? 0 : it->second.image;
}

// GraphPlan::updates: each result computed in place by a loop region that is
// the last reader (through any alias, absorbed epilogues included) of a
// parameter it reads only at the point it writes (point_operand). A parameter
// that is itself a result is not updated (its copy would read the new value).
// With carries = 0 any parameter may update any result (an entry); else
// (a scan body) only carry parameter i < carries its own result i.
template <typename RootOf>
void plan_updates(const ir::Graph& g, const RootOf& root_of, const std::unordered_map<const ir::Value*, int64_t>& in_place,
                  size_t carries, GraphPlan& p) {
  std::unordered_map<const ir::Value*, size_t> last_reader;
  for (size_t i = 0; i < g.nodes().size(); ++i)
    for (const ir::Value* v : g.nodes()[i]->operands) last_reader[root_of(v)] = i;
  std::unordered_set<const ir::Value*> taken(g.results().begin(), g.results().end());
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const ir::Node& n = *g.nodes()[i];
    for (size_t r = 0; r < n.results.size(); ++r) {
      auto res = in_place.find(n.results[r]);
      if (res == in_place.end()) continue;
      for (const ir::Value* param : n.operands) {
        if (!param->is_param() || taken.count(param) || last_reader.at(param) != i) continue;
        if (carries && (static_cast<size_t>(param->index) >= carries || param->index != res->second)) continue;
        const int o = point_operand(n, n.results[r], param);
        if (o < 0) continue;
        taken.insert(param);
        p.updates.push_back({static_cast<int64_t>(param->index), res->second});
        p.reads_result[&n].push_back({r, static_cast<size_t>(o)});
        break;
      }
    }
  }
  std::sort(p.updates.begin(), p.updates.end(),
            [](const ParamUpdate& a, const ParamUpdate& b) { return a.result < b.result; });
}

namespace {

// plan_graph, with GraphPlan::updates planned when update_params, for a
// scan body's first `carries` parameters only when carries > 0 (plan_updates),
// and with views (GraphPlan::views) where they apply or with none.
GraphPlan plan(const ir::Graph& g, bool update_params, size_t carries, bool views) {
  GraphPlan p;
  const auto& nodes = g.nodes();
  const size_t end = nodes.size();  // "used by the results"

  // Alias roots (reshape chains) and the last node that reads each root.
  std::unordered_map<const ir::Value*, const ir::Value*> root;
  auto root_of = [&](const ir::Value* v) {
    auto it = root.find(v);
    return it == root.end() ? v : it->second;
  };
  for (const ir::Node* n : nodes)
    if (is_alias(*n)) root[n->results[0]] = root_of(n->operands[0]);
  // A contraction's epilogue chain (epilogue.h) lives in its last value's
  // buffer; the nodes it absorbed read and write nothing.
  const GraphEpilogues epilogues = contraction_epilogues(g);
  for (const auto& [c, e] : epilogues.of) root[c->results[0]] = e.out;
  if (views) plan_views(g, root_of, root, p);
  // A chunked node (chunked_with_next) reads its operands until the next
  // node is done: they are released with that node's.
  for (size_t i = 0; i < nodes.size(); ++i)
    if (chunked_with_next(g, i)) p.chunked.insert(nodes[i]);
  // Sibling scans (sibling_end) read their operands until the last of them
  // is done, and hold their scratch and dead results until then too.
  std::vector<size_t> first_of(nodes.size()), last_of(nodes.size());
  for (size_t i = 0; i < nodes.size();) {
    const size_t e = sibling_end(g, i);
    for (size_t k = i; k < e; ++k) first_of[k] = i, last_of[k] = e - 1;
    i = e;
  }
  auto read_until = [&](size_t i) { return std::max(p.chunked.count(nodes[i]) ? i + 1 : i, last_of[i]); };
  auto slot_bytes = [&](const ir::Value* v) {
    const Sym whole = bytes_of(v->type);
    const bool own_chunk = v->def && in_chunk_buffer(p, *v->def) && !p.overwrites.count(v->def);
    return own_chunk ? Sym{chunk_images(*v->def) * whole.c, false} : whole;
  };
  std::unordered_map<const ir::Value*, size_t> last_use;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!epilogues.absorbed.count(nodes[i]))
      for (const ir::Value* v : nodes[i]->operands) last_use[root_of(v)] = std::max(last_use[root_of(v)], read_until(i));
  for (const ir::Value* v : g.results()) last_use[root_of(v)] = end;

  // Results computed in place: the first occurrence of a non-alias node result.
  std::unordered_map<const ir::Value*, int64_t> in_place;
  p.result_copy.assign(g.results().size(), nullptr);
  for (size_t j = 0; j < g.results().size(); ++j) {
    const ir::Value* v = g.results()[j];
    if (!v->is_param() && !is_alias(*v->def) && !in_place.count(v)) in_place[v] = static_cast<int64_t>(j);
    else p.result_copy[j] = v;
  }

  for (size_t i = 0; i < g.params().size(); ++i) p.slots[g.params()[i]] = {Slot::Param, static_cast<int64_t>(i)};
  if (update_params && !may_fail(g)) plan_updates(g, root_of, in_place, carries, p);
  Pools pools;
  std::vector<std::pair<Slot, Sym>> held;  // scratch of sibling scans before the last
  std::vector<const ir::Value*> dead;      // unread results of those
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node& n = *nodes[i];
    if (epilogues.absorbed.count(&n)) continue;
    pools.step = static_cast<int64_t>(i);
    auto ep = epilogues.of.find(&n);
    std::vector<ir::Value*> outs = n.results;
    if (ep != epilogues.of.end()) {
      outs = {const_cast<ir::Value*>(ep->second.out)};
      if (ep->second.winners) outs.push_back(const_cast<ir::Value*>(ep->second.winners));
    }
    // The operand this node may overwrite, when this is its last reader and
    // its buffer is the arena's (not a parameter, a result or an alias's).
    const ir::Value* overwritten = nullptr;
    if (const int o = overwrite_operand(n); o >= 0 && ep == epilogues.of.end()) {
      const ir::Value* v = n.operands[static_cast<size_t>(o)];
      const ir::Value* r = n.results[0];
      const Slot& at = p.slots.at(v);
      if (root_of(v) == v && last_use.count(v) && last_use[v] == read_until(i) && !in_place.count(r) &&
          std::count(n.operands.begin(), n.operands.end(), v) == 1 && bytes_of(v->type) == bytes_of(r->type) &&
          (at.kind == Slot::Fixed || at.kind == Slot::Batch))
        overwritten = v;
    }
    for (const ir::Value* r : outs) {
      if (p.slots.count(r)) continue;  // a concat's buffer, allocated with its first view
      if (p.views.count(r)) {          // in its root's buffer, allocated with the first view in it
        const ir::Value* in = root_of(r);
        auto result = in_place.find(in);  // a concat that is a result lives there
        if (!p.slots.count(in))
          p.slots[in] = result != in_place.end() ? Slot{Slot::Result, result->second} : pools.alloc(slot_bytes(in));
        p.slots[r] = p.slots.at(in);
      } else if (is_alias(n)) p.slots[r] = p.slots.at(n.operands[0]);
      else if (auto it = in_place.find(r); it != in_place.end()) p.slots[r] = {Slot::Result, it->second};
      else if (overwritten) p.slots[r] = p.slots.at(overwritten);
      else p.slots[r] = pools.alloc(slot_bytes(r));
    }
    if (overwritten) {
      p.overwrites.insert(&n);
      last_use[overwritten] = SIZE_MAX;  // its buffer now holds the result: never released as the operand's
    }
    std::vector<Sym> need = scratch_needs(n);
    std::vector<Slot>& sc = p.scratch[&n];
    for (Sym s : need) sc.push_back(pools.alloc(s));
    for (size_t k = 0; k < need.size(); ++k) held.emplace_back(sc[k], need[k]);
    const bool last = last_of[i] == i;  // of its siblings, or alone: what it holds is released now
    if (last) {
      for (const auto& [slot, bytes] : held) pools.release(slot, bytes);
      held.clear();
    }
    // Free buffers whose last reader was this node, and dead results.
    auto release = [&](const ir::Value* v) {
      if (v->is_param() || root_of(v) != v) return;
      auto lu = last_use.find(v);
      if (lu != last_use.end() && lu->second != i) return;
      pools.release(p.slots.at(v), slot_bytes(v));
      last_use[v] = SIZE_MAX;  // released once
    };
    auto release_operands = [&](const ir::Node& reader) {
      for (const ir::Value* v : reader.operands)
        if (last_use.count(root_of(v)) && last_use[root_of(v)] == i) release(root_of(v));
    };
    release_operands(n);
    if (i > 0 && p.chunked.count(nodes[i - 1])) release_operands(*nodes[i - 1]);
    for (size_t k = first_of[i]; last && k < i; ++k) release_operands(*nodes[k]);
    for (const ir::Value* r : outs)
      if (!last_use.count(r)) dead.push_back(r);
    if (last) {
      for (const ir::Value* r : dead) release(r);
      dead.clear();
    }
  }
  const std::vector<int64_t> at = pools.finish(p.fixed_bytes, p.batch_bytes);
  auto place = [&](Slot& s) {
    if (s.kind == Slot::Fixed || s.kind == Slot::Batch) s.at = at.at(static_cast<size_t>(s.at));
  };
  for (auto& [v, s] : p.slots) place(s);
  for (auto& [n, sc] : p.scratch)
    for (Slot& s : sc) place(s);
  return p;
}

// Views save the copies but keep a concat's whole buffer from its first
// operand on (and a sliced value until its slices' last reader): where that
// would make the arena larger, the copies stay.
GraphPlan plan_smaller(const ir::Graph& g, bool update_params, size_t carries) {
  GraphPlan p = plan(g, update_params, carries, true);
  if (p.views.empty()) return p;
  GraphPlan copies = plan(g, update_params, carries, false);
  return p.batch_bytes > copies.batch_bytes || p.fixed_bytes > copies.fixed_bytes ? copies : p;
}

}  // namespace

GraphPlan plan_graph(const ir::Graph& g, bool update_params) { return plan_smaller(g, update_params, 0); }

GraphPlan plan_scan_body(const ir::Node& scan) {
  const size_t nc = static_cast<size_t>(scan.attrs.i("num_carry"));
  return plan_smaller(*scan.body, nc > 0, nc);
}

bool carry_in_place(const GraphPlan& body, size_t i) {
  const int64_t c = static_cast<int64_t>(i);
  return std::find(body.updates.begin(), body.updates.end(), ParamUpdate{c, c}) != body.updates.end();
}

}  // namespace kiln::codegen
