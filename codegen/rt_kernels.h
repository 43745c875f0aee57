// Runtime kernels that generated code calls (plain C ABI, no IR, no LLVM):
// GEMM, conv2d and its adjoints, integer pow. They mirror
// runtime/kernels_contract.cpp operation for operation (same chunking) and
// call the same compiled GEMM and conv kernels (runtime/gemm.h), so the JIT
// matches the interpreter bit for bit.
#pragma once

#include <cstdint>

extern "C" {

// Each contraction ends with its epilogue (codegen/epilogue.h): bias per
// column (or null), activation (KILN_ACT_*), relu's backward mask laid out as
// the result (or null), as runtime/gemm.h's KilnEpilogue.

// c[i] = op(a[i]) * op(b[i]) for i < batch; a[i] is stored [ar, ac] row-major
// at a + i*ar*ac, b[i] [br, bc] at b + i*br*bc, c[i] (and mask[i]) at c + i*m*p.
void kiln_rt_matmul(const float* a, const float* b, float* c, int64_t batch, int64_t ar, int64_t ac, int32_t ta,
                    int64_t br, int64_t bc, int32_t tb, const float* bias, const float* mask, int32_t act);

// geom: H, W, C, KH, KW, O, OH, OW, sh, sw, pt, pl, dh, dw; n images;
// the input gradient's scratch holds conv_chunk_images(OH*OW*KH*KW*C, n)
// patch rows per image when kiln_conv2d_uses_cols (runtime/gemm.h), else it may be null.
void kiln_rt_conv2d(const float* x, const float* w, float* y, const int64_t* geom, int64_t n, const float* bias,
                    const float* mask, int32_t act);
// conv2d then max_pool2d of its result (pool: KH, KW, sh, sw, pt, pl, PH, PW), y [n, PH, PW, O],
// and max_pool2d_winners' winners (u8, as y) when winners is not null.
void kiln_rt_conv2d_max_pool(const float* x, const float* w, float* y, uint8_t* winners, const int64_t* geom,
                             const int64_t* pool, int64_t n, const float* bias, const float* mask, int32_t act);
void kiln_rt_conv2d_input_grad(const float* dy, const float* w, float* dx, const int64_t* geom, int64_t n,
                               float* scratch, const float* bias, const float* mask, int32_t act);
// accumulate != 0: dw += the filter gradient of these n images (chunked runs).
void kiln_rt_conv2d_filter_grad(const float* x, const float* dy, float* dw, const int64_t* geom, int64_t n,
                                int32_t accumulate);

int32_t kiln_rt_ipow_i32(int32_t base, int32_t e);

// fn(ctx, lo, hi) over ranges covering [0, count): split over the thread
// pool when count * bytes_per_item is large enough to pay for the hand-off.
void kiln_rt_parallel_for(void (*fn)(void* ctx, int64_t lo, int64_t hi), void* ctx, int64_t count,
                          int64_t bytes_per_item);
}

namespace kiln::codegen {
// kiln_rt_parallel_for splits when count * bytes_per_item reaches this; below
// it a hand-off costs more than it saves.
constexpr int64_t kRtParallelBytes = int64_t{1} << 19;

// name -> address of every kernel above, for the JIT's symbol table.
struct RtSymbol {
  const char* name;
  void* addr;
};
const RtSymbol* rt_symbols(int* count);
}  // namespace kiln::codegen
