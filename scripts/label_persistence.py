"""Label persistence of forecast tasks: how much an entity's earlier labels say.

A zero-shot forecast context holds the entity's earlier rows of the same task whose windows have
closed, labels visible. For each forecast task this script scores the test rows (entities with
at least one earlier cut-off) by the entity's label history alone, in percent:

- binary tasks: AUROC of ``p1``, the label at the entity's previous cut-off, and of ``pm``, the
  mean of all its earlier labels (above 50: the label persists, below: it alternates);
- regression tasks: R2 of ``0.7 * pm + 0.3 * train mean`` (``r2_pm``), and ``drift``, the mean of
  (label - pm) in standard deviations of the training labels (how far labels move away from their
  history: real tasks ~0);
- recency: the same rankings from the mean of the entity's last ``K`` labels only (``pm3``,
  ``pm10``; regression: Pearson r² ``r_pm3``, ``r_pm10`` beside ``r_pm`` of all of them). On the
  real tasks the recent labels rank better than all of them (F1 driver-position: 57.8 vs 39.4).

    python scripts/label_persistence.py                            # the real tasks in ../shared/data
    python scripts/label_persistence.py --synthetic v1 v2          # churn tasks of generated databases
    python scripts/label_persistence.py --synthetic v2 --kinds mean any [--uniform]

``--synthetic``: tasks drawn by ``relforge.generate.tasks`` (``--kinds``, default churn) for
databases of the named presets at the prior benchmark's sizes (seeds ``--seeds``), with all
non-train rows as the test set; ``--uniform`` draws candidates in a uniform order (the task
generator before its entity-effect and drift weighting).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from relforge.db.task import TaskType

REAL = (("f1", "driver-dnf"), ("f1", "driver-top3"), ("movielens", "user-churn"), ("chinook", "customer-churn"),
        ("f1", "driver-position"), ("movielens", "user-mean-rating"), ("chinook", "customer-spend"))

RECENT = (3, 10)  # the last K labels


def persistence(task, test_splits=("test",)) -> dict | None:
    """``p1`` / ``pm`` AUROC (percent) of ``task`` over the rows of ``test_splits`` with a history."""
    fr = pd.concat([task.splits[s].assign(__split=s) for s in ("train", "val", "test") if s in task.splits])
    tc, ec, lab = task.time_col, task.entity_col, task.target_col
    fr = fr.sort_values([ec, tc])
    g = fr.groupby(ec)[lab]
    fr["p1"] = g.shift(1)
    fr["pm"] = g.transform(lambda x: x.shift(1).expanding().mean())
    for k in RECENT:
        fr[f"pm{k}"] = g.transform(lambda x: x.shift(1).rolling(k, min_periods=1).mean())
    te = fr[fr["__split"].isin(test_splits) & fr["pm"].notna()]
    if len(te) < 30 or te[lab].nunique() < 2:
        return None
    if task.task_type == TaskType.regression:  # R2 of the shrunk history mean, drift in training sd
        tr = fr[fr["__split"] == "train"][lab].astype(float)
        y, pm = te[lab].to_numpy(float), te["pm"].to_numpy(float)
        pred = 0.7 * pm + 0.3 * tr.mean()
        r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        pearson = lambda p: round(100 * float(np.corrcoef(y, p)[0, 1]) ** 2, 1)  # noqa: E731
        return {"rows": int(len(te)), "r2_pm": round(100 * r2, 1),
                "drift": round(float((y - pm).mean() / max(tr.std(), 1e-12)), 3), "r_pm": pearson(pm),
                **{f"r_pm{k}": pearson(te[f"pm{k}"].to_numpy(float)) for k in RECENT}}
    return {"rows": int(len(te)), "p1": round(100 * roc_auc_score(te[lab], te["p1"]), 1),
            "pm": round(100 * roc_auc_score(te[lab], te["pm"]), 1),
            **{f"pm{k}": round(100 * roc_auc_score(te[lab], te[f"pm{k}"]), 1) for k in RECENT}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", nargs="*", default=None, help="generator presets (v1, v2)")
    ap.add_argument("--seeds", type=int, nargs=2, default=(1000, 1012), help="database seeds [lo, hi)")
    ap.add_argument("--kinds", nargs="*", default=["churn"], help="synthetic task kinds (churn, any, count, sum, mean)")
    ap.add_argument("--uniform", action="store_true", help="uniform candidate order (no entity-effect / drift weighting)")
    a = ap.parse_args()
    if a.synthetic is None:
        from relforge import realdata

        for dbn, tn in REAL:
            print(json.dumps({"task": f"{dbn}/{tn}", **(persistence(realdata.get_task(dbn, tn)) or {})}))
        return
    from relforge.experiments.prior import SIZES, generator_config
    from relforge.generate.pipeline import generate_database
    from relforge.generate.tasks import ForecastTaskConfig, draw_forecast_tasks

    fcfg = ForecastTaskConfig(kinds=tuple(a.kinds), n_tasks=len(a.kinds))
    if a.uniform:
        fcfg = fcfg.replace(entity_signal=0.0, drift_scale=0.0)
    for preset in a.synthetic:
        cfg, _ = generator_config(preset, SIZES)
        by_kind = {}
        for s in range(*a.seeds):
            db = generate_database(s, cfg)
            for t, spec in draw_forecast_tasks(db, s, fcfg):
                r = persistence(t, ("val", "test"))
                if r is not None:
                    by_kind.setdefault(spec["kind"], []).append(r)
                    print(json.dumps({"preset": preset, "db": s, "task": t.name, "kind": spec["kind"], **r}))
        for kind, rs in by_kind.items():
            if "pm" in rs[0]:
                pm = np.array([r["pm"] for r in rs])
                print(json.dumps({"preset": preset, "kind": kind, "tasks": len(pm), "pm_median": float(np.median(pm)),
                                  "anti_persistent_share": round(float(np.mean(pm < 50)), 3)}))
            else:
                print(json.dumps({"preset": preset, "kind": kind, "tasks": len(rs),
                                  "r2_pm_median": float(np.median([r["r2_pm"] for r in rs])),
                                  "drift_median": float(np.median([r["drift"] for r in rs]))}))


if __name__ == "__main__":
    main()
