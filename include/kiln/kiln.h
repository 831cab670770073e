// One include for kiln users: the DSL, passes, compiler and runtime.
#pragma once

#include "codegen/compile.h"
#include "ir/builder.h"
#include "frontend/blocks.h"
#include "frontend/conv_layers.h"
#include "frontend/losses.h"
#include "frontend/nn.h"
#include "frontend/norm_layers.h"
#include "frontend/ops.h"
#include "ir/graph.h"
#include "ir/interpreter.h"
#include "ir/printer.h"
#include "passes/autodiff.h"
#include "passes/simplify.h"
#include "passes/training.h"
#include "runtime/executable.h"
#include "runtime/train/trainer.h"
