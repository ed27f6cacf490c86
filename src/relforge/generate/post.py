"""Post-processing of latent values (generator.md §5), vectorized.

Per table, in this order:

1. **Transforms** (:func:`transform`): one per float (numerical) column, drawn from
   ``cfg.post.transforms``: identity, rank_uniform ``(rank+1)/(n+1)``, log ``sign log1p|x|``,
   sqrt ``sign sqrt|x|``, standardize, threshold ``max(z - quantile(z, U(0.4,0.95)), 0)``,
   square ``sign(z) z^2`` and expm1 ``sign(z) expm1|z|`` (z standardized and clipped to +-10).
2. **Categoricals** (:func:`categorical_to_bool`): with ``cfg.post.categorical_to_bool``,
   unlabelled categorical columns become booleans. Unlike the reference's ``code > 0`` (a bool
   that is True for K-1 of K classes, §8.6), the True classes are a random non-empty proper subset
   of the classes; a column that ends up constant is dropped. With the knob off, categoricals stay
   categorical.
3. **Missing values** (:func:`nan_masks`): as in real databases, missingness is concentrated in a
   few columns: per table a share ``q ~ U(nan_col_share)`` of the nullable feature columns gets
   missing values (the reference blanks every float column, §8.6), at a per-table rate
   ``r ~ U(nan_frac)`` times a per-column ``LogU(1/3, 3)``, i.i.d. over rows. Keys and the time column stay
   non-null; columns declared ``nullable=False`` stay complete. The masks are applied after
   rendering (``pipeline.py``), so booleans become nullable booleans.

Timestamps and split cut-offs come from ``timeline.sample_times`` / ``timeline.split_timestamps``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from relforge.db.table import Stype
from relforge.generate.schema import Schema
from relforge.rng import child

F32 = np.float32


def _std(x: np.ndarray) -> np.ndarray:
    f = x[np.isfinite(x)]
    if len(f) == 0:
        return np.zeros_like(x)
    return (x - f.mean()) / max(float(f.std()), 1e-8)


def transform(x: np.ndarray, name: str, *, rng: np.random.Generator) -> np.ndarray:
    """Apply column transform ``name`` (one of ``config.TRANSFORMS``) to float values (§5.1)."""
    x = np.asarray(x, dtype=np.float64)
    if name == "identity":
        y = x
    elif name == "rank_uniform":
        n = len(x)
        r = np.empty(n)
        r[np.argsort(x, kind="stable")] = np.arange(n)
        y = (r + 1.0) / (n + 1.0)
    elif name == "log":
        y = np.sign(x) * np.log1p(np.abs(x))
    elif name == "sqrt":
        y = np.sign(x) * np.sqrt(np.abs(x))
    elif name == "standardize":
        y = _std(x)
    elif name == "threshold":
        z = _std(x)
        q = np.quantile(z, rng.uniform(0.4, 0.95)) if len(z) else 0.0
        y = np.maximum(z - q, 0.0)
    elif name == "square":
        z = np.clip(_std(x), -10, 10)
        y = np.sign(z) * z * z
    elif name == "expm1":
        z = np.clip(_std(x), -10, 10)
        y = np.sign(z) * np.expm1(np.abs(z))
    else:
        raise ValueError(f"unknown transform {name!r}")
    return y


def apply_transforms(schema: Schema, values: dict, cfg, *, seed: int) -> dict:
    """Transform every numerical latent column (§5.1); other columns pass through unchanged.

    Returns a new ``{table: {column: latent}}`` with float64 numerical columns.
    """
    out = {}
    choices = cfg.post.transforms
    for name, spec in schema.tables.items():
        cols = dict(values.get(name, {}))
        rng = child(seed, "post", "transform", name)
        for s in spec.columns:
            if s.stype != Stype.numerical or s.name not in cols:
                continue
            t = choices[int(rng.integers(len(choices)))]
            cols[s.name] = transform(cols[s.name], t, rng=rng)
        out[name] = cols
    return out


def categorical_to_bool(schema: Schema, values: dict, cfg, *, seed: int) -> tuple[Schema, dict]:
    """Unlabelled categoricals -> booleans (§5.3) when ``cfg.post.categorical_to_bool``.

    Returns a new schema (column stypes changed, constant columns dropped) and new values
    (int8 0/1 codes for converted columns). Text, labelled and boolean columns are untouched.
    """
    if not cfg.post.categorical_to_bool:
        return schema, values
    tables, out = {}, {}
    for name, spec in schema.tables.items():
        cols = dict(values.get(name, {}))
        rng = child(seed, "post", "bool", name)
        new_specs = []
        for s in spec.columns:
            if s.stype != Stype.categorical or s.labels or s.name not in cols:
                new_specs.append(s)
                continue
            codes = np.asarray(cols[s.name], dtype=np.int64)
            k = max(int(codes.max()) + 1 if len(codes) else 2, 2)
            n_true = int(rng.integers(1, k))  # a non-empty proper subset of classes is True
            true_cls = np.zeros(k, dtype=bool)
            true_cls[rng.choice(k, n_true, replace=False)] = True
            b = true_cls[codes].astype(np.int8)
            if len(b) and (b.min() == b.max()):
                del cols[s.name]  # constant: dropped (§5.3)
                continue
            cols[s.name] = b
            new_specs.append(dataclasses.replace(s, stype=Stype.boolean, n_categories=2))
        tables[name] = dataclasses.replace(spec, columns=new_specs)
        out[name] = cols
    return Schema(tables, schema.layout, dict(schema.meta)), out


def nan_masks(schema: Schema, cfg, *, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """``{table: {column: bool mask}}`` of cells to blank (§5.2); only columns with a mask appear."""
    lo, hi = cfg.post.nan_frac
    out = {}
    for name, spec in schema.tables.items():
        rng = child(seed, "post", "nan", name)
        r = rng.uniform(lo, hi)
        share = rng.uniform(*cfg.post.nan_col_share)
        masks = {}
        n = spec.n_rows
        for s in spec.columns:
            rate = min(0.99, r * math.exp(rng.uniform(math.log(1 / 3), math.log(3))))
            picked = rng.random() < share
            u = rng.random(n)
            if not s.nullable or rate <= 0 or not picked:
                continue
            m = u < rate
            if m.any():
                masks[s.name] = m
        out[name] = masks
    return out


# ---------------------------------------------------------------- parent aggregates (issue 14)


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _agg_name(how: str, child_table: str, col: str | None, fk: str, default_fk: bool, semantic: bool) -> str:
    if semantic:
        base = {"count": f"num_{child_table}", "sum": f"total_{col}", "mean": f"avg_{col}",
                "days_since_last": f"days_since_last_{_singular(child_table)}"}[how]
        if how in ("sum", "mean") and child_table.rstrip("s") not in (col or ""):
            base = f"{base}_per_{_singular(child_table)}" if how == "mean" else f"{base}_of_{child_table}"
        return base if default_fk else f"{base}_by_{fk.removesuffix('_id')}"
    return f"{child_table}_{fk}_{how}" + (f"_{col}" if col else "")


def add_aggregates(tables: dict, schema: Schema, cfg, *, seed: int, val_ts=None, test_ts=None) -> list[dict]:
    """Add aggregate columns of child rows to static parent tables, in place (``relational.aggregate_*``).

    Parameters
    ----------
    tables : ``{name: relforge Table}`` with rendered cells (what a model will see).
    schema : the schema the tables were rendered from (keys, time columns, semantic names).
    cfg : a GeneratorConfig; ``relational.aggregate_prob`` per (parent, child key) pair.
    seed : stream ``child(seed, "post", "aggregate", child, key)``.
    val_ts, test_ts : the split cut-offs.

    Returns
    -------
    One record per added column: table, column, how (count / sum / mean / days_since_last),
    child table, key, child column, as-of timestamp (ISO string or None).

    Notes
    -----
    Only random schemas get aggregates (SQL and ``--like`` schemas keep their declared columns), and
    only parents without a time column (a static entity such as a customer storing
    ``num_orders``). Children with a time column are counted **as of one cut-off**
    (``relational.aggregate_asof``: the validation timestamp by default), never later, so the
    aggregate holds no information from the validation or test period. It does summarize training-
    period history after earlier cut-offs: forecasting tasks with cut-offs before ``val_ts`` should
    not read these columns (``db.meta["aggregates"]`` lists them). ``count`` is an int64 (0 for no
    child); ``sum`` skips missing cells (0 for none); ``mean`` and ``days_since_last`` are NaN for
    a parent without a counted child. Child cells are read after rendering and masking.
    """
    r = cfg.relational
    if r.aggregate_prob <= 0 or schema.meta.get("source") not in (None, "random"):
        return []  # SQL and --like schemas keep exactly their declared columns
    import pandas as pd

    semantic = bool(getattr(cfg.schema, "semantic_names", False)) and schema.meta.get("names") is not None
    cut = {"val": val_ts, "test": test_ts, "end": None}[r.aggregate_asof]
    added: list[dict] = []
    new_cols: dict[str, dict] = {}
    for ch, spec in schema.tables.items():
        fks = [fk for fk in spec.fkeys if fk.parent != ch]
        for fk in fks:
            p = fk.parent
            pt = tables.get(p)
            ct = tables.get(ch)
            if pt is None or ct is None or pt.time_col is not None or fk.column not in ct.df.columns:
                continue
            rng = child(seed, "post", "aggregate", ch, fk.column)
            if rng.random() >= r.aggregate_prob:
                continue
            n_p = len(pt.df)
            pos = ct.df[fk.column].to_numpy(dtype="float64", na_value=np.nan)
            keep = np.isfinite(pos)
            asof = None
            tt = None
            if ct.time_col is not None:
                tt = ct.df[ct.time_col].to_numpy(dtype="datetime64[ns]")
                if cut is not None:
                    asof = pd.Timestamp(cut)
                    keep &= tt <= np.datetime64(asof.to_datetime64())
                else:
                    asof = pd.Timestamp(tt.max()) if len(tt) else None
            pk = pd.Index(pt.df[pt.pkey_col].to_numpy())
            idx = np.full(len(pos), -1, dtype=np.int64)
            idx[keep] = pk.get_indexer(pos[keep].astype(np.int64))
            keep &= idx >= 0
            g = idx[keep]
            num_cols = [c for c in ct.feature_cols if ct.stypes.get(c) == Stype.numerical]
            cands = [("sum", c) for c in num_cols] + [("mean", c) for c in num_cols]
            if tt is not None and asof is not None:
                cands.append(("days_since_last", None))
            picks = [("count", None)]
            n_more = int(rng.integers(0, r.aggregate_max))
            if cands and n_more:
                for i in rng.choice(len(cands), min(n_more, len(cands)), replace=False):
                    picks.append(cands[int(i)])
            cnt = np.bincount(g, minlength=n_p)
            default_fk = sum(f.parent == p for f in fks) == 1
            for how, col in picks:
                if how == "count":
                    vals = pd.Series(cnt.astype(np.int64))
                elif how in ("sum", "mean"):
                    v = ct.df[col].to_numpy(dtype="float64", na_value=np.nan)[keep]
                    f = np.isfinite(v)
                    s = np.bincount(g[f], weights=v[f], minlength=n_p)
                    m = np.bincount(g[f], minlength=n_p)
                    vals = pd.Series(s if how == "sum" else np.where(m > 0, s / np.maximum(m, 1), np.nan))
                else:
                    last = np.full(n_p, np.iinfo(np.int64).min, dtype=np.int64)
                    np.maximum.at(last, g, tt[keep].astype(np.int64))
                    has = last > np.iinfo(np.int64).min
                    days = (asof.value - last.astype(np.float64)) / 86_400e9
                    vals = pd.Series(np.where(has, np.round(days, 3), np.nan))
                name = _agg_name(how, ch, col, fk.column, default_fk, semantic)
                used = set(pt.df.columns) | set(new_cols.get(p, {}))
                k = 2
                base = name
                while name in used:
                    name, k = f"{base}_{k}", k + 1
                new_cols.setdefault(p, {})[name] = vals
                added.append(dict(table=p, column=name, how=how, child=ch, key=fk.column, of=col,
                                  asof=None if asof is None else str(asof)))
    for p, cols in new_cols.items():
        t = tables[p]
        df = pd.concat([t.df, pd.DataFrame(cols, index=t.df.index)], axis=1)
        stypes = dict(t.stypes)
        stypes.update({c: Stype.numerical for c in cols})
        tables[p] = type(t)(df, t.pkey_col, dict(t.fkey_col_to_pkey_table), t.time_col, stypes, t.kind)
    return added
