// Bilinear image resizing with the values of PyTorch's
//   torch.nn.functional.interpolate(x, size=(out_h, out_w), mode="bilinear",
//                                   align_corners=False, antialias=False)
// on a float32 tensor x of [N, 1, H, W] (or [N, H, W]).
//
// Why interpolate and not d2l's transforms.Resize: d2l resizes PIL images (uint8) before
// ToTensor, with PIL's triangle filter, which widens (antialiases) when shrinking and
// rounds to uint8. kiln holds Fashion-MNIST as floats and resizes the float tensor once,
// at load, as interpolate does: no uint8 rounding, no antialiasing. For the zoo's
// upscaling (28 -> 224, 96, 64) both sample the same points (half-pixel centres, edges
// clamped), so the two differ only by PIL's rounding to uint8.
//
// Per axis, as PyTorch's area_pixel_compute_source_index / compute_source_index_and_lambda:
//   scale = float(in) / float(out)
//   src   = max(scale * (dst + 0.5) - 0.5, 0)         (in double)
//   i0 = floor(src), i1 = min(i0 + 1, in - 1), l1 = float(src - i0), l0 = 1 - l1
// and in == out copies. An output is the four pixels times float(lh * lw), summed in
// double and rounded once: bit for bit what PyTorch 1.13's CPU kernel gives for
// one-channel images (they take its channels-last path; its NCHW path for several
// channels rounds through FMAs and may differ in the last bit).
#pragma once

#include <cstdint>

namespace kiln {

// Resizes `planes` row-major h x w images at src into out_h x out_w images at dst
// (planes * out_h * out_w floats; src and dst must not overlap). Every size must be at
// least 1. Planes are spread over the runtime's thread pool.
void resize_bilinear(const float* src, int64_t planes, int64_t h, int64_t w, float* dst,
                     int64_t out_h, int64_t out_w);

}  // namespace kiln
