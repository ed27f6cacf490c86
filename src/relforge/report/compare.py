"""Side-by-side scores of two databases: SDMetrics-style similarity and a classifier two-sample test.

Two regimes, both always reported:

- **Matched** (tables, foreign keys and columns with the same names, as in two databases from one
  generator config, or a database and its synthetic copy), in the style of SDMetrics' multi-table
  quality report:

  * *cardinality shape similarity* per matched foreign key: 1 - KS statistic between the two
    child-count distributions;
  * *column shape similarity* per matched column: 1 - KS (numerical, datetime) or 1 - total
    variation distance (categorical, boolean);
  * *pair trends* per matched column pair of a table: 1 - |r_a - r_b| / 2 for numeric pairs
    (Pearson) and 1 - |s_a - s_b| for the others (Cramér's V / correlation ratio);
  * a classifier two-sample test (C2ST) per matched parent table, on its rows augmented with their
    child counts and the mean of each numeric child column.

- **Profile** (any two schemas, e.g. a generated database vs real Formula 1): 1 - KS between the
  two databases' sets of per-link, per-column and per-pair metric values (log dispersion, pooled
  normalised child counts, lag-1 autocorrelation, dependence strengths, missing rates), and a
  *structural* C2ST on parent rows described by schema-free features: normalised child count,
  and per child numeric column the parent's standardised mean of its children and their spread.

The classifier is an L2-regularised logistic regression on the features and their squares, fit by
Newton's method in numpy, scored by k-fold cross-validated AUROC (computed from ranks). AUROC 0.5
means the classifier cannot tell the databases apart; 1.0 means it always can.

References
----------
SDMetrics multi-table quality report (CardinalityShapeSimilarity, KSComplement, TVComplement,
CorrelationSimilarity, ContingencySimilarity); Lopez-Paz & Oquab (2017), "Revisiting classifier
two-sample tests".
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.metrics import child_counts, roc_auc
from relforge.report.metrics import _f, _sample_idx, as_float, column_kind, safe
from relforge.rng import child

#: Rows per database used by a classifier two-sample test.
C2ST_ROWS = 4000


# ----------------------------------------------------------------------------------------------
# distribution distances


def ks_complement(a, b) -> float:
    """1 - two-sample Kolmogorov-Smirnov statistic over finite values; NaN if a side is empty."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(1.0 - np.abs(fa - fb).max())


def tv_complement(a: pd.Series, b: pd.Series) -> float:
    """1 - total variation distance between the category frequencies of two series (NaN dropped)."""
    pa = pd.Series(a).astype("string").value_counts(normalize=True, dropna=True)
    pb = pd.Series(b).astype("string").value_counts(normalize=True, dropna=True)
    if len(pa) == 0 or len(pb) == 0:
        return float("nan")
    pa, pb = pa.align(pb, fill_value=0.0)
    return float(1.0 - 0.5 * np.abs(pa.to_numpy() - pb.to_numpy()).sum())


def _mean(v) -> float | None:
    a = np.asarray([x for x in v if x is not None and math.isfinite(x)], np.float64)
    return _f(a.mean()) if len(a) else None


# ----------------------------------------------------------------------------------------------
# matched (SDMetrics-style) scores


def cardinality_shape(db_a: Database, db_b: Database) -> dict:
    """1 - KS of the child-count distributions of every foreign key present in both databases."""
    ea, eb = set(db_a.edges()), set(db_b.edges())
    return {f"{p}->{c}.{f}": _f(ks_complement(child_counts(db_a, c, f), child_counts(db_b, c, f)))
            for p, c, f in sorted(ea & eb)}


def column_shapes(db_a: Database, db_b: Database) -> dict:
    """``"table.column": score`` for every feature/time column present in both databases."""
    out = {}
    for n in sorted(set(db_a.tables) & set(db_b.tables)):
        ta, tb = db_a[n], db_b[n]
        cols = [c for c in ta.feature_cols + ([ta.time_col] if ta.time_col else []) if c in tb.df.columns]
        for c in cols:
            k = column_kind(ta, c)
            if k == "num":
                s = ks_complement(as_float(ta.df[c]), as_float(tb.df[c]))
            elif k == "cat":
                s = tv_complement(ta.df[c], tb.df[c])
            else:
                continue
            out[f"{n}.{c}"] = _f(s)
    return out


