#!/bin/bash
# kiln's GEMM against OpenBLAS in one process, in turn (bench/openblas/gemm_interleaved.cpp):
# a comparison that a noisy VM's phases of minutes cannot tilt, unlike two processes run
# one after the other. Ratio = kiln's GFLOP/s over OpenBLAS's, least time of each.
#   bench/gemm_vs_openblas.sh [THREADS] [REPS] [M N K ...]   (defaults: 1, 20, issue 13's shapes)
# Needs a built tree (make build) and libopenblas0-pthread, installed here with apt-get
# when missing (a benchmark-only dependency, as for the PyTorch scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-1}
reps=${2:-20}
shift $(($# < 2 ? $# : 2))
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(256 784 256  1024 1024 1024  256 256 10  32 768 284  64 4096 4096)
lib=/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
if [ ! -e "$lib" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq libopenblas0-pthread
fi
for a in build/libkiln_rt.a build/libkiln_base.a build/libkiln_ir.a; do
  [ -e "$a" ] || { echo "$0: $a is missing: build first (make build)" >&2; exit 2; }
done
out=build/gemm_interleaved
if [ ! -x "$out" ] || [ -n "$(find bench/openblas/gemm_interleaved.cpp build/libkiln_rt.a -newer "$out")" ]; then
  g++ -O2 -std=c++20 -I. -Ibuild/generated bench/openblas/gemm_interleaved.cpp \
    build/libkiln_rt.a build/libkiln_base.a build/libkiln_ir.a build/libkiln_base.a \
    -lfmt -lpthread "$lib" -o "$out"
fi
KILN_NUM_THREADS=$threads OPENBLAS_THREAD_TIMEOUT=4 "$out" "$threads" "$reps" "${shapes[@]}"
