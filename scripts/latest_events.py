"""What an entity's latest events say about the real forecast labels, one feature at a time.

The context sampler draws an entity's children at random, so a driver with 300 results or a user
with 500 ratings rarely shows its latest ones; ``SamplerConfig.recent`` puts them first. This
script measures, on the test split of each real classification task, the AUROC of single features
of the entity's events up to the cut-off, used directly as the score (no model, no fitting):

- ``days_since_last``: days from the entity's last event to the cut-off (higher = more churn);
- ``last_k_mean``: the mean of a column over the entity's last ``k`` events (F1: qualifying
  position for top3, sign flipped; the share of results not finished for dnf);
- ``events_365d``: the number of events in the year before the cut-off (sign flipped for churn).

    python scripts/latest_events.py            # the real data in ../shared/data (or $RELFORGE_DATA)
    python scripts/latest_events.py --k 3

The last line is one JSON object: ``task -> feature -> AUROC``.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from relforge import realdata
from relforge.metrics import roc_auc


def _events_before(events: pd.DataFrame, key: str, time: str, rows: pd.DataFrame, ent: str) -> pd.DataFrame:
    """Every (task row, event of its entity at or before the row's cut-off) pair, newest first."""
    r = rows[["timestamp", ent]].reset_index(drop=True).rename_axis("row").reset_index()
    e = events.rename(columns={key: ent})
    m = r.merge(e, on=ent, how="left")
    m = m[m[time] <= m["timestamp"]]
    return m.sort_values(["row", time], ascending=[True, False])


def _features(m: pd.DataFrame, n: int, time: str, col: str | None, k: int) -> dict[str, np.ndarray]:
    g = m.groupby("row")
    last = g[time].max().reindex(range(n))
    cut = g["timestamp"].first().reindex(range(n))
    out = {"days_since_last": ((cut - last).dt.total_seconds() / 86400).fillna(1e5).to_numpy()}
    year = m[m[time] > m["timestamp"] - pd.Timedelta(days=365)]
    out["events_365d"] = year.groupby("row").size().reindex(range(n)).fillna(0).to_numpy()
    if col is not None:
        out["last_k_mean"] = g.head(k).groupby("row")[col].mean().reindex(range(n)).to_numpy()
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=4, help="events in last_k_mean")
    a = ap.parse_args(argv)
    f1, ml, ch = (realdata.load(n) for n in ("f1", "movielens", "chinook"))
    races = f1.tables["races"].df[["raceId", "date"]].rename(columns={"date": "race_date"})
    results = f1.tables["results"].df.merge(races, on="raceId")
    results["not_finished"] = (results["statusId"] != 1).astype(float)
    qual = f1.tables["qualifying"].df.merge(races, on="raceId")
    qual["minus_position"] = -qual["position"].astype(float)
    specs = [  # (db, task, events, entity key, time column, column for last_k_mean, sign of the churn-like features)
        ("f1", "driver-top3", qual[["driverId", "race_date", "minus_position"]], "driverId", "race_date", "minus_position", -1),
        ("f1", "driver-dnf", results[["driverId", "race_date", "not_finished"]], "driverId", "race_date", "not_finished", -1),
        ("movielens", "user-churn", ml.tables["ratings"].df[["userId", "timestamp"]].rename(columns={"timestamp": "t"}),
         "userId", "t", None, 1),
        ("chinook", "customer-churn", ch.tables["Invoice"].df[["CustomerId", "InvoiceDate"]], "CustomerId", "InvoiceDate",
         None, 1),
    ]
    dbs = {"f1": f1, "movielens": ml, "chinook": ch}
    res = {}
    for db, name, events, key, time, col, sign in specs:
        task = realdata.get_task(db, name, db=dbs[db])
        rows = task.splits["test"]
        y = rows[task.target_col].to_numpy() > 0
        feats = _features(_events_before(events, key, time, rows, task.entity_col), len(rows), time, col, a.k)
        scores = {"days_since_last": sign * feats["days_since_last"], "events_365d": -sign * feats["events_365d"]}
        if col is not None:
            scores[f"last_{a.k}_mean"] = np.nan_to_num(feats["last_k_mean"], nan=np.nanmean(feats["last_k_mean"]))
        res[f"{db}/{name}"] = {k: round(100 * roc_auc(y, v), 1) for k, v in scores.items()}
        print(f"{db}/{name:16s} test rows {len(rows):4d}  " + "  ".join(f"{k} {v:5.1f}" for k, v in res[f"{db}/{name}"].items()))
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
