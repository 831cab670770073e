#!/usr/bin/env bash
# Prepares, on a development machine, the folder that a GPU machine needs to build and
# check kiln (DESIGN.md "GPU machines": Ubuntu 24.04 with CUDA 13, but no LLVM, no
# flatbuffers, no CLI11 or nlohmann-json, Catch2 v3 only, no network). The folder sits
# in the work tree at an ignored path (.gpu-bundle/ by default, in .gitignore) so that a
# run on the GPU machine can carry it with the source tree; scripts/gpu_check.sh finds it
# there and configures with -DKILN_BUNDLE=<it> (cmake/bundle.cmake).
#
#   include/flatbuffers/       flatbuffers' headers (its C++ runtime is header-only)
#   include/CLI/ include/nlohmann/ include/catch2/catch.hpp   CLI11, json, Catch2 v2
#   generated/schema/          flatc's headers for ir/schema/*.fbs + SCHEMAS.sha256
#   cmake/                     Catch2 v2's Catch.cmake (catch_discover_tests)
#   data/fashion-mnist/        the IDX files `kiln train mlp|lenet` read
#   data/shared/               ../shared/data (the tests' d2l data files)
#   cpu-figures.txt            the same trainings on this CPU (gpu_check.sh --measure-cpu),
#                              unless --no-cpu or no LLVM build of kiln is found
#   models/lenet.{ckpt,kiln}   lenet trained 3 epochs here and exported, for
#                              scripts/gpu_zoo_check.sh's CUDA-module check (same condition)
#   MANIFEST                   what was bundled, from where, and when
#
# usage: scripts/gpu_bundle.sh [--out DIR] [--kiln PATH/TO/kiln] [--no-cpu]
# The folder must stay under 48 MiB so that it and the source tree fit the 64 MiB a run
# carries; the script checks that and exits non-zero when it does not fit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.gpu-bundle
kiln_bin=$root/build/kiln
measure_cpu=1
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --kiln) kiln_bin=$2; shift 2 ;;
    --no-cpu) measure_cpu=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "gpu_bundle: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "gpu_bundle: $*" >&2; exit 1; }

# Where this machine keeps what the bundle carries (Debian packages, scripts/setup.sh).
flatc=$(command -v flatc || true)
[ -n "$flatc" ] || die "flatc not found (apt-get install flatbuffers-compiler, or scripts/setup.sh)"
inc=/usr/include
for need in flatbuffers/flatbuffers.h CLI/CLI.hpp nlohmann/json.hpp catch2/catch.hpp; do
  [ -f "$inc/$need" ] || die "$inc/$need not found (scripts/setup.sh installs it)"
done
catch_cmake=/usr/lib/cmake/Catch2
[ -f "$catch_cmake/Catch.cmake" ] || die "$catch_cmake/Catch.cmake not found (Debian's catch2 v2)"
fashion=/usr/share/datasets/fashion-mnist
[ -f "$fashion/train-images-idx3-ubyte.gz" ] || die "Fashion-MNIST not in $fashion (apt-get install dataset-fashion-mnist)"
shared=$root/../shared/data

tmp=$(mktemp -d "${out}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include/catch2" "$tmp/generated/schema" "$tmp/cmake" "$tmp/data/fashion-mnist" "$tmp/data/shared"
cp -r "$inc/flatbuffers" "$inc/CLI" "$inc/nlohmann" "$tmp/include/"
cp "$inc/catch2/catch.hpp" "$tmp/include/catch2/"
cp "$catch_cmake/Catch.cmake" "$catch_cmake/CatchAddTests.cmake" "$tmp/cmake/"
# The same flatc command as CMakeLists.txt's.
"$flatc" --cpp --scoped-enums --gen-mutable -o "$tmp/generated/schema" -I "$root/ir/schema" "$root"/ir/schema/*.fbs
(cd "$root/ir/schema" && sha256sum -- *.fbs) > "$tmp/generated/schema/SCHEMAS.sha256"
cp "$fashion"/*-ubyte.gz "$tmp/data/fashion-mnist/"
if [ -d "$shared" ]; then
  cp "$shared"/* "$tmp/data/shared/"
else
  echo "gpu_bundle: note: $shared not found; the tests that read d2l's data files will fail there" >&2
fi

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
{
  echo "kiln GPU bundle (scripts/gpu_bundle.sh), made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
  echo "source: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "flatc: $("$flatc" --version)  flatbuffers headers: libflatbuffers-dev $(pkgver libflatbuffers-dev)"
  echo "CLI11: libcli11-dev $(pkgver libcli11-dev)  nlohmann-json: nlohmann-json3-dev $(pkgver nlohmann-json3-dev)"
  echo "Catch2: catch2 $(pkgver catch2)  Fashion-MNIST: dataset-fashion-mnist $(pkgver dataset-fashion-mnist)"
} > "$tmp/MANIFEST"

if [ $measure_cpu -eq 1 ]; then
  if [ -x "$kiln_bin" ] && "$kiln_bin" train --help 2>/dev/null | grep -q -- --device; then
    echo "gpu_bundle: measuring the CPU figures with $kiln_bin (a few minutes; --no-cpu skips)"
    bash "$root/scripts/gpu_check.sh" --measure-cpu "$kiln_bin" --data "$tmp/data/fashion-mnist" \
      --figures "$tmp/cpu-figures.txt" || die "measuring the CPU figures failed"
    mkdir -p "$tmp/models"
    { "$kiln_bin" train lenet --epochs 3 --data "$tmp/data/fashion-mnist" --save "$tmp/models/lenet.ckpt" --quiet &&
      "$kiln_bin" export lenet --checkpoint "$tmp/models/lenet.ckpt" -o "$tmp/models/lenet.kiln" &&
      "$kiln_bin" eval lenet --checkpoint "$tmp/models/lenet.ckpt" --data "$tmp/data/fashion-mnist" \
        > "$tmp/models/lenet.cpu-eval.txt"; } >/dev/null || die "training and exporting lenet failed"
  else
    echo "gpu_bundle: note: no kiln at $kiln_bin: no CPU figures (build kiln, or pass --kiln)" >&2
  fi
fi

size_kib=$(du -sk "$tmp" | cut -f1)
[ "$size_kib" -le $((48 * 1024)) ] || die "the bundle is ${size_kib} KiB, over 48 MiB"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "gpu_bundle: $out ($((size_kib / 1024)) MiB): carry it with the tree and run scripts/gpu_check.sh there"
