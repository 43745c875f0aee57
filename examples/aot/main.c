/* Runs a model compiled by `kiln compile MODEL --aot -o libmodel.a --name model`.
 *
 *   aot_predict OUTDIR BATCH     deterministic inputs -> OUTDIR/x<i>.npy, predictions -> OUTDIR/y<j>.npy,
 *                                and the predictions printed
 *   aot_predict --compare A.npy B.npy   exit 0 iff two float32 .npy files hold the same numbers
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

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--compare") == 0) return compare(argv[2], argv[3]);
  if (argc != 3) {
    fprintf(stderr, "usage: %s OUTDIR BATCH | --compare A.npy B.npy\n", argv[0]);
    return 2;
  }
  const char* dir = argv[1];
  int64_t batch = atoll(argv[2]);
  int n_in = model_num_inputs(), n_out = model_num_outputs();
  const float* inputs[16];
  float* outputs[16];
  if (n_in > 16 || n_out > 16) return 2;
  char path[4096];
  int64_t dims[16];
  for (int i = 0; i < n_in; ++i) {
    int64_t n = model_input_elements(i, batch);
    float* x = malloc((size_t)n * sizeof(float) + 1);
    for (int64_t j = 0; j < n; ++j) x[j] = (float)sin(0.37 * (double)j + 1.3 * i) * 0.8f;
    inputs[i] = x;
    snprintf(path, sizeof path, "%s/x%d.npy", dir, i);
    if (model_input_shape(i, batch, dims) > 16 || !write_npy(path, x, model_input_shape(i, batch, dims), dims))
      return 1;
  }
  for (int j = 0; j < n_out; ++j) outputs[j] = malloc((size_t)model_output_elements(j, batch) * sizeof(float) + 1);

  void* arena = aligned_alloc(64, ((size_t)model_arena_bytes(batch) + 127) / 64 * 64);
  int rc = model_predict(inputs, outputs, batch, arena);
  if (rc != 0) {
    fprintf(stderr, "model_predict failed: %d\n", rc);
    return 1;
  }
  for (int j = 0; j < n_out; ++j) {
    int64_t n = model_output_elements(j, batch);
    printf("output %d:", j);
    for (int64_t k = 0; k < n; ++k) printf(" %.9g", (double)outputs[j][k]);
    printf("\n");
    snprintf(path, sizeof path, "%s/y%d.npy", dir, j);
    if (model_output_shape(j, batch, dims) > 16 ||
        !write_npy(path, outputs[j], model_output_shape(j, batch, dims), dims))
      return 1;
  }
  free(arena);
  for (int i = 0; i < n_in; ++i) free((void*)inputs[i]);
  for (int j = 0; j < n_out; ++j) free(outputs[j]);
  return 0;
}
