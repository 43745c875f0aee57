/* Runs and trains a model compiled by `kiln compile MODEL --aot -o libmodel.a --name model`
 * (or model.export_aot(dir)), through the C API in the generated model.h. No LLVM, no Kiln library.
 *
 *   aot_model OUTDIR BATCH       deterministic inputs -> OUTDIR/x<i>.npy, predictions with the
 *                                embedded weights -> OUTDIR/y<j>.npy, and the predictions printed
 *   aot_model --train OUTDIR BATCH STEPS
 *                                deterministic inputs and targets -> OUTDIR/x<i>.npy, t<i>.npy; STEPS
 *                                model_train_step calls on that batch (logs printed and in logs.npy,
 *                                [STEPS, logs]); then the weights -> w<i>.npy, the optimizer slots ->
 *                                s<i>.npy, and predictions with the trained state -> p<j>.npy
 *   aot_model --compare A.npy B.npy   exit 0 iff two float32 .npy files hold the same numbers
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int write_npy(const char* path, const float* data, int rank, const int64_t* dims) {
  char shape[512] = "", header[640];
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) {
    size_t used = strlen(shape);
    snprintf(shape + used, sizeof shape - used, "%lld,%s", (long long)dims[d], d + 1 < rank ? " " : "");
    n *= dims[d];
  }
  if (rank > 1) shape[strlen(shape) - 1] = 0; /* (a, b) but (a,) */
  int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  FILE* f = fopen(path, "wb");
  if (!f) return 0;
  unsigned short hl = (unsigned short)(len + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc(hl & 0xff, f);
  fputc(hl >> 8, f);
  fwrite(header, 1, (size_t)len, f);
  for (int i = 0; i < pad; ++i) fputc(' ', f);
  fputc('\n', f);
  int ok = fwrite(data, sizeof(float), (size_t)n, f) == (size_t)n;
  return fclose(f) == 0 && ok;
}

/* The float32 payload of a little-endian .npy file (any shape), or NULL. */
static float* read_npy(const char* path, long* count) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char pre[10];
  float* data = NULL;
  if (fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1) {
    long hl = pre[8] | (pre[9] << 8);
    char* header = malloc((size_t)hl + 1);
    if (header && fread(header, 1, (size_t)hl, f) == (size_t)hl) {
      header[hl] = 0;
      if (strstr(header, "'<f4'")) {
        long start = ftell(f);
        fseek(f, 0, SEEK_END);
        *count = (ftell(f) - start) / 4;
        fseek(f, start, SEEK_SET);
        data = malloc((size_t)*count * 4 + 4);
        if (data && fread(data, 4, (size_t)*count, f) != (size_t)*count) {
          free(data);
          data = NULL;
        }
      }
    }
    free(header);
  }
  fclose(f);
  return data;
}

static int compare(const char* a_path, const char* b_path) {
  long na = 0, nb = 0;
  float* a = read_npy(a_path, &na);
  float* b = read_npy(b_path, &nb);
  if (!a || !b || na != nb) {
    fprintf(stderr, "cannot compare %s (%ld floats) and %s (%ld floats)\n", a_path, na, b_path, nb);
    return 1;
  }
  long differ = 0;
  double max_diff = 0;
  for (long i = 0; i < na; ++i) {
    if (memcmp(&a[i], &b[i], 4) != 0) ++differ;
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > max_diff) max_diff = d;
  }
  printf("%s vs %s: %ld floats, %ld differ, max |diff| %g\n", a_path, b_path, na, differ, max_diff);
  free(a);
  free(b);
  return differ != 0;
}

/* OUTDIR/<stem><i>.npy with `data` of dims `dims` (rank <= 16). */
static int save(const char* dir, const char* stem, int i, const float* data, int rank, const int64_t* dims) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s%d.npy", dir, stem, i);
  if (rank < 0 || rank > 16 || !write_npy(path, data, rank, dims)) {
    fprintf(stderr, "cannot write %s\n", path);
    return 0;
  }
  return 1;
}

/* Deterministic inputs (and targets: 0/1, valid class ids and binary labels), saved as x<i>.npy (t<i>.npy). */
static int make_data(const char* dir, int64_t batch, float** xs, float** ts, int with_targets) {
  int64_t dims[16];
  for (int i = 0; i < model_num_inputs(); ++i) {
    int64_t n = model_input_elements(i, batch);
    xs[i] = malloc((size_t)n * sizeof(float) + 1);
    for (int64_t j = 0; j < n; ++j) xs[i][j] = (float)sin(0.37 * (double)j + 1.3 * i) * 0.8f;
    if (!save(dir, "x", i, xs[i], model_input_shape(i, batch, dims), dims)) return 0;
  }
  for (int i = 0; with_targets && i < model_num_targets(); ++i) {
    int64_t n = model_target_elements(i, batch);
    ts[i] = malloc((size_t)n * sizeof(float) + 1);
    for (int64_t j = 0; j < n; ++j) ts[i][j] = (float)((j * 7 + i) % 3 == 0);
    if (!save(dir, "t", i, ts[i], model_target_shape(i, batch, dims), dims)) return 0;
  }
  return 1;
}

