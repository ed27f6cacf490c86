"""Databases like an existing one: ``relforge generate --like PATH`` (paper: "semi-synthetic").

Two modes (``--like-mode``):

- ``fitted`` (the default): :func:`fit_like` fits the source's column distributions, link shapes,
  dependence and time profile into a :class:`~relforge.generate.fit.FittedModel` (summaries only,
  no source row), and :func:`generate_like` / :func:`sample_like` draw look-alike databases from it
  (:mod:`relforge.generate.fit`, :mod:`relforge.generate.fitted`); every constraint of the source's
  schema (below) still holds on the output.
- ``schema``: the schema and row counts only, filled by the generic prior (any generator config);
  what pretraining corpora want.

:func:`schema_like` reads the schema, and by default the row counts, of

- a **SQLite** file: the ``CREATE TABLE`` text stored in ``sqlite_master`` (plus unique indexes) goes
  through :func:`relforge.generate.sql.schema_from_sql`, so every declared constraint (keys, NOT NULL,
  UNIQUE, CHECK, types and lengths) carries over. The file is opened read-only and no statement from
  it is executed; row counts come from ``SELECT COUNT(*)``.
- a **DuckDB** file: the same from ``duckdb_tables()``, opened read-only.
- a **relforge or relbench folder** (or a :class:`~relforge.db.Database` in memory): keys, time
  columns and semantic types from the metadata; NOT NULL where a column has no missing value,
  nullable foreign keys with their observed null share, integer columns, decimal places (up to 4),
  the observed labels of string categoricals and the class count of integer ones, day resolution for
  date-only columns.

The result is a plain :class:`~relforge.generate.schema.Schema`; any generator config then fills it
with synthetic rows (``relforge.generate.sql.generate_from_schema``). Real cell values never reach
the output except the category labels of categorical columns of folders (schema-level vocabulary).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.schema import ColumnSpec, ForeignKey, Schema, TableSpec

_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_LABELS = 200  # a string categorical with more distinct values is rendered as free text


def _file_kind(p: Path) -> str:
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise RelforgeError(f"cannot read {str(p)!r}: {e.strerror}") from None
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    raise RelforgeError(f"{str(p)!r} is neither a SQLite nor a DuckDB file nor a database folder")


def schema_like(db_or_path, n_rows: int | dict[str, int] | None = None, *, scale: float | None = None,
                time_cols: dict[str, str | None] | None = None) -> Schema:
    """The schema of an existing database, to generate a synthetic one like it.

    Parameters
    ----------
    db_or_path : a SQLite/DuckDB file, a relforge/relbench folder, or a Database.
    n_rows : one row count for every table, or ``{table: rows}``; default: the source's counts.
    scale : multiply every row count taken from the source (at least 1 row for a non-empty table).
    time_cols : ``{table: column or None}`` overriding the time-column choice (SQL files).

    Returns
    -------
    Schema with ``meta["source"] == "like"`` and ``meta["like"]`` naming the source.
    """
    from relforge.db.database import Database

    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0
                              or scale != scale or scale == float("inf")):
        raise RelforgeError(f"scale must be a positive number, got {scale!r}")
    if isinstance(db_or_path, Database):
        schema = schema_from_database(db_or_path)
        src = db_or_path.name
    else:
        p = Path(db_or_path)
        if not p.exists():
            raise RelforgeError(f"--like: no such file or folder: {str(p)!r}")
        if p.is_dir():
            from relforge.db.io import load_database

            schema = schema_from_database(load_database(p))
        else:
            kind = _file_kind(p)
            ddl, counts, dialect = _sqlite_ddl(p) if kind == "sqlite" else _duckdb_ddl(p)
            from relforge.generate.sql import schema_from_sql

            schema = schema_from_sql(ddl, dialect, n_rows=counts, time_cols=time_cols)
        src = str(p)
    counts = {n: t.n_rows for n, t in schema.tables.items()}
    if scale is not None:
        counts = {n: (max(1, int(round(c * scale))) if c > 0 else 0) for n, c in counts.items()}
    if n_rows is not None:
        if isinstance(n_rows, dict):
            for n, v in n_rows.items():
                if n not in counts:
                    raise RelforgeError(f"row count given for unknown table {n!r}")
                counts[n] = v
        else:
            counts = {n: n_rows for n in counts}
    for n, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise RelforgeError(f"table {n!r}: row count must be a non-negative integer, got {v!r}")
        schema.tables[n].n_rows = int(v)
    schema.meta = dict(schema.meta, source="like", like=src)
    schema.validate()
    return schema


# ------------------------------------------------------------------------------- SQL files


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_ddl(p: Path) -> tuple[str, dict[str, int], str]:
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{p.resolve().as_posix()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise RelforgeError(f"cannot open SQLite file {str(p)!r}: {e}") from None
    try:
        rows = con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND type IN ('table', 'index') ORDER BY rowid").fetchall()
        tables = [r for r in rows if r[0] == "table" and not r[1].startswith("sqlite_") and r[1] != "_relforge_meta"]
        if not tables:
            raise RelforgeError(f"SQLite file {str(p)!r} has no tables")
        names = {r[1] for r in tables}
        uniq = [r for r in rows if r[0] == "index" and r[2] in names and "UNIQUE" in r[3].upper()[:20]]
        counts = {r[1]: int(con.execute(f"SELECT COUNT(*) FROM {_qi(r[1])}").fetchone()[0]) for r in tables}
    except sqlite3.DatabaseError as e:
        raise RelforgeError(f"cannot read SQLite file {str(p)!r}: {e}") from None
    finally:
        con.close()
    ddl = ";\n".join(r[3].rstrip().rstrip(";") for r in tables + uniq) + ";"
    return ddl, counts, "sqlite"


def _duckdb_ddl(p: Path) -> tuple[str, dict[str, int], str]:
    import duckdb

    try:
        con = duckdb.connect(str(p), read_only=True)
    except Exception as e:  # noqa: BLE001 - duckdb raises several error types for bad files
        raise RelforgeError(f"cannot open DuckDB file {str(p)!r}: {str(e).splitlines()[0]}") from None
    try:
        tables = con.execute(
            "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE NOT temporary "
            "AND table_name <> '_relforge_meta' ORDER BY schema_name, table_name").fetchall()
        if not tables:
            raise RelforgeError(f"DuckDB file {str(p)!r} has no tables")
        if len({t[1] for t in tables}) != len(tables):
            raise RelforgeError(f"DuckDB file {str(p)!r} has tables with the same name in different schemas")
        uniq = con.execute("SELECT sql FROM duckdb_indexes() WHERE is_unique AND sql IS NOT NULL").fetchall()
        counts = {t[1]: int(con.execute(f"SELECT COUNT(*) FROM {_qi(t[0])}.{_qi(t[1])}").fetchone()[0]) for t in tables}
    except RelforgeError:
        raise
    except Exception as e:  # noqa: BLE001
        raise RelforgeError(f"cannot read DuckDB file {str(p)!r}: {str(e).splitlines()[0]}") from None
    finally:
        con.close()
    # duckdb_tables() writes user ENUM types inline (ENUM('a', 'b')), so no CREATE TYPE is needed
    parts = [t[2].rstrip().rstrip(";") for t in tables] + [u[0].rstrip().rstrip(";") for u in uniq]
    return ";\n".join(parts) + ";", counts, "duckdb"


# ---------------------------------------------------------------------------- Database objects


def schema_from_database(db) -> Schema:
    """A :class:`Schema` describing a loaded :class:`~relforge.db.Database` (see the module docstring)."""
    referenced = {p for t in db.tables.values() for p in t.fkey_col_to_pkey_table.values()}
    specs = {}
    for name, t in db.tables.items():
        df = t.df
        fkeys = []
        for c, parent in t.fkey_col_to_pkey_table.items():
            share = float(df[c].isna().mean()) if len(df) else 0.0
            nullable = share > 0 or parent == name
            null_prob = share if parent != name else max(share, 1.0 / max(len(df), 1))
            fkeys.append(ForeignKey(c, parent, nullable=nullable, null_prob=float(min(max(null_prob, 0.0), 1.0))))
        keys = t.key_cols | ({t.time_col} if t.time_col else set())
        cols = [_column_like(c, df[c], t.stypes.get(c)) for c in df.columns if c not in keys]
        specs[name] = TableSpec(name=name, n_rows=len(df), kind="entity" if name in referenced else "activity",
                                pkey=t.pkey_col, fkeys=fkeys, columns=cols, time_col=t.time_col)
    schema = Schema(specs, layout="like", meta={"source": "like"})
    order = schema.topo_order()
    schema.tables = {n: specs[n] for n in order}
    return schema


def _column_like(name: str, s: pd.Series, stype) -> ColumnSpec:
    from relforge.db.table import infer_stype

    stype = Stype(stype) if stype is not None else infer_stype(s)
    nn = s.dropna()
    nullable = len(nn) < len(s) or len(s) == 0
    if stype == Stype.numerical:
        integer = pd.api.types.is_integer_dtype(s.dtype)
        scale = None
        if not integer and len(nn):
            x = nn.to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            for k in range(0, 5):
                if len(x) and np.allclose(x, np.round(x, k), rtol=0, atol=1e-9):
                    scale = k
                    break
        return ColumnSpec(name, Stype.numerical, nullable=nullable, integer=integer, scale=scale)
    if stype == Stype.boolean:
        return ColumnSpec(name, Stype.boolean, nullable=nullable)
    if stype == Stype.datetime:
        ts = pd.to_datetime(nn, errors="coerce").dropna() if not pd.api.types.is_datetime64_any_dtype(nn.dtype) else nn
        day = len(ts) > 0 and bool((ts.dt.normalize() == ts).all())
        return ColumnSpec(name, Stype.datetime, nullable=nullable, role="date" if day else "timestamp")
    if stype == Stype.categorical:
        if pd.api.types.is_numeric_dtype(nn.dtype) and not pd.api.types.is_bool_dtype(nn.dtype):
            k = int(nn.nunique())
            return ColumnSpec(name, Stype.categorical, n_categories=max(k, 2), nullable=nullable)
        labels = sorted({str(v) for v in nn.tolist()})
        if 0 < len(labels) <= _MAX_LABELS:
            return ColumnSpec(name, Stype.categorical, n_categories=len(labels), labels=tuple(labels),
                              nullable=nullable, role="label")
        return ColumnSpec(name, Stype.text, nullable=nullable, role="text", n_categories=_text_classes(name))
    return ColumnSpec(name, Stype.text, nullable=nullable, role="text", n_categories=_text_classes(name))


def _text_classes(name: str) -> int:
    from relforge.generate.render import default_text_classes, text_style

    return default_text_classes(text_style(ColumnSpec(name, Stype.text, role="text")))


LIKE_MODES = ("fitted", "schema")


def resolve_source(db_or_path):
    """A :class:`~relforge.db.Database` from a Database, a database path (folder, .sqlite, .duckdb)
    or a real database name (``f1``, also ``real:f1``; a path of that name wins)."""
    from relforge.db.database import Database

    if isinstance(db_or_path, Database):
        return db_or_path
    p = Path(db_or_path)
    if p.exists() and not str(db_or_path).startswith("real:"):
        from relforge.db.io import load_database

        return load_database(p)
    from relforge import realdata

    name = str(db_or_path)[5:] if str(db_or_path).startswith("real:") else str(db_or_path)
    if name in realdata.list_databases():
        return realdata.load(name)
    raise RelforgeError(f"--like: no such file or folder: {str(db_or_path)!r} (nor a real database name: "
                        f"{', '.join(realdata.list_databases())})")


def fit_like(db_or_path, *, min_count: int | None = None, seed: int = 0):
    """Fit a source database (see :mod:`relforge.generate.fit`); returns a :class:`FittedModel`."""
    from relforge.generate.fit import MIN_COUNT, fit_database

    db = resolve_source(db_or_path)
    model = fit_database(db, min_count=MIN_COUNT if min_count is None else min_count, seed=seed)
    if not isinstance(db_or_path, type(db)):
        model.meta["like"] = str(db_or_path)
    return model


def _constraint_schema(db_or_path, n_rows=None, scale=None):
    """The source's schema (declared constraints and row counts) for a fitted sample."""
    from relforge.db.database import Database

    src = db_or_path
    if not isinstance(src, Database):
        p = Path(src)
        if not p.exists() or str(src).startswith("real:"):
            src = resolve_source(src)
    return schema_like(src, n_rows, scale=scale)


