// The shared GEMM (runtime/gemm.h): a packed, register-blocked GEMM of our
// own, compiled three times (runtime/gemm_kernel.inc) for AVX-512, AVX2+FMA
// and baseline vectors, picked once per process by the CPU it runs on.
//
// Loops: B is cut into panels of 2W (or W) columns, packed k-major with zero
// padding unless it can be read in place; for each block of kKC steps of k,
// each MR-row sliver of op(A) (packed k-major unless op(A) already is) meets
// every panel in an MR x 2W (or MR x W) register tile. Large products split
// their row blocks (or panels) over the thread pool; K is never split. A
// product's k blocks are its sum's blocks (KILN_GEMM_K_BLOCK): each starts its
// tiles from zero and adds them to C; a conv's continue the chains in C.
#include "runtime/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/math_f32.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define KILN_GEMM_X86 1
#endif

namespace {

constexpr int64_t kKC = 256;  // k steps per block: an A sliver and a panel block stay in L1/L2
// A product's k blocks (k_block) never straddle two of its sum's blocks (gemm.h).
static_assert(KILN_GEMM_K_BLOCK % kKC == 0);

// How a register tile starts and ends: from zeros, from C (a chain that goes
// on), or from zeros and then added to C (a new block of a product's sum).
enum Start { kFromZero, kFromC, kAddToC };

// The activation of an epilogue (gemm.h) on one element.
inline float activate(float x, int32_t act) {
  switch (act) {
    case KILN_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case KILN_ACT_SIGMOID: return kiln_sigmoid_f32(x);
    case KILN_ACT_TANH: return kiln_tanh_f32(x);
    default: return x;
  }
}

// c + bias, activation, mask (gemm.h's KilnEpilogue) for one element.
inline float epilogue_scalar(float x, const float* bias, const float* mask, int32_t act) {
  if (bias) x = x + *bias;
  x = activate(x, act);
  if (mask) x = *mask > 0.0f ? x : 0.0f;
  return x;
}

// The epilogue at one register tile: bias at its first column, mask at its
// first element (rows ldm apart).
struct TileEpilogue {
  const float* bias;
  const float* mask;
  int64_t ldm;
  int32_t act;
};

// A product's epilogue (gemm.h): bias per column, activation, a mask laid out as c.
struct Epilogue {
  const float* bias = nullptr;
  const float* mask = nullptr;
  int32_t act = KILN_ACT_NONE;

