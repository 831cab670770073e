#!/usr/bin/env bash
# The two example applications against an installed kiln (issue 10, docs/aot.md):
#   1. `cmake --install` the build tree into a temporary prefix;
#   2. train LeNet for two epochs, evaluate it with `kiln eval`, export it (batch 1);
#   3. build examples/embed with its own CMakeLists.txt against the prefix (it runs the
#      installed `kiln compile` on the model file) and run it on the Fashion-MNIST test
#      set: its test_acc must equal kiln eval's to the last printed digit, and the binary
#      must not depend on LLVM;
#      The same model compiled to a shared library, opened by path, gives the same.
#   4. build examples/dsl against the prefix, run it (define, JIT-train, export), and
#      compile what it exported.
# usage: examples_test.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
work=$(mktemp -d /tmp/kiln_examples.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "examples: $*"; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null || fail "cmake --install failed"
kiln=$prefix/bin/kiln
[ -x "$kiln" ] || fail "no kiln in $prefix/bin"
export KILN_CACHE_DIR=$work/cache

# 2. A briefly trained LeNet and its evaluation.
"$kiln" train lenet --epochs 2 --save "$work/lenet.ckpt" --quiet >/dev/null ||
  fail "kiln train lenet failed"
eval_acc=$("$kiln" eval lenet --checkpoint "$work/lenet.ckpt" --quiet | awk '$1 == "test_acc" {print $2}')
[ -n "$eval_acc" ] || fail "kiln eval printed no test_acc"
# A model that has learnt something, so that equal accuracies mean equal predictions.
awk -v a="$eval_acc" 'BEGIN {exit !(a > 0.4)}' || fail "LeNet did not learn (test_acc $eval_acc)"
"$kiln" export lenet --checkpoint "$work/lenet.ckpt" -o "$work/lenet.kiln" >/dev/null ||
  fail "kiln export failed"

# 3. The embedded classifier.
cmake -S "$src/examples/embed" -B "$work/embed" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DKILN_MODEL="$work/lenet.kiln" >"$work/embed.log" 2>&1 ||
  { cat "$work/embed.log"; fail "configuring examples/embed failed"; }
cmake --build "$work/embed" >>"$work/embed.log" 2>&1 ||
  { cat "$work/embed.log"; fail "building examples/embed failed"; }
out=$("$work/embed/embed_example") || fail "embed_example failed: $out"
echo "$out"
embed_acc=$(echo "$out" | awk '$1 == "test_acc" {print $2}')
echo "kiln eval test_acc $eval_acc, embedded test_acc $embed_acc"
[ "$embed_acc" = "$eval_acc" ] || fail "the embedded classifier's accuracy $embed_acc is not kiln eval's $eval_acc"
if ldd "$work/embed/embed_example" | grep -i llvm; then fail "embed_example depends on LLVM"; fi
ldd "$work/embed/embed_example" | grep -q "$prefix/lib/libkiln_rt.so" ||
  fail "embed_example does not use the installed libkiln_rt.so"
# The same model as a shared library, opened by path and prefix.
"$kiln" compile "$work/lenet.kiln" --emit so --name lenet -o "$work/lenet.so" >/dev/null ||
  fail "kiln compile --emit so failed"
so_acc=$("$work/embed/embed_example" --library "$work/lenet.so" --prefix lenet |
         awk '$1 == "test_acc" {print $2}')
echo "shared library test_acc $so_acc"
[ "$so_acc" = "$eval_acc" ] || fail "the shared library's accuracy $so_acc is not kiln eval's $eval_acc"

# 4. The DSL example, and its model compiled to a shared library opened by the C API.
cmake -S "$src/examples/dsl" -B "$work/dsl" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work/dsl.log" 2>&1 ||
  { cat "$work/dsl.log"; fail "configuring examples/dsl failed"; }
cmake --build "$work/dsl" >>"$work/dsl.log" 2>&1 ||
  { cat "$work/dsl.log"; fail "building examples/dsl failed"; }
"$work/dsl/dsl_example" "$work/dsl.kiln" --epochs 1 --examples 2560 ||
  fail "dsl_example failed"
"$kiln" compile "$work/dsl.kiln" --emit header --name dsl -o "$work/dsl.h" >/dev/null ||
  fail "kiln compile of the DSL example's model failed"
grep -q "dsl_run(kiln_model\* model, const float\* x, float\* pred)" "$work/dsl.h" ||
  fail "dsl.h lacks dsl_run"
echo "examples: all good"
