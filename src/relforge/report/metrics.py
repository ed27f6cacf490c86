"""Fidelity and realism metrics of one relational database (the numbers behind ``relforge report``).

Every metric is computed with vectorized numpy/pandas (no per-row Python loops) and is robust to
NaN, constant, empty, datetime and text columns. :func:`database_metrics` wraps each metric family
and each table in :func:`safe`, so one failing metric is recorded as ``{"error": "..."}`` instead of
aborting the report.

Families (the sections of :func:`database_metrics`):

- ``schema``: tables, rows, columns, column types, foreign-key edges.
- ``links``: per foreign key, the child-count distribution (CCDF points for a log-log plot), its
  dispersion (variance / mean; 1 for Poisson-like assignment), zero fraction, Gini, quantiles.
- ``columns``: per table and column, the marginal (histogram or top categories) and missing rate.
- ``pairs``: within-table dependence (0 hops) of every column pair: |Spearman| (numeric pairs,
  Pearson kept too), Cramér's V (categorical pairs), correlation ratio eta (numeric by categorical).
- ``cross_1hop``: parent-child dependence across each foreign key: association of every child
  column with every parent column after joining, and the adjusted eta² of each child numeric column
  grouped by its parent row ("parent effect": the share of variance explained by which parent a row
  belongs to, corrected for the number of parents).
- ``cross_2hop``: the same association along child -> parent -> grandparent paths.
- ``temporal``: per timed table, lag-1 autocorrelation of every numeric feature column with rows
  sorted by time, its trend (Spearman with time), binned means over time, and the row volume per
  time bin with its own lag-1 autocorrelation.
- ``missing``: missing-value rate of every column (keys included).
- ``headline``: the medians that ``docs/results.md`` quotes.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.metrics import child_counts, dispersion, lag1_autocorr, rankdata
from relforge.rng import child

#: Row cap for the pairwise / cross-table association estimates (rows are sampled beyond it).
MAX_ROWS = 20_000
#: Column cap per table for the pairwise matrices (the first ones in frame order are used).
MAX_COLS = 24
#: Categorical levels kept for Cramér's V / eta (the rarest beyond it are merged into one level).
MAX_LEVELS = 20
#: Time bins for the temporal series.
TIME_BINS = 20
#: CCDF points kept per foreign key (log-spaced over the distinct counts).
CCDF_POINTS = 120


# ----------------------------------------------------------------------------------------------
# failure containment


def safe(fn: Callable, *args, **kwargs):
    """Call ``fn``; on any exception return ``{"error": "<Type>: <message>"}`` instead of raising."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the report must never crash on one metric
        return {"error": f"{type(e).__name__}: {e}"[:300]}


def _f(x) -> float | None:
    """Plain float for JSON; NaN/inf -> None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------------------------
# column encodings


def column_kind(t: Table, c: str) -> str | None:
    """``"num"`` (numerical, datetime), ``"cat"`` (categorical, boolean) or None (text: excluded)."""
    st = t.stypes.get(c)
    s = t.df[c]
    if st is None:  # a key column: categorical identity
        return "cat"
    if st in (Stype.numerical, Stype.datetime):
        return "num"
    if st in (Stype.categorical, Stype.boolean):
        return "cat"
    return None


def as_float(s: pd.Series) -> np.ndarray:
    """Numeric view of a column: numbers as float64, datetimes as ns, booleans as 0/1; else NaN."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        v = s.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        v[s.isna().to_numpy()] = np.nan
        return v
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    v = pd.to_numeric(s, errors="coerce")
    return v.to_numpy(dtype=np.float64, na_value=np.nan)


