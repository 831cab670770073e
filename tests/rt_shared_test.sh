#!/usr/bin/env bash
# The embeddable shared runtime (CMakeLists.txt, kiln_rt_shared): libkiln_rt.so exports
# only kiln_* C functions (the C API and what generated code calls; runtime/kiln_rt.map),
# depends on no LLVM or fmt library, and stays small (stripped size printed, under 2 MB).
# usage: rt_shared_test.sh PATH/TO/libkiln_rt.so
set -u
so=$1
fail=0
for tool in nm ldd strip; do
  command -v $tool >/dev/null || { echo "rt_shared: $tool not found"; exit 1; }
done
[ -s "$so" ] || { echo "rt_shared: $so missing"; exit 1; }

other=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^kiln_' || true)
if [ -n "$other" ]; then
  echo "rt_shared: exports symbols not named kiln_*:"
  echo "$other" | head -20
  fail=1
fi
for sym in kiln_model_open_library kiln_model_open_linked kiln_parallel_for kiln_gemm_f32; do
  nm -D --defined-only "$so" | grep -q " $sym\$" || { echo "rt_shared: $sym not exported"; fail=1; }
done
deps=$(ldd "$so" | grep -iE 'llvm|fmt' || true)
if [ -n "$deps" ]; then
  echo "rt_shared: depends on LLVM or fmt:"
  echo "$deps"
  fail=1
fi
tmp=$(mktemp)
strip -o "$tmp" "$so"
size=$(stat -c %s "$tmp")
rm -f "$tmp"
echo "rt_shared: stripped size $size bytes"
if [ "$size" -ge $((2 * 1024 * 1024)) ]; then
  echo "rt_shared: over 2 MB"
  fail=1
fi
[ $fail -eq 0 ] && echo "rt_shared: ok"
exit $fail
