"""How calibrated are a pretrained model's zero-shot regression predictions on the real tasks?

For each prior-benchmark run folder (``WORK/runs/<run>``) and each real regression forecast task
(F1 driver-position, MovieLens user-mean-rating, Chinook customer-spend), the model predicts every
row of the task's val and test splits with the contexts the benchmark scored it with (its recorded
contender's settings), and the script prints, in the labels' training-standardised units:

- ``r2`` and ``pearson_r2`` (what the benchmark reports), in percent;
- ``slope``: the least-squares slope of the labels on the predictions (1: calibrated spread; above
  1: predictions too flat, they should move more);
- ``offset``: mean prediction minus mean label (a level error costs R2 ``offset**2 / var(label)``);
- ``sd_ratio``: sd of the predictions over sd of the labels.

One JSON line per run, task and split. Reads the tokenized real stores ``bench/prior.py`` left in
``--cache``; tokenizes nothing.

    python scripts/zero_shot_calibration.py --work W --cache C relforge-new-s0-d7d70d relforge-default-s0-d7d70d
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REGRESSION = (("f1", "driver-position"), ("movielens", "user-mean-rating"), ("chinook", "customer-spend"))


def calibration(pred: np.ndarray, label: np.ndarray) -> dict:
    """R2, Pearson r2 (percent), slope of ``label`` on ``pred``, offset and sd ratio."""
    p, y = np.asarray(pred, float), np.asarray(label, float)
    r2 = 1.0 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    flat = np.ptp(p) == 0  # a constant prediction has no slope or correlation
    return dict(r2=round(100 * r2, 1), pearson_r2=None if flat else round(100 * float(np.corrcoef(p, y)[0, 1]) ** 2, 1),
                slope=None if flat else round(float(np.cov(p, y)[0, 1] / p.var(ddof=1)), 3),
                offset=round(float(p.mean() - y.mean()), 3), sd_ratio=round(float(p.std() / y.std()), 3))


def main(argv=None) -> int:
    import torch

    from relforge.errors import RelforgeError
    from relforge.experiments.prior import (PriorBenchConfig, cached_real_store, contender_config, eval_sampler,
                                            recorded_contender)
    from relforge.inference import run_model, sampler_batches
    from relforge.model import checkpoint
    from relforge.tokenize.tasks import resolve_task

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folder names under WORK/runs")
    ap.add_argument("--work", required=True, help="the prior benchmark's work folder")
    ap.add_argument("--cache", required=True, help="the prior benchmark's real-store cache")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = PriorBenchConfig()
    try:
        stores = {db: cached_real_store(a.cache, db, cfg.embedder) for db, _ in REGRESSION}
        for run in a.runs:
            path = Path(a.work) / "runs" / run / "model.safetensors"
            if not path.is_file():
                raise RelforgeError(f"no model {path}")
            model = checkpoint.load(path).model
            rcfg = contender_config(cfg, recorded_contender(path.parent))  # its contexts as it was benchmarked
            for db, task in REGRESSION:
                for split in ("val", "test"):
                    es = eval_sampler(resolve_task(stores[db], task, split, ctx_len=cfg.ctx_len), rcfg)
                    o = run_model(model, sampler_batches(es, es.num_batches))
                    print(json.dumps(dict(run=run, task=f"{db}/{task}", split=split, n=int(o.pred.size),
                                          **calibration(o.pred, o.target))), flush=True)
    except RelforgeError as e:
        print(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
