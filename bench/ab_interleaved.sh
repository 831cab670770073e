#!/bin/bash
# Interleaved A/B of kiln_bench builds on this noisy VM: runs every binary in turn, ROUNDS
# times (the order reversed every other round, so a drift of the host's speed does not
# favour one binary), and prints per (binary, case) the least real time (the CSV's
# real_time column, in the benchmark's unit) and the median over rounds of the ratio of
# this binary's least time in the round to the first binary's in the same round. This
# host's speed changes in phases of minutes; the paired ratio cancels a phase that
# spans a round, which the overall least does not. Many short samples (REPS repetitions
# of MINT seconds each) dodge more of the bursts of noise than a few long averages.
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
bins=("$@")
for round in $(seq "$rounds"); do
  order=("${bins[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#bins[@]} - 1; i >= 0; i--)); do order+=("${bins[i]}"); done
  fi
  for bin in "${order[@]}"; do
    OMP_WAIT_POLICY=PASSIVE "$bin" --benchmark_filter="$filter" \
      --benchmark_repetitions="${REPS:-10}" --benchmark_min_time="${MINT:-0.3}" \
      --benchmark_format=csv 2>/dev/null |
      awk -F, -v b="$bin" -v r="$round" \
        'NR > 1 && $1 !~ /_(mean|median|stddev|cv)"$/ {print r "," b "," $1 "," $3}'
  done
done | awk -F, -v first="${bins[0]}" '
  { k = $2 SUBSEP $3; rk = $1 SUBSEP k
    if (!(k in least) || $4 < least[k]) least[k] = $4
    if (!(rk in rmin) || $4 < rmin[rk]) rmin[rk] = $4
    rounds[$1] = 1; keys[k] = 1 }
  END {
    for (k in keys) {
      split(k, bc, SUBSEP); n = 0
      for (r in rounds) {
        ref = r SUBSEP first SUBSEP bc[2]
        if ((r SUBSEP k) in rmin && ref in rmin) ratio[++n] = rmin[r SUBSEP k] / rmin[ref]
      }
      for (i = 2; i <= n; i++)  # insertion sort (mawk has no asort)
        for (j = i; j > 1 && ratio[j - 1] > ratio[j]; j--) {
          t = ratio[j]; ratio[j] = ratio[j - 1]; ratio[j - 1] = t
        }
      med = n % 2 ? ratio[(n + 1) / 2] : (ratio[n / 2] + ratio[n / 2 + 1]) / 2
      printf "%s %s least %g  median ratio to first %.3f over %d rounds\n",
             bc[1], bc[2], least[k], med, n
      delete ratio
    }
  }' | sort -k2,2 -k1,1
