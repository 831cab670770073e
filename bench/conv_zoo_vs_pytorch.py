#!/usr/bin/env python3
"""kiln vs PyTorch on d2l's convolutional zoo (chapters 6-7), in one run.

For each model, runs `kiln train MODEL --json` and the same recipe in PyTorch (d2l's
architecture, xavier-uniform weights as d2l's init_cnn (biases keep PyTorch's default, as
there), minibatch SGD,
the same batch size, learning rate, input size and number of training examples, data
resized once with F.interpolate(bilinear) and preloaded as tensors so only the training
step is timed), then prints seconds per epoch and per step, test accuracy and peak RSS of
each, and kiln's time as a ratio of PyTorch's. PyTorch runs tuned: OMP_WAIT_POLICY=PASSIVE
and the better of 1 and N threads (its default active OpenMP wait fights OpenBLAS's
pthreads on a 2-core machine); its convolutions are oneDNN's (mkldnn) where available.

PyTorch comes from Debian's python3-torch (1.13); this script installs it with apt-get when
missing (bench only, never needed by kiln).

usage: bench/conv_zoo_vs_pytorch.py [--models lenet,lenet_bn,resnet18] [--epochs 1]
       [--limit 0] [--size 0] [--threads 2] [--kiln build/kiln]
Done-when runs (issue 8): --models lenet --epochs 10; --models resnet18 --size 32
--limit 12800 --epochs 1.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from torch_common import FMNIST, ensure_torch, read_idx, run_child, torch_blas, torch_env

# d2l recipes: learning rate, batch size, default input side.
RECIPES = {
    "lenet": (0.9, 256, 28),
    "lenet_bn": (1.0, 256, 28),
    "alexnet": (0.01, 128, 224),
    "vgg11": (0.05, 128, 224),
    "vgg11_small": (0.05, 128, 224),
    "nin": (0.1, 128, 224),
    "googlenet": (0.1, 128, 96),
    "resnet18": (0.05, 256, 96),
    "densenet": (0.1, 256, 96),
}


def load(torch, split, size, limit):
    import torch.nn.functional as F
    prefix = "train" if split == "train" else "t10k"
    dims, img = read_idx(f"{FMNIST}/{prefix}-images-idx3-ubyte.gz")
    _, lab = read_idx(f"{FMNIST}/{prefix}-labels-idx1-ubyte.gz")
    x = torch.frombuffer(bytearray(img), dtype=torch.uint8).float().div_(255)
    x = x.reshape(dims[0], 1, dims[1], dims[2])
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).long()
    if limit > 0:
        x, y = x[:limit], y[:limit]
    if size != dims[1]:
        x = torch.cat([F.interpolate(x[i:i + 1000], size=(size, size), mode="bilinear",
                                     align_corners=False) for i in range(0, len(x), 1000)])
    return x, y


def build(name):
    from torch import nn

    def conv_relu(i, o, k, s=1, p=0):
        return [nn.Conv2d(i, o, k, s, p), nn.ReLU()]

    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
            nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
    if name == "lenet_bn":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Flatten(), nn.Linear(400, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))
    if name == "alexnet":
        return nn.Sequential(
            *conv_relu(1, 96, 11, 4, 1), nn.MaxPool2d(3, 2), *conv_relu(96, 256, 5, 1, 2),
            nn.MaxPool2d(3, 2), *conv_relu(256, 384, 3, 1, 1), *conv_relu(384, 384, 3, 1, 1),
            *conv_relu(384, 256, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Flatten(),
            nn.LazyLinear(4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(4096, 10))
    if name in ("vgg11", "vgg11_small"):
        div = 4 if name == "vgg11_small" else 1
        layers, c = [], 1
        for reps, o in ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)):
            for _ in range(reps):
                layers += conv_relu(c, o // div, 3, 1, 1)
                c = o // div
            layers.append(nn.MaxPool2d(2, 2))
        return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(4096), nn.ReLU(),
                             nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(4096, 10))
    if name == "nin":
        def nin(i, o, k, s, p):
            return [*conv_relu(i, o, k, s, p), *conv_relu(o, o, 1), *conv_relu(o, o, 1)]
        return nn.Sequential(
            *nin(1, 96, 11, 4, 0), nn.MaxPool2d(3, 2), *nin(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
            *nin(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5), *nin(384, 10, 3, 1, 1),
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    if name == "googlenet":
        return googlenet()
    if name == "resnet18":
        return resnet18()
    if name == "densenet":
        return densenet()
    raise SystemExit(f"error: unknown model '{name}'")


def googlenet():
    import torch
    from torch import nn

    class Inception(nn.Module):
        def __init__(self, i, c1, c2, c3, c4):
            super().__init__()
            self.b1 = nn.Sequential(nn.Conv2d(i, c1, 1), nn.ReLU())
            self.b2 = nn.Sequential(nn.Conv2d(i, c2[0], 1), nn.ReLU(),
                                    nn.Conv2d(c2[0], c2[1], 3, padding=1), nn.ReLU())
            self.b3 = nn.Sequential(nn.Conv2d(i, c3[0], 1), nn.ReLU(),
                                    nn.Conv2d(c3[0], c3[1], 5, padding=2), nn.ReLU())
            self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(i, c4, 1), nn.ReLU())

        def forward(self, x):
            return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)

    return nn.Sequential(
        nn.Conv2d(1, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        Inception(192, 64, (96, 128), (16, 32), 32), Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(3, 2, 1),
        Inception(480, 192, (96, 208), (16, 48), 64), Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64), Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128), nn.MaxPool2d(3, 2, 1),
        Inception(832, 256, (160, 320), (32, 128), 128), Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(1024, 10))


def resnet18():
    from torch import nn
    import torch.nn.functional as F

    class Residual(nn.Module):
        def __init__(self, i, o, shortcut, stride):
            super().__init__()
            self.c1 = nn.Conv2d(i, o, 3, stride, 1)
            self.c2 = nn.Conv2d(o, o, 3, 1, 1)
            self.c3 = nn.Conv2d(i, o, 1, stride) if shortcut else None
            self.b1, self.b2 = nn.BatchNorm2d(o), nn.BatchNorm2d(o)

        def forward(self, x):
            y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
            return F.relu(y + (self.c3(x) if self.c3 else x))

    def stage(i, o, n, first):
        return [Residual(i, o, not first and j == 0, 1 if first or j else 2) if j == 0
                else Residual(o, o, False, 1) for j in range(n)]

    return nn.Sequential(
        nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        *stage(64, 64, 2, True), *stage(64, 128, 2, False), *stage(128, 256, 2, False),
        *stage(256, 512, 2, False), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, 10))


def densenet():
    import torch
    from torch import nn

    def conv_block(i, o):
        return nn.Sequential(nn.BatchNorm2d(i), nn.ReLU(), nn.Conv2d(i, o, 3, padding=1))

    class Dense(nn.Module):
        def __init__(self, n, i, growth):
            super().__init__()
            self.net = nn.ModuleList(conv_block(i + k * growth, growth) for k in range(n))

        def forward(self, x):
            for blk in self.net:
                x = torch.cat((x, blk(x)), 1)
            return x

    layers, c = [nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for k in range(4):
        layers.append(Dense(4, c, 32))
        c += 4 * 32
        if k != 3:
            layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1), nn.AvgPool2d(2, 2)]
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(), nn.Linear(c, 10))


def torch_run(model, epochs, threads, size, limit):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lr, batch, _ = RECIPES[model]
    xtr, ytr = load(torch, "train", size, limit)
    xte, yte = load(torch, "test", size, 0)
    net = build(model)
    net(xtr[:2])  # materialize lazy layers
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)  # d2l's init_cnn; biases keep PyTorch's init
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    times, steps = [], 0
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(xtr.shape[0])
        t0 = time.perf_counter()
        steps = 0
        for s in range(0, xtr.shape[0] - batch + 1, batch):  # full batches, as kiln
            idx = perm[s:s + batch]
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        times.append(time.perf_counter() - t0)
    net.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(xte), 500):
            correct += (net(xte[s:s + 500]).argmax(1) == yte[s:s + 500]).sum().item()
    secs = sum(times) / len(times)
    return {"seconds_per_epoch": secs, "seconds_per_step": secs / max(1, steps),
            "test_acc": correct / len(xte)}


def torch_child(model, epochs, threads, size, limit):
    return run_child(["/usr/bin/python3", __file__, "--torch-child", model, "--epochs",
                      str(epochs), "--threads", str(threads), "--size", str(size),
                      "--limit", str(limit)], torch_env(threads))


def kiln_run(kiln, model, epochs, threads, size, limit):
    cmd = [kiln, "train", model, "--epochs", str(epochs), "--threads", str(threads), "--json",
           "--quiet", "--size", str(size)]
    if limit > 0:
        cmd += ["--limit", str(limit)]
    return run_child(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="lenet,lenet_bn")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="training examples (0 = all 60000)")
    ap.add_argument("--size", type=int, default=0, help="input side (0 = the recipe's)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--kiln", default=os.path.join(os.path.dirname(__file__), "..", "build", "kiln"))
    ap.add_argument("--torch-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        size = args.size or RECIPES[args.torch_child][2]
        print(json.dumps(torch_run(args.torch_child, args.epochs, args.threads, size, args.limit)))
        return
    if not os.path.exists(args.kiln):
        sys.exit(f"error: {args.kiln} not found; run `make build` first")
    ensure_torch()
    import torch
    torch.ones(8, 8) @ torch.ones(8, 8)  # loads the BLAS
    print(f"BLAS: {torch_blas()}")
    print(f"PyTorch {torch.__version__} (tuned), {args.threads} threads, {args.epochs} epochs, "
          f"limit {args.limit or 60000}")
    print(f"{'model':<12} {'size':>4} {'kiln s/ep':>9} {'torch s/ep':>10} {'ratio':>6} "
          f"{'kiln ms/step':>12} {'torch ms/step':>13} {'kiln acc':>8} {'torch acc':>9} "
          f"{'kiln MB':>7} {'torch MB':>8}")
    for model in args.models.split(","):
        if model not in RECIPES:
            sys.exit(f"error: unknown model '{model}' (choose from {', '.join(RECIPES)})")
        size = args.size or RECIPES[model][2]
        k = kiln_run(args.kiln, model, args.epochs, args.threads, size, args.limit)
        t = min((torch_child(model, args.epochs, th, size, args.limit)
                 for th in sorted({1, args.threads})), key=lambda r: r["seconds_per_epoch"])
        kstep = k["seconds_per_epoch"] / max(1, k.get("steps_per_epoch", 0) or
                                             (args.limit or 60000) // RECIPES[model][1])
        print(f"{model:<12} {size:4d} {k['seconds_per_epoch']:9.2f} {t['seconds_per_epoch']:10.2f} "
              f"{k['seconds_per_epoch'] / t['seconds_per_epoch']:6.2f} {kstep * 1e3:12.1f} "
              f"{t['seconds_per_step'] * 1e3:13.1f} {k['test_acc']:8.4f} {t['test_acc']:9.4f} "
              f"{k['peak_rss_mb']:7.0f} {t['peak_rss_mb']:8.0f}", flush=True)


if __name__ == "__main__":
    main()
