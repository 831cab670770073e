#!/bin/bash
# Interleaved A/B of kiln_bench builds on this noisy VM: runs every binary in turn, ROUNDS
# times, and prints the least real time (the CSV's real_time column, in the benchmark's
# unit) per (binary, case). Many short samples (REPS repetitions of MINT seconds each)
# dodge more of the host's bursts of noise than a few long averages.
#   bench/ab_interleaved.sh FILTER ROUNDS BIN...   (env: REPS=10, MINT=0.3)
# Filter one benchmark family per call: Google Benchmark's CSV drops the rows of cases
# whose user counters differ from the first case's.
# E.g. the commit before issue 13 against this build (bench/zoo_step_bench.cpp copied
# into the old tree's bench/ first):
#   REPS=10 MINT=0.3 bench/ab_interleaved.sh 'zoo_train_step/resnet18_32' 3 \
#     /tmp/old/build/kiln_bench build/kiln_bench
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 FILTER ROUNDS BIN..." >&2
  exit 2
fi
filter=$1 rounds=$2
shift 2
for bin in "$@"; do
  [ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 2; }
done
for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    OMP_WAIT_POLICY=PASSIVE "$bin" --benchmark_filter="$filter" \
      --benchmark_repetitions="${REPS:-10}" --benchmark_min_time="${MINT:-0.3}" \
      --benchmark_format=csv 2>/dev/null |
      awk -F, -v b="$bin" 'NR > 1 && $1 !~ /_(mean|median|stddev|cv)"$/ {print b "," $1 "," $3}'
  done
done | awk -F, '{k = $1 " " $2; if (!(k in m) || $3 < m[k]) m[k] = $3}
                END {for (k in m) print k, m[k]}' | sort -k2,2 -k1,1