def sample_like(model, schema: Schema, seed: int = 0):
    """Draw one database from ``model`` with ``schema``'s row counts, then make every constraint
    declared in ``schema`` hold (:func:`conform`)."""
    db = model.sample(seed, {n: t.n_rows for n, t in schema.tables.items() if n in model.tables})
    return conform(db, schema, rng=np.random.default_rng(np.random.SeedSequence([int(seed) & (2**63 - 1), 18])))


def generate_like(db_or_path, seed: int = 0, config=None, *, n_rows: int | dict[str, int] | None = None,
                  scale: float | None = None, mode: str = "fitted", min_count: int | None = None):
    """``relforge generate --like PATH``: a synthetic database like ``db_or_path``.

    ``mode="fitted"`` (default) fits the source and samples from the fit; ``mode="schema"`` keeps
    only the schema and row counts and fills them from the generic prior with ``config``.
    """
    if mode not in LIKE_MODES:
        raise RelforgeError(f"--like-mode must be one of {', '.join(LIKE_MODES)}, got {mode!r}")
    if mode == "schema":
        from relforge.generate.sql import generate_from_schema

        if min_count is not None:
            raise RelforgeError("--like-min-count applies to --like-mode fitted only")
        src = db_or_path
        if not hasattr(src, "tables") and (not Path(str(src)).exists() or str(src).startswith("real:")):
            src = resolve_source(src)
        return generate_from_schema(schema_like(src, n_rows, scale=scale), seed, config)
    if config is not None:
        raise RelforgeError("a generator config applies to --like-mode schema only (the fitted mode learns the source)")
    schema = _constraint_schema(db_or_path, n_rows, scale)
    return sample_like(fit_like(db_or_path, min_count=min_count), schema, seed)


