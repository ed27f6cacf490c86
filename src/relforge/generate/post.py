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
