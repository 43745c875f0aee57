// Part of libkiln_aot_runtime.a (codegen/CMakeLists.txt), the runtime of
// ahead-of-time compiled models (codegen/aot.h): with the JIT's own
// rt_kernels.o and the shared gemm.o, this TU gives the one function
// rt_kernels.o needs from plan.cpp, whose object would drag in kiln_ir.
// Keep it equal to plan.cpp's conv_chunk_images: generated code sizes the
// conv scratch with plan.cpp's copy, the runtime fills it with this one
// (tests/tools: the cnn through --aot equals the JIT).
#include <algorithm>
#include <cstdint>

namespace kiln::codegen {

int64_t conv_chunk_images(int64_t per_image_floats, int64_t n_images);

int64_t conv_chunk_images(int64_t per_image_floats, int64_t n_images) {
  int64_t per = std::max<int64_t>(per_image_floats, 1);
  return std::clamp<int64_t>((int64_t{1} << 22) / per, 1, std::max<int64_t>(n_images, 1));
}

}  // namespace kiln::codegen