def as_codes(s: pd.Series, max_levels: int = MAX_LEVELS) -> np.ndarray:
    """Integer codes of a categorical view (-1 = missing); rare levels beyond ``max_levels`` merged.

    Levels are ranked by frequency (ties by first appearance), so code 0 is the most common level.
    """
    codes, _ = pd.factorize(s, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    valid = codes >= 0
    if not valid.any():
        return codes
    counts = np.bincount(codes[valid])
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    out = np.full_like(codes, -1)
    out[valid] = np.minimum(rank[codes[valid]], max_levels - 1)
    return out


def encode(t: Table, c: str, kind: str) -> np.ndarray:
    return as_float(t.df[c]) if kind == "num" else as_codes(t.df[c])


# ----------------------------------------------------------------------------------------------
# association measures (hand-checkable; see tests/report/test_metrics.py)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over rows where both are finite; NaN if < 3 rows or a constant side."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < 3:
        return float("nan")
    a, b = x[m] - x[m].mean(), y[m] - y[m].mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties) over rows where both are finite."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < 3:
        return float("nan")
    return pearson(rankdata(x[m]), rankdata(y[m]))


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Contingency table of two non-negative code arrays (rows where both codes >= 0; empty levels
    dropped)."""
    m = (a >= 0) & (b >= 0)
    a, b = a[m], b[m]
    if len(a) == 0:
        return np.zeros((0, 0))
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    if ka * kb > 4_000_000:  # sparse high-cardinality codes: compact them first
        a, b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
        ka, kb = int(a.max()) + 1, int(b.max()) + 1
    tab = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(np.float64)
    return tab[tab.sum(1) > 0][:, tab.sum(0) > 0]


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V = sqrt(chi² / (n (min(r, c) - 1))) of two categorical code arrays (no bias
    correction); NaN if either side has fewer than 2 observed levels."""
    tab = contingency(np.asarray(a), np.asarray(b))
    if tab.size == 0 or min(tab.shape) < 2:
        return float("nan")
    n = tab.sum()
    e = tab.sum(1, keepdims=True) * tab.sum(0, keepdims=True) / n
    chi2 = float(((tab - e) ** 2 / e).sum())
    return float(math.sqrt(chi2 / (n * (min(tab.shape) - 1))))


def _group_stats(codes: np.ndarray, y: np.ndarray):
    m = (codes >= 0) & np.isfinite(y)
    g, y = codes[m], y[m]
    if len(y) == 0:
        return None
    cnt = np.bincount(g)
    s = np.bincount(g, weights=y, minlength=len(cnt))
    nz = cnt > 0
    cnt, s = cnt[nz], s[nz]
    mu = y.mean()
    sst = float(((y - mu) ** 2).sum())
    ssb = float((cnt * (s / cnt - mu) ** 2).sum())
    return len(y), len(cnt), ssb, sst


def correlation_ratio(codes: np.ndarray, y: np.ndarray) -> float:
    """Correlation ratio eta = sqrt(SS_between / SS_total) of numeric ``y`` grouped by ``codes``."""
    st = _group_stats(np.asarray(codes), np.asarray(y, np.float64))
    if st is None or st[1] < 2 or st[3] <= 0:
        return float("nan")
    return float(math.sqrt(min(1.0, st[2] / st[3])))


def adjusted_eta2(codes: np.ndarray, y: np.ndarray) -> float:
    """Adjusted eta² = 1 - (1 - eta²)(n - 1)/(n - g): variance share explained by the groups,
    corrected for the number of groups ``g`` (≈0 when group membership is irrelevant)."""
    st = _group_stats(np.asarray(codes), np.asarray(y, np.float64))
    if st is None:
        return float("nan")
    n, g, ssb, sst = st
    if g < 2 or n - g <= 0 or sst <= 0:
        return float("nan")
    return float(1.0 - (1.0 - ssb / sst) * (n - 1) / (n - g))


def ranks_if_complete(kind: str, x: np.ndarray) -> np.ndarray | None:
    """Ranks of a numeric column without missing values (reused by every pair it enters), else None."""
    if kind != "num" or len(x) == 0 or not np.isfinite(x).all():
        return None
    return rankdata(x)


