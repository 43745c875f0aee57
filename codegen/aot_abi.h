/* The contract between code compiled ahead of time (codegen/aot.cpp) and its
 * runtime (codegen/aot_runtime.cpp, in libkiln_aot_runtime.a): C, no LLVM.
 *
 * An AOT library exports one constant `struct kiln_aot_model <prefix>_model`
 * describing the model (tensors, the embedded weights and optimizer state,
 * the compiled graph functions), and one-line C entry points
 * (<prefix>_predict, <prefix>_train_step, ...: see the generated header) that
 * call the kiln_aot_* functions below with it. All logic (state, arena,
 * argument checks) lives once, in aot_runtime.cpp.
 *
 * aot.cpp emits the descriptor as an LLVM constant with exactly these fields
 * in this order; every field is 8 bytes, so the C layout has no padding
 * (aot.cpp checks sizeof). Change both together. */
#ifndef KILN_CODEGEN_AOT_ABI_H
#define KILN_CODEGEN_AOT_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A graph function as codegen::lower_graph emits it. */
typedef void (*kiln_aot_graph_fn)(void* const* params, void* const* results, int64_t batch, void* fixed_arena,
                                  void* batch_arena, int32_t* err);

/* One float32 tensor: dims[d] >= 0, or -k for a batch dimension of N * k. */
struct kiln_aot_tensor {
  const char* name;
  int64_t rank;
  const int64_t* dims;
};

/* The tensor lists of a model, indexed by enum kiln_aot_kind. */
enum kiln_aot_kind {
  KILN_AOT_INPUTS = 0,
  KILN_AOT_TARGETS,
  KILN_AOT_OUTPUTS,
  KILN_AOT_LOGS,    /* scalars: "loss", ... */
  KILN_AOT_WEIGHTS, /* get_weights() order */
  KILN_AOT_SLOTS,   /* optimizer state: the step counter, then each weight's slots */
  KILN_AOT_KINDS
};

struct kiln_aot_model {
  int64_t counts[KILN_AOT_KINDS];
  const struct kiln_aot_tensor* tensors[KILN_AOT_KINDS];
  /* Initial values of weights then slots, float32, tensor i at initial + initial_offsets[i] (64-aligned). */
  const unsigned char* initial;
  const int64_t* initial_offsets;
  /* predict(inputs..., weights...) -> outputs; scratch fixed + batch * N bytes. */
  kiln_aot_graph_fn predict;
  int64_t predict_fixed_bytes, predict_batch_bytes;
  /* train_step(inputs..., targets..., weights..., slots..., lr) -> (logs..., weights..., slots...); NULL: none. */
  kiln_aot_graph_fn train;
  int64_t train_fixed_bytes, train_batch_bytes;
  double learning_rate; /* the model's when it was exported */
};

/* Return codes of the entry points. */
enum kiln_aot_status {
  KILN_AOT_OK = 0,
  KILN_AOT_DIV_BY_ZERO = 1, /* integer division by zero inside the graph */
  KILN_AOT_NO_MEMORY = 2,
  KILN_AOT_BAD_BATCH = 3, /* batch < 0 */
  KILN_AOT_NO_TRAIN = 4,  /* the library was exported without a train step */
  KILN_AOT_BAD_ARG = 5    /* a NULL state or buffer list */
};

struct kiln_aot_state;

int64_t kiln_aot_count(const struct kiln_aot_model* m, int32_t kind);
const char* kiln_aot_name(const struct kiln_aot_model* m, int32_t kind, int32_t i);
int64_t kiln_aot_elements(const struct kiln_aot_model* m, int32_t kind, int32_t i, int64_t batch);
int32_t kiln_aot_shape(const struct kiln_aot_model* m, int32_t kind, int32_t i, int64_t batch, int64_t* dims);
int64_t kiln_aot_arena_bytes(const struct kiln_aot_model* m, int64_t batch);
double kiln_aot_learning_rate(const struct kiln_aot_model* m);
int32_t kiln_aot_predict_embedded(const struct kiln_aot_model* m, const float* const* inputs, float* const* outputs,
                                  int64_t batch, void* arena);

struct kiln_aot_state* kiln_aot_create(const struct kiln_aot_model* m);
void kiln_aot_destroy(struct kiln_aot_state* s);
int32_t kiln_aot_predict(struct kiln_aot_state* s, const float* const* inputs, float* const* outputs, int64_t batch);
int32_t kiln_aot_train_step(struct kiln_aot_state* s, const float* const* inputs, const float* const* targets,
                            int64_t batch, float learning_rate, float* logs);
float* kiln_aot_tensor_data(struct kiln_aot_state* s, int32_t kind, int32_t i);

#ifdef __cplusplus
}
#endif

#endif
