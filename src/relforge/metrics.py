"""Structural statistics of a database, shared by tests, benchmarks and the report.

- :func:`child_counts` / :func:`dispersion`: how many child rows each parent row has along a foreign
  key, and the variance-to-mean ratio of those counts (1 for Poisson-like uniform assignment; real
  Formula 1 shows ~102 for drivers -> results and ~671 for constructors -> results).
- :func:`lag1_autocorr`: lag-1 autocorrelation of a column with rows sorted by time.
- :func:`rankdata`, :func:`roc_auc`, :func:`r2`, :func:`mae`: the prediction scores every evaluation uses (model
  evaluation, baselines, transfer, predict, the realism report's two-sample test), in scikit-learn's
  argument order ``(y_true, prediction)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db.database import Database


def child_counts(db: Database, child: str, fk_col: str) -> np.ndarray:
    """Number of ``child`` rows referencing each row of the parent table (zeros included)."""
    t = db[child]
    parent = db[t.fkey_col_to_pkey_table[fk_col]]
    pk = parent.df[parent.pkey_col].to_numpy()
    fk = t.df[fk_col].dropna().to_numpy()
    codes = pd.Index(pk).get_indexer(fk)
    codes = codes[codes >= 0]
    return np.bincount(codes, minlength=len(pk))


def dispersion(counts: np.ndarray) -> float:
    """Variance-to-mean ratio (population variance) of child counts; NaN if the mean is 0."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.mean() if len(counts) else 0.0
    return float(counts.var() / m) if m > 0 else float("nan")


def link_dispersions(db: Database) -> dict[str, float]:
    """``"parent->child.fk": dispersion`` for every foreign key of ``db`` (self-references included)."""
    out = {}
    for child, t in db.tables.items():
        for c, p in t.fkey_col_to_pkey_table.items():
            out[f"{p}->{child}.{c}"] = dispersion(child_counts(db, child, c))
    return out


def lag1_autocorr(values, order=None) -> float:
    """Lag-1 autocorrelation of ``values`` (NaNs dropped) after sorting by ``order`` (e.g. time).

    Returns NaN for fewer than 3 values or a constant series.
    """
    v = np.asarray(values, dtype=np.float64)
    if order is not None:
        idx = np.argsort(np.asarray(order), kind="stable")
        v = v[idx]
    v = v[np.isfinite(v)]
    if len(v) < 3:
        return float("nan")
    a, b = v[:-1] - v[:-1].mean(), v[1:] - v[1:].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def activity_autocorrs(db: Database) -> dict[str, float]:
    """Lag-1 autocorrelation of every numeric feature column of every timed table, in time order."""
    out = {}
    for name, t in db.tables.items():
        if t.time_col is None:
            continue
        order = t.df[t.time_col].to_numpy()
        for c in t.feature_cols:
            s = t.df[c]
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                r = lag1_autocorr(s.to_numpy(dtype=np.float64, na_value=np.nan), order)
                if np.isfinite(r):
                    out[f"{name}.{c}"] = r
    return out


def rankdata(x) -> np.ndarray:
    """Ranks 1..n of ``x`` with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]] if len(xs) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(xs)]
    r = np.empty(len(x), np.float64)
    r[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(first) - 1]
    return r


def roc_auc(y_true, score) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) identity; ties count one half.
    NaN when only one class is present."""
    y = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(np.asarray(score, dtype=np.float64))
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def r2(y_true, pred) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot; NaN when ``y_true`` is constant or empty."""
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    if t.size == 0:
        return float("nan")
    ss_tot = float(((t - t.mean()) ** 2).sum())
    if ss_tot == 0:
        return float("nan")
    return 1.0 - float(((t - p) ** 2).sum()) / ss_tot


def mae(y_true, pred) -> float:
    """Mean absolute error."""
    return float(np.abs(np.asarray(y_true, np.float64) - np.asarray(pred, np.float64)).mean())
