// --device cpu|cuda: the device a `kiln` command computes on (train, eval, inspect, bench,
// run, generate, translate, compile). cpu is the default. cuda first asks the driver
// (runtime/cuda_driver.h) whether this machine has a GPU, so that a machine without one
// gets one line naming why; the CUDA backend itself is issue 11's work in progress, so on
// a machine with a GPU the command also stops, naming the devices it found.
#pragma once

#include <string>

#include "ir/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace kiln::cli {

void add_device_flag(CLI::App& command, std::string& device);

// Ok for "cpu"; for "cuda", the driver probe's error, or the backend's absence.
Status check_device(const std::string& device);

}  // namespace kiln::cli
