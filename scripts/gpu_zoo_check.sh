#!/usr/bin/env bash
# On a GPU machine, after scripts/gpu_check.sh has built build-gpu/ (or with --build-only
# to build just what this needs): the checks beyond mlp and lenet.
#   1. an ahead-of-time CUDA module through the C API: `kiln compile MODEL.kiln --device
#      cuda` (the architecture taken from the GPU), then examples/embed/main.c built with
#      no linked-in model runs it with --kmod over the Fashion-MNIST test set, beside
#      `kiln eval --device cuda` of the same checkpoint and `kiln run --device cuda`;
#   2. more of the zoo trained with --device cuda: softmax, mlp_dropout (dropout's Philox
#      draws), lenet_bn (batch norm), resnet18 at 32x32 on 4096 examples, char_gru and
#      the transformer; each prints kiln's JSON line (compare with the same commands on a
#      CPU: --device cpu).
# The model file and checkpoint come from the bundle's models/ (scripts/gpu_bundle.sh makes
# them when it measures the CPU figures; by hand: kiln train lenet --save lenet.ckpt; kiln
# export lenet --checkpoint lenet.ckpt -o lenet.kiln). Prints everything and exits
# non-zero when a step fails.
#
# usage: scripts/gpu_zoo_check.sh [--bundle DIR] [--build DIR] [--build-only]
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/.gpu-bundle build=$root/build-gpu configure=0
while [ $# -gt 0 ]; do
  case $1 in
    --bundle) bundle=$(cd "$2" && pwd); shift 2 ;;
    --build) build=$2; shift 2 ;;
    --build-only) configure=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "gpu_zoo_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "gpu_zoo_check: $*"; }
fail=0

if [ $configure -eq 1 ]; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DKILN_LLVM=OFF \
    -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON -DKILN_BUNDLE="$bundle" >"$build.configure.log" 2>&1 &&
  cmake --build "$build" -j "$(nproc)" --target kiln kiln_rt_shared >"$build.build.log" 2>&1 ||
    { tail -n 30 "$build.build.log" "$build.configure.log" 2>/dev/null; say "FAILED: build"; exit 1; }
fi
kiln=$build/kiln
[ -x "$kiln" ] || { say "FAILED: no $kiln (run scripts/gpu_check.sh first, or --build-only)"; exit 1; }
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
fmnist=$bundle/data/fashion-mnist shared=$bundle/data/shared models=$bundle/models
step() {  # step TIMEOUT COMMAND...: runs it, prints its output's tail, counts a failure
  local t=$1; shift
  echo "== ${*#$root/}"
  timeout "$t" "$@" 2>&1 | tail -n 8
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { say "FAILED (exit $rc): $*"; fail=1; }
}

# ---- 1. a CUDA module through the C API ------------------------------------------------
if [ -f "$models/lenet.kiln" ] && [ -f "$models/lenet.ckpt" ]; then
  tmp=$(mktemp -d)
  step 120 "$kiln" compile "$models/lenet.kiln" --device cuda -o "$tmp/lenet.kmod"
  if cc -O2 -std=gnu99 -DKILN_EMBED_NO_LINKED_MODEL -I"$root/include" "$root/examples/embed/main.c" \
       -L"$build" -lkiln_rt -Wl,-rpath,"$build" -lz -o "$tmp/embed" 2>&1 | tail -n 20; then
    step 120 "$tmp/embed" --kmod "$tmp/lenet.kmod" --data "$fmnist"
  else
    say "FAILED: building examples/embed/main.c"; fail=1
  fi
  step 120 "$kiln" eval lenet --checkpoint "$models/lenet.ckpt" --device cuda --data "$fmnist"
  step 60 "$kiln" run "$models/lenet.kiln" --device cuda --repeat 200
  if [ -f "$models/lenet.cpu-eval.txt" ]; then
    echo "== the same checkpoint on the CPU that made the bundle (kiln eval):"
    cat "$models/lenet.cpu-eval.txt"
  fi
  rm -rf "$tmp"
else
  say "no $models/lenet.kiln and lenet.ckpt: no module check"
fi

# ---- 2. more of the zoo ----------------------------------------------------------------
zoo=("softmax --epochs 2 --data $fmnist" "mlp_dropout --epochs 2 --data $fmnist"
     "lenet_bn --epochs 2 --data $fmnist" "resnet18 --epochs 1 --size 32 --limit 4096 --data $fmnist"
     "char_gru --epochs 2 --corpus $shared/timemachine.txt"
     "transformer --epochs 2 --data $shared/fr-en-small.txt")
for spec in "${zoo[@]}"; do
  # shellcheck disable=SC2086  # spec is a model and its flags
  step 150 "$kiln" train $spec --device cuda --json --quiet
done
[ $fail -eq 0 ] && say "ok" || say "FAILED (see above)"
exit $fail