def association(ka: str, xa: np.ndarray, kb: str, xb: np.ndarray, ra: np.ndarray | None = None,
                rb: np.ndarray | None = None) -> dict:
    """Dependence of two encoded columns: ``{"measure", "value", "strength"}``.

    ``strength`` in [0, 1] is |Spearman| (num-num), Cramér's V (cat-cat) or eta (num-cat);
    ``value`` is signed Pearson for num-num and equals strength otherwise. ``ra``/``rb`` are
    optional precomputed ranks of complete numeric columns (see :func:`ranks_if_complete`).
    """
    if ka == "num" and kb == "num":
        r = pearson(xa, xb)
        rho = pearson(ra, rb) if ra is not None and rb is not None else spearman(xa, xb)
        return dict(measure="spearman", value=_f(r), strength=_f(abs(rho)) if np.isfinite(rho) else None,
                    spearman=_f(rho))
    if ka == "cat" and kb == "cat":
        v = cramers_v(xa, xb)
        return dict(measure="cramers_v", value=_f(v), strength=_f(v))
    codes, y = (xb, xa) if ka == "num" else (xa, xb)
    e = correlation_ratio(codes, y)
    return dict(measure="eta", value=_f(e), strength=_f(e))


# ----------------------------------------------------------------------------------------------
# schema, links, columns, missingness


def schema_metrics(db: Database) -> dict:
    """Tables (rows, columns, kind, keys, time column, stype counts) and foreign-key edges."""
    tables = {}
    stype_counts: dict[str, int] = {}
    for n, t in db.tables.items():
        st = {c: t.stypes[c].value for c in t.feature_cols if c in t.stypes}
        for v in st.values():
            stype_counts[v] = stype_counts.get(v, 0) + 1
        tables[n] = dict(rows=len(t), columns=int(t.df.shape[1]), features=len(t.feature_cols), kind=t.kind,
                         pkey=t.pkey_col, time_col=t.time_col, fkeys=dict(t.fkey_col_to_pkey_table), stypes=st)
    edges = [dict(parent=p, child=c, fk=f) for p, c, f in db.edges()]
    return dict(name=db.name, n_tables=len(db.tables), n_rows=int(db.n_rows),
                n_columns=int(sum(t.df.shape[1] for t in db.tables.values())),
                n_features=int(sum(len(t.feature_cols) for t in db.tables.values())),
                n_fkeys=len(edges), stype_counts=stype_counts, tables=tables, edges=edges)


