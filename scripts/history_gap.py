"""How far is a zero-shot model from the label-history heuristic, on the same rows?

For each real regression forecast task, score a finished prior-benchmark model and the history
heuristic of ``scripts/label_persistence.py`` (``0.7 x`` the mean of the entity's earlier labels
``+ 0.3 x`` the training mean) on the same test rows. Only labels whose windows have closed by a
row's cut-off count as history (what the model's context can hold). R2 in percent on the rows that
have such a history, and the model's R2 on all test rows.

    python scripts/history_gap.py --work out/prior_bench --cache out/prior_bench/real \\
        --contenders relforge-default,relforge-new --seeds 0,1,2 [--json out/history_gap.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TASKS = (("f1", "driver-position"), ("movielens", "user-mean-rating"), ("chinook", "customer-spend"))


def r2(y: np.ndarray, p: np.ndarray) -> float:
    """R2 in percent (:func:`relforge.metrics.r2`)."""
    from relforge.metrics import r2 as r2_

    return 100 * r2_(y, p)


def closed_history(task) -> np.ndarray:
    """Per test row (frame order): the shrunk mean of the entity's earlier labels whose windows
    closed by the row's cut-off (NaN without one)."""
    tc, ec, lab = task.time_col, task.entity_col, task.target_col
    fr = pd.concat([task.splits[s].assign(__split=s, __pos=np.arange(len(task.splits[s])))
                    for s in ("train", "val", "test")])
    train_mean = float(task.splits["train"][lab].astype(float).mean())
    out = np.full(len(task.splits["test"]), np.nan)
    hz = np.timedelta64(pd.Timedelta(task.horizon).value, "ns")
    for _, g in fr.groupby(ec):
        t = g[tc].to_numpy(dtype="datetime64[ns]")
        y = g[lab].to_numpy(float)
        for i in np.nonzero(g["__split"].to_numpy() == "test")[0]:
            ok = (t + hz) <= t[i]
            if ok.any():
                out[int(g["__pos"].iloc[i])] = 0.7 * y[ok].mean() + 0.3 * train_mean
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--contenders", default="relforge-default,relforge-new")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    import torch

    from relforge import realdata
    from relforge.errors import RelforgeError
    from relforge.experiments.prior import cached_real_store, finished_model
    from relforge.inference import predict_task
    from relforge.model.checkpoint import ContextSettings
    from relforge.tokenize.tasks import resolve_task

    torch.set_num_threads(1)
    try:
        stores = {db: cached_real_store(a.cache, db) for db, _ in TASKS}
        models = {f"{c}-s{s}": finished_model(a.work, c, s)
                  for c in a.contenders.split(",") for s in (int(x) for x in a.seeds.split(","))}
    except RelforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    rows = []
    for db, tn in TASKS:
        task = realdata.get_task(db, tn)
        hist = closed_history(task)
        y_raw = task.splits["test"][task.target_col].to_numpy(float)
        has = np.isfinite(hist)
        st = resolve_task(stores[db], tn, "test", ctx_len=256)
        rec = dict(task=f"{db}/{tn}", n=int(len(y_raw)), n_history=int(has.sum()),
                   heuristic_r2=round(r2(y_raw[has], hist[has]), 1), models={})
        for name, ck in models.items():
            o = predict_task(ck.model, st, ContextSettings(ctx_len=256, peers=ck.context.peers), batch_size=32)
            y, pr = o.target.astype(float), o.pred.astype(float)
            # calibration: the bias in the label's sd, the slope of the truth on the prediction and
            # the R2 an affine recalibration would reach (an upper bound: fitted on the test rows)
            sd = float(y.std()) or 1.0
            slope, icpt = np.polyfit(pr, y, 1) if pr.std() > 0 else (0.0, float(y.mean()))
            rec["models"][name] = dict(all=round(r2(y, pr), 1), history_rows=round(r2(y[has], pr[has]), 1),
                                       bias_sd=round(float((pr - y).mean()) / sd, 3), slope=round(float(slope), 2),
                                       affine_r2=round(r2(y, icpt + slope * pr), 1))
        rows.append(rec)
        print(json.dumps(rec), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
