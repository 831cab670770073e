#!/usr/bin/env python3
"""kiln vs PyTorch on d2l's Fashion-MNIST recipes, in one run.

Runs `kiln train MODEL --json` and the same recipe in PyTorch (same architecture,
N(0, 0.01) weights, zero biases, minibatch SGD, batch 256, shuffled every epoch, data
preloaded as tensors so only the training step is timed) on the same machine with the
same thread count, then prints seconds per epoch, test accuracy and the ratios against
two PyTorch configurations:
  default  -- PyTorch as Debian users run it (OpenMP's default active wait policy);
  tuned    -- OMP_WAIT_POLICY=PASSIVE, the better of 1 and N threads: on a 2-core
              machine the default policy's spinning OpenMP threads fight OpenBLAS's
              pthreads and the step runs several times slower.

PyTorch comes from Debian's python3-torch (1.13) with libopenblas0-pthread as its BLAS;
this script installs them with apt-get when missing (bench only, never needed by kiln).

usage: bench/mlp_vs_pytorch.py [--models mlp,softmax,mlp_dropout] [--epochs 10]
       [--threads 2] [--kiln build/kiln]
"""
import argparse
import json
import os
import subprocess
import sys
import time

from torch_common import FMNIST, ensure_torch, read_idx, torch_blas, torch_env

RECIPES = {  # d2l: architecture, learning rate
    "softmax": ([784, 10], [], 0.1),
    "mlp": ([784, 256, 10], [], 0.1),
    "mlp_dropout": ([784, 256, 256, 10], [0.2, 0.5], 0.5),
}


def load(torch, split):
    prefix = "train" if split == "train" else "t10k"
    dims, img = read_idx(f"{FMNIST}/{prefix}-images-idx3-ubyte.gz")
    _, lab = read_idx(f"{FMNIST}/{prefix}-labels-idx1-ubyte.gz")
    x = torch.frombuffer(bytearray(img), dtype=torch.uint8).float().div_(255).reshape(dims[0], -1)
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).long()
    return x, y


def build_mlp(model):
    """The recipe's network (N(0, 0.01) weights, zero biases) and its learning rate."""
    from torch import nn
    sizes, drops, lr = RECIPES[model]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if drops:
                layers.append(nn.Dropout(drops[i]))
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    return net, lr


def torch_run(model, epochs, threads):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net, lr = build_mlp(model)
    xtr, ytr = load(torch, "train")
    xte, yte = load(torch, "test")
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(xtr.shape[0])
        t0 = time.perf_counter()
        for s in range(0, xtr.shape[0], 256):
            idx = perm[s:s + 256]
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    return sum(times) / len(times), acc


def torch_child(model, epochs, threads, passive):
    """Runs torch_run in a fresh interpreter (OpenMP reads its env at start-up)."""
    env = torch_env(threads, passive)
    out = subprocess.run(["/usr/bin/python3", __file__, "--torch-child", model, "--epochs",
                          str(epochs), "--threads", str(threads)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def kiln_run(kiln, model, epochs, threads):
    out = subprocess.run([kiln, "train", model, "--epochs", str(epochs), "--threads",
                          str(threads), "--json", "--quiet"], check=True, capture_output=True,
                         text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds_per_epoch"], result["test_acc"], result["compile_seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mlp")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--kiln", default=os.path.join(os.path.dirname(__file__), "..", "build", "kiln"))
    ap.add_argument("--torch-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        secs, acc = torch_run(args.torch_child, args.epochs, args.threads)
        print(json.dumps({"seconds_per_epoch": secs, "test_acc": acc}))
        return
    if not os.path.exists(args.kiln):
        sys.exit(f"error: {args.kiln} not found; run `make build` first")
    ensure_torch()
    import torch
    torch.ones(8, 8) @ torch.ones(8, 8)  # loads the BLAS
    print(f"BLAS: {torch_blas()}")
    print(f"PyTorch {torch.__version__}, {args.threads} threads, {args.epochs} epochs")
    print(f"{'model':<12} {'kiln s/ep':>9} {'torch s/ep':>10} {'ratio':>6} {'tuned s/ep':>10} "
          f"{'ratio':>6} {'kiln acc':>8} {'torch acc':>9} {'compile s':>9}")
    for model in args.models.split(","):
        if model not in RECIPES:
            sys.exit(f"error: unknown model '{model}' (choose from {', '.join(RECIPES)})")
        ks, kacc, kc = kiln_run(args.kiln, model, args.epochs, args.threads)
        default = torch_child(model, args.epochs, args.threads, passive=False)
        tuned = min((torch_child(model, args.epochs, t, passive=True)
                     for t in sorted({1, args.threads})), key=lambda r: r["seconds_per_epoch"])
        ts, tt = default["seconds_per_epoch"], tuned["seconds_per_epoch"]
        print(f"{model:<12} {ks:9.3f} {ts:10.3f} {ks / ts:6.2f} {tt:10.3f} {ks / tt:6.2f} "
              f"{kacc:8.4f} {default['test_acc']:9.4f} {kc:9.2f}", flush=True)


if __name__ == "__main__":
    main()
