"""Fit a database for ``relforge generate --like`` (fitted mode): summaries in, no rows kept.

:func:`fit_database` reads a :class:`~relforge.db.Database` once and returns a :class:`FittedModel`,
a plain, JSON-serialisable record of summaries. :func:`relforge.generate.fitted.sample_fitted` then
draws databases from it without the source. What is fitted:

- **marginals**, per column: null share; numbers and datetimes with at most
  :data:`MAX_DISCRETE` distinct values as a frequency table, others as :data:`QUANTILES` empirical
  quantiles (sampled by linear interpolation between them, so values are smoothed, never picked
  from the source rows); integer type, decimal places, day resolution; categories and booleans as
  frequencies of their real labels, where a label seen fewer than ``min_count`` times is dropped
  (its mass goes to the other labels); texts as a *style* (character-shape templates such as
  ``Aaaa Aaaaa`` or ``999-9999`` seen at least ``min_count`` times, character frequencies, token
  counts and a vocabulary of tokens seen at least ``min_count`` times), resynthesised, never copied.
- **dependence within a table**: a Gaussian copula, i.e. the correlation matrix of the columns'
  normal scores (rank -> uniform -> probit, ties broken at random, nulls ranked lowest so that
  missingness is part of the dependence).
- **links**: per foreign key, the distribution of children per parent row (so dispersion, share of
  childless parents and tail are the source's) and, as extra dimensions of the *parent's* copula,
  the normal score of its child count and of the mean normal score of up to
  :data:`MAX_CHILD_COLS` child columns over its children (a parent-level latent: how far the
  parent's children sit above or below the others). The child table's copula is fitted jointly with
  those parent dimensions on joined rows, so a child row is drawn conditional on its parent's latent
  (child count <-> parent attributes, child values <-> parent attributes, and within-parent
  clustering such as one user's ratings being close in time and level).
- **time**: a timed table's time column is one more copula dimension (its quantiles give volume
  over time and range; correlation with the parent latent gives clustering, hence lag-1
  autocorrelation once rows are sorted by time). When a child's time equals its parent's (F1
  results on race day) or never precedes it in the source, that rule is kept.

The row counts, the split timestamps and the key layout are kept; every cell is drawn anew.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtri

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.schema import parents_first
from relforge.rng import child

#: Quantile knots per continuous column.
QUANTILES = 513
#: Numbers/datetimes with at most this many distinct values are fitted as a frequency table.
MAX_DISCRETE = 64
#: Default k-anonymity threshold: labels, text templates and tokens seen fewer times are not kept.
MIN_COUNT = 5
#: Child columns aggregated into the parent's copula per link.
MAX_CHILD_COLS = 8
#: Parent columns a child table conditions on per foreign key (besides the link's own dimensions).
MAX_PARENT_COLS = 8
#: Shrinkage of every correlation matrix towards the identity (numerical stability).
SHRINK = 0.02
#: Longest text template kept (characters).
MAX_TEMPLATE = 80
#: Tokens kept per text vocabulary.
MAX_VOCAB = 2000

FORMAT = "relforge-fitted-1"


@dataclass
class FittedModel:
    """Summaries of a source database: enough to sample look-alikes, no source row.

    ``tables[name]`` holds ``n_rows``, ``pkey`` ({name, kind, start, dtype}), ``fkeys`` (per key:
    column, parent, null share, children-per-parent distribution, time rule, dtype), ``time_col``,
    ``columns`` (per column: marginal), ``dims`` (copula dimension names), ``corr`` (their
    correlation), ``parent_dims`` (per foreign key the parent dimensions it conditions on) and
    ``joint`` (correlation of own + parent dimensions). Everything is lists, dicts, numbers and
    strings: ``to_json`` / ``from_json`` round-trip it.
    """

    tables: dict[str, dict]
    order: list[str]
    name: str = "like"
    val_timestamp: str | None = None
    test_timestamp: str | None = None
    min_count: int = MIN_COUNT
    meta: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dict(format=FORMAT, **asdict(self)), allow_nan=False)

    @staticmethod
    def from_json(text: str) -> "FittedModel":
        d = json.loads(text)
        if d.pop("format", None) != FORMAT:
            raise RelforgeError("not a relforge fitted model (format tag missing or unknown)")
        return FittedModel(**d)

    def sample(self, seed: int = 0, n_rows: dict[str, int] | None = None):
        """A synthetic :class:`~relforge.db.Database` (see :func:`relforge.generate.fitted.sample_fitted`)."""
        from relforge.generate.fitted import sample_fitted

        return sample_fitted(self, seed, n_rows)

    @property
    def n_rows(self) -> dict[str, int]:
        return {n: int(t["n_rows"]) for n, t in self.tables.items()}


# ----------------------------------------------------------------------------------------------
# helpers


def _fl(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def normal_scores(key: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Probit of mid-ranks of ``key`` (float, NaN = null, ranked lowest), ties broken at random."""
    n = len(key)
    if n == 0:
        return np.zeros(0)
    k = np.where(np.isnan(key), -np.inf, key)
    order = np.lexsort((rng.random(n), k))
    rank = np.empty(n)
    rank[order] = np.arange(n)
    return ndtri((rank + 0.5) / n)


