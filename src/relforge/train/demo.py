"""The demo's training stage: tokenize a small corpus, pretrain the ``tiny`` RT, evaluate held-out.

Used by :mod:`relforge.demo` (step ``pretrain``) and usable alone. Everything is sized to run in
about a minute on 2 CPU cores.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from relforge.tokenize.pipeline import tokenize_source
from relforge.train.config import TrainConfig

#: demo training settings: tiny model, short contexts, a few hundred steps; shuffled column names, as
#: synthetic pretraining for zero-shot should (docs/results.md, "Shuffled column names")
DEMO_TRAIN = TrainConfig(preset="tiny", steps=200, batch_size=8, ctx_len=256, lr=2e-3, eval_every=50, eval_batches=2,
                         eval_batch_size=16, log_every=10, ckpt_every=200, progress=False, threads=1, name_shuffle=1.0)


def tokenize_dbs(db_paths, out: Path, embedder: str = "hash") -> list[Path]:
    """Tokenize each database folder into ``out/<name>`` (cell stores)."""
    out.mkdir(parents=True, exist_ok=True)
    dirs = []
    for p in db_paths:
        d = out / Path(p).name
        tokenize_source(p, d, embedder=embedder, overwrite=True)
        dirs.append(d)
    return dirs


def mean_eval(records, key: str):
    vals = [r[key] for r in records or () if r.get(key) is not None and np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def plot_training(run_dir: str | Path, png: str | Path) -> Path:
    """Training loss (per logged step) and mean held-out loss (per evaluation) of a run folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [json.loads(x) for x in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    tr = [(r["step"], r["loss_avg"]) for r in recs if r["kind"] == "train"]
    ev = {}
    for r in recs:
        if r["kind"] == "eval" and np.isfinite(r["loss"]):
            ev.setdefault(r["step"], []).append((r["loss"], r["baseline_loss"]))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if tr:
        ax.plot(*zip(*tr), label="train loss (masked cells)")
    if ev:
        steps = sorted(ev)
        ax.plot(steps, [np.mean([a for a, _ in ev[s]]) for s in steps], "o-", label="held-out loss (mean over tasks)")
        ax.axhline(np.mean([b for s in steps for _, b in ev[s]]), ls="--", c="gray", label="constant baseline")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)
