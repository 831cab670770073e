#!/usr/bin/env python3
"""Ahead-of-time vs JIT vs PyTorch on the embedding example's model (LeNet), in one run.

Latency of one inference at batch 1 (single image) and batch 256, least and median of
--repeat runs, for:
  kiln AOT     the model compiled with `kiln compile --emit bundle` and linked into a C
               program (bench/aot_latency.c) that calls it through the C API;
  kiln JIT     `kiln run MODEL.kiln` (the same graph JIT-compiled in the process);
  PyTorch 1.13 eager and TorchScript (torch.jit.trace + freeze), at its best (the better of
               1 and 2 threads, OMP_WAIT_POLICY=PASSIVE, OpenBLAS's pool matched).
Then process start-up to the first result, best of 5 launches: the AOT program, and
`kiln run` with a cold and with a warm compile cache.

usage: bench/aot_latency.py [--kiln build/kiln] [--repeat 2000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import ensure_torch, torch_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def torch_child(batch, threads, repeat):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10)).eval()
    x = torch.zeros(batch, 1, 28, 28)
    res = {}
    with torch.no_grad():
        script = torch.jit.freeze(torch.jit.trace(net, x))
        for name, f in (("eager", net), ("torchscript", script)):
            for _ in range(20):
                f(x)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                f(x)
                times.append(time.perf_counter() - t0)
            times.sort()
            res[name] = (times[0] * 1e6, times[len(times) // 2] * 1e6)
    print(json.dumps(res))


def torch_best(batch, repeat):
    best = {}
    for threads in (1, 2):
        out = sh([sys.executable, os.path.abspath(__file__), "--torch-child", str(batch),
                  "--threads", str(threads), "--repeat", str(repeat)], env=torch_env(threads))
        for name, (least, median) in last_json(out).items():
            if name not in best or median < best[name][1]:
                best[name] = (least, median, threads)
    return best


def startup(cmd, env=None, n=5):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--torch-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    ensure_torch()
    if a.torch_child:
        torch_child(a.torch_child, a.threads, a.repeat)
        return
    kiln = os.path.abspath(a.kiln)
    build = os.path.dirname(kiln)
    tmp = tempfile.mkdtemp(prefix="kiln_aot_bench_")
    env = dict(os.environ, KILN_CACHE_DIR=os.path.join(tmp, "cache"))
    ck = os.path.join(tmp, "lenet.ckpt")
    sh([kiln, "train", "lenet", "--epochs", "1", "--limit", "2560", "--quiet", "--save", ck], env=env)
    rows = []
    for batch in (1, 256):
        model = os.path.join(tmp, f"lenet{batch}.kiln")
        sh([kiln, "export", "lenet", "--checkpoint", ck, "-o", model, "--batch-size", str(batch)])
        bundle = os.path.join(tmp, f"b{batch}")
        sh([kiln, "compile", model, "--emit", "bundle", "--name", "model", "-o", bundle])
        exe = os.path.join(tmp, f"aot{batch}")
        sh(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "aot_latency.c"),
            os.path.join(bundle, "model.o"), "-I", bundle, "-I", os.path.join(ROOT, "include"),
            "-L", build, "-lkiln_rt", "-Wl,-rpath," + build])
        repeat = a.repeat if batch == 1 else max(50, a.repeat // 20)
        aot = last_json(sh([exe, "--repeat", str(repeat)]))
        jit = last_json(sh([kiln, "run", model, "--json", "--repeat", str(repeat)], env=env))
        torch = torch_best(batch, repeat)
        rows.append((batch, aot, jit, torch))
        if batch == 1:
            start = {
                "kiln AOT program": startup([exe, "--repeat", "0"]),
                "kiln run, cold cache": startup([kiln, "run", model, "--repeat", "0", "--no-cache"]),
                "kiln run, warm cache": startup([kiln, "run", model, "--repeat", "0"], env=env),
            }
    print(f"LeNet inference latency, microseconds (least / median of runs), {os.cpu_count()} CPUs")
    print(f"{'batch':>5}  {'kiln AOT':>15}  {'kiln JIT':>15}  {'torch eager':>19}  "
          f"{'torchscript':>19}  AOT vs best torch")
    for batch, aot, jit, torch in rows:
        te, ts = torch["eager"], torch["torchscript"]
        best_torch = min(te[1], ts[1])
        print(f"{batch:>5}  {aot['run_us_least']:>6.1f} / {aot['run_us_median']:>6.1f}  "
              f"{jit['run_us_least']:>6.1f} / {jit['run_us_median']:>6.1f}  "
              f"{te[0]:>6.1f} / {te[1]:>6.1f} ({te[2]}t)  {ts[0]:>6.1f} / {ts[1]:>6.1f} ({ts[2]}t)  "
              f"{best_torch / aot['run_us_median']:.1f}x faster")
    print("process start-up to the first result (best of 5 launches):")
    for name, s in start.items():
        print(f"  {name:<22} {s * 1e3:8.1f} ms")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
