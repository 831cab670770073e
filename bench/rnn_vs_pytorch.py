#!/usr/bin/env python3
"""kiln vs PyTorch on d2l's character-level language models (chapters 9-10), in one run.

For each model, runs `kiln train MODEL --json` and the same recipe in PyTorch: d2l's
RNNModel (nn.RNN / nn.GRU / nn.LSTM with 256 hidden units on one-hot characters, then a
Linear layer), The Time Machine cleaned and tokenized into characters as d2l does, the
first --max-tokens tokens (0 = the whole corpus), d2l's sequential minibatches (batch 32,
35 steps, random offset per epoch), the hidden state detached between minibatches and
reset every epoch, SGD lr 1 with the gradients clipped to global norm 1 (d2l's
train_ch8). Prints seconds per epoch, the last epoch's perplexity and peak RSS of each,
and kiln's time as a ratio of PyTorch's. PyTorch runs tuned: OMP_WAIT_POLICY=PASSIVE and
the better of 1 and N threads.

PyTorch comes from Debian's python3-torch (1.13), installed with apt-get when missing
(bench only, never needed by kiln).

usage: bench/rnn_vs_pytorch.py [--models char_rnn,char_gru,char_lstm] [--epochs 20]
       [--max-tokens 10000] [--threads 2] [--corpus FILE] [--kiln build/kiln]
Done-when runs (issue 9): --epochs 20, and --max-tokens 0.
"""
import argparse
import collections
import json
import math
import os
import random
import re
import sys
import time

from torch_common import ensure_torch, run_child, torch_blas, torch_env

CELLS = {"char_rnn": "RNN", "char_gru": "GRU", "char_lstm": "LSTM"}
BATCH, STEPS, HIDDEN, LR, CLIP = 32, 35, 256, 1.0, 1.0
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.path.join(HERE, "..", "..", "shared", "data", "timemachine.txt")


def load_corpus(path, max_tokens):
    """d2l's load_corpus_time_machine: cleaned lines, characters, vocabulary by frequency."""
    with open(path) as f:
        lines = [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in f]
    tokens = [ch for line in lines for ch in line]
    counts = sorted(collections.Counter(tokens).items(), key=lambda x: x[1], reverse=True)
    idx = {"<unk>": 0}
    for tok, _ in counts:
        idx.setdefault(tok, len(idx))
    corpus = [idx[t] for t in tokens]
    return (corpus[:max_tokens] if max_tokens > 0 else corpus), len(idx)


def sequential_batches(corpus, rng):
    """d2l's seq_data_iter_sequential."""
    offset = rng.randint(0, STEPS)
    n = ((len(corpus) - offset - 1) // BATCH) * BATCH
    xs = [corpus[offset + i * (n // BATCH): offset + (i + 1) * (n // BATCH)] for i in range(BATCH)]
    ys = [corpus[offset + 1 + i * (n // BATCH): offset + 1 + (i + 1) * (n // BATCH)]
          for i in range(BATCH)]
    for s in range(0, (n // BATCH) // STEPS * STEPS, STEPS):
        yield [r[s:s + STEPS] for r in xs], [r[s:s + STEPS] for r in ys]


def torch_run(model, epochs, threads, corpus_path, max_tokens):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    corpus, vocab = load_corpus(corpus_path, max_tokens)
    rnn = getattr(nn, CELLS[model])(vocab, HIDDEN)
    out = nn.Linear(HIDDEN, vocab)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    rng = random.Random(0)
    times, ppl = [], float("nan")
    for _ in range(epochs):
        state, total, count = None, 0.0, 0
        t0 = time.perf_counter()
        for xb, yb in sequential_batches(corpus, rng):
            x = nn.functional.one_hot(torch.tensor(xb).T, vocab).float()  # [T, B, V]
            y = torch.tensor(yb).T.reshape(-1)
            if state is not None:
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            h, state = rnn(x, state)
            loss = loss_fn(out(h.reshape(-1, HIDDEN)), y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, CLIP)
            opt.step()
            total += loss.item() * y.numel()
            count += y.numel()
        times.append(time.perf_counter() - t0)
        ppl = math.exp(total / count)
    return {"seconds_per_epoch": sum(times) / len(times), "perplexity": ppl}


def torch_child(model, epochs, threads, corpus, max_tokens):
    return run_child(["/usr/bin/python3", __file__, "--torch-child", model, "--epochs",
                      str(epochs), "--threads", str(threads), "--corpus", corpus,
                      "--max-tokens", str(max_tokens)], torch_env(threads))


def kiln_run(kiln, model, epochs, threads, corpus, max_tokens):
    return run_child([kiln, "train", model, "--epochs", str(epochs), "--threads", str(threads),
                      "--corpus", corpus, "--max-tokens", str(max_tokens), "--json", "--quiet"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="char_rnn,char_gru,char_lstm")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=10000, help="0 = the whole corpus")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--kiln", default=os.path.join(HERE, "..", "build", "kiln"))
    ap.add_argument("--torch-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:
        print(json.dumps(torch_run(args.torch_child, args.epochs, args.threads, args.corpus,
                                   args.max_tokens)))
        return
    if not os.path.exists(args.kiln):
        sys.exit(f"error: {args.kiln} not found; run `make build` first")
    if not os.path.exists(args.corpus):
        sys.exit(f"error: corpus {args.corpus} not found (--corpus FILE)")
    ensure_torch()
    import torch
    torch.ones(8, 8) @ torch.ones(8, 8)  # loads the BLAS
    print(f"BLAS: {torch_blas()}")
    print(f"PyTorch {torch.__version__} (tuned), {args.threads} threads, {args.epochs} epochs, "
          f"max tokens {args.max_tokens or 'all'}")
    print(f"{'model':<10} {'kiln s/ep':>9} {'torch s/ep':>10} {'ratio':>6} {'kiln ppl':>8} "
          f"{'torch ppl':>9} {'kiln MB':>7} {'torch MB':>8}")
    for model in args.models.split(","):
        if model not in CELLS:
            sys.exit(f"error: unknown model '{model}' (choose from {', '.join(CELLS)})")
        k = kiln_run(args.kiln, model, args.epochs, args.threads, args.corpus, args.max_tokens)
        t = min((torch_child(model, args.epochs, th, args.corpus, args.max_tokens)
                 for th in sorted({1, args.threads})), key=lambda r: r["seconds_per_epoch"])
        print(f"{model:<10} {k['seconds_per_epoch']:9.3f} {t['seconds_per_epoch']:10.3f} "
              f"{k['seconds_per_epoch'] / t['seconds_per_epoch']:6.2f} {k['perplexity']:8.2f} "
              f"{t['perplexity']:9.2f} {k['peak_rss_mb']:7.0f} {t['peak_rss_mb']:8.0f}", flush=True)


if __name__ == "__main__":
    main()
