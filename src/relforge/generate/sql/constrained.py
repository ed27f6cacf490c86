"""Databases from a SQL or ``--like`` schema, and the check that they keep every declared constraint.

:func:`generate_from_schema` runs the generator on a fixed schema and then applies what its stages
cannot (distinct key sets of junction tables, declared column order); :func:`constraint_violations`
lists every way a database breaks its schema (the tests' and users' check).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.table import Stype
from relforge.generate.pipeline import generate_database
from relforge.generate.schema import Schema
from relforge.generate.sql.mapping import read_schema_file, schema_from_sql

__all__ = ["JUNCTION_OVERSAMPLE", "enforce_schema", "generate_from_schema", "generate_from_sql", "constraint_violations"]

JUNCTION_OVERSAMPLE = 3  # junction tables are drawn this many times larger, then deduplicated and thinned


def enforce_schema(db, schema: Schema, n_rows: dict[str, int] | None = None):
    """Apply what stages 1-3 cannot: distinct key sets of junction tables (``unique_together``).

    Rows repeating an earlier row's key set are dropped (no table references a junction table, so
    no foreign key dangles); when more than ``n_rows[table]`` distinct rows remain, an evenly spaced
    subset of that size is kept (row order, hence time order, is preserved). Declared column order
    (``meta["sql_types"]``) is restored. Returns a new :class:`~relforge.db.Database`.
    """
    ut = schema.meta.get("unique_together") or {}
    order = schema.meta.get("sql_types") or {}
    tables = dict(db.tables)
    for tn, sets in ut.items():
        if tn not in tables:
            continue
        t = tables[tn]
        df = t.df
        keep = np.ones(len(df), dtype=bool)
        for cols in sets:
            sub = df[list(cols)]
            keep &= (~sub.duplicated(keep="first") | sub.isna().any(axis=1)).to_numpy()
        idx = np.flatnonzero(keep)
        target = (n_rows or {}).get(tn)
        if target is not None and len(idx) > target:
            idx = idx[np.round(np.linspace(0, len(idx) - 1, target)).astype(np.int64)] if target > 0 else idx[:0]
        if len(idx) != len(df):
            tables[tn] = t._with_df(df.iloc[idx].reset_index(drop=True))
    for tn, cols in order.items():
        if tn in tables:
            t = tables[tn]
            want = [c for c in cols if c in t.df.columns]
            rest = [c for c in t.df.columns if c not in want]
            if want + rest != list(t.df.columns):
                tables[tn] = t._with_df(t.df[want + rest])
    return db._with_tables(tables)


def generate_from_schema(schema: Schema, seed: int = 0, config=None):
    """Generate a database for a given schema (SQL or ``--like``) and enforce its table constraints.

    Junction tables (``meta["unique_together"]``) are drawn :data:`JUNCTION_OVERSAMPLE` times larger,
    then made distinct and thinned to their row count (fewer rows only when not enough distinct key
    sets were drawn).
    """
    ut = schema.meta.get("unique_together") or {}
    target = {tn: schema.tables[tn].n_rows for tn in ut if tn in schema.tables}
    over = {tn: min(n * JUNCTION_OVERSAMPLE, n + 1_000_000) for tn, n in target.items()}
    db = generate_database(seed, config, schema=schema, n_rows=over or None)
    db = enforce_schema(db, schema, target)
    db.meta = dict(db.meta)
    db.meta.setdefault("schema_source", schema.meta.get("source"))
    if schema.meta.get("notes"):
        db.meta["schema_notes"] = list(schema.meta["notes"])
    return db


def generate_from_sql(path_or_text, seed: int = 0, config=None, *, dialect: str | None = None,
                      n_rows: int | dict[str, int] | None = None):
    """``relforge generate --schema FILE``: parse (never execute) the file, then generate."""
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and path_or_text.strip().lower().endswith(".sql")):
        schema = read_schema_file(path_or_text, dialect, n_rows=n_rows)
    else:
        schema = schema_from_sql(path_or_text, dialect, n_rows=n_rows)
    return generate_from_schema(schema, seed, config)


def constraint_violations(db, schema: Schema) -> list[str]:
    """Every way ``db`` breaks a constraint declared in ``schema`` (empty list = all hold).

    Checks row counts, primary keys (unique, non-null), foreign keys (in range, null only when
    nullable, self-references pointing to an earlier row), NOT NULL, UNIQUE, labels, bounds,
    decimal scale, integer values, text length, the time column and ``unique_together`` key sets.
    """
    out: list[str] = []
    ut = schema.meta.get("unique_together") or {}
    for tn, spec in schema.tables.items():
        if tn not in db.tables:
            out.append(f"{tn}: table missing")
            continue
        t = db.tables[tn]
        df = t.df
        if tn in ut:
            if len(df) > spec.n_rows:
                out.append(f"{tn}: {len(df)} rows, more than {spec.n_rows}")
        elif len(df) != spec.n_rows:
            out.append(f"{tn}: {len(df)} rows, expected {spec.n_rows}")
        pos = None
        if spec.pkey:
            pk = df[spec.pkey]
            if pk.isna().any() or not pk.is_unique:
                out.append(f"{tn}.{spec.pkey}: primary key null or duplicated")
            pos = pd.Series(np.arange(len(df)), index=pk.to_numpy())
        for fk in spec.fkeys:
            v = df[fk.column]
            if v.isna().any() and not fk.nullable:
                out.append(f"{tn}.{fk.column}: NULL in a NOT NULL foreign key")
            parent = db.tables.get(fk.parent)
            if parent is None:
                continue
            pvals = parent.df[parent.pkey_col].to_numpy()
            nn = v.dropna().to_numpy()
            if len(nn) and not np.isin(nn, pvals).all():
                out.append(f"{tn}.{fk.column}: dangling reference to {fk.parent}")
            if fk.parent == tn and pos is not None and len(nn):
                mine = pos.loc[df[spec.pkey][v.notna()].to_numpy()].to_numpy()
                theirs = pos.reindex(nn).to_numpy()
                if np.any(~(theirs < mine)):
                    out.append(f"{tn}.{fk.column}: self-reference to a later (or the same) row")
        if spec.time_col:
            tc = df[spec.time_col]
            if tc.isna().any() or not pd.api.types.is_datetime64_any_dtype(tc.dtype):
                out.append(f"{tn}.{spec.time_col}: time column null or not a datetime")
        for c in spec.columns:
            if c.name not in df.columns:
                out.append(f"{tn}.{c.name}: column missing")
                continue
            s = df[c.name]
            nn = s.dropna()
            if not c.nullable and s.isna().any():
                out.append(f"{tn}.{c.name}: NULL in a NOT NULL column")
            if c.unique and not nn.is_unique:
                out.append(f"{tn}.{c.name}: duplicate values in a UNIQUE column")
            if c.labels is not None and c.stype != Stype.boolean:
                allowed = {int(x) for x in c.labels} if c.integer else set(c.labels)
                vals = set(nn.astype("int64").tolist()) if c.integer else set(nn.astype(str).tolist())
                if c.stype == Stype.numerical and not c.integer:
                    allowed, vals = {float(x) for x in c.labels}, set(nn.astype(float).tolist())
                if not vals <= allowed:
                    out.append(f"{tn}.{c.name}: values outside its allowed labels")
            if c.stype == Stype.numerical and len(nn):
                x = nn.to_numpy(dtype=float)
                if c.lo is not None and x.min() < c.lo - 1e-9 * max(1.0, abs(c.lo)):
                    out.append(f"{tn}.{c.name}: value {x.min()} below {c.lo}")
                if c.hi is not None and x.max() > c.hi + 1e-9 * max(1.0, abs(c.hi)):
                    out.append(f"{tn}.{c.name}: value {x.max()} above {c.hi}")
                if c.integer and (not pd.api.types.is_integer_dtype(s.dtype) or np.any(x != np.round(x))):
                    out.append(f"{tn}.{c.name}: integer column holds non-integers ({s.dtype})")
                if c.scale is not None and not np.allclose(x, np.round(x, c.scale), rtol=0, atol=10.0 ** -(c.scale + 6)):
                    out.append(f"{tn}.{c.name}: more than {c.scale} decimals")
            if c.stype == Stype.datetime and len(nn):
                secs = nn.astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
                if c.lo is not None and secs.min() < c.lo:
                    out.append(f"{tn}.{c.name}: datetime before its lower bound")
                if c.hi is not None and secs.max() > c.hi:
                    out.append(f"{tn}.{c.name}: datetime after its upper bound")
            if c.stype == Stype.text and c.max_len is not None and len(nn):
                if nn.astype(str).str.len().max() > c.max_len:
                    out.append(f"{tn}.{c.name}: text longer than {c.max_len}")
        for cols in ut.get(tn, []):
            sub = df[list(cols)].dropna()
            if sub.duplicated().any():
                out.append(f"{tn}: duplicate ({', '.join(cols)}) key sets")
    return out
