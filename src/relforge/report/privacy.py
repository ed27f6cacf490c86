"""Privacy figures of a synthetic database against its source (``relforge report GEN --vs SOURCE``).

Per table present in both, on the shared non-key columns that the matched scores use (numbers,
datetimes, categories, booleans; texts and keys are left out, so a resynthesised text cannot hide
a copied row):

- **exact-match share**: the share of synthetic rows equal to some source row on all those columns;
- **DCR** (distance to closest record, as SDMetrics' DCR metrics): per synthetic row, the smallest
  Gower distance to a source row (numbers and datetimes scaled by the source's range, categories 0/1,
  a null matching only a null), averaged over columns, so 0 = a copy and 1 = maximally far;
- the same two figures for a **holdout** of the source against the rest of the source, the baseline
  (with the synthetic rows' DCR against that same rest, ``dcr_median_vs_rest``, so both distances
  use equally many reference rows): a synthetic database "copies" no more than real rows resemble
  each other when its exact-match share is not above the holdout's and its DCR is not below it.

Rows are subsampled (:data:`SYNTH_ROWS` synthetic / holdout rows against at most :data:`REF_ROWS`
source rows); draws come from ``relforge.rng.child(seed, ...)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.report.metrics import _f, as_float, column_kind, safe
from relforge.rng import child

SYNTH_ROWS = 1000
REF_ROWS = 10_000


def _columns(ta, tb) -> tuple[list[str], list[str]]:
    shared = [c for c in ta.feature_cols + ([ta.time_col] if ta.time_col else []) if c in tb.df.columns]
    nums = [c for c in shared if column_kind(ta, c) == "num"]
    cats = [c for c in shared if column_kind(ta, c) == "cat"]
    return nums, cats


def _encode(df: pd.DataFrame, nums, cats, lo, span, vocab) -> tuple[np.ndarray, np.ndarray]:
    X = np.column_stack([(as_float(df[c]) - lo[i]) / span[i] for i, c in enumerate(nums)]) if nums else np.zeros((len(df), 0))
    C = np.column_stack([pd.Index(vocab[c]).get_indexer(df[c].astype("string").fillna("\x00<NA>").to_numpy())
                         for c in cats]) if cats else np.zeros((len(df), 0), np.int64)
    return X, C


def _dcr(Xa, Ca, Xb, Cb, chunk: int = 256) -> np.ndarray:
    """Per row of a: min over rows of b of the mean Gower distance."""
    d = Xa.shape[1] + Ca.shape[1]
    out = np.empty(len(Xa))
    for s in range(0, len(Xa), chunk):
        xa, ca = Xa[s:s + chunk], Ca[s:s + chunk]
        tot = np.zeros((len(xa), len(Xb)))
        for j in range(Xa.shape[1]):
            a, b = xa[:, j][:, None], Xb[:, j][None, :]
            na, nb = np.isnan(a), np.isnan(b)
            dist = np.abs(a - b)
            dist = np.where(na & nb, 0.0, np.where(na | nb, 1.0, np.minimum(dist, 1.0)))
            tot += dist
        for j in range(Ca.shape[1]):
            tot += ca[:, j][:, None] != Cb[:, j][None, :]
        out[s:s + chunk] = tot.min(1) / max(d, 1)
    return out


def table_privacy(real: pd.DataFrame, synth: pd.DataFrame, nums: list[str], cats: list[str], *, seed: int = 0,
                  key: str = "privacy") -> dict:
    """Exact-match share and DCR of ``synth`` vs ``real`` (and of a real holdout vs the rest)."""
    if not nums and not cats:
        return dict(note="no shared numeric or categorical columns")
    if len(real) < 2 or len(synth) == 0:
        return dict(note="too few rows")
    rng = child(seed, key)
    perm = rng.permutation(len(real))
    n_hold = min(SYNTH_ROWS, len(real) // 2)
    hold, rest = real.iloc[perm[:n_hold]], real.iloc[perm[n_hold:][:REF_ROWS]]
    ref = real.iloc[perm[:REF_ROWS]] if len(real) > REF_ROWS else real
    syn = synth.iloc[rng.permutation(len(synth))[:SYNTH_ROWS]]
    lo = np.array([np.nanmin(v) if np.isfinite(v).any() else 0.0 for v in (as_float(real[c]) for c in nums)])
    hi = np.array([np.nanmax(v) if np.isfinite(v).any() else 0.0 for v in (as_float(real[c]) for c in nums)])
    span = np.where(hi > lo, hi - lo, 1.0)
    vocab = {c: list(pd.concat([real[c], synth[c]]).astype("string").fillna("\x00<NA>").unique()) for c in cats}

    def row_keys(df):
        parts = [df[c].astype("string").fillna("\x00<NA>") for c in cats]
        parts += [pd.Series(np.round(as_float(df[c]), 9), index=df.index).astype("string").fillna("\x00<NA>") for c in nums]
        return pd.util.hash_pandas_object(pd.concat(parts, axis=1), index=False).to_numpy()

    real_keys = set(row_keys(real).tolist())
    rest_keys = set(row_keys(real.iloc[perm[n_hold:]]).tolist())
    exact = float(np.isin(row_keys(synth), list(real_keys)).mean())
    exact_hold = float(np.isin(row_keys(hold), list(rest_keys)).mean()) if n_hold else None
    Xs, Cs = _encode(syn, nums, cats, lo, span, vocab)
    Xr, Cr = _encode(ref, nums, cats, lo, span, vocab)
    d_syn = _dcr(Xs, Cs, Xr, Cr)
    out = dict(exact_match_share=_f(exact), dcr_median=_f(np.median(d_syn)), dcr_p05=_f(np.quantile(d_syn, 0.05)),
               rows_synth=int(len(synth)), columns=len(nums) + len(cats))
    if n_hold:
        Xh, Ch = _encode(hold, nums, cats, lo, span, vocab)
        Xt, Ct = _encode(rest, nums, cats, lo, span, vocab)
        d_hold = _dcr(Xh, Ch, Xt, Ct)
        # the synthetic rows against the holdout's reference rows too (same reference size as the baseline)
        out.update(holdout_exact_match_share=_f(exact_hold), holdout_dcr_median=_f(np.median(d_hold)),
                   dcr_median_vs_rest=_f(np.median(_dcr(Xs, Cs, Xt, Ct))))
    return out


def privacy_figures(real: Database, synth: Database, *, seed: int = 0) -> dict:
    """Per shared table :func:`table_privacy`, plus the row-weighted exact-match shares and the
    mean median DCRs over tables (synthetic vs source, holdout vs rest)."""
    per = {}
    for n in sorted(set(real.tables) & set(synth.tables)):
        ta, tb = real[n], synth[n]
        nums, cats = _columns(ta, tb)
        per[n] = safe(table_privacy, ta.df, tb.df, nums, cats, seed=seed, key=f"privacy-{n}")
    ok = {n: v for n, v in per.items() if isinstance(v, dict) and v.get("exact_match_share") is not None}
    w = np.array([v["rows_synth"] for v in ok.values()], np.float64)

    def wmean(k):
        vals = np.array([np.nan if v.get(k) is None else v[k] for v in ok.values()], np.float64)
        m = np.isfinite(vals)
        return _f((vals[m] * w[m]).sum() / w[m].sum()) if m.any() else None

    def mean(k):
        vals = [v[k] for v in ok.values() if v.get(k) is not None]
        return _f(np.mean(vals)) if vals else None

    return dict(tables=per, exact_match_share=wmean("exact_match_share"),
                holdout_exact_match_share=wmean("holdout_exact_match_share"),
                dcr_median=mean("dcr_median"), dcr_median_vs_rest=mean("dcr_median_vs_rest"),
                holdout_dcr_median=mean("holdout_dcr_median"))


__all__ = ["privacy_figures", "table_privacy"]