  bool any() const { return bias || mask || act != KILN_ACT_NONE; }
  TileEpilogue at(int64_t i, int64_t j, int64_t ldc) const {
    return {bias ? bias + j : nullptr, mask ? mask + i * ldc + j : nullptr, ldc, act};
  }
  // Elements [j, j + count) of row i, held at x.
  void apply_row(float* x, int64_t i, int64_t j, int64_t count, int64_t ldc) const {
    for (int64_t t = 0; t < count; ++t)
      x[t] = epilogue_scalar(x[t], bias ? bias + j + t : nullptr, mask ? mask + i * ldc + j + t : nullptr, act);
  }
};

Epilogue epilogue_of(const KilnEpilogue* ep) {
  if (!ep) return {};
  return {ep->bias, ep->mask, ep->act};
}

// The product being computed: c [m, n] (=|+=) op(a) [m, k] * op(b) [k, n].
struct Problem {
  const float* a;
  int64_t lda;  // a's row length as stored (ac)
  bool ta;
  const float* b;
  int64_t ldb;  // b's row length as stored (bc)
  bool tb;
  float* c;
  int64_t m, n, k;
  bool accumulate;
  // kiln_gemm_f32's sum in blocks of KILN_GEMM_K_BLOCK (gemm.h); false: one
  // chain over all of k (the convs).
  bool k_blocks = false;
  // Set for conv2d by implicit GEMM (kiln_conv2d_f32): op(a) is the patch
  // matrix of x = a, never built; row i is output pixel i, k = tap * C + channel.
  // With conv_adjoint (kiln_conv2d_input_grad_f32), a = dy and row i is input
  // pixel i, k = tap * O + output channel: the dy entry that tap reads it into.
  const int64_t* conv = nullptr;
  bool conv_adjoint = false;
  // With conv_filter (kiln_conv2d_filter_grad_f32), op(a) = patches(x)^T:
  // row i is patch entry i (tap * C + channel), k is the output pixel.
  bool conv_filter = false;
  // Each patch entry's offset from its receptive field's corner (field_offsets):
  // for conv_filter, and for kiln_conv2d_f32 with few channels, where row i of
  // op(a) is output pixel i's field read in place.
  const int64_t* conv_koff = nullptr;
  Epilogue ep;  // applied to each element once its sum is complete
  // c holds rows [c_row0, ...) only: a band of a conv's output (conv_max_pool).
  int64_t c_row0 = 0;
  // conv2d whose every receptive field lies inside x (whole_fields): a k
  // block spans several filter rows (kSegments), not one.
  bool conv_whole = false;
  // With conv_padded (an input gradient of stride and dilation 1,
  // padded_adjoint), a is dy zero-padded to [H + KH - 1, W + KW - 1, O] per
  // image (pad_dy): every tap of every row reads inside it, a k block spans
  // several filter rows, all read in place (padded_rows).
  bool conv_padded = false;
};

// Channels per filter tap along k: C, or O for the adjoint.
int64_t tap_channels(const Problem& p) { return p.conv[p.conv_adjoint ? 5 : 2]; }

// Whether the taps of one filter row read adjacent pixels, so a k block can
// span the row (kw taps) instead of one tap: dilation 1, and for the adjoint
// stride 1 too (its taps then run in reverse, see conv_adjoint_tap).
bool row_segments(const Problem& p) {
  const int64_t* g = p.conv;
  return g[13] == 1 && (!p.conv_adjoint || g[9] == 1);
}

// k steps per segment of op(a)'s row that one pointer can serve: a filter row, or a tap.
int64_t segment(const Problem& p) { return tap_channels(p) * (row_segments(p) ? p.conv[4] : 1); }

// Filter-row segments of a conv2d with all fields inside span at most this
// many k steps per block (the CNN's second conv: its whole K = 4 x 128).
constexpr int64_t kWholeKC = 512;

// The k block starting at k0: at most kKC steps, and within one segment for a
// conv; whole segments up to kWholeKC when conv_whole.
int64_t k_block(const Problem& p, int64_t k0) {
  if (!p.conv || p.conv_filter || p.conv_koff) return std::min(kKC, p.k - k0);
  const int64_t s = segment(p);
  if (p.conv_whole || p.conv_padded) return std::min(p.k - k0, kWholeKC / s * s);
  return std::min(kKC, s - k0 % s);
}

// Whether conv2d geometry g (read by rows, row_segments) has every output
// pixel's receptive field inside x and segments short enough for kWholeKC.
bool whole_fields(const int64_t* g) {
  const int64_t s = g[4] * g[2];
  return g[13] == 1 && g[10] == 0 && g[11] == 0 && (g[6] - 1) * g[8] + (g[3] - 1) * g[12] < g[0] &&
         (g[7] - 1) * g[9] + g[4] - 1 < g[1] && 2 * s <= kWholeKC && s <= kKC;
}

// The filter tap (ta, tb) that the adjoint's k-position `t` (tap index along
// k) stands for: taps of a row run in reverse when row_segments, so that
// consecutive k steps read consecutive dy pixels.
int64_t conv_adjoint_tap(const Problem& p, int64_t t) {
  const int64_t kw = p.conv[4];
  return row_segments(p) ? t / kw * kw + (kw - 1 - t % kw) : t;
}

// The input pixel (y * W + x) that tap (ta, tb) of output pixel (oy, ox) reads, or -1 for padding.
int64_t tap_source(const int64_t* g, int64_t oy, int64_t ox, int64_t ta, int64_t tb) {
  const int64_t y = oy * g[8] + ta * g[12] - g[10], x = ox * g[9] + tb * g[13] - g[11];
  return y >= 0 && y < g[0] && x >= 0 && x < g[1] ? y * g[1] + x : -1;
}

// The output pixel (oy * OW + ox) whose tap (ta, tb) reads input pixel (y, x), or -1.
int64_t tap_reader(const int64_t* g, int64_t y, int64_t x, int64_t ta, int64_t tb) {
  const int64_t ny = y + g[10] - ta * g[12], nx = x + g[11] - tb * g[13];
  if (ny < 0 || nx < 0) return -1;
  const bool unit = g[8] == 1 && g[9] == 1;  // no division on the common path
  if (!unit && (ny % g[8] || nx % g[9])) return -1;
  const int64_t oy = unit ? ny : ny / g[8], ox = unit ? nx : nx / g[9];
  return oy < g[6] && ox < g[7] ? oy * g[7] + ox : -1;
}

// dst[0, n) = src[0, n) for the short runs a patch row copies (a filter row, a
// tap): fixed-size blocks the compiler inlines, no library call per run.
inline void copy_floats(float* dst, const float* src, int64_t n) {
  for (; n >= 16; n -= 16, dst += 16, src += 16) std::memcpy(dst, src, 16 * sizeof(float));
  for (; n >= 4; n -= 4, dst += 4, src += 4) std::memcpy(dst, src, 4 * sizeof(float));
  for (; n > 0; --n) *dst++ = *src++;
}

// The filter tap (ta, tb) that k-position tap `t` stands for.
struct Tap {
  int64_t ta, tb;
};
Tap conv_tap(const Problem& p, int64_t t) {
  const int64_t kw = p.conv[4], tap = p.conv_adjoint ? conv_adjoint_tap(p, t) : t;
  return {tap / kw, tap % kw};
}

// The pixel, on the read side, that tap `t` of row pixel (py, px) reads (or -1).
int64_t conv_read(const Problem& p, int64_t py, int64_t px, Tap t) {
  return p.conv_adjoint ? tap_reader(p.conv, py, px, t.ta, t.tb) : tap_source(p.conv, py, px, t.ta, t.tb);
}

// The pixels of a [images, ph, pw] grid in row-major order, from flat index i.
struct PixelWalk {
  int64_t img, y, x, ph, pw;
  PixelWalk(int64_t i, int64_t ph_, int64_t pw_) : img(i / (ph_ * pw_)), y(i / pw_ % ph_), x(i % pw_), ph(ph_), pw(pw_) {}
  void next() {
    if (++x == pw) {
      x = 0;
      if (++y == ph) y = 0, ++img;
    }
  }
  // Field by field: a copy of the whole struct (vector moves) right after
  // advance() stored its fields stalls on store forwarding.
  PixelWalk copy() const { return PixelWalk(img, y, x, ph, pw); }
  PixelWalk(int64_t img_, int64_t y_, int64_t x_, int64_t ph_, int64_t pw_)
      : img(img_), y(y_), x(x_), ph(ph_), pw(pw_) {}
  void advance(int64_t n) {  // n pixels on, without a division
    for (x += n; x >= pw; x -= pw)
      if (++y == ph) y = 0, ++img;
  }
};

// The walk over a conv's op(a) rows (output pixels; for the adjoint input
// pixels) from row i.
PixelWalk row_walk(const Problem& p, int64_t i) {
  const int64_t* g = p.conv;
  return p.conv_adjoint ? PixelWalk(i, g[0], g[1]) : PixelWalk(i, g[6], g[7]);
}

// Whether the receptive field with corner (y0, x0) lies inside the image (geom g).
bool field_inside(const int64_t* g, int64_t y0, int64_t x0) {
  return y0 >= 0 && y0 + (g[3] - 1) * g[12] < g[0] && x0 >= 0 && x0 + (g[4] - 1) * g[13] < g[1];
}

// Row pointers of the implicit op(a): rows [i, i + mr) (start: row i's pixel)
// at k steps [k0, k0 + kc), which lie in one segment (k_block) and touch `taps`. A row whose taps there
// all read pixels points into a (its taps' pixels are adjacent); a row that
// reads only padding (for the adjoint: no output pixel) points at `zeros`;
// any other is gathered into stage + r * kKC with zeros where nothing is read.
// The taps a k block [k0, k0 + kc) of a conv's op(a) touches (t0..t1 along
// k, (ta, tb) of the first and last), resolved once per block.
struct BlockTaps {
  int64_t t0, t1;
  Tap first, last;
};
BlockTaps block_taps(const Problem& p, int64_t k0, int64_t kc) {
  const int64_t c = tap_channels(p), t0 = k0 / c, t1 = (k0 + kc - 1) / c;
  return {t0, t1, conv_tap(p, t0), conv_tap(p, t1)};
}

void conv_rows(const Problem& p, const BlockTaps& taps, const PixelWalk& start, int64_t mr, int64_t k0, int64_t kc,
               const float* zeros, float* stage, const float** rows) {
  PixelWalk px = start.copy();
  const int64_t* g = p.conv;
  const int64_t c = tap_channels(p);
  const int64_t t0 = taps.t0, t1 = taps.t1, ch = k0 % c, pw = px.pw;
  const int64_t other = p.conv_adjoint ? g[6] * g[7] : g[0] * g[1];                      // read side's
  const Tap first_tap = taps.first, last_tap = taps.last;
  // Whether row pixel (y, x) reads a pixel at every tap of the block (then
  // adjacent pixels, the first at `first`).
  auto reads_all = [&](int64_t y, int64_t x, int64_t& first) {
    first = conv_read(p, y, x, first_tap);
    return first >= 0 && (t1 == t0 || conv_read(p, y, x, last_tap) == first + (t1 - t0));
  };
  // The common case, per run of rows in one pixel row: when both ends of the
  // run read a pixel at every tap, so does every row between (each tap's
  // valid x form an interval), `step` read pixels after the one before.
  const int64_t step = p.conv_adjoint ? 1 : g[9];
  const bool linear = !p.conv_adjoint || g[9] == 1;
  for (int64_t r = 0; r < mr; ++r, px.next()) {
    const float* image = p.a + px.img * other * c;
    int64_t first = 0, last = 0;
    const int64_t run = std::min(mr - r, pw - px.x);
    if (linear && run > 2 && reads_all(px.y, px.x, first) && reads_all(px.y, px.x + run - 1, last)) {
      for (int64_t q = 0; q < run; ++q) rows[r + q] = image + (first + q * step) * c + ch;
      r += run - 1;
      px.x += run - 1;  // the loop's next() moves past the run
      continue;
    }
    if (reads_all(px.y, px.x, first)) {  // every tap inside: adjacent pixels
      rows[r] = image + first * c + ch;
    } else if (t1 == t0) {
      rows[r] = zeros;
    } else {
      float* dst = stage + r * kKC;
      // The block's taps are one filter row's, adjacent (reversed for the adjoint, conv_adjoint_tap).
      const int64_t dir = p.conv_adjoint ? -1 : 1;
      for (int64_t t = t0; t <= t1; ++t) {
        const int64_t from = t == t0 ? ch : 0, to = t == t1 ? (k0 + kc - 1) % c + 1 : c;
        const int64_t src = conv_read(p, px.y, px.x, Tap{first_tap.ta, first_tap.tb + dir * (t - t0)});
        float* d = dst + (t - t0) * c - ch + from;
        if (src < 0) std::fill(d, d + (to - from), 0.0f);
        else copy_floats(d, image + src * c + from, to - from);
      }
      rows[r] = dst;
    }
  }
}

// The filter gradient's implicit op(a) = patches(x)^T at k steps [k0, k0 +
// kc) (output pixels), for every row block: per_k[k - k0] is pixel k's
// receptive-field corner in a. True when every one of those fields lies
// inside the image (then a sliver reads per_k through its rows' offsets, see
// filter_sliver); once per k block, not per sliver.
bool filter_corners(const Problem& p, int64_t k0, int64_t kc, const float** per_k) {
  const int64_t* g = p.conv;
  const int64_t h = g[0], w = g[1], c = g[2], oh = g[6], ow = g[7], sh = g[8], sw = g[9], pt = g[10], pl = g[11];
  bool inside = true;
  PixelWalk px(k0, oh, ow);
  for (int64_t k = 0; k < kc; ++k, px.next()) {
    const int64_t y0 = px.y * sh - pt, x0 = px.x * sw - pl;
    inside = inside && field_inside(g, y0, x0);
    per_k[k] = p.a + ((px.img * h + y0) * w + x0) * c;  // only dereferenced when inside
  }
  return inside;
}

// Its rows [i, i + mr) (patch entries) at that k block. With `inside`
// (filter_corners), roff[r] is patch entry i + r's offset from the field
// corner (0 past mr: rows whose results are dropped), per_k stays as it is
// and the result is true. Otherwise the entries are gathered, k-major and
// zero-padded, into stage, per_k points there and the result is false.
bool filter_sliver(const Problem& p, bool inside, int64_t i, int64_t mr, int64_t mr_full, int64_t k0, int64_t kc,
                   float* stage, const float** per_k, int64_t* roff) {
  for (int64_t r = 0; r < mr_full; ++r) roff[r] = r < mr ? p.conv_koff[i + r] : 0;
  if (inside) return true;
  const int64_t* g = p.conv;
  const int64_t h = g[0], w = g[1], c = g[2], kw = g[4], oh = g[6], ow = g[7];
  const int64_t sh = g[8], sw = g[9], pt = g[10], pl = g[11], dh = g[12], dw = g[13];
  int64_t ry[16], rx[16], rc[16];  // per sliver row: its entry's place relative to the field corner
  for (int64_t r = 0; r < mr; ++r) {
    const int64_t e = i + r;
    ry[r] = e / (kw * c) * dh, rx[r] = e / c % kw * dw, rc[r] = e % c;
  }
  PixelWalk px(k0, oh, ow);
  for (int64_t k = 0; k < kc; ++k, px.next()) {
    const float* image = p.a + px.img * h * w * c;
    float* d = stage + k * mr_full;
    for (int64_t r = 0; r < mr; ++r) {
      const int64_t yy = px.y * sh - pt + ry[r], xx = px.x * sw - pl + rx[r];
      d[r] = yy >= 0 && yy < h && xx >= 0 && xx < w ? image[(yy * w + xx) * c + rc[r]] : 0.0f;
    }
    std::fill(d + mr, d + mr_full, 0.0f);
    per_k[k] = d;
  }
  return false;
}

// The receptive-field corners of conv2d's op(a) rows [i, i + count) (start:
// row i's pixel; conv_koff) into rows, up to the first field that does not
// lie inside the image: the number of rows before it.
int64_t field_corners(const Problem& p, const PixelWalk& start, int64_t count, const float** rows) {
  PixelWalk px = start.copy();
  const int64_t* g = p.conv;
  const int64_t h = g[0], w = g[1], c = g[2], sh = g[8], sw = g[9], pt = g[10], pl = g[11];
  for (int64_t r = 0; r < count;) {
    // The run of rows in this output row: when both of its end fields lie
    // inside, so does every field between (sw * c floats apart).
    const int64_t run = std::min(count - r, px.pw - px.x), y0 = px.y * sh - pt, x0 = px.x * sw - pl;
    const float* corner = p.a + ((px.img * h + y0) * w + x0) * c;
    if (field_inside(g, y0, x0) && field_inside(g, y0, x0 + (run - 1) * sw)) {
      for (int64_t q = 0; q < run; ++q) rows[r + q] = corner + q * sw * c;
      r += run;
      px.advance(run);
      continue;
    }
    if (!field_inside(g, y0, x0)) return r;
    rows[r++] = corner;
    px.next();
  }
  return count;
}

// Whole slivers of a conv with few channels that one tile_column takes at most.
constexpr int64_t kColumnSlivers = 32;

// Rows [i, i + mr) of conv2d's op(a) (start: row i's pixel) through conv_koff, at k steps [k0, k0 + kc):
// when all mr rows are pixels whose receptive field lies inside the image,
// rows[r] is the field's corner (rows past mr, whose results run_tile drops,
// row 0's) and the result is true; else every row's entries are gathered
// into stage + r * kKC (zeros for padding and rows past mr), rows[r] points
// there and the result is false.
bool conv_fields(const Problem& p, const PixelWalk& start, int64_t mr, int64_t mr_full, int64_t k0, int64_t kc,
                 float* stage, const float** rows) {
  PixelWalk px = start.copy();
  const int64_t* g = p.conv;
  const int64_t h = g[0], w = g[1], c = g[2], kw = g[4];
  const int64_t sh = g[8], sw = g[9], pt = g[10], pl = g[11], dh = g[12], dw = g[13];
  // The common case: a sliver in one output row, both end fields inside
  // (then every field between is), corners sw pixels apart.
  if (px.x + mr <= px.pw) {
    const int64_t ys = px.y * sh - pt, xs = px.x * sw - pl;
    if (field_inside(g, ys, xs) && field_inside(g, ys, xs + (mr - 1) * sw)) {
      const float* corner = p.a + px.img * h * w * c + (ys * w + xs) * c;
      for (int64_t r = 0; r < mr_full; ++r) rows[r] = corner + (r < mr ? r : 0) * sw * c;
      return true;
    }
  }
  int64_t y0[16], x0[16], base[16];
  bool inside = true;
  for (int64_t r = 0; r < mr; ++r, px.next()) {
    y0[r] = px.y * sh - pt, x0[r] = px.x * sw - pl, base[r] = px.img * h * w * c;
    inside = inside && field_inside(g, y0[r], x0[r]);
  }
  if (inside) {  // rows past mr, whose results are dropped, read row 0's field
    for (int64_t r = 0; r < mr_full; ++r) rows[r] = p.a + base[r < mr ? r : 0] + (y0[r < mr ? r : 0] * w + x0[r < mr ? r : 0]) * c;
    return true;
  }
  for (int64_t r = 0; r < mr_full; ++r) {
    float* d = stage + r * kKC;
    for (int64_t k = 0; k < kc; ++k) {
      const int64_t e = k0 + k, y = r < mr ? y0[r] + e / (kw * c) * dh : -1, x = r < mr ? x0[r] + e / c % kw * dw : -1;
      d[k] = y >= 0 && y < h && x >= 0 && x < w ? p.a[base[r] + (y * w + x) * c + e % c] : 0.0f;
    }
    rows[r] = d;
  }
  return false;
}

// Rows [i, i + mr) of the input gradient's op(a) over a zero-padded dy
// (conv_padded; start: row i's pixel) at the k block from k0, which starts a
// filter row ta: input pixel (y, x) reads, tap after tap of that row
// (reversed, conv_adjoint_tap), the padded dy pixels (y + KH - 1 - ta, x),
// (.., x + 1), ...: one segment; the next filter row reads the padded row
// above (segment stride -(W + KW - 1) * O). Rows past mr, whose results
// run_tile drops, read row 0's.
void padded_rows(const Problem& p, const PixelWalk& start, int64_t mr, int64_t mr_full, int64_t k0, const float** rows) {
  PixelWalk px = start.copy();
  const int64_t* g = p.conv;
  const int64_t o = g[5], hp = g[0] + g[3] - 1, wp = g[1] + g[4] - 1, ta = k0 / segment(p);
  for (int64_t r = 0; r < mr; ++r, px.next()) rows[r] = p.a + ((px.img * hp + px.y + g[3] - 1 - ta) * wp + px.x) * o;
  for (int64_t r = mr; r < mr_full; ++r) rows[r] = rows[0];
}

// One column panel of op(b): columns [j, j + nr) as nv vectors; row k at data + k * ld.
struct Panel {
  const float* data;
  int64_t ld, j, nr, nv;
};

struct Panels {
  std::vector<Panel> panels;
};

// A per-thread growable buffer of at least `floats` floats, 64-byte aligned.
float* thread_buffer(std::vector<float>& v, size_t floats) {
  if (v.size() < floats + 16) v.resize(floats + 16);
  auto addr = reinterpret_cast<uintptr_t>(v.data());
  return v.data() + ((64 - addr % 64) % 64) / sizeof(float);
}

float* sliver_buffer(int64_t floats) {
  thread_local std::vector<float> v;
  return thread_buffer(v, static_cast<size_t>(floats));
}

// op(b)'s panels for vectors of w lanes: 2w wide while more than w columns
// remain, then one of w; all w wide when `narrow` (more panels to split over
// threads). A whole panel of an untransposed b is read in place; the others
// are packed (k-major, zero-padded to the panel width).
Panels make_panels(const Problem& p, int64_t w, bool narrow) {
  Panels out;
  int64_t packed = 0;
  for (int64_t j = 0; j < p.n;) {
    int64_t nv = p.n - j > w && !narrow ? 2 : 1, nr = std::min(nv * w, p.n - j);
    bool in_place = !p.tb && nr == nv * w;
    out.panels.push_back({nullptr, in_place ? p.ldb : nv * w, j, nr, nv});
    if (!in_place) packed += p.k * nv * w;
    j += nr;
  }
  thread_local std::vector<float> buf;
  float* dst = thread_buffer(buf, static_cast<size_t>(packed));
  for (Panel& pn : out.panels) {
    if (pn.ld == p.ldb && !p.tb && pn.nr == pn.nv * w) {
      pn.data = p.b + pn.j;
      continue;
    }
    pn.data = dst;
    for (int64_t k = 0; k < p.k; ++k, dst += pn.ld) {
      for (int64_t x = 0; x < pn.nr; ++x) dst[x] = p.tb ? p.b[(pn.j + x) * p.ldb + k] : p.b[k * p.ldb + pn.j + x];
      std::fill(dst + pn.nr, dst + pn.ld, 0.0f);
    }
  }
  return out;
}

// Transposed op(a) rows [i, i + mr), k steps [k0, k0 + kc), k-major into
// s[k * mr_full + r], with zeros past mr.
void pack_sliver(const Problem& p, int64_t i, int64_t mr, int64_t k0, int64_t kc, int64_t mr_full, float* s) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = p.a + (k0 + k) * p.lda + i;
    std::memcpy(s + k * mr_full, src, static_cast<size_t>(mr) * sizeof(float));
    std::fill(s + k * mr_full + mr, s + (k + 1) * mr_full, 0.0f);
  }
}

