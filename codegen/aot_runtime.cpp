// libkiln_aot_runtime.a (codegen/CMakeLists.txt): what code compiled ahead of
// time (codegen/aot.h) calls besides libc/libm. With the JIT's own
// rt_kernels.o and the shared gemm.o, this TU gives
// - the kiln_aot_* functions behind every generated entry point (aot_abi.h):
//   the model state (weights and optimizer slots), scratch arenas, checks;
// - the one function rt_kernels.o needs from plan.cpp, whose object would
//   drag in kiln_ir. Keep conv_chunk_images equal to plan.cpp's: generated
//   code sizes the conv scratch with plan.cpp's copy, the runtime fills it
//   with this one (tests/tools: the cnn through --aot equals the JIT).
// No LLVM, no exceptions escape: C callers get status codes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "codegen/aot_abi.h"

namespace kiln::codegen {

int64_t conv_chunk_images(int64_t per_image_floats, int64_t n_images);

int64_t conv_chunk_images(int64_t per_image_floats, int64_t n_images) {
  int64_t per = std::max<int64_t>(per_image_floats, 1);
  return std::clamp<int64_t>((int64_t{1} << 22) / per, 1, std::max<int64_t>(n_images, 1));
}

}  // namespace kiln::codegen

namespace {

constexpr size_t kAlign = 64;

// Floats in tensor i of `kind` for `batch` (batch dims count N * k); -1 for no such tensor.
int64_t elements(const kiln_aot_model* m, int32_t kind, int32_t i, int64_t batch) {
  if (kind < 0 || kind >= KILN_AOT_KINDS || i < 0 || i >= m->counts[kind]) return -1;
  const kiln_aot_tensor& t = m->tensors[kind][i];
  int64_t n = 1;
  for (int64_t d = 0; d < t.rank; ++d) n *= t.dims[d] < 0 ? -t.dims[d] * batch : t.dims[d];
  return n;
}

// 64-aligned memory for `bytes` (at least 64), or null.
void* aligned(size_t bytes) { return std::aligned_alloc(kAlign, (std::max(bytes, kAlign) + kAlign - 1) / kAlign * kAlign); }

// Runs graph `fn` with scratch fixed + per_n * batch bytes in `arena` (null: allocated here).
int32_t run_graph(kiln_aot_graph_fn fn, int64_t fixed, int64_t per_n, void* const* params, void* const* results,
                  int64_t batch, void* arena) {
  void* owned = nullptr;
  if (!arena) arena = owned = aligned(static_cast<size_t>(fixed + per_n * batch));
  if (!arena) return KILN_AOT_NO_MEMORY;
  int32_t err = 0;
  fn(params, results, batch, arena, static_cast<unsigned char*>(arena) + fixed, &err);
  std::free(owned);
  return err ? KILN_AOT_DIV_BY_ZERO : KILN_AOT_OK;
}

// Copies every weight and optimizer slot from the `from` buffers to the `to` buffers.
void copy_state(const kiln_aot_model* m, const std::vector<float*>& to_weights, const std::vector<float*>& from_weights,
                const std::vector<float*>& to_slots, const std::vector<float*>& from_slots) {
  for (int32_t kind : {KILN_AOT_WEIGHTS, KILN_AOT_SLOTS}) {
    const auto& to = kind == KILN_AOT_WEIGHTS ? to_weights : to_slots;
    const auto& from = kind == KILN_AOT_WEIGHTS ? from_weights : from_slots;
    for (size_t i = 0; i < to.size(); ++i)
      std::memcpy(to[i], from[i], static_cast<size_t>(elements(m, kind, static_cast<int32_t>(i), 1)) * sizeof(float));
  }
}

}  // namespace

// Weights and optimizer slots (current values, stable addresses), the train
// step's result buffers, and one scratch arena grown on demand.
struct kiln_aot_state {
  const kiln_aot_model* m = nullptr;
  std::vector<float*> weights, slots, next_weights, next_slots;
  void* arena = nullptr;
  size_t arena_size = 0;