def ccdf_points(counts: np.ndarray, max_points: int = CCDF_POINTS) -> tuple[list[float], list[float]]:
    """Empirical CCDF P(X >= x) at the distinct values x of ``counts`` (ascending, zero included);
    thinned to about ``max_points`` log-spaced points for large supports."""
    c = np.asarray(counts, np.float64)
    c = c[np.isfinite(c)]
    if len(c) == 0:
        return [], []
    xs, cnt = np.unique(c, return_counts=True)
    p = np.cumsum(cnt[::-1])[::-1] / len(c)
    if len(xs) > max_points:
        keep = np.unique(np.r_[0, np.round(np.geomspace(1, len(xs) - 1, max_points)).astype(int)])
        xs, p = xs[keep], p[keep]
    return [float(x) for x in xs], [float(q) for q in p]


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = all equal, -> 1 = all on one parent)."""
    x = np.sort(np.asarray(counts, np.float64))
    n, s = len(x), x.sum()
    if n == 0 or s <= 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * s))


def count_stats(counts: np.ndarray) -> dict:
    """Summary of one child-count distribution: mean, variance, dispersion, zero share, Gini, CCDF."""
    c = np.asarray(counts, np.float64)
    xs, p = ccdf_points(c)
    q = np.quantile(c, [0.5, 0.9, 0.99]) if len(c) else [np.nan] * 3
    return dict(n_parents=int(len(c)), n_children=int(c.sum()), mean=_f(c.mean() if len(c) else np.nan),
                var=_f(c.var() if len(c) else np.nan), dispersion=_f(dispersion(c)),
                max=_f(c.max() if len(c) else np.nan), frac_zero=_f((c == 0).mean() if len(c) else np.nan),
                p50=_f(q[0]), p90=_f(q[1]), p99=_f(q[2]), gini=_f(gini(c)), ccdf_x=xs, ccdf_p=p)


def link_metrics(db: Database) -> dict:
    """``"parent->child.fk": count_stats(...)`` for every foreign key (errors recorded per link)."""
    return {f"{p}->{c}.{f}": safe(lambda c=c, f=f: count_stats(child_counts(db, c, f))) for p, c, f in db.edges()}


def column_marginal(t: Table, c: str, bins: int = 30) -> dict:
    """Marginal of one column: type, missing rate, distinct count and a histogram or top levels."""
    s = t.df[c]
    n = len(s)
    miss = float(s.isna().mean()) if n else float("nan")
    st = t.stypes.get(c)
    out = dict(stype=st.value if st is not None else "key", missing=_f(miss), n_unique=int(s.nunique(dropna=True)))
    kind = column_kind(t, c)
    if kind == "num":
        v = as_float(s)
        v = v[np.isfinite(v)]
        if len(v):
            lo, hi = np.quantile(v, [0.005, 0.995])
            if hi <= lo:
                lo, hi = v.min() - 0.5, v.max() + 0.5
            h, e = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
            out.update(mean=_f(v.mean()), std=_f(v.std()), min=_f(v.min()), max=_f(v.max()),
                       q25=_f(np.quantile(v, 0.25)), q50=_f(np.median(v)), q75=_f(np.quantile(v, 0.75)),
                       hist=[int(x) for x in h], edges=[float(x) for x in e])
            if st == Stype.datetime:
                out.update(first=str(pd.Timestamp(int(v.min()))), last=str(pd.Timestamp(int(v.max()))))
    elif kind == "cat":
        vc = s.astype("string").value_counts(dropna=True) if not pd.api.types.is_bool_dtype(s.dtype) \
            else s.value_counts(dropna=True)
        tot = vc.sum()
        p = (vc / tot).to_numpy(np.float64) if tot else np.zeros(0)
        ent = float(-(p * np.log(p)).sum()) if len(p) else float("nan")
        out.update(top=[[str(k), int(v)] for k, v in vc.head(10).items()],
                   entropy_norm=_f(ent / math.log(len(p)) if len(p) > 1 else float("nan")))
    else:  # text
        ln = s.dropna().astype(str).str.len()
        out.update(mean_len=_f(ln.mean() if len(ln) else np.nan))
    return out


def column_metrics(db: Database) -> dict:
    """``table -> column -> column_marginal`` over feature columns (time column included)."""
    out = {}
    for n, t in db.tables.items():
        cols = t.feature_cols + ([t.time_col] if t.time_col else [])
        out[n] = {c: safe(column_marginal, t, c) for c in cols}
    return out


def missing_metrics(db: Database) -> dict:
    """Missing-value rate of every column (keys included), per table, with table and overall means."""
    tables, rates = {}, []
    for n, t in db.tables.items():
        r = t.df.isna().mean() if len(t.df) else pd.Series(0.0, index=t.df.columns)
        cols = {c: _f(v) for c, v in r.items()}
        rates += [v for c, v in cols.items() if v is not None and c in t.feature_cols]
        tables[n] = dict(columns=cols, mean=_f(r.mean() if len(r) else np.nan))
    rates_a = np.asarray(rates, np.float64)
    return dict(tables=tables, mean_feature_rate=_f(rates_a.mean() if len(rates_a) else np.nan),
                frac_features_with_missing=_f((rates_a > 0).mean() if len(rates_a) else np.nan))


# ----------------------------------------------------------------------------------------------
# dependence: within table, across one and two foreign keys


def _sample_idx(n: int, cap: int, seed: int, *keys) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(child(seed, "report", *keys).choice(n, size=cap, replace=False))


def _dep_cols(t: Table, max_cols: int) -> list[tuple[str, str]]:
    cols = t.feature_cols + ([t.time_col] if t.time_col else [])
    out = [(c, k) for c in cols if (k := column_kind(t, c)) is not None]
    return out[:max_cols]


def table_pairs(t: Table, name: str = "t", *, seed: int = 0, max_rows: int = MAX_ROWS,
                max_cols: int = MAX_COLS) -> dict:
    """Within-table (0-hop) dependence of every pair of non-text columns.

    Returns ``{"columns": [...], "kinds": [...], "strength": matrix (None on the diagonal/undefined),
    "pairs": {"a|b": association}, "n_rows": rows used}``.
    """
    cols = _dep_cols(t, max_cols)
    idx = _sample_idx(len(t), max_rows, seed, "pairs", name)
    sub = t._with_df(t.df.iloc[idx])
    enc = [encode(sub, c, k) for c, k in cols]
    rk = [ranks_if_complete(k, x) for (_, k), x in zip(cols, enc)]
    k = len(cols)
    mat: list[list] = [[None] * k for _ in range(k)]
    pairs = {}
    for i in range(k):
        for j in range(i + 1, k):
            a = safe(association, cols[i][1], enc[i], cols[j][1], enc[j], rk[i], rk[j])
            pairs[f"{cols[i][0]}|{cols[j][0]}"] = a
            mat[i][j] = mat[j][i] = a.get("strength")
    return dict(columns=[c for c, _ in cols], kinds=[kd for _, kd in cols], strength=mat, pairs=pairs,
                n_rows=int(len(idx)))


def _joined(db: Database, path: list[tuple[str, str]], rows: np.ndarray) -> tuple[np.ndarray, str]:
    """Follow ``path`` = [(table, fk_col), ...] from ``rows`` of the first table; return the row
    positions in the last referenced table (-1 where a key is missing) and that table's name."""
    pos = rows
    cur = path[0][0]
    for tname, fk in path:
        t = db[tname]
        parent_name = t.fkey_col_to_pkey_table[fk]
        parent = db[parent_name]
        fkv = t.df[fk].to_numpy()
        ok = pos >= 0
        nxt = np.full(len(pos), -1, dtype=np.int64)
        if ok.any():
            nxt[ok] = pd.Index(parent.df[parent.pkey_col].to_numpy()).get_indexer(fkv[pos[ok]])
        pos, cur = nxt, parent_name
    return pos, cur


