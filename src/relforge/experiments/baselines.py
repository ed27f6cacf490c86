"""Non-neural baselines for the real forecast tasks: constant predictors and LightGBM on
relational aggregate features.

Features (:func:`relational_features`) are computed with DuckDB SQL from the database as seen at
each row's cut-off ``timestamp`` (rows with time <= timestamp only, so no leakage from the label
window ``(timestamp, timestamp + horizon]``):

- for every timed child table of the entity table (one FK hop): the number of child rows and the
  mean of each numerical column, over all history and over the last 365 days; plus days since the
  entity's latest child row;
- the entity's own numerical columns, and its datetime columns as age in days at the cut-off.

Baselines: ``constant`` (train positive rate / train mean), ``lightgbm`` (gradient-boosted trees,
fixed seed, single thread). Metrics: AUROC for binary tasks; R2 and MAE for regression.

Run ``python -m relforge.experiments.baselines [--db f1]`` to print a markdown table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge import realdata
from relforge.db.database import Database
from relforge.db.table import Stype
from relforge.db.task import Task, TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.metrics import mae, r2, roc_auc

WINDOWS_DAYS = (None, 365)  # None = all history


# --------------------------------------------------------------------------------------------- metrics

def task_metrics(task: Task, y_true, pred) -> dict[str, float]:
    """AUROC for binary tasks; R2 and MAE for regression."""
    if task.task_type == TaskType.binary_classification:
        return {"roc_auc": roc_auc(y_true, pred)}
    return {"r2": r2(y_true, pred), "mae": mae(y_true, pred)}


# --------------------------------------------------------------------------------------------- features

def _numeric_cols(t) -> list[str]:
    return [c for c in t.feature_cols if t.stypes.get(c) == Stype.numerical]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relational_features(db: Database, task: Task, frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate features for each (timestamp, entity) row of a forecast task frame.

    Parameters
    ----------
    db : the database (full; rows after each cut-off are excluded by the SQL).
    task : a forecast task of ``db``.
    frame : rows with ``task.time_col`` and ``task.entity_col``.

    Returns
    -------
    DataFrame aligned with ``frame`` (same length and order), float64 columns.
    """
    if task.kind != TaskKind.forecast:
        raise RelforgeError(f"task {task.name!r}: relational features need a forecast task")
    ent = db[task.entity_table]
    tcol, ecol = task.time_col, task.entity_col
    f = pd.DataFrame({"__row": np.arange(len(frame)), "__t": frame[tcol].to_numpy(), "__e": frame[ecol].to_numpy()})
    import duckdb  # lazy: a heavy optional engine, needed only to compute labels

    con = duckdb.connect()
    try:
        con.register("__frame", f)
        con.register("__ent", ent.df)
        # the entity's own columns
        sel = ["f.__row"]
        for c in ent.feature_cols:
            st = ent.stypes.get(c)
            if st == Stype.numerical:
                sel.append(f"CAST(e.{_q(c)} AS DOUBLE) AS {_q('self__' + c)}")
            elif st == Stype.datetime:
                sel.append(f"date_diff('day', e.{_q(c)}, f.__t) AS {_q('self__' + c + '__age_days')}")
        parts = [con.execute(
            f"SELECT {', '.join(sel)} FROM __frame f LEFT JOIN __ent e ON e.{_q(ent.pkey_col)} = f.__e ORDER BY f.__row"
        ).df()]
        for cname, child in db.tables.items():
            if child.time_col is None:
                continue
            for fk, parent in child.fkey_col_to_pkey_table.items():
                if parent != task.entity_table:
                    continue
                con.register("__child", child.df)
                num = _numeric_cols(child)
                for w in WINDOWS_DAYS:
                    pre = f"{cname}__{fk}__{'all' if w is None else f'{w}d'}"
                    aggs = [f"COUNT(c.{_q(child.time_col)}) AS {_q(pre + '__count')}"]
                    aggs += [f"AVG(CAST(c.{_q(x)} AS DOUBLE)) AS {_q(pre + '__' + x + '__mean')}" for x in num]
                    if w is None:
                        aggs.append(f"date_diff('day', MAX(c.{_q(child.time_col)}), ANY_VALUE(f.__t)) AS {_q(pre + '__days_since_last')}")
                    cond = "" if w is None else f" AND c.{_q(child.time_col)} > f.__t - INTERVAL '{int(w)} days'"
                    q = (f"SELECT f.__row, {', '.join(aggs)} FROM __frame f LEFT JOIN __child c "
                         f"ON c.{_q(fk)} = f.__e AND c.{_q(child.time_col)} <= f.__t{cond} "
                         f"GROUP BY f.__row ORDER BY f.__row")
                    parts.append(con.execute(q).df())
                con.unregister("__child")
    finally:
        con.close()
    out = pd.concat([p.drop(columns="__row") for p in parts], axis=1)
    return out.astype(np.float64)


