#!/usr/bin/env bash
# A kiln built with -DKILN_LLVM=OFF: the commands that compute on the CPU exit 1 with one
# line naming the missing LLVM backend and --device cuda (never a crash or an abort), and
# the commands that need no code generator still work.
# usage: no_llvm_cli_test.sh PATH/TO/kiln
set -u
kiln=$1
fail=0

# refuses ARGS...: exit status 1, one line on stderr naming -DKILN_LLVM=OFF and --device cuda.
refuses() {
  local err rc
  err=$("$kiln" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -ne 1 ]; then echo "no_llvm_cli: kiln $* exited $rc, not 1: $err"; fail=1; return; fi
  if [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then
    echo "no_llvm_cli: kiln $* printed more than one line:"; echo "$err"; fail=1; return
  fi
  case $err in
    *"built without the LLVM backend (-DKILN_LLVM=OFF)"*"--device cuda"*) ;;
    *) echo "no_llvm_cli: kiln $* does not name the missing backend: $err"; fail=1 ;;
  esac
}

refuses train mlp --epochs 1
refuses train mlp --device cpu --epochs 1
refuses inspect mlp
"$kiln" models >/dev/null 2>&1 || { echo "no_llvm_cli: kiln models failed"; fail=1; }

[ $fail -eq 0 ] && echo "no_llvm_cli: ok"
exit $fail
