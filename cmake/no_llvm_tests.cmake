# The test sources a -DKILN_LLVM=OFF build leaves out (paths under tests/): they include
# LLVM's headers or compile graphs for the CPU (compile(), the JIT op harness
# tests/codegen/harness.h, `kiln train` on the CPU, ahead-of-time objects), which that
# build refuses (codegen/no_llvm.cpp). A file with some interpreter-only cases goes too:
# those run in the LLVM build. Every other test builds and must pass without LLVM;
# tests/codegen/no_llvm_test.cpp and tests/no_llvm_cli_test.sh check the refusals.
set(KILN_TESTS_NEED_LLVM
  # codegen: all but kernel_ir_test, xxh64_test and no_llvm_test use the JIT
  codegen/aot_test.cpp
  codegen/compile_cache_test.cpp
  codegen/concat_blocks_test.cpp
  codegen/concat_in_place_test.cpp
  codegen/conv_parity_test.cpp
  codegen/math_test.cpp
  codegen/mlp_step_test.cpp
  codegen/one_hot_gather_test.cpp
  codegen/packed_operands_test.cpp
  codegen/parity_test.cpp
  codegen/robustness_test.cpp
  codegen/row_epilogues_test.cpp
  codegen/row_kernels_test.cpp
  codegen/serial_kernels_test.cpp
  codegen/serial_vector_axis_test.cpp
  codegen/unit_axes_test.cpp
  codegen/xxh64_llvm_test.cpp
  # frontend and runtime: layers and executables checked against JIT code
  frontend/attention_test.cpp
  frontend/embedding_test.cpp
  frontend/rnn_layers_test.cpp
  frontend/transformer_layers_test.cpp
  runtime/c_api_test.cpp
  runtime/concurrency_test.cpp
  runtime/host_buffer_test.cpp
  runtime/state_model_test.cpp
  # models: training and export on the CPU (graph_roundtrip_test stays: no code generation)
  models/conv_zoo_test.cpp
  models/export_test.cpp
  models/language_model_test.cpp
  models/nw_regression_test.cpp
  models/readme_example_test.cpp
  models/resume_test.cpp
  models/run_options_test.cpp
  models/translation_model_test.cpp
  models/zoo_test.cpp
  # cuda: the device runtime and commands compared with the same work on the CPU
  cuda/device_cli_test.cpp
  cuda/device_commands_test.cpp
  cuda/device_training_test.cpp
  # tools: the CLI on the CPU (tests/no_llvm_cli_test.sh checks its refusal instead)
  tools/cli_test.cpp
  tools/compile_cache_cli_test.cpp
  tools/export_cli_test.cpp
  tools/generate_cli_test.cpp
  tools/translate_cli_test.cpp
)