def cross_dependence(db: Database, path: list[tuple[str, str]], *, seed: int = 0, max_rows: int = MAX_ROWS,
                     max_cols: int = MAX_COLS) -> dict:
    """Association between the columns of ``path[0][0]`` (the child) and of the table reached by
    following the foreign keys in ``path``; for one hop also the parent effect (adjusted eta² of each
    child numeric column grouped by the foreign key).

    Returns ``{"pairs": {"child_col|far_col": association}, "max", "mean" strengths, "top" pairs,
    "parent_effect": {col: adj_eta2}, "n_rows"}``.
    """
    child_name = path[0][0]
    ct = db[child_name]
    key = "/".join(f"{a}.{b}" for a, b in path)
    rows = _sample_idx(len(ct), max_rows, seed, "cross", key)
    far_pos, far_name = _joined(db, path, rows)
    ok = far_pos >= 0
    rows, far_pos = rows[ok], far_pos[ok]
    ft = db[far_name]
    csub, fsub = ct._with_df(ct.df.iloc[rows]), ft._with_df(ft.df.iloc[far_pos])
    ccols, fcols = _dep_cols(ct, max_cols), _dep_cols(ft, max_cols)
    fenc = [encode(fsub, c, k) for c, k in fcols]
    frk = [ranks_if_complete(k, x) for (_, k), x in zip(fcols, fenc)]
    pairs, strengths = {}, []
    effect = {}
    gcodes = as_codes(ct.df[path[0][1]].iloc[rows], max_levels=1 << 40) if len(path) == 1 else None
    for c, kc in ccols:
        xc = encode(csub, c, kc)
        rc = ranks_if_complete(kc, xc)
        for (f, kf), xf, rf in zip(fcols, fenc, frk):
            a = safe(association, kc, xc, kf, xf, rc, rf)
            pairs[f"{c}|{f}"] = a
            if a.get("strength") is not None:
                strengths.append((a["strength"], f"{c}|{f}"))
        if gcodes is not None and kc == "num":
            effect[c] = _f(adjusted_eta2(gcodes, xc))
    sv = np.array([s for s, _ in strengths]) if strengths else np.zeros(0)
    top = sorted(strengths, reverse=True)[:3]
    out = dict(child=child_name, far=far_name, pairs=pairs, n_rows=int(len(rows)),
               max=_f(sv.max() if len(sv) else np.nan), mean=_f(sv.mean() if len(sv) else np.nan),
               top=[[p, _f(s)] for s, p in top])
    if gcodes is not None:
        ev = np.array([v for v in effect.values() if v is not None])
        out.update(parent_effect=effect, parent_effect_median=_f(np.median(ev) if len(ev) else np.nan))
    return out


