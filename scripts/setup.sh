#!/usr/bin/env bash
# Installs kiln's build and test dependencies from Debian packages, idempotently.
# Only packages that are missing are installed; `apt-get update` runs only when needed.
set -euo pipefail

PACKAGES=(
  llvm-19-dev
  libflatbuffers-dev
  flatbuffers-compiler
  libfmt-dev
  catch2
  zlib1g-dev
  libbenchmark-dev
  dataset-fashion-mnist
  cmake
  ninja-build
  g++
  libcli11-dev
  nlohmann-json3-dev
)
# `scripts/setup.sh fuzz` (make fuzz) also installs clang's libFuzzer and sanitizers.
if [ "${1:-}" = "fuzz" ]; then
  PACKAGES+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all dependencies present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