// max_pool2d over a conv's output [n, oh, ow, c] (kiln_conv2d_max_pool_f32),
// cut into work items: bands of `per` pooled rows of one image.
struct PoolBands {
  int64_t kh, kw, sh, sw, pt, pl, ph, pw;  // window, strides, top/left padding, pooled size
  int64_t y_image;                         // floats between y's images
  int64_t oh, ow, c;                       // the conv's output
  int64_t per, bands;                      // pooled rows per band, bands per image

  PoolBands(const int64_t* g, const int64_t* q)
      : kh(q[0]), kw(q[1]), sh(q[2]), sw(q[3]), pt(q[4]), pl(q[5]), ph(q[6]), pw(q[7]), y_image(q[8]), oh(g[6]),
        ow(g[7]), c(g[5]) {
    constexpr int64_t kBandFloats = int64_t{1} << 13;  // ~32 KB of conv output per band: stays in L1/L2
    const int64_t want = std::max<int64_t>(1, kBandFloats / std::max<int64_t>(sh * ow * c, 1));
    bands = (ph + want - 1) / want;
    per = (ph + bands - 1) / bands;  // even bands
  }
  // The conv rows [first, last) that pooled rows [q0, q1) read (cells inside only).
  int64_t first_row(int64_t q0) const { return std::clamp<int64_t>(q0 * sh - pt, 0, oh); }
  int64_t last_row(int64_t q1) const { return std::clamp<int64_t>((q1 - 1) * sh - pt + kh, 0, oh); }
};

