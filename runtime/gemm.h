// The one single-precision GEMM (and im2col) every contraction runs: the interpreter's
// matmul/conv2d kernels (runtime/kernels_contract.cpp) and the JIT's runtime
// kernels (codegen/rt_kernels.cpp) both call this function, so they execute
// the same machine code and agree bit for bit.
//
// runtime/gemm.cpp is the only translation unit that instantiates Eigen's
// GEMM, and it is compiled with -mavx2 -mfma when the build machine supports
// them (runtime/CMakeLists.txt; SSE2 otherwise). Keep it that way: a second
// TU instantiating the same Eigen templates with other flags would let the
// linker pick either copy.
#pragma once

#include <cstdint>

extern "C" {

// c = op(a) * op(b), or c += op(a) * op(b) when accumulate != 0; a is stored
// [ar, ac] row-major and op(a) = a^T when ta != 0 (likewise b, tb); c is the
// row-major [m, p] result (m = ta ? ac : ar, p = tb ? br : bc).
void kiln_gemm_f32(const float* a, int64_t ar, int64_t ac, int32_t ta, const float* b, int64_t br, int64_t bc,
                   int32_t tb, float* c, int32_t accumulate);

// The instruction set the GEMM was compiled for: "avx2+fma" or "sse2".
const char* kiln_gemm_isa();

// conv2d by GEMM (NHWC input, HWIO filter) needs the patch matrix of images
// [n0, n0 + cnt): row (n, i, j) holds, tap by tap (a*KW + b), the C channels
// the filter reads at output pixel (i, j), zeros where it reads padding.
// geom = {h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, dh, dw}: input size and
// channels, filter size and output channels, output size, strides, top/left
// padding, dilations. Shared by the interpreter and the JIT like the GEMM.
void kiln_im2col_f32(const int64_t* geom, const float* x, int64_t n0, int64_t cnt, float* cols);
// The adjoint: adds each patch-matrix entry back onto the input element it was read from.
void kiln_col2im_add_f32(const int64_t* geom, const float* cols, int64_t n0, int64_t cnt, float* dx);
}