def pair_trends(ma: dict, mb: dict) -> dict:
    """``"table.a|b": score`` for every within-table pair computed in both metrics dicts."""
    out = {}
    for n, pa in (ma.get("pairs") or {}).items():
        pb = (mb.get("pairs") or {}).get(n)
        if not isinstance(pa, dict) or not isinstance(pb, dict) or "pairs" not in pa or "pairs" not in pb:
            continue
        for key, a in pa["pairs"].items():
            b = pb["pairs"].get(key)
            if b is None or a.get("measure") != b.get("measure"):
                continue
            if a["measure"] == "spearman":
                va, vb = a.get("value"), b.get("value")
                s = None if va is None or vb is None else 1 - abs(va - vb) / 2
            else:
                va, vb = a.get("strength"), b.get("strength")
                s = None if va is None or vb is None else 1 - abs(va - vb)
            if s is not None:
                out[f"{n}.{key}"] = _f(s)
    return out


# ----------------------------------------------------------------------------------------------
# profile scores (any two schemas)


def _profile_values(m: dict) -> dict[str, list[float]]:
    links = m.get("links") or {}
    out: dict[str, list[float]] = {}
    out["log10_dispersion"] = [math.log10(v["dispersion"]) for v in links.values()
                               if isinstance(v, dict) and (v.get("dispersion") or 0) > 0]
    out["frac_zero_children"] = [v["frac_zero"] for v in links.values() if isinstance(v, dict) and v.get("frac_zero") is not None]
    out["gini_children"] = [v["gini"] for v in links.values() if isinstance(v, dict) and v.get("gini") is not None]
    out["lag1_autocorr"] = [c["lag1"] for t in (m.get("temporal") or {}).values() if isinstance(t, dict)
                            for c in (t.get("columns") or {}).values() if c.get("lag1") is not None]
    out["within_table_dependence"] = [a["strength"] for t in (m.get("pairs") or {}).values() if isinstance(t, dict)
                                      for a in (t.get("pairs") or {}).values() if a.get("strength") is not None]
    out["one_hop_dependence"] = [a["strength"] for t in (m.get("cross_1hop") or {}).values() if isinstance(t, dict)
                                 for a in (t.get("pairs") or {}).values() if a.get("strength") is not None]
    out["parent_effect"] = [v for t in (m.get("cross_1hop") or {}).values() if isinstance(t, dict)
                            for v in (t.get("parent_effect") or {}).values() if v is not None]
    out["two_hop_dependence"] = [a["strength"] for t in (m.get("cross_2hop") or {}).values() if isinstance(t, dict)
                                 for a in (t.get("pairs") or {}).values() if a.get("strength") is not None]
    miss = (m.get("missing") or {}).get("tables") or {}
    out["missing_rate"] = [v for t in miss.values() for v in (t.get("columns") or {}).values() if v is not None]
    return out


def profile_similarity(ma: dict, mb: dict) -> dict:
    """Per metric family: 1 - KS between the two databases' sets of values (schema-free)."""
    va, vb = _profile_values(ma), _profile_values(mb)
    return {k: _f(ks_complement(va[k], vb[k])) for k in va}


# ----------------------------------------------------------------------------------------------
# classifier two-sample test


