// The shared GEMM (runtime/gemm.h) on Eigen. The only TU that includes Eigen's
// product code; its compile flags (runtime/CMakeLists.txt) set the ISA of
// every contraction in the process.
#include "runtime/gemm.h"

#include <Eigen/Core>

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using MMap = Eigen::Map<RowMat>;

}  // namespace

extern "C" {

void kiln_gemm_f32(const float* a, int64_t ar, int64_t ac, int32_t ta, const float* b, int64_t br, int64_t bc,
                   int32_t tb, float* c, int32_t accumulate) {
  CMap A(a, ar, ac), B(b, br, bc);
  int64_t m = ta ? ac : ar, p = tb ? br : bc;
  MMap C(c, m, p);
  if (!accumulate) C.setZero();
  if (!ta && !tb) C.noalias() += A * B;
  else if (ta && !tb) C.noalias() += A.transpose() * B;
  else if (!ta && tb) C.noalias() += A * B.transpose();
  else C.noalias() += A.transpose() * B.transpose();
}

const char* kiln_gemm_isa() {
#if defined(__AVX2__) && defined(__FMA__)
  return "avx2+fma";
#else
  return "sse2";
#endif
}

}  // extern "C"
