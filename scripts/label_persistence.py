"""Label persistence of forecast classification tasks: how much an entity's earlier labels say.

A zero-shot forecast context holds the entity's earlier rows of the same task whose windows have
closed, labels visible. For each binary forecast task this script ranks the test rows (entities
with at least one earlier cut-off) by ``p1``, the label at the entity's previous cut-off, and by
``pm``, the mean of all its earlier labels, and prints the AUROC of each (in percent; above 50:
the label persists, below: it alternates).

    python scripts/label_persistence.py                       # the real tasks in ../shared/data
    python scripts/label_persistence.py --synthetic v1 v2     # churn tasks of generated databases

``--synthetic``: churn tasks drawn by ``relforge.generate.tasks`` (churn kind only) for databases of
the named presets at the prior benchmark's sizes (seeds ``--seeds``), with all non-train rows as the test set.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REAL = (("f1", "driver-dnf"), ("f1", "driver-top3"), ("movielens", "user-churn"), ("chinook", "customer-churn"))


def persistence(task, test_splits=("test",)) -> dict | None:
    """``p1`` / ``pm`` AUROC (percent) of ``task`` over the rows of ``test_splits`` with a history."""
    fr = pd.concat([task.splits[s].assign(__split=s) for s in ("train", "val", "test") if s in task.splits])
    tc, ec, lab = task.time_col, task.entity_col, task.target_col
    fr = fr.sort_values([ec, tc])
    g = fr.groupby(ec)[lab]
    fr["p1"] = g.shift(1)
    fr["pm"] = g.transform(lambda x: x.shift(1).expanding().mean())
    te = fr[fr["__split"].isin(test_splits) & fr["pm"].notna()]
    if len(te) < 30 or te[lab].nunique() < 2:
        return None
    return {"rows": int(len(te)), "p1": round(100 * roc_auc_score(te[lab], te["p1"]), 1),
            "pm": round(100 * roc_auc_score(te[lab], te["pm"]), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", nargs="*", default=None, help="generator presets (v1, v2)")
    ap.add_argument("--seeds", type=int, nargs=2, default=(1000, 1012), help="database seeds [lo, hi)")
    a = ap.parse_args()
    if a.synthetic is None:
        from relforge import realdata

        for dbn, tn in REAL:
            print(json.dumps({"task": f"{dbn}/{tn}", **(persistence(realdata.get_task(dbn, tn)) or {})}))
        return
    from relforge.experiments.prior import SIZES, generator_config
    from relforge.generate.pipeline import generate_database
    from relforge.generate.tasks import ForecastTaskConfig, draw_forecast_tasks

    for preset in a.synthetic:
        cfg, _ = generator_config(preset, SIZES)
        pms = []
        for s in range(*a.seeds):
            db = generate_database(s, cfg)
            for t, _ in draw_forecast_tasks(db, s, ForecastTaskConfig(kinds=("churn",))):
                if not t.name.endswith("-churn"):
                    continue
                r = persistence(t, ("val", "test"))
                if r is not None:
                    pms.append(r["pm"])
                    print(json.dumps({"preset": preset, "db": s, "task": t.name, **r}))
        pm = np.array(pms)
        print(json.dumps({"preset": preset, "tasks": len(pm), "pm_median": float(np.median(pm)),
                          "anti_persistent_share": round(float(np.mean(pm < 50)), 3)}))


if __name__ == "__main__":
    main()