  ~kiln_aot_state() {
    for (auto* list : {&weights, &slots, &next_weights, &next_slots})
      for (float* p : *list) std::free(p);
    std::free(arena);
  }
  // The arena for `bytes`, grown if needed; null when out of memory.
  void* reserve(int64_t bytes) {
    if (static_cast<size_t>(bytes) > arena_size) {
      std::free(arena);
      arena_size = 0;
      arena = aligned(static_cast<size_t>(bytes));
      if (!arena) return nullptr;
      arena_size = static_cast<size_t>(bytes);
    }
    return arena ? arena : (arena = aligned(kAlign));
  }
};

extern "C" {

int64_t kiln_aot_count(const kiln_aot_model* m, int32_t kind) {
  return kind >= 0 && kind < KILN_AOT_KINDS ? m->counts[kind] : -1;
}

const char* kiln_aot_name(const kiln_aot_model* m, int32_t kind, int32_t i) {
  return elements(m, kind, i, 1) < 0 ? nullptr : m->tensors[kind][i].name;
}

int64_t kiln_aot_elements(const kiln_aot_model* m, int32_t kind, int32_t i, int64_t batch) {
  return elements(m, kind, i, batch);
}

int32_t kiln_aot_shape(const kiln_aot_model* m, int32_t kind, int32_t i, int64_t batch, int64_t* dims) {
  if (elements(m, kind, i, batch) < 0) return -1;
  const kiln_aot_tensor& t = m->tensors[kind][i];
  for (int64_t d = 0; d < t.rank; ++d) dims[d] = t.dims[d] < 0 ? -t.dims[d] * batch : t.dims[d];
  return static_cast<int32_t>(t.rank);
}

int64_t kiln_aot_arena_bytes(const kiln_aot_model* m, int64_t batch) {
  return m->predict_fixed_bytes + m->predict_batch_bytes * batch;
}

double kiln_aot_learning_rate(const kiln_aot_model* m) { return m->learning_rate; }

int32_t kiln_aot_predict_embedded(const kiln_aot_model* m, const float* const* inputs, float* const* outputs,
                                  int64_t batch, void* arena) {
  if (batch < 0) return KILN_AOT_BAD_BATCH;
  if (!inputs || !outputs) return KILN_AOT_BAD_ARG;
  std::vector<void*> params;
  for (int64_t i = 0; i < m->counts[KILN_AOT_INPUTS]; ++i) params.push_back(const_cast<float*>(inputs[i]));
  for (int64_t w = 0; w < m->counts[KILN_AOT_WEIGHTS]; ++w)
    params.push_back(const_cast<unsigned char*>(m->initial + m->initial_offsets[w]));
  return run_graph(m->predict, m->predict_fixed_bytes, m->predict_batch_bytes, params.data(),
                   reinterpret_cast<void* const*>(outputs), batch, arena);
}

kiln_aot_state* kiln_aot_create(const kiln_aot_model* m) {
  auto* s = new (std::nothrow) kiln_aot_state;
  if (!s) return nullptr;
  s->m = m;
  const int64_t nw = m->counts[KILN_AOT_WEIGHTS];
  for (int32_t kind : {KILN_AOT_WEIGHTS, KILN_AOT_SLOTS}) {
    for (int32_t i = 0; i < m->counts[kind]; ++i) {
      size_t bytes = static_cast<size_t>(elements(m, kind, i, 1)) * sizeof(float);
      auto* cur = static_cast<float*>(aligned(bytes));
      auto* next = static_cast<float*>(aligned(bytes));
      auto& list = kind == KILN_AOT_WEIGHTS ? s->weights : s->slots;
      auto& next_list = kind == KILN_AOT_WEIGHTS ? s->next_weights : s->next_slots;
      list.push_back(cur);
      next_list.push_back(next);
      if (!cur || !next) {
        delete s;
        return nullptr;
      }
      std::memcpy(cur, m->initial + m->initial_offsets[(kind == KILN_AOT_SLOTS ? nw : 0) + i], bytes);
    }
  }
  return s;
}

void kiln_aot_destroy(kiln_aot_state* s) { delete s; }

int32_t kiln_aot_predict(kiln_aot_state* s, const float* const* inputs, float* const* outputs, int64_t batch) {
  if (!s || !inputs || !outputs) return KILN_AOT_BAD_ARG;
  if (batch < 0) return KILN_AOT_BAD_BATCH;
  const kiln_aot_model* m = s->m;
  std::vector<void*> params;
  for (int64_t i = 0; i < m->counts[KILN_AOT_INPUTS]; ++i) params.push_back(const_cast<float*>(inputs[i]));
  params.insert(params.end(), s->weights.begin(), s->weights.end());
  void* arena = s->reserve(m->predict_fixed_bytes + m->predict_batch_bytes * batch);
  if (!arena) return KILN_AOT_NO_MEMORY;
  return run_graph(m->predict, m->predict_fixed_bytes, m->predict_batch_bytes, params.data(),
                   reinterpret_cast<void* const*>(outputs), batch, arena);
}

// One optimizer step: the graph writes new weights and slots into the `next`
// buffers, which are then copied over the current ones so the addresses
// kiln_aot_tensor_data gave stay valid. The `next` buffers start as copies of
// the current ones: the graph updates some in place (codegen/plan.h,
// GraphPlan::updates), and a failed step leaves the current ones untouched.
int32_t kiln_aot_train_step(kiln_aot_state* s, const float* const* inputs, const float* const* targets,
                            int64_t batch, float learning_rate, float* logs) {
  if (!s || !inputs || !targets) return KILN_AOT_BAD_ARG;
  const kiln_aot_model* m = s->m;
  if (!m->train) return KILN_AOT_NO_TRAIN;
  if (batch < 0) return KILN_AOT_BAD_BATCH;
  std::vector<void*> params, results;
  for (int64_t i = 0; i < m->counts[KILN_AOT_INPUTS]; ++i) params.push_back(const_cast<float*>(inputs[i]));
  for (int64_t i = 0; i < m->counts[KILN_AOT_TARGETS]; ++i) params.push_back(const_cast<float*>(targets[i]));
  params.insert(params.end(), s->weights.begin(), s->weights.end());
  params.insert(params.end(), s->slots.begin(), s->slots.end());
  params.push_back(&learning_rate);
  std::vector<float> log_values(static_cast<size_t>(m->counts[KILN_AOT_LOGS]));
  for (float& v : log_values) results.push_back(&v);
  results.insert(results.end(), s->next_weights.begin(), s->next_weights.end());
  results.insert(results.end(), s->next_slots.begin(), s->next_slots.end());
  void* arena = s->reserve(m->train_fixed_bytes + m->train_batch_bytes * batch);
  if (!arena) return KILN_AOT_NO_MEMORY;
  copy_state(m, s->next_weights, s->weights, s->next_slots, s->slots);
  int32_t rc = run_graph(m->train, m->train_fixed_bytes, m->train_batch_bytes, params.data(), results.data(), batch,
                         arena);
  if (rc != KILN_AOT_OK) return rc;
  copy_state(m, s->weights, s->next_weights, s->slots, s->next_slots);
  if (logs) std::copy(log_values.begin(), log_values.end(), logs);
  return KILN_AOT_OK;
}

float* kiln_aot_tensor_data(kiln_aot_state* s, int32_t kind, int32_t i) {
  if (!s || (kind != KILN_AOT_WEIGHTS && kind != KILN_AOT_SLOTS) || i < 0 || i >= s->m->counts[kind]) return nullptr;
  return (kind == KILN_AOT_WEIGHTS ? s->weights : s->slots)[static_cast<size_t>(i)];
}

}  // extern "C"
