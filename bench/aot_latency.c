/* Latency of an ahead-of-time compiled model through the C API (bench/aot_latency.py
 * builds this against a bundle compiled with `kiln compile --emit bundle --name model`):
 * the seconds from main() to the first result (opening the linked-in model, binding its
 * weights, one run on zero inputs), then --repeat more runs; one JSON line.
 *   aot_latency [--repeat N] [--threads T] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  const double start = now();
  long repeat = 1000;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--repeat")) repeat = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
  }
  kiln_model* m;
  if (kiln_set_num_threads(threads) != KILN_OK || model_open(&m) != KILN_OK ||
      kiln_model_run(m) != KILN_OK) {
    fprintf(stderr, "aot_latency: %s\n", kiln_last_error());
    return 1;
  }
  const double first = now() - start;
  double* t = malloc(sizeof(double) * (size_t)(repeat > 0 ? repeat : 1));
  double sum = 0;
  for (long i = 0; i < repeat; ++i) {
    double t0 = now();
    kiln_model_run(m);
    t[i] = now() - t0;
    sum += t[i];
  }
  qsort(t, (size_t)repeat, sizeof(double), cmp);
  printf("{\"first_result_seconds\":%.6f,\"runs\":%ld,\"run_us_least\":%.3f,"
         "\"run_us_median\":%.3f,\"run_us_mean\":%.3f}\n",
         first, repeat, repeat ? t[0] * 1e6 : 0, repeat ? t[repeat / 2] * 1e6 : 0,
         repeat ? sum / repeat * 1e6 : 0);
  free(t);
  kiln_model_close(m);
  return 0;
}