/* Prints and saves outputs as <stem><j>.npy. */
static int save_outputs(const char* dir, const char* stem, float** outputs, int64_t batch) {
  int64_t dims[16];
  for (int j = 0; j < model_num_outputs(); ++j) {
    int64_t n = model_output_elements(j, batch);
    printf("output %d:", j);
    for (int64_t k = 0; k < n; ++k) printf(" %.9g", (double)outputs[j][k]);
    printf("\n");
    if (!save(dir, stem, j, outputs[j], model_output_shape(j, batch, dims), dims)) return 0;
  }
  return 1;
}

/* Stateless predict with the embedded weights and a caller-owned arena. */
static int predict(const char* dir, int64_t batch) {
  float *xs[16], *outputs[16];
  if (!make_data(dir, batch, xs, NULL, 0)) return 1;
  for (int j = 0; j < model_num_outputs(); ++j)
    outputs[j] = malloc((size_t)model_output_elements(j, batch) * sizeof(float) + 1);
  void* arena = aligned_alloc(64, ((size_t)model_arena_bytes(batch) + 127) / 64 * 64);
  int rc = model_predict((const float* const*)xs, outputs, batch, arena);
  if (rc != 0) {
    fprintf(stderr, "model_predict failed: %d\n", rc);
    return 1;
  }
  if (!save_outputs(dir, "y", outputs, batch)) return 1;
  free(arena);
  for (int i = 0; i < model_num_inputs(); ++i) free(xs[i]);
  for (int j = 0; j < model_num_outputs(); ++j) free(outputs[j]);
  return 0;
}

/* `steps` train steps on one batch through a model_state, then its weights, slots and predictions. */
static int train(const char* dir, int64_t batch, int steps) {
  if (!MODEL_HAS_TRAIN_STEP) {
    fprintf(stderr, "the library has no train step (export a compiled model)\n");
    return 1;
  }
  float *xs[16], *ts[16], *outputs[16];
  if (!make_data(dir, batch, xs, ts, 1)) return 1;
  model_state* state = model_create();
  if (!state) return 1;
  int n_logs = model_num_logs();
  float* logs = malloc(sizeof(float) * (size_t)(n_logs * steps + 1));
  for (int s = 0; s < steps; ++s) {
    int rc = model_train_step(state, (const float* const*)xs, (const float* const*)ts, batch,
                              (float)model_learning_rate(), logs + s * n_logs);
    if (rc != 0) {
      fprintf(stderr, "model_train_step failed: %d\n", rc);
      return 1;
    }
    printf("step %d:", s + 1);
    for (int l = 0; l < n_logs; ++l) printf(" %s %.9g", model_log_name(l), (double)logs[s * n_logs + l]);
    printf("\n");
  }
  int64_t log_dims[2] = {steps, n_logs};
  if (!save(dir, "logs", 0, logs, 2, log_dims)) return 1;
  for (int w = 0; w < model_num_weights(); ++w) {
    int64_t n = model_weight_elements(w);
    if (!save(dir, "w", w, model_weight(state, w), 1, &n)) return 1;
  }
  for (int s = 0; s < model_num_slots(); ++s) {
    int64_t n = model_slot_elements(s);
    if (!save(dir, "s", s, model_slot(state, s), 1, &n)) return 1;
  }
  for (int j = 0; j < model_num_outputs(); ++j)
    outputs[j] = malloc((size_t)model_output_elements(j, batch) * sizeof(float) + 1);
  int rc = model_state_predict(state, (const float* const*)xs, outputs, batch);
  if (rc != 0 || !save_outputs(dir, "p", outputs, batch)) return 1;
  model_destroy(state);
  free(logs);
  for (int i = 0; i < model_num_inputs(); ++i) free(xs[i]);
  for (int i = 0; i < model_num_targets(); ++i) free(ts[i]);
  for (int j = 0; j < model_num_outputs(); ++j) free(outputs[j]);
  return 0;
}

int main(int argc, char** argv) {
  if (model_num_inputs() > 16 || model_num_outputs() > 16 || model_num_targets() > 16) return 2;
  if (argc == 4 && strcmp(argv[1], "--compare") == 0) return compare(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "--train") == 0) return train(argv[2], atoll(argv[3]), atoi(argv[4]));
  if (argc == 3) return predict(argv[1], atoll(argv[2]));
  fprintf(stderr, "usage: %s OUTDIR BATCH | --train OUTDIR BATCH STEPS | --compare A.npy B.npy\n", argv[0]);
  return 2;
}
