"""Diagnostic: the prior benchmark's RT trained on a real task's own training split (in-domain).

How far can the benchmark's model get on one real forecast task when it is trained on that very
task, not on synthetic data? Trains the tiny RT at the benchmark's context and optimizer settings
on the task's training rows for ``--steps`` steps and scores the test split (R2 / Pearson r² or
AUROC, percent). One JSON line.

    python scripts/indomain_ceiling.py --cache out/prior_bench/real --task f1/driver-position \\
        --steps 1500 [--rel-time] [--history 0]
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
    ap.add_argument("--history", type=int, default=None, help="label-history cap at evaluation (default: the sampler's)")
    a = ap.parse_args()

    import torch

    from relforge.experiments.prior import PriorBenchConfig, real_stores
    from relforge.model import checkpoint
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig
    from relforge.tokenize.store import open_store
    from relforge.tokenize.tasks import resolve_task
    from relforge.train.config import TrainConfig
    from relforge.train.data import training_sampler
    from relforge.train.evaluate import evaluate_task
    from relforge.train.loop import train

    torch.set_num_threads(1)
    cfg = PriorBenchConfig()
    db, task = a.task.split("/")
    real = real_stores(cfg.replace(tasks=(a.task,)), Path(a.cache), log=lambda m: None)
    sampler = training_sampler(real[db], batch_size=cfg.batch_size, ctx_len=cfg.ctx_len,
                               max_bfs_width=cfg.max_bfs_width, seed=0, tasks=(task,))
    tc = TrainConfig(preset=cfg.preset, batch_size=cfg.batch_size, ctx_len=cfg.ctx_len, steps=a.steps, lr=cfg.lr,
                     mask_rate=0.0, seed=0, threads=1, eval_every=0, progress=False, ckpt_every=a.steps,
                     log_every=max(1, a.steps // 10), rel_time=a.rel_time)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        train(tc, sampler, Path(tmp), d_text=sampler.d_text, overwrite=True, quiet=True)
        model = checkpoint.load(Path(tmp) / "model.safetensors").model
    st = resolve_task(open_store(real[db]), task, "test", ctx_len=cfg.ctx_len)
    sc = SamplerConfig(ctx_len=cfg.ctx_len, max_bfs_width=cfg.max_bfs_width, batch_size=32, seed=0, shuffle=False,
                       peers=cfg.peers)
    if a.history is not None:
        sc = SamplerConfig(**{**sc.__dict__, "history": a.history})
    r = evaluate_task(model, ContextSampler([st], sc), st.task_type, max_batches=10**9)
    print(json.dumps(dict(task=a.task, rel_time=a.rel_time, steps=a.steps, history=sc.history, secs=round(time.time() - t0),
                          **{k: round(100 * v, 1) for k, v in r.items() if k in ("r2", "pearson_r2", "roc_auc")})))


if __name__ == "__main__":
    main()
