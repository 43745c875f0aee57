// The one single-precision GEMM every contraction runs: the interpreter's
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
}
