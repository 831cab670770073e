// CUDA renderer: kernel IR (codegen/kernel_ir.h) -> one CUDA C++ translation unit with
// one `KILN_GLOBAL` (extern "C" __global__) function per launch, written against the
// macro prelude of codegen/cuda/prelude.h so that the same text compiles with NVRTC and
// as host C++ for the emulator (codegen/cuda/emulate.h).
//
// Kernel ABI: every kernel takes one argument, `void* const* bufs`, the device array of
// buffer addresses indexed by kernel-IR buffer id (the same table the CPU entry function
// gets, runtime/abi.h); a kernel reads only the ids its launch lists. Grids and blocks
// are 1-D and every kernel is correct for any grid size (grid-stride loops) and, but for
// the GEMM's 256, any block size that is a multiple of 32. Index spaces under 2^32
// are decomposed with 32-bit division.
//
// How each kernel kind maps to threads:
//   elementwise LoopKernel  grid-stride loop over the flattened index space.
//   reducing LoopKernel     short reductions (<= kSerialReduction terms): one thread per
//                           output element; longer ones: one block per output element,
//                           strided partial sums, then a fixed-order shuffle + shared
//                           memory tree (kiln_block_reduce). Deterministic, no atomics.
//   RowKernel               one block per row; members in order with KILN_SYNC() between.
//                           Blocks of reductions and row kernels have as many threads as
//                           their row needs, rounded up to a power of two (>= one warp).
//   ScatterAddKernel        one thread per column of a row, walking the indices in order.
//   ContractionKernel       kiln's tiled GEMM (64x64 tiles, 16-deep, 256 threads with 4x4
//                           outputs each); convolutions as implicit GEMMs over the GEMM
//                           view of runtime/abi.h; the prologue computes x on the fly,
//                           the epilogue is applied by the thread that finishes an
//                           element. A GEMM's row epilogue is a second launch
//                           (<name>_rows) once every column is final. Contractions with
//                           few outputs and a long depth (weight gradients) instead run
//                           one block per output with a block reduction over the depth.
// Philox draws are indexed by the logical element (ir/philox.h), so masks equal the CPU's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/kernel_ir.h"
#include "ir/status.h"

namespace kiln::cudagen {

// One kernel launch, in schedule order.
struct CudaLaunch {
  std::string kernel;          // the __global__ function's name
  int64_t grid = 1;            // blocks
  int block = 256;             // threads per block (a multiple of 32)
  int dynamic_shared_bytes = 0;  // kiln's kernels use static shared memory only
  std::vector<int> buffers;    // buffer ids the kernel reads or writes (sorted)
  bool barriers = false;       // it calls KILN_SYNC() or warp shuffles
  int kernel_index = -1;       // the kir::Kernel it comes from
};

struct CudaProgram {
  std::string source;  // the kernels, without a prelude (see nvrtc_source)
  std::vector<CudaLaunch> launches;
};

struct CudaRenderOptions {
  std::string prefix = "kiln_";  // kernel names are <prefix>k<index>[_rows]
  int block = 256;               // threads per block of loop, row and scatter kernels
  // Threads per block of a contraction computed one block per output (long and narrow:
  // LeNet's weight gradients, 150 outputs of 200,704 terms each): few blocks, so wide ones.
  int dot_block = 1024;
  int64_t max_grid = 4096;       // cap on blocks (grid-stride loops cover the rest)
};

// Reductions of at most this many terms per output run one thread per output.
inline constexpr int64_t kSerialReduction = 32;

// Fails (naming the kernel) on kernel IR this backend does not support.
Expected<CudaProgram> render_cuda(const kir::KernelProgram& prog, const CudaRenderOptions& options = {});

// The NVRTC translation unit: the NVRTC and common preludes, then `sources` in order
// (several programs with distinct prefixes may share one compile).
std::string nvrtc_source(const std::vector<const CudaProgram*>& sources);

}  // namespace kiln::cudagen
