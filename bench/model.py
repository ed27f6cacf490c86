#!/usr/bin/env python
"""Training-step throughput of relforge's RT vs relational-transformer 1.10.0 on this CPU.

Side by side, per model config (``paper``: 12 blocks, d_model 256, 8 heads, d_ff 1024; ``small``:
4 blocks, 128, 4 heads, 512), float32, batch 4 x 1024 tokens, 2 torch threads:

- anchor: ``/work/shared/anchors/rt_model_bench.py`` run as-is with the anchor venv
  (``--modes sdpa_train --dtypes float32``: the package's model with dense-mask SDPA, the only way
  it trains on CPU); it uses a real sampler batch when /tmp/relforge-anchors/rt-work/pre exists,
  else its synthetic batch;
- relforge: ``RelationalTransformer`` with the ``sparse`` attention path on a realistic synthetic
  relational batch (``relforge.model.testing.synthetic_batch``: rows of 10-15 cells, 1-5 parents,
  children, ~1 % padding) or, with ``--store``, a batch of E's context sampler on a tokenized DB.

relforge times its training step as: ``model(batch, targets_only=True)`` (the last block
only on the tokens the loss reads; same loss and gradients, tests/model/test_rt.py) and
``configure_optimizers`` (fused AdamW); ``--full-forward`` times the forward that predicts every cell.

Both time forward + backward + AdamW (lr 1e-4, wd 0.1): median of ``--steps`` steps after
``--warmup``; tokens/s counts all B x S positions; peak RSS is the child process's. Each run is a
fresh child process. The LAST line printed is one JSON object with the figures and ``ratio`` =
relforge tokens/s / anchor tokens/s (the smaller of the per-config ratios).

Usage: python bench/model.py [--models paper small] [--steps 3] [--no-anchor] [--store PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ANCHOR_PY = Path.home() / ".cache/relforge-anchors/venv/bin/python"
ANCHOR_SCRIPT = Path("/work/shared/anchors/rt_model_bench.py")
D_TEXT = 384


def relforge_batch(args):
    import torch

    if args.store:
        from relforge.tokenize.dataset import to_torch
        from relforge.train.data import training_sampler

        s = training_sampler(args.store, batch_size=args.batch_size, ctx_len=args.ctx_len, max_bfs_width=128, seed=0)
        return to_torch(s.batch(0, 0)), f"sampler:{args.store}"
    from relforge.model.testing import synthetic_batch

    b = synthetic_batch(args.batch_size, args.ctx_len, seed=0, d_text=D_TEXT)
    return b, "synthetic-relational"


def child(args) -> dict:
    """One relforge training run in this process; returns its JSON record."""
    import torch

    torch.set_num_threads(args.threads)
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer

    batch, source = relforge_batch(args)
    cfg = preset(args.child, d_text=int(batch["col_emb"].shape[1]), attention=args.attention)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = RelationalTransformer(cfg)
    opt = model.configure_optimizers(lr=1e-4, weight_decay=0.1)  # AdamW, all params decayed (fused kernel)
    times, losses = [], []
    for _ in range(args.warmup + args.steps):
        t = time.perf_counter()
        _, loss = model(batch, targets_only=not args.full_forward)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        losses.append(float(loss.detach()))
    med = statistics.median(times[args.warmup:])
    ntok = batch["node_idx"].numel()
    return {"impl": "relforge", "model": args.child, "attention": model.attention_impl(torch.device("cpu")),
            "params": model.get_num_params(), "targets_only": not args.full_forward, "batch": source, "batch_size": args.batch_size, "ctx_len": args.ctx_len,
            "nonpad_tokens": int((~batch["is_padding"]).sum()), "threads": torch.get_num_threads(),
            "first_step_s": round(times[0], 3), "step_s": round(med, 3),
            "step_s_runs": [round(x, 3) for x in times[args.warmup:]], "tokens_per_s": round(ntok / med, 1),
            "loss_first": round(losses[0], 5), "loss_last": round(losses[-1], 5),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_relforge(model: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", model, "--threads", str(args.threads),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
           "--ctx-len", str(args.ctx_len), "--attention", args.attention] + (["--store", args.store] if args.store else []) \
        + (["--full-forward"] if args.full_forward else [])
    return _run_json(cmd, {"impl": "relforge", "model": model}, args.timeout)


def run_anchor(model: str, args) -> dict:
    if not ANCHOR_PY.exists() or not ANCHOR_SCRIPT.exists():
        return {"impl": "rt-1.10.0", "model": model, "status": "error", "error": f"anchor venv/script not found ({ANCHOR_PY})"}
    cmd = [str(ANCHOR_PY), str(ANCHOR_SCRIPT), "--models", model, "--dtypes", "float32", "--modes", "sdpa_train",
           "--threads", str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--batch-size", str(args.batch_size), "--ctx-len", str(args.ctx_len)]
    rec = _run_json(cmd, {"impl": "rt-1.10.0", "model": model}, args.timeout, key='"model"', cwd=str(ANCHOR_SCRIPT.parent))
    rec["impl"] = "rt-1.10.0"
    return rec


def _run_json(cmd, base: dict, timeout: float, key: str = '{"impl"', cwd=None) -> dict:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "error": f"timeout after {timeout}s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{") and key in ln and '"phase"' not in ln]
    if not lines:
        return {**base, "status": "error", "error": " | ".join((p.stderr or p.stdout).strip().splitlines()[-3:])}
    return json.loads(lines[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["paper", "small"], choices=["paper", "small", "tiny"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--ctx-len", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attention", default="sparse", choices=["sparse", "dense"])
    ap.add_argument("--store", default=None, help="tokenized store/corpus: use a real sampler batch for relforge")
    ap.add_argument("--no-anchor", action="store_true", help="only time relforge")
    ap.add_argument("--full-forward", action="store_true",
                    help="relforge trains without targets_only (the last block on every token)")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    summary = {"bench": "model", "batch_size": args.batch_size, "ctx_len": args.ctx_len, "dtype": "float32",
               "threads": args.threads}
    ratios = []
    for m in args.models:
        anchor = None if args.no_anchor or m == "tiny" else run_anchor(m, args)
        if anchor is not None:
            print(json.dumps(anchor), flush=True)
        ours = run_relforge(m, args)
        print(json.dumps(ours), flush=True)
        s = {"relforge_tokens_per_s": ours.get("tokens_per_s"), "relforge_peak_rss_mb": ours.get("peak_rss_mb")}
        if anchor is not None:
            s.update(anchor_tokens_per_s=anchor.get("tokens_per_s"), anchor_peak_rss_mb=anchor.get("peak_rss_mb"))
            if anchor.get("tokens_per_s") and ours.get("tokens_per_s"):
                s["ratio"] = round(ours["tokens_per_s"] / anchor["tokens_per_s"], 2)
                s["memory_ratio"] = round(ours["peak_rss_mb"] / anchor["peak_rss_mb"], 2)
                ratios.append(s["ratio"])
        summary[m] = s
    summary["ratio"] = min(ratios) if ratios else None
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
