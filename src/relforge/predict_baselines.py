"""How good is a prediction? Baselines next to the model's score on a user's own database.

When ``relforge predict`` scores its predictions (``--holdout-after`` / ``--holdout-frac`` for a
column, or a task file whose windows lie in the data), the same rows are also predicted by

- **constant**: the training rows' mean (regression) or positive rate (binary; AUROC 0.5);
- **LightGBM** trained on the labelled rows *before* the cut-off only:

  - autocomplete (:func:`autocomplete_baselines`): the row's own columns and its parents' columns
    through every foreign key (one hop; ``row+parents``). Numbers and booleans as they are,
    datetimes as days since 1970, strings with few distinct values as categories, other strings
    (free text) as their length. A parent in the same table (self-reference) that is itself a
    predicted row shows no target value.
  - forecast (:func:`forecast_baselines`): the entity's recent-history aggregates of
    :func:`relforge.experiments.baselines.relational_features` (child-row counts and means over all
    history and the last 365 days, days since the last child row, its own columns), computed from
    rows with time <= each row's cut-off.

:func:`format_line` prints them on one line beside the model (``model R2 0.16 | constant -0.00 |
LightGBM (row+parents) 0.48``); :func:`write_scores` writes them to ``<out>.scores.json``
(atomically). LightGBM is in the ``baselines`` extra; without it the line says so and the JSON
records the reason instead of a score.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from relforge.errors import RelforgeError

#: string columns with at most this many distinct values (and at most a tenth of the rows) are categories
MAX_CATEGORIES = 256
LABELS = {"constant": "constant", "lightgbm": "LightGBM"}


# ------------------------------------------------------------------------------------ metrics

def headline(task_type: str) -> str:
    """The metric printed first: ``roc_auc`` for binary tasks, ``r2`` for regression."""
    return "roc_auc" if task_type == "binary_classification" else "r2"


def score(task_type: str, y_true, pred) -> dict:
    """AUROC for binary tasks, R2 and MAE for regression, on the rows with a finite truth."""
    from relforge.metrics import mae, r2, roc_auc

    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(y)
    if not ok.any():
        return {}
    if task_type == "binary_classification":
        return {"roc_auc": roc_auc(y[ok] > 0, p[ok]), "n": int(ok.sum())}
    return {"r2": r2(y[ok], p[ok]), "mae": mae(y[ok], p[ok]), "n": int(ok.sum())}


# ------------------------------------------------------------------------------------ row features

def encode_columns(df: pd.DataFrame, stypes: dict, cols: list[str], prefix: str = "") -> pd.DataFrame:
    """Numeric features for LightGBM from ``cols`` of ``df`` (see the module docstring); same index."""
    from relforge.db.table import Stype

    out = {}
    for c in cols:
        s = df[c]
        st = stypes.get(c)
        name = f"{prefix}{c}"
        if pd.api.types.is_bool_dtype(s.dtype) or st == Stype.boolean:
            out[name] = s.map(lambda v: np.nan if pd.isna(v) else float(bool(v))).astype(np.float64)
        elif pd.api.types.is_datetime64_any_dtype(s.dtype) or st == Stype.datetime:
            t = pd.to_datetime(s, errors="coerce")
            if getattr(t.dt, "tz", None) is not None:
                t = t.dt.tz_convert(None)
            out[name] = (t - pd.Timestamp(0)).dt.total_seconds() / 86400.0
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[name] = pd.to_numeric(s, errors="coerce").astype(np.float64)
        else:
            s = s.astype("string")
            k = int(s.nunique(dropna=True))
            if k <= MAX_CATEGORIES and k <= max(10, len(s) // 10):
                out[name] = s.astype("category")
            else:  # free text: its length says something (a long answer, an empty note)
                out[name + "__len"] = s.str.len().astype("Float64").astype(np.float64)
    return pd.DataFrame(out, index=df.index)


def row_parent_features(db, table: str, target: str, hidden: np.ndarray) -> pd.DataFrame:
    """Features of every row of ``table`` (one row per table row, in order): its own columns except
    keys and ``target``, plus each parent's (``<fk>.<column>``) through every foreign key.

    ``hidden`` marks the rows whose target is being predicted: a parent row of the same table that
    is hidden contributes no target value.
    """
    t = db.tables[table]
    own = [c for c in t.df.columns if c not in t.key_cols and c != target]
    parts = [encode_columns(t.df, t.stypes, own).reset_index(drop=True)]
    for fk, pname in t.fkey_col_to_pkey_table.items():
        p = db.tables.get(pname)
        if p is None or p.pkey_col is None:
            continue
        pcols = [c for c in p.df.columns if c not in p.key_cols]
        if not pcols:
            continue
        pos = pd.Index(p.df[p.pkey_col]).get_indexer(t.df[fk])
        feats = encode_columns(p.df, p.stypes, pcols, prefix=f"{fk}.").reset_index(drop=True)
        got = feats.iloc[np.maximum(pos, 0)].reset_index(drop=True)
        miss = pos < 0
        col = f"{fk}.{target}"
        if pname == table and col in got.columns:  # self-reference: a predicted parent shows no target
            got[col] = got[col].where(~(np.asarray(hidden, bool)[np.maximum(pos, 0)] & ~miss))
        if miss.any():
            for c in got.columns:
                got[c] = got[c].where(~miss)
        parts.append(got)
    X = pd.concat(parts, axis=1)
    X.columns = [str(c) for c in X.columns]
    return X


# ------------------------------------------------------------------------------------ baselines

def _run(task_type: str, X: pd.DataFrame | None, y_train, X_test, y_test, what: str, seed: int) -> dict:
    """constant + LightGBM records for one task."""
    from relforge.experiments.baselines import LIGHTGBM_INSTALL, fit_lightgbm

    y_train = np.asarray(y_train, np.float64)
    res = {"constant": score(task_type, y_test, np.full(len(y_test), float(np.mean(y_train))))}
    res["constant"]["value"] = float(np.mean(y_train))
    if X is None or X.shape[1] == 0:
        res["lightgbm"] = {"error": "no feature columns", "features": what}
        return res
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        res["lightgbm"] = {"error": LIGHTGBM_INSTALL, "features": what}
        return res
    if task_type == "binary_classification" and len(np.unique(y_train > 0)) < 2:
        res["lightgbm"] = {"error": "the training rows hold one class only", "features": what}
        return res
    pred = fit_lightgbm(X, (y_train > 0).astype(int) if task_type == "binary_classification" else y_train,
                        {"test": X_test}, task_type, seed=seed)["test"]
    res["lightgbm"] = {**score(task_type, y_test, pred), "features": what}
    return res


def autocomplete_baselines(db, table: str, target: str, task_type: str, y: np.ndarray, train: np.ndarray,
                           test: np.ndarray, *, seed: int = 0) -> dict:
    """Constant and LightGBM (row + parents) scores on the ``test`` rows of ``table.target``.

    Parameters
    ----------
    y : the target as float per table row (NaN where unknown; 0/1 for binary).
    train : rows to learn from (labelled rows before the cut-off; never a test row).
    test : rows predicted and scored (their truth in ``y``).
    """
    train, test = np.asarray(train, bool), np.asarray(test, bool)
    if (train & test).any():
        raise RelforgeError("baselines: a row is both a training and a test row")
    train = train & np.isfinite(y)
    if not train.any():
        raise RelforgeError(f"baselines: no labelled training row of {table}.{target}")
    X = row_parent_features(db, table, target, test)
    return {"task_type": task_type, "n_train": int(train.sum()), "n_test": int(test.sum()),
            **_run(task_type, X[train].reset_index(drop=True), y[train], X[test].reset_index(drop=True), y[test],
                   "row+parents", seed)}


def forecast_baselines(db, task, truth: np.ndarray, *, seed: int = 0) -> dict:
    """Constant and LightGBM (recent-history aggregates) scores for a forecast task.

    ``task`` is a :class:`relforge.db.task.Task` (kind forecast) with a labelled ``train`` split
    (history cut-offs) and a ``test`` split (the rows predicted); ``truth`` is the test rows' labels.
    """
    from relforge.experiments.baselines import relational_features

    tr, te = task.splits["train"], task.splits["test"]
    y_train = tr[task.target_col].to_numpy(dtype=np.float64)
    X = X_test = None
    try:
        X = relational_features(db, task, tr)
        X_test = relational_features(db, task, te)
    except RelforgeError:
        raise
    except Exception as e:  # noqa: BLE001 - duckdb on odd user columns: report instead of failing predict
        return {"task_type": task.task_type, "n_train": len(tr), "n_test": len(te),
                "constant": score(task.task_type, truth, np.full(len(truth), float(np.nanmean(y_train)))),
                "lightgbm": {"error": f"features failed: {type(e).__name__}", "features": "history aggregates"}}
    ok = np.isfinite(y_train)
    return {"task_type": task.task_type, "n_train": int(ok.sum()), "n_test": len(te),
            **_run(task.task_type, X[ok].reset_index(drop=True), y_train[ok], X_test, truth, "history aggregates",
                   seed)}


# ------------------------------------------------------------------------------------ output

def _fmt_metric(name: str) -> str:
    return {"r2": "R2", "roc_auc": "AUROC", "mae": "MAE"}.get(name, name)


def format_line(model: dict, baselines: dict, task_type: str, label: str = "model") -> str:
    """``model R2 0.16 | constant -0.00 | LightGBM (row+parents) 0.48`` (headline metric)."""
    m = headline(task_type)
    parts = [f"{label} {_fmt_metric(m)} {model.get(m, float('nan')):.3f}"]
    for key in ("constant", "lightgbm"):
        b = baselines.get(key)
        if b is None:
            continue
        name = LABELS[key] + (f" ({b['features']})" if "features" in b else "")
        parts.append(f"{name} " + (f"{b[m]:.3f}" if m in b else f"n/a: {b.get('error', 'no score')}"))
    return " | ".join(parts)


def scores_path(out: str | Path) -> Path:
    """``<out>.scores.json`` beside the predictions file."""
    out = Path(out)
    return out.with_name(out.name + ".scores.json")


def write_scores(path: str | Path, record: dict) -> Path:
    """Write the scores record as JSON, atomically (NaN written as null)."""
    from relforge.db.io import atomic_file

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return float(v) if np.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        return v

    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(clean(record), indent=1, sort_keys=True) + "\n")
    return Path(path)
