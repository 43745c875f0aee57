// The one single-precision GEMM every contraction runs: the interpreter's
// matmul/conv2d kernels (runtime/kernels_contract.cpp) and the JIT's runtime
// kernels (codegen/rt_kernels.cpp) both call this function, so they execute
// the same machine code and agree bit for bit.
//
// runtime/gemm.cpp is our own packed, register-blocked GEMM; it picks the
// widest instruction set the CPU runs (AVX-512, AVX2+FMA, baseline) once per
// process. Each element of a product (kiln_gemm_f32) is a fixed sum over k
// (KILN_GEMM_K_BLOCK below); each element of a conv is one chain c = fma(a_k,
// b_k, c) over its whole k in order, from 0 (or from c when accumulating). No
// tiling, packing or thread split (runtime/thread_pool.h; rows and columns
// only) changes the result, so it is the same for any thread count and any
// matrix size.
#pragma once

#include <cstdint>

extern "C" {

// The order of kiln_gemm_f32's sums (matmul's; not the convs'): k is cut into
// blocks of KILN_GEMM_K_BLOCK steps, [0, B), [B, 2B), ... (the last one
// shorter); block t's sum s_t is one chain s_t = fma(a_k, b_k, s_t) over its k
// in order from 0 (s_0 from c when accumulating), and the element is
// (((s_0 + s_1) + s_2) + ...), added in block order, then the epilogue. With
// k <= KILN_GEMM_K_BLOCK it is one chain. The block is a constant, never a
// function of the ISA, the threads or the shape, so every kernel that computes
// a matmul (this GEMM, the JIT's inline small matmuls in
// codegen/emit_small_matmul.cpp) gives the same bits; independent blocks let
// a product with few rows and long k keep many chains in flight.
enum { KILN_GEMM_K_BLOCK = 256 };

// What happens to each element of a product once its sum over k is complete,
// while its register tile is being stored (a null `ep` or null/0 fields skip
// the step), in this order and with the same float operations as the graph
// ops it replaces, so fused and unfused results are the same bits:
//   c = c + bias[column]               add with broadcast over the rows
//   c = act(c)                         KILN_ACT_RELU: c < 0 ? 0 : c (NaN and -0
//                                      pass through); KILN_ACT_SIGMOID, KILN_ACT_TANH:
//                                      kiln_sigmoid_f32, kiln_tanh_f32 (runtime/math_f32.h)
//   c = mask[i] > 0 ? c : 0            relu's backward mask; mask laid out as c
enum { KILN_ACT_NONE = 0, KILN_ACT_RELU = 1, KILN_ACT_SIGMOID = 2, KILN_ACT_TANH = 3 };
typedef struct KilnEpilogue {
  const float* bias;
  const float* mask;
  int32_t act;
} KilnEpilogue;

// c = op(a) * op(b), or c += op(a) * op(b) when accumulate != 0; a is stored
// [ar, ac] row-major and op(a) = a^T when ta != 0 (likewise b, tb); c is the
// row-major [m, p] result (m = ta ? ac : ar, p = tb ? br : bc), each element
// summed in blocks of k (KILN_GEMM_K_BLOCK); then `ep`.
void kiln_gemm_f32(const float* a, int64_t ar, int64_t ac, int32_t ta, const float* b, int64_t br, int64_t bc,
                   int32_t tb, float* c, int32_t accumulate, const KilnEpilogue* ep);

// conv2d of images [0, n) (NHWC x, HWIO w, geom as for im2col below) into y
// [n, OH, OW, O], then `ep` (bias per output channel): the same bits as
// kiln_im2col_f32 + kiln_gemm_f32. An implicit GEMM: x is read in place (a
// k block spans a filter row for many channels, the whole receptive field for
// few; rows that read padding are gathered).
void kiln_conv2d_f32(const int64_t* geom, const float* x, const float* w, int64_t n, float* y, const KilnEpilogue* ep);

// kiln_conv2d_f32 (ep's mask laid out as its output) followed by max_pool2d of its result,
// pool = {kh, kw, sh, sw, pt, pl, ph, pw, y_image}: window, strides, top/left
// padding, the pooled size and the floats between y's images; y [n, ph, pw, O]
// with image i at y + i * y_image (>= ph * pw * O: images inside a wider row,
// a concat's columns). The conv's output is computed in
// bands of rows that stay in cache and pooled at once, never written whole:
// the bits of kiln_conv2d_f32 then max_pool2d (runtime/kernels_pool.cpp:
// each window's first maximum among its cells inside, NaN counting as largest).
// With winners not null, also max_pool2d_winners' winners [n, ph, pw, O]: each
// maximum's row-major position in its window.
void kiln_conv2d_max_pool_f32(const int64_t* geom, const int64_t* pool, const float* x, const float* w, int64_t n,
                              float* y, uint8_t* winners, const KilnEpilogue* ep);

// Its adjoint: dx [n, H, W, C] = the input gradient for dy [n, OH, OW, O],
// then `ep` (bias per input channel; mask laid out as dx).
// With many output channels dx is one implicit GEMM (each input pixel reads,
// tap by tap, the dy row of the output pixel that tap maps it to; with stride
// and dilation 1 from a zero-padded copy of dy made chunk by chunk of images,
// so no row is gathered: the same bits); otherwise
// col2im of dy * W^T per chunk of images (cols as scratch).
void kiln_conv2d_input_grad_f32(const int64_t* geom, const float* dy, const float* w, int64_t n, float* dx,
                                float* cols, int64_t chunk, const KilnEpilogue* ep);

// The filter gradient dw [KH*KW*C, O] = patches(x)^T * dy, an implicit GEMM
// that reads each output pixel's receptive field in place (k blocks with
// pixels whose field meets the padding are gathered): each dw entry is one
// chain over all pixels in order, the bits of im2col + transposed GEMM.
// With accumulate != 0 the chains continue from dw (dw += ...): calls on
// consecutive chunks of images, the first without accumulate, give the bits
// of one call on all of them.
void kiln_conv2d_filter_grad_f32(const int64_t* geom, const float* x, const float* dy, int64_t n, float* dw,
                                 int32_t accumulate);

// Whether a conv kernel above uses `cols` for c input and o output
// channels: which = 0 conv2d and 2 its filter gradient (never: they take
// none), 1 its input gradient (with few output channels). When not, cols may be null.
int32_t kiln_conv2d_uses_cols(int64_t c, int64_t o, int32_t which);

// The instruction set the GEMM runs: "avx512", "avx2+fma" or "generic" (no FMA).
// $KILN_GEMM_ISA=avx2|generic caps it, for tests and benchmarks.
const char* kiln_gemm_isa();

// The patch matrix of images [n0, n0 + cnt) that defines conv2d as a GEMM
// (NHWC input, HWIO filter): row (n, i, j) holds, tap by tap (a*KW + b), the
// C channels the filter reads at output pixel (i, j), zeros where it reads
// padding. geom = {h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, dh, dw}: input
// size and channels, filter size and output channels, output size, strides,
// top/left padding, dilations. The conv kernels above never build it (they
// read x in place and give its bits); it is the reference tests compare with.
void kiln_im2col_f32(const int64_t* geom, const float* x, int64_t n0, int64_t cnt, float* cols);
// The adjoint: adds each patch-matrix entry back onto the input element it was read from.
void kiln_col2im_add_f32(const int64_t* geom, const float* cols, int64_t n0, int64_t cnt, float* dx);
}
