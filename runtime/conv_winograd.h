// Winograd F(2x2, 3x3) and F(2x2, 5x5) for the runtime convolution (conv_winograd.cpp,
// and conv_winograd_wgrad.cpp for the weight gradient): f32 3x3 convolutions with
// padding 1 and 5x5 with padding 2, stride 1, dilation 1 and one group, every kind, on
// the shapes where it measured faster than conv.cpp's paths. This header only has the
// switch tests and benchmarks use to compare the two; conv2d_f32 (conv.h) picks the path.
#pragma once

namespace kiln {

// kAuto: Winograd where it measured faster (the default); kOff: never (the old paths);
// kForce: on every shape it can run (tests). KILN_CONV_NO_WINOGRAD=1 in the environment
// starts the process in kOff, for comparing whole training steps.
enum class WinogradMode { kAuto, kOff, kForce };

void conv_set_winograd_mode(WinogradMode mode);
WinogradMode conv_winograd_mode();

}  // namespace kiln
