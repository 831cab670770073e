/* kiln's C API: run ahead-of-time compiled models from C (C99 or later) or any language
 * with a C FFI, linking only libkiln_rt (no LLVM). See docs/aot.md and README.md.
 *
 *   kiln_model* m;
 *   if (kiln_model_open_library("mlp.so", "mlp", &m) != KILN_OK) {
 *     fprintf(stderr, "%s\n", kiln_last_error());
 *     return 1;
 *   }
 *   int x;
 *   kiln_model_input_index(m, "x", &x);
 *   kiln_model_set_input(m, x, pixels, sizeof pixels);
 *   kiln_model_run(m);
 *   const void* logits; size_t bytes;
 *   kiln_model_output_data(m, 0, &logits, &bytes);
 *   kiln_model_close(m);
 *
 * Every function returns a kiln_status; on failure kiln_last_error() gives a message
 * naming the problem (and the file). No C++ exception crosses this interface, and NULL
 * arguments are refused with KILN_INVALID_ARGUMENT. A model's inputs and outputs are
 * buffers it owns: fill inputs (kiln_model_set_input, or write through
 * kiln_model_input_data), run, read outputs. kiln_model_run calls on one model are
 * serialised; use one model per thread to run in parallel. Pointers returned by a model
 * (names, dims, data) stay valid until kiln_model_close. */
#ifndef KILN_C_API_H
#define KILN_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_status {
  KILN_OK = 0,
  KILN_INVALID_ARGUMENT = 1, /* NULL pointer, index out of range, wrong byte size */
  KILN_NOT_FOUND = 2,        /* no input, output, metadata key or library symbol of that name */
  KILN_IO = 3,               /* a file or library could not be read or opened */
  KILN_FORMAT = 4,           /* not a valid module (or model file), or weights that do not fit */
  KILN_ABI_MISMATCH = 5,     /* code generated for another kiln ABI version */
  KILN_CPU_UNSUPPORTED = 6,  /* this CPU lacks a feature the code needs */
  KILN_OUT_OF_MEMORY = 7,
  KILN_INTERNAL = 8,         /* a bug in kiln */
  KILN_SIGNATURE_MISMATCH = 9, /* the module's inputs/outputs are not the ones expected */
  KILN_DEVICE_ERROR = 10,      /* no CUDA driver or GPU, or a device call failed */
  KILN_DEVICE_UNSUPPORTED = 11 /* the GPU cannot run the module's CUDA code (its sm_XX) */
} kiln_status;

/* Element types (the values of ir/dtype.h's DType). */
typedef enum kiln_dtype {
  KILN_F32 = 0,
  KILN_F64 = 1,
  KILN_I32 = 2,
  KILN_I64 = 3,
  KILN_BOOL = 4 /* one byte, 0 or 1 */
} kiln_dtype;

typedef struct kiln_tensor_info {
  const char* name;
  kiln_dtype dtype;
  int rank;
  const int64_t* dims; /* rank entries, row-major */
  size_t bytes;        /* product of dims * element size */
} kiln_tensor_info;

typedef struct kiln_model kiln_model;

/* The message of the last failed call on this thread ("" if none). Valid until the next
 * failing call on this thread. */
const char* kiln_last_error(void);
/* The KILN_ABI_VERSION this runtime implements (modules record the one they need). */
int kiln_abi_version(void);
/* Threads the runtime's pool uses: n >= 1, or 0 for every available CPU. */
kiln_status kiln_set_num_threads(int n);

/* Opens a shared library compiled by `kiln compile --emit so --prefix PREFIX`: it exports
 * PREFIX_module, PREFIX_module_size and the entry function its manifest names. `path` is
 * a file path (a bare name means the current folder, not the library search path). The
 * model's state starts from the weights embedded in the module. */
kiln_status kiln_model_open_library(const char* path, const char* prefix, kiln_model** out);
/* Opens code linked into the program: its manifest bytes (copied) and entry function, as
 * the header `kiln compile --emit header` generates declares them. */
kiln_status kiln_model_open_linked(const void* manifest, size_t size, void (*entry)(void**),
                                   kiln_model** out);
/* Opens a CUDA module file written by `kiln compile --device cuda` on GPU `device` (0:
 * the first) through the CUDA driver (libcuda.so.1, or $KILN_CUDA_DRIVER), which loads
 * its cubin, or its PTX on a newer GPU; no CUDA toolkit is needed. Inputs and outputs
 * stay host buffers: kiln_model_run copies inputs up and outputs down. */
kiln_status kiln_model_open_cuda(const char* path, int device, kiln_model** out);
/* Replaces the model's weights with the parameters of a kiln model file (modules compiled
 * with `--weights external`). Every parameter the module uses must have a value. */
kiln_status kiln_model_load_weights(kiln_model* model, const char* model_file);
/* Frees the model; NULL is accepted. */
void kiln_model_close(kiln_model* model);

kiln_status kiln_model_num_inputs(const kiln_model* model, int* count);
kiln_status kiln_model_num_outputs(const kiln_model* model, int* count);
kiln_status kiln_model_input_info(const kiln_model* model, int index, kiln_tensor_info* info);
kiln_status kiln_model_output_info(const kiln_model* model, int index, kiln_tensor_info* info);
/* KILN_NOT_FOUND when the model has no input (output) of that name. */
kiln_status kiln_model_input_index(const kiln_model* model, const char* name, int* index);
kiln_status kiln_model_output_index(const kiln_model* model, const char* name, int* index);

/* Copies `bytes` bytes (exactly the input's size) into input `index`. */
kiln_status kiln_model_set_input(kiln_model* model, int index, const void* data, size_t bytes);
/* The input's own buffer (64-byte aligned), to fill in place. */
kiln_status kiln_model_input_data(kiln_model* model, int index, void** data);
kiln_status kiln_model_run(kiln_model* model);
/* The output's buffer and its size (`bytes` may be NULL); overwritten by the next run. */
kiln_status kiln_model_output_data(const kiln_model* model, int index, const void** data,
                                   size_t* bytes);

/* The model's inputs and outputs as one line, "x: f32[1,1,28,28] -> pred: f32[1,10]". */
kiln_status kiln_model_signature(const kiln_model* model, const char** signature);
/* KILN_SIGNATURE_MISMATCH, naming both, unless the model's signature is `expected` (what
 * a generated header's PREFIX_open checks, so an object and a header of different models
 * are refused instead of misread). */
kiln_status kiln_model_expect_signature(const kiln_model* model, const char* expected);

/* A metadata value of the module (preprocessing settings such as image size);
 * KILN_NOT_FOUND when the key is absent. */
kiln_status kiln_model_metadata(const kiln_model* model, const char* key, const char** value);

#ifdef __cplusplus
}
#endif

#endif /* KILN_C_API_H */