// max_pool2d's choice between a window's best so far and its next cell v:
// v wins when it is larger or NaN, unless best is NaN (runtime/kernels_pool.cpp).
inline float pool_take(float v, float best) { return !std::isnan(best) && (v > best || std::isnan(v)) ? v : best; }

// Rows [i0, i1) of a product with k = 0: zeros (or c as it is when
// accumulating), then the epilogue.
void empty_sum(const Problem& p, int64_t i0, int64_t i1) {
  float* c = p.c + (i0 - p.c_row0) * p.n;
  if (!p.accumulate) std::fill(c, c + (i1 - i0) * p.n, 0.0f);
  if (p.ep.any())
    for (int64_t i = i0; i < i1; ++i) p.ep.apply_row(c + (i - i0) * p.n, i, 0, p.n, p.n);
}

// Products below this many multiply-adds run on the calling thread.
constexpr int64_t kParallelFlops = int64_t{1} << 21;

// The threads a product of this size is split over.
int64_t split_threads(const Problem& p) { return p.m * p.n * p.k >= kParallelFlops ? kiln_num_threads() : 1; }

// Whether a product split over `threads` splits its rows: at least two row
// blocks per thread, or whole blocks shared evenly (16 rows on 2 threads: one
// 8-row sliver each keeps the 2w-wide tiles, where a split into w-wide panels
// would feed half as many FMAs per broadcast of a).
bool split_rows(const Problem& p, int64_t mr, int64_t threads) {
  const int64_t row_blocks = (p.m + mr - 1) / mr;
  return threads > 1 && (row_blocks >= 2 * threads || (row_blocks >= threads && p.m % (mr * threads) == 0));
}

