/* A C99 program using kiln's C API through libkiln_rt.so: opens the test fixture library
 * (tests/aot_fixture/make_fixture.cpp) by path and prefix, queries its signature, runs
 * it and checks the outputs, the metadata and a refusal. Exit status 0 when all is well.
 * usage: kiln_c_api_smoke PATH/TO/fixture.so */
#include <stdio.h>
#include <string.h>

#include "kiln/c_api.h"

#define EXPECT(cond)                                                                 \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "c_api_smoke: %s failed (line %d); last error: %s\n", #cond,  \
              __LINE__, kiln_last_error());                                          \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

int main(int argc, char** argv) {
  kiln_model* m = NULL;
  kiln_tensor_info info;
  int index = -1, i;
  const float x[4] = {1.0f, 1.0f, 2.0f, -1.0f};
  const float expect[4] = {11.0f, 22.0f, 36.0f, 36.0f}; /* x * {1,2,3,4} + {10,20,30,40} */
  const void* out = NULL;
  size_t bytes = 0;
  const char* value = NULL;

  EXPECT(argc == 2);
  EXPECT(kiln_model_open_library(argv[1], "wrong_prefix", &m) == KILN_NOT_FOUND);
  EXPECT(m == NULL && strstr(kiln_last_error(), "wrong_prefix_module") != NULL);
  EXPECT(kiln_model_open_library(argv[1], "fixture", &m) == KILN_OK);
  EXPECT(kiln_set_num_threads(2) == KILN_OK);

  EXPECT(kiln_model_input_index(m, "x", &index) == KILN_OK && index == 0);
  EXPECT(kiln_model_input_info(m, index, &info) == KILN_OK);
  EXPECT(strcmp(info.name, "x") == 0 && info.dtype == KILN_F32 && info.rank == 1);
  EXPECT(info.dims[0] == 4 && info.bytes == sizeof x);
  EXPECT(kiln_model_set_input(m, index, x, sizeof x) == KILN_OK);
  EXPECT(kiln_model_run(m) == KILN_OK);
  EXPECT(kiln_model_output_data(m, 0, &out, &bytes) == KILN_OK && bytes == sizeof expect);
  for (i = 0; i < 4; ++i) EXPECT(((const float*)out)[i] == expect[i]);
  EXPECT(kiln_model_metadata(m, "image_size", &value) == KILN_OK && strcmp(value, "2x2") == 0);
  EXPECT(kiln_model_set_input(m, index, x, 3) == KILN_INVALID_ARGUMENT);
  kiln_model_close(m);
  printf("c_api_smoke: ok (kiln ABI version %d)\n", kiln_abi_version());
  return 0;
}