# --------------------------------------------------------------------------------------------- baselines

def constant_baseline(task: Task) -> dict[str, np.ndarray]:
    """Predict the train positive rate (binary) or train mean (regression) everywhere."""
    m = float(task.splits["train"][task.target_col].mean())
    return {s: np.full(len(df), m) for s, df in task.splits.items()}


LIGHTGBM_INSTALL = "lightgbm is not installed (pip install 'relforge[baselines]')"


def fit_lightgbm(X_train: pd.DataFrame, y_train, X_eval: dict, task_type: str, *, seed: int = 0, n_estimators: int = 300,
                 learning_rate: float = 0.05, num_leaves: int = 31) -> dict:
    """Fit LightGBM on ``(X_train, y_train)`` and predict every frame of ``X_eval`` (name -> features):
    probabilities of the positive class for binary tasks, values for regression.

    Deterministic for a fixed seed (``deterministic=True``, one thread); pandas ``category`` columns
    are split as categories. Raises RelforgeError when lightgbm is not installed.
    """
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover - depends on the environment
        raise RelforgeError(LIGHTGBM_INSTALL) from None
    params = dict(n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
                  random_state=seed, deterministic=True, n_jobs=1, verbose=-1, min_child_samples=20,
                  subsample=0.8, subsample_freq=1, colsample_bytree=0.8)
    y = np.asarray(y_train)
    if TaskType(task_type) is TaskType.binary_classification:
        model = lgb.LGBMClassifier(**params).fit(X_train, y.astype(np.int64))
        return {s: model.predict_proba(x)[:, 1] for s, x in X_eval.items()}
    model = lgb.LGBMRegressor(**params).fit(X_train, y.astype(np.float64))
    return {s: model.predict(x) for s, x in X_eval.items()}


def lightgbm_baseline(db: Database, task: Task, *, seed: int = 0, n_estimators: int = 300,
                      learning_rate: float = 0.05, num_leaves: int = 31) -> dict[str, np.ndarray]:
    """LightGBM (:func:`fit_lightgbm`) on :func:`relational_features`, trained on the train split only.

    Notes
    -----
    No early stopping and no tuning on val; the val split is reported like test.
    """
    X = {s: relational_features(db, task, df) for s, df in task.splits.items()}
    y = task.splits["train"][task.target_col].to_numpy()
    return fit_lightgbm(X["train"], y, X, task.task_type, seed=seed, n_estimators=n_estimators,
                        learning_rate=learning_rate, num_leaves=num_leaves)


def evaluate_baselines(db: Database, tasks: list[Task], *, seed: int = 0, models=("constant", "lightgbm")) -> pd.DataFrame:
    """Long table: one row per (task, model, split, metric) with its value."""
    rows = []
    for task in tasks:
        if task.kind != TaskKind.forecast:
            continue
        for m in models:
            preds = constant_baseline(task) if m == "constant" else lightgbm_baseline(db, task, seed=seed)
            for split in ("train", "val", "test"):
                y = task.splits[split][task.target_col].to_numpy()
                for k, v in task_metrics(task, y, preds[split]).items():
                    rows.append(dict(db=db.name, task=task.name, model=m, split=split, metric=k, value=v))
    return pd.DataFrame(rows)


def markdown_table(res: pd.DataFrame) -> str:
    """Val/test metrics of :func:`evaluate_baselines` as a markdown table (one row per task and model)."""
    res = res[res["split"] != "train"]
    cols = [(m, s) for m in dict.fromkeys(res["metric"]) for s in ("val", "test")]
    lines = ["| db | task | model | " + " | ".join(f"{m} {s}" for m, s in cols) + " |",
             "| --- | --- | --- | " + " | ".join("---:" for _ in cols) + " |"]
    for (dbn, task, model), g in res.groupby(["db", "task", "model"], sort=False):
        val = {(r.metric, r.split): r.value for r in g.itertuples()}
        cells = [f"{val[k]:.3f}" if k in val else "" for k in cols]
        lines.append(f"| {dbn} | {task} | {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:  # pragma: no cover - thin script wrapper
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="f1", choices=realdata.list_databases())
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    db = realdata.load(a.db, a.data_dir)
    tasks = [realdata.get_task(a.db, n, db=db) for n in realdata.list_tasks(a.db)]
    res = evaluate_baselines(db, tasks, seed=a.seed)
    print(markdown_table(res))


if __name__ == "__main__":  # pragma: no cover
    main()