def two_hop_paths(db: Database, max_paths: int = 40) -> list[list[tuple[str, str]]]:
    """child -> parent -> grandparent foreign-key paths (self-loops skipped), at most ``max_paths``."""
    out = []
    for child_name, t in db.tables.items():
        for fk, parent in t.fkey_col_to_pkey_table.items():
            if parent == child_name:
                continue
            for fk2, grand in db[parent].fkey_col_to_pkey_table.items():
                if grand in (parent, child_name):
                    continue
                out.append([(child_name, fk), (parent, fk2)])
    return out[:max_paths]


def cross_metrics(db: Database, *, seed: int = 0, max_rows: int = MAX_ROWS) -> tuple[dict, dict]:
    """(1-hop dict keyed ``"child.fk->parent"``, 2-hop dict keyed ``"child.fk->parent.fk2->grand"``)."""
    one = {f"{c}.{f}->{p}": safe(cross_dependence, db, [(c, f)], seed=seed, max_rows=max_rows)
           for p, c, f in db.edges()}
    two = {}
    for path in two_hop_paths(db):
        (c, f), (p, f2) = path
        two[f"{c}.{f}->{p}.{f2}->{db[p].fkey_col_to_pkey_table[f2]}"] = safe(
            cross_dependence, db, path, seed=seed, max_rows=max_rows)
    return one, two


# ----------------------------------------------------------------------------------------------
# temporal


def temporal_table(t: Table, bins: int = TIME_BINS) -> dict:
    """Temporal profile of a timed table: per numeric/boolean feature column the lag-1
    autocorrelation (rows in time order), the trend (Spearman of value vs time) and the mean per
    time bin; plus the row volume per bin and its lag-1 autocorrelation."""
    tv = as_float(t.df[t.time_col])
    ok = np.isfinite(tv)
    out = dict(n_rows=int(len(t)), n_timed=int(ok.sum()), columns={})
    if ok.sum() < 2:
        return out
    lo, hi = float(tv[ok].min()), float(tv[ok].max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    b = np.full(len(tv), -1, dtype=np.int64)
    b[ok] = np.clip(np.searchsorted(edges, tv[ok], side="right") - 1, 0, bins - 1)
    vol = np.bincount(b[ok], minlength=bins).astype(np.float64)
    out.update(bin_edges=[str(pd.Timestamp(int(x))) for x in edges], volume=[int(x) for x in vol],
               volume_lag1=_f(lag1_autocorr(vol)))
    idx = np.argsort(np.where(ok, tv, np.inf), kind="stable")  # time order, once for every column
    for c in t.feature_cols:
        st = t.stypes.get(c)
        if st not in (Stype.numerical, Stype.boolean):
            continue
        v = as_float(t.df[c])
        m = ok & np.isfinite(v)
        if m.sum() < 3:
            continue
        bb = b[m]
        cnt = np.bincount(bb, minlength=bins)
        s = np.bincount(bb, weights=v[m], minlength=bins)
        means = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
        out["columns"][c] = dict(lag1=_f(lag1_autocorr(np.where(ok, v, np.nan)[idx])), trend=_f(spearman(tv, v)),
                                 bin_mean=[_f(x) for x in means])
    return out


def temporal_metrics(db: Database) -> dict:
    """``table -> temporal_table`` for every table with a time column."""
    return {n: safe(temporal_table, t) for n, t in db.tables.items() if t.time_col is not None}


# ----------------------------------------------------------------------------------------------
# everything


def _vals(d: dict, *path) -> list[float]:
    """Finite numbers found at ``path`` under each value of ``d`` (skipping error entries)."""
    out = []
    for v in d.values():
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v))
    return out


