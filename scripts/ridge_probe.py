"""Ridge probe: how much a row's own columns say about one of its columns, from K example rows.

An in-context learner that sees K labelled rows of a table can at best fit those rows. For each
task ``<database>/<table>.<column>`` this script splits the table's rows at random 80/20, and for
each evaluated row fits a ridge regression on its other number / boolean / datetime columns
(standardised) to K rows drawn from the 80 % (``--k all``: to all of them), then scores the
predictions: R² against the 80 % mean for regression, AUROC for 0/1 columns. The ridge strength is
the best of a few, chosen on the evaluated rows, so the figures are an optimistic ceiling. It also
scores the mean of the K rows (R²), the information a model has about the level alone.

    python scripts/ridge_probe.py --dbs DBS_FOLDER --tasks-from EVAL_REPORT.json --k 16 64 256 all

``--tasks-from`` reads the task names of a ``relforge evaluate --out`` report; tasks can also be
given as arguments. Databases are read from the folders under ``--dbs`` (``relforge generate
--num-dbs`` output), matched by database name.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import relforge
from relforge.metrics import roc_auc

LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0)


def features(t, target: str) -> np.ndarray:
    """The table's other non-key number/boolean/datetime columns, standardised, NaN -> 0."""
    cols = []
    for c in t.feature_cols:
        if c == target:
            continue
        s = t.df[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            v = s.astype(float)
        elif pd.api.types.is_datetime64_any_dtype(s):
            v = s.astype("int64").astype(float)
        else:
            continue
        sd = v.std()
        if sd > 0:
            cols.append(((v - v.mean()) / sd).fillna(0.0).to_numpy())
    return np.column_stack(cols) if cols else np.zeros((len(t.df), 0))


def probe(X, y, ks, rng, n_eval=200):
    """{k: (ridge score, K-row-mean R² or None)} for one task."""
    idx = rng.permutation(len(y))
    ntr = int(0.8 * len(y))
    tr, te = idx[:ntr], idx[ntr:][:n_eval]
    is_clf = set(np.unique(y)) <= {0.0, 1.0}
    A = np.column_stack([X, np.ones(len(y))])
    reg = np.diag([1.0] * X.shape[1] + [0.0])  # the intercept is not shrunk
    out = {}
    for k in ks:
        draws = [tr if k == "all" else rng.choice(tr, size=min(int(k), len(tr)), replace=False) for _ in te]
        best, means = -np.inf, np.array([y[s].mean() for s in draws])
        for lam in LAMBDAS:
            pred = np.array([A[i] @ np.linalg.solve(A[s].T @ A[s] + lam * reg, A[s].T @ y[s]) for i, s in zip(te, draws)])
            sc = roc_auc(y[te], pred) if is_clf else 1 - ((y[te] - pred) ** 2).sum() / ((y[te] - y[tr].mean()) ** 2).sum()
            best = max(best, sc)
        mean_r2 = None if is_clf else 1 - ((y[te] - means) ** 2).sum() / ((y[te] - y[tr].mean()) ** 2).sum()
        out[k] = (best, mean_r2, is_clf)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tasks", nargs="*", help="<database>/<table>.<column>")
    ap.add_argument("--dbs", required=True, type=Path, help="folder of generated database folders")
    ap.add_argument("--tasks-from", type=Path, help="a `relforge evaluate --out` report")
    ap.add_argument("--k", nargs="+", default=["16", "64", "256", "all"], help="example rows per fit")
    ap.add_argument("--min-rows", type=int, default=300, help="skip tables with fewer rows")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    tasks = list(a.tasks)
    if a.tasks_from:
        tasks += [t["task"] for t in json.loads(a.tasks_from.read_text())["tasks"]]
    dbs = {}
    for d in sorted(p for p in a.dbs.iterdir() if p.is_dir()):
        db = relforge.load(d)
        dbs[db.name] = db
    rng = np.random.default_rng(a.seed)
    res = {k: [] for k in a.k}
    for task in dict.fromkeys(tasks):
        name, tc = task.split("/", 1)
        tab, col = tc.split(".", 1)
        t = dbs[name].tables[tab]
        keep = t.df[col].notna().to_numpy()
        if keep.sum() < a.min_rows:
            continue
        X, y = features(t, col)[keep], t.df[col].to_numpy(dtype=float)[keep]
        if X.shape[1] == 0:
            continue
        for k, r in probe(X, y, a.k, rng).items():
            res[k].append(r)
    for k, rs in res.items():
        reg = [(s, m) for s, m, c in rs if not c]
        clf = [s for s, _, c in rs if c]
        r2 = np.array([s for s, _ in reg])
        print(f"K={k}: {len(reg)} regression tasks: ridge R² median {np.median(r2):.3f} (> 0 on {np.mean(r2 > 0):.0%}), "
              f"K-row mean R² median {np.median([m for _, m in reg]):.3f}; {len(clf)} classification tasks: "
              f"ridge AUROC median {np.nanmedian(clf):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