// Whether a product split over threads has fewer row blocks and 2w-wide
// panels than it needs (then its panels are made w wide).
bool too_few_blocks(const Problem& p, int64_t mr, int64_t w) {
  const int64_t threads = split_threads(p);
  return threads > 1 && !split_rows(p, mr, threads) && (p.n + 2 * w - 1) / (2 * w) < threads;
}

// Calls block(i0, i1, p0, p1) on row ranges (multiples of mr) or, when there
// are too few row blocks, panel ranges, one per thread for large products.
template <class Block>
void run_split(const Problem& p, int64_t mr, const Panels& bp, Block&& block) {
  const int64_t row_blocks = (p.m + mr - 1) / mr, panels = static_cast<int64_t>(bp.panels.size());
  const int64_t threads = split_threads(p);
  if (split_rows(p, mr, threads)) {
    kiln::runtime::parallel_ranges(row_blocks, threads, [&](int64_t b0, int64_t b1) {
      block(b0 * mr, std::min(b1 * mr, p.m), int64_t{0}, panels);
    });
  } else if (threads > 1 && panels >= threads) {
    kiln::runtime::parallel_ranges(panels, threads, [&](int64_t q0, int64_t q1) { block(int64_t{0}, p.m, q0, q1); });
  } else {
    block(int64_t{0}, p.m, int64_t{0}, panels);
  }
}

}  // namespace

