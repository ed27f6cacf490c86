"""Where do true column names cost the prior? Score finished prior-benchmark models on the real
tasks twice: with the real databases' column names as they are, and with the names permuted in
every evaluation context (``relforge.train.masking.shuffle_names`` at rate 1: each context's
columns get names drawn from the batch's other real names; which cells share a column is
unchanged). ``--scope target`` permutes only the target column's name (the task's label),
``--scope other`` all names but it.

If a model pretrained with true names gains from permuted names at evaluation, what it learned
about names misleads it on real databases (the names' meanings differ between the synthetic and the
real world). If it loses, or stays, the cost comes from training (names used as a shortcut while
pretraining). A model pretrained with shuffled names is the control: it should not care.

    python scripts/names_at_eval.py --work out/prior_bench --cache out/prior_bench/real \\
        --contenders relforge-new,relforge-new-shuffled --seeds 0,1,2 [--json out/names_at_eval.json]

Needs the benchmark's run folders (``WORK/runs/<contender>-s<seed>/model.safetensors``) and its
tokenized real stores (``--cache``). Prints one line per (contender, seed, names) and a JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def score(model, st, cfg, shuffled: bool, scope: str = "all") -> float:
    from relforge.batch import to_torch
    from relforge.db.task import TaskType
    from relforge.inference import run_model, sampler_batches
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig
    from relforge.train.evaluate import score_predictions, _train_rate
    from relforge.train.masking import shuffle_names

    es = ContextSampler([st], SamplerConfig(ctx_len=cfg.ctx_len, max_bfs_width=cfg.max_bfs_width,
                                            batch_size=cfg.eval_batch_size, seed=0, shuffle=False, peers=cfg.peers))
    batches = sampler_batches(es, es.num_batches)
    if shuffled:
        batches = (shuffle_names(to_torch(b), 1.0, 0, i, scope) for i, b in enumerate(batches))
    o = run_model(model, batches, device="cpu")
    r = score_predictions(st.task_type, o.pred, o.target, model.config.huber_delta, _train_rate(es))
    return float(r["roc_auc" if st.task_type == TaskType.binary_classification else "r2"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="the prior benchmark's work folder (runs/)")
    ap.add_argument("--cache", required=True, help="its tokenized real stores (<db>-<embedder>/)")
    ap.add_argument("--contenders", default="relforge-new,relforge-new-shuffled")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--scope", default="all", choices=("all", "target", "other"),
                    help="which names are permuted: all, the target column's only, or all but it")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    import torch

    from relforge.errors import RelforgeError
    from relforge.experiments.prior import REAL_TASKS, PriorBenchConfig, cached_real_store, finished_model
    from relforge.tokenize.tasks import resolve_task

    torch.set_num_threads(1)
    cfg = PriorBenchConfig()
    try:
        stores = {db: cached_real_store(a.cache, db, cfg.embedder) for db in {d for d, _ in REAL_TASKS}}
        models = {(c, s): finished_model(a.work, c, s).model.eval()
                  for c in a.contenders.split(",") for s in (int(x) for x in a.seeds.split(","))}
    except RelforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    tasks = {f"{d}/{t}": resolve_task(stores[d], t, "test", ctx_len=cfg.ctx_len) for d, t in REAL_TASKS}
    rows = []
    for (c, s), model in models.items():
        for shuffled in (False, True):
            t0 = time.perf_counter()
            vals = {k: score(model, st, cfg, shuffled, a.scope) for k, st in tasks.items()}
            rows.append(dict(contender=c, seed=s, names="permuted" if shuffled else "real", tasks=vals,
                             mean=float(np.mean(list(vals.values())))))
            print(f"{c} s{s} {rows[-1]['names']}: " + ", ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in vals.items())
                  + f" | mean {100 * rows[-1]['mean']:.1f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    summary = {}
    for c in a.contenders.split(","):
        real = np.array([r["mean"] for r in rows if r["contender"] == c and r["names"] == "real"])
        perm = np.array([r["mean"] for r in rows if r["contender"] == c and r["names"] == "permuted"])
        d = 100 * (perm - real)
        summary[c] = dict(real=round(100 * real.mean(), 2), permuted=round(100 * perm.mean(), 2),
                          permuted_minus_real=round(float(d.mean()), 2),
                          sd=round(float(d.std(ddof=1)), 2) if len(d) > 1 else 0.0)
    out = dict(rows=rows, summary=summary, scope=a.scope, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
