"""Diagnostic: the prior benchmark's RT trained on a real task's own training split (in-domain).

How far can the benchmark's model get on one real forecast task when it is trained on that very
task, not on synthetic data? Trains the tiny RT at the benchmark's context and optimizer settings
on the task's training rows for ``--steps`` steps and scores the test split (R2 / Pearson r² or
AUROC, percent). One JSON line.

    python scripts/indomain_ceiling.py --cache out/prior_bench/real --task f1/driver-position \\
        --steps 1500 --history 0 [--rel-time] [--recent 3]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="the prior benchmark's real-store cache")
    ap.add_argument("--task", default="f1/driver-position")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--rel-time", action="store_true", help="the model's row-age input")
    ap.add_argument("--no-history", action="store_true",
                    help="no label history: training contexts drop it (history_dropout 1), evaluation shows none; "
                         "what the entity's own rows tell")
    ap.add_argument("--recent", type=int, default=0,
                    help="training and evaluation contexts: the seed and its parents show their latest children first")
    ap.add_argument("--history", type=int, default=None,
                    help="label-history cap in training and evaluation contexts (default: the sampler's; "
                         "docs/results.md's figures: 0, all labels)")
    a = ap.parse_args()

    import torch

    from relforge.experiments.prior import PriorBenchConfig, evaluate_real, real_stores
    from relforge.model import checkpoint
    from relforge.train.config import TrainConfig
    from relforge.train.data import training_sampler
    from relforge.train.loop import train

    torch.set_num_threads(1)
    cfg = PriorBenchConfig(tasks=(a.task,), autocomplete=(), recent=a.recent)  # one forecast task: one real store, no autocomplete suite
    if a.history is not None:
        cfg = cfg.replace(history=a.history)
    db, task = a.task.split("/")
    real = real_stores(cfg, Path(a.cache), log=lambda m: None)
    sampler = training_sampler(real[db], cfg.context(), batch_size=cfg.batch_size, seed=0, tasks=(task,),
                               history_dropout=1.0 if a.no_history else 0.0)
    tc = TrainConfig(preset=cfg.preset, batch_size=cfg.batch_size, ctx_len=cfg.ctx_len, steps=a.steps, lr=cfg.lr,
                     mask_rate=0.0, seed=0, threads=1, eval_every=0, progress=False, ckpt_every=a.steps,
                     log_every=max(1, a.steps // 10), rel_time=a.rel_time, history=cfg.history,
                     recent=cfg.recent)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        train(tc, sampler, Path(tmp), d_text=sampler.d_text, overwrite=True, quiet=True)
        model = checkpoint.load(Path(tmp) / "model.safetensors").model
    r = evaluate_real(model, real, cfg.replace(history=-1) if a.no_history else cfg)[a.task]
    print(json.dumps(dict(task=a.task, rel_time=a.rel_time, recent=cfg.recent, no_history=a.no_history, steps=a.steps, history=cfg.history, secs=round(time.time() - t0),
                          **{r["metric"]: round(100 * r["value"], 1)},
                          **({"pearson_r2": round(100 * r["pearson_r2"], 1)} if "pearson_r2" in r else {}))))


if __name__ == "__main__":
    main()