// The ISA-specific code: the same source (gemm_kernel.inc) under three targets.
#if defined(KILN_GEMM_X86) && defined(__GNUC__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
#endif
namespace isa_avx512 {
using V = __m512;
constexpr int W = 16, MR = 8;
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V vzero() { return _mm512_setzero_ps(); }
inline V vbcast(float x) { return _mm512_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vtake(V v, V best) {  // pool_take on each lane: best is a number and !(v <= best)
  const __mmask16 m = _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(best, best, _CMP_ORD_Q), v, best, _CMP_NLE_UQ);
  return _mm512_mask_blend_ps(m, best, v);
}
V activate_lanes(V x, int32_t act);  // gemm_kernel.inc
inline V vepi(V x, const float* bias, const float* mask, int32_t act) {
  const V zero = _mm512_setzero_ps();
  if (bias) x = _mm512_add_ps(x, _mm512_loadu_ps(bias));
  if (act == KILN_ACT_RELU) x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x, zero);
  else if (act != KILN_ACT_NONE) x = activate_lanes(x, act);
  if (mask) x = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(mask), zero, _CMP_GT_OQ), x);
  return x;
}
#include "runtime/gemm_kernel.inc"
}  // namespace isa_avx512
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace isa_avx2 {
using V = __m256;
constexpr int W = 8, MR = 6;
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V vzero() { return _mm256_setzero_ps(); }
inline V vbcast(float x) { return _mm256_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
inline V vtake(V v, V best) {  // pool_take on each lane: best is a number and !(v <= best)
  const V m = _mm256_and_ps(_mm256_cmp_ps(best, best, _CMP_ORD_Q), _mm256_cmp_ps(v, best, _CMP_NLE_UQ));
  return _mm256_blendv_ps(best, v, m);
}
V activate_lanes(V x, int32_t act);  // gemm_kernel.inc
inline V vepi(V x, const float* bias, const float* mask, int32_t act) {
  const V zero = _mm256_setzero_ps();
  if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias));
  if (act == KILN_ACT_RELU) x = _mm256_blendv_ps(x, zero, _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
  else if (act != KILN_ACT_NONE) x = activate_lanes(x, act);
  if (mask) x = _mm256_and_ps(x, _mm256_cmp_ps(_mm256_loadu_ps(mask), zero, _CMP_GT_OQ));
  return x;
}
#include "runtime/gemm_kernel.inc"
}  // namespace isa_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

// Baseline: 4-lane vectors, multiply then add (no FMA to rely on).
namespace isa_generic {
typedef float V __attribute__((vector_size(16)));
constexpr int W = 4, MR = 6;
inline V vload(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, V v) { std::memcpy(p, &v, sizeof v); }
inline V vzero() { return V{0, 0, 0, 0}; }
inline V vbcast(float x) { return V{x, x, x, x}; }
inline V vfma(V a, V b, V c) { return a * b + c; }
inline V vadd(V a, V b) { return a + b; }
inline V vtake(V v, V best) {
  for (int t = 0; t < W; ++t) best[t] = pool_take(v[t], best[t]);
  return best;
}
inline V vepi(V x, const float* bias, const float* mask, int32_t act) {
  for (int t = 0; t < W; ++t) x[t] = epilogue_scalar(x[t], bias ? bias + t : nullptr, mask ? mask + t : nullptr, act);
  return x;
}
#include "runtime/gemm_kernel.inc"
}  // namespace isa_generic

namespace {

// Visits the patch matrix of images [n0, n0+cnt): f(row, tap, src) where row is
// the output pixel, tap = (a*KW + b) the filter tap (a block of C columns), and
// src the offset of x[n, y, x, 0], or -1 when the tap reads padding.
template <class F>
void for_each_patch(const int64_t* g, int64_t n0, int64_t cnt, F&& f) {
  const int64_t h = g[0], w = g[1], c = g[2], kh = g[3], kw = g[4], oh = g[6], ow = g[7];
  const int64_t sh = g[8], sw = g[9], pt = g[10], pl = g[11], dh = g[12], dw = g[13];
  for (int64_t n = 0; n < cnt; ++n)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        int64_t row = (n * oh + i) * ow + j;
        for (int64_t a = 0; a < kh; ++a) {
          int64_t y = i * sh + a * dh - pt;
          for (int64_t b = 0; b < kw; ++b) {
            int64_t x = j * sw + b * dw - pl;
            bool inside = y >= 0 && y < h && x >= 0 && x < w;
            f(row, a * kw + b, inside ? (((n0 + n) * h + y) * w + x) * c : int64_t{-1});
          }
        }
      }
}


// Calls f(begin, end) on ranges of the cnt images, split over the thread pool
// when the patch matrix is large (each image's rows and input are its own).
template <class F>
void for_image_ranges(const int64_t* g, int64_t cnt, F&& f) {
  const int64_t floats = cnt * g[6] * g[7] * g[3] * g[4] * g[2];
  kiln::runtime::parallel_ranges(cnt, floats >= (int64_t{1} << 18) ? kiln_num_threads() : 1, f);
}

enum class Isa { avx512, avx2, generic };

// The widest instruction set this CPU runs; $KILN_GEMM_ISA=avx2|generic caps it (for tests and benchmarks).
Isa host_isa() {
  static const Isa isa = [] {
    Isa best = Isa::generic;
#if defined(KILN_GEMM_X86) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
      best = Isa::avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      best = Isa::avx2;
#endif
    const char* cap = std::getenv("KILN_GEMM_ISA");
    if (cap && std::strcmp(cap, "generic") == 0) return Isa::generic;
    if (cap && std::strcmp(cap, "avx2") == 0 && best == Isa::avx512) return Isa::avx2;
    return best;
  }();
  return isa;
}

// conv2d then max_pool2d (kiln_conv2d_max_pool_f32) on the widest instruction set.
void run_conv_max_pool(const Problem& p, const PoolBands& q, float* y, uint8_t* winners) {
  switch (host_isa()) {
#if defined(KILN_GEMM_X86) && defined(__GNUC__)
    case Isa::avx512: return isa_avx512::conv_max_pool(p, q, y, winners);
    case Isa::avx2: return isa_avx2::conv_max_pool(p, q, y, winners);
#endif
    default: return isa_generic::conv_max_pool(p, q, y, winners);
  }
}

// Runs the product on the widest instruction set of this CPU.
void run(const Problem& p) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) return empty_sum(p, 0, p.m);
  switch (host_isa()) {
#if defined(KILN_GEMM_X86) && defined(__GNUC__)
    case Isa::avx512: return isa_avx512::gemm(p);
    case Isa::avx2: return isa_avx2::gemm(p);
#endif
    default: return isa_generic::gemm(p);
  }
}