def _fitted_generator(model, schema: Schema, seed: int, cfg):
    return sample_like(model, schema, seed)


# ------------------------------------------------------------------------- declared constraints


def conform(db, schema: Schema, *, rng: np.random.Generator):
    """Make the constraints declared in ``schema`` hold on a fitted sample (they hold on the source,
    so this only touches values the smoothing or the rare-label replacement moved): NOT NULL, labels,
    bounds, integers, decimals, text length, UNIQUE, and junction tables' distinct key sets
    (``relforge.generate.sql.enforce_schema``)."""
    from relforge.generate.sql import enforce_schema

    tables = dict(db.tables)
    for tn, spec in schema.tables.items():
        if tn not in tables:
            continue
        t = tables[tn]
        df = t.df.copy()
        changed = False
        for c in spec.columns:
            if c.name not in df.columns:
                continue
            s0 = df[c.name]
            s = _conform_column(s0, c, rng)
            if s is not s0:
                df[c.name] = s
                changed = True
        if changed:
            tables[tn] = t._with_df(df)
    out = db._with_tables(tables)
    return enforce_schema(out, schema, {n: t.n_rows for n, t in schema.tables.items()})


def _conform_column(s: pd.Series, c: ColumnSpec, rng: np.random.Generator) -> pd.Series:
    orig = s
    nn = s.notna()
    if c.labels is not None and c.stype != Stype.boolean and nn.any():
        if c.integer or (c.stype == Stype.numerical):
            allowed = np.asarray([float(x) for x in c.labels])
            bad = nn & ~s.astype("float64").isin(allowed)
        else:
            allowed = np.asarray(c.labels, dtype=object)
            bad = nn & ~s.astype(str).isin(set(c.labels))
        if bad.any():
            good = s[nn & ~bad]
            pool = good.to_numpy() if len(good) else allowed
            s = s.copy()
            s[bad] = pool[rng.integers(0, len(pool), int(bad.sum()))]
    if not c.nullable and s.isna().any():
        good = s.dropna()
        if len(good):
            s = s.copy()
            s[s.isna()] = good.to_numpy()[rng.integers(0, len(good), int(s.isna().sum()))]
        elif c.stype == Stype.text:
            s = s.fillna("x")
        elif c.stype == Stype.numerical:  # no finite value to copy (e.g. a source column of inf only)
            s = s.fillna(float(c.lo) if c.lo is not None else (float(c.hi) if c.hi is not None else 0.0))
        elif c.stype == Stype.boolean:
            s = s.fillna(False)
    if c.stype == Stype.numerical and s.notna().any() and pd.api.types.is_numeric_dtype(s.dtype):
        x = s.astype("float64")
        y = x.clip(lower=c.lo, upper=c.hi) if (c.lo is not None or c.hi is not None) else x
        if c.integer:
            y = np.round(y)
        elif c.scale is not None:
            y = np.round(y, c.scale)
        if not y.equals(x):
            s = y.astype(s.dtype) if not (c.integer and s.isna().any()) else y
    if c.stype == Stype.datetime and (c.lo is not None or c.hi is not None) and s.notna().any():
        ns = s.astype("datetime64[ns]")
        lo = pd.Timestamp(int(c.lo * 1e9)) if c.lo is not None else None
        hi = pd.Timestamp(int(c.hi * 1e9)) if c.hi is not None else None
        s = ns.clip(lower=lo, upper=hi)
    if c.stype == Stype.text and c.max_len is not None and s.notna().any():
        if (s.dropna().astype(str).str.len() > c.max_len).any():
            s = s.where(s.isna(), s.astype(str).str.slice(0, c.max_len))
    if c.unique and s.notna().any() and s.dropna().duplicated().any():
        s = s.copy()
        dup = s.duplicated(keep="first") & s.notna()
        k = int(dup.sum())
        if c.stype == Stype.text or not pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_datetime64_any_dtype(s.dtype):
            suffix = pd.Series(np.arange(k) + 2, index=s.index[dup]).astype(str)
            new = s[dup].astype(str) + "-" + suffix
            if c.max_len is not None:
                new = suffix.str.slice(0, c.max_len) if (new.str.len() > c.max_len).any() else new
            s[dup] = new
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            s[dup] = s.max() + pd.to_timedelta(np.arange(1, k + 1), unit="s")
        else:
            s[dup] = float(np.nanmax(s.astype("float64"))) + np.arange(1, k + 1)
    return s if s is not orig else orig


__all__ = ["schema_like", "schema_from_database", "generate_like", "fit_like", "sample_like",
           "resolve_source", "conform", "LIKE_MODES"]
