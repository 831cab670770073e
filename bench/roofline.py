#!/usr/bin/env python3
"""Roofline report: for each zoo model, the training step's FLOPs and bytes, the limit they
imply on this machine, kiln's time and the fraction of the limit it reaches.

Each model runs `kiln bench MODEL --json` (see tools/cmd_bench.cpp): the step compiled
and timed kernel by kernel (least time over about a second of steps, random inputs),
this machine's peak f32 GEMM rate (1024^3) and copy bandwidth (256 MiB memcpy on every
core) measured in the same process. Columns:
  GFLOP     FLOPs of the step (contractions: 2 * multiply-adds; loops: their arithmetic)
  MB        bytes every kernel must read and write at the least
  GEMM ms   the contractions' FLOPs at the peak GEMM rate (the GEMM-bound limit)
  limit ms  sum over kernels of max(FLOPs / GEMM peak for contractions, bytes / bandwidth)
  kiln ms   the step's least time
  of limit  limit / kiln time (100% = at the machine's limit)
With --train-mlp it also runs `kiln train mlp` as issue 13 names it (its default 10
epochs, d2l's) and divides the seconds of its fastest epoch, and of the mean epoch, by the
steps per epoch, against the MLP's GEMM-bound limit (the fastest epoch is kiln at its best,
as peers are compared at theirs and the peak GEMM rate is the best of its runs; on a noisy
virtual machine epochs of one run differ by 20%).

usage: bench/roofline.py [--kiln build/kiln] [--models mlp,lenet,...] [--train-mlp]
"""
import argparse
import json
import subprocess
import sys

# model: extra `kiln bench` flags (d2l's batch sizes; small image sizes for the big nets)
ZOO = {
    "softmax": [],
    "mlp": [],
    "mlp_dropout": [],
    "lenet": [],
    "lenet_bn": [],
    "resnet18": ["--size", "32"],
    "densenet": ["--size", "32", "--batch-size", "64"],
    "vgg11_small": ["--size", "32", "--batch-size", "8"],
    "googlenet": ["--size", "32", "--batch-size", "8"],
    "char_rnn": ["--batch-size", "32"],
    "char_gru": ["--batch-size", "32"],
    "char_lstm": ["--batch-size", "32"],
    "seq2seq": ["--batch-size", "64"],
}
TRAIN_STEPS_PER_EPOCH = 235  # Fashion-MNIST's 60,000 images in batches of 256


def bench(kiln, model, flags):
    out = subprocess.run([kiln, "bench", model, "--json"] + flags, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"kiln bench {model} failed: {out.stdout}{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--train-mlp", action="store_true")
    a = ap.parse_args()
    rows = []
    for m in a.models.split(","):
        if m not in ZOO:
            sys.exit(f"unknown model '{m}' (known: {', '.join(ZOO)})")
        rows.append((m, ZOO[m], bench(a.kiln, m, ZOO[m])))
    peak = max(r["gemm_peak_gflops"] for _, _, r in rows)
    bw = max(r["copy_gbps"] for _, _, r in rows)
    print(f"machine: GEMM peak {peak:.1f} GFLOP/s, copy {bw:.1f} GB/s "
          f"({rows[0][2]['threads']} threads; best over the runs below)")
    print(f"{'model':<12} {'flags':<26} {'kernels':>7} {'GFLOP':>8} {'MB':>8} {'GEMM ms':>8} "
          f"{'limit ms':>8} {'kiln ms':>8} {'of limit':>8}")
    for m, flags, r in rows:
        print(f"{m:<12} {' '.join(flags):<26} {r['kernels']:>7} {r['flops'] / 1e9:>8.3f} "
              f"{r['bytes'] / 1e6:>8.2f} {r['gemm_bound_ms']:>8.3f} {r['limit_ms']:>8.3f} "
              f"{r['step_ms_least']:>8.3f} {100 * r['fraction_of_limit']:>7.0f}%")
    if a.train_mlp:
        mlp = next((r for m, _, r in rows if m == "mlp"), None) or bench(a.kiln, "mlp", [])
        out = subprocess.run([a.kiln, "train", "mlp", "--json", "--quiet"],
                             capture_output=True, text=True, check=True)
        train = json.loads(out.stdout.strip().splitlines()[-1])
        limit = mlp["gemm_bound_ms"]
        epochs = int(train["epochs"])
        for what, key in ((f"fastest of {epochs} epochs", "fastest_epoch_seconds"),
                          (f"mean of {epochs} epochs", "seconds_per_epoch")):
            step_ms = train[key] / TRAIN_STEPS_PER_EPOCH * 1e3
            print(f"kiln train mlp, {what}: {step_ms:.3f} ms per step ({key} {train[key]:.3f} / "
                  f"{TRAIN_STEPS_PER_EPOCH}), GEMM-bound limit {limit:.3f} ms: "
                  f"{100 * limit / step_ms:.0f}% of it")


if __name__ == "__main__":
    main()