// Each patch entry's offset in x (NHWC) from its receptive field's corner:
// entry k = (a * KW + b) * C + ch at (a * dh * W + b * dw) * C + ch.
std::vector<int64_t> field_offsets(const int64_t* g) {
  const int64_t patch = g[3] * g[4] * g[2];
  std::vector<int64_t> koff(static_cast<size_t>(patch));
  for (int64_t k = 0; k < patch; ++k)
    koff[static_cast<size_t>(k)] = (k / (g[4] * g[2]) * g[12] * g[1] + k / g[2] % g[4] * g[13]) * g[2] + k % g[2];
  return koff;
}

// Images per patch matrix: at most `chunk` (what cols holds), and few enough
// that the matrix (~1 MB) is still in cache when the GEMM reads it.
int64_t cache_chunk(const int64_t* g, int64_t chunk) {
  const int64_t per_image = std::max<int64_t>(g[6] * g[7] * g[3] * g[4] * g[2], 1);
  return std::clamp<int64_t>((int64_t{1} << 18) / per_image, 1, std::max<int64_t>(chunk, 1));
}

// Inputs (for the input gradient: outputs) with at least this many channels
// convolve by implicit GEMM (a tap's channels are enough k steps per pass over
// the output tile; a filter row's patch entries fill slivers); fewer through an
// explicit patch matrix. Both give the same bits (kiln_conv2d_uses_cols).
constexpr int64_t kImplicitConvChannels = 16;

// conv2d as an implicit GEMM into y (kiln_conv2d_f32). Many channels: a k
// block spans a tap's channels or a filter row (conv_rows), or several filter
// rows when every field lies inside x (whole_fields). Few: the whole receptive
// field through each patch entry's offset from its corner, held in koff.
Problem conv_problem(const int64_t* g, const float* x, const float* w, int64_t n, float* y, const KilnEpilogue* ep,
                     std::vector<int64_t>& koff) {
  const int64_t patch = g[3] * g[4] * g[2], pixels = g[6] * g[7], o = g[5];
  Problem p{x, patch, false, w, o, false, y, n * pixels, o, patch, false};
  p.conv = g;
  p.ep = epilogue_of(ep);
  if (g[2] < kImplicitConvChannels) {
    koff = field_offsets(g);
    p.conv_koff = koff.data();
  } else {
    p.conv_whole = whole_fields(g);
  }
  return p;
}

// Whether the input gradient of conv geometry g can read a zero-padded dy
// (conv_padded): stride and dilation 1, no side padded by KH (KW) or more,
// and a filter row's k steps (KW * O) within one k block.
bool padded_adjoint(const int64_t* g) {
  const int64_t h = g[0], w = g[1], kh = g[3], kw = g[4], oh = g[6], ow = g[7], pt = g[10], pl = g[11];
  const int64_t pb = oh - 1 + kh - h - pt, pr = ow - 1 + kw - w - pl;  // bottom/right padding (stride 1)
  return g[8] == 1 && g[9] == 1 && g[12] == 1 && g[13] == 1 && pt >= 0 && pl >= 0 && pt < kh && pb >= 0 &&
         pb < kh && pl < kw && pr >= 0 && pr < kw && kw * g[5] <= kWholeKC;
}

// dy's images [n0, n0 + cnt) zero-padded to [H + KH - 1, W + KW - 1, O] into
// out: dy pixel (oy, ox) at (oy + KH - 1 - pt, ox + KW - 1 - pl), so input
// pixel (y, x)'s tap (ta, tb) reads (y + KH - 1 - ta, x + KW - 1 - tb),
// zero where no output pixel reads it.
void pad_dy(const int64_t* g, const float* dy, int64_t n0, int64_t cnt, float* out) {
  const int64_t o = g[5], oh = g[6], ow = g[7], hp = g[0] + g[3] - 1, wp = g[1] + g[4] - 1;
  const int64_t top = g[3] - 1 - g[10], left = g[4] - 1 - g[11];
  for (int64_t img = n0; img < n0 + cnt; ++img)
    for (int64_t yy = 0; yy < hp; ++yy, out += wp * o) {
      const int64_t oy = yy - top;
      if (oy < 0 || oy >= oh) {
        std::fill(out, out + wp * o, 0.0f);
        continue;
      }
      std::fill(out, out + left * o, 0.0f);
      std::memcpy(out + left * o, dy + (img * oh + oy) * ow * o, static_cast<size_t>(ow * o) * sizeof(float));
      std::fill(out + (left + ow) * o, out + wp * o, 0.0f);
    }
}

// The input gradient p (conv_adjoint, a = dy) over a zero-padded dy, chunk
// by chunk of images padded into a per-thread buffer that stays in cache;
// the chunks split over the thread pool when there are enough of them, else
// each chunk's product splits its rows. The same FMA chains as reading dy
// with gathered borders (the padding supplies the zeros those gathered).
void run_padded_adjoint(const Problem& p, int64_t n) {
  const int64_t* g = p.conv;
  const int64_t pixels = g[0] * g[1], c = g[2], per_image = (g[0] + g[3] - 1) * (g[1] + g[4] - 1) * g[5];
  const int64_t per_chunk = std::max<int64_t>(1, (int64_t{1} << 16) / per_image);  // ~256 KB of padded dy
  const int64_t chunks = (n + per_chunk - 1) / per_chunk;
  auto run_chunks = [&](int64_t c0, int64_t c1) {
    thread_local std::vector<float> buf;
    for (int64_t q = c0; q < c1; ++q) {
      const int64_t n0 = q * per_chunk, cnt = std::min(per_chunk, n - n0);
      float* padded = thread_buffer(buf, static_cast<size_t>(cnt * per_image));
      pad_dy(g, p.a, n0, cnt, padded);
      Problem part = p;
      part.a = padded;
      part.conv_padded = true;
      part.m = cnt * pixels;
      part.c = p.c + n0 * pixels * c;
      if (part.ep.mask) part.ep.mask += n0 * pixels * c;
      run(part);
    }
  };
  const int64_t threads = split_threads(p);
  if (threads > 1 && chunks >= 2 * threads) kiln::runtime::parallel_ranges(chunks, threads, run_chunks);
  else run_chunks(0, chunks);
}

}  // namespace

