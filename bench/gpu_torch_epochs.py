#!/usr/bin/env python3
"""PyTorch eager on a GPU: the same-machine baseline for `kiln train MODEL --device cuda`.

Trains d2l's mlp and lenet on Fashion-MNIST with the recipes of bench/mlp_vs_pytorch.py
and bench/conv_zoo_vs_pytorch.py (same layers, N(0, 0.01) linear weights for the MLP and
Xavier ones for LeNet, minibatch SGD, batch 256, reshuffled each epoch), with the whole
dataset preloaded on the device so that only the training step is timed (PyTorch at its
best), and prints one JSON line per model: seconds per epoch (the least over the epochs
after the first, which pays for cuDNN's and the caching allocator's warm-up) and test
accuracy.
scripts/gpu_check.sh runs it on the GPU machine when python3 there has a CUDA PyTorch.

usage: bench/gpu_torch_epochs.py [--data DIR] [--epochs 5] [--models mlp,lenet] [--device cuda]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import FMNIST, read_idx  # noqa: E402
from conv_zoo_vs_pytorch import RECIPES as CONV_RECIPES, build  # noqa: E402
from mlp_vs_pytorch import RECIPES as MLP_RECIPES, build_mlp  # noqa: E402


def load(torch, data, split, image, device):
    prefix = "train" if split == "train" else "t10k"
    dims, img = read_idx(f"{data}/{prefix}-images-idx3-ubyte.gz")
    _, lab = read_idx(f"{data}/{prefix}-labels-idx1-ubyte.gz")
    x = torch.frombuffer(bytearray(img), dtype=torch.uint8).float().div_(255)
    x = x.reshape(dims[0], 1, dims[1], dims[2]) if image else x.reshape(dims[0], -1)
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).long()
    return x.to(device), y.to(device)


def net_and_lr(name):
    if name in MLP_RECIPES:
        return (*build_mlp(name), False)
    if name in CONV_RECIPES:
        return build(name), CONV_RECIPES[name][0], True
    sys.exit(f"error: unknown model '{name}' (mlp, softmax, mlp_dropout, lenet, lenet_bn)")


def sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def run(torch, name, data, epochs, device):
    from torch import nn
    torch.manual_seed(0)
    net, lr, image = net_and_lr(name)
    xtr, ytr = load(torch, data, "train", image, device)
    xte, yte = load(torch, data, "test", image, device)
    net = net.to(device)
    if image:  # d2l's init_cnn, as conv_zoo_vs_pytorch.py; biases keep PyTorch's init
        net(xtr[:2])  # materialize lazy layers
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)
    # The MLP recipe steps on the last partial batch too; the conv recipe on full ones (as kiln).
    last = xtr.shape[0] - (256 - 1 if image else 0)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(xtr.shape[0], device=device)
        sync(torch, device)
        t0 = time.perf_counter()
        for s in range(0, last, 256):
            idx = perm[s:s + 256]
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sync(torch, device)
        times.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        acc = sum((net(xte[s:s + 1024]).argmax(1) == yte[s:s + 1024]).sum().item()
                  for s in range(0, xte.shape[0], 1024)) / xte.shape[0]
    steady = times[1:] or times
    return {"model": name, "framework": f"pytorch {torch.__version__} eager",
            "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "epochs": epochs,
            "seconds_per_epoch": min(steady), "first_epoch_s": times[0], "test_acc": acc}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=FMNIST)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--models", default="mlp,lenet")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                    help="cpu checks the script where there is no GPU")
    args = ap.parse_args()
    if args.epochs < 1:
        sys.exit("error: --epochs must be at least 1")
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: this PyTorch sees no CUDA device")
    for name in args.models.split(","):
        result = run(torch, name, args.data, args.epochs, args.device)
        print(json.dumps(result, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