def _as_seconds(s: pd.Series) -> np.ndarray:
    """Datetimes as float seconds since the epoch (NaN for NaT)."""
    v = pd.to_datetime(s, errors="coerce")
    if getattr(v.dt, "tz", None) is not None:
        v = v.dt.tz_convert(None)
    out = v.astype("datetime64[ns]").to_numpy().astype("int64").astype(np.float64) / 1e9
    out[v.isna().to_numpy()] = np.nan
    return out


def _decimals(x: np.ndarray) -> int | None:
    for k in range(0, 5):
        if np.allclose(x, np.round(x, k), rtol=0, atol=1e-9 * max(1.0, float(np.abs(x).max(initial=0.0)))):
            return k
    return None


def label_threshold(min_count: int, n: int) -> int:
    """Occurrences a label (or discrete value) needs to be kept: ``min_count``, relaxed in small
    columns to one per 50 non-null values (a 25-row lookup table keeps its labels, a column of
    200+ values needs ``min_count``)."""
    return int(max(1, min(min_count, n // 50)))


def _discrete(values: list, counts: np.ndarray, min_count: int) -> tuple[list, list, np.ndarray]:
    """Keep values seen at least ``label_threshold`` times; most frequent first; probabilities over
    the whole column (the dropped mass is what is missing to 1)."""
    keep = counts >= label_threshold(min_count, int(counts.sum()))
    order = np.argsort(-counts, kind="stable")
    order = order[keep[order]]
    p = counts[order] / max(counts.sum(), 1)
    return [values[i] for i in order], [float(v) for v in p], order


# ----------------------------------------------------------------------------------------------
# marginals: fit one column -> (marginal dict, ordering key for the copula or None)


def fit_column(s: pd.Series, stype: Stype, min_count: int, rng: np.random.Generator) -> tuple[dict, np.ndarray | None]:
    n = len(s)
    isna = s.isna().to_numpy()
    null = float(isna.mean()) if n else 0.0
    base = dict(name=str(s.name), stype=Stype(stype).value, dtype=str(s.dtype), null=null)
    nn = s[~isna]
    if len(nn) == 0:
        return dict(base, kind="empty", null=1.0), None
    if stype == Stype.text:
        return dict(base, kind="text", text=fit_text(nn.astype(str), min_count)), None
    if stype in (Stype.numerical, Stype.datetime):
        if stype == Stype.datetime:
            x = _as_seconds(s)
            ok = ~np.isnan(x)
            day = bool(np.all(np.mod(x[ok], 86400.0) == 0))
            res = next((r for r in (86400.0, 3600.0, 60.0, 1.0) if np.all(np.mod(x[ok], r) == 0)), 0.0)
            extra = dict(date_only=day, resolution=res, tz=str(getattr(pd.to_datetime(nn).dt, "tz", None) or ""))
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            x = np.where(np.isfinite(x), x, np.nan)
            ok = ~np.isnan(x)
            extra = dict(integer=bool(pd.api.types.is_integer_dtype(s.dtype)),
                         scale=_decimals(x[ok]) if ok.any() else None)
        xs = x[ok]
        if len(xs) == 0:
            return dict(base, kind="empty", null=1.0), None
        vals, cnt = np.unique(xs, return_counts=True)
        null = float(1 - ok.mean())
        if len(vals) <= MAX_DISCRETE:
            kept, probs, order = _discrete(list(vals), cnt, min_count)
            if kept and sum(probs) >= 0.9:
                srt = np.argsort(kept)  # ordinal: ascending, as the copula ranks them
                kept = [kept[i] for i in srt]
                probs = [probs[i] / sum(probs) for i in srt]
                # copula key: rank by value (ordinal), dropped values ranked where they fall
                return dict(base, kind="discrete", null=null, values=[_fl(v) for v in kept], probs=probs,
                            ordinal=True, **extra), x
        # at most one knot per min_count values: a small column's quantile table does not list its values
        k = int(np.clip(len(xs) // max(int(min_count), 1) + 1, 2, QUANTILES))
        q = np.quantile(xs, np.linspace(0, 1, k)) if len(xs) > 1 else np.repeat(xs, 2)
        return dict(base, kind="quantile", null=null, q=[_fl(v) for v in q], **extra), x
    # categorical / boolean
    if stype == Stype.boolean or pd.api.types.is_bool_dtype(nn.dtype):
        v = nn.astype(bool).to_numpy()
        vals, cnt = np.array([False, True]), np.array([(~v).sum(), v.sum()])
        keep = cnt > 0
        vals, cnt = vals[keep], cnt[keep]
        order = np.argsort(-cnt, kind="stable")
        key = np.full(n, np.nan)
        rank_of = {bool(vals[i]): r for r, i in enumerate(order)}
        key[~isna] = np.where(v, rank_of.get(True, 0), rank_of.get(False, 0))
        return dict(base, kind="cat", values=[bool(vals[i]) for i in order],
                    probs=[float(cnt[i] / cnt.sum()) for i in order]), key  # codes: most frequent first
    numeric = pd.api.types.is_numeric_dtype(nn.dtype)
    vc = nn.value_counts()
    labels = vc.index.to_numpy()
    kept, probs, order = _discrete(list(labels), vc.to_numpy(), min_count)
    if numeric:
        kept = [int(v) if float(v).is_integer() else float(v) for v in kept]
    else:
        kept = [str(v) for v in kept]
    # label -> code (most frequent first, dropped labels last), via the value_counts index positions
    pos = pd.Index(labels).get_indexer(nn.to_numpy())
    code_of_label = np.full(len(labels), len(kept), dtype=np.float64)
    code_of_label[order] = np.arange(len(kept))
    key = np.full(n, np.nan)
    key[~isna] = code_of_label[pos]
    out = dict(base, kind="cat", values=kept, probs=probs, dropped=int(len(labels) - len(kept)), synth=None)
    if len(kept) < len(labels):
        # the rare labels' mass goes to new labels in their style (never the source's)
        rare = np.setdiff1d(np.arange(len(labels)), order)
        rc = np.sort(vc.to_numpy()[rare])[::-1][:1000]
        lab = pd.Series([str(labels[i]) for i in rare[:5000]], dtype=object)
        start = int(np.nanmax(pd.to_numeric(pd.Series(labels), errors="coerce"))) + 1 if numeric else 0
        out["synth"] = dict(p=[float(c / rc.sum()) for c in rc], mass=float(1 - sum(probs)), start=start,
                            numeric=bool(numeric), text=None if numeric else fit_text(lab, 1, shapes_only=True))
    return out, key




def _shapes(s: pd.Series) -> pd.Series:
    return s.str.replace(r"[A-Z]", "A", regex=True).str.replace(r"[a-z]", "a", regex=True).str.replace(
        r"[0-9]", "9", regex=True).str.replace(r"[^\x20-\x7e]", "a", regex=True)


def fit_text(s: pd.Series, min_count: int, *, shapes_only: bool = False) -> dict:
    """Style of a text column: frequent shape templates, character and token statistics.

    ``shapes_only``: no vocabulary (every token is a pseudo-word), templates kept whatever their count.
    """
    s = s.astype(str)
    shapes = _shapes(s.str.slice(0, MAX_TEMPLATE))
    vc = shapes.value_counts()
    vc = vc[vc >= (1 if shapes_only else min_count)]
    coverage = float(vc.sum() / max(len(s), 1))
    chars = pd.Series(list("".join(s.iloc[:20000].tolist()))) if len(s) else pd.Series([], dtype=str)
    def freq(pattern):
        c = chars[chars.str.match(pattern)] if len(chars) else chars
        v = c.value_counts()
        return dict(chars=list(v.index.astype(str)), p=[float(x) for x in (v / max(v.sum(), 1)).to_numpy()]) if len(v) else None
    tokens = s.str.split()
    ntok = tokens.str.len().fillna(0).astype(int).to_numpy()
    flat = pd.Series([w for ws in tokens.iloc[:50000].tolist() for w in ws], dtype=object)
    tv = flat.value_counts()
    rare_share = float(tv[tv < min_count].sum() / max(tv.sum(), 1))
    tv = tv[tv >= min_count].iloc[:MAX_VOCAB] if not shapes_only else tv.iloc[:0]
    wlen = flat.str.len().to_numpy() if len(flat) else np.array([5])
    nt_vals, nt_cnt = np.unique(np.clip(ntok, 0, 50), return_counts=True)
    wl_vals, wl_cnt = np.unique(np.clip(wlen, 1, 30), return_counts=True)
    cap = float(flat.str.match(r"^[A-Z]").mean()) if len(flat) else 0.0
    return dict(
        templates=list(vc.index.astype(str)), template_p=[float(x) for x in (vc / max(vc.sum(), 1)).to_numpy()],
        coverage=coverage, upper=freq(r"[A-Z]"), lower=freq(r"[a-z]"), digit=freq(r"[0-9]"),
        ntok=[int(v) for v in nt_vals], ntok_p=[float(c / nt_cnt.sum()) for c in nt_cnt],
        wlen=[int(v) for v in wl_vals], wlen_p=[float(c / wl_cnt.sum()) for c in wl_cnt],
        vocab=[str(w) for w in tv.index], vocab_p=[float(x) for x in (tv / max(tv.sum(), 1)).to_numpy()],
        rare_share=rare_share if len(tv) else 1.0, capital=cap,
        max_len=int(s.str.len().max()) if len(s) else 0,
        unique=bool(s.is_unique and len(s) > 1))


# ----------------------------------------------------------------------------------------------
# copula


def _corr(Z: np.ndarray) -> np.ndarray:
    d = Z.shape[1]
    if d == 0:
        return np.zeros((0, 0))
    if len(Z) < 3:
        return np.eye(d)
    sd = Z.std(0)
    Zc = (Z - Z.mean(0)) / np.where(sd > 0, sd, 1.0)
    C = (Zc.T @ Zc) / len(Z)
    C[:, sd == 0] = 0.0
    C[sd == 0, :] = 0.0
    C = (1 - SHRINK) * C + SHRINK * np.eye(d)
    np.fill_diagonal(C, 1.0)
    return np.clip(C, -1.0, 1.0)


def _mat(C: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in C]


# ----------------------------------------------------------------------------------------------
# the fit


def fit_database(db, *, min_count: int = MIN_COUNT, seed: int = 0) -> FittedModel:
    """Fit ``db`` (a :class:`~relforge.db.Database`); see the module docstring for what is kept.

    ``min_count`` is the k-anonymity threshold for labels, text templates and tokens (1 keeps every
    label). ``seed`` only breaks ties in the rank transform.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise RelforgeError(f"min_count must be a positive integer, got {min_count!r}")
    if not db.tables:
        raise RelforgeError("--like: the source database has no tables")
    db.validate()
    order = _topo(db)
    tables: dict[str, dict] = {}
    own_z: dict[str, np.ndarray] = {}
    fk_pos: dict[tuple[str, str], np.ndarray] = {}
    # pass 1: marginals and own normal scores
    for name in order:
        t = db.tables[name]
        df = t.df
        rng = child(seed, "fit", name)
        cols, dims, zs = [], [], []
        data_cols = [c for c in df.columns if c not in t.key_cols]
        for c in data_cols:
            st = t.stypes.get(c, Stype.datetime if c == t.time_col else Stype.text)
            if c == t.time_col:
                st = Stype.datetime
            try:
                m, key = fit_column(df[c], st, int(min_count), rng)
            except RelforgeError:
                raise
            except Exception as e:  # noqa: BLE001 - an exotic column type: one line naming it
                raise RelforgeError(f"--like: cannot fit column {name}.{c} ({df[c].dtype}): {type(e).__name__}: {e}"[:300]) from None
            cols.append(m)
            if key is not None and len(df) > 0:
                dims.append(c)
                zs.append(key)
        _order_categories(cols, dims, zs)
        zs = [normal_scores(k, rng) for k in zs]
        pk = None
        if t.pkey_col is not None:
            p = df[t.pkey_col]
            if pd.api.types.is_integer_dtype(p.dtype) or (pd.api.types.is_float_dtype(p.dtype) and len(p) and np.all(p == np.round(p))):
                pk = dict(name=t.pkey_col, kind="int", start=int(p.min()) if len(p) else 1, dtype=str(p.dtype))
            else:
                pk = dict(name=t.pkey_col, kind="str", start=1, dtype=str(p.dtype))
        fks = []
        for c, parent in t.fkey_col_to_pkey_table.items():
            pt = db.tables[parent]
            v = df[c]
            pos = pd.Index(pt.df[pt.pkey_col].to_numpy()).get_indexer(v.to_numpy()) if len(df) else np.zeros(0, np.int64)
            pos = np.where(v.isna().to_numpy(), -1, pos)
            fk_pos[(name, c)] = pos
            cnt = np.bincount(pos[pos >= 0], minlength=len(pt.df))
            vals, k = np.unique(cnt, return_counts=True)
            fk = dict(column=c, parent=parent, self=parent == name, null=float((pos < 0).mean()) if len(pos) else 0.0,
                      dtype=str(v.dtype), counts=[int(x) for x in vals], counts_p=[float(x / k.sum()) for x in k],
                      mean=float(cnt.mean()) if len(cnt) else 0.0, time_rule=None)
            if t.time_col and pt.time_col and parent != name and (pos >= 0).any():
                mk = pos >= 0
                a = _as_seconds(df[t.time_col])[mk]
                b = _as_seconds(pt.df[pt.time_col])[pos[mk]]
                ok = ~(np.isnan(a) | np.isnan(b))
                if ok.any():
                    if np.mean(a[ok] == b[ok]) >= 0.95:
                        fk["time_rule"] = "equal"
                    elif np.mean(a[ok] >= b[ok]) >= 0.99:
                        fk["time_rule"] = "after"
            fks.append(fk)
        tables[name] = dict(n_rows=len(df), kind=t.kind, pkey=pk, fkeys=fks, time_col=t.time_col, columns=cols,
                            order=[str(c) for c in df.columns], stypes={c: Stype(s).value for c, s in t.stypes.items()},
                            dims=list(dims))
        own_z[name] = np.column_stack(zs) if zs else np.zeros((len(df), 0))
        prim = next((f for f in fks if not f["self"]), None)
        if prim is not None and len(df) > 1:
            pos = fk_pos[(name, prim["column"])]
            tsec = _as_seconds(df[t.time_col]) if t.time_col else None
            tables[name]["order_by"] = _within_parent_order(pos, own_z[name], dims, tsec)
            if tsec is not None and not prim.get("time_rule"):
                prim["anchor"] = _time_anchor(pos, tsec)
    # pass 2: parent dimensions from each link (child count, mean child score)
    full_z = {n: [own_z[n]] for n in order}
    for name in order:
        for fk in tables[name]["fkeys"]:
            if fk["self"]:
                continue
            parent = fk["parent"]
            pos = fk_pos[(name, fk["column"])]
            npar = tables[parent]["n_rows"]
            if npar == 0:
                continue
            rng = child(seed, "fit-link", name, fk["column"])
            cnt = np.bincount(pos[pos >= 0], minlength=npar).astype(np.float64)
            tag = f"{name}.{fk['column']}"
            tables[parent]["dims"].append(f"#n:{tag}")
            full_z[parent].append(normal_scores(cnt, rng)[:, None])
            zc = own_z[name]
            dims_c = tables[name]["dims"]
            pick = _child_cols(tables[name], dims_c)
            for j in pick:
                mk = pos >= 0
                s = np.bincount(pos[mk], weights=zc[mk, j], minlength=npar)
                m = np.where(cnt > 0, s / np.maximum(cnt, 1), 0.0)
                tables[parent]["dims"].append(f"#m:{tag}.{dims_c[j]}")
                full_z[parent].append(normal_scores(m, rng)[:, None])
    Z = {n: np.column_stack(full_z[n]) if sum(a.shape[1] for a in full_z[n]) else np.zeros((tables[n]["n_rows"], 0))
         for n in order}
    # pass 3: copulas; child tables jointly with their parents' dimensions
    for name in order:
        tm = tables[name]
        tm["corr"] = _mat(_corr(Z[name]))
        pdims, blocks = {}, [Z[name]]
        for fk in tm["fkeys"]:
            if fk["self"]:
                continue
            parent = fk["parent"]
            tag = f"{name}.{fk['column']}"
            pd_names = tables[parent]["dims"]
            own = [i for i, d in enumerate(pd_names) if not d.startswith("#")][:MAX_PARENT_COLS]
            link = [i for i, d in enumerate(pd_names) if d.startswith(f"#n:{tag}") or d.startswith(f"#m:{tag}.")]
            idx = own + link
            pdims[fk["column"]] = [pd_names[i] for i in idx]
            pos = fk_pos[(name, fk["column"])]
            X = np.zeros((len(pos), len(idx)))
            if len(idx) and tables[parent]["n_rows"]:
                ok = pos >= 0
                X[ok] = Z[parent][pos[ok]][:, idx]
            blocks.append(X)
        tm["parent_dims"] = pdims
        tm["joint"] = _mat(_corr(np.column_stack(blocks))) if pdims else None
    split = {k: (str(getattr(db, k)) if getattr(db, k) is not None else None) for k in ("val_timestamp", "test_timestamp")}
    return FittedModel(tables=tables, order=order, name=str(db.name), min_count=int(min_count), meta=dict(source=str(db.name)),
                       **split)


def _order_categories(cols: list[dict], dims: list[str], keys: list[np.ndarray]) -> None:
    """Order each category's labels along the number they move with most (largest correlation
    ratio with a numeric column of the table), so the copula sees the association monotonically;
    labels keep frequency order when the table has no such number. Updates marginals and keys."""
    by_name = {m["name"]: m for m in cols}
    num = [i for i, d in enumerate(dims) if by_name[d]["kind"] in ("quantile", "discrete")]
    if not num:
        return
    nz = {}
    for i in num:
        k = keys[i]
        r = pd.Series(k).rank(method="average").to_numpy()
        nz[i] = np.where(np.isnan(k), np.nan, (r - np.nanmean(r)) / (np.nanstd(r) or 1.0))
    for i, d in enumerate(dims):
        m = by_name[d]
        if m["kind"] != "cat" or len(m["values"]) < 3:
            continue
        code = keys[i]
        K = len(m["values"])
        best, means = 0.0, None
        for j in num:
            v = nz[j]
            ok = ~np.isnan(code) & ~np.isnan(v) & (code < K)
            if ok.sum() < 3:
                continue
            c = code[ok].astype(np.int64)
            cnt = np.bincount(c, minlength=K)
            mu = np.bincount(c, weights=v[ok], minlength=K) / np.maximum(cnt, 1)
            eta = float((cnt * mu ** 2).sum() / max(ok.sum(), 1))
            if eta > best:
                best, means = eta, np.where(cnt > 0, mu, 0.0)
        if means is None or best < 0.01:
            continue
        new = np.argsort(means, kind="stable")  # new position -> old code
        rank = np.empty(K, np.int64)
        rank[new] = np.arange(K)
        m["values"] = [m["values"][o] for o in new]
        m["probs"] = [m["probs"][o] for o in new]
        keys[i] = np.where(np.isnan(code) | (code >= K), code, rank[np.clip(np.nan_to_num(code), 0, K - 1).astype(np.int64)])


def _within_parent_order(pos: np.ndarray, z: np.ndarray, dims: list[str], tsec) -> dict | None:
    """The column that orders a parent's children in the source (rows in time order, then table
    order), e.g. F1 results by finishing position: ``{column, sign}`` when |correlation| >= 0.3."""
    n = len(pos)
    order = np.argsort(tsec, kind="stable") if tsec is not None else np.arange(n)
    p = pos[order]
    ok = p >= 0
    if ok.sum() < 10 or z.shape[1] == 0:
        return None
    p, zz = p[ok], z[order][ok]
    # rank of each row within its parent group, centred and scaled to [-1, 1]
    srt = np.argsort(p, kind="stable")
    ps = p[srt]
    start = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
    size = np.diff(np.r_[start, len(ps)])
    k = np.repeat(size, size)
    r = np.arange(len(ps)) - np.repeat(start, size)
    w = k > 1
    if w.sum() < 10:
        return None
    rel = np.where(w, 2 * r / np.maximum(k - 1, 1) - 1, 0.0)
    zs = zz[srt]
    gm = np.repeat(np.add.reduceat(zs, start, axis=0) / size[:, None], size, axis=0)
    zc = (zs - gm)[w]
    rc = rel[w]
    den = np.sqrt((zc ** 2).sum(0) * (rc ** 2).sum())
    corr = np.where(den > 0, (zc * rc[:, None]).sum(0) / np.where(den > 0, den, 1.0), 0.0)
    j = int(np.argmax(np.abs(corr)))
    if not abs(corr[j]) >= 0.3 or dims[j].startswith("#"):
        return None
    return dict(column=dims[j], sign=1.0 if corr[j] > 0 else -1.0, corr=round(float(corr[j]), 4))


def _time_anchor(pos: np.ndarray, tsec: np.ndarray) -> dict | None:
    """Bursty children (one user's ratings within days): per parent an anchor (its first child's
    time) and a scale (its children's median offset from the anchor), per child an offset relative
    to the scale, as quantiles; kept when the median offset is under a tenth of the time column's
    interquartile range. The sampler maps the result back onto the time column's marginal by rank,
    so only the order (bursts, hence lag-1 autocorrelation) comes from here."""
    ok = (pos >= 0) & ~np.isnan(tsec)
    if ok.sum() < 10:
        return None
    p, t = pos[ok], tsec[ok]
    first = np.full(int(p.max()) + 1, np.inf)
    np.minimum.at(first, p, t)
    off = t - first[p]
    iqr = np.subtract(*np.quantile(tsec[~np.isnan(tsec)], [0.75, 0.25]))
    if not iqr > 0 or not np.median(off) < 0.1 * iqr:
        return None
    srt = np.lexsort((off, p))
    ps, os_ = p[srt], off[srt]
    start = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
    size = np.diff(np.r_[start, len(ps)])
    scale = os_[start + size // 2]  # median offset per parent
    rel = off / np.maximum(np.repeat(scale, size)[np.argsort(srt)], 1.0)
    grid = np.linspace(0, 1, QUANTILES)
    fa = first[np.isfinite(first)]
    return dict(first_q=[_fl(v) for v in np.quantile(fa, grid)], scale_q=[_fl(v) for v in np.quantile(scale, grid)],
                rel_q=[_fl(v) for v in np.quantile(rel, grid)], lo=_fl(np.nanmin(tsec)), hi=_fl(np.nanmax(tsec)))


def _child_cols(tm: dict, dims: list[str]) -> list[int]:
    """Indices of the child's own dimensions aggregated into its parents (time first, then numbers)."""
    kinds = {c["name"]: c for c in tm["columns"]}
    own = [i for i, d in enumerate(dims) if not d.startswith("#")]
    inherited = any(fk.get("time_rule") == "equal" for fk in tm["fkeys"])  # time copied from a parent
    first = [i for i in own if dims[i] == tm["time_col"] and not inherited]
    nums = [i for i in own if i not in first and kinds[dims[i]]["kind"] in ("quantile", "discrete")]
    rest = [i for i in own if i not in first and i not in nums and dims[i] != tm["time_col"]]
    return (first + nums + rest)[:MAX_CHILD_COLS]


def _topo(db) -> list[str]:
    return parents_first({n: list(t.fkey_col_to_pkey_table.values()) for n, t in db.tables.items()}, "--like: ")


__all__ = ["FittedModel", "fit_database", "fit_column", "fit_text", "normal_scores", "MIN_COUNT"]