def _stats(v: list[float]) -> dict:
    a = np.asarray(v, np.float64)
    if len(a) == 0:
        return dict(n=0, median=None, min=None, max=None)
    return dict(n=int(len(a)), median=_f(np.median(a)), min=_f(a.min()), max=_f(a.max()))


def headline(m: dict) -> dict:
    """The summary numbers of a metrics dict (medians and ranges over links, tables and columns)."""
    out = {}
    sch = m.get("schema", {})
    for k in ("n_tables", "n_rows", "n_columns", "n_features", "n_fkeys"):
        out[k] = sch.get(k)
    links = m.get("links", {}) if isinstance(m.get("links"), dict) else {}
    disp = _vals(links, "dispersion")
    out["dispersion"] = _stats(disp)
    out["frac_links_overdispersed"] = _f(np.mean(np.asarray(disp) > 2.0)) if disp else None
    out["gini"] = _stats(_vals(links, "gini"))
    lag = [c["lag1"] for t in (m.get("temporal") or {}).values() if isinstance(t, dict)
           for c in (t.get("columns") or {}).values() if c.get("lag1") is not None]
    out["lag1"] = _stats(lag)
    out["abs_trend"] = _stats([abs(c["trend"]) for t in (m.get("temporal") or {}).values() if isinstance(t, dict)
                               for c in (t.get("columns") or {}).values() if c.get("trend") is not None])
    within = [s for t in (m.get("pairs") or {}).values() if isinstance(t, dict)
              for a in (t.get("pairs") or {}).values() if (s := a.get("strength")) is not None]
    out["within_table_dependence"] = _stats(within)
    one = m.get("cross_1hop") or {}
    out["one_hop_max_dependence"] = _stats(_vals(one, "max"))
    out["one_hop_parent_effect"] = _stats([v for d in one.values() if isinstance(d, dict)
                                           for v in (d.get("parent_effect") or {}).values() if v is not None])
    out["two_hop_max_dependence"] = _stats(_vals(m.get("cross_2hop") or {}, "max"))
    miss = m.get("missing") or {}
    out["missing_mean_rate"] = miss.get("mean_feature_rate")
    out["frac_features_with_missing"] = miss.get("frac_features_with_missing")
    return out


def database_metrics(db: Database, *, seed: int = 0, max_rows: int = MAX_ROWS) -> dict:
    """All report metrics of ``db`` as a JSON-ready dict (see the module docstring for sections).

    Parameters
    ----------
    db : the database (generated or real).
    seed : seed of the row subsampling used beyond ``max_rows`` rows (association estimates only).
    max_rows : row cap per association estimate.

    Notes
    -----
    Every section and every table/link inside it is computed under :func:`safe`; a failure shows up
    as an ``"error"`` entry in its place.
    """
    m: dict = {}
    m["schema"] = safe(schema_metrics, db)
    m["links"] = safe(link_metrics, db)
    m["columns"] = safe(column_metrics, db)
    m["missing"] = safe(missing_metrics, db)
    m["pairs"] = {n: safe(table_pairs, t, n, seed=seed, max_rows=max_rows) for n, t in db.tables.items()}
    cross = safe(cross_metrics, db, seed=seed, max_rows=max_rows)
    if isinstance(cross, tuple):
        m["cross_1hop"], m["cross_2hop"] = cross
    else:
        m["cross_1hop"] = m["cross_2hop"] = cross
    m["temporal"] = safe(temporal_metrics, db)
    m["headline"] = safe(headline, m)
    return m