extern "C" {

void kiln_gemm_f32(const float* a, int64_t ar, int64_t ac, int32_t ta, const float* b, int64_t br, int64_t bc,
                   int32_t tb, float* c, int32_t accumulate, const KilnEpilogue* ep) {
  Problem p{a, ac, ta != 0, b, bc, tb != 0, c, ta ? ac : ar, tb ? br : bc, ta ? ar : ac, accumulate != 0};
  p.ep = epilogue_of(ep);
  p.k_blocks = true;
  run(p);
}

void kiln_conv2d_f32(const int64_t* g, const float* x, const float* w, int64_t n, float* y, const KilnEpilogue* ep) {
  std::vector<int64_t> koff;
  run(conv_problem(g, x, w, n, y, ep, koff));
}

void kiln_conv2d_max_pool_f32(const int64_t* g, const int64_t* pool, const float* x, const float* w, int64_t n,
                              float* y, uint8_t* winners, const KilnEpilogue* ep) {
  if (n * g[6] * g[7] * g[5] == 0 || n * pool[6] * pool[7] == 0) return;
  std::vector<int64_t> koff;
  run_conv_max_pool(conv_problem(g, x, w, n, nullptr, ep, koff), PoolBands(g, pool), y, winners);
}

void kiln_conv2d_input_grad_f32(const int64_t* g, const float* dy, const float* w, int64_t n, float* dx, float* cols,
                                int64_t chunk, const KilnEpilogue* ep) {
  const int64_t c = g[2], taps = g[3] * g[4], patch = taps * c, pixels = g[6] * g[7], o = g[5];
  if (!kiln_conv2d_uses_cols(c, o, 1)) {
    // dx [n*H*W, C] = dy read per tap [n*H*W, taps*O] x W rearranged [taps*O, C].
    thread_local std::vector<float> wt;
    wt.resize(static_cast<size_t>(patch * o));
    Problem p{dy, taps * o, false, wt.data(), c, false, dx, n * g[0] * g[1], c, taps * o, false};
    p.conv = g;
    p.conv_adjoint = true;
    for (int64_t t = 0; t < taps; ++t) {  // k-position t holds tap conv_adjoint_tap(t)
      const int64_t tap = conv_adjoint_tap(p, t);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t q = 0; q < o; ++q) wt[static_cast<size_t>((t * o + q) * c + ch)] = w[(tap * c + ch) * o + q];
    }
    p.ep = epilogue_of(ep);
    if (padded_adjoint(g)) return run_padded_adjoint(p, n);
    return run(p);
  }
  std::fill(dx, dx + n * g[0] * g[1] * c, 0.0f);
  chunk = cache_chunk(g, chunk);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    const int64_t cnt = std::min(chunk, n - n0);
    // dcols [rows, patch] = dy [rows, O] * W^T, W viewed as [patch, O].
    run(Problem{dy + n0 * pixels * o, o, false, w, o, true, cols, cnt * pixels, patch, o, false});
    kiln_col2im_add_f32(g, cols, n0, cnt, dx);
  }
  // col2im completes each dx element only at the end: the epilogue follows.
  if (const Epilogue e = epilogue_of(ep); e.any())
    for (int64_t i = 0; i < n * g[0] * g[1]; ++i) e.apply_row(dx + i * c, i, 0, c, c);
}

void kiln_conv2d_filter_grad_f32(const int64_t* g, const float* x, const float* dy, int64_t n, float* dw,
                                 int32_t accumulate) {
  const int64_t patch = g[3] * g[4] * g[2], pixels = g[6] * g[7], o = g[5];
  // dW [patch, O] = patches(x)^T [patch, rows] * dy [rows, O], patches never built.
  Problem p{x, 0, true, dy, o, false, dw, patch, o, n * pixels, accumulate != 0};
  const std::vector<int64_t> koff = field_offsets(g);
  p.conv = g;
  p.conv_filter = true;
  p.conv_koff = koff.data();
  run(p);
}

int32_t kiln_conv2d_uses_cols(int64_t, int64_t o, int32_t which) {
  return which == 1 && o < kImplicitConvChannels;
}

const char* kiln_gemm_isa() {
  switch (host_isa()) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2+fma";
    case Isa::generic: break;
  }
  return "generic";
}

void kiln_im2col_f32(const int64_t* g, const float* x, int64_t n0, int64_t cnt, float* cols) {
  const int64_t h = g[0], w = g[1], c = g[2], kh = g[3], kw = g[4], oh = g[6], ow = g[7];
  const int64_t sh = g[8], sw = g[9], pt = g[10], pl = g[11], dh = g[12], dw = g[13];
  const int64_t patch = kh * kw * c, span = kw * c;  // a filter row's part of a patch row
  for_image_ranges(g, cnt, [&](int64_t b, int64_t e) {
    float* row = cols + b * oh * ow * patch;
    for (int64_t n = n0 + b; n < n0 + e; ++n)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j, row += patch)
          for (int64_t a = 0; a < kh; ++a) {
            float* dst = row + a * span;
            const int64_t y = i * sh + a * dh - pt, x0 = j * sw - pl;
            if (y < 0 || y >= h) {
              std::fill(dst, dst + span, 0.0f);
            } else if (dw == 1 && x0 >= 0 && x0 + kw <= w) {  // the filter row's taps are adjacent in x
              copy_floats(dst, x + ((n * h + y) * w + x0) * c, span);
            } else {
              for (int64_t t = 0; t < kw; ++t) {
                const int64_t xx = x0 + t * dw;
                if (xx < 0 || xx >= w) std::fill(dst + t * c, dst + (t + 1) * c, 0.0f);
                else copy_floats(dst + t * c, x + ((n * h + y) * w + xx) * c, c);
              }
            }
          }
  });
}

void kiln_col2im_add_f32(const int64_t* g, const float* cols, int64_t n0, int64_t cnt, float* dx) {
  const int64_t c = g[2], patch = g[3] * g[4] * g[2], rows_per_image = g[6] * g[7];
  for_image_ranges(g, cnt, [&](int64_t b, int64_t e) {  // images own disjoint parts of dx
    const float* in = cols + b * rows_per_image * patch;
    for_each_patch(g, n0 + b, e - b, [&](int64_t row, int64_t tap, int64_t src) {
      if (src < 0) return;
      const float* s = in + row * patch + tap * c;
      for (int64_t k = 0; k < c; ++k) dx[src + k] += s[k];
    });
  });
}

}  // extern "C"
