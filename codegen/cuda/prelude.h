// The macro preludes CUDA kernels are written against (DESIGN.md convention 15). Kernel
// source from codegen/cuda/renderer.h uses only these names, so the SAME text compiles
// with NVRTC (nvrtc_prelude: the names are CUDA's built-ins) and as host C++ for the
// emulator (codegen/cuda/emulate.h, emulation_prelude: blocks in a loop, threads as
// fibers that switch at KILN_SYNC()).
//
// Each platform prelude defines:
//   KILN_GLOBAL          a kernel: `KILN_GLOBAL void name(void* const* bufs)`
//   KILN_BOUNDS(n)       after `KILN_GLOBAL void`: the kernel launches with at most n
//                        threads per block (__launch_bounds__; nothing in the emulator)
//   KILN_DEVICE          a helper function callable from kernels (inlined)
//   KILN_SHARED          a per-block shared array declared inside a kernel
//   KILN_SYNC()          block barrier (__syncthreads)
//   KILN_AT(p, n, i)     element i of buffer pointer p of n elements, as an lvalue (the
//                        emulator checks 0 <= i < n; on a GPU it is p[i])
//   KILN_SHFL_DOWN(v, o) warp shuffle down by o lanes over the full warp
//   KILN_TID, KILN_BID, KILN_NTID, KILN_NBID   thread/block index and dims (1-D, int64)
//   kiln_f32_from_bits(u), kiln_f64_from_bits(u)   bit casts (for inf/nan constants)
//   the fixed-width integer types (int32_t, int64_t, uint32_t, uint64_t, uint8_t)
// and the C math functions (expf, exp, logf, ..., powf, pow) under their C names.
// common_prelude() then adds what both share: kiln's exact semantics of the kernel IR
// operations (NaN-propagating max/min, saturating float->int casts, wrapping i32
// arithmetic, integer division that never traps), the block reduction, and Philox
// bit-exact with ir/philox.h.
#pragma once

#include <string>

namespace kiln::cudagen {

// CUDA's built-ins under the prelude's names (for NVRTC; no #include needed).
const char* nvrtc_prelude();
// Shared by both platforms; must follow a platform prelude.
const char* common_prelude();

}  // namespace kiln::cudagen