def logistic_fit(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 25) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; returns weights with the bias last."""
    Xb = np.c_[X, np.ones(len(X))]
    w = np.zeros(Xb.shape[1])
    reg = np.full(Xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(Xb @ w, -30, 30)))
        g = Xb.T @ (p - y) + reg * w
        H = (Xb * (p * (1 - p))[:, None]).T @ Xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _prep(X: np.ndarray) -> np.ndarray:
    """Impute NaN by column median (0 if all NaN), standardise, append squares (clipped)."""
    X = np.asarray(X, np.float64).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> median NaN -> 0 below
        med = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0) if len(X) else np.zeros(X.shape[1])
    med = np.where(np.isfinite(med), med, 0.0)
    bad = ~np.isfinite(X)
    X[bad] = np.take(med, np.nonzero(bad)[1])
    sd = X.std(0)
    X = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    X = np.clip(X, -8, 8)
    return np.c_[X, X ** 2 / 8.0]


def c2st(Xa: np.ndarray, Xb: np.ndarray, *, seed: int = 0, folds: int = 5, max_rows: int = C2ST_ROWS,
         key: str = "c2st") -> dict:
    """Classifier two-sample test: cross-validated AUROC of telling rows of ``Xa`` from ``Xb``.

    Both sides are subsampled to the same size (at most ``max_rows``), so chance is AUROC 0.5.

    Returns
    -------
    ``{"auroc": mean over folds, "auroc_folds": [...], "n_per_side", "n_features"}``.
    """
    Xa, Xb = np.atleast_2d(np.asarray(Xa, np.float64)), np.atleast_2d(np.asarray(Xb, np.float64))
    n = min(len(Xa), len(Xb), max_rows)
    if n < 2 * folds or Xa.shape[1] == 0:
        return dict(auroc=None, n_per_side=int(n), n_features=int(Xa.shape[1]), note="too few rows or no features")
    ia = _sample_idx(len(Xa), n, seed, key, "a")
    ib = _sample_idx(len(Xb), n, seed, key, "b")
    X = _prep(np.r_[Xa[ia], Xb[ib]])
    y = np.r_[np.zeros(n), np.ones(n)]
    # Folds by distinct row: identical rows (e.g. a row copied into both databases) always share a
    # fold, so the classifier cannot score on memorised copies from the other side.
    # When one value dominates (e.g. a constant column on one side) grouping can leave a fold with
    # one class only; then fall back to plain stratified folds.
    _, group = np.unique(X, axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    frng = child(seed, key, "folds")
    fold = frng.permutation(group.max() + 1)[group] % folds
    if any(len(np.unique(y[fold == k])) < 2 for k in range(folds)):
        fold = np.r_[frng.permutation(n) % folds, frng.permutation(n) % folds]
    aucs = []
    for k in range(folds):
        te = fold == k
        if len(np.unique(y[te])) < 2 or len(np.unique(y[~te])) < 2:
            continue
        w = logistic_fit(X[~te], y[~te])
        aucs.append(roc_auc(y[te], np.c_[X[te], np.ones(te.sum())] @ w))
    return dict(auroc=_f(np.mean(aucs)) if aucs else None, auroc_folds=[_f(a) for a in aucs], n_per_side=int(n),
                n_features=int(Xa.shape[1]))


def _child_index(db: Database, child_name: str, fk: str) -> tuple[np.ndarray, np.ndarray]:
    """(parent row position of each child row (-1 if unmatched), child counts per parent row)."""
    t = db[child_name]
    parent = db[t.fkey_col_to_pkey_table[fk]]
    pos = pd.Index(parent.df[parent.pkey_col].to_numpy()).get_indexer(t.df[fk].to_numpy())
    cnt = np.bincount(pos[pos >= 0], minlength=len(parent))
    return pos, cnt


def structural_features(db: Database) -> np.ndarray:
    """Schema-free features of parent rows, one block of rows per (foreign key, child numeric column).

    Per parent row: child count / mean child count, its log1p, and for one child numeric column
    (standardised over the child table) the sqrt(k)-scaled mean of the parent's k children and their
    within-parent standard deviation (0 when k < 2). Links without numeric child columns contribute
    rows with those two features NaN (imputed later).
    """
    blocks = []
    for p, c, f in db.edges():
        pos, cnt = _child_index(db, c, f)
        m = cnt.mean() if len(cnt) else 0.0
        if len(cnt) == 0 or m <= 0:
            continue
        r = cnt / m
        ct = db[c]
        ncols = [col for col in ct.feature_cols if column_kind(ct, col) == "num"][:8]
        ok = pos >= 0
        if not ncols:
            blocks.append(np.c_[r, np.log1p(r), np.full(len(r), np.nan), np.full(len(r), np.nan)])
            continue
        for col in ncols:
            v = as_float(ct.df[col])
            mk = ok & np.isfinite(v)
            if not mk.any():
                blocks.append(np.c_[r, np.log1p(r), np.full(len(r), np.nan), np.full(len(r), np.nan)])
                continue
            sd = v[mk].std()
            z = (v[mk] - v[mk].mean()) / (sd if sd > 0 else 1.0)
            k = np.bincount(pos[mk], minlength=len(cnt)).astype(np.float64)
            s1 = np.bincount(pos[mk], weights=z, minlength=len(cnt))
            s2 = np.bincount(pos[mk], weights=z * z, minlength=len(cnt))
            kk = np.maximum(k, 1.0)
            mean = s1 / kk
            within = np.where(k >= 2, np.sqrt(np.maximum(s2 / kk - mean ** 2, 0.0) * kk / np.maximum(k - 1, 1)), 0.0)
            blocks.append(np.c_[r, np.log1p(r), mean * np.sqrt(k), within])
    return np.concatenate(blocks) if blocks else np.zeros((0, 4))


def table_features(db: Database, table: str, cols: list[str], child_links: list[tuple[str, str]],
                   child_cols: dict[tuple[str, str], list[str]], cats: dict[str, list[str]]) -> np.ndarray:
    """Rows of ``table``: its numeric ``cols``, one-hot ``cats`` levels, and per child link the log1p
    child count plus the mean of each listed child numeric column (NaN when no children)."""
    t = db[table]
    feats = [as_float(t.df[c]) for c in cols]
    for c, levels in cats.items():
        s = t.df[c].astype("string")
        feats += [(s == lv).fillna(False).to_numpy(np.float64) for lv in levels]
    for link in child_links:
        pos, cnt = _child_index(db, *link)
        feats.append(np.log1p(cnt.astype(np.float64)))
        ct = db[link[0]]
        for col in child_cols.get(link, []):
            v = as_float(ct.df[col])
            mk = (pos >= 0) & np.isfinite(v)
            k = np.bincount(pos[mk], minlength=len(t))
            s = np.bincount(pos[mk], weights=v[mk], minlength=len(t))
            feats.append(np.where(k > 0, s / np.maximum(k, 1), np.nan))
    return np.column_stack(feats) if feats else np.zeros((len(t), 0))


def matched_c2st(db_a: Database, db_b: Database, *, seed: int = 0) -> dict:
    """C2ST per table present in both databases, on shared columns plus shared child links."""
    out = {}
    for n in sorted(set(db_a.tables) & set(db_b.tables)):
        ta, tb = db_a[n], db_b[n]
        shared = [c for c in ta.feature_cols if c in tb.df.columns]
        nums = [c for c in shared if column_kind(ta, c) == "num"]
        cats = {}
        for c in shared:
            if column_kind(ta, c) == "cat":
                vc = pd.concat([ta.df[c], tb.df[c]]).astype("string").value_counts()
                cats[c] = list(vc.index[:10])
        links = sorted({(c, f) for p, c, f in db_a.edges() if p == n} & {(c, f) for p, c, f in db_b.edges() if p == n})
        ccols = {}
        for c, f in links:
            ca, cb = db_a[c], db_b[c]
            ccols[(c, f)] = [col for col in ca.feature_cols if col in cb.df.columns and column_kind(ca, col) == "num"][:8]
        out[n] = safe(lambda n=n, nums=nums, links=links, ccols=ccols, cats=cats: c2st(
            table_features(db_a, n, nums, links, ccols, cats), table_features(db_b, n, nums, links, ccols, cats),
            seed=seed, key=f"c2st-{n}"))
    return out


# ----------------------------------------------------------------------------------------------
# everything


def compare_databases(db_a: Database, db_b: Database, ma: dict, mb: dict, *, seed: int = 0) -> dict:
    """All comparison scores of ``db_a`` vs ``db_b`` given their :func:`database_metrics` dicts.

    Returns
    -------
    dict with ``matched`` (``cardinality_shape``, ``column_shapes``, ``pair_trends``, ``c2st``
    per table, their means and ``quality`` = mean of the three SDMetrics-style means, and
    ``privacy``: :func:`relforge.report.privacy.privacy_figures` of ``db_a``'s rows against
    ``db_b``'s, e.g. a synthetic copy against its source),
    ``profile`` (1 - KS per metric family, and their mean) and ``structural_c2st``.
    """
    card = safe(cardinality_shape, db_a, db_b)
    cols = safe(column_shapes, db_a, db_b)
    pairs = safe(pair_trends, ma, mb)

    def mean_of(d):
        return _mean(d.values()) if isinstance(d, dict) and "error" not in d else None

    means = dict(cardinality_shape=mean_of(card), column_shapes=mean_of(cols), pair_trends=mean_of(pairs))
    quality = _mean([v for v in means.values() if v is not None])
    shared_tables = sorted(set(db_a.tables) & set(db_b.tables))
    from relforge.report.privacy import privacy_figures

    matched = dict(shared_tables=shared_tables, cardinality_shape=card, column_shapes=cols, pair_trends=pairs,
                   means=means, quality=quality, c2st=safe(matched_c2st, db_a, db_b, seed=seed),
                   privacy=safe(privacy_figures, db_b, db_a, seed=seed))
    prof = safe(profile_similarity, ma, mb)
    profile = dict(scores=prof, mean=mean_of(prof))
    sc = safe(lambda: c2st(structural_features(db_a), structural_features(db_b), seed=seed, key="structural"))
    return dict(matched=matched, profile=profile, structural_c2st=sc)
